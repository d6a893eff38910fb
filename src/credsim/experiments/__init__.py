"""Experiments: ensembles, parameter sweeps and sensitivity analysis over many runs.

    >>> from credsim.experiments import run_experiment, summarize_replicates
    >>> catalog = run_experiment("appeal.toml", "runs/appeal")          # doctest: +SKIP
    >>> summarize_replicates(catalog)                                   # doctest: +SKIP

An experiment file (:mod:`credsim.experiments.spec`) names a base scenario, the parameters to
vary and how, the replicates and one root seed; :mod:`~credsim.experiments.design` turns it
into parameter sets and per-run seeds (common random numbers by default: replicate r of every
point shares a seed; runs named by their parameter values); an executor
(:mod:`~credsim.experiments.executors`: serial, a local process pool, or Dask) runs them;
every run writes its folder and one catalog row (:mod:`~credsim.experiments.catalog`), and
the runner checks them all against their manifests. :mod:`~credsim.experiments.compare`
gives paired differences between points and between experiment folders;
:mod:`~credsim.experiments.page` the folder's ``experiment.html``. docs/experiments.md has
the whole story.

Names are imported when first used, so that ``credsim --help`` does not pay for pandas,
SciPy and SALib.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "DaskExecutor": "executors",
    "Design": "design",
    "Executor": "executors",
    "Experiment": "spec",
    "ExperimentError": "spec",
    "LocalExecutor": "executors",
    "RunSeed": "design",
    "SerialExecutor": "executors",
    "analyze": "analysis",
    "catalog_schema": "catalog",
    "execute_run": "runner",
    "experiment_from_dict": "spec",
    "indices": "analysis",
    "load_catalog": "runner",
    "load_experiment": "spec",
    "make_design": "design",
    "make_executor": "executors",
    "plan_runs": "runner",
    "run_experiment": "runner",
    "run_id": "design",
    "run_seed": "design",
    "scenario_hash": "provenance",
    "sensitivity": "analysis",
    "summarize_replicates": "replicates",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'credsim.experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"credsim.experiments.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
