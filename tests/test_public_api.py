"""The public API: `credsim.__all__` is pinned, sorted, and every name in it is importable."""

from __future__ import annotations

import importlib

import pytest

import credsim

PINNED = [
    "CorruptRunError",
    "CredsimError",
    "ResourceError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "builtin_names",
    "load_scenario",
    "read_summary",
    "resume",
    "simulate",
    "write_run",
]


def test_all_is_sorted():
    assert list(credsim.__all__) == sorted(credsim.__all__)


def test_all_is_pinned():
    # a change here is a change of the public API: update PINNED on purpose, and the docs
    assert list(credsim.__all__) == PINNED


def test_all_has_no_duplicates():
    assert len(set(credsim.__all__)) == len(credsim.__all__)


@pytest.mark.parametrize("name", PINNED)
def test_name_is_importable(name):
    module = importlib.import_module("credsim")
    assert hasattr(module, name)
    namespace: dict = {}
    exec(f"from credsim import {name}", namespace)
    assert namespace[name] is getattr(credsim, name)


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from credsim import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(credsim.__all__)


def test_errors_hierarchy():
    assert issubclass(credsim.ScenarioError, credsim.CredsimError)
    assert issubclass(credsim.ResourceError, credsim.CredsimError)


def test_version_matches_the_installed_distribution():
    from importlib.metadata import version

    assert credsim.__version__ == version("credsim")
