"""Charts about people: who is listed, their scores and grades, how long they stay listed,
and what their listings were made of.

Every builder takes a list of one run (a report) or two (a comparison) and returns a
:class:`~credsim.report.panels.Chart`. With two runs each trace is named "run: group" and the
second run is drawn dashed.
"""

from __future__ import annotations

import numpy as np

from credsim.report.data import RunData
from credsim.report.panels import (
    CLASS_COLORS,
    GRADE_COLORS,
    GROUP_COLORS,
    MISSING,
    RUN_DASHES,
    RUN_OPACITY,
    RUN_PATTERNS,
    TABLE_STEP,
    Chart,
    Table,
    line,
    number,
    on_panel,
    panel_layout,
    plotly_text,
    series_table,
    values,
)
from credsim.statistics import kaplan_meier

TRACKS = (
    ("score", "recorded"),
    ("score_clean", "clean: no system errors"),
    ("score_fair", "fair: clean, rights not penalised"),
)
CLASSES = ("wrongful", "unjust", "rules")


def all_groups(runs: list[RunData]) -> list[str]:
    seen: list[str] = []
    for run in runs:
        seen.extend(g for g in run.groups if g not in seen)
    return seen


def who(runs: list[RunData], run: RunData, group: str) -> str:
    """The plain-text name of a run's group (escaped later where it is shown)."""
    return group if len(runs) == 1 else f"{run.label}: {group}"


def style(runs: list[RunData], run: RunData, group: str) -> tuple[str, str]:
    groups = all_groups(runs)
    return GROUP_COLORS[groups.index(group) % len(GROUP_COLORS)], RUN_DASHES[runs.index(run) % len(RUN_DASHES)]


def listed_share(runs: list[RunData]) -> Chart:
    traces, columns = [], []
    for run in runs:
        for group in run.groups:
            daily = run.daily[group]
            share = daily["listed"] / np.maximum(daily["population"], 1)
            name = who(runs, run, group)
            color, dash = style(runs, run, group)
            traces.append(line(run.day, share, plotly_text(name), color, dash, hover="%{y:.3%}"))
            columns.append((f"{name}: listed share", share, "pct"))
    layout = panel_layout([""], y_titles=["share of the group listed"], y_format=".1%")
    return Chart(
        "listed",
        "Who is on the list",
        "The share of each group on the list at the end of each day (listed / population, from "
        "daily.parquet), detained listed people included.",
        {"data": traces, "layout": layout},
        series_table(columns),
    )


def score_bands(runs: list[RunData]) -> Chart:
    traces, columns = [], []
    for panel, (track, title) in enumerate(TRACKS):
        for run in runs:
            for group in run.groups:
                daily = run.daily[group]
                name = who(runs, run, group)
                label = plotly_text(name)
                color, dash = style(runs, run, group)
                p10, p50, p90 = (daily[f"{track}_{q}"] for q in ("p10", "p50", "p90"))
                legend = f"{run.label}/{group}"
                traces.append(on_panel(line(run.day, p90, f"{label} 90th", color, "dot", group=legend, show_legend=False,
                                            hover="90th %{y:.0f}", width=0.5), panel))
                traces.append(on_panel(line(run.day, p10, f"{label} 10th", color, "dot", group=legend, show_legend=False,
                                            hover="10th %{y:.0f}", width=0.5, fill="tonexty", fillcolor=_translucent(color)), panel))
                traces.append(on_panel(line(run.day, p50, label, color, dash, group=legend, show_legend=panel == 0,
                                            hover="median %{y:.0f}"), panel))
                for q, series in (("p10", p10), ("p50", p50), ("p90", p90)):
                    columns.append((f"{name}: {track}_{q}", series, "num"))
    layout = panel_layout([t for _, t in TRACKS], y_titles=["score points", "", ""], share_y=True, row_height=360)
    return Chart(
        "scores",
        "Scores over time, on three tracks",
        "For each group, the band from the 10th to the 90th percentile of the score and the median "
        "(solid line), day by day (score_*_p10/p50/p90 in daily.parquet). Left: the score the system "
        "records. Middle: the same person's score without any false observation (no system error). "
        "Right: the clean score also without the penalties for protected behaviour (worship, "
        "criticism). The gap between the panels is what errors and the penalising of rights add.",
        {"data": traces, "layout": layout},
        series_table(columns),
    )


