"""Charts about the system: its appeal queue, blocked purchases, incomes, chilling and
deterrence, and where its cameras look. Same conventions as :mod:`charts_people`.
"""

from __future__ import annotations

import numpy as np

from credsim.report.charts_people import style, who
from credsim.report.data import RunData
from credsim.report.panels import (
    REGION_COLORS,
    REGION_DASHES,
    RUN_OPACITY,
    RUN_PATTERNS,
    Chart,
    line,
    number,
    on_panel,
    panel_layout,
    plotly_text,
    ratio,
    rolling_sum,
    say_empty,
    series_table,
)

WINDOW = 30  # days in the rolling sums behind the smoothed rates
MAX_REGIONS = 20


def appeals(runs: list[RunData]) -> Chart:
    traces, columns, undecided = [], [], []
    for run in runs:
        for group in run.groups:
            daily = run.daily[group]
            name = who(runs, run, group)
            color, dash = style(runs, run, group)
            wait = ratio(rolling_sum(daily["wait_days"], WINDOW), rolling_sum(daily["cases_decided"], WINDOW))
            waiting = per_1000(daily["pending_cases"], daily["population"])
            traces.append(on_panel(line(run.day, waiting, plotly_text(name), color, dash,
                                        group=name, hover="%{y:.3g} per 1,000 waiting"), 0))
            if np.isnan(wait).all():
                undecided.append(name)
            else:
                traces.append(on_panel(line(run.day, wait, plotly_text(name), color, dash, group=name, show_legend=False,
                                            hover="%{y:.1f} days"), 1))
            columns.append((f"{name}: cases waiting", daily["pending_cases"], "int"))
            columns.append((f"{name}: cases waiting per 1,000", waiting, "num"))
            columns.append((f"{name}: mean wait, days ({WINDOW}-day window)", wait, "days"))
    layout = panel_layout(["cases waiting in the queue", f"mean wait of decided cases, last {WINDOW} days"], columns=2,
                          y_titles=["cases per 1,000 people of the group", "days"])
    table = series_table(columns)
    if undecided:
        table.note = f"No case was decided during the run for: {', '.join(undecided)}. {table.note}".strip()
        if not any(t["yaxis"] == "y2" for t in traces):
            say_empty(layout, 1, "no case was decided during the run")
    return Chart(
        "appeals",
        "The appeal queue",
        "Left: objections and appeals of each group's people waiting to be decided at the end of each "
        "day, per 1,000 people of the group (pending_cases / population; the counts are in the data table). Right: the mean wait of the cases decided in the last "
        f"{WINDOW} days (sum of wait_days / sum of cases_decided over the window; blank when no case "
        "was decided). Cases still waiting are not in the mean wait, so when the queue grows the "
        "mean wait understates how long people wait: read the two panels together.",
        {"data": traces, "layout": layout},
        table,
    )


def blocked(runs: list[RunData]) -> Chart:
    traces, columns = [], []
    for panel, (column, title) in enumerate((("blocked_flight", "flights"), ("blocked_rail", "rail tickets"))):
        for run in runs:
            for group in run.groups:
                name = who(runs, run, group)
                color, dash = style(runs, run, group)
                daily = run.daily[group]
                total = np.cumsum(daily[column])
                rate = per_1000(total, daily["population"])
                traces.append(on_panel(line(run.day, rate, plotly_text(name), color, dash, group=name,
                                            show_legend=panel == 0, hover="%{y:.3g} per 1,000"), panel))
                columns.append((f"{name}: {title} blocked, total so far", total, "int"))
                columns.append((f"{name}: {title} blocked per 1,000 people", rate, "num"))
    layout = panel_layout(["flights", "rail tickets"], columns=2,
                          y_titles=["purchases blocked since day 0, per 1,000 people", ""])
    return Chart(
        "blocked",
        "Blocked purchases",
        "Ticket purchases blocked by the travel ban, added up from the start of the run, per 1,000 "
        "people of the buyer's group (cumulative sums of blocked_flight and blocked_rail / population; "
        "the counts are in the data table).",
        {"data": traces, "layout": layout},
        series_table(columns),
    )


