"""Experiment files: the schema (pydantic, unknown keys rejected) and loading.

An experiment is a base scenario, fixed overrides, the parameters to vary and how (a list of
values, an evenly spaced grid, or a range to sample), the sampling method, the number of
replicates, the root seed and the outcomes to collect::

    [experiment]
    name = "appeal-capacity"
    base = "court-blacklist"             # a built-in name, or a path relative to this file
    replicates = 3
    seed = 20240501
    overrides = { "population.size" = 20000, "population.days" = 365 }
    outcomes = ["overall.median_days_listed", "overall.wrongful_share"]

    [parameters."appeal.capacity_per_million"]
    values = [5, 10, 20, 40]

    [sampling]
    method = "grid"

Anything wrong becomes an :class:`ExperimentError` naming the file, the field, what was
expected and what was found -- the same template as the scenario loader's.
"""

from __future__ import annotations

import hashlib
import json
import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credsim.errors import CredsimError, ScenarioError
from credsim.engines import engine
from credsim.scenario import Scenario, load_scenario, with_overrides
from credsim.scenario import timeline
from credsim.scenario.schema import flatten_paths
from credsim.scenario.load import _check_path  # the schema walk --set uses: one truth for paths
from credsim.tomlfile import read_toml

MAX_RUNS = 1_000_000
PARAMETER_KEYS = ("values", "grid", "range")
DEFAULT_OUTCOMES = (
    "overall.ever_listed",
    "overall.wrongful_share",
    "overall.median_days_listed",
    "overall.backlog_end",
)
# columns of the catalog that no parameter or outcome may shadow
RESERVED = frozenset(
    {
        "run_id", "point", "kind", "set_index", "replicate", "status", "error", "seed", "seed_entropy", "spawn_key",
        "scenario_hash", "engine", "credsim_version", "git_commit", "git_dirty", "source_hash", "python", "numpy",
        "numba", "pyarrow", "cpu", "os", "started", "finished", "seconds", "worker",
    }
)  # fmt: skip

Scalar = bool | int | float | str


class ExperimentError(CredsimError):
    """An experiment file is wrong, or an experiment cannot be run or analysed as asked."""

    def __init__(self, source: str, problems: list[str], heading: str = "invalid experiment"):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {heading}\n{lines}")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ExperimentMeta(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
    description: str = Field(default="", max_length=4000)
    base: str = Field(min_length=1, max_length=1000)
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 1
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    seeds: Literal["common", "independent"] = "common"
    overrides: dict[str, Any] = Field(default_factory=dict, max_length=1000)
    outcomes: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, min_length=1, max_length=200)


class Grid(Section):
    start: Annotated[float, Field(allow_inf_nan=False)]
    stop: Annotated[float, Field(allow_inf_nan=False)]
    num: Annotated[int, Field(ge=1, le=100_000)]


class Parameter(Section):
    """One varied field: exactly one of ``values``, ``grid`` or ``range``."""

    values: list[Scalar] | None = Field(default=None, min_length=1, max_length=100_000)
    grid: Grid | None = None
    range: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(default=None, min_length=2, max_length=2)

    @model_validator(mode="after")
    def _one_kind(self) -> Parameter:
        given = [k for k in PARAMETER_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of values, grid or range; found {', '.join(given) or 'none'}")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range must be [low, high] with low < high; found {self.range}")
        if self.values is not None:
            kinds = {_kind_of(v) for v in self.values}
            if len(kinds) > 1 and kinds != {"int", "float"}:
                raise ValueError(f"values must be all numbers, all booleans or all strings; found {self.values!r}")
            if any(isinstance(v, float) and not math.isfinite(v) for v in self.values):
                raise ValueError(f"values must be finite; found {self.values!r}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in PARAMETER_KEYS if getattr(self, k) is not None)


class Sampling(Section):
    method: Literal["grid", "list", "latin", "montecarlo", "sobol", "morris"] = "grid"
    n: Annotated[int, Field(ge=1, le=MAX_RUNS)] | None = None
    # runs at the centre of the ranges with independent seeds, to measure the noise floor
    # (default: 5 for sobol and morris, 0 otherwise)
    noise_replicates: Annotated[int, Field(ge=0, le=1000)] | None = None
    second_order: bool = False  # Sobol': also the second-order indices (N(2D+2) runs, not N(D+2))
    levels: Annotated[int, Field(ge=2, le=100, multiple_of=2)] = 4  # Morris: grid levels


class ExperimentFile(Section):
    experiment: ExperimentMeta
    parameters: dict[str, Parameter] = Field(default_factory=dict, max_length=100)
    sampling: Sampling = Sampling()
    sets: list[dict[str, Scalar]] | None = Field(default=None, min_length=1, max_length=100_000)
    outcomes: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, min_length=1, max_length=200)


