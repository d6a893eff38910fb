"""Numba's cache of the compiled kernels: the command line knows whether a run must compile
first (and says so), and a second process uses the cache instead of compiling again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import credsim
from credsim import compilation
from credsim.scenario import builtin_names

CREDSIM = Path(sys.executable).with_name("credsim")


def test_every_kernel_module_is_found():
    names = {kernel.__module__ for kernel in compilation.kernels()}
    assert {"credsim.kernels", "credsim.world", "credsim.population.network", "credsim.engines.reference.phases.behave",
            "credsim.engines.reference.phases.observe", "credsim.engines.reference.phases.score", "credsim.engines.reference.phases.sanction"} <= names


def test_cached_after_a_run_and_not_when_a_kernel_is_stale(monkeypatch):
    compilation.compile_for(credsim.load_scenario("city"))  # compiles, or loads what is cached
    assert compilation.cached() is True
    kernel = next(k for k in compilation.kernels() if os.path.exists(k._cache._cache_file._index_path))
    monkeypatch.setattr(kernel._cache._cache_file, "_load_index", lambda: {})  # as after an edit of its source
    assert compilation.cached() is False


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_compiles_with_a_tiny_copy(name):
    compilation.compile_for(credsim.load_scenario(name))


@pytest.mark.slow
def test_first_run_compiles_once_and_says_so(tmp_path):
    """With an empty cache (NUMBA_CACHE_DIR) the first run says it is compiling; the second,
    in a new process, finds the cache and does not. About a minute of compiling."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def run(out):
        return subprocess.run([str(CREDSIM), "run", "-n", "500", "-d", "5", "--out", str(tmp_path / out)],
                              capture_output=True, text=True, env=env, timeout=900)

    first, second = run("a"), run("b")
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert "compiling the model" in first.stderr
    assert "compiling" not in second.stderr
    assert any((tmp_path / "cache").rglob("*.nbi")), "numba wrote no cache index"
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("a", "b")]
    assert summaries[0] == summaries[1]
