"""``manifest.json``: what a complete run folder holds, so that a reader can check it.

:func:`credsim.write_run` writes the manifest **last**, after every other file is in place:
each file's size in bytes and SHA-256, the credsim version, and ``"status": "complete"``.
Before it moves new files in, it removes the old manifest, so a folder whose write failed or
was killed half-way never has a manifest claiming it complete.

Anything that reads a run folder (``read_summary``, reports, ``compare``, catalogues)
should call :func:`verify` first: it raises :class:`credsim.errors.CorruptRunError`, naming
the file, when the manifest is missing, unreadable or not complete, or when a file is
missing or differs in size or checksum from what the manifest says.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from credsim.errors import CorruptRunError

MANIFEST = "manifest.json"
FORMAT = 1
CHUNK = 1 << 20


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build(folder: str | Path, names: list[str] | tuple[str, ...], credsim_version: str) -> dict:
    """The manifest of the files ``names`` in ``folder`` (as they are now)."""
    folder = Path(folder)
    return {
        "format": FORMAT,
        "status": "complete",
        "credsim_version": credsim_version,
        "files": {name: {"bytes": (folder / name).stat().st_size, "sha256": sha256_of(folder / name)} for name in names},
    }


def write(folder: str | Path, manifest: dict) -> Path:
    """Write ``manifest`` into ``folder`` atomically (temp file, fsync, rename)."""
    folder = Path(folder)
    target = folder / MANIFEST
    temp = folder / f".{MANIFEST}.partial"
    try:
        with open(temp, "w", encoding="utf-8") as f:
            f.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(folder)
    return target


def fsync_folder(folder: str | Path) -> None:
    """Make renames in ``folder`` durable (where the file system allows syncing a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def verify(run_dir: str | Path) -> dict:
    """Check a run folder against its manifest; return the manifest.

    Raises :class:`CorruptRunError` naming the file when the manifest is missing, not
    valid JSON, not ``complete``, or a listed file is missing or has another size or
    SHA-256. Files not in the manifest are ignored (others may add e.g. a report)."""
    folder = Path(run_dir)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise CorruptRunError(f"{folder}: no such run folder")
    if not path.is_file():
        raise CorruptRunError(f"{path}: missing; {folder} is not a complete credsim run (its write failed or was interrupted)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptRunError(f"{path}: unreadable ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CorruptRunError(f"{path}: not a credsim manifest")
    if manifest.get("status") != "complete":
        raise CorruptRunError(f"{path}: status is {manifest.get('status')!r}, not 'complete'")
    for name, expected in manifest["files"].items():
        file = folder / name
        if not isinstance(name, str) or Path(name).name != name or not isinstance(expected, dict):
            raise CorruptRunError(f"{path}: bad entry {name!r}")
        if not file.is_file():
            raise CorruptRunError(f"{file}: listed in {MANIFEST} but missing")
        size = file.stat().st_size
        if size != expected.get("bytes"):
            raise CorruptRunError(f"{file}: {size:,} bytes; {MANIFEST} says {expected.get('bytes')!r}")
        if sha256_of(file) != expected.get("sha256"):
            raise CorruptRunError(f"{file}: SHA-256 differs from {MANIFEST}; the file was altered or damaged")
    return manifest