def score_days(runs: list[RunData]) -> Chart:
    traces, rows = [], []
    spread = [float(run.daily[g][f"{t}_{q}"][d]) for run in runs for g in run.groups for t, _ in TRACKS
              for q in ("p10", "p90") for d in snapshot_days(run.days)]
    tick = max((max(spread) - min(spread)) * 0.012, 1.0) if spread else 1.0  # the median's bar: ~1% of the axis
    for panel, (track, title) in enumerate(TRACKS):
        for run in runs:
            chosen = snapshot_days(run.days)
            r = runs.index(run)
            for group in run.groups:
                daily = run.daily[group]
                name = who(runs, run, group)
                color, _ = style(runs, run, group)
                p10, p50, p90 = ([float(daily[f"{track}_{q}"][d]) for d in chosen] for q in ("p10", "p50", "p90"))
                days = [f"day {d}" for d in chosen]
                slot = f"{run.label}/{group}"
                traces.append(on_panel({
                    "type": "bar", "name": plotly_text(name), "x": days, "y": [hi - lo for lo, hi in zip(p10, p90)],
                    "base": p10, "offsetgroup": slot, "legendgroup": slot, "showlegend": panel == 0,
                    "marker": {"color": color, "opacity": RUN_OPACITY[r % 2], "pattern": {"shape": RUN_PATTERNS[r % 2]},
                               "line": {"color": color, "width": 1}},
                    "customdata": [[lo, mid, hi] for lo, mid, hi in zip(p10, p50, p90)],
                    "hovertemplate": f"{plotly_text(name)}: 10th %{{customdata[0]:.0f}}, median %{{customdata[1]:.0f}}, "
                                     "90th %{customdata[2]:.0f}<extra></extra>",
                }, panel))
                traces.append(on_panel({
                    "type": "bar", "name": f"{plotly_text(name)} median", "x": days, "y": [2 * tick] * len(days),
                    "base": [m - tick for m in p50], "offsetgroup": slot, "legendgroup": slot, "showlegend": False,
                    "marker": {"color": "#1b1b1b"}, "hoverinfo": "skip",
                }, panel))
                for d, lo, mid, hi in zip(chosen, p10, p50, p90):
                    rows.append([str(d), name, track, number(lo), number(mid), number(hi)])
    layout = panel_layout([t for _, t in TRACKS], y_titles=["score points", "", ""], share_y=True, x_title="",
                          row_height=360)
    layout["barmode"] = "group"
    layout["hovermode"] = "closest"
    return Chart(
        "score-days",
        "Score distributions at a few days",
        "Each bar spans the 10th to the 90th percentile of a group's score on that day, with the "
        "median as the dark line across it (only these three quantiles are saved)."
        + (" The second run's bars are hatched and paler." if len(runs) > 1 else "")
        + " The days are the first, the last and three in between; the three panels are the three "
        "score tracks, as in the chart above.",
        {"data": traces, "layout": layout},
        Table(["day", "group", "track", "10th percentile", "median", "90th percentile"], rows),
    )


