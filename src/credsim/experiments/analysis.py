"""Global sensitivity analysis through SALib: Sobol' indices and Morris screening.

:func:`indices` is pure -- a method, SALib's problem, the sample and the model's outputs in,
a table of indices with confidence intervals out -- so it can be checked on models whose
indices are known (the Ishigami function, a linear model). :func:`analyze` applies it to an
experiment's catalog, one outcome at a time; :func:`sensitivity` runs the experiment first.

With replicates, each parameter set's output is the mean over its complete replicates, so
the indices describe the expected outcome, not one noisy draw of it.

Every index is printed beside a **noise floor**, measured from the noise runs (independent
seeds at the centre of the ranges; ``sampling.noise_replicates``, 5 by default): ``sd``, the
outcome's spread from seed alone, and the value of the index that seed noise alone would
give a parameter that does nothing, had the points *independent* seeds:

- Morris: ``E|Y1 - Y2| / Δ = 2 sd / (√π √R Δ)`` for two independent means of ``R``
  replicates, an elementary effect being a difference over a step ``Δ = levels / (2 (levels
  - 1))`` of the unit range;
- Sobol': ``sd² / R`` over the variance of the design's outputs: the share of that variance
  seed noise alone accounts for.

With common random numbers (the default) an inert parameter's index is far below the floor
(often exactly 0); an index near or under the floor is not distinguishable from noise.
:func:`warnings` says so in plain words, with S1 > 1, negative indices beyond their interval
and samples too small for the method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credsim.experiments.design import NOISE, Design, design_seed, make_design, point_key
from credsim.experiments.executors import Executor
from credsim.experiments.spec import Experiment, ExperimentError

COLUMNS = ("outcome", "parameter", "index", "value", "conf", "low", "high")
CSV_NAME = "sensitivity.csv"
NOISE_CSV = "noise.csv"
NOISE_COLUMNS = ("outcome", "runs", "sd", "index", "floor")
# below these the indices' intervals are too wide to rank anything (SALib's and the literature's advice)
SMALL_N = {"sobol": 64, "morris": 10}


def indices(
    method: str,
    problem: dict[str, Any],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    seed: int = 0,
    second_order: bool = False,
    levels: int = 4,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Sensitivity indices of ``Y`` (one output per row of the sample ``X``).

    Sobol': ``S1`` and ``ST`` (and ``S2`` for pairs "a,b" with ``second_order``); Morris:
    ``mu_star`` (with its bootstrap interval), ``mu`` and ``sigma`` (none). ``conf`` is the
    half-width of the ``conf_level`` interval SALib reports; ``low``/``high`` = value ∓ conf.
    Columns: parameter, index, value, conf, low, high.
    """
    Y = np.asarray(Y, dtype=np.float64)
    names = list(problem["names"])
    rows: list[tuple[str, str, float, float]] = []
    if method == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(problem, Y, calc_second_order=second_order, num_resamples=num_resamples,
                               conf_level=conf_level, seed=seed)  # fmt: skip
        for k, name in enumerate(names):
            rows.append((name, "S1", result["S1"][k], result["S1_conf"][k]))
            rows.append((name, "ST", result["ST"][k], result["ST_conf"][k]))
        if second_order:
            for a in range(len(names)):
                for b in range(a + 1, len(names)):
                    rows.append((f"{names[a]},{names[b]}", "S2", result["S2"][a, b], result["S2_conf"][a, b]))
    elif method == "morris":
        from SALib.analyze import morris

        result = morris.analyze(problem, np.asarray(X, dtype=np.float64), Y, num_resamples=num_resamples,
                                conf_level=conf_level, num_levels=levels, seed=seed)  # fmt: skip
        for k, name in enumerate(names):
            rows.append((name, "mu_star", result["mu_star"][k], result["mu_star_conf"][k]))
            rows.append((name, "mu", result["mu"][k], np.nan))
            rows.append((name, "sigma", result["sigma"][k], np.nan))
    else:
        raise ValueError(f"sensitivity indices need method 'sobol' or 'morris'; got {method!r}")
    frame = pd.DataFrame(rows, columns=["parameter", "index", "value", "conf"]).astype({"value": float, "conf": float})
    frame["low"] = frame["value"] - frame["conf"]
    frame["high"] = frame["value"] + frame["conf"]
    return frame


