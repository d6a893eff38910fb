"""The HTML page: one self-contained file that opens offline.

The headline, the data tables and the text are plain HTML, before any script runs. Each figure
is a ``<div>`` with its spec in a ``<script type="application/json" class="figure-data">``
beside it. plotly.js (the basic bundle of :mod:`credsim.report.plotlyjs`) is inlined once at
the end of the page as inert text; one small script, after the first paint, loads it and
draws the charts one by one. No URL is loaded: no CDN, no web font, no stylesheet link.
Every piece of text that came from a file goes through :func:`html.escape`.
"""

from __future__ import annotations

import json
import re
from html import escape

from credsim.compare import engines_warning
from credsim.report.accounts import mechanisms_table, noise_table
from credsim.report.data import RunData
from credsim.report.definitions import FOUR_FIFTHS, METRICS
from credsim.report.headline import caveats, change_sentences, group_sentences, lead_sentences, run_line
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
ul.lead { font-size: 1.08rem; padding-left: 1.2rem; }
ul.lead li { margin-bottom: .3rem; }
button.csv { font: inherit; font-size: .88rem; padding: .2rem .6rem; cursor: pointer; }
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

# Drawn after the page is painted: the headline and every table are plain HTML above, readable
# while plotly.js (kept inert in a text/plain script until now) is loaded and the charts drawn
# one at a time. Nothing leaves the machine: plotly's "send to cloud" button and server URL are
# off; the PNG button (the chart's title and source drawn into the image) and the CSV button
# (the chart's data table) save files made in the page.
RENDER = r"""
(function () {
  var source = document.body.getAttribute('data-source') || 'credsim';
  function save(name, href) {
    var link = document.createElement('a');
    link.href = href; link.download = name; link.rel = 'noopener';
    document.body.appendChild(link); link.click(); link.remove();
  }
  function cell(text) { return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text; }
  function tableCsv(table) {
    var lines = [];
    table.querySelectorAll('tr').forEach(function (row) {
      var cells = [];
      row.querySelectorAll('th, td').forEach(function (c) { cells.push(cell(c.textContent.trim())); });
      lines.push(cells.join(','));
    });
    return lines.join('\r\n') + '\r\n';
  }
  document.querySelectorAll('button.csv').forEach(function (button) {
    button.addEventListener('click', function () {
      var table = document.querySelector('#' + button.getAttribute('data-table') + ' table');
      // a data: URL, not a blob: one that would have to be revoked (too early on a busy machine loses the file)
      save(button.getAttribute('data-file'), 'data:text/csv;charset=utf-8,' + encodeURIComponent(tableCsv(table)));
    });
  });
  function png(gd, title, file) {
    var layout = JSON.parse(JSON.stringify(gd.layout));
    var height = gd._fullLayout.height + 70, width = gd._fullLayout.width;
    layout.title = {text: title, x: 0.01, xanchor: 'left', font: {size: 16}};
    layout.margin = Object.assign({}, layout.margin, {t: (layout.margin && layout.margin.t || 50) + 40, b: (layout.margin && layout.margin.b || 60) + 30});
    layout.annotations = (layout.annotations || []).concat([{text: source, showarrow: false, xref: 'paper', yref: 'paper',
      x: 0, y: 0, yshift: -((layout.margin.b) - 12), xanchor: 'left', yanchor: 'bottom', font: {size: 11, color: '#555555'}}]);
    layout.width = width; layout.height = height;
    Plotly.toImage({data: gd.data, layout: layout}, {format: 'png', width: width, height: height, scale: 2})
      .then(function (url) { save(file, url); });
  }
  function draw(nodes, i) {
    if (i >= nodes.length) { document.body.setAttribute('data-charts', 'drawn'); return; }
    var spec = JSON.parse(nodes[i].textContent);
    var target = document.getElementById(nodes[i].getAttribute('data-target'));
    if (window.Plotly) {
      var title = target.getAttribute('data-title'), file = target.getAttribute('data-file') + '.png';
      var config = {displaylogo: false, responsive: true, showSendToCloud: false, showLink: false,
        plotlyServerURL: '', modeBarButtonsToRemove: ['toImage', 'sendChartToCloud'],
        modeBarButtonsToAdd: [{name: 'png', title: 'Download this chart as a PNG (with its title and source)',
          icon: Plotly.Icons.camera, click: function (gd) { png(gd, title, file); }}]};
      Plotly.newPlot(target, spec.data, spec.layout, config);
    } else {
      target.textContent = 'The chart library did not load; the numbers are in the data table below.';
    }
    setTimeout(function () { draw(nodes, i + 1); }, 0);
  }
  function start() {
    var library = document.getElementById('plotly-js');
    if (library && !window.Plotly) {
      var script = document.createElement('script');
      script.text = library.textContent;
      document.head.appendChild(script);
    }
    draw(document.querySelectorAll('script.figure-data'), 0);
  }
  requestAnimationFrame(function () { setTimeout(start, 0); });  // after the first paint
})();
"""


