"""A run's directory: scenario.toml, daily/regions/episodes.parquet, summary.json.

Writing is atomic per run: every file is first written into a hidden staging folder
beside the outputs, then moved into place with ``os.replace`` (atomic on one file system),
``summary.json`` last, then ``manifest.json`` (each file's size and SHA-256, see
:mod:`credsim.results.manifest`). A run that fails or is killed leaves either the previous
complete outputs, or files without a ``summary.json`` and ``manifest.json`` -- never a
summary over half-written tables, nor a manifest claiming an incomplete folder complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from credsim.errors import CorruptRunError
from credsim.results import manifest
from credsim.scenario import to_toml

OUTPUT_FILES = manifest.DATA_FILES


def write_run(result, out_dir: str | Path) -> Path:
    """Write ``result`` (a :class:`credsim.RunResult`) into ``out_dir``; return the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".credsim-partial-", dir=out))
    try:
        (staging / "scenario.toml").write_text(
            f"# credsim {result.summary['credsim_version']}, seed {result.seed}: the scenario as run\n"
            + to_toml(result.scenario),
            encoding="utf-8",
        )
        pq.write_table(result.daily, staging / "daily.parquet")
        pq.write_table(result.regions, staging / "regions.parquet")
        pq.write_table(result.episodes, staging / "episodes.parquet")
        (staging / "summary.json").write_text(json.dumps(result.summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        for name in OUTPUT_FILES:
            manifest.fsync_file(staging / name)
        contents = manifest.build(staging, OUTPUT_FILES, result.summary["credsim_version"])
        for name in (manifest.MANIFEST, "summary.json"):
            stale = out / name
            if stale.exists():
                stale.unlink()  # the folder no longer holds a complete run until the new one is in
        for name in OUTPUT_FILES:
            os.replace(staging / name, out / name)
        manifest.write(out, contents)  # last: only now is the folder a complete run
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def read_summary(run_dir: str | Path) -> dict:
    """The summary of a complete run folder, after checking every file against its
    ``manifest.json`` (:func:`credsim.results.manifest.verify`; raises CorruptRunError)."""
    manifest.verify(run_dir)
    path = Path(run_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise CorruptRunError(f"{path}: matches {manifest.MANIFEST} but cannot be read ({error})") from None
    if not isinstance(summary, dict):
        raise CorruptRunError(f"{path}: not a credsim summary (not a JSON object)")
    return summary
