"""Calibration over time: the court list's default rate as a piecewise-linear profile.

The constant-rate fit (:mod:`credsim.calibration`) matches July 2019 and overstates 2017,
because the real list grew with enforcement. Here the rate of judgments not honoured,
``behaviours.debt_default.rate.adults``, is piecewise linear in time with knots on
:data:`KNOTS` (a scenario timeline of ramps, stepped every :data:`STEP_DAYS`), fitted to the
published cumulative totals of every date but :data:`HELD_OUT`; that date is kept back to
test the fit. Beside it, the constant-rate model is refitted on the same dates, so the two
held-out errors compare like with like.

Both fits are the same fixed point. The people ever listed by day t are about
``alpha_t * integral of the rate to t``, where ``alpha_t`` (listings per default: below 1,
as people already listed or on notice are not listed again) changes slowly. Each run
measures ``alpha_t`` at the fitting dates; the next rates solve the linear equations
``alpha_t * integral_t(rate) = published_t`` -- exactly, for the profile (one knot per
date), and in the least-squares sense on the logarithm, for the constant rate. The purchase
rate and the rail share are fitted to July 2019 as in :func:`credsim.calibration.fit`.
Every run uses the same seed (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from credsim.calibration import ADULTS_CHINA, COURT_DATES, COURT_PUBLISHED, cumulative_by_day
from credsim.scenario import Scenario, dump_dict, validate_dict
from credsim.scenario import timeline
from credsim.simulate import RunResult, simulate

HELD_OUT = "2018-12-31"
FIT_DATES = tuple(d for d in COURT_DATES if d != HELD_OUT)
KNOTS = (0, COURT_DATES["2017-02-14"], COURT_DATES["2019-07-11"])  # three knots for three dates
STEP_DAYS = 30
RATE = "behaviours.debt_default.rate.adults"
FIGURES = ("people listed", "flights blocked", "rail blocked")


def profile_scenario(base: Scenario, knots: np.ndarray, purchase_rate: float, rail_share: float) -> Scenario:
    """``base`` with the default rate piecewise linear through ``knots`` (one value per day
    of :data:`KNOTS`; a single value: constant), and the travel-ban parameters given."""
    raw = dump_dict(base)
    raw["sanctions"]["travel_ban"]["purchase_rate"] = float(purchase_rate)
    raw["sanctions"]["travel_ban"]["rail_share"] = float(rail_share)
    raw["behaviours"]["debt_default"]["rate"]["adults"] = float(knots[0])
    entries = []
    if len(knots) > 1:
        for k in range(len(KNOTS) - 1):
            start, end = KNOTS[k], KNOTS[k + 1]
            last = end - 1 if k < len(KNOTS) - 2 else end  # the next ramp starts on the knot itself
            value_last = knots[k] + (knots[k + 1] - knots[k]) * (last - start) / (end - start)
            entries.append({"from_day": start, "to_day": last, "step_days": STEP_DAYS, "note": f"enforcement profile {k}",
                            "ramp": {RATE: [float(knots[k]), float(value_last)]}})
    raw["timeline"] = entries
    return validate_dict(raw, f"{base.meta.name} (enforcement profile)")


def daily_rate(base: Scenario, knots: np.ndarray) -> np.ndarray:
    """(days,) the default rate in force on each day of :func:`profile_scenario`."""
    scenario = profile_scenario(base, knots, 0.0, 0.0)
    rate = np.full(scenario.population.days, float(knots[0]))
    for change in timeline.changes(scenario):
        if change.day < len(rate):
            rate[change.day:] = change.values[RATE]
    return rate


@dataclass
class TimeFit:
    """One model's fit: the knots (one value: constant) and each run's figures."""

    name: str
    knots: np.ndarray
    purchase_rate: float
    rail_share: float
    runs: list[dict] = field(default_factory=list)

    def held_out(self) -> list[dict]:
        return [row for row in self.runs[-1]["history"] if row["date"] == HELD_OUT]


def fit_over_time(
    base: Scenario,
    seed: int = 0,
    iterations: int = 4,
    tolerance: float = 0.01,
    adults: float = ADULTS_CHINA,
    run: Callable[[Scenario, int], RunResult] = simulate,
    on_run: Callable[[str, dict], None] | None = None,
) -> dict[str, TimeFit]:
    """Fit the piecewise-linear profile and the constant rate to :data:`FIT_DATES`; each
    model's last run is its fit, and its row for :data:`HELD_OUT` the held-out error."""
    travel = base.sanctions.travel_ban
    start = base.behaviours["debt_default"].rate["adults"]
    fits = {
        "profile": TimeFit("piecewise-linear rate", np.full(len(KNOTS), start), travel.purchase_rate, travel.rail_share),
        "constant": TimeFit("constant rate", np.array([start]), travel.purchase_rate, travel.rail_share),
    }
    fit_days = np.array([COURT_DATES[d] for d in FIT_DATES])
    published = np.array([COURT_PUBLISHED[d][0] for d in FIT_DATES]) / adults
    flights, rail = COURT_PUBLISHED["2019-07-11"][1:]
    for model in fits.values():
        # integral of the rate to each fitting date, per unit of each knot: linear in the knots
        unit = 1e-6  # a rate is a probability: the unit knots are scaled into range and back
        columns = np.eye(len(model.knots)) * unit
        integral = np.stack([np.cumsum(daily_rate(base, column))[fit_days] / unit for column in columns], axis=1)
        for iteration in range(iterations):
            scenario = profile_scenario(base, model.knots, model.purchase_rate, model.rail_share)
            result = run(scenario, seed)
            c = cumulative_by_day(result)
            n = result.world.n_agents
            listed = c["ever_listed"][fit_days] / n
            history = _history(c, n, adults)
            errors = [row["relative_error"] for row in history if row["date"] in FIT_DATES and row["figure"] == "people listed"]
            last = c["ever_listed"][-1]
            flight_error = c["blocked_flight"][-1] / max(last, 1) / (flights / COURT_PUBLISHED["2019-07-11"][0]) - 1
            share = c["blocked_rail"][-1] / max(c["blocked_rail"][-1] + c["blocked_flight"][-1], 1)
            rail_error = share / (rail / (rail + flights)) - 1
            record = {"knots": model.knots.tolist(), "purchase_rate": model.purchase_rate, "rail_share": model.rail_share,
                      "fit_errors": errors, "flight_error": flight_error, "rail_share_error": rail_error, "history": history}
            model.runs.append(record)
            if on_run:
                on_run(model.name, record)
            if max(abs(e) for e in (*errors, flight_error, rail_error)) <= tolerance or iteration == iterations - 1:
                break
            alpha = listed / (integral @ model.knots)  # listings per default, at each fitting date
            goal = published / alpha
            if len(model.knots) == len(goal):
                model.knots = np.maximum(np.linalg.solve(integral, goal), 1e-9)
            else:  # one rate for three dates: least squares on the logarithm
                model.knots = np.array([np.exp(np.mean(np.log(goal / integral[:, 0])))])
            model.purchase_rate *= (1 + flight_error) ** -1
            model.rail_share = min(model.rail_share * (1 + rail_error) ** -1, 1.0)
    return fits


def _history(c: dict[str, np.ndarray], n: int, adults: float) -> list[dict]:
    scale = adults / n
    rows = []
    for date, day in COURT_DATES.items():
        if day >= len(c["ever_listed"]):
            continue
        simulated = (c["ever_listed"][day] * scale, c["blocked_flight"][day] * scale, c["blocked_rail"][day] * scale)
        for what, pub, sim in zip(FIGURES, COURT_PUBLISHED[date], simulated):
            rows.append({"date": date, "figure": what, "published": pub, "simulated": float(sim), "relative_error": float(sim / pub - 1)})
    return rows
