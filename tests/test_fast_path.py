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
from credsim.state import LISTED

engine = importlib.import_module("credsim.simulate")  # the module: credsim.simulate is the function
reference_engine = importlib.import_module("credsim.engines.reference")  # holds FAST

MEANS = ("income_mean", "risk_mean", "score_mean", "score_clean_mean", "score_fair_mean")


def assert_same_tables(fast: credsim.RunResult, reference: credsim.RunResult) -> None:
    """The two paths' daily, regions and episodes tables: identical, the five daily means to 1e-9."""
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


def _run(name: str, fast: bool, monkeypatch) -> credsim.RunResult:
    monkeypatch.setattr(reference_engine, "FAST", fast)
    # Big enough for every mechanism to act within the run, small enough for a test.
    scenario = credsim.load_scenario(name, ["population.size=30000", "population.days=150"])
    return engine.simulate(scenario, seed=7, engine="reference")  # the fast path is the reference engine's


@pytest.mark.parametrize("name", builtin_names())
def test_fast_path_gives_the_reference_run(name, monkeypatch):
    fast, reference = _run(name, True, monkeypatch), _run(name, False, monkeypatch)
    assert_same_tables(fast, reference)
    daily_ref = reference.daily.to_pydict()
    # The mechanisms' accounts agree: counts exactly, the two read off daily means
    # (forgiveness, from the score mean; deterrence and chilling, from the risk mean) as those.
    accounts_fast, accounts_ref = fast.summary["mechanisms"], reference.summary["mechanisms"]
    assert accounts_fast.keys() == accounts_ref.keys()
    for mechanism, ref in accounts_ref.items():
        assert accounts_fast[mechanism]["enabled"] == ref["enabled"], mechanism
        assert accounts_fast[mechanism]["activity"] == pytest.approx(ref["activity"], rel=1e-9, abs=1e-9), mechanism
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
    assert np.array_equal(state.listed, np.flatnonzero(state.status == LISTED))
    assert set(np.flatnonzero(state.status != 0)) <= set(state.cases)
    assert set(np.flatnonzero(state.detained_until >= days)) <= set(state.detained_people)


def test_the_listed_are_kept_exactly_through_every_phase(monkeypatch):
    """The fast path keeps the listed as listing and appeal change statuses: after every
    phase of every day, the kept set is what a scan of everyone finds (a short run with
    fast listings, exits by term and by appeal, and detentions)."""
    from credsim.engines.reference.phases import Recorder, adapt, appeal, behave, listing, observe, sanction, score
    from credsim.engines.reference.phases.record import COUNTERS
    from credsim.state import initial_state
    from credsim.engines.reference.step import day_streams
    from credsim.tally import Tally
    from credsim.world import build_world

    scenario = credsim.load_scenario("xinjiang", [
        "population.size=4000", "population.days=80", "listing.threshold=990", "listing.exit_threshold=995",
        "listing.min_days=10", "score.forgiveness=0.03", "appeal.capacity_per_million=3000", "appeal.daily_rate=0.05",
    ])
    world = build_world(scenario, np.random.default_rng(2))
    state, recorder = initial_state(world, fast=True), Recorder(world, 80)
    scan = lambda: np.flatnonzero(state.status == LISTED)  # noqa: E731
    ended = 0
    for day in range(80):
        rng, tally = day_streams(3, day), Tally(COUNTERS, world.n_groups)
        events = behave(world, state, day, rng["behave"])
        seen = observe(world, state, events, day, rng["observe"], tally)
        score(world, state, seen)
        for phase in (lambda: listing(world, state, seen, day, rng["list"], tally),
                      lambda: appeal(world, state, day, rng["appeal"], tally),
                      lambda: sanction(world, state, seen, day, rng["sanction"], tally),
                      lambda: adapt(world, state, day)):
            phase()
            assert state.listed.dtype == np.int32
            np.testing.assert_array_equal(state.listed, scan(), err_msg=f"day {day}")
        recorder.record(world, state, day, tally)
        ended += int(tally.values["exits_term"].sum() + tally.values["exits_appeal"].sum())
    assert len(state.listed) > 0 and ended > 0
