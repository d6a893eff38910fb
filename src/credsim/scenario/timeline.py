"""Timelines: scenarios whose rules change on given days (``[[timeline]]`` entries).

A step entry (``day`` and ``set``) changes its fields at the start of ``day``. A ramp entry
(``from_day``, ``to_day``, ``ramp`` of field -> ``[start, end]``) changes them on
``from_day``, every ``step_days`` after it, and on ``to_day``, to the value on the straight
line from ``start`` (on ``from_day``) to ``end`` (on ``to_day``); a field whose base value
is a whole number is rounded to the nearest one (halves up). Before its first change a field
has its base value, which ``--set`` changes.

Here the entries become a list of :class:`Change` (one per change day, sorted), and the
scenario as it stands on each change day; :mod:`credsim.scenario.load` validates every one
of those, and :mod:`credsim.changes` applies them during a run. What may not change during
a run is :data:`FIXED`; which fields are the terms an open case keeps is :data:`CASE_TERMS`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from credsim.scenario.paths import check_path, drop_none, get_path, set_path
from credsim.scenario.schema import Scenario, TimelineEntry, flatten_paths

# Fields a run cannot change once it has started, and why.
FIXED = {
    "meta": "the scenario's name and sources describe the whole run",
    "population": "the population, its groups, regions, network and length are drawn or fixed before day 0",
    "record": "the quantile panel is drawn before day 0",
    "timeline": "a timeline cannot change itself",
    "engine": "one engine runs the whole run",
    "score.initial": "everyone starts at it on day 0",
    "score.min": "the score's range is fixed for a run",
    "score.max": "the score's range is fixed for a run",
    "score.grades": "the grades are columns of daily.parquet, whose shape a run keeps",
}

# The terms a notice or listing keeps from the day it opened (unless applies_to = "open").
CASE_TERMS = (
    "listing.min_days",
    "listing.exit_threshold",
    "listing.notice_days",
    "appeal.uphold_wrongful",
    "appeal.uphold_rightful",
)
MAX_CHANGE_DAYS = 32_000  # a case's terms are an int16 index of the change day they opened under


@dataclass(frozen=True)
class Change:
    """The changes of one day: dotted path -> new value, from the entries ``entries``."""

    day: int
    values: dict[str, Any]
    entries: tuple[int, ...]
    open: bool  # some entry of the day says applies_to = "open": open cases take its terms

    @property
    def changes_terms(self) -> bool:
        return any(path in self.values for path in CASE_TERMS)


def path_problem(parts: list[str]) -> str | None:
    """What is wrong with an override path into the timeline (``timeline.0.day``,
    ``timeline.1.set.appeal.capacity_per_million``), or None."""
    fields = list(TimelineEntry.model_fields)
    if len(parts) < 3 or not parts[1].isdigit():
        return "expected timeline.<entry number>.<field>, e.g. timeline.0.day or timeline.0.set.appeal.capacity_per_million"
    if parts[2] not in fields:
        return f"no such field of a timeline entry; an entry has: {', '.join(fields)}"
    if parts[2] in ("set", "ramp"):
        if len(parts) < 4:
            return f"expected timeline.{parts[1]}.{parts[2]}.<dotted field>"
        return field_problem(parts[3:])
    return None if len(parts) == 3 else f"timeline.{parts[1]}.{parts[2]} is a value, not a table"


ENTRY_KINDS = {"day": "int", "from_day": "int", "to_day": "int", "step_days": "int", "applies_to": "str", "note": "str"}


def value_kind(dotted: str) -> tuple[str | None, str | None]:
    """For an override path into the timeline: (the kind of an entry's own value -- "int",
    "str" or "other" --, None), or (None, the scenario field that ``timeline.N.set.<field>``
    changes, whose kind is that field's)."""
    parts = dotted.split(".")
    if len(parts) >= 4 and parts[2] == "set":
        return None, ".".join(parts[3:])
    return ENTRY_KINDS.get(parts[2] if len(parts) == 3 else "", "other"), None


def field_problem(parts: list[str]) -> str | None:
    """What is wrong with changing the field ``parts`` during a run, or None."""
    problem = check_path(parts)
    if problem:
        return problem
    dotted = ".".join(parts)
    if len(parts) >= 3 and parts[0] == "behaviours" and parts[2] == "region_rate":
        return "cannot change during a run: a behaviour's region multipliers bound its draws, fixed before day 0"
    for prefix, why in FIXED.items():
        if dotted == prefix or dotted.startswith(prefix + "."):
            return f"cannot change during a run: {why}"
    return None


def apply_override(raw: dict[str, Any], parts: list[str], value: Any) -> str | None:
    """Set ``timeline.<i>.<field>[.<dotted field>]`` in the raw mapping ``raw``; returns what
    is wrong, or None. The entry must exist: an override changes an entry, never adds one."""
    problem = path_problem(parts)
    if problem:
        return problem
    entries = raw.get("timeline")
    index = int(parts[1])
    count = len(entries) if isinstance(entries, list) else 0
    if index >= count:
        return f"the scenario's timeline has {count} entr{'y' if count == 1 else 'ies'} (numbered from 0); there is no entry {index}"
    entry = entries[index]
    if not isinstance(entry, dict):
        return f"entry {index} is not a table"
    entry = dict(entry)
    entries[index] = entry
    if parts[2] in ("set", "ramp"):
        table = entry.get(parts[2])
        table = flatten_paths(table) if isinstance(table, dict) else {}
        table[".".join(parts[3:])] = value
        entry[parts[2]] = table
    else:
        entry[parts[2]] = value
    return None


def base_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario's base values as a plain mapping, without its timeline."""
    data = drop_none(scenario.model_dump(mode="python"))
    data["meta"].pop("extends", None)
    data.pop("timeline", None)
    return data


def changes(scenario: Scenario) -> list[Change]:
    """The timeline as one :class:`Change` per change day, sorted by day. Assumes
    :func:`problems` found none."""
    base = base_dict(scenario)
    by_day: dict[int, dict[str, Any]] = {}
    entries: dict[int, list[int]] = {}
    opened: dict[int, bool] = {}
    for index, entry in enumerate(scenario.timeline):
        for day, values in _steps(entry, base):
            by_day.setdefault(day, {}).update(values)
            entries.setdefault(day, []).append(index)
            opened[day] = opened.get(day, False) or entry.applies_to == "open"
    return [Change(day, by_day[day], tuple(entries[day]), opened[day]) for day in sorted(by_day)]


def problems(scenario: Scenario) -> list[str]:
    """What is wrong with the timeline as entries: fields that cannot change, one field
    changed twice on one day, open and new terms mixed on one day, too many change days.
    (The scenario as it stands on each day is checked by :func:`states` and its caller.)"""
    found: list[str] = []
    for index, entry in enumerate(scenario.timeline):
        for table in ("set", "ramp"):
            for path in getattr(entry, table):
                parts = path.split(".")
                problem = "expected a dotted path such as appeal.capacity_per_million" if any(not p for p in parts) else field_problem(parts)
                if problem is None and parts[0] == "behaviours" and len(parts) > 1 and parts[1] not in scenario.behaviours:
                    problem = f"cannot change during a run: behaviour {parts[1]!r} is not in the scenario, and a run cannot add one"
                if problem:
                    found.append(f"timeline.{index}.{table}.{path}: {problem}")
    if found:
        return found
    base = base_dict(scenario)
    seen: dict[tuple[int, str], int] = {}
    kinds: dict[int, dict[str, list[int]]] = {}
    for index, entry in enumerate(scenario.timeline):
        for day, values in _steps(entry, base):
            for path in values:
                if (day, path) in seen:
                    found.append(
                        f"timeline.{index}: changes {path} on day {day}, as timeline.{seen[day, path]} does; "
                        "one field may change only once a day"
                    )
                seen.setdefault((day, path), index)
            side = kinds.setdefault(day, {"open": [], "new terms": []})
            if entry.applies_to == "open":
                side["open"].append(index)
            elif any(path in values for path in CASE_TERMS):
                side["new terms"].append(index)
    for day, side in sorted(kinds.items()):
        if side["open"] and side["new terms"]:
            found.append(
                f"timeline.{side['new terms'][0]}: changes a case's terms on day {day} for new cases only, while "
                f"timeline.{side['open'][0]} applies its changes to open cases that day; put them on different days"
            )
    days = {day for day, _ in seen}
    if len(days) > MAX_CHANGE_DAYS:
        found.append(f"timeline: {len(days)} change days; at most {MAX_CHANGE_DAYS} (lengthen the ramps' step_days)")
    return found


def states(scenario: Scenario) -> Iterator[tuple[Change, dict[str, Any]]]:
    """Each change and the scenario (a mapping, without timeline) as it stands from its day."""
    current = base_dict(scenario)
    for change in changes(scenario):
        for path, value in change.values.items():
            set_path(current, path.split("."), copy.deepcopy(value))
        yield change, copy.deepcopy(current)


def regimes(scenario: Scenario) -> list[tuple[Change, Scenario]]:
    """Each change and the scenario in force from its day (validated; the loader has checked
    that every one is valid, :func:`credsim.scenario.load.validate_dict`)."""
    return [(change, Scenario.model_validate(raw)) for change, raw in states(scenario)]


def where(change: Change) -> str:
    """``timeline.2 (day 200)`` or ``timeline.0, timeline.3 (day 14)``: for messages."""
    return ", ".join(f"timeline.{i}" for i in change.entries) + f" (day {change.day})"


# ---------------------------------------------------------------------------- internals


def _steps(entry: TimelineEntry, base: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(day, values) of one entry: one step, or each step of a ramp."""
    if entry.day is not None:
        return [(entry.day, dict(entry.set))]
    start, end, step = entry.from_day, entry.to_day, entry.step_days
    days = list(range(start, end, step)) + [end]
    out = []
    for day in days:
        share = (day - start) / (end - start)
        values = {}
        for path, (first, last) in entry.ramp.items():
            whole = isinstance(get_path(base, path.split(".")), int) and not isinstance(get_path(base, path.split(".")), bool)
            if isinstance(first, list):
                values[path] = [_between(a, b, share, whole) for a, b in zip(first, last)]
            else:
                values[path] = _between(first, last, share, whole)
        out.append((day, values))
    return out


def _between(first: float, last: float, share: float, whole: bool) -> float | int:
    value = first + (last - first) * share if share < 1 else last
    return int(math.floor(value + 0.5)) if whole else float(value)
