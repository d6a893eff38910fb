"""The HTML report of a run, and of two runs side by side, built from saved outputs only.

    >>> from credsim.report import build_report, build_comparison
    >>> build_report("runs/city-seed0")                      # doctest: +SKIP
    PosixPath('runs/city-seed0/report.html')

The page is one self-contained file (plotly.js's basic bundle inlined once, see
:mod:`credsim.report.plotlyjs`; no network access), with a
plain-words headline, the charts, a data table beside each chart, the metric definitions
and the scenario as run. ``credsim.report.cli.register(app)`` adds the ``report`` command.
"""

from credsim.report.build import build_comparison, build_report
from credsim.report.data import ReportError

__all__ = sorted(["ReportError", "build_comparison", "build_report"])
