"""The report marks every change of a timeline on every chart over the days of the run."""

from __future__ import annotations

import dataclasses

import credsim
from credsim.report.build import CHARTS, draw_charts
from credsim.report.changes import mark_changes
from credsim.report.data import load_run
from credsim.results.write import write_run
from credsim.scenario import load_scenario


def _charts(tmp_path, body: str):
    path = tmp_path / "t.toml"
    path.write_text(f'[meta]\nname = "t"\nextends = "city"\n\n{body}', encoding="utf-8")
    run = credsim.simulate(load_scenario(path, ["population.size=1500", "population.days=60"]), 2)
    return draw_charts([load_run(write_run(run, tmp_path / "run"))])


def _lines(chart) -> list[tuple[str, float]]:
    return [(s["xref"], s["x0"]) for s in chart.figure["layout"].get("shapes", []) if s.get("type") == "line"]


def test_every_time_chart_marks_every_change(tmp_path):
    body = (
        '[[timeline]]\nday = 20\nset = { "appeal.capacity_per_million" = 500.0 }\n'
        '[[timeline]]\nday = 41\nset = { "listing.min_days" = 30 }\n'
    )
    charts = {chart.key: chart for chart in _charts(tmp_path, body)}
    assert len(charts) == len(CHARTS)
    for key in ("listed", "appeals", "income", "blocked", "cameras"):
        chart = next(c for k, c in charts.items() if k.startswith(key))
        axes = {t.get("xaxis", "x") for t in chart.figure["data"] if len(t.get("x", [])) == 60}
        assert axes and sorted(_lines(chart)) == sorted((axis, day) for axis in axes for day in (20, 41)), key
        assert "(20, 41)" in chart.caption
    survival = next(c for k, c in charts.items() if k.startswith("survival"))
    assert _lines(survival) == []  # days since a listing began: not the run's days
    run = load_run(tmp_path / "run")
    run.summary["timeline"] = []  # a run without a timeline: nothing to mark
    plain = mark_changes(dataclasses.replace(charts["appeals"], figure={"data": charts["appeals"].figure["data"], "layout": {}}), [run])
    assert _lines(plain) == [] and "Dotted" not in plain.caption.replace(charts["appeals"].caption, "")
