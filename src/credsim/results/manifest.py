"""``manifest.json``: what a complete run folder holds, so that a reader can check it.

:func:`credsim.write_run` writes the manifest **last**, after every other file is in place:
each file's size in bytes and SHA-256, the credsim version, and ``"status": "complete"``.
Before it moves new files in, it removes the old manifest, so a folder whose write failed or
was killed half-way never has a manifest claiming it complete.

Everything that reads a run folder (``read_summary``, ``credsim report``, ``compare``, the
web app, experiments) calls :func:`verify` first: it raises
:class:`credsim.errors.CorruptRunError`, naming the file, when the manifest is missing,
unreadable, not complete or does not list the run's files, or when a file is missing or
differs in size or checksum from what the manifest says.

A file added to a complete run later (its ``report.html``) is covered too: :func:`uncover`
drops its entry before the file is replaced, :func:`cover` adds the new one after, each a
rewrite of the manifest that is atomic, so the manifest never claims content not in place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from credsim.errors import CorruptRunError

MANIFEST = "manifest.json"
#: The files every run folder has, and every manifest must list.
DATA_FILES = ("scenario.toml", "daily.parquet", "regions.parquet", "episodes.parquet", "summary.json")
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


def verify(run_dir: str | Path, *, only: tuple[str, ...] | None = None) -> dict:
    """Check a run folder against its manifest; return the manifest.

    The one check every reader of a run folder goes through (``read_summary``, the report,
    ``compare``, the web app). Raises :class:`CorruptRunError` naming the file when the
    manifest is missing, not valid JSON, not ``complete``, does not list every file of a run
    (:data:`DATA_FILES`), has an entry with a bad name or fields, or a listed file is missing
    or has another size or SHA-256. Files not in the manifest are ignored (a temporary file
    of a writer, a copy of a report saved beside the run). ``only``: check just these
    listed files (the report reads the data files, and may replace a damaged report); the
    manifest itself is checked whole either way."""
    folder = Path(run_dir)
    manifest = read(folder)
    path = folder / MANIFEST
    for name, expected in manifest["files"].items():
        if only is not None and name not in only:
            continue
        file = folder / name
        try:
            if not file.is_file():
                raise CorruptRunError(f"{file}: listed in {MANIFEST} but missing")
            size = file.stat().st_size
            if size != expected["bytes"]:
                raise CorruptRunError(f"{file}: {size:,} bytes; {MANIFEST} says {expected['bytes']!r}")
            if sha256_of(file) != expected["sha256"]:
                raise CorruptRunError(f"{file}: SHA-256 differs from {MANIFEST}; the file was altered or damaged")
        except OSError as error:
            raise CorruptRunError(f"{file}: cannot read it ({error.strerror or error}); {path} lists it") from None
    return manifest


def read(run_dir: str | Path) -> dict:
    """The manifest of ``run_dir``, its form checked but not the files it lists (see
    :func:`verify`). Raises :class:`CorruptRunError` naming the file."""
    folder = Path(run_dir)
    path = folder / MANIFEST
    try:
        if not folder.is_dir():
            raise CorruptRunError(f"{folder}: no such run folder")
        if not path.is_file():
            if not (folder / "summary.json").is_file():
                raise CorruptRunError(f"{folder}: {MANIFEST} and summary.json missing; not a complete credsim run")
            raise CorruptRunError(f"{path}: missing; {folder} is not a complete credsim run (its write failed or was interrupted)")
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path, bad UTF-8 or JSON
        raise CorruptRunError(f"{path}: unreadable ({error})") from None
    except RecursionError:
        raise CorruptRunError(f"{path}: unreadable (nested too deeply)") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CorruptRunError(f"{path}: not a credsim manifest")
    if manifest.get("status") != "complete":
        raise CorruptRunError(f"{path}: status is {manifest.get('status')!r}, not 'complete'")
    for name, expected in manifest["files"].items():
        if not good_name(name):
            raise CorruptRunError(f"{path}: bad entry {name!r} (a file name in the run folder, not hidden, no path)")
        if not (isinstance(expected, dict) and _is_size(expected.get("bytes")) and _is_sha256(expected.get("sha256"))):
            raise CorruptRunError(f"{path}: bad entry {name!r}: expected {{\"bytes\": a whole number >= 0, \"sha256\": 64 hex digits}}; found {expected!r:.200}")
    missing = [name for name in DATA_FILES if name not in manifest["files"]]
    if missing:
        raise CorruptRunError(f"{path}: does not list {', '.join(missing)}; every run folder has them")
    return manifest


def good_name(name: object) -> bool:
    """Whether ``name`` may be a manifest entry: a plain, visible file name of the folder."""
    return (
        isinstance(name, str)
        and 0 < len(name.encode("utf-8", "surrogatepass")) <= 255
        and not name.startswith(".")
        and name != MANIFEST
        and not any(c in name for c in "/\\")
        and not any(ord(c) < 32 or ord(c) == 127 for c in name)
    )


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def uncover(run_dir: str | Path, name: str) -> None:
    """Drop ``name``'s entry from the manifest of ``run_dir`` (atomically), if it has one:
    done before the file is replaced, so that the manifest never claims a file whose
    content is not the one in place."""
    folder = Path(run_dir)
    manifest = read(folder)
    if name in DATA_FILES:
        raise CorruptRunError(f"{folder / name}: a run's own data file; it is never replaced")
    if name in manifest["files"]:
        del manifest["files"][name]
        write(folder, manifest)


def cover(run_dir: str | Path, name: str) -> dict:
    """Add (or rewrite) the manifest entry of the file ``name`` now in ``run_dir``,
    atomically; return the manifest. For files added to a complete run (its report)."""
    folder = Path(run_dir)
    manifest = read(folder)
    if not good_name(name) or name in DATA_FILES:
        raise ValueError(f"{name!r}: not a file that can be added to a run's manifest")
    file = folder / name
    manifest["files"][name] = {"bytes": file.stat().st_size, "sha256": sha256_of(file)}
    write(folder, manifest)
    return manifest
