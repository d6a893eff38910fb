"""Building the report of a run folder, or the comparison of two, from saved outputs only.

    build_report(run_dir)                   -> run_dir/report.html
    build_comparison(run_a, run_b, out_path) -> out_path

Both read the folders with :func:`credsim.report.data.load_run` (which checks them against
their manifests first), draw the charts, and write one self-contained HTML file atomically:
into a temporary file beside the target, then ``os.replace``
(:func:`credsim.results.outputs.write_file`: never over a device, FIFO or folder). A failure
leaves the previous report (or none), never half a page. A run's own ``report.html`` is covered by its
manifest: the entry is dropped before the page is replaced and written again after, so
that the manifest never claims a page that is not the one in place. A page is never
written over a file that a run's manifest lists (its data), nor over the manifest.
"""

from __future__ import annotations

from pathlib import Path

from plotly.offline import get_plotlyjs

from credsim import __version__
from credsim.errors import CorruptRunError
from credsim.report import charts_people, charts_system
from credsim.report.data import ReportError, RunData, load_run
from credsim.report.page import comparison_page, report_page
from credsim.report.panels import Chart, pin_flat_axes
from credsim.results import manifest, outputs

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
    return charts


def build_report(run_dir: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (default ``run_dir/report.html``); return its path.

    Raises :class:`ReportError` when the folder is missing, has no ``summary.json``, or a
    file in it cannot be read.
    """
    if out_path is not None:
        outputs.check_file(out_path, "the report")  # before any work
    run = load_run(run_dir)
    target = Path(out_path) if out_path is not None else run.path / REPORT_NAME
    own = target.name == REPORT_NAME and _same_folder(target.parent, run.path)
    _refuse_run_files(target, allowed=REPORT_NAME if own else None)
    page = report_page(run, draw_charts([run]), get_plotlyjs(), __version__)
    if not own:
        return write_atomic(target, page)
    manifest.uncover(run.path, REPORT_NAME)
    write_atomic(target, page)
    manifest.cover(run.path, REPORT_NAME)
    return target


def build_comparison(run_a: str | Path, run_b: str | Path, out_path: str | Path) -> Path:
    """Write a report comparing two run folders to ``out_path``; return its path."""
    outputs.check_file(out_path, "the report")  # before any work
    runs = [load_run(run_a), load_run(run_b)]
    _refuse_run_files(Path(out_path))
    if runs[0].label == runs[1].label:
        runs[0].label, runs[1].label = f"{runs[0].label} (A)", f"{runs[1].label} (B)"
    page = comparison_page(runs, draw_charts(runs), get_plotlyjs(), __version__)
    return write_atomic(Path(out_path), page)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def _refuse_run_files(target: Path, allowed: str | None = None) -> None:
    """Refuse to write over a run's manifest or a file it lists (except ``allowed``)."""
    try:
        folder = target.parent
        if not (folder / manifest.MANIFEST).exists():
            return
    except (OSError, ValueError):
        return  # not a folder that can be read: the write itself says why
    try:
        protected = {manifest.MANIFEST, *manifest.read(folder)["files"]}
    except CorruptRunError:
        protected = {manifest.MANIFEST, *manifest.DATA_FILES}
    if target.name in protected and target.name != allowed:
        raise ReportError(f"{target}: part of the run in {folder} (listed in its {manifest.MANIFEST}); give another file name for the report")


def write_atomic(target: Path, text: str) -> Path:
    """Write the page to ``target`` atomically (:func:`credsim.results.outputs.write_file`)."""
    return outputs.write_file(target, text, "the report")