def document(title: str, body: str, plotly_js: str, source: str = "credsim") -> str:
    """The page: style in the head, the body (headline first), then plotly.js kept inert as
    text and the script that loads it and draws the charts after the first paint."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body data-source=\"{escape(source)}\">\n{body}\n"
        f"<script type=\"text/plain\" id=\"plotly-js\">{plotly_js}</script>\n"
        f"<script>{RENDER}</script>\n</body>\n</html>\n"
    )


def figure_json(figure: dict) -> str:
    """The figure as JSON that cannot close its ``<script>`` element early."""
    text = json.dumps(figure, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_section(chart: Chart, stem: str = "credsim") -> str:
    """A chart's section: title, caption, the plot, and its data table (with a CSV button)."""
    key = chart.key
    table = chart.table
    note = f"<p class=\"note\">{escape(table.note)}</p>" if table.note else ""
    file = f"{stem}-{key}"
    return (
        f"<section class=\"chart\" id=\"chart-{key}\" aria-labelledby=\"title-{key}\">\n"
        f"<h3 id=\"title-{key}\">{escape(chart.title)}</h3>\n"
        f"<p class=\"caption\">{escape(chart.caption)}</p>\n"
        f"<div class=\"plot\" id=\"plot-{key}\" role=\"img\" data-title=\"{escape(chart.title)}\" data-file=\"{escape(file)}\" "
        f"aria-label=\"{escape(chart.title)}: a chart; its numbers are in the data table below\"></div>\n"
        f"<script type=\"application/json\" class=\"figure-data\" data-target=\"plot-{key}\">{figure_json(chart.figure)}</script>\n"
        f"<details class=\"data\" id=\"data-{key}\"><summary>Data table: the numbers in this chart</summary>\n"
        f"<p><button type=\"button\" class=\"csv\" data-table=\"data-{key}\" data-file=\"{escape(file)}.csv\">"
        f"Download this table (CSV)</button></p>\n{note}\n"
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


def sentence_list(sentences: list[str], css: str) -> str:
    if not sentences:
        return ""
    return f"<ul class=\"{css}\">" + "".join(f"<li>{escape(s)}</li>" for s in sentences) + "</ul>"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def file_stem(*parts: str) -> str:
    """A file name from labels: letters, digits, '.', '_', '-'; everything else becomes '-'."""
    stem = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-.") for p in parts if p)
    return stem[:120] or "credsim"


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
                         number(difference, "pp" if kind == "pct" else kind) if difference is not None else MISSING])
    return Table(["group: metric", runs[0].label, runs[1].label, f"difference ({runs[1].label} − {runs[0].label})"], rows,
                 "Groups are matched by name. Differences of shares are in percentage points (pp). –: cannot be "
                 "computed, or the group is not in that run.")


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
        ("engine", engine_text(summary)),
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


