"""Marking a timeline's changes on the report's time charts.

Every panel whose x axis is the day of the run gets a dashed vertical line at the start of
each day on which the timeline changed the rules (summary.json's ``timeline``), and its
caption says so and lists those days. Charts of other axes (days since a listing began, snapshot
days) are left alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from credsim.report.data import RunData
from credsim.report.panels import Chart

LINE = {"color": "#555555", "width": 1, "dash": "dot"}


def change_days(runs: list[RunData]) -> list[int]:
    """The days on which any of ``runs`` changed its rules, sorted."""
    days = set()
    for run in runs:
        for entry in run.summary.get("timeline", []) or []:
            if isinstance(entry, dict) and isinstance(entry.get("day"), int):
                days.add(entry["day"])
    return sorted(days)


def mark_changes(chart: Chart, runs: list[RunData]) -> Chart:
    """Add a vertical line for each change day to every day-of-the-run panel of ``chart``."""
    days = change_days(runs)
    if not days:
        return chart
    layout = chart.figure.setdefault("layout", {})
    axes = sorted({trace.get("xaxis", "x") for trace in chart.figure.get("data", []) if _is_days(trace.get("x"), runs)})
    if not axes:
        return chart
    shapes = layout.setdefault("shapes", [])
    for axis in axes:
        x_name = "xaxis" + axis[1:]
        anchor = layout.get(x_name, {}).get("anchor", "y" + axis[1:])
        for day in days:
            shapes.append({"type": "line", "xref": axis, "yref": f"{anchor} domain", "x0": day, "x1": day,
                           "y0": 0, "y1": 1, "line": LINE, "layer": "above"})
    shown = ", ".join(map(str, days[:20])) + (f" and {len(days) - 20} more" if len(days) > 20 else "")
    return dataclasses.replace(chart, caption=f"{chart.caption} Dotted vertical lines: the days the scenario's timeline changed its rules ({shown}).")


def _is_days(x, runs: list[RunData]) -> bool:
    """Whether ``x`` is a run's axis of days (0, 1, ..., days - 1)."""
    if x is None:
        return False
    values = np.asarray(x)
    return any(values.shape == run.day.shape and values.dtype.kind in "iuf" and np.array_equal(values, run.day) for run in runs)
