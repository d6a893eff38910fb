"""Calibration over time: the piecewise-linear default rate is what the timeline applies,
and the fixed point solves for it (on a toy model whose answer is known)."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from credsim import calibration_time
from credsim.calibration import COURT_DATES, COURT_PUBLISHED
from credsim.calibration_time import FIT_DATES, HELD_OUT, KNOTS, STEP_DAYS, daily_rate, fit_over_time, profile_scenario
from credsim.scenario import load_scenario

from conftest import CREDSIM


@pytest.fixture(scope="module")
def base():
    return load_scenario("court-blacklist", ["population.size=1000"])


def test_the_profile_is_piecewise_linear_through_its_knots(base):
    knots = np.array([1e-6, 5e-6, 2e-6])
    rate = daily_rate(base, knots)
    assert rate[KNOTS[0]] == knots[0] and rate[KNOTS[1]] == knots[1] and rate[KNOTS[2]] == knots[2]
    # stepped every STEP_DAYS on the straight line between knots
    day = KNOTS[0] + 5 * STEP_DAYS
    assert rate[day] == pytest.approx(knots[0] + (knots[1] - knots[0]) * day / KNOTS[1])
    assert rate[day + STEP_DAYS - 1] == rate[day]
    assert profile_scenario(base, knots[:1], 0.003, 0.2).timeline == []  # one knot: a constant rate


def test_the_fixed_point_recovers_a_known_profile(base, monkeypatch):
    """A toy court: people listed = 0.8 * the integral of the rate, a known profile gives the
    published totals. The profile fit finds it; the constant rate cannot fit three dates."""
    adults, n = 1.1e9, 1000

    def toy_cumulative(result):
        rate = daily_rate(base, result.knots)
        listed = 0.8 * np.cumsum(rate) * n
        flights = listed * result.purchase_rate / 0.00333 * 1.883
        share = result.rail_share
        return {"ever_listed": listed, "blocked_flight": flights, "blocked_rail": flights * share / (1 - share)}

    def toy_run(scenario, seed):
        knots = [scenario.behaviours["debt_default"].rate["adults"]] + [e.ramp[calibration_time.RATE][0] for e in scenario.timeline[1:]]
        if scenario.timeline:
            knots.append(scenario.timeline[-1].ramp[calibration_time.RATE][1])
        travel = scenario.sanctions.travel_ban
        return SimpleNamespace(knots=np.array(knots), purchase_rate=travel.purchase_rate, rail_share=travel.rail_share,
                               world=SimpleNamespace(n_agents=n))

    monkeypatch.setattr(calibration_time, "cumulative_by_day", toy_cumulative)
    fits = fit_over_time(base, iterations=3, run=toy_run)
    profile, constant = fits["profile"], fits["constant"]
    assert max(abs(e) for e in profile.runs[-1]["fit_errors"]) < 1e-6
    # the toy's listed figures are the integral of the fitted profile: recompute one
    fit_days = [COURT_DATES[d] for d in FIT_DATES]
    expected = 0.8 * np.cumsum(daily_rate(base, profile.knots))[fit_days] * adults
    assert expected == pytest.approx([COURT_PUBLISHED[d][0] for d in FIT_DATES], rel=1e-6)
    assert max(abs(e) for e in constant.runs[-1]["fit_errors"]) > 0.05  # one rate, three dates: it cannot
    assert [row["date"] for row in profile.held_out()] == [HELD_OUT] * 3


def test_over_time_only_for_the_court_list():
    done = subprocess.run([CREDSIM, "calibrate", "city", "--over-time"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "only court-blacklist has dated published figures" in done.stderr + done.stdout