def engine_text(summary: dict) -> str | None:
    """"event (philox-block (behave), pcg64-day-phase (later phases))": the engine and its random numbers; None for a run older than the engines."""
    engine = summary.get("engine")
    if not isinstance(engine, dict):
        return None
    return f"{engine.get('name')} ({engine.get('random_numbers')})"


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
    stem = file_stem("credsim", run.label)
    entries = [("headline", "In plain words"), *((f"chart-{c.key}", c.title) for c in charts),
               ("summary", "All the figures"), ("mechanisms", "Mechanisms and noise"), ("definitions", "Definitions"),
               ("scenario", "The scenario")]
    body = "\n".join([
        f"<header><h1>{escape(title)}</h1><p class=\"sub\">{escape(run_line(summary))} Synthetic people only: "
        "no real person is in this run. Built from the run's saved outputs (summary.json, daily.parquet, "
        "regions.parquet, episodes.parquet, scenario.toml).</p></header>",
        nav(entries),
        f"<section id=\"headline\"><h2>In plain words</h2>{sentence_list(lead_sentences(summary), 'lead')}"
        f"<div class=\"headline\">{headline_card(summary)}</div>{sentence_list(caveats(summary), 'note caveats')}</section>",
        "<section id=\"charts\"><h2>Charts</h2>",
        *(chart_section(c, stem) for c in charts),
        "</section>",
        f"<section id=\"summary\"><h2>All the figures</h2>{html_table(summary_table(summary), scroll=False)}</section>",
        accounts_section(summary),
        definitions_section(),
        f"<div id=\"scenario\">{scenario_section(run, version)}</div>",
    ])
    return document(title, body, plotly_js, source=f"credsim {version}: {run.label}, {run_line(summary)} Synthetic people only.")


def _engines(a: RunData, b: RunData) -> list[str]:
    warning = engines_warning(a.summary, b.summary, f"Run {a.label}", f"run {b.label}")
    return [warning[0].upper() + warning[1:] + "."] if warning else []


def comparison_page(runs: list[RunData], charts: list[Chart], plotly_js: str, version: str, decomposition: str = "") -> str:
    """``decomposition``: the HTML of the "What made the difference" section, if any."""
    a, b = runs
    title = f"credsim comparison: {a.label} ({a.name}) vs {b.label} ({b.name})"
    stem = file_stem("credsim", a.label, "vs", b.label)
    entries = [("headline", "In plain words"), ("summary", "Side by side"), *([("decomposition", "What made the difference")] if decomposition else []),
               *((f"chart-{c.key}", c.title) for c in charts),
               ("definitions", "Definitions"), ("scenario", "The scenarios")]
    cards = "".join(f"<div>{headline_card(run.summary, run.label)}</div>" for run in runs)
    body = "\n".join([
        f"<header><h1>{escape(title)}</h1><p class=\"sub\">Run A: {escape(a.label)}, {escape(run_line(a.summary))} "
        f"Run B: {escape(b.label)}, {escape(run_line(b.summary))} In the charts the second run is drawn dashed. "
        "Synthetic people only. Built from the runs' saved outputs.</p></header>",
        nav(entries),
        f"<section id=\"headline\"><h2>In plain words</h2><h3>What changed from {escape(a.label)} to {escape(b.label)}</h3>"
        f"{sentence_list(change_sentences(a.summary, b.summary, a.label, b.label), 'lead')}"
        f"<h3>Each run</h3><div class=\"headline\">{cards}</div>"
        f"{sentence_list(_unique(_engines(a, b) + caveats(a.summary) + caveats(b.summary)), 'note caveats')}</section>",
        f"<section id=\"summary\"><h2>Side by side</h2>{html_table(comparison_table(runs), scroll=False)}</section>",
        decomposition,
        "<section id=\"charts\"><h2>Charts</h2>",
        *(chart_section(c, stem) for c in charts),
        "</section>",
        definitions_section(),
        "<div id=\"scenario\">" + "".join(scenario_section(run, version, f"Scenario of {run.label}") for run in runs) + "</div>",
    ])
    return document(title, body, plotly_js, source=f"credsim {version}: {a.label} vs {b.label}. Synthetic people only.")
