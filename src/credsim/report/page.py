"""The HTML page: one self-contained file that opens offline.

plotly.js is inlined once, in the head; each figure is a ``<div>`` with its spec in a
``<script type="application/json" class="figure-data">`` beside it, drawn by one small
script at the end of the page. No URL is loaded: no CDN, no web font, no stylesheet link.
Every piece of text that came from a file goes through :func:`html.escape`.
"""

from __future__ import annotations

import json
from html import escape

from credsim.report.accounts import mechanisms_table, noise_table
from credsim.report.data import RunData
from credsim.report.definitions import FOUR_FIFTHS, METRICS
from credsim.report.headline import group_sentences, run_line
from credsim.report.panels import MISSING, Chart, Table, number

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem 4rem; color: #1b1b1b; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { font-size: 1.35rem; margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin-bottom: .3rem; }
.sub { color: #555; margin-top: 0; }
nav ul { display: flex; flex-wrap: wrap; gap: .3rem 1rem; padding: 0; list-style: none; font-size: .92rem; }
.headline { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 1rem; }
.headline .card { border: 1px solid #ccc; border-left: 5px solid #0072B2; border-radius: 4px; padding: .4rem 1rem; background: #fafafa; }
.headline .card h3 { margin-top: .4rem; }
.headline ul { padding-left: 1.1rem; }
.caption { color: #333; max-width: 75ch; }
.plot { width: 100%; min-height: 300px; }
details { margin: .5rem 0 1rem; }
summary { cursor: pointer; color: #0b5394; }
.note { color: #555; font-size: .9rem; max-width: 90ch; }
.scroll { overflow-x: auto; max-height: 28rem; overflow-y: auto; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .15rem .5rem; text-align: right; white-space: nowrap; }
th[scope=row], td.text { text-align: left; }
thead th { background: #f0f0f0; position: sticky; top: 0; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .82rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.definitions dt { font-weight: 600; margin-top: .5rem; }
.legal { border-left: 4px solid #E69F00; padding: .3rem 1rem; background: #fffaf0; }
@media print { .plot { break-inside: avoid; } details { display: block; } }
"""

RENDER = """
(function () {
  var config = {displaylogo: false, responsive: true};
  var nodes = document.querySelectorAll('script.figure-data');
  for (var i = 0; i < nodes.length; i++) {
    var spec = JSON.parse(nodes[i].textContent);
    var target = document.getElementById(nodes[i].getAttribute('data-target'));
    if (window.Plotly) { Plotly.newPlot(target, spec.data, spec.layout, config); }
    else { target.textContent = 'The chart library did not load; the numbers are in the data table below.'; }
  }
})();
"""


def document(title: str, body: str, plotly_js: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n"
        f"<script type=\"text/javascript\">{plotly_js}</script>\n</head>\n<body>\n{body}\n"
        f"<script type=\"text/javascript\">{RENDER}</script>\n</body>\n</html>\n"
    )


def figure_json(figure: dict) -> str:
    """The figure as JSON that cannot close its ``<script>`` element early."""
    text = json.dumps(figure, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_section(chart: Chart) -> str:
    key = chart.key
    table = chart.table
    note = f"<p class=\"note\">{escape(table.note)}</p>" if table.note else ""
    return (
        f"<section class=\"chart\" id=\"chart-{key}\" aria-labelledby=\"title-{key}\">\n"
        f"<h3 id=\"title-{key}\">{escape(chart.title)}</h3>\n"
        f"<p class=\"caption\">{escape(chart.caption)}</p>\n"
        f"<div class=\"plot\" id=\"plot-{key}\" role=\"img\" aria-label=\"{escape(chart.title)}: a chart; "
        f"its numbers are in the data table below\"></div>\n"
        f"<script type=\"application/json\" class=\"figure-data\" data-target=\"plot-{key}\">{figure_json(chart.figure)}</script>\n"
        f"<details class=\"data\"><summary>Data table: the numbers in this chart</summary>\n{note}\n"
        f"{html_table(table, caption=chart.title)}\n</details>\n</section>"
    )


def html_table(table: Table, caption: str = "", scroll: bool = True) -> str:
    head = "".join(f"<th scope=\"col\">{escape(c)}</th>" for c in table.columns)
    rows = []
    for row in table.rows:
        first, *rest = row
        rows.append(f"<tr><th scope=\"row\">{escape(first)}</th>" + "".join(f"<td>{escape(c)}</td>" for c in rest) + "</tr>")
    caption_html = f"<caption class=\"note\">{escape(caption)}</caption>" if caption else ""
    return (f"<div class=\"{'scroll' if scroll else 'wide'}\"><table>{caption_html}<thead><tr>{head}</tr></thead><tbody>"
            + "\n".join(rows) + "</tbody></table></div>")


def headline_card(summary: dict, title: str | None = None) -> str:
    parts = []
    if title:
        parts.append(f"<p class=\"sub\"><strong>{escape(title)}</strong>: {escape(run_line(summary))}</p>")
    for group in summary["by_group"]:
        items = "".join(f"<li>{escape(s)}</li>" for s in group_sentences(summary, group))
        parts.append(f"<div class=\"card\"><h3>{escape(group)}</h3><ul>{items}</ul></div>")
    return "\n".join(parts)


def metric_cell(metrics: dict, key: str, kind: str) -> str:
    if key not in metrics:
        return ""
    value = metrics[key]
    if value is None and key == "median_days_listed" and metrics.get("episodes"):
        return "not reached"
    return number(value, kind) if value is not None else MISSING


def summary_table(summary: dict) -> Table:
    groups = list(summary["by_group"])
    cells = [summary["by_group"][g] for g in groups] + [summary["overall"]]
    rows = [[label, *(metric_cell(c, key, kind) for c in cells)] for key, label, kind, _ in METRICS]
    return Table(["metric", *groups, "overall"], rows, "Blank: does not apply. –: cannot be computed (see the definitions).")


def comparison_table(runs: list[RunData]) -> Table:
    a, b = (run.summary for run in runs)
    groups = ["overall", *a["by_group"], *(g for g in b["by_group"] if g not in a["by_group"])]
    rows = []
    for group in groups:
        left = a["overall"] if group == "overall" else a["by_group"].get(group, {})
        right = b["overall"] if group == "overall" else b["by_group"].get(group, {})
        for key, label, kind, _ in METRICS:
            if key not in left and key not in right:
                continue
            x, y = left.get(key), right.get(key)
            difference = y - x if isinstance(x, (int, float)) and isinstance(y, (int, float)) else None
            rows.append([f"{group}: {label}", metric_cell(left, key, kind), metric_cell(right, key, kind),
                         number(difference, kind) if difference is not None else MISSING])
    return Table(["group: metric", runs[0].label, runs[1].label, f"difference ({runs[1].label} − {runs[0].label})"], rows,
                 "Groups are matched by name. –: cannot be computed, or the group is not in that run.")


def definitions_section() -> str:
    items = "".join(f"<dt>{escape(label)} <code>{escape(key)}</code></dt><dd>{escape(text)}</dd>"
                    for key, label, _, text in METRICS)
    return (
        "<section id=\"definitions\"><h2>What the numbers mean</h2>\n"
        "<p class=\"note\">Short forms of the definitions in credsim's docs/metrics.md. An episode is one continuous "
        "stay on the list. Wrongful, unjust and rules are the classes of an episode, fixed when its notice opened. "
        "A figure that cannot be computed is left blank, never made up.</p>\n"
        f"<dl class=\"definitions\">{items}</dl>\n"
        "<h3 id=\"four-fifths\">The four-fifths rule: a legal screening threshold, not a test of fairness</h3>\n"
        f"<p class=\"legal\">{escape(FOUR_FIFTHS)}</p>\n</section>"
    )


def scenario_section(run: RunData, report_version: str, heading: str = "The scenario as run") -> str:
    summary, meta = run.summary, run.meta
    sources = meta.get("sources") or []
    if not isinstance(sources, list):
        sources = [sources]
    facts = [
        ("scenario", summary.get("scenario")),
        ("description", meta.get("description") or "(none given)"),
        ("extends", meta.get("extends")),
        ("seed", summary.get("seed")),
        ("people", f"{summary.get('population', 0):,}"),
        ("days", f"{summary['days']:,}"),
        ("reference group", summary.get("reference_group")),
        ("credsim version of the run", summary.get("credsim_version")),
        ("credsim version of this report", report_version),
        ("folder", run.label),
        ("SHA-256 of scenario.toml", run.scenario_sha256),
    ]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts if v not in (None, ""))
    source_list = ("<ul>" + "".join(f"<li>{escape(str(s))}</li>" for s in sources) + "</ul>") if sources else \
        "<p>The scenario names no sources.</p>"
    lines = run.scenario_text.count("\n") + 1
    return (
        f"<section class=\"scenario\"><h2>{escape(heading)}</h2>\n<dl class=\"facts\">{rows}</dl>\n"
        f"<h3>Sources</h3>\n{source_list}\n"
        f"<details><summary>scenario.toml ({lines} lines): with the seed it repeats the run exactly</summary>"
        f"<pre>{escape(run.scenario_text)}</pre></details>\n</section>"
    )


def accounts_section(summary: dict) -> str:
    """What each mechanism did, and which headline figures are within noise."""
    return (
        "<section id=\"mechanisms\"><h2>Mechanisms and noise</h2>\n"
        f"{html_table(noise_table(summary), caption='Headline figures and their noise')}\n"
        f"{html_table(mechanisms_table(summary), caption='What each mechanism did')}\n</section>"
    )


def nav(entries: list[tuple[str, str]]) -> str:
    return "<nav aria-label=\"contents\"><ul>" + "".join(
        f"<li><a href=\"#{anchor}\">{escape(text)}</a></li>" for anchor, text in entries) + "</ul></nav>"


def report_page(run: RunData, charts: list[Chart], plotly_js: str, version: str) -> str:
    summary = run.summary
    title = f"credsim report: {summary['scenario']}, seed {summary['seed']}"
    entries = [("headline", "In plain words"), *((f"chart-{c.key}", c.title) for c in charts),
               ("summary", "All the figures"), ("mechanisms", "Mechanisms and noise"), ("definitions", "Definitions"),
               ("scenario", "The scenario")]
    body = "\n".join([
        f"<header><h1>{escape(title)}</h1><p class=\"sub\">{escape(run_line(summary))} Synthetic people only: "
        "no real person is in this run. Built from the run's saved outputs (summary.json, daily.parquet, "
        "regions.parquet, episodes.parquet, scenario.toml).</p></header>",
        nav(entries),
        f"<section id=\"headline\"><h2>In plain words</h2><div class=\"headline\">{headline_card(summary)}</div></section>",
        "<section id=\"charts\"><h2>Charts</h2>",
        *(chart_section(c) for c in charts),
        "</section>",
        f"<section id=\"summary\"><h2>All the figures</h2>{html_table(summary_table(summary), scroll=False)}</section>",
        accounts_section(summary),
        definitions_section(),
        f"<div id=\"scenario\">{scenario_section(run, version)}</div>",
    ])
    return document(title, body, plotly_js)


def comparison_page(runs: list[RunData], charts: list[Chart], plotly_js: str, version: str) -> str:
    a, b = runs
    title = f"credsim comparison: {a.label} ({a.name}) vs {b.label} ({b.name})"
    entries = [("headline", "In plain words"), ("summary", "Side by side"), *((f"chart-{c.key}", c.title) for c in charts),
               ("definitions", "Definitions"), ("scenario", "The scenarios")]
    cards = "".join(f"<div>{headline_card(run.summary, run.label)}</div>" for run in runs)
    body = "\n".join([
        f"<header><h1>{escape(title)}</h1><p class=\"sub\">Run A: {escape(a.label)}, {escape(run_line(a.summary))} "
        f"Run B: {escape(b.label)}, {escape(run_line(b.summary))} In the charts the second run is drawn dashed. "
        "Synthetic people only. Built from the runs' saved outputs.</p></header>",
        nav(entries),
        f"<section id=\"headline\"><h2>In plain words</h2><div class=\"headline\">{cards}</div></section>",
        f"<section id=\"summary\"><h2>Side by side</h2>{html_table(comparison_table(runs), scroll=False)}</section>",
        "<section id=\"charts\"><h2>Charts</h2>",
        *(chart_section(c) for c in charts),
        "</section>",
        definitions_section(),
        "<div id=\"scenario\">" + "".join(scenario_section(run, version, f"Scenario of {run.label}") for run in runs) + "</div>",
    ])
    return document(title, body, plotly_js)
