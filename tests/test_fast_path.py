"""Speed may not change results: every built-in scenario, run with the fast path (the sets and
sums the phases keep, credsim.state.State.fast) and with the reference path (every phase
scans the whole population), gives the same run.

The two paths make the same decisions from the same numbers, so every count, level,
quantile, grade share, episode and region figure must be identical. Only the five daily
means differ in how they are summed: the fast path adds float64 sums per chunk of people
(taken by the sweeps that update the values) and corrects them for the few values changed
later in the day, the reference path sums each group once at the end of the day. Both are
float64 sums of the same float32 values, so they agree to about 1e-16 times the number of
terms; 1e-9 relative leaves a wide margin and still catches any missed update (a single
person's score missing from a group of thousands moves the mean by more than 1e-4).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import credsim
from credsim.scenario.load import builtin_names

engine = importlib.import_module("credsim.simulate")  # the module: credsim.simulate is the function

MEANS = ("income_mean", "risk_mean", "score_mean", "score_clean_mean", "score_fair_mean")


def _run(name: str, fast: bool, monkeypatch) -> credsim.RunResult:
    monkeypatch.setattr(engine, "FAST", fast)
    # Big enough for every mechanism to act within the run, small enough for a test.
    scenario = credsim.load_scenario(name, ["population.size=30000", "population.days=150"])
    return engine.simulate(scenario, seed=7)


@pytest.mark.parametrize("name", builtin_names())
def test_fast_path_gives_the_reference_run(name, monkeypatch):
    fast, reference = _run(name, True, monkeypatch), _run(name, False, monkeypatch)
    assert fast.state.fast and not reference.state.fast

    daily_fast, daily_ref = fast.daily.to_pydict(), reference.daily.to_pydict()
    assert daily_fast.keys() == daily_ref.keys()
    for column in daily_ref:
        if column in MEANS:
            np.testing.assert_allclose(daily_fast[column], daily_ref[column], rtol=1e-9, atol=1e-12, err_msg=column)
        else:
            assert daily_fast[column] == daily_ref[column], column
    assert fast.regions.equals(reference.regions)
    assert fast.episodes.equals(reference.episodes)
    # The runs did something worth comparing: the baseline has no system, and a points
    # system without blacklist-level penalties (rongcheng) lists almost nobody in 150 days.
    assert sum(daily_ref["observations"]) > 0 or name == "baseline"
    assert sum(daily_ref["notices"]) > 0 or name in ("baseline", "rongcheng")


def test_fast_path_sets_are_what_a_scan_finds(monkeypatch):
    """At the end of a fast run, the kept sets hold exactly (or at least) who a scan finds."""
    run = _run("xinjiang", True, monkeypatch)
    state, world = run.state, run.world
    days = run.scenario.population.days
    assert np.array_equal(state.paid, np.flatnonzero(state.income != world.base_income))
    assert set(np.flatnonzero(state.status != 0)) <= set(state.cases)
    assert set(np.flatnonzero(state.detained_until >= days)) <= set(state.detained_people)
