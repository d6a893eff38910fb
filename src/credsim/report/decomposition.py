"""The comparison report's "What made the difference" section, drawn from the
``decomposition.json`` that ``credsim compare A B --decompose`` saves beside the two end runs.

    find_decomposition(run_a, run_b) -> dict | None   the saved decomposition of these two runs
    decomposition_section(data)       -> str           the section's HTML
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from credsim.report.data import ReportError
from credsim.report.page import html_table
from credsim.report.panels import MISSING, Table, number

FILE = "decomposition.json"


def find_decomposition(run_a: str | Path, run_b: str | Path) -> dict | None:
    """The decomposition saved with these two runs: a ``decomposition.json`` in their common
    folder that names them as its end runs; None when there is none."""
    a, b = Path(run_a).resolve(), Path(run_b).resolve()
    path = a.parent / FILE
    if a.parent != b.parent or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: cannot read the decomposition: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list) or not isinstance(data.get("changes"), list):
        raise ReportError(f"{path}: not a decomposition written by credsim compare --decompose")
    if data.get("runs") != [a.name, b.name]:
        return None  # a decomposition of other runs in the same folder
    return data


def decomposition_section(data: dict) -> str:
    changes = [c["name"] for c in data["changes"]]
    method = (
        f"exact Shapley values: every one of the {data['coalitions_run']} combinations of the changes was run"
        if data["method"] == "exact"
        else f"Shapley values estimated from {data['permutations']} random orders of the changes ({data['coalitions_run']} combinations run)"
    )
    seeds = data["seeds"]
    intervals = len(seeds) > 1
    fields = Table(["change", "field", "A", "B"], [
        [c["name"] if k == 0 else "", f["field"], _value(f["a"]), _value(f["b"])]
        for c in data["changes"] for k, f in enumerate(c["fields"])
    ])
    rows = []
    for m in data["metrics"]:
        cells = [f"{m['group']}: {m['metric']}", number(m["a"]), number(m["b"]), number(m["total"])]
        if m["contributions"] is None:
            cells += ["undefined"] * len(changes)
        else:
            for name in changes:
                share = m["contributions"][name]
                cell = number(share["contribution"])
                if intervals and share["interval"]:
                    low, high = share["interval"]
                    cell += f" [{number(low)}, {number(high)}]"
                cells.append(cell)
        rows.append(cells)
    table = Table(["metric", "A", "B", "B − A", *changes], rows)
    undefined = [f"{m['group']}: {m['metric']} ({_where(m['undefined_in'], data['coalitions_run'])})" for m in data["metrics"] if m["contributions"] is None]
    note = (
        f"Both runs, and every combination of the changes between them, were run with {data['population']:,} people for "
        f"{data['days']} days, with the same seed{'s' if intervals else ''} ({', '.join(map(str, seeds))}), so that the "
        f"differences are the changes' effects. {method.capitalize()}. Each row's contributions add up to B − A"
        + (f"; the brackets are 95% intervals over the {len(seeds)} seeds" if intervals else "; one seed, so no interval: "
           "run with --replicates to see how much of each figure is noise")
        + ". "
        + (f"Not attributed, because the metric is undefined in some combination: {'; '.join(undefined)}." if undefined else "")
        + (" A and B name different engines: the engine's share is the sampling noise of two random-number schemes, "
           "not an effect." if any(c["name"] == "engine" for c in data["changes"]) else "")
    )
    return (
        "<section id=\"decomposition\"><h2>What made the difference</h2>"
        f"<p>{escape(note)}</p>"
        f"<h3>The changes from A to B (by {escape(str(data['by']))})</h3>{html_table(fields)}"
        f"<h3>Each change's share of B − A</h3>{html_table(table)}</section>"
    )


def _value(value) -> str:
    return MISSING if value is None else str(value)


def _where(coalitions: list[str], run: int) -> str:
    if len(coalitions) >= run:
        return "undefined in every combination"
    return f"undefined in {len(coalitions)} of {run} combinations, e.g. {', '.join(coalitions[:3])}"
