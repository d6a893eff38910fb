"""Replicates summarised: the mean of each outcome per parameter set, with a confidence interval.

The interval is Student's t: ``mean ± t(1 - (1 - confidence)/2, n - 1) · sd / sqrt(n)``,
over the complete runs of the set that have a value for the outcome (``n`` of them),
clipped to the outcome's range (:func:`outcome_range`: a share lies in [0, 1], a count or a
duration is not negative). With one value there is no interval (NaN), never a made-up one.
Noise runs (kind "noise") are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SUMMARY_COLUMNS = ("outcome", "runs", "n", "mean", "std", "ci_low", "ci_high")
# summary.json metrics that are shares (in [0, 1]); every other credsim metric is >= 0 but
# for the ratios, which are unbounded above too (see docs/metrics.md)
SHARES = frozenset({
    "listed_rate", "ever_listed", "detained_rate", "wrongful_share", "unjust_share", "exit_within_1y",
    "gini_income", "gini_score", "share", "rate",
})  # fmt: skip
SIGNED = frozenset({"income_gap", "deterrence", "chilling_index"})


def outcome_range(outcome: str) -> tuple[float, float]:
    """The range an outcome's values lie in, judged from its metric's name (its last part)."""
    metric = outcome.rsplit(".", 1)[-1]
    if metric in SHARES:
        return 0.0, 1.0
    if metric in SIGNED:
        return -np.inf, np.inf
    return 0.0, np.inf


def difference_range(outcome: str) -> tuple[float, float]:
    """The range of a difference of two values of ``outcome``: [-(hi - lo), hi - lo]."""
    low, high = outcome_range(outcome)
    width = high - low
    return -width, width


def t_interval(values: np.ndarray, confidence: float, bounds: tuple[float, float]) -> tuple[float, float, float, float]:
    """(mean, sd, low, high): Student's t interval of the mean, clipped to ``bounds``."""
    n = len(values)
    mean = float(values.mean()) if n else np.nan
    std = float(values.std(ddof=1)) if n > 1 else np.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) if n > 1 else np.nan
    low, high = mean - half, mean + half
    if n > 1:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, std, low, high


def summarize_replicates(
    catalog: pd.DataFrame | str | Path,
    *,
    confidence: float = 0.95,
    parameters: list[str] | None = None,
    outcomes: list[str] | None = None,
) -> pd.DataFrame:
    """One row per parameter set and outcome: set_index, the parameters, outcome, runs (complete
    runs in the set), n (those with a value), mean, std (sample, ddof=1), ci_low, ci_high.

    ``catalog`` is :func:`load_catalog`'s frame or an experiment folder. Parameter and outcome
    columns are taken from ``catalog.attrs`` unless given.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    if isinstance(catalog, (str, Path)):
        from credsim.experiments.runner import load_catalog

        catalog = load_catalog(catalog)
    parameters = list(parameters if parameters is not None else catalog.attrs.get("parameters", _between(catalog, "error", "seed")))
    outcomes = list(outcomes if outcomes is not None else catalog.attrs.get("outcomes", _after(catalog, "seconds")))
    complete = catalog[(catalog["status"] == "complete") & (catalog["set_index"] >= 0)]
    # a point is its parameter values (a grown design may have given two points one place)
    key = "point" if "point" in complete else "set_index"
    rows = []
    for _, runs in sorted(complete.groupby(key, sort=False), key=lambda item: int(item[1]["set_index"].min())):
        first = runs.iloc[0]
        set_index = int(runs["set_index"].min())
        for outcome in outcomes:
            values = pd.to_numeric(runs[outcome], errors="coerce").dropna().to_numpy(dtype=np.float64)
            n = len(values)
            mean, std, low, high = t_interval(values, confidence, outcome_range(outcome))
            rows.append({
                "set_index": int(set_index),
                **{name: first[name] for name in parameters},
                "outcome": outcome, "runs": len(runs), "n": n, "mean": mean, "std": std,
                "ci_low": low, "ci_high": high,
            })  # fmt: skip
    columns = ["set_index", *parameters, *SUMMARY_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs.update(parameters=parameters, outcomes=outcomes, confidence=confidence)
    return frame


def _between(frame: pd.DataFrame, first: str, last: str) -> list[str]:
    columns = list(frame.columns)
    return columns[columns.index(first) + 1 : columns.index(last)]


def _after(frame: pd.DataFrame, last: str) -> list[str]:
    columns = list(frame.columns)
    return columns[columns.index(last) + 1 :]
