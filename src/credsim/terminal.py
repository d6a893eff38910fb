"""What every ``credsim`` command prints with: the two consoles, one-line failures, numbers
shown plainly, and files written where the user asked (:mod:`credsim.results.outputs`)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from credsim.errors import CredsimError
from credsim.results.outputs import write_file

out = Console()
err = Console(stderr=True)
NAME_MAX = 255  # bytes in one file or folder name, on Linux's file systems


def fail(error: Exception) -> None:
    """Print ``error`` as one line on stderr and exit with status 2."""
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_user_file(path: Path, text: str, what: str) -> None:
    """Write a file the user asked for, or fail with one line (a device, a folder, a
    read-only place...: :func:`credsim.results.outputs.write_file`)."""
    try:
        write_file(path, text, what)
    except CredsimError as error:
        fail(error)


def shown(path: Path) -> str:
    text = str(path)
    return repr(text) if any(ord(c) < 32 or ord(c) == 127 for c in text) else text


def folder_problem(target: Path) -> str | None:
    """Why ``--out TARGET`` cannot be a folder credsim writes into, or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in str(target)):  # as for every file credsim writes
        return "the path holds a control character (or a NUL)"
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in target.parts):
        return f"a name in the path is longer than {NAME_MAX} bytes, the most a file system takes"
    existing = target
    try:
        while not existing.exists():
            if existing.parent == existing:
                break
            existing = existing.parent
    except (OSError, ValueError) as error:  # a name too long, a NUL byte
        return f"not a folder that can be made: {getattr(error, 'strerror', None) or error}"
    if existing.exists() and not existing.is_dir():
        return f"{existing} exists and is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing}"
    return None