def snapshot_days(days: int) -> list[int]:
    return sorted({0, days // 4, days // 2, (3 * days) // 4, days - 1})


def grade_shares(runs: list[RunData]) -> Chart:
    panels = [(run, group) for run in runs for group in run.groups]
    traces, columns = [], []
    for panel, (run, group) in enumerate(panels):
        daily = run.daily[group]
        grades = [c for c in daily if c.startswith("grade_")]
        for i, column in enumerate(grades):
            grade = column.removeprefix("grade_")
            color = GRADE_COLORS[round(i * (len(GRADE_COLORS) - 1) / max(len(grades) - 1, 1))]
            traces.append(on_panel({
                "type": "scatter", "mode": "lines", "x": values(run.day), "y": values(daily[column]),
                "name": plotly_text(grade), "stackgroup": f"stack{panel}", "line": {"color": color, "width": 0.5},
                "fillcolor": color, "legendgroup": grade, "showlegend": panel == 0,
                "hovertemplate": f"{plotly_text(grade)} %{{y:.1%}}<extra></extra>",
            }, panel))
            columns.append((f"{who(runs, run, group)}: {grade}", daily[column], "pct"))
    titles = [plotly_text(who(runs, run, group)) for run, group in panels]
    layout = panel_layout(titles, columns=2, y_titles=["share of the group"] + [""] * (len(panels) - 1), y_format=".0%")
    return Chart(
        "grades",
        "Grades over time",
        "The share of each group in each grade of the recorded score, day by day (grade_* in "
        "daily.parquet), highest grade at the bottom. The shares add up to less than 100% when "
        "some scores fall below the lowest grade's bound.",
        {"data": traces, "layout": layout},
        series_table(columns),
    )


def _survival_curve(duration: np.ndarray, observed: np.ndarray) -> tuple[list[float], list[float]]:
    """Step points of the Kaplan–Meier curve from 0 to the longest duration followed."""
    times, survival = kaplan_meier(duration, observed)
    x = [0.0, *times.tolist()]
    y = [1.0, *survival.tolist()]
    longest = float(duration.max())
    if longest > x[-1]:
        x.append(longest)
        y.append(y[-1])
    return x, y


def survival(runs: list[RunData]) -> Chart:
    traces, curves, notes = [], [], []
    for run in runs:
        duration, observed = run.episodes.durations(run.days)
        by_group = [(g, run.episodes.group == g, *style(runs, run, g)) for g in run.groups]
        by_class = [(c, run.episodes.cls == c, CLASS_COLORS[c], RUN_DASHES[runs.index(run) % 2]) for c in CLASSES]
        for panel, selections in enumerate((by_group, by_class)):
            for key, mask, color, dash in selections:
                name = key if len(runs) == 1 else f"{run.label}: {key}"
                if panel == 1:
                    name = f"{name} (all groups)"
                count, ended = int(mask.sum()), int(observed[mask].sum())
                notes.append(f"{name}: {count:,} episodes, {ended:,} ended during the run, {count - ended:,} still open (censored).")
                if count == 0:
                    continue
                x, y = _survival_curve(duration[mask], observed[mask])
                traces.append(on_panel(line(x, y, plotly_text(name), color, dash, shape="hv", hover="%{y:.1%} still listed"), panel))
                curves.append((name, np.asarray(x), np.asarray(y)))
    layout = panel_layout(["by group", "by class of listing"], columns=2, x_title="days since the listing began",
                          y_titles=["share still listed", ""], y_format=".0%", row_height=360)
    for axis in ("yaxis", "yaxis2"):
        layout[axis]["range"] = [0, 1.05]
    layout["hovermode"] = "closest"
    return Chart(
        "survival",
        "Time on the list",
        "Kaplan–Meier survival curves: the share of listing episodes still open after a given time on "
        "the list, by group (left) and by class of listing (right), from episodes.parquet. An episode "
        "still open when the run ended is censored: it counts as on the list for as long as it was "
        "seen, and no longer. A curve stops at the longest time any episode was followed; a curve "
        "that stays high says people were not seen leaving, not that they never would.",
        {"data": traces, "layout": layout},
        _survival_table(curves, notes),
    )


def _survival_table(curves: list[tuple[str, np.ndarray, np.ndarray]], notes: list[str]) -> Table:
    longest = int(max((x[-1] for _, x, _ in curves), default=0))
    step = 1 if longest + 1 <= 60 else TABLE_STEP
    grid = np.arange(0, longest + 1, step)
    rows = []
    for t in grid:
        row = [str(int(t))]
        for _, x, y in curves:
            # right-continuous step function; blank beyond the longest duration followed
            row.append(MISSING if t > x[-1] else number(y[np.searchsorted(x, t, side="right") - 1], "pct"))
        rows.append(row)
    note = " ".join(notes)
    if step > 1:
        note += f" The table shows every {step}th day since the listing began; the chart has every step."
    return Table(["days since the listing began", *(name for name, _, _ in curves)], rows, note)


def composition(runs: list[RunData]) -> Chart:
    """Listing episodes per 1,000 people of each group, by class (counts in the table)."""
    categories, rates, patterns, rows = [], {c: [] for c in CLASSES}, [], []
    for run in runs:
        for group in run.groups:
            mask = run.episodes.group == group
            name = who(runs, run, group)
            people = run.summary["by_group"][group].get("population") or 0
            categories.append(plotly_text(name))
            patterns.append(RUN_PATTERNS[runs.index(run) % 2])
            tally = {c: int((run.episodes.cls[mask] == c).sum()) for c in CLASSES}
            for c in CLASSES:
                rates[c].append(1000 * tally[c] / people if people else None)
            total = sum(tally.values())
            share = (tally["wrongful"] + tally["unjust"]) / total if total else None
            per_1000 = [number(1000 * tally[c] / people if people else None) for c in CLASSES]
            rows.append([name, f"{people:,}", *(f"{tally[c]:,}" for c in CLASSES), f"{total:,}", *per_1000,
                         number(1000 * total / people if people else None), number(share, "pct")])
    traces = []
    for c in CLASSES:
        traces.append({
            "type": "bar", "name": c, "x": categories, "y": rates[c],
            "marker": {"color": CLASS_COLORS[c], "pattern": {"shape": patterns}},
            "hovertemplate": f"{c}: %{{y:.3g}} per 1,000 people<extra></extra>",
        })
    layout = panel_layout([""], x_title="", y_titles=["listing episodes per 1,000 people of the group"], row_height=340)
    layout["barmode"] = "stack"
    layout["hovermode"] = "x"
    return Chart(
        "composition",
        "What the listings were made of",
        "Listing episodes that began during the run, per 1,000 people of each group, by class "
        "(episodes.parquet; the counts are in the data table). Wrongful: without the system's own errors (false matches, "
        "malicious reports, record errors) the listing would not have happened. Unjust: not wrongful, but it rests on "
        "penalties for protected behaviour (worship, criticism). Rules: by the system's own rules."
        + (" The second run's bars are hatched." if len(runs) > 1 else ""),
        {"data": traces, "layout": layout},
        Table(["group", "people", *(f"{c} (count)" for c in CLASSES), "total (count)",
               *(f"{c} per 1,000" for c in CLASSES), "total per 1,000", "wrongful or unjust"], rows),
    )


def _translucent(color: str, alpha: float = 0.18) -> str:
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"
