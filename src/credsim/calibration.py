"""Calibration: fit a scenario's free parameters to published aggregate figures.

Only aggregates go in -- cumulative counts published by the Supreme People's Court -- never
anything about a person. Each target is paired with the one parameter that mainly moves it
(the listing count with the default rate, blocked purchases with the purchase rate...), and
:func:`fit` runs a damped multiplicative fixed-point iteration:

    parameter <- parameter * (target / result) ** damping

which converges in a few runs when each result is roughly proportional to its parameter,
as these are. Every iteration is one full simulation with the same seed (common random
numbers), so changes between iterations come from the parameters, not from the noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from credsim.scenario import Scenario, with_overrides
from credsim.simulate import RunResult, simulate

ADULTS_CHINA = 1.1e9  # adults (18+) in China around 2019; recalled, not checked: docs/sources.md#unchecked [V]


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    parameter: str  # the dotted path of the scenario field that mainly moves it
    measure: Callable[[RunResult], float]
    source: str


@dataclass
class Iteration:
    parameters: dict[str, float]
    results: dict[str, float]

    def errors(self, targets: list[Target]) -> dict[str, float]:
        return {t.name: self.results[t.name] / t.value - 1.0 for t in targets}


@dataclass
class Fit:
    targets: list[Target]
    iterations: list[Iteration] = field(default_factory=list)
    converged: bool = False

    @property
    def best(self) -> Iteration:
        return min(self.iterations, key=lambda it: max(abs(e) for e in it.errors(self.targets).values()))

    def table(self) -> list[dict]:
        best = self.best
        return [
            {
                "target": t.name,
                "published": t.value,
                "simulated": best.results[t.name],
                "relative_error": best.results[t.name] / t.value - 1.0,
                "parameter": t.parameter,
                "fitted_value": best.parameters[t.parameter],
                "source": t.source,
            }
            for t in self.targets
        ]


def fit(
    base: Scenario,
    targets: list[Target],
    seed: int = 0,
    iterations: int = 6,
    tolerance: float = 0.01,
    damping: float = 1.0,
    run: Callable[[Scenario, int], RunResult] = simulate,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> Fit:
    """Fit the targets' parameters, starting from their values in ``base``.

    Stops when every relative error is within ``tolerance`` or after ``iterations`` runs.
    ``run`` is the simulator (replaceable in tests).
    """
    parameters = {t.parameter: float(_get(base, t.parameter)) for t in targets}
    outcome = Fit(targets)
    for _ in range(iterations):
        scenario = with_overrides(base, {path: float(v) for path, v in parameters.items()})
        result = run(scenario, seed)
        step = Iteration(dict(parameters), {t.name: float(t.measure(result)) for t in targets})
        outcome.iterations.append(step)
        if on_iteration:
            on_iteration(step)
        errors = step.errors(targets)
        if all(abs(e) <= tolerance for e in errors.values()):
            outcome.converged = True
            break
        for t in targets:
            measured = step.results[t.name]
            if measured > 0:
                parameters[t.parameter] *= (t.value / measured) ** damping
            else:
                parameters[t.parameter] *= 2.0  # nothing happened yet: try more
    return outcome


def _get(scenario: Scenario, path: str) -> float:
    node: object = scenario
    for part in path.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node  # type: ignore[return-value]


# ---------------------------------------------------------------------------- court list

# Days since the list began (1 October 2013) of the dates with published cumulative totals.
COURT_DATES = {"2017-02-14": 1232, "2017-12-31": 1552, "2018-12-31": 1917, "2019-07-11": 2109}
COURT_PUBLISHED = {  # cumulative: people listed, flight purchases blocked, rail blocked (docs/sources.md#court-figures)
    "2017-02-14": (6.73e6, 6.15e6, 2.22e6),
    "2017-12-31": (9.59e6, 9.36e6, 3.67e6),
    "2018-12-31": (13.0e6, 17.5e6, 5.47e6),
    "2019-07-11": (14.5e6, 27.3e6, 6.0e6),
}


def cumulative_by_day(result: RunResult) -> dict[str, np.ndarray]:
    """Cumulative people ever listed, blocked flights and blocked rail, per day, all groups."""
    daily = result.daily
    days = result.scenario.population.days
    n_groups = len(result.scenario.population.groups)

    def column(name: str) -> np.ndarray:
        return daily[name].to_numpy().reshape(days, n_groups).sum(axis=1)

    # First listings only: a person listed twice is one person ever listed.
    episodes = result.episodes
    person = episodes["person"].to_numpy()
    start = episodes["start_day"].to_numpy()
    _, first_rows = np.unique(person, return_index=True)
    first = np.bincount(start[first_rows], minlength=days)[:days]
    return {
        "ever_listed": np.cumsum(first),
        "blocked_flight": np.cumsum(column("blocked_flight")),
        "blocked_rail": np.cumsum(column("blocked_rail")),
    }


def court_targets(adults: float = ADULTS_CHINA) -> list[Target]:
    listed, flights, rail = COURT_PUBLISHED["2019-07-11"]
    source = "docs/sources.md#court-figures, court list, July 2019 [S]"

    def ever_per_adult(result: RunResult) -> float:
        return cumulative_by_day(result)["ever_listed"][-1] / result.world.n_agents

    def flights_per_listed(result: RunResult) -> float:
        c = cumulative_by_day(result)
        return c["blocked_flight"][-1] / max(c["ever_listed"][-1], 1)

    def rail_share(result: RunResult) -> float:
        c = cumulative_by_day(result)
        total = c["blocked_flight"][-1] + c["blocked_rail"][-1]
        return c["blocked_rail"][-1] / total if total else 0.0

    return [
        Target("people ever listed per adult", listed / adults, "behaviours.debt_default.rate.adults", ever_per_adult, f"{source}; {adults:.3g} adults [V]"),
        Target("blocked purchases (flight) per person ever listed", flights / listed, "sanctions.travel_ban.purchase_rate", flights_per_listed, source),
        Target("rail share of blocked purchases", rail / (flights + rail), "sanctions.travel_ban.rail_share", rail_share, source),
    ]


def court_history(result: RunResult, adults: float = ADULTS_CHINA) -> list[dict]:
    """The fitted run against every published date, scaled to China's adults."""
    c = cumulative_by_day(result)
    scale = adults / result.world.n_agents
    rows = []
    for date, day in COURT_DATES.items():
        if day >= len(c["ever_listed"]):
            continue
        published = COURT_PUBLISHED[date]
        simulated = (c["ever_listed"][day] * scale, c["blocked_flight"][day] * scale, c["blocked_rail"][day] * scale)
        for what, pub, sim in zip(("people listed", "flights blocked", "rail blocked"), published, simulated):
            rows.append({"date": date, "figure": what, "published": pub, "simulated": sim, "relative_error": sim / pub - 1})
    return rows


CALIBRATIONS: dict[str, Callable[[], list[Target]]] = {"court-blacklist": court_targets}
HISTORIES: dict[str, Callable[[RunResult], list[dict]]] = {"court-blacklist": court_history}
