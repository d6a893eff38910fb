"""The ``credsim report`` command, added to the main typer app by :func:`register`.

    credsim report DIR                    rebuild DIR/report.html
    credsim report DIR --out FILE         write it elsewhere
    credsim report DIR_A DIR_B [--out F]  compare two runs [default: compare-A-B.html]

A thin adaptor like the rest of ``credsim.cli``: every error credsim raises on purpose is
printed as one message and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from credsim.errors import CredsimError
from credsim.report.build import build_comparison, build_report
from credsim.report.data import ReportError

out = Console()
err = Console(stderr=True)


def _fail(error: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def report(
    run_dirs: Annotated[list[Path], typer.Argument(metavar="DIR", help="A run folder; or two run folders to compare.", show_default=False)],
    out_path: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Where to write the page (default: DIR/report.html; for two runs, compare-A-B.html here)."),
    ] = None,
) -> None:
    """Build the HTML report of a run folder, or a report comparing two."""
    if len(run_dirs) > 2:
        _fail(ReportError(f"report: give one run folder, or two to compare; got {len(run_dirs)}"))
    try:
        if len(run_dirs) == 1:
            written = build_report(run_dirs[0], out_path)
        else:
            label_a, label_b = (_label(path) for path in run_dirs)
            written = build_comparison(run_dirs[0], run_dirs[1], out_path or Path(f"compare-{label_a}-{label_b}.html"))
    except CredsimError as error:
        _fail(error)
    out.print(f"wrote {escape(str(written))}", highlight=False, soft_wrap=True)


def _label(path: Path) -> str:
    try:
        return path.resolve().name or str(path)
    except (OSError, ValueError, RuntimeError) as error:  # a NUL, a symlink loop
        raise ReportError(f"{str(path)!r}: not a run folder ({error})") from None


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app`` (the ``credsim`` command line)."""
    app.command("report")(report)
