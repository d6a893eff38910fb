"""Running an experiment: plan every run, skip the complete ones, submit the rest.

``run_experiment(file, out_dir, executor)`` is the library API; the command line wraps it.
A run executes :func:`execute_run` wherever the executor puts it: it simulates, writes the
run's folder (``OUT/runs/<run_id>/`` via :func:`credsim.write_run`) and then its catalog row
(``OUT/catalog/<run_id>.parquet``), so a row that says "complete" always has its folder. A
run that raises is recorded as failed, with its error, and the others go on.

Re-running an experiment into the same folder re-runs only what is not complete there (a
row that is missing, failed, or was made with another seed or scenario).
"""

from __future__ import annotations

import json
import math
import os
import socket
import traceback
from collections.abc import Callable
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from credsim import __version__
from credsim.errors import CredsimError, ScenarioError
from credsim.experiments import catalog as cat
from credsim.experiments.design import Design, RunSeed, make_design, run_id, run_seed
from credsim.experiments.executors import Executor, LocalExecutor
from credsim.experiments.provenance import git_commit, scenario_hash
from credsim.experiments.spec import Experiment, ExperimentError, experiment_from_dict, load_experiment
from credsim.results import write_run
from credsim.scenario import Scenario, to_toml, with_overrides
from credsim.simulate import simulate

# progress(done, total, row): once at the start with row None (done = runs already complete),
# then after each run finishes, in the calling process
Progress = Callable[[int, int, "dict | None"], None]


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs, small enough to send to a worker."""

    out_dir: str
    run_id: str
    set_index: int
    replicate: int
    parameters: dict[str, Any]
    scenario: Scenario | None  # None when the overrides did not validate
    seed: RunSeed
    scenario_hash: str | None
    outcomes: list[str]
    schema: pa.Schema
    git_commit: str | None
    invalid: str | None = None  # the validation error, when scenario is None

    def row(self, **values: Any) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "set_index": self.set_index,
            "replicate": self.replicate,
            "status": cat.FAILED,
            "error": None,
            **self.parameters,
            "seed": self.seed.seed,
            "seed_entropy": self.seed.entropy,
            "spawn_key": list(self.seed.spawn_key),
            "scenario_hash": self.scenario_hash,
            "credsim_version": __version__,
            "git_commit": self.git_commit,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            **{name: None for name in self.outcomes},
            **values,
        }


@dataclass
class Plan:
    experiment: Experiment
    design: Design
    tasks: list[RunTask] = field(default_factory=list)


def plan_runs(experiment: Experiment, out_dir: str | Path) -> Plan:
    """Every run of the experiment, in order: parameter set by parameter set, replicate by replicate."""
    design = make_design(experiment)
    schema = cat.catalog_schema(column_kinds(experiment, design), experiment.outcomes)
    commit = git_commit()
    plan = Plan(experiment, design)
    for set_index, parameters in enumerate(design.sets):
        scenario, digest, invalid = None, None, None
        try:
            scenario = with_overrides(experiment.base, parameters)
            digest = scenario_hash(scenario)
        except ScenarioError as error:
            invalid = "; ".join(error.problems)
        for replicate in range(experiment.replicates):
            plan.tasks.append(
                RunTask(str(out_dir), run_id(set_index, replicate), set_index, replicate, parameters, scenario,
                        run_seed(experiment.seed, set_index, replicate), digest, experiment.outcomes, schema,
                        commit, invalid)  # fmt: skip
            )
    return plan


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one task and record it; never raises for a failure of the run itself."""
    started = _now()
    values: dict[str, Any] = {"started": started}
    try:
        if task.scenario is None:
            raise ScenarioError(f"{task.run_id} overrides", [task.invalid or "invalid"])
        result = simulate(task.scenario, task.seed.seed)
        write_run(result, Path(task.out_dir) / cat.RUNS / task.run_id)
        values.update(outcome_values(result.summary, task.outcomes))
        values.update(status=cat.COMPLETE)
    except Exception as exc:  # noqa: BLE001 - a failed run is a result, recorded as such
        values.update(status=cat.FAILED, error=_error_text(exc))
    finished = _now()
    values.update(finished=finished, seconds=(finished - started).total_seconds())
    row = task.row(**values)
    cat.write_row(task.out_dir, row, task.schema)
    return row


