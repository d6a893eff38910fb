"""Where a run came from: the scenario's fingerprint and the code's commit."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