def analyze(experiment: Experiment, catalog: pd.DataFrame, design: Design | None = None, *,
            num_resamples: int = 1000, conf_level: float = 0.95) -> pd.DataFrame:  # fmt: skip
    """The indices of every outcome of a Sobol' or Morris experiment, from its catalog.

    One row per outcome, parameter and index (:data:`COLUMNS`). An outcome that some
    parameter set has no value for (no complete run, or the summary said None) gets NaN
    indices, and the reason in ``attrs["skipped"][outcome]``.
    """
    method = experiment.sampling.method
    if method not in ("sobol", "morris"):
        raise ExperimentError(experiment.source, [f"sampling.method: sensitivity needs 'sobol' or 'morris'; found {method!r}"],
                              heading="cannot analyse")  # fmt: skip
    design = design or make_design(experiment)
    complete = catalog[catalog["status"] == "complete"]
    kind = complete["kind"] if "kind" in complete else pd.Series("design", index=complete.index)
    runs, noise_runs = complete[kind != NOISE], complete[kind == NOISE]
    keys = [point_key(one) for one in design.sets]
    tables, skipped, floors = [], {}, {}
    for outcome in experiment.outcomes:
        means = pd.to_numeric(runs[outcome], errors="coerce").groupby(runs["point"]).mean()
        Y = means.reindex(keys).to_numpy(dtype=np.float64)
        missing = int(np.isnan(Y).sum())
        if missing:
            skipped[outcome] = f"{missing} of {len(Y)} parameter sets have no value"
            table = pd.DataFrame({"parameter": design.parameters, "index": "S1" if method == "sobol" else "mu_star"})
            table[["value", "conf", "low", "high"]] = np.nan
        else:
            table = indices(method, design.problem, design.matrix, Y, seed=design_seed(experiment.seed),
                            second_order=experiment.sampling.second_order, levels=experiment.sampling.levels,
                            num_resamples=num_resamples, conf_level=conf_level)  # fmt: skip
        table.insert(0, "outcome", outcome)
        tables.append(table)
        noise = pd.to_numeric(noise_runs[outcome], errors="coerce").dropna().to_numpy(dtype=np.float64)
        floors[outcome] = noise_floor(method, noise, Y, experiment.replicates, experiment.sampling.levels)
    frame = pd.concat(tables, ignore_index=True)[list(COLUMNS)]
    frame.attrs.update(method=method, skipped=skipped, conf_level=conf_level, noise=floors, seeds=experiment.seeds)
    frame.attrs["warnings"] = warnings(frame, experiment.sampling.n, floors, experiment.seeds)
    return frame


def noise_floor(method: str, noise: np.ndarray, Y: np.ndarray, replicates: int, levels: int) -> dict[str, Any]:
    """The noise floor of one outcome (see the module's docstring): runs, sd, index, floor.

    ``floor`` is NaN with fewer than two noise runs (nothing to measure a spread from)."""
    runs = len(noise)
    sd = float(noise.std(ddof=1)) if runs > 1 else float("nan")
    if method == "morris":
        delta = levels / (2.0 * (levels - 1))
        floor = 2.0 * sd / (np.sqrt(np.pi) * np.sqrt(replicates) * delta)
        index = "mu_star"
    else:
        finite = Y[np.isfinite(Y)]
        variance = float(finite.var(ddof=1)) if len(finite) > 1 else float("nan")
        floor = (sd**2 / replicates) / variance if variance > 0 else float("nan")
        index = "ST"
    return {"runs": runs, "sd": sd, "index": index, "floor": float(floor)}


