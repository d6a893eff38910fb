"""Writing a file at a path the user gave (``--out``, ``--csv``): atomically, and only to a
regular file or a new path.

    check_file(path, what)        the checks alone, before any work: OutputError if refused
    write_file(path, data, what)  check, write beside the target, fsync, os.replace

Refused with :class:`credsim.errors.OutputError`, one line naming the path: a device, FIFO,
socket or other special file (``--out /dev/null``: an atomic write would rename a regular
file over it), a folder, a name with a NUL or a control character, a name longer than the
file system allows, a path through a file, and any write the system refuses (a read-only
folder, a full disk). Nothing is left behind by a refused or failed write.

The data go first into a hidden temporary file beside the target,
``.NAME.credsim-PID-TOKEN.partial``, held under an exclusive ``flock`` while it is written.
A writer killed half-way leaves that file; the next :func:`write_file` into the same folder
removes every such file whose writer is gone (its process no longer exists and nothing holds
its lock), so partial files do not pile up. Readers of a run folder ignore them: they are
not in its manifest.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from credsim.errors import OutputError
from credsim.results.manifest import fsync_folder

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None

NAME_MAX = 255  # bytes in one file name, on every file system credsim is used on
PARTIAL = re.compile(r"^\..*\.credsim-(?P<pid>\d+)-[0-9a-f]+\.partial$")


def check_file(path: str | os.PathLike, what: str = "the file") -> Path:
    """Refuse ``path`` as the place to write ``what`` unless it is a regular file or a new
    path in a folder (which may not exist yet); return it as a Path."""
    text = os.fspath(path)
    if "\0" in text:
        raise OutputError(f"{text!r}: cannot write {what} there: a file name cannot hold a NUL character")
    path = Path(text)
    name = path.name
    if not name or name in (".", ".."):
        raise OutputError(f"{text}: cannot write {what} there: not a file name")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise OutputError(f"{text!r}: cannot write {what} there: the path holds a control character")
    if len(os.fsencode(name)) > NAME_MAX:
        raise OutputError(f"{_short(text)}: cannot write {what} there: the file name is {len(os.fsencode(name))} bytes long; at most {NAME_MAX}")
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return path
    except NotADirectoryError:
        raise OutputError(f"{_short(text)}: cannot write {what} there: part of the path is a file, not a folder") from None
    except OSError as error:
        raise OutputError(f"{_short(text)}: cannot write {what} there: {error.strerror or error}") from None
    if stat.S_ISDIR(found.st_mode):
        raise OutputError(f"{_short(text)}: is a folder; give a file name for {what}")
    if not stat.S_ISREG(found.st_mode):
        raise OutputError(f"{_short(text)}: not a regular file (a device, FIFO or socket); "
                          f"credsim writes {what} only to a regular file or a new path")
    return path


def write_file(path: str | os.PathLike, data: str | bytes, what: str = "the file") -> Path:
    """Write ``data`` (text is written as UTF-8) to ``path`` atomically; return the path.

    Raises :class:`OutputError` when the path is refused (see :func:`check_file`) or the
    write fails; then the previous file at ``path``, if any, is untouched and no temporary
    file is left."""
    target = check_file(path, what)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{_short(str(target))}: cannot write {what}: cannot make the folder {folder}: {error.strerror or error}") from None
    clean_stale_partials(folder)
    temp = folder / f".{target.name[:80]}.credsim-{os.getpid()}-{secrets.token_hex(4)}.partial"
    fd = -1
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # tells a cleaner that this writer is alive
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        check_file(target, what)  # once more: nothing became a special file meanwhile
        os.replace(temp, target)
    except BaseException as error:
        if fd >= 0:
            temp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OutputError(f"{_short(str(target))}: cannot write {what}: {error.strerror or error}") from None
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    fsync_folder(folder)
    return target


def clean_stale_partials(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of :func:`write_file` in ``folder`` whose writers are
    gone (killed half-way); return what was removed. Errors are ignored: cleaning is a
    courtesy, never a reason for a write to fail."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _alive(pid) or _locked(entry.path):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) is not a probe elsewhere
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _locked(path: str) -> bool:
    """Whether a writer still holds the file's lock (one on another machine, on a shared
    file system, whose process id means nothing here)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _short(text: str) -> str:
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]} ({len(text)} characters)"
