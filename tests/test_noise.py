"""The standard errors of chilling, deterrence and disparate impact against the spread of
replicates, and the "within noise" marks.

Coverage: over R replicates (seeds 0..R-1, fixed), the sample standard deviation of a
figure is compared with the root mean square of its stated standard errors. With a correct
standard error their ratio is about 1, within a relative error of 1/sqrt(2(R - 1)); the test
fails when the standard error is too small -- the ratio above 1 + 3/sqrt(2(R - 1)), a
one-sided 3-sigma bound, false-alarm rate about 0.13% per figure -- or when it is useless,
more than twice the spread. The quasi-Poisson standard error is conservative where the
system's own randomness is small against event noise; at a few thousand people deterrence's
spread runs about 20% above it (docs/metrics.md), inside the bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import credsim
from credsim.noise import NOISY, noise_notes, within_noise


def _spread(size: int, days: int, replicates: int, groups: list[str]):
    scenario = credsim.load_scenario("city", [f"population.size={size}", f"population.days={days}"])
    values = {k: [] for k in ("chilling_index", "deterrence")}
    ses = {k: [] for k in values}
    log_di, log_se = [], []
    for seed in range(replicates):
        summary = credsim.simulate(scenario, seed).summary
        for key in values:
            for g in groups:
                cell = summary["overall"] if g == "overall" else summary["by_group"][g]
                values[key].append(cell[key])
                ses[key].append(cell[f"{key}_se"])
        minority = summary["by_group"]["minority"]
        if minority["disparate_impact"] and minority["disparate_impact_se"]:
            log_di.append(math.log(minority["disparate_impact"]))
            log_se.append(minority["disparate_impact_se"] / minority["disparate_impact"])
    return values, ses, log_di, log_se


def _check(values, ses, replicates):
    spread = float(np.std(values, ddof=1))
    stated = float(np.sqrt(np.mean(np.square(ses))))
    ratio = spread / stated
    assert 0.5 < ratio < 1.0 + 3.0 / math.sqrt(2 * (replicates - 1)), (spread, stated)


def test_standard_errors_cover_the_spread_of_replicates():
    """16 replicates of 2,000 people over 60 days (seconds): the overall chilling and deterrence."""
    r = 16
    values, ses, _, _ = _spread(2000, 60, r, ["overall"])
    for key in values:
        _check(values[key], ses[key], r)


@pytest.mark.slow
def test_standard_errors_cover_the_spread_at_20000_people():
    """40 replicates of 20,000 people over 90 days (minutes): chilling, deterrence and the
    minority's log disparate impact (replicates with nobody listed in a group are left out)."""
    r = 40
    values, ses, log_di, log_se = _spread(20000, 90, r, ["overall"])
    for key in values:
        _check(values[key], ses[key], r)
    assert len(log_di) >= 30
    _check(log_di, log_se, len(log_di))


def test_within_noise_marks_and_small_run_warning():
    cell = {"chilling_index": 0.01, "chilling_index_se": 0.006, "deterrence": 0.2, "deterrence_se": 0.05,
            "disparate_impact": 0.0, "disparate_impact_se": None, "disparate_impact_ci": [0.0, 1.8]}
    chilling, deterrence, impact = NOISY
    assert within_noise(cell, chilling) is True  # 0.01 <= 2 * 0.006
    assert within_noise(cell, deterrence) is False  # 0.2 > 2 * 0.05
    assert within_noise(cell, impact) is True  # nobody listed: its interval holds 1
    summary = {"by_group": {"a": cell}, "overall": {**cell, "chilling_index_se": 0.004}}
    lines = noise_notes(summary)
    assert lines[0].startswith("within noise") and "chilling (a)" in lines[0]
    assert "deterrence" not in lines[0]
    assert any("too small" in line and "deterrence" in line for line in lines)  # 2 SE = 10 points > 5


def test_a_2000_person_run_says_which_headline_figures_are_within_noise():
    summary = credsim.simulate(credsim.load_scenario("city", ["population.size=2000", "population.days=90"]), 3).summary
    for cell in [summary["overall"], *summary["by_group"].values()]:
        assert cell["chilling_index_se"] > 0 and cell["deterrence_se"] > 0
    lines = noise_notes(summary)
    assert any(line.startswith("within noise") for line in lines)
    assert any(line.startswith("too small") for line in lines)