def run_experiment(
    source: str | Path | dict | Experiment,
    out_dir: str | Path,
    executor: Executor | None = None,
    *,
    progress: Progress | None = None,
    check_outcomes: bool = True,
) -> pd.DataFrame:
    """Run every run of an experiment not already complete in ``out_dir``; return its catalog.

    ``source`` is an experiment file, its parsed mapping, or a loaded :class:`Experiment`.
    ``executor`` defaults to a :class:`LocalExecutor` (one process per core), created and
    shut down here; one you pass is left running. The result has one row per run of this experiment (see
    :mod:`credsim.experiments.catalog`), with ``attrs["parameters"]`` and ``attrs["outcomes"]``.
    """
    experiment = as_experiment(source)
    out = Path(out_dir)
    if check_outcomes:
        check_outcome_paths(experiment)
    prepare_folder(experiment, out)
    plan = plan_runs(experiment, out)
    recorded = _recorded_rows(out)
    todo = [task for task in plan.tasks if not is_complete(out, task, recorded.get(task.run_id))]
    total = len(plan.tasks)
    done = total - len(todo)
    if progress is not None:
        progress(done, total, None)
    owned = executor is None
    executor = executor or LocalExecutor()
    try:
        futures: dict[Future, RunTask] = {}
        for task in todo:
            if task.scenario is None:  # nothing to send anywhere: record it here
                row = execute_run(task)
                done += 1
                if progress is not None:
                    progress(done, total, row)
            else:
                futures[executor.submit(execute_run, task)] = task
        for future in as_completed(futures):
            task = futures.pop(future)
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - the executor lost it (a worker died for good)
                row = cat.read_row(out, task.run_id)
                if not (row and row["status"] == cat.COMPLETE and row["seed"] == task.seed.seed):
                    row = task.row(status=cat.FAILED, error=f"executor: {_error_text(exc)}")
                    cat.write_row(out, row, task.schema)
            done += 1
            if progress is not None:
                progress(done, total, row)
    finally:
        if owned:
            executor.shutdown()
    frame = load_catalog(out)
    wanted = {task.run_id for task in plan.tasks}
    selected = frame[frame["run_id"].isin(wanted)].reset_index(drop=True)
    selected.attrs.update(frame.attrs)
    return selected


def load_catalog(out_dir: str | Path) -> pd.DataFrame:
    """The catalog of an experiment folder as a DataFrame, one row per run, sorted by run.

    ``attrs["parameters"]`` and ``attrs["outcomes"]`` name the parameter and outcome columns.
    """
    out = Path(out_dir)
    info = cat.read_experiment_json(out)
    table = cat.read_catalog_table(out)
    if table is None:
        if info is None:
            raise ExperimentError(str(out), ["not an experiment folder: no catalog/ and no experiment.json"], heading="no catalog")
        table = cat.catalog_schema(info["parameter_types"], info["outcomes"]).empty_table()
    metadata = table.schema.metadata or {}
    frame = table.to_pandas()
    if b"credsim.parameters" in metadata:
        frame.attrs["parameters"] = json.loads(metadata[b"credsim.parameters"])
        frame.attrs["outcomes"] = json.loads(metadata[b"credsim.outcomes"])
    if info is not None:
        frame.attrs["experiment"] = info["name"]
    return frame


def as_experiment(source: str | Path | dict | Experiment) -> Experiment:
    """An :class:`Experiment` from a file path, a parsed mapping, or one already loaded."""
    if isinstance(source, Experiment):
        return source
    if isinstance(source, dict):
        return experiment_from_dict(source)
    return load_experiment(source)


def is_complete(out: Path, task: RunTask, row: dict[str, Any] | None = None) -> bool:
    """Whether ``out`` already holds this run, complete, with the same seed and scenario."""
    row = row if row is not None else cat.read_row(out, task.run_id)
    return (
        row is not None
        and row["status"] == cat.COMPLETE
        and row["seed"] == task.seed.seed
        and row["scenario_hash"] == task.scenario_hash
        and (out / cat.RUNS / task.run_id / "summary.json").is_file()
    )


def prepare_folder(experiment: Experiment, out: Path) -> None:
    """Make ``out`` this experiment's folder, or refuse if it holds another experiment."""
    try:
        _prepare_folder(experiment, out)
    except OSError as exc:
        raise ExperimentError(str(out), [f"{exc.strerror or exc}: {exc.filename or out}"], heading="cannot write results") from None


