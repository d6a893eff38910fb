"""The web app's comparison of two runs, labelled by their settings rather than their folders.

:func:`credsim.report.build_comparison` labels each run by its folder's name, which for a
web run is its id; here each run carries the label of its request (:mod:`credsim.web.labels`)
into the title, the headline, the tables and every legend. The page is built as
:func:`credsim.report.build_comparison` builds it otherwise (the same plotly.js bundle).
"""

from __future__ import annotations

from pathlib import Path

from credsim import __version__
from credsim.report.build import draw_charts, write_atomic
from credsim.report.data import load_run
from credsim.report.page import comparison_page
from credsim.report.plotlyjs import plotly_js
from credsim.web.labels import distinct


def build_labelled_comparison(folder_a: Path, folder_b: Path, label_a: str, label_b: str, target: Path) -> Path:
    """Write the comparison of two finished run folders to ``target`` (atomically); return it."""
    runs = [load_run(folder_a), load_run(folder_b)]
    runs[0].label, runs[1].label = distinct(label_a, label_b)
    page = comparison_page(runs, draw_charts(runs), plotly_js(), __version__)
    return write_atomic(target, page)