class Experiment(BaseModel):
    """A validated experiment: the file's settings plus its resolved base scenario.

    ``base`` already carries ``experiment.overrides``; ``parameters`` maps dotted scenario
    paths to how they vary, in the file's order; ``field_types`` gives each parameter's
    schema type (``"int"``, ``"float"``, ``"bool"`` or ``"str"``).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    description: str
    source: str
    base_source: str
    base: Scenario
    replicates: int
    seed: int
    seeds: str = "common"
    overrides: dict[str, Any]
    parameters: dict[str, Parameter]
    field_types: dict[str, str]
    sampling: Sampling
    outcomes: list[str]
    sets: list[dict[str, Any]] | None = None  # method "list": the parameter sets as written

    @property
    def noise_replicates(self) -> int:
        """Independent-seed runs at the centre of the ranges (the noise floor's sample)."""
        given = self.sampling.noise_replicates
        if given is not None:
            return given if self.sampling.method not in ("grid", "list") else 0
        return 5 if self.sampling.method in ("sobol", "morris") else 0

    @property
    def engine(self) -> dict[str, str]:
        """The engine that runs every run and its random numbers (as in a run's summary.json)."""
        return {"name": self.base.engine.name, "random_numbers": engine(self.base.engine.name).random_numbers}

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what decides every run's seed and scenario: a folder holds one fingerprint.

        What an experiment may grow by -- replicates, grid values, listed sets, ``n`` -- is
        left out, so that a grown experiment is the same experiment (see :func:`growth_problem`).
        """
        sampled = self.sampling.method not in ("grid", "list")
        data = {
            "name": self.name,
            "base": self.base_source,
            "seed": self.seed,
            "seeds": self.seeds,
            "overrides": self.overrides,
            "parameters": {k: (v.model_dump(mode="json") if sampled else None) for k, v in self.parameters.items()},
            "sampling": self.sampling.model_dump(mode="json", exclude={"n", "noise_replicates"}),
            "outcomes": self.outcomes,
            # the engine that runs every run, and its random numbers: a catalog never mixes
            # engines, whether named in the base, an override, or taken by default
            "engine": [self.engine["name"], self.engine["random_numbers"]],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


GROWABLE_N = ("sobol", "montecarlo")  # designs whose sample of n is the start of the sample of 2n


def growth_problem(old: dict[str, Any], new: Experiment) -> str | None:
    """Why ``new`` cannot grow the experiment recorded in ``old`` (its experiment.json), or None.

    Replicates, grid values and listed sets may change freely (runs are keyed by their
    parameter values, so the runs already made are kept); ``n`` may change only where a larger
    sample begins with the smaller one (Sobol', Monte Carlo).
    """
    method = new.sampling.method
    before = (old.get("sampling") or {}).get("n")
    if method not in ("grid", "list", *GROWABLE_N) and before != new.sampling.n:
        return (f"sampling.n changed from {before} to {new.sampling.n}, and a {method} design of another n is a "
                "different sample, not this one grown; keep n, or use another --out (Sobol' and Monte Carlo "
                "samples grow in place)")  # fmt: skip
    return None


def load_experiment(path: str | Path) -> Experiment:
    """Read, validate and resolve an experiment file; raise :class:`ExperimentError`."""
    path = Path(path)
    label = str(path)
    return experiment_from_dict(_read_toml(path, label), label, path.parent)


def experiment_from_dict(raw: dict[str, Any], label: str = "<experiment>", folder: Path | None = None) -> Experiment:
    """Validate an experiment given as a mapping (the parsed TOML); paths are relative to ``folder``.

    Nested tables and dotted keys mean the same: ``[parameters.appeal.capacity_per_million]``
    is ``[parameters."appeal.capacity_per_million"]``, and ``overrides = { population = { size
    = 2000 } }`` is ``overrides = { "population.size" = 2000 }``.
    """
    raw = dict(raw)
    if isinstance(raw.get("parameters"), dict):
        raw["parameters"] = _flatten_parameters(raw["parameters"])
    if isinstance(raw.get("sets"), list):
        raw["sets"] = [flatten_paths(one) if isinstance(one, dict) else one for one in raw["sets"]]
    if isinstance(raw.get("experiment"), dict) and isinstance(raw["experiment"].get("overrides"), dict):
        raw["experiment"] = {**raw["experiment"], "overrides": flatten_paths(raw["experiment"]["overrides"])}
    # the dotted paths are checked first, so that one message lists them with any other mistake
    problems: list[str] = []
    meta_raw = raw.get("experiment") if isinstance(raw.get("experiment"), dict) else {}
    tables = [("experiment.overrides", meta_raw.get("overrides")), ("parameters", raw.get("parameters"))]
    if isinstance(raw.get("sets"), list) and raw["sets"] and isinstance(raw["sets"][0], dict):
        tables.append(("sets[0]", raw["sets"][0]))
    for where, table in tables:
        for dotted in table if isinstance(table, dict) else ():
            problem = _path_problem(dotted)
            if problem:
                problems.append(f"{where}.{dotted}: {problem}")
    try:
        spec = ExperimentFile.model_validate(raw)
    except ValidationError as exc:
        raise ExperimentError(label, [_describe(err) for err in exc.errors()] + problems) from None
    meta = spec.experiment
    if meta.outcomes is not None and spec.outcomes is not None:
        problems.append("outcomes: give the outcomes once, either at the top of the file or in [experiment]")
    outcomes = list(meta.outcomes or spec.outcomes or DEFAULT_OUTCOMES)
    for i, outcome in enumerate(outcomes):
        if any(not part for part in outcome.split(".")):
            problems.append(f"outcomes[{i}]: expected a dotted path into summary.json such as overall.wrongful_share; found {outcome!r}")
        elif outcome in RESERVED:
            problems.append(f"outcomes[{i}]: {outcome!r} is a catalog column already; pick another outcome")
    if len(set(outcomes)) != len(outcomes):
        problems.append("outcomes: an outcome is listed twice")

    base_source = meta.base
    looks_like_path = base_source.endswith(".toml") or "/" in base_source or "\\" in base_source
    if looks_like_path and folder is not None and not Path(base_source).is_absolute():
        base_source = str(folder / base_source)
    try:
        base = load_scenario(base_source)
    except ScenarioError as error:
        raise ExperimentError(label, [f"experiment.base: {line}" for line in str(error).splitlines()]) from None

    field_types = {}
    for dotted, parameter in spec.parameters.items():
        if _path_problem(dotted):
            continue  # reported above
        if dotted in meta.overrides:
            problems.append(f"parameters.{dotted}: also fixed in experiment.overrides; keep one")
        if _engine_path(dotted):
            problems.append(f"parameters.{dotted}: {ONE_ENGINE}")
        field_types[dotted] = _field_type(dotted)
        problems.extend(_method_problems(dotted, parameter, spec.sampling.method))
    sets = None
    if spec.sets is not None and spec.sampling.method == "list":
        for dotted in spec.sets[0]:
            if not _path_problem(dotted):
                if dotted in meta.overrides:
                    problems.append(f"sets[0].{dotted}: also fixed in experiment.overrides; keep one")
                if _engine_path(dotted):
                    problems.append(f"sets[0].{dotted}: {ONE_ENGINE}")
                field_types[dotted] = _field_type(dotted)
        sets = [{k: float(v) if field_types.get(k) == "float" and type(v) is int else v for k, v in one.items()} for one in spec.sets]
    problems.extend(_sampling_problems(spec))
    if problems:
        raise ExperimentError(label, problems)

    if meta.overrides:
        try:
            base = with_overrides(base, meta.overrides)
        except ScenarioError as error:
            raise ExperimentError(label, [f"experiment.overrides: {p}" for p in error.problems]) from None
    experiment = Experiment(
        name=meta.name,
        description=meta.description,
        source=label,
        base_source=meta.base,
        base=base,
        replicates=meta.replicates,
        seed=meta.seed,
        seeds=meta.seeds,
        overrides=dict(meta.overrides),
        parameters=dict(spec.parameters),
        field_types=field_types,
        sampling=spec.sampling,
        outcomes=outcomes,
        sets=sets,
    )
    from credsim.experiments.design import count_sets  # late: design imports this module

    total = count_sets(experiment) * experiment.replicates
    if total > MAX_RUNS:
        raise ExperimentError(label, [f"the experiment has {total:,} runs; at most {MAX_RUNS:,} are allowed"])
    return experiment


# ---------------------------------------------------------------------------- internals


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    if not path.is_file():
        raise ExperimentError(label, ["no such experiment file"])
    return read_toml(path, label, ExperimentError, "an experiment")


def _flatten_parameters(table: dict[str, Any]) -> dict[str, Any]:
    """``[parameters.appeal.capacity_per_million]`` (nested tables) and
    ``[parameters."appeal.capacity_per_million"]`` (one quoted key) mean the same."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        # a table of tables is a step of the path; a table holding any value is the parameter
        if isinstance(node, dict) and node and all(isinstance(v, dict) for v in node.values()):
            for key, child in node.items():
                walk(f"{prefix}.{key}" if prefix else key, child)
        else:
            flat[prefix] = node

    for key, node in table.items():
        walk(str(key), node)
    return flat


ONE_ENGINE = ("an experiment runs one engine, so that its catalog never mixes two random-number schemes; name it in "
              "experiment.overrides or the base scenario, and run each engine as its own experiment")


def _engine_path(dotted: str) -> bool:
    return dotted == "engine" or dotted.startswith("engine.")


def _path_problem(dotted: str) -> str | None:
    parts = dotted.split(".")
    if not dotted or any(not p for p in parts):
        return "expected a dotted path such as appeal.capacity_per_million"
    return _check_path(parts)


def _field_type(dotted: str) -> str:
    """The schema type of a scenario field: "int", "float", "bool", "str" or "other"."""
    if dotted.startswith("timeline."):  # an entry's own value, or the scenario field its set changes
        kind, dotted = timeline.value_kind(dotted)
        if kind is not None:
            return kind
    annotation: Any = Scenario
    for part in dotted.split("."):
        model = _model_in(annotation)
        if model is not None:
            annotation = model.model_fields[part].annotation
        else:
            annotation = next(
                (typing.get_args(c)[1] for c in (annotation, *typing.get_args(annotation)) if typing.get_origin(c) is dict),
                Any,
            )
    for candidate in (annotation, *typing.get_args(annotation)):
        while typing.get_origin(candidate) is typing.Annotated:
            candidate = typing.get_args(candidate)[0]
        if candidate is bool:
            return "bool"
        if candidate is int:
            return "int"
        if candidate is float:
            return "float"
        if candidate is str:
            return "str"
    return "other"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is dict:
        return None
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _method_problems(dotted: str, parameter: Parameter, method: str) -> list[str]:
    where = f"parameters.{dotted}"
    if method == "list":
        return [f"{where}: sampling.method 'list' takes its parameter sets from [[sets]]; remove [parameters]"]
    if method == "grid" and parameter.kind == "range":
        return [f"{where}: sampling.method 'grid' needs values or grid; found range (a range is for latin, montecarlo, sobol or morris)"]
    if method != "grid" and parameter.kind != "range":
        return [f"{where}: sampling.method {method!r} needs range = [low, high]; found {parameter.kind}"]
    return []


def _sampling_problems(spec: ExperimentFile) -> list[str]:
    sampling = spec.sampling
    if sampling.method != "list" and spec.sets is not None:
        return ["sets: [[sets]] lists parameter sets for sampling.method 'list'; found method " + repr(sampling.method)]
    if sampling.method == "list":
        if spec.sets is None:
            return ["sets: sampling.method 'list' needs the parameter sets, as [[sets]] tables of dotted path = value"]
        problems = ["sampling.n: not used by method 'list'; remove it"] if sampling.n is not None else []
        keys = set(spec.sets[0])
        for i, one in enumerate(spec.sets):
            if set(one) != keys:
                problems.append(f"sets[{i}]: every set must give the same fields; expected {sorted(keys)}, found {sorted(one)}")
        return problems
    if sampling.method == "grid":
        return [] if sampling.n is None else ["sampling.n: not used by method 'grid' (the grid is every combination); remove it"]
    problems = []
    if sampling.n is None:
        what = {"latin": "samples", "montecarlo": "samples", "sobol": "the base sample size N (a power of 2)",
                "morris": "trajectories"}[sampling.method]  # fmt: skip
        problems.append(f"sampling.n: required field is missing for method {sampling.method!r}: {what}")
    elif sampling.method == "sobol" and sampling.n & (sampling.n - 1):
        problems.append(f"sampling.n: Sobol' sampling needs a power of 2 (e.g. {1 << sampling.n.bit_length()}); found {sampling.n}")
    if sampling.method in ("sobol", "morris") and len(spec.parameters) < 2:
        problems.append(f"parameters: method {sampling.method!r} needs at least two parameters; found {len(spec.parameters)}")
    if sampling.method in ("sobol", "morris", "latin", "montecarlo") and not spec.parameters:
        problems.append("parameters: nothing to sample; add a [parameters.<dotted.path>] table with a range")
    return list(dict.fromkeys(problems))


def _kind_of(value: Any) -> str:
    return "bool" if isinstance(value, bool) else type(value).__name__


def _describe(err: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "missing":
        return f"{field}: required field is missing"
    if kind == "extra_forbidden":
        hint = {
            "experiment": "name, description, base, replicates, seed, seeds, overrides, outcomes",
            "sampling": "method, n, second_order, levels, noise_replicates",
            "grid": "start, stop, num",
        }
        parent = str(err["loc"][-2]) if len(err["loc"]) > 1 else ""
        if len(err["loc"]) == 1:
            known = "experiment, parameters, sampling, sets, outcomes"
        elif len(err["loc"]) == 3 and err["loc"][0] == "parameters":
            known = "values, grid, range"
        else:
            known = hint.get(parent, "check its spelling")
        return f"{field}: unknown field; expected one of: {known}"
    if kind == "value_error":
        return f"{field}: {str(err['msg']).removeprefix('Value error, ')}"
    if kind == "model_type" and err["loc"][0] == "parameters":
        return f"{field}: expected a table with one of values, grid or range; found {_show(err.get('input'))}"
    ctx = err.get("ctx") or {}
    bounds = {
        "greater_than_equal": "a number >= {ge}",
        "less_than_equal": "a number <= {le}",
        "multiple_of": "a multiple of {multiple_of}",
        "string_pattern_mismatch": "a name of letters, digits, '_', '.' or '-'",
        "too_short": "at least {min_length} item(s)",
        "too_long": "at most {max_length} item(s)",
    }
    expected = bounds[kind].format(**ctx) if kind in bounds else str(err["msg"]).removeprefix("Input should be ")
    return f"{field}: expected {expected}; found {_show(err.get('input'))}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
