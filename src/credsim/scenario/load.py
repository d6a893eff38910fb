"""Loading scenarios: built-in names or TOML files, ``extends``, ``--set`` overrides.

The result is always a validated :class:`Scenario`; anything wrong becomes a
:class:`ScenarioError` that names the file, the field, what was expected and what was found.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from credsim.errors import ScenarioError
from credsim.tomlfile import MAX_FILE_BYTES, read_toml, toml_text_problem  # noqa: F401 - the size cap, read here by callers
from credsim.scenario import timeline
from credsim.scenario.paths import check_path, drop_none, set_path
from credsim.scenario.schema import Scenario

DEFAULT_SCENARIO = "city"
MAX_EXTENDS_DEPTH = 8


def builtin_names() -> list[str]:
    """The names of the scenarios shipped inside the package, sorted."""
    folder = resources.files("credsim.scenario") / "builtin"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def builtin_path(name: str) -> Path:
    folder = resources.files("credsim.scenario") / "builtin"
    return Path(str(folder / f"{name}.toml"))


def describe_builtins() -> list[tuple[str, str]]:
    """(name, first line of its description) for every built-in scenario."""
    rows = []
    for name in builtin_names():
        raw = _read_toml(builtin_path(name), name)
        description = str(raw.get("meta", {}).get("description", "")).strip().splitlines()
        rows.append((name, description[0] if description else ""))
    return rows


def load_scenario(
    source: str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> Scenario:
    """Load a built-in scenario by name, or a TOML file by path, and validate it.

    ``overrides`` are ``"dotted.path=value"`` strings (as given to ``--set``) or a mapping
    of dotted paths to values; each path must name a field of the schema.
    """
    source = DEFAULT_SCENARIO if source is None else source
    raw, label = _resolve(source, chain=())
    if overrides:
        items = list(overrides.items() if isinstance(overrides, dict) else map(_split_override, overrides))
        for path, value in items:
            _apply_override(raw, path, value)
        # the overrides as given (--set, or the -n/-d a command turned into one), never a flag the user did not use
        label = f"{label} (with {', '.join(f'{path}={value}' for path, value in items)})"
    return validate_dict(raw, label)


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy of ``scenario`` with dotted-path overrides applied and validated."""
    raw = dump_dict(scenario)
    for path, value in overrides.items():
        _apply_override(raw, path, value)
    return validate_dict(raw, f"{scenario.meta.name} (with overrides)")


def validate_dict(raw: dict[str, Any], label: str = "<scenario>") -> Scenario:
    """Validate an already-merged scenario mapping."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(label, [_describe(err) for err in exc.errors()]) from None
    except RecursionError:
        raise ScenarioError(label, ["a value is nested too deeply"]) from None
    if scenario.timeline:
        _check_timeline(scenario, label)
    return scenario


def _check_timeline(scenario: Scenario, label: str) -> None:
    """The timeline's entries, then the scenario as it stands on every change day."""
    problems = timeline.problems(scenario)
    if problems:
        raise ScenarioError(label, problems)
    for change, raw in timeline.states(scenario):
        try:
            Scenario.model_validate(raw)
        except ValidationError as exc:
            raise ScenarioError(
                label, [f"{timeline.where(change)}: as the scenario stands from that day, {_describe(err)}" for err in exc.errors()]
            ) from None


