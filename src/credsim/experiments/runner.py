"""Running an experiment: plan every run, skip the complete ones, submit the rest, check all.

``run_experiment(file, out_dir, executor)`` is the library API; the command line wraps it.
A run executes :func:`execute_run` wherever the executor puts it: it simulates, writes the
run's folder (``OUT/runs/<run_id>/`` via :func:`credsim.write_run`, manifest last) and then
its catalog row (``OUT/catalog/<run_id>.parquet``), recording where it ran. A run that raises
is recorded as failed, with its error, and the others go on.

Nothing is lost without a word: ``OUT`` is made absolute here, before a task leaves for a
worker with another working directory; one experiment at a time holds ``OUT/.lock``; and
when the runs are done every planned run must have its row, and a complete row a folder that
verifies against its manifest (:func:`credsim.results.manifest.verify`) -- else
:class:`ExperimentError` names what is missing or damaged. Re-running into the same folder
re-runs only what is not complete there: a missing, unreadable or failed row, one made with
another seed or scenario, or one whose folder does not verify.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from credsim import __version__
from credsim.errors import CorruptRunError, CredsimError, ScenarioError
from credsim.experiments import catalog as cat
from credsim.experiments import provenance
from credsim.experiments.design import DESIGN, NOISE, SEEDING, Design, RunSeed, make_design, point_key, run_id, run_seed
from credsim.experiments.executors import Executor, LocalExecutor
from credsim.experiments.provenance import scenario_hash
from credsim.experiments.spec import Experiment, ExperimentError, experiment_from_dict, growth_problem, load_experiment
from credsim.results import write_run
from credsim.results.manifest import verify
from credsim.scenario import Scenario, to_toml, with_overrides
from credsim.simulate import simulate

# progress(done, total, row): once at the start with row None (done = runs already complete),
# then after each run finishes, in the calling process
Progress = Callable[[int, int, "dict | None"], None]
LOCK = ".lock"


class WorkerMismatch(CredsimError):
    """A worker runs other credsim source or other library versions than the client."""


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs, small enough to send to a worker."""

    out_dir: str
    run_id: str
    point: str
    kind: str
    set_index: int
    replicate: int
    parameters: dict[str, Any]
    scenario: Scenario | None  # None when the overrides did not validate
    seed: RunSeed
    scenario_hash: str | None
    outcomes: list[str]
    schema: pa.Schema
    expected: dict[str, Any] = field(default_factory=dict)  # the client's environment (provenance.MUST_MATCH)
    invalid: str | None = None  # the validation error, when scenario is None
    engine: str = "reference"  # the experiment's engine (a catalog never mixes engines)

    def row(self, **values: Any) -> dict[str, Any]:
        where = provenance.environment()
        return {
            "run_id": self.run_id,
            "point": self.point,
            "kind": self.kind,
            "set_index": self.set_index,
            "replicate": self.replicate,
            "status": cat.FAILED,
            "error": None,
            **self.parameters,
            "seed": self.seed.seed,
            "seed_entropy": self.seed.entropy,
            "spawn_key": list(self.seed.spawn_key),
            "scenario_hash": self.scenario_hash,
            "engine": self.engine,
            **{name: where[name] for name in provenance.ENVIRONMENT_COLUMNS},
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
    """Every run of the experiment, in order: point by point (first place in the design),
    replicate by replicate, then the noise runs. A point the design visits twice runs once."""
    design = make_design(experiment)
    schema = cat.catalog_schema(column_kinds(experiment, design), experiment.outcomes)
    expected = {key: provenance.environment()[key] for key in provenance.MUST_MATCH}
    out = str(Path(out_dir).resolve())
    plan = Plan(experiment, design)
    seen: set[str] = set()
    points = [(DESIGN, i, parameters, experiment.replicates) for i, parameters in enumerate(design.sets)]
    if design.centre is not None and experiment.noise_replicates:
        points.append((NOISE, -1, design.centre, experiment.noise_replicates))
    for kind, set_index, parameters, replicates in points:
        point = point_key(parameters)
        if kind == DESIGN and point in seen:
            continue
        seen.add(point)
        scenario, digest, invalid = None, None, None
        try:
            scenario = with_overrides(experiment.base, parameters)
            digest = scenario_hash(scenario)
        except ScenarioError as error:
            invalid = "; ".join(error.problems)
        for replicate in range(replicates):
            plan.tasks.append(
                RunTask(out, run_id(point, replicate, kind), point, kind, set_index, replicate, parameters, scenario,
                        run_seed(experiment.seed, point, replicate, experiment.seeds, kind), digest, experiment.outcomes,
                        schema, expected, invalid, experiment.base.engine.name)  # fmt: skip
            )
    return plan


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one task and record it; never raises for a failure of the run itself.

    Raises :class:`WorkerMismatch` (recording nothing) when this process runs other credsim
    source or other library versions than the client that planned the task."""
    if task.expected:
        differences = provenance.mismatch(task.expected, provenance.environment())
        if differences:
            raise WorkerMismatch(f"worker {socket.gethostname()}:{os.getpid()} differs from the client: " + "; ".join(differences))
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
    shut down here; one you pass is left running. The result has one row per run of this
    experiment, noise runs included (see :mod:`credsim.experiments.catalog`), with
    ``attrs["parameters"]`` and ``attrs["outcomes"]``.

    Raises :class:`ExperimentError` when another experiment holds the folder, when a worker
    differs from this process (:data:`provenance.MUST_MATCH`), and -- after everything ran --
    when a planned run has no readable row, or a complete row's folder does not verify.
    """
    experiment = as_experiment(source)
    out = Path(out_dir).expanduser().resolve()  # absolute before any task leaves this process
    if check_outcomes:
        check_outcome_paths(experiment)
    with folder_lock(out):
        prepare_folder(experiment, out)
        plan = plan_runs(experiment, out)
        todo = [task for task in plan.tasks if not is_complete(out, task)]
        total = len(plan.tasks)
        done = total - len(todo)
        if progress is not None:
            progress(done, total, None)
        owned = executor is None
        executor = executor or LocalExecutor()
        try:
            if todo and hasattr(executor, "check_workers"):
                executor.check_workers(todo[0].expected)
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
                except WorkerMismatch as exc:
                    for other in futures:
                        other.cancel()
                    raise ExperimentError(str(out), [str(exc), "install the same credsim and libraries on every worker "
                                                     "(credsim runs check the source hash and the numpy, numba and pyarrow "
                                                     "versions), then run the same command again"],
                                          heading="worker refused") from None  # fmt: skip
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
        problems = audit(out, plan)
        if problems:
            raise ExperimentError(str(out), problems + ["run the same command again to re-run them"],
                                  heading=f"{len(problems)} of {total} run(s) missing or damaged after the experiment")  # fmt: skip
    frame = load_catalog(out)
    wanted = {task.run_id for task in plan.tasks}
    selected = frame[frame["run_id"].isin(wanted)].reset_index(drop=True)
    # each point's place in this design (rows written before the design grew keep their old one)
    places = {task.point: task.set_index for task in plan.tasks}
    selected["set_index"] = selected["point"].map(places).astype("int32")
    selected = selected.sort_values(["set_index", "replicate"], kind="stable").reset_index(drop=True)
    selected.attrs.update(frame.attrs)
    return selected


def audit(out: Path, plan: Plan) -> list[str]:
    """What is wrong with the planned runs in ``out``: one line per run with no readable row, a
    row of another seed or scenario, or a complete row whose folder does not verify. Failed
    rows are results (their error is recorded), not problems."""
    problems = []
    for task in plan.tasks:
        row, why = cat.row_state(out, task.run_id)
        if row is None:
            problems.append(f"{task.run_id}: {why}")
        elif row["seed"] != task.seed.seed or row["scenario_hash"] != task.scenario_hash:
            problems.append(f"{task.run_id}: its row was made with another seed or scenario")
        elif row["status"] == cat.COMPLETE:
            try:
                verify(out / cat.RUNS / task.run_id)
            except CorruptRunError as error:
                problems.append(f"{task.run_id}: {error}")
    return problems


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.lock`` (an advisory ``flock``) for the experiment: a second experiment in
    the same folder, live at the same time, is refused. The lock goes with the process, so a
    killed experiment leaves nothing to clean up."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held until the end
    except OSError as exc:
        raise ExperimentError(str(out), [f"{exc.strerror or exc}: {exc.filename or out}"], heading="cannot write results") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ExperimentError(str(out), [f"another experiment is running in this folder ({holder}); wait for it to "
                                             "finish, or choose another --out"], heading="folder in use") from None  # fmt: skip
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


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
    """Whether ``out`` already holds this run, complete, with the same seed and scenario, in a
    folder that verifies against its manifest."""
    row = row if row is not None else cat.read_row(out, task.run_id)
    if not (row is not None and row["status"] == cat.COMPLETE and row["seed"] == task.seed.seed
            and row["scenario_hash"] == task.scenario_hash):  # fmt: skip
        return False
    try:
        verify(out / cat.RUNS / task.run_id)
    except CorruptRunError:
        return False
    return True


def prepare_folder(experiment: Experiment, out: Path) -> None:
    """Make ``out`` this experiment's folder (or this experiment grown), or refuse."""
    try:
        _prepare_folder(experiment, out)
    except OSError as exc:
        raise ExperimentError(str(out), [f"{exc.strerror or exc}: {exc.filename or out}"], heading="cannot write results") from None


def _prepare_folder(experiment: Experiment, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExperimentError(str(out), ["exists and is not a folder"], heading="cannot write results")
    info = cat.read_experiment_json(out)
    if info is not None and info.get("seeding") != SEEDING:
        raise ExperimentError(
            str(out),
            ["made by an older credsim, which gave every parameter set its own seeds and named runs by their place "
             "in the design; its runs cannot be combined with runs seeded by parameter values (common random "
             "numbers). Run the experiment into a new --out (or remove this folder) to run it again"],
            heading="folder from an older credsim",
        )  # fmt: skip
    made_by = (info or {}).get("engine") or {}
    if made_by.get("name") not in (None, experiment.engine["name"]):
        raise ExperimentError(
            str(out),
            [f"its runs were made by the {made_by['name']!r} engine ({made_by.get('random_numbers')}), and this experiment "
             f"runs the {experiment.engine['name']!r} engine ({experiment.engine['random_numbers']}); a catalog never mixes "
             "engines. Run it into another --out, and compare the two folders with credsim compare"],
            heading="folder made by another engine",
        )  # fmt: skip
    if info is not None and info.get("fingerprint") != experiment.fingerprint:
        raise ExperimentError(
            str(out),
            [f"holds the results of another experiment ({info.get('name')!r}, or this one with other settings than "
             "replicates, grid values, listed sets or a Sobol'/Monte Carlo n); choose another --out, or remove the "
             "folder to start again"],
            heading="folder in use",
        )  # fmt: skip
    if info is not None:
        why = growth_problem(info, experiment)
        if why:
            raise ExperimentError(str(out), [why], heading="cannot grow this experiment")
    design = make_design(experiment)
    record = {
        "name": experiment.name,
        "description": experiment.description,
        "fingerprint": experiment.fingerprint,
        "seeding": SEEDING,
        "seeds": experiment.seeds,
        "source": experiment.source,
        "base": experiment.base_source,
        "replicates": experiment.replicates,
        "noise_replicates": experiment.noise_replicates,
        "seed": experiment.seed,
        "overrides": experiment.overrides,
        "sampling": experiment.sampling.model_dump(mode="json"),
        "parameters": {k: v.model_dump(mode="json", exclude_none=True) for k, v in experiment.parameters.items()},
        "list": experiment.sets,
        "parameter_types": column_kinds(experiment, design),
        "outcomes": experiment.outcomes,
        "engine": experiment.engine,
        "sets": len(design.sets),
        "runs": len(design.sets) * experiment.replicates + (experiment.noise_replicates if design.centre else 0),
        "credsim_version": __version__,
        "created": (info or {}).get("created") or _now().isoformat(),
    }
    if info is None or any(info.get(k) != v for k, v in record.items() if k != "created"):
        if info is not None:
            record["grown"] = _now().isoformat()
        cat.write_json_atomic(out / cat.EXPERIMENT_JSON, record)
    if info is None:
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
