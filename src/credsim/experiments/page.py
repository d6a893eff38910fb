"""The experiment's page: ``OUT/experiment.html``, one self-contained file that opens offline.

Built with the report's own pieces (:mod:`credsim.report.page`: the style, the inlined
plotly.js, each chart's data table): each outcome against each varied parameter, the mean
of every point with its interval; and for a sensitivity analysis, Morris ``mu*`` against
``sigma`` or Sobol' ``S1``/``ST`` bars, with their intervals and the noise floor drawn.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from credsim import __version__
from credsim.report.build import write_atomic
from credsim.report.page import chart_section, document
from credsim.report.panels import Chart, Table

PAGE_NAME = "experiment.html"
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"


def build_page(out_dir: str | Path, indices: pd.DataFrame | None = None) -> Path:
    """Write ``OUT/experiment.html`` from the folder's catalog (and the sensitivity indices,
    when given); return its path."""
    from credsim.experiments.catalog import read_experiment_json
    from credsim.experiments.replicates import summarize_replicates
    from credsim.experiments.runner import load_catalog

    out = Path(out_dir)
    info = read_experiment_json(out) or {}
    catalog = load_catalog(out)
    summary = summarize_replicates(catalog)
    charts = [outcome_chart(summary, outcome, parameter, i)
              for i, (outcome, parameter) in enumerate((o, p) for o in summary.attrs["outcomes"] for p in summary.attrs["parameters"])]  # fmt: skip
    if indices is not None and len(indices):
        method = indices.attrs.get("method")
        for j, outcome in enumerate(dict.fromkeys(indices["outcome"])):
            floor = indices.attrs.get("noise", {}).get(outcome, {}).get("floor", math.nan)
            rows = indices[indices["outcome"] == outcome]
            charts.append(morris_chart(rows, outcome, floor, j) if method == "morris" else sobol_chart(rows, outcome, floor, j))
    complete = int((catalog["status"] == "complete").sum())
    body = (
        f"<h1>{escape(info.get('name', out.name))}: experiment</h1>\n"
        f"<p class=\"sub\">{escape(info.get('description', ''))}</p>\n"
        f"<p>{len(catalog):,} runs, {complete:,} complete; base scenario {escape(str(info.get('base', '')))}; "
        f"sampling {escape(str((info.get('sampling') or {}).get('method', '')))}; {info.get('replicates', 1)} replicate(s) per point; "
        f"seeds {escape(str(info.get('seeds', '')))} (root seed {info.get('seed', '')}); credsim {escape(__version__)}.</p>\n"
        "<p class=\"note\">Each interval is a 95% Student's t interval over a point's replicates, clipped to the "
        "outcome's range. The noise floor is the index seed noise alone would give a parameter that does nothing, "
        "measured from runs with independent seeds at the centre of the ranges.</p>\n"
        + "\n".join(chart_section(chart) for chart in charts)
    )  # fmt: skip
    return write_atomic(out / PAGE_NAME, document(f"{info.get('name', out.name)}: experiment", body, get_plotlyjs()))


def outcome_chart(summary: pd.DataFrame, outcome: str, parameter: str, i: int) -> Chart:
    rows = summary[summary["outcome"] == outcome].sort_values(parameter, kind="stable")
    x = [_json(v) for v in rows[parameter]]
    mean = [_json(v) for v in rows["mean"]]
    plus = [_json(h - m) for h, m in zip(rows["ci_high"], rows["mean"])]
    minus = [_json(m - lo) for lo, m in zip(rows["ci_low"], rows["mean"])]
    figure = {
        "data": [{"type": "scatter", "mode": "markers", "x": x, "y": mean, "name": outcome, "marker": {"color": BLUE, "size": 8},
                  "error_y": {"type": "data", "array": plus, "arrayminus": minus, "visible": True, "color": BLUE}}],
        "layout": {"xaxis": {"title": {"text": parameter}}, "yaxis": {"title": {"text": outcome}}, "height": 360,
                   "margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "showlegend": False},
    }  # fmt: skip
    table = Table([parameter, "runs", "mean", "95% low", "95% high"],
                  [[_cell(r[parameter]), str(int(r["n"])), _cell(r["mean"]), _cell(r["ci_low"]), _cell(r["ci_high"])]
                   for _, r in rows.iterrows()])  # fmt: skip
    return Chart(f"outcome-{i}", f"{outcome} against {parameter}",
                 f"The mean of {outcome} at each point, with its 95% interval over the replicates.", figure, table)


def morris_chart(rows: pd.DataFrame, outcome: str, floor: float, j: int) -> Chart:
    by = {k: rows[rows["index"] == k].set_index("parameter") for k in ("mu_star", "sigma")}
    names = list(by["mu_star"].index)
    data = [{"type": "scatter", "mode": "markers+text", "x": [_json(by["mu_star"].loc[n, "value"]) for n in names],
             "y": [_json(by["sigma"].loc[n, "value"]) for n in names], "text": names, "textposition": "top center",
             "marker": {"color": BLUE, "size": 9}, "name": "parameters",
             "error_x": {"type": "data", "array": [_json(by["mu_star"].loc[n, "conf"]) for n in names], "visible": True}}]  # fmt: skip
    shapes = []
    if math.isfinite(floor):
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": floor, "x1": floor, "y0": 0, "y1": 1,
                       "line": {"color": ORANGE, "dash": "dash"}})  # fmt: skip
    figure = {"data": data, "layout": {"xaxis": {"title": {"text": "mu* (mean absolute elementary effect)"}, "rangemode": "tozero"},
                                       "yaxis": {"title": {"text": "sigma"}, "rangemode": "tozero"}, "shapes": shapes, "height": 380,
                                       "margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "showlegend": False}}  # fmt: skip
    table = Table(["parameter", "mu*", "± 95%", "sigma", "noise floor"],
                  [[n, _cell(by["mu_star"].loc[n, "value"]), _cell(by["mu_star"].loc[n, "conf"]), _cell(by["sigma"].loc[n, "value"]),
                    _cell(floor)] for n in names])  # fmt: skip
    return Chart(f"morris-{j}", f"Morris screening of {outcome}",
                 "Each parameter's mu* (how much it moves the outcome) against sigma (how much that depends on the other "
                 "parameters), with mu*'s 95% interval; the dashed line is the noise floor.", figure, table)


def sobol_chart(rows: pd.DataFrame, outcome: str, floor: float, j: int) -> Chart:
    data, names = [], []
    for kind, color in (("S1", BLUE), ("ST", ORANGE)):
        part = rows[rows["index"] == kind]
        names = list(part["parameter"])
        data.append({"type": "bar", "name": kind, "x": names, "y": [_json(v) for v in part["value"]], "marker": {"color": color},
                     "error_y": {"type": "data", "array": [_json(v) for v in part["conf"]], "visible": True}})  # fmt: skip
    shapes = []
    if math.isfinite(floor):
        shapes.append({"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": floor, "y1": floor,
                       "line": {"color": GREY, "dash": "dash"}})  # fmt: skip
    figure = {"data": data, "layout": {"barmode": "group", "yaxis": {"title": {"text": "index"}}, "shapes": shapes, "height": 380,
                                       "margin": {"l": 60, "r": 20, "t": 20, "b": 90}}}  # fmt: skip
    table = Table(["parameter", "index", "value", "± 95%", "noise floor"],
                  [[r["parameter"], r["index"], _cell(r["value"]), _cell(r["conf"]), _cell(floor)] for _, r in rows.iterrows()])  # fmt: skip
    return Chart(f"sobol-{j}", f"Sobol' indices of {outcome}",
                 "First-order (S1) and total (ST) indices with their 95% intervals; the dashed line is the noise floor.", figure, table)


def _json(value) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _cell(value) -> str:
    number = _json(value)
    return "-" if number is None else (number if isinstance(number, str) else f"{number:.4g}")
