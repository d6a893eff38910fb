"""Experiments: ensembles, parameter sweeps and sensitivity analysis over many runs.

    >>> from credsim.experiments import run_experiment, summarize_replicates
    >>> catalog = run_experiment("appeal.toml", "runs/appeal")          # doctest: +SKIP
    >>> summarize_replicates(catalog)                                   # doctest: +SKIP

An experiment file (:mod:`credsim.experiments.spec`) names a base scenario, the parameters to
vary and how, the replicates and one root seed; :mod:`~credsim.experiments.design` turns it
into parameter sets and per-run seeds; an executor (:mod:`~credsim.experiments.executors`:
serial, a local process pool, or Dask) runs them; every run writes its folder and one
catalog row (:mod:`~credsim.experiments.catalog`). docs/experiments.md has the whole story.
"""

from credsim.experiments.catalog import catalog_schema
from credsim.experiments.design import Design, RunSeed, make_design, run_id, run_seed
from credsim.experiments.executors import DaskExecutor, Executor, LocalExecutor, SerialExecutor, make_executor
from credsim.experiments.replicates import summarize_replicates
from credsim.experiments.runner import execute_run, load_catalog, plan_runs, run_experiment, scenario_hash
from credsim.experiments.sensitivity import analyze, indices, sensitivity
from credsim.experiments.spec import Experiment, ExperimentError, experiment_from_dict, load_experiment

__all__ = sorted(
    [
        "DaskExecutor",
        "Design",
        "Executor",
        "Experiment",
        "ExperimentError",
        "LocalExecutor",
        "RunSeed",
        "SerialExecutor",
        "analyze",
        "catalog_schema",
        "execute_run",
        "experiment_from_dict",
        "indices",
        "load_catalog",
        "load_experiment",
        "make_design",
        "make_executor",
        "plan_runs",
        "run_experiment",
        "run_id",
        "run_seed",
        "scenario_hash",
        "sensitivity",
        "summarize_replicates",
    ]
)
