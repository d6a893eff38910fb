"""Arms compared properly: differences between points, paired over common seeds.

Within one experiment, :func:`differences` gives each point's difference from a reference
point (the design's first, or one named by its point key); between two experiment folders,
:func:`compare_folders` gives, for each point both have, the difference B - A.

A difference is **paired** when the two sides have runs with the same seeds (with common
random numbers, replicate r of every point has the same seed; two folders of the same root
seed share them too): ``d_r = y_B(seed_r) - y_A(seed_r)`` over the common seeds, and the
interval is Student's t over the ``d_r``. Seed noise common to both sides cancels, so the
interval is as narrow as the parameters' effect allows. Without common seeds (independent
seeds, or two folders of different root seeds) the difference is **unpaired**, and says so:
the difference of the means with Welch's t interval. Either interval is clipped to the range a
difference of the outcome can take (``[-1, 1]`` for a share; :func:`difference_range`).

Two folders made by different engines (their catalogs' ``engine`` column) share their seeds'
populations but not the days' random numbers: a difference between them includes the
sampling noise of two random-number schemes, and its ``method`` says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from credsim.experiments.design import NOISE
from credsim.experiments.replicates import difference_range, t_interval
from credsim.experiments.spec import ExperimentError

ENGINES_DIFFER = "engines {} and {}: not common random numbers"  # added to the method of two engines' differences
COLUMNS = ("point", "parameters", "outcome", "reference", "mean_a", "mean_b", "difference", "ci_low", "ci_high", "n", "method")


def differences(catalog: pd.DataFrame, reference: str | None = None, *, confidence: float = 0.95) -> pd.DataFrame:
    """Each design point's difference from ``reference`` (a point key; default: the point of the
    lowest set_index), per outcome: :data:`COLUMNS` (``mean_a`` is the reference's mean)."""
    runs = _design_runs(catalog)
    if runs.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    order = runs.groupby("point")["set_index"].min().sort_values(kind="stable")
    if reference is None:
        reference = str(order.index[0])
    elif reference not in order.index:
        raise ExperimentError("--reference", [f"no point {reference!r} in this experiment; its points are: {', '.join(order.index)}"])
    parameters, outcomes = catalog.attrs.get("parameters", []), catalog.attrs.get("outcomes", [])
    base = runs[runs["point"] == reference]
    rows = []
    for point in order.index:
        if point == reference:
            continue
        other = runs[runs["point"] == point]
        for outcome in outcomes:
            rows.append({"point": point, "parameters": _label(other.iloc[0], parameters), "outcome": outcome,
                         "reference": reference, **difference(base, other, outcome, confidence)})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def compare_folders(dir_a: str | Path, dir_b: str | Path, *, confidence: float = 0.95) -> pd.DataFrame:
    """For each point in both experiment folders (matched by parameter values) and each outcome
    in both: B - A, paired over the seeds they share, else unpaired (``method`` says which)."""
    from credsim.experiments.runner import load_catalog

    a, b = load_catalog(dir_a), load_catalog(dir_b)
    runs_a, runs_b = _design_runs(a), _design_runs(b)
    parameters = [p for p in a.attrs.get("parameters", []) if p in b.attrs.get("parameters", [])]
    outcomes = [o for o in a.attrs.get("outcomes", []) if o in b.attrs.get("outcomes", [])]
    if not outcomes:
        raise ExperimentError(f"{dir_a} and {dir_b}", ["the two experiments have no outcome in common"], heading="cannot compare")
    order = runs_a.groupby("point")["set_index"].min().sort_values(kind="stable")
    common = [p for p in order.index if p in set(runs_b["point"])]
    if not common:
        raise ExperimentError(f"{dir_a} and {dir_b}", ["no parameter point is in both experiments (points are matched by "
                                                       "their parameter values)"], heading="cannot compare")  # fmt: skip
    engines = engine_of(a), engine_of(b)
    other_engines = None not in engines and engines[0] != engines[1]
    rows = []
    for point in common:
        left, right = runs_a[runs_a["point"] == point], runs_b[runs_b["point"] == point]
        for outcome in outcomes:
            row = {"point": point, "parameters": _label(left.iloc[0], parameters), "outcome": outcome,
                   "reference": "A", **difference(left, right, outcome, confidence)}  # fmt: skip
            if other_engines:
                row["method"] += f"; {ENGINES_DIFFER.format(*engines)}"
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs["engines"] = engines
    return frame


def engine_of(catalog: pd.DataFrame) -> str | None:
    """The engine that made an experiment's runs (its catalog's ``engine`` column), or None
    for a catalog that does not record it."""
    if "engine" not in catalog:
        return None
    names = catalog["engine"].dropna().unique()
    return str(names[0]) if len(names) == 1 else None


def difference(a: pd.DataFrame, b: pd.DataFrame, outcome: str, confidence: float = 0.95) -> dict:
    """mean_a, mean_b, difference (b - a), ci_low, ci_high, n and method for one outcome."""
    bounds = difference_range(outcome)
    x = a[["seed", outcome]].dropna().drop_duplicates("seed")
    y = b[["seed", outcome]].dropna().drop_duplicates("seed")
    mean_a = float(x[outcome].mean()) if len(x) else np.nan
    mean_b = float(y[outcome].mean()) if len(y) else np.nan
    paired = x.merge(y, on="seed", suffixes=("_a", "_b"))
    if len(paired):
        d = (paired[f"{outcome}_b"] - paired[f"{outcome}_a"]).to_numpy(dtype=np.float64)
        mean, _, low, high = t_interval(d, confidence, bounds)
        return {"mean_a": mean_a, "mean_b": mean_b, "difference": mean, "ci_low": low, "ci_high": high,
                "n": len(d), "method": f"paired over {len(d)} common seed(s)"}  # fmt: skip
    low = high = np.nan
    n1, n2 = len(x), len(y)
    if n1 > 1 and n2 > 1:
        v1, v2 = x[outcome].var(ddof=1) / n1, y[outcome].var(ddof=1) / n2
        se = float(np.sqrt(v1 + v2))
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)) if se > 0 else n1 + n2 - 2
        half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
        low, high = max(mean_b - mean_a - half, bounds[0]), min(mean_b - mean_a + half, bounds[1])
    return {"mean_a": mean_a, "mean_b": mean_b, "difference": mean_b - mean_a, "ci_low": low, "ci_high": high,
            "n": min(n1, n2), "method": "unpaired (no common seeds; Welch)"}  # fmt: skip


def _design_runs(catalog: pd.DataFrame) -> pd.DataFrame:
    complete = catalog[catalog["status"] == "complete"]
    return complete[complete["kind"] != NOISE] if "kind" in complete else complete


def _label(row: pd.Series, parameters: list[str]) -> str:
    return ", ".join(f"{p}={row[p].item() if hasattr(row[p], 'item') else row[p]!r}" for p in parameters) if parameters else "(base)"
