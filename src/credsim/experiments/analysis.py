"""Global sensitivity analysis through SALib: Sobol' indices and Morris screening.

:func:`indices` is pure -- a method, SALib's problem, the sample and the model's outputs in,
a table of indices with confidence intervals out -- so it can be checked on models whose
indices are known (the Ishigami function, a linear model). :func:`analyze` applies it to an
experiment's catalog, one outcome at a time; :func:`sensitivity` runs the experiment first.

With replicates, each parameter set's output is the mean over its complete replicates, so
the indices describe the expected outcome, not one noisy draw of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credsim.experiments.design import Design, design_seed, make_design
from credsim.experiments.executors import Executor
from credsim.experiments.spec import Experiment, ExperimentError

COLUMNS = ("outcome", "parameter", "index", "value", "conf", "low", "high")
CSV_NAME = "sensitivity.csv"


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
    tables, skipped = [], {}
    for outcome in experiment.outcomes:
        means = pd.to_numeric(complete[outcome], errors="coerce").groupby(complete["set_index"]).mean()
        Y = means.reindex(range(len(design.sets))).to_numpy(dtype=np.float64)
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
    frame = pd.concat(tables, ignore_index=True)[list(COLUMNS)]
    frame.attrs.update(method=method, skipped=skipped, conf_level=conf_level)
    return frame


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
    from credsim.experiments.runner import run_experiment

    from credsim.experiments.runner import as_experiment

    experiment = as_experiment(source)
    if experiment.sampling.method not in ("sobol", "morris"):
        raise ExperimentError(experiment.source, [f"sampling.method: sensitivity needs 'sobol' or 'morris'; found {experiment.sampling.method!r}"],
                              heading="cannot analyse")  # fmt: skip
    catalog = run_experiment(experiment, out_dir, executor, progress=progress)
    frame = analyze(experiment, catalog, num_resamples=num_resamples, conf_level=conf_level)
    target = Path(out_dir) / CSV_NAME
    staging = target.with_name(f".{CSV_NAME}.partial")
    frame.to_csv(staging, index=False)
    staging.replace(target)
    return frame
