"""The pieces every chart is made of: a figure as a plain plotly dict, and its data table.

Figures are built as plain ``{"data": [...], "layout": {...}}`` dicts rather than
``plotly.graph_objects`` objects: validating every point of a year-long series through
graph_objects costs about a tenth of a second per figure, most of a report's build time.
The tests validate every figure with ``plotly.graph_objects.Figure(figure)`` instead, so a
misspelt property still fails loudly. Numbers go into the JSON as plain lists (``None``
for a gap), never as plotly's base64 typed arrays, so a reader of the file can check them.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
GROUP_COLORS = OKABE_ITO
CLASS_COLORS = {"wrongful": "#D55E00", "unjust": "#E69F00", "rules": "#999999"}
# Regions: the Okabe–Ito colours, then again dotted, then dash-dotted (colour alone cannot tell 20 apart).
REGION_COLORS = OKABE_ITO
REGION_DASHES = ("solid", "dot", "dashdot")
# Grades, best to worst: viridis, ordered in lightness, readable with colour-vision deficiencies and in grey.
GRADE_COLORS = ("#440154", "#472D7B", "#3B528B", "#2C728E", "#21918C", "#28AE80", "#5EC962", "#ADDC30", "#FDE725")
RUN_DASHES = ("solid", "dash")
RUN_PATTERNS = ("", "/")  # bars of a comparison's second run are hatched
RUN_OPACITY = (0.9, 0.55)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TABLE_MAX_ROWS = 60  # longer series are shown every TABLE_STEP days in the tables
TABLE_STEP = 7
MISSING = "–"


@dataclass
class Table:
    """A data table: header cells and rows of already formatted cells."""

    columns: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Chart:
    """One figure of the report with its caption and the table of the numbers it plots."""

    key: str  # used in element ids: letters, digits, hyphens
    title: str
    caption: str
    figure: dict
    table: Table
    notes: list[str] = field(default_factory=list)


def plotly_text(text: str) -> str:
    """Text that came from a file, made safe for plotly's pseudo-HTML labels (it decodes entities)."""
    return html.escape(str(text), quote=False)


def values(array) -> list:
    """A NumPy array as a JSON-ready list: Python floats and ints, ``None`` for nan."""
    out = np.asarray(array, dtype=np.float64).tolist()
    return [None if (v is None or math.isnan(v) or math.isinf(v)) else v for v in out]


def rolling_sum(array: np.ndarray, window: int) -> np.ndarray:
    """Trailing sum over the last ``window`` days (fewer at the start of the run)."""
    cumulative = np.concatenate(([0.0], np.cumsum(np.asarray(array, dtype=np.float64))))
    index = np.arange(len(array))
    return cumulative[index + 1] - cumulative[np.maximum(index + 1 - window, 0)]


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, nan where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def panel_layout(titles: list[str], *, columns: int = 3, row_height: int = 320, y_titles: list[str] | None = None,
                 x_title: str = "day of the run", y_format: str | None = None, share_y: bool = False) -> dict:
    """A layout of ``len(titles)`` panels in rows of up to ``columns``; axis i is ``axis_names(i)``."""
    count = max(len(titles), 1)
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    height = rows * row_height + 110
    gap_x = 0.07 if cols > 1 else 0.0
    width = (1.0 - gap_x * (cols - 1)) / cols
    gap_y = 90 / height
    panel_height = (1.0 - gap_y * (rows - 1)) / rows
    layout: dict = {
        "height": height,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
        "font": {"family": FONT, "size": 13},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "x unified" if x_title.startswith("day") else "closest",
        "legend": {"tracegroupgap": 4},
        "annotations": [],
    }
    for i in range(count):
        row, col = divmod(i, cols)
        x0 = col * (width + gap_x)
        y1 = 1.0 - row * (panel_height + gap_y)
        x_name, y_name = axis_names(i)
        x_axis = {"domain": [x0, min(x0 + width, 1.0)], "anchor": y_name.replace("axis", ""), "gridcolor": "#E5E5E5",
                  "zeroline": False, "title": {"text": x_title}, "automargin": True}
        y_axis = {"domain": [max(y1 - panel_height, 0.0), y1], "anchor": x_name.replace("axis", ""), "gridcolor": "#E5E5E5",
                  "zeroline": False, "automargin": True}
        if y_titles and i < len(y_titles) and y_titles[i]:
            y_axis["title"] = {"text": y_titles[i]}
        if y_format:
            y_axis["tickformat"] = y_format
        if share_y and i > 0:
            y_axis["matches"] = "y"
        layout[x_name], layout[y_name] = x_axis, y_axis
        if len(titles) > 1 or (titles and titles[0]):
            layout["annotations"].append({
                "text": f"<b>{titles[i]}</b>", "showarrow": False, "xref": "paper", "yref": "paper",
                "x": x0 + width / 2, "y": y1, "xanchor": "center", "yanchor": "bottom", "font": {"size": 13},
            })
    return layout


def pin_flat_axes(figure: dict) -> dict:
    """Give a y axis whose traces are all 0 (nothing happened yet: nobody listed, say) the
    range [0, 1]; plotly would centre it on 0, from -1 to 1 (-100% to 100% as a share).
    Axes that share their range with another (``matches``) are judged together."""
    layout = figure.get("layout", {})
    group_of = {name: layout[name].get("matches", name.replace("axis", "")).replace("y", "yaxis", 1)
                for name in layout if name.startswith("yaxis")}
    seen: dict[str, list] = {}
    for trace in figure.get("data", []):
        if trace.get("type", "scatter") not in ("scatter", "bar"):
            return figure  # other kinds (heatmaps, ...) keep their own ranges
        name = trace.get("yaxis", "y").replace("y", "yaxis", 1)
        ys = [v for v in trace.get("y", []) if v is not None]
        seen.setdefault(group_of.get(name, name), []).extend(ys)
    for name, axis in layout.items():
        ys = seen.get(group_of.get(name, name)) if name.startswith("yaxis") else None
        if ys is not None and "range" not in axis and not any(ys):
            axis["range"] = [0, 1]
    return figure


