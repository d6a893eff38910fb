"""Building the report of a run folder, or the comparison of two, from saved outputs only.

    build_report(run_dir)                   -> run_dir/report.html
    build_comparison(run_a, run_b, out_path) -> out_path

Both read the folders with :func:`credsim.report.data.load_run`, draw the charts, and write
one self-contained HTML file atomically: into a temporary file beside the target, then
``os.replace``. A failure leaves the previous report (or none), never half a page.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from credsim import __version__
from credsim.report import charts_people, charts_system
from credsim.report.data import ReportError, RunData, load_run
from credsim.report.page import comparison_page, report_page
from credsim.report.panels import Chart, mark_empty_panels, pin_flat_axes
from credsim.report.plotlyjs import plotly_js

REPORT_NAME = "report.html"

#: The charts, in the order the page shows them.
CHARTS = (
    charts_people.listed_share,
    charts_people.composition,
    charts_people.survival,
    charts_people.score_bands,
    charts_people.score_days,
    charts_people.grade_shares,
    charts_system.appeals,
    charts_system.blocked,
    charts_system.income,
    charts_system.chilling,
    charts_system.cameras,
)


def draw_charts(runs: list[RunData]) -> list[Chart]:
    charts = [build(runs) for build in CHARTS]
    for chart in charts:
        pin_flat_axes(chart.figure)
        mark_empty_panels(chart.figure)
    return charts


def build_report(run_dir: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (default ``run_dir/report.html``); return its path.

    Raises :class:`ReportError` when the folder is missing, has no ``summary.json``, or a
    file in it cannot be read.
    """
    run = load_run(run_dir)
    target = Path(out_path) if out_path is not None else run.path / REPORT_NAME
    page = report_page(run, draw_charts([run]), plotly_js(), __version__)
    return write_atomic(target, page)


def build_comparison(run_a: str | Path, run_b: str | Path, out_path: str | Path) -> Path:
    """Write a report comparing two run folders to ``out_path``; return its path."""
    runs = [load_run(run_a), load_run(run_b)]
    if runs[0].label == runs[1].label:
        runs[0].label, runs[1].label = f"{runs[0].label} (A)", f"{runs[1].label} (B)"
    page = comparison_page(runs, draw_charts(runs), plotly_js(), __version__)
    return write_atomic(Path(out_path), page)


def write_atomic(target: Path, text: str) -> Path:
    if target.exists() and target.is_dir():
        raise ReportError(f"{target}: is a folder; give a file name for the report")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as error:
        raise ReportError(f"{target}: cannot write the report: {error}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    except BaseException as error:
        Path(staging).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ReportError(f"{target}: cannot write the report: {error}") from None
        raise
    return target