def per_1000(counts: np.ndarray, population: np.ndarray) -> np.ndarray:
    """counts per 1,000 people, day by day (nan where the group has no people)."""
    return 1000 * ratio(counts, population)


def income(runs: list[RunData]) -> Chart:
    traces, columns, gap_rows = [], [], []
    for r, run in enumerate(runs):
        categories, gaps = [], []
        for group in run.groups:
            name = who(runs, run, group)
            color, dash = style(runs, run, group)
            traces.append(on_panel(line(run.day, run.daily[group]["income_mean"], plotly_text(name), color, dash,
                                        group=name, hover="%{y:.3f}"), 0))
            columns.append((f"{name}: mean income", run.daily[group]["income_mean"], "num"))
            gap = run.summary["by_group"][group].get("income_gap")
            categories.append(plotly_text(group))
            gaps.append(gap)
            gap_rows.append([name, number(gap, "pct") if gap is not None else "not computable (no one, or everyone, was ever listed)"])
        traces.append(on_panel({
            "type": "bar", "x": categories, "y": gaps, "name": plotly_text(run.label) if len(runs) > 1 else "income gap",
            "showlegend": len(runs) > 1,
            "marker": {"color": [style(runs, run, g)[0] for g in run.groups], "opacity": RUN_OPACITY[r % 2],
                       "pattern": {"shape": RUN_PATTERNS[r % 2]}, "line": {"color": "#333333", "width": 1}},
            "hovertemplate": ("" if len(runs) == 1 else f"{plotly_text(run.label)}, ")
                             + "%{x}: the ever-listed earn %{y:.1%} less<extra></extra>",
        }, 1))
    layout = panel_layout(["mean income of the whole group", "income gap, ever-listed vs never-listed, at the end"],
                          columns=2, y_titles=["income (scenario units)", "1 − ever-listed / never-listed"])
    layout["xaxis2"]["title"] = {"text": ""}
    layout["barmode"] = "group"
    layout["yaxis2"]["tickformat"] = ".0%"
    layout["hovermode"] = "closest"
    table = series_table(columns)
    table.note = ("Income gap at the end of the run (summary.json): " + "; ".join(f"{n}: {g}" for n, g in gap_rows)
                  + ". " + table.note).strip()
    return Chart(
        "income",
        "Income of the ever-listed and the never-listed",
        "The run's folder keeps no one's income, so the report cannot draw the ever-listed and the "
        "never-listed separately over time. Left: the mean current income of each whole group, day by "
        "day (income_mean in daily.parquet). Right: the income gap from summary.json, "
        "1 − mean income of the ever-listed / mean income of the never-listed in the group, at the end "
        "of the run: 0.3 means the ever-listed earn 30% less"
        + ("; the second run's bars are hatched and paler" if len(runs) > 1 else "") + ". The gap mixes the sanctions' effect "
        "(income cuts, detention) with selection (poorer people may be listed more to begin with).",
        {"data": traces, "layout": layout},
        table,
    )


