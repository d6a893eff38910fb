"""Shared fixtures: the `credsim` console script, the text of the built-in `city` scenario,
and a catalogue of broken scenario files (each an edit of `city`) used by both the loader
tests and the command-line tests."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import numba
import pytest
import tomli_w

CREDSIM = Path(sys.executable).parent / "credsim"


def city_text() -> str:
    return (resources.files("credsim.scenario") / "builtin" / "city.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def city() -> dict:
    """The built-in `city` scenario as a plain TOML mapping (read here, not by credsim)."""
    return tomllib.loads(city_text())


# ------------------------------------------------------------------ broken scenario files
# name -> edit(mapping) returning the fragments the error message must contain (besides
# the file name): the field, what was expected and what was found. An edit may instead
# return (bytes, fragments) to write raw bytes.


def _missing_section(d):
    del d["appeal"]
    return ["appeal", "required field is missing"]


def _unknown_top_key(d):
    d["apeal"] = {"capacity_per_million": 5.0}
    return ["apeal", "unknown field"]


def _unknown_nested_key(d):
    d["appeal"]["capacity_per_milion"] = d["appeal"].pop("capacity_per_million")
    return ["appeal.capacity_per_milion", "unknown field"]


def _wrong_type(d):
    d["listing"]["min_days"] = "a year"
    return ["listing.min_days", "expected a valid integer", "found 'a year'"]


def _probability_above_1(d):
    d["listing"]["objection"]["p_wrongful"] = 1.5
    return ["listing.objection.p_wrongful", "<= 1", "found 1.5"]


def _negative_probability(d):
    d["appeal"]["uphold_wrongful"] = -0.25
    return ["appeal.uphold_wrongful", ">= 0", "found -0.25"]


def _shares_not_1(d):
    groups = d["population"]["groups"]
    first = next(iter(groups))
    groups[first]["share"] = groups[first]["share"] + 0.1
    return ["population.groups", "sum to 1", "sum to 1.1"]


def _region_shares_length(d):
    name = list(d["population"]["groups"])[-1]
    d["population"]["groups"][name]["region_shares"] = [0.5, 0.5]
    regions = d["population"]["regions"]
    assert regions != 2
    return [f"population.groups.{name}.region_shares", f"({regions})", "got 2"]


def _threshold_outside_range(d):
    d["listing"]["threshold"] = d["score"]["max"] + 1000
    return ["listing.threshold", "score range", f"got {d['score']['max'] + 1000:g}"]


def _exit_below_threshold(d):
    d["listing"]["exit_threshold"] = d["listing"]["threshold"] - 50
    return ["listing.exit_threshold", "listing.threshold", f"({d['listing']['threshold'] - 50:g})"]


def _unknown_behaviour_in_deltas(d):
    d["score"]["deltas"]["blood_donaton"] = 10.0
    return ["score.deltas", "'blood_donaton'", "blood_donation"]


def _unknown_group_in_watch(d):
    d["observation"]["cameras"]["watch"]["minorty"] = 2.0
    return ["observation.cameras.watch", "'minorty'", "'minority'"]


def _unknown_behaviour_in_immediate(d):
    d["listing"]["immediate"] = ["debt_defualt"]
    return ["listing.immediate", "'debt_defualt'", "'debt_default'"]


def _nan(d):
    d["listing"]["objection"]["p_wrongful"] = float("nan")
    return ["listing.objection.p_wrongful", "finite", "found nan"]


def _inf(d):
    d["score"]["informant_reward"] = float("inf")
    return ["score.informant_reward", "finite", "found inf"]


def _invalid_toml(d):
    return (tomli_w.dumps(d) + "\n[listing\nthreshold = 1\n").encode(), ["not valid TOML", "line"]


def _bad_utf8(d):
    return tomli_w.dumps(d).encode() + b"\n# caf\xe9 \xff\n", ["not valid UTF-8"]


BAD_FILES = {f.__name__.lstrip("_"): f for f in (
    _missing_section, _unknown_top_key, _unknown_nested_key, _wrong_type, _probability_above_1,
    _negative_probability, _shares_not_1, _region_shares_length, _threshold_outside_range,
    _exit_below_threshold, _unknown_behaviour_in_deltas, _unknown_group_in_watch,
    _unknown_behaviour_in_immediate, _nan, _inf, _invalid_toml, _bad_utf8,
)}  # fmt: skip


def pytest_generate_tests(metafunc):
    if "bad_case" in metafunc.fixturenames:
        metafunc.parametrize("bad_case", list(BAD_FILES))


@pytest.fixture(scope="session")
def bad_files(city, tmp_path_factory) -> dict:
    """name -> (path, fragments): every broken copy of `city`, written once."""
    folder = tmp_path_factory.mktemp("bad")
    files = {}
    for name, edit in BAD_FILES.items():
        data = copy.deepcopy(city)
        result = edit(data)
        raw, fragments = result if isinstance(result, tuple) else (tomli_w.dumps(data).encode(), result)
        path = folder / f"{name}.toml"
        path.write_bytes(raw)
        files[name] = (path, fragments)
    return files


@pytest.fixture
def bad_file(bad_case, bad_files):
    """(path, fragments): a broken copy of `city` and what its error must mention."""
    return bad_files[bad_case]


@pytest.fixture(scope="session")
def credsim_cli():
    """Run the installed console script; returns the CompletedProcess."""
    assert CREDSIM.is_file(), f"console script not installed at {CREDSIM}"

    def run(*args, cwd=None, timeout=180):
        env = {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "ignore"}
        return subprocess.run(
            [str(CREDSIM), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
        )

    return run


@pytest.fixture(scope="module")
def one_thread():
    """Numba on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    the compiled kernels give the same numbers on any number of threads, and small runs on a
    busy machine are faster without thread hand-offs."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)