def say_empty(layout: dict, i: int, text: str) -> None:
    """Write ``text`` across panel i, for a panel that has nothing to draw."""
    x_name, y_name = axis_names(i)
    x0, x1 = layout[x_name]["domain"]
    y0, y1 = layout[y_name]["domain"]
    layout["annotations"].append({"text": text, "showarrow": False, "xref": "paper", "yref": "paper",
                                  "x": (x0 + x1) / 2, "y": (y0 + y1) / 2, "font": {"size": 13, "color": "#777777"}})


def axis_names(i: int) -> tuple[str, str]:
    """Layout keys of panel i's axes: ("xaxis", "yaxis"), ("xaxis2", "yaxis2"), ..."""
    suffix = "" if i == 0 else str(i + 1)
    return f"xaxis{suffix}", f"yaxis{suffix}"


def on_panel(trace: dict, i: int) -> dict:
    """Put a trace on panel i."""
    x_name, y_name = axis_names(i)
    trace["xaxis"] = x_name.replace("axis", "")
    trace["yaxis"] = y_name.replace("axis", "")
    return trace


def line(x, y, name: str, color: str, dash: str = "solid", *, group: str | None = None, show_legend: bool = True,
         hover: str = "%{y:.3g}", shape: str = "linear", width: float = 2, **extra) -> dict:
    trace = {
        "type": "scatter", "mode": "lines" if len(x) > 1 else "lines+markers",  # one day: a point, not nothing
        "x": values(x) if not isinstance(x, list) else x, "y": values(y),
        "name": name, "line": {"color": color, "dash": dash, "width": width, "shape": shape},
        "showlegend": show_legend, "hovertemplate": f"{hover}<extra>{name}</extra>",
    }
    if group is not None:
        trace["legendgroup"] = group
    trace.update(extra)
    return trace


def table_days(days: int) -> tuple[np.ndarray, str]:
    """The days a table shows, and a sentence saying so when they are not all shown."""
    if days <= TABLE_MAX_ROWS:
        return np.arange(days), ""
    shown = np.unique(np.concatenate((np.arange(0, days, TABLE_STEP), [days - 1])))
    return shown, f"Every {TABLE_STEP}th day is shown (days 0, {TABLE_STEP}, {2 * TABLE_STEP}, … and the last day, {days - 1}); the chart plots every day."


def series_table(columns: list[tuple[str, np.ndarray, str]], first: str = "day") -> Table:
    """A table of daily series: one row per (downsampled) day, one column per series.

    Series may have different lengths (two runs of different durations); cells past a
    series' end are blank.
    """
    days = max((len(v) for _, v, _ in columns), default=0)
    shown, note = table_days(days)
    rows = []
    for day in shown:
        row = [str(int(day))]
        for _, series, kind in columns:
            row.append(number(series[day], kind) if day < len(series) else MISSING)
        rows.append(row)
    return Table([first, *(header for header, _, _ in columns)], rows, note)


def number(value, kind: str = "num") -> str:
    """Format one table cell. kind: pct (a fraction shown in %), pp (a difference of two
    fractions, in percentage points), int, days, ratio, num. A value that rounds to 0 is
    shown without a sign (never "-0.000")."""
    if value is None:
        return MISSING
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return MISSING
    if kind == "pct":
        return _unsigned_zero(f"{100 * value:.2f}") + "%"
    if kind == "pp":
        return _unsigned_zero(f"{100 * value:+.2f}") + " pp"
    if kind == "int":
        return _unsigned_zero(f"{value:,.0f}")
    if kind == "days":
        return _unsigned_zero(f"{value:.1f}")
    if kind == "ratio":
        return _unsigned_zero(f"{value:.3f}")
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return _unsigned_zero(f"{value:.4g}")


def _unsigned_zero(text: str) -> str:
    """"-0.00" and "+0.00" -> "0.00": a sign only on a number that is not shown as 0."""
    digits = text.lstrip("+-")
    if not any(c in "123456789" for c in digits):
        return digits
    return text


def mark_empty_panels(figure: dict, text: str = "no data") -> dict:
    """Write ``text`` across every panel with nothing to draw (no trace, or only gaps), and
    give its axes a plain 0..1 range instead of plotly's -1..1 around nothing."""
    layout = figure.get("layout", {})
    annotated = {(round(a["x"], 6), round(a["y"], 6)) for a in layout.get("annotations", []) if a.get("xref") == "paper"
                 and a.get("text", "").find("<b>") < 0}
    i = 0
    while axis_names(i)[0] in layout:
        x_name, y_name = axis_names(i)
        x_ref = x_name.replace("axis", "")
        drawn = [t for t in figure.get("data", []) if t.get("xaxis", "x") == x_ref
                 and any(v is not None for v in (t.get("y") or []))]
        if not drawn:
            x0, x1 = layout[x_name]["domain"]
            y0, y1 = layout[y_name]["domain"]
            if (round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6)) not in annotated:
                say_empty(layout, i, text)
            layout[y_name].setdefault("range", [0, 1])
            layout[y_name]["showticklabels"] = False
            layout[x_name]["showticklabels"] = False
        i += 1
    return figure
