"""The plotly.js the reports inline: a partial bundle with only the trace types they draw.

plotly's Python package inlines its full plotly.js (4.8 MB, every trace type); the reports
draw only ``scatter`` and ``bar`` traces, so they carry npm's ``plotly.js-basic-dist-min``
(bar, pie, scatter; 1.2 MB) of the same plotly.js version as the pinned Python package,
vendored with its MIT licence in ``assets/``:

    npm pack plotly.js-basic-dist-min@4.1.1    # plotly 7.1.0 (Python) bundles plotly.js 4.1.1

    plotly_js()      -> the script text (one string, for a <script> element)
    VERSION          the plotly.js version of the bundle
    TRACE_TYPES      the trace types it contains

Anything else that needs plotly.js (the web app) should take it from here.
tests/test_report.py checks that the bundle's version is the Python package's and that
every trace of every report is of a type in it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

BUNDLE = "plotly-basic.min.js"
LICENSE = "plotly-basic.LICENSE"
VERSION = "4.1.1"
TRACE_TYPES = frozenset({"bar", "pie", "scatter"})


@cache
def plotly_js() -> str:
    """The vendored plotly.js basic bundle, as text."""
    return (resources.files("credsim.report") / "assets" / BUNDLE).read_text(encoding="utf-8")
