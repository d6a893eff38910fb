"""The summary of a run: the headline figures of docs/metrics.md, overall and per group.

Every metric is defined in ``docs/metrics.md``; the names here are the keys of
``summary.json``. A figure that cannot be computed (a median never reached, a rate over an
empty group) is ``None`` -- never a made-up number.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from credsim.engines.reference.phases.record import Recorder
from credsim.state import State
from credsim.statistics import disparate_impact, four_fifths_ratio, gini, km_median, km_survival_at, median_from_histogram
from credsim.world import World

OVERALL = "overall"


def summarize(world: World, state: State, recorder: Recorder, episodes: pa.Table) -> dict:
    groups = world.scenario.group_names
    days = recorder.days
    masks = {name: world.group == g for g, name in enumerate(groups)}
    masks[OVERALL] = np.ones(world.n_agents, bool)
    group_of_episode = np.asarray(world.group[episodes["person"].to_numpy()])
    start = episodes["start_day"].to_numpy()
    end = episodes["end_day"].to_numpy(zero_copy_only=False)
    ended = ~np.isnan(end.astype(np.float64)) if len(end) else np.zeros(0, bool)
    duration = np.where(ended, np.nan_to_num(end.astype(np.float64)), days) - start
    episode_class = np.asarray(episodes["class"].to_numpy(zero_copy_only=False), dtype=object)

    def per(name: str, g: int | None) -> dict:
        who = masks[name]
        n = int(who.sum())
        cols = {k: (v[:, g] if g is not None else v.sum(axis=1)) for k, v in recorder.columns.items()}
        mine = group_of_episode == g if g is not None else np.ones(len(group_of_episode), bool)
        n_episodes = int(mine.sum())
        waits = state.wait_histogram[g] if g is not None else state.wait_histogram.sum(axis=0)
        income = state.income[who].astype(np.float64)
        ever = state.ever_listed[who]
        return {
            "population": n,
            "listed_rate": _rate(cols["listed"][-1], n),
            "ever_listed": _rate(ever.sum(), n),
            "detained_rate": _rate(cols["detained"][-1], n),
            "episodes": n_episodes,
            "wrongful_share": _rate((episode_class[mine] == "wrongful").sum(), n_episodes),
            "unjust_share": _rate((episode_class[mine] == "unjust").sum(), n_episodes),
            "median_days_listed": _median_days(duration[mine], ended[mine]),
            "exit_within_1y": _exit_within(duration[mine], ended[mine], 365),
            "appeals_filed": int(cols["objections_filed"].sum() + cols["appeals_filed"].sum()),
            "appeals_upheld": int(cols["cases_upheld"].sum()),
            "appeal_median_wait_days": _number(median_from_histogram(waits)) if waits.sum() else None,
            "backlog_end": int(cols["pending_cases"][-1]),
            "blocked_per_1000_per_year": _rate((cols["blocked_flight"].sum() + cols["blocked_rail"].sum()) * 1000 * 365, n * days),
            "chilling_index": _one_minus_ratio(cols["events_protected"].sum(), cols["expected_protected"].sum()),
            "chilling_index_se": ratio_se(cols["events_protected"], cols["expected_protected"].sum()),
            "deterrence": _one_minus_ratio(cols["events_harmful"].sum(), cols["expected_harmful"].sum()),
            "deterrence_se": ratio_se(cols["events_harmful"], cols["expected_harmful"].sum()),
            "income_gap": _income_gap(income, ever),
            "gini_income": _number(gini(np.maximum(income, 0))) if n else None,
            "gini_score": _number(gini(np.maximum(state.score[who].astype(np.float64) - world.scenario.score.min, 0))) if n else None,
        }

    by_group = {name: per(name, g) for g, name in enumerate(groups)}
    reference = world.scenario.population.reference_group
    listed = {name: by_group[name]["listed_rate"] for name in groups if by_group[name]["listed_rate"] is not None}
    impact = disparate_impact(listed, reference) if listed.get(reference) else {}
    not_listed = four_fifths_ratio(listed, reference) if reference in listed else {}
    for name in groups:
        by_group[name]["disparate_impact"] = _number(impact.get(name, math.nan))
        se_log = _log_ratio_se(by_group[name], by_group[reference]) if name != reference else None
        di = by_group[name]["disparate_impact"]
        by_group[name]["disparate_impact_se"] = _number(di * se_log) if di and se_log is not None else None
        by_group[name]["disparate_impact_ci"] = _impact_interval(di, se_log, by_group[name], by_group[reference])
        by_group[name]["not_listed_ratio"] = _number(not_listed.get(name, math.nan))
    return {"reference_group": reference, "overall": per(OVERALL, None), "by_group": by_group}


def _number(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _rate(count: float, total: float) -> float | None:
    return float(count) / float(total) if total else None


def ratio_se(daily_actual: np.ndarray, expected: float) -> float | None:
    """The standard error of ``1 - actual / expected`` (chilling, deterrence): the expected
    count is fixed by the run's people, the actual one is a sum of Poisson counts, so its
    variance is its mean times a dispersion ``phi`` -- quasi-Poisson, with ``phi`` the
    day-to-day variance of the daily counts over their mean (from successive differences, so
    that a slow trend does not count; at least 1). The delta method then gives
    ``sqrt(phi * actual) / expected``. None without expected events."""
    if expected <= 0:
        return None
    actual = float(daily_actual.sum())
    phi = 1.0
    if len(daily_actual) > 2 and actual > 0:
        phi = max(1.0, float(np.mean(np.diff(daily_actual) ** 2)) / (2.0 * float(daily_actual.mean())))
    return math.sqrt(phi * actual) / expected


def _log_ratio_se(group: dict, reference: dict) -> float | None:
    """The standard error of log(disparate impact), the log of a ratio of two listed shares
    (binomial, delta method): sqrt((1 - p) / (n p) + (1 - q) / (m q)). None when either
    share is 0 (the ratio is then 0 or undefined)."""
    p, n, q, m = group["listed_rate"], group["population"], reference["listed_rate"], reference["population"]
    if not p or not q or not n or not m:
        return None
    return math.sqrt((1.0 - p) / (n * p) + (1.0 - q) / (m * q))


def _impact_interval(di: float | None, se_log: float | None, group: dict, reference: dict) -> list | None:
    """95% interval of disparate impact: ``di * exp(+-1.96 se_log)``; when the group has
    nobody listed (di = 0), from 0 to the rule of three's bound on its share, 3 / n, over the
    reference's share."""
    if di and se_log is not None:
        return [_number(di * math.exp(-1.96 * se_log)), _number(di * math.exp(1.96 * se_log))]
    if di == 0 and group["population"] and reference["listed_rate"]:
        return [0.0, _number(3.0 / group["population"] / reference["listed_rate"])]
    return None


def _one_minus_ratio(actual: float, expected: float) -> float | None:
    return float(1.0 - actual / expected) if expected > 0 else None


def _median_days(duration: np.ndarray, ended: np.ndarray) -> float | None:
    return _number(km_median(duration, ended)) if len(duration) else None


def _exit_within(duration: np.ndarray, ended: np.ndarray, t: float) -> float | None:
    """1 - S(t); None when nobody was followed as long as t (the curve says nothing there)."""
    if len(duration) == 0 or duration.max() < t:
        return None
    return _number(1.0 - km_survival_at(duration, ended, t))


def _income_gap(income: np.ndarray, ever: np.ndarray) -> float | None:
    """1 - mean income of the ever-listed / mean income of the never-listed, at the end."""
    if not ever.any() or ever.all():
        return None
    never_mean = income[~ever].mean()
    return _number(1.0 - income[ever].mean() / never_mean) if never_mean > 0 else None