def to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML: loading it gives the same scenario."""
    data = drop_none(scenario.model_dump(mode="python"))
    data["meta"].pop("extends", None)
    return tomli_w.dumps(data)


def dump_dict(scenario: Scenario) -> dict[str, Any]:
    data = drop_none(scenario.model_dump(mode="python"))
    data["meta"].pop("extends", None)
    return data


# ---------------------------------------------------------------------------- internals


def _resolve(source: str | Path, chain: tuple[str, ...], root: Path | None = None) -> tuple[dict[str, Any], str]:
    """Read ``source`` and what it extends. ``root`` is the folder of the top-level file: no
    file it extends, directly or not, may lie outside it (see :func:`_extends_path`)."""
    text = str(source)
    is_path = isinstance(source, Path) or text.endswith(".toml") or "/" in text or "\\" in text
    if is_path:
        path = Path(text)
        label = _show_path(text)
        try:
            found = path.is_file()
        except (OSError, ValueError):  # a name too long, a NUL byte...
            found = False
        if not found:
            raise ScenarioError(label, ["no such scenario file"])
    else:
        if text not in builtin_names():
            raise ScenarioError(
                text,
                [f"unknown scenario name {text!r}; expected a file path or one of: {', '.join(builtin_names())}"],
            )
        path, label = builtin_path(text), f"built-in scenario {text!r}"
    try:
        key = str(path.resolve())
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ScenarioError(label, [f"cannot read file: {exc}"]) from None
    if key in chain:
        raise ScenarioError(label, ["meta.extends forms a cycle: " + " -> ".join((*chain, key))])
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(label, [f"meta.extends is nested more than {MAX_EXTENDS_DEPTH} deep"])
    root = Path(key).parent if root is None else root
    raw = _read_toml(path, label)
    parent = raw.get("meta", {}).get("extends") if isinstance(raw.get("meta"), dict) else None
    if parent is None:
        return raw, label
    if not isinstance(parent, str):
        raise ScenarioError(label, [f"meta.extends: expected a scenario name or path, found {_show(parent)}"])
    if "/" in parent or "\\" in parent or parent.endswith(".toml") or parent.startswith("~"):
        parent = _extends_path(root, path, parent, label)
    base, _ = _resolve(parent, (*chain, key), root)
    merged = _deep_merge(base, raw)
    if isinstance(base.get("timeline"), list) and isinstance(raw.get("timeline"), list):
        merged["timeline"] = base["timeline"] + raw["timeline"]  # timelines add up: the parent's entries, then the child's
    merged["meta"]["extends"] = None
    # meta.changes says what this file changes from its parent: the parent's own list is not
    # inherited (it described a different step)
    merged["meta"]["changes"] = raw["meta"].get("changes", {})
    return merged, label


def _extends_path(root: Path, extending: Path, parent: str, label: str) -> str:
    """Where ``meta.extends = parent`` (a path) points, or a ScenarioError.

    The rule: a scenario may extend a built-in scenario by name, or a file given by a
    relative path (from the extending file's folder) that lies in the folder of the
    top-level file or below it, after following ``..`` and symbolic links. Absolute paths,
    ``~`` and anything that leads outside are refused: a scenario file received from
    someone else cannot make credsim read, or quote in an error, any other file."""
    problem = None
    if "\0" in parent:
        problem = "contains a NUL character"
    elif parent.startswith(("/", "\\", "~")) or Path(parent).is_absolute() or (len(parent) > 1 and parent[1] == ":"):
        problem = "is an absolute path"
    else:
        try:
            target = (extending.parent / parent).resolve()
        except (OSError, RuntimeError, ValueError):
            target = None
        if target is None or not target.is_relative_to(root):
            problem = "leads outside the folder of the top-level scenario file"
    if problem:
        raise ScenarioError(
            label,
            [
                f"meta.extends: {_show(parent)} {problem}; a scenario may extend a built-in scenario by name, "
                f"or a file in {root} or below it, by a relative path"
            ],
        )
    return str(extending.parent / parent)


def _show_path(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    return read_toml(path, label, ScenarioError, "a scenario")


def _deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _split_override(item: str) -> tuple[str, Any]:
    if not isinstance(item, str) or "=" not in item:
        raise ScenarioError("--set", [f"{_show(item)}: expected KEY=VALUE, e.g. listing.min_days=365"])
    path, _, text = item.partition("=")
    path = path.strip()
    source = f"v = {text.strip()}"
    problem = toml_text_problem(source)  # the parser is quadratic in key depth: bound it first
    if problem:
        raise ScenarioError("--set", [f"{_show_path(path)}: value not read: {problem}"])
    try:
        parsed = tomllib.loads(source)
        # "1\nother.key = 2" parses too: a value must be one TOML value, nothing after it
        value = parsed["v"] if len(parsed) == 1 else text.strip()
    except (tomllib.TOMLDecodeError, RecursionError):
        value = text.strip()  # a bare word is a string: --set meta.name=test
    return path, value


def _apply_override(raw: dict[str, Any], path: str, value: Any) -> None:
    if not isinstance(path, str):
        raise ScenarioError("--set", [f"{_show(path)}: expected a dotted path such as listing.min_days"])
    if path.strip() == "meta.extends":  # extends is followed when the file is read, before any --set
        raise ScenarioError("--set", ["meta.extends: cannot be set with --set; write a scenario file that extends"])
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ScenarioError("--set", [f"{path!r}: expected a dotted path such as listing.min_days"])
    if parts[0] == "timeline":  # an entry's value: timeline.0.day, timeline.0.set.<field>
        problem = timeline.apply_override(raw, parts, value)
        if problem:
            raise ScenarioError("--set", [f"{path}: {problem}"])
        return
    problem = _check_path(parts)
    if problem:
        raise ScenarioError("--set", [f"{path}: {problem}"])
    set_path(raw, parts, value)


def _check_path(parts: list[str]) -> str | None:
    """Say what is wrong with a dotted path, or None when it names a field: of the schema, or
    of a timeline entry (``timeline.0.set.appeal.capacity_per_million``)."""
    if parts and parts[0] == "timeline":
        return timeline.path_problem(parts)
    return check_path(parts)


def _describe(err: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    found = err.get("input")
    if kind == "missing":
        return f"{field}: required field is missing"
    if kind == "extra_forbidden":
        known = _check_path([str(p) for p in err["loc"]])
        known = known.split("; ", 1)[1] if known and "; " in known else "check its spelling"
        return f"{field}: unknown field; {known}"
    if kind == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
        return message if field == "(top level)" else f"{field}: {message}"
    return f"{field}: expected {_expected(err)}; found {_show(found)}"


def _expected(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    bounds = {
        "greater_than_equal": "a number >= {ge}",
        "greater_than": "a number > {gt}",
        "less_than_equal": "a number <= {le}",
        "less_than": "a number < {lt}",
        "finite_number": "a finite number",
        "string_pattern_mismatch": "a name of letters, digits, '_' or '-', starting with a letter",
    }
    if kind in bounds:
        return bounds[kind].format(**{k: v for k, v in ctx.items()})
    return str(err["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    try:
        text = repr(value)
    except RecursionError:
        return "a value nested too deeply to show"
    return text if len(text) <= 80 else text[:77] + "..."
