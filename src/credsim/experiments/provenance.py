"""Where a run came from: the scenario's fingerprint, and the code and machine that ran it."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from pathlib import Path
from typing import Any

from credsim.scenario import Scenario, to_toml


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the canonical resolved scenario: the UTF-8 bytes of ``to_toml(scenario)``."""
    return hashlib.sha256(to_toml(scenario).encode("utf-8")).hexdigest()


def git_commit() -> str | None:
    """The commit of the git checkout credsim runs from, read from ``.git``; None if none."""
    try:
        here = Path(__file__).resolve().parent
        for folder in (here, *here.parents):
            dot_git = folder / ".git"
            if dot_git.is_file():  # a worktree: "gitdir: PATH"
                dot_git = (folder / dot_git.read_text().strip().removeprefix("gitdir:").strip()).resolve()
            if not dot_git.is_dir():
                continue
            head = (dot_git / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head or None
            ref = head.removeprefix("ref:").strip()
            for base in (dot_git, _common_dir(dot_git)):
                if (base / ref).is_file():
                    return (base / ref).read_text().strip() or None
                packed = base / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split(" ", 1)[0]
            return None
    except OSError:
        return None
    return None


def _common_dir(dot_git: Path) -> Path:
    common = dot_git / "commondir"
    return (dot_git / common.read_text().strip()).resolve() if common.is_file() else dot_git


# ------------------------------------------------------------------ where a run ran

# what must agree between the client and every worker, or the runs are not one experiment
MUST_MATCH = ("source_hash", "numpy", "numba", "pyarrow")
ENVIRONMENT_COLUMNS = ("credsim_version", "git_commit", "git_dirty", "source_hash", "python", "numpy", "numba",
                       "pyarrow", "cpu", "os")  # fmt: skip


@functools.cache
def environment() -> dict[str, Any]:
    """Where this process runs: credsim's version, commit, dirty flag and source hash, the
    versions of Python and the libraries that shape the numbers, the CPU model and the OS.

    Computed once per process (a worker computes its own: the catalog row records it)."""
    import numba
    import numpy
    import pyarrow

    from credsim import __version__

    return {
        "credsim_version": __version__,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "source_hash": source_hash(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "pyarrow": pyarrow.__version__,
        "cpu": cpu_model(),
        "os": platform.platform(),
    }


def mismatch(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs between two environments among :data:`MUST_MATCH`, as sentences."""
    return [f"{key}: the client has {expected.get(key)!r}, this worker {actual.get(key)!r}"
            for key in MUST_MATCH if expected.get(key) != actual.get(key)]  # fmt: skip


def source_hash() -> str:
    """SHA-256 over the installed credsim package: every file's path and bytes, in path order
    (compiled caches left out). Two installations with the same hash run the same code."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".nbi", ".nbc")):
        digest.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def git_dirty() -> bool | None:
    """Whether the git checkout credsim runs from has uncommitted changes to tracked files;
    None when it is not a checkout (an installed package) or git cannot tell."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return bool(done.stdout.strip())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