def warnings(frame: pd.DataFrame, n: int | None, floors: dict[str, dict[str, Any]], seeds: str = "independent") -> list[str]:
    """Plain sentences about indices that cannot be read at face value.

    An index within the noise floor is called indistinguishable from noise only with
    independent seeds: with common random numbers most of that noise cancels between
    points, and the index's own interval says how sure it is."""
    method = frame.attrs.get("method")
    out = []
    if n is not None and method in SMALL_N and n < SMALL_N[method]:
        what = "base sample N" if method == "sobol" else "trajectories"
        out.append(f"sampling.n = {n} {what} is too few for {method} to rank parameters reliably (use at least "
                   f"{SMALL_N[method]}); read the intervals, not the values")  # fmt: skip
    for row in frame.itertuples(index=False):
        if not np.isfinite(row.value):
            continue
        where = f"{row.outcome}, {row.parameter}: {row.index} = {row.value:.3g}"
        if row.index == "S1" and row.value > 1:
            out.append(f"{where} is above 1, which a true first-order index cannot be: sampling noise; use a larger n")
        if row.index in ("S1", "ST", "S2", "mu_star") and np.isfinite(row.high) and row.high < 0:
            out.append(f"{where} is negative beyond its interval (up to {row.high:.3g}): the estimate is dominated by noise")
        floor = floors.get(row.outcome, {})
        if (seeds == "independent" and row.index == floor.get("index") and np.isfinite(floor.get("floor", np.nan))
                and 0 < row.value <= floor["floor"]):  # fmt: skip
            out.append(f"{where} is within the noise floor ({floor['floor']:.3g}): not distinguishable from seed noise")
    return out


def ranking(frame: pd.DataFrame, outcome: str, floor: float = 0.0) -> list[str]:
    """The "real" parameters for ``outcome``, largest main index (mu_star, or ST) first: those
    whose index's interval lies above 0 and whose value is above ``floor``."""
    kind = "mu_star" if frame.attrs.get("method", "morris") == "morris" else "ST"
    rows = frame[(frame["outcome"] == outcome) & (frame["index"] == kind)]
    floor = floor if np.isfinite(floor) else 0.0
    rows = rows[(rows["low"] > 0) & (rows["value"] > floor)]
    return list(rows.sort_values("value", ascending=False, kind="stable")["parameter"])


def ranking_check(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Whether two analyses of the same experiment from two root seeds rank the real parameters
    alike: per outcome, each one's real parameters in order (:func:`ranking`), and ``same``.

    With independent seeds a parameter must also clear the noise floor (the larger of the two
    measured); with common random numbers the floor does not apply (most seed noise cancels
    out of each effect), and the index's own interval decides."""
    rows = []
    independent = "independent" in (first.attrs.get("seeds"), second.attrs.get("seeds"))
    for outcome in dict.fromkeys(first["outcome"]):
        floors = [f.attrs.get("noise", {}).get(outcome, {}).get("floor", np.nan) for f in (first, second)]
        floor = float(np.nanmax([*floors, 0.0])) if independent else 0.0
        a, b = ranking(first, outcome, floor), ranking(second, outcome, floor)
        rows.append({"outcome": outcome, "floor": floor, "first": ", ".join(a), "second": ", ".join(b), "same": a == b})
    return pd.DataFrame(rows, columns=["outcome", "floor", "first", "second", "same"])


def sensitivity(
    source: str | Path | dict | Experiment,
    out_dir: str | Path,
    executor: Executor | None = None,
    *,
    progress=None,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Run a Sobol' or Morris experiment (resuming what is done) and analyse it.

    Writes ``OUT/sensitivity.csv`` and returns the same table (see :func:`analyze`).
    """
    from credsim.experiments.runner import as_experiment, run_experiment

    experiment = as_experiment(source)
    if experiment.sampling.method not in ("sobol", "morris"):
        raise ExperimentError(experiment.source, [f"sampling.method: sensitivity needs 'sobol' or 'morris'; found {experiment.sampling.method!r}"],
                              heading="cannot analyse")  # fmt: skip
    catalog = run_experiment(experiment, out_dir, executor, progress=progress)
    frame = analyze(experiment, catalog, num_resamples=num_resamples, conf_level=conf_level)
    write_csv(frame, Path(out_dir) / CSV_NAME)
    noise = pd.DataFrame([{"outcome": k, **v} for k, v in frame.attrs["noise"].items()], columns=list(NOISE_COLUMNS))
    write_csv(noise, Path(out_dir) / NOISE_CSV)
    return frame


def write_csv(frame: pd.DataFrame, target: Path) -> None:
    staging = target.with_name(f".{target.name}.partial")
    frame.to_csv(staging, index=False)
    staging.replace(target)