def _prepare_folder(experiment: Experiment, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExperimentError(str(out), ["exists and is not a folder"], heading="cannot write results")
    info = cat.read_experiment_json(out)
    if info is not None and info.get("fingerprint") != experiment.fingerprint:
        raise ExperimentError(
            str(out),
            [f"holds the results of another experiment ({info.get('name')!r}, or this one with other settings); "
             "choose another --out, or remove the folder to start again"],
            heading="folder in use",
        )  # fmt: skip
    if info is None:
        design = make_design(experiment)
        cat.write_json_atomic(
            out / cat.EXPERIMENT_JSON,
            {
                "name": experiment.name,
                "description": experiment.description,
                "fingerprint": experiment.fingerprint,
                "source": experiment.source,
                "base": experiment.base_source,
                "replicates": experiment.replicates,
                "seed": experiment.seed,
                "overrides": experiment.overrides,
                "sampling": experiment.sampling.model_dump(mode="json"),
                "parameters": {k: v.model_dump(mode="json", exclude_none=True) for k, v in experiment.parameters.items()},
                "parameter_types": column_kinds(experiment, design),
                "outcomes": experiment.outcomes,
                "sets": len(design.sets),
                "runs": len(design.sets) * experiment.replicates,
                "credsim_version": __version__,
                "created": _now().isoformat(),
            },
        )
        (out / "base.toml").write_text(to_toml(experiment.base), encoding="utf-8")


def check_outcome_paths(experiment: Experiment) -> None:
    """Refuse outcome paths that a summary of the base scenario does not have.

    A tiny run (at most 300 people for 2 days) gives the summary's shape; if even that
    fails, the check is skipped and each run reports its own problem.
    """
    try:
        small = with_overrides(experiment.base, {
            "population.size": min(experiment.base.population.size, 300),
            "population.days": min(experiment.base.population.days, 2),
        })  # fmt: skip
        summary = simulate(small, 0).summary
    except Exception:  # noqa: BLE001 - best effort; runs report their own errors
        return
    problems = []
    for i, path in enumerate(experiment.outcomes):
        try:
            outcome_values(summary, [path])
        except KeyError as exc:
            problems.append(f"outcomes[{i}]: {exc.args[0]}")
    if problems:
        raise ExperimentError(experiment.source, problems)


def outcome_values(summary: dict[str, Any], outcomes: list[str]) -> dict[str, float | None]:
    """The numbers at each dotted path of ``summary``; None where the summary says None."""
    values = {}
    for path in outcomes:
        node: Any = summary
        walked = []
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(walked) or "summary.json"
                has = ", ".join(node) if isinstance(node, dict) else "no fields (it is a value)"
                raise KeyError(f"{path}: summary.json has no such figure; {where} has: {has}")
            node = node[part]
            walked.append(part)
        if node is not None and (isinstance(node, (dict, list, str))):
            raise KeyError(f"{path}: not a number in summary.json; found {type(node).__name__}")
        value = None if node is None else float(node)
        values[path] = None if value is not None and not math.isfinite(value) else value
    return values


def column_kinds(experiment: Experiment, design: Design) -> dict[str, str]:
    """Each parameter column's kind: the schema type, or what the listed values are."""
    kinds = {}
    for name in design.parameters:
        field_type = experiment.field_types.get(name, "other")
        seen = {_value_kind(s[name]) for s in design.sets}
        if field_type in ("int", "float", "bool", "str") and seen <= {field_type}:
            kinds[name] = field_type
        elif seen <= {"int"}:
            kinds[name] = "int"
        elif seen <= {"int", "float"}:
            kinds[name] = "float"
        elif seen == {"bool"}:
            kinds[name] = "bool"
        else:
            kinds[name] = "str"
    return kinds


def _recorded_rows(out: Path) -> dict[str, dict[str, Any]]:
    table = cat.read_catalog_table(out)
    if table is None:
        return {}
    columns = table.select(["run_id", "status", "seed", "scenario_hash"]).to_pylist()
    return {row["run_id"]: row for row in columns}


def _value_kind(value: Any) -> str:
    return "bool" if isinstance(value, bool) else {"int": "int", "float": "float", "str": "str"}.get(type(value).__name__, "str")


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, CredsimError):
        return " ".join(str(exc).split())
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def _now() -> datetime:
    return datetime.now(timezone.utc)
