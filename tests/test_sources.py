"""Sources live inside the repository: docs/sources.md, cited by anchor, and nothing points
to notes a user of credsim does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
# spelled in pieces so that this file does not name them itself
PRIVATE = ("MODEL" + ".md", "FACTS" + ".md", "../" + "shared", "shared" + "/")


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(name in line for name in PRIVATE):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "cite docs/sources.md or docs/model.md instead:\n" + "\n".join(offenders)


def test_every_cited_source_entry_exists():
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', SOURCES.read_text(encoding="utf-8")))
    assert {"court-figures", "court-term", "nist-frvt", "unchecked"} <= anchors
    cited = {}
    for path in tracked_files():
        if path.suffix not in (".md", ".toml", ".py"):
            continue
        for anchor in re.findall(r"sources\.md#([a-z0-9-]+)", path.read_text(encoding="utf-8")):
            cited.setdefault(anchor, path.relative_to(ROOT))
    missing = {a: str(p) for a, p in cited.items() if a not in anchors}
    assert not missing, f"cited entries missing from docs/sources.md: {missing}"
    assert len(cited) >= 15
