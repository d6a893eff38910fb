"""Dotted field paths (``appeal.capacity_per_million``): the walk of the schema that ``--set``,
experiments and timeline entries use to say whether a path names a field."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from credsim.scenario.schema import Scenario


def check_path(parts: list[str]) -> str | None:
    """Say what is wrong with a dotted path, or None when the schema has such a field."""
    annotation: Any = Scenario
    walked: list[str] = []
    for part in parts:
        model = model_of(annotation)
        if model is not None:
            if part not in model.model_fields:
                where = ".".join(walked) or "the scenario"
                return f"no such field; {where} has: {', '.join(model.model_fields)}"
            annotation = model.model_fields[part].annotation
        else:
            value_type = dict_value_type(annotation)
            if value_type is None:
                return f"{'.'.join(walked)} is a value, not a table"
            annotation = value_type
        walked.append(part)
    return None


def model_of(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is dict:
        return None  # a table keyed by name: the next part is a key, not a field
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def dict_value_type(annotation: Any) -> Any | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is dict:
            return typing.get_args(candidate)[1]
    return None


def set_path(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    """Put ``value`` at the dotted path ``parts`` of the mapping ``raw``, making tables."""
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def get_path(raw: dict[str, Any], parts: list[str]) -> Any:
    """The value at ``parts`` in ``raw``, or None."""
    node: Any = raw
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def drop_none(value: Any) -> Any:
    """``value`` (a scenario dumped to plain data) without its unset (None) fields, at any depth."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value
