"""Scenarios: the schema, loading (with ``extends`` and ``--set``), and the built-in files."""

from credsim.scenario.load import (
    DEFAULT_SCENARIO,
    builtin_names,
    builtin_path,
    describe_builtins,
    dump_dict,
    load_scenario,
    to_toml,
    validate_dict,
    with_overrides,
)
from credsim.scenario.schema import Scenario

__all__ = [
    "DEFAULT_SCENARIO",
    "Scenario",
    "builtin_names",
    "builtin_path",
    "describe_builtins",
    "dump_dict",
    "load_scenario",
    "to_toml",
    "validate_dict",
    "with_overrides",
]
