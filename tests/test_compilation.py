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


def test_cached_after_a_run_and_not_when_the_source_changed(monkeypatch):
    compilation.compile_for(credsim.load_scenario("city"))  # compiles, or loads what is cached
    assert compilation.cached() is True
    indexed = [k for k in compilation.kernels() if os.path.exists(k._cache._cache_file._index_path)]
    monkeypatch.setattr(indexed[0]._cache._cache_file, "_load_index", lambda: {})  # one a run did not need
    assert compilation.cached() is True
    for kernel in indexed:  # as after an edit of any source file: every stamp is the package's
        monkeypatch.setattr(kernel._cache._cache_file, "_load_index", lambda: {})
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


# A package of two modules: b's cached kernel inlines a function of a. Numba alone stamps
# b's cache with b.py only, so an edit of a.py is not seen; with credsim's package stamp it is.
PACKAGE_A = "import numba\n\n@numba.njit(inline='always')\ndef value():\n    return {value}\n"
PACKAGE_B = "import numba\nfrom pkg.a import value\n\n@numba.njit(cache=True)\ndef f():\n    return value()\n"
PACKAGE_INIT = "from pathlib import Path\nimport credsim.numba_cache\ncredsim.numba_cache.install(Path(__file__).parent)\n"


def _package_after_an_edit(root: Path, stamped: bool) -> tuple[int, int]:
    """What b.f() returns before and after a.py's value goes from 1 to 2, each in a new process."""
    package = root / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PACKAGE_INIT if stamped else "")
    (package / "b.py").write_text(PACKAGE_B)
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_CACHE")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a.py is rewritten within a second: no stale .pyc either
    results = []
    for value in (1, 2):
        (package / "a.py").write_text(PACKAGE_A.format(value=value))
        done = subprocess.run([sys.executable, "-c", "import pkg.b; print(pkg.b.f())"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results.append(int(done.stdout.split()[-1]))
    assert list(package.glob("__pycache__/b.f-*.nbi")), "the kernel was not cached beside its source"
    return results[0], results[1]


def test_a_kernel_compiles_again_when_a_module_it_calls_changes(tmp_path):
    """The package stamp: an edit of one module makes every kernel of the package compile
    again. Without it numba loads the stale machine code (the control: numba's own stamps)."""
    assert _package_after_an_edit(tmp_path / "stamped", stamped=True) == (1, 2)
    assert _package_after_an_edit(tmp_path / "numba", stamped=False) == (1, 1), (
        "numba now sees edits of other modules: credsim.numba_cache may no longer be needed")


def test_credsims_kernels_carry_the_package_stamp(tmp_path):
    """Every kernel of credsim is stamped with the whole package; the stamp follows any file's
    content (and only .py files' names and contents)."""
    from credsim import numba_cache

    root = str(Path(credsim.__file__).parent.resolve())
    for kernel in compilation.kernels():
        locator = kernel._cache._impl.locator
        assert type(locator) in numba_cache.locators_for(root), (kernel, type(locator))
        assert locator.get_source_stamp() == numba_cache.package_stamp(root)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "a.py").write_text("x = 1\n")
    (copy / "notes.txt").write_text("not code")
    before = numba_cache.package_stamp.__wrapped__(str(copy))
    (copy / "notes.txt").write_text("still not code")
    assert numba_cache.package_stamp.__wrapped__(str(copy)) == before
    (copy / "a.py").write_text("x = 2\n")
    assert numba_cache.package_stamp.__wrapped__(str(copy)) != before


def test_a_numba_without_the_locators_keeps_its_own_stamps(monkeypatch, tmp_path):
    """numba before 0.61 names its locators with a leading underscore: they are found by
    either name; without them (or the locator list) install does nothing, and says so."""
    from numba.core import caching

    from credsim import numba_cache

    public = caching.InTreeCacheLocator
    monkeypatch.delattr(caching, "InTreeCacheLocator")
    monkeypatch.setattr(caching, "_InTreeCacheLocator", public, raising=False)
    assert numba_cache._numba("InTreeCacheLocator") is public
    monkeypatch.delattr(caching, "_InTreeCacheLocator")
    before = list(numba_cache._numba("CacheImpl")._locator_classes)
    assert numba_cache.install(tmp_path) is False
    assert numba_cache._numba("CacheImpl")._locator_classes == before  # nothing added