def chilling(runs: list[RunData]) -> Chart:
    traces, columns, unexpected = [], [], []
    panels = (("protected", "chilling of protected behaviour"), ("harmful", "deterrence of harmful behaviour"))
    for panel, (kind, title) in enumerate(panels):
        for run in runs:
            for group in run.groups:
                daily = run.daily[group]
                name = who(runs, run, group)
                color, dash = style(runs, run, group)
                index = 1 - ratio(rolling_sum(daily[f"events_{kind}"], WINDOW), rolling_sum(daily[f"expected_{kind}"], WINDOW))
                if np.isnan(index).all():
                    unexpected.append(f"{name} ({kind})")
                else:
                    traces.append(on_panel(line(run.day, index, plotly_text(name), color, dash, group=name,
                                                show_legend=panel == 0, hover="%{y:.1%}"), panel))
                columns.append((f"{name}: {'chilling' if kind == 'protected' else 'deterrence'}", index, "pct"))
    layout = panel_layout([t for _, t in panels], columns=2, y_titles=["1 − events / expected without the system", ""],
                          y_format=".0%")
    for axis in ("yaxis", "yaxis2"):
        layout[axis]["zeroline"] = True
        layout[axis]["zerolinecolor"] = "#999999"
    table = series_table(columns)
    if unexpected:
        table.note = (f"No such events were expected without the system, so there is no index, for: "
                      f"{', '.join(unexpected)}. {table.note}").strip()
        for panel, (kind, _) in enumerate(panels):
            if not any(t["xaxis"] == ("x" if panel == 0 else "x2") for t in traces):
                say_empty(layout, panel, f"no {kind} events were expected")
    return Chart(
        "chilling",
        "Chilling and deterrence",
        f"Left: chilling, 1 − protected events (worship, criticism) / the number expected with no system, "
        f"over the last {WINDOW} days (rolling sums of events_protected and expected_protected). Right: "
        f"deterrence, the same for harmful behaviours (events_harmful, expected_harmful): the system's "
        f"claimed benefit. 10% means 10% fewer events than without the system; below 0 means more. "
        f"Detention (people detained do nothing) counts in both. In small populations the counts are "
        f"noisy and hover around 0 even with no effect.",
        {"data": traces, "layout": layout},
        table,
    )


def cameras(runs: list[RunData]) -> Chart:
    traces, columns, notes, titles = [], [], [], []
    for panel, run in enumerate(runs):
        intensity = run.regions["camera_intensity"]
        n_regions = intensity.shape[1]
        shown = np.arange(n_regions)
        if n_regions > MAX_REGIONS:
            shown = np.sort(np.argsort(-intensity[-1], kind="stable")[:MAX_REGIONS])
            notes.append(f"{run.label}: the {MAX_REGIONS} of {n_regions} regions with the highest intensity at the end are shown.")
        titles.append(plotly_text(run.label) if len(runs) > 1 else "")
        names = region_names(run, n_regions)
        for region in shown:
            name = names[int(region)]
            color = REGION_COLORS[int(region) % len(REGION_COLORS)]
            dash = REGION_DASHES[(int(region) // len(REGION_COLORS)) % len(REGION_DASHES)]
            traces.append(on_panel(line(np.arange(intensity.shape[0]), intensity[:, region], plotly_text(name), color,
                                        dash, group=name, show_legend=panel == 0, hover="%{y:.3f}"),
                                   panel))
            label = name if len(runs) == 1 else f"{run.label}: {name}"
            columns.append((label, intensity[:, region], "num"))
    layout = panel_layout(titles, columns=2, y_titles=["camera intensity"] + [""] * (len(runs) - 1))
    table = series_table(columns)
    table.note = " ".join([*notes, table.note]).strip()
    return Chart(
        "cameras",
        "Where the cameras look",
        "Camera intensity in each region at the end of each day (regions.parquet), relative to the "
        "scenario's starting intensities. With adaptive surveillance the total is fixed and moves "
        "toward the regions where cameras detected more, which can feed on itself. Each region is named "
        "by who lives there (from the scenario's group shares).",
        {"data": traces, "layout": layout},
        table,
    )



def region_names(run: RunData, n_regions: int) -> list[str]:
    """"region 6 (53% minority)": each region with the share of its largest group other than
    the reference group (or of the reference group when it is the only one), from the
    scenario's group shares and region shares; "region 6" when the scenario does not say."""
    groups = run.scenario.get("population", {}).get("groups", {})
    reference = run.summary.get("reference_group")
    people = np.zeros((len(groups), n_regions))
    try:
        for i, group in enumerate(groups.values()):
            people[i] = float(group["share"]) * np.asarray(group["region_shares"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return [f"region {r}" for r in range(n_regions)]
    names = list(groups)
    others = [i for i, g in enumerate(names) if g != reference] or list(range(len(names)))
    out = []
    for r in range(n_regions):
        total = people[:, r].sum()
        if total <= 0:
            out.append(f"region {r}")
            continue
        top = max(others, key=lambda i: people[i, r])
        out.append(f"region {r} ({100 * people[top, r] / total:.0f}% {names[top]})")
    return out
