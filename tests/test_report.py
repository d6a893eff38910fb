"""The HTML report: built from a run folder's saved outputs only, one self-contained file,
every chart with its data (checked against the Parquet files), a plain-words headline that
matches summary.json, escaped text, a comparison of two runs, and clear errors."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
import plotly
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

import credsim
import credsim.report
from credsim.report import ReportError, build_comparison, build_report
from credsim.report.cli import register
from credsim.report.headline import caveats, group_sentences, percent
from credsim.report.panels import CLASS_COLORS, GRADE_COLORS, OKABE_ITO, REGION_COLORS, number
from credsim.report.plotlyjs import TRACE_TYPES, VERSION, plotly_js
from credsim.statistics import kaplan_meier

DESCRIPTION = 'A <script>alert("x")</script> & <b>bold</b> city'
# A small city that lists many people quickly and lets some of them leave, so that every
# chart (survival curves included) has data in 60 days.
SMALL = [
    "population.size=3000",
    "population.days=60",
    "listing.threshold=990",
    "listing.exit_threshold=990",
    "listing.min_days=10",
    "listing.notice_days=3",
    "appeal.capacity_per_million=2000",
    f"meta.description={DESCRIPTION}",
]
CHARTS = {"listed", "composition", "survival", "scores", "score-days", "grades", "appeals", "blocked", "income",
          "chilling", "cameras"}
FIGURE = re.compile(r'<script type="application/json" class="figure-data" data-target="plot-([a-z-]+)">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    result = credsim.simulate(credsim.load_scenario("city", SMALL), seed=1)
    folder = credsim.write_run(result, tmp_path_factory.mktemp("runs") / "small-city")
    build_report(folder)
    return folder


@pytest.fixture(scope="module")
def other_dir(tmp_path_factory):
    """A second run, of another scenario and length, for the comparison."""
    scenario = credsim.load_scenario("reform", ["population.size=2000", "population.days=45", "listing.threshold=990",
                                                "listing.exit_threshold=990", "listing.min_days=10"])
    return credsim.write_run(credsim.simulate(scenario, seed=2), tmp_path_factory.mktemp("runs") / "small-reform")


@pytest.fixture(scope="module")
def page(run_dir) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


def figures_of(text: str) -> dict[str, dict]:
    return {key: json.loads(spec) for key, spec in FIGURE.findall(text)}


@pytest.fixture(scope="module")
def figures(page) -> dict[str, dict]:
    return figures_of(page)


@pytest.fixture(scope="module")
def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def daily(run_dir) -> dict:
    return pq.read_table(run_dir / "daily.parquet").to_pylist()


def _series(rows: list[dict], group: str, column: str) -> np.ndarray:
    picked = sorted((r["day"], r[column]) for r in rows if r["group"] == group)
    return np.array([value for _, value in picked], dtype=float)


def _trace(figure: dict, name: str) -> dict:
    matches = [t for t in figure["data"] if t.get("name") == name]
    assert len(matches) == 1, f"expected one trace named {name!r}, found {[t.get('name') for t in figure['data']]}"
    return matches[0]


# ----------------------------------------------------------------------------- the file


def test_report_is_written_beside_the_outputs_atomically(run_dir):
    assert build_report(run_dir) == run_dir / "report.html"
    assert (run_dir / "report.html").stat().st_size > 1_000_000  # plotly.js is in it
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".")], "a staging file was left behind"


def test_report_is_reproducible(run_dir, page):
    build_report(run_dir)
    assert (run_dir / "report.html").read_text(encoding="utf-8") == page


def test_plotly_js_is_inlined_exactly_once(page):
    library = plotly_js()
    assert page.count(library[:200]) == 1
    assert page.count(library[-200:]) == 1
    assert len(re.findall(r"<script\b", page)) == 2 + len(CHARTS)  # plotly.js, the renderer, one spec per chart


class _Loads(HTMLParser):
    """Collects every attribute that makes a browser fetch something, and every tag."""

    FETCHING = {"src", "href", "srcset", "data", "action", "poster", "background", "formaction", "xlink:href"}

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in self.FETCHING and value is not None:
                self.urls.append((tag, name, value))


def test_nothing_is_loaded_from_the_network(page):
    parser = _Loads()
    parser.feed(page)
    external = [u for u in parser.urls if re.match(r"\s*(https?:|//|ftp:)", u[2], re.I)]
    assert not external
    assert all(value.startswith("#") for _, _, value in parser.urls), parser.urls  # only in-page links
    assert "link" not in parser.tags and "iframe" not in parser.tags and "img" not in parser.tags
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert styles and not any("url(" in s or "@import" in s or "@font-face" in s for s in styles)
    # outside the plotly.js bundle, no URL of any kind
    ours = page.replace(plotly_js(), "")
    assert "http://" not in ours and "https://" not in ours


# ------------------------------------------------------------------------------ charts


def test_every_chart_is_present_with_data(figures, page):
    assert set(figures) == CHARTS
    for key, figure in figures.items():
        go.Figure(figure)  # a valid plotly figure: a misspelt property fails here
        assert figure["data"], key
        for trace in figure["data"]:
            data = trace.get("y") if trace["type"] != "box" else trace.get("median")
            assert data and any(v is not None for v in data), f"{key}: trace {trace.get('name')} has no data"
            if trace["type"] == "box":
                assert len(trace["x"]) == len(trace["q1"]) == len(trace["q3"]) == len(data)
            else:
                assert len(trace["x"]) == len(data)
            assert "bdata" not in json.dumps(trace), "numbers must be plain JSON lists"
        assert f'id="plot-{key}"' in page


def test_listed_share_is_listed_over_population(figures, daily, summary):
    for group in summary["by_group"]:
        trace = _trace(figures["listed"], group)
        expected = _series(daily, group, "listed") / _series(daily, group, "population")
        assert trace["x"] == list(range(summary["days"]))
        np.testing.assert_allclose(trace["y"], expected, rtol=1e-12)
        assert max(trace["y"]) > 0


def test_score_bands_show_all_three_tracks(figures, daily):
    names = {t["name"] for t in figures["scores"]["data"]}
    assert {"minority", "minority 10th", "minority 90th"} <= names
    for i, track in enumerate(("score", "score_clean", "score_fair")):
        axis = "x" if i == 0 else f"x{i + 1}"
        median = [t for t in figures["scores"]["data"] if t["name"] == "minority" and t["xaxis"] == axis]
        np.testing.assert_allclose(median[0]["y"], _series(daily, "minority", f"{track}_p50"))
    bars = [t for t in figures["score-days"]["data"] if t["name"] == "minority"]  # 10th to 90th percentile
    assert len(bars) == 3 and bars[0]["x"][0] == "day 0" and bars[0]["x"][-1] == "day 59"
    assert bars[2]["base"][-1] == _series(daily, "minority", "score_fair_p10")[-1]
    assert bars[2]["base"][-1] + bars[2]["y"][-1] == pytest.approx(_series(daily, "minority", "score_fair_p90")[-1])


def test_grade_shares_are_the_grade_columns(figures, daily):
    aaa = [t for t in figures["grades"]["data"] if t["name"] == "A" and t["xaxis"] == "x2"][0]  # second panel: minority
    np.testing.assert_allclose(aaa["y"], _series(daily, "minority", "grade_A"))


def test_survival_curves_are_kaplan_meier_of_the_episodes(run_dir, figures, summary):
    episodes = pq.read_table(run_dir / "episodes.parquet").to_pylist()
    days = summary["days"]
    for group in summary["by_group"]:
        mine = [e for e in episodes if e["group"] == group]
        duration = [(e["end_day"] if e["end_day"] is not None else days) - e["start_day"] for e in mine]
        observed = [e["end_day"] is not None for e in mine]
        times, survival = kaplan_meier(duration, observed)
        trace = _trace(figures["survival"], group)
        assert trace["x"][0] == 0 and trace["y"][0] == 1.0 and trace["line"]["shape"] == "hv"
        np.testing.assert_allclose(trace["x"][1:1 + len(times)], times)
        np.testing.assert_allclose(trace["y"][1:1 + len(times)], survival)
        assert trace["x"][-1] == max(duration)
    assert sum(1 for e in episodes if e["end_day"] is not None) > 0, "the test run should see some listings end"
    classes = {t["name"] for t in figures["survival"]["data"] if t["xaxis"] == "x2"}
    assert classes == {f"{c} (all groups)" for c in {e["class"] for e in episodes}}


def test_composition_charts_rates_and_tables_counts(run_dir, figures, summary, page):
    """Episodes per 1,000 people of the group in the chart (a majority's larger count does not
    look worse), the counts in the data table."""
    episodes = pq.read_table(run_dir / "episodes.parquet").to_pylist()
    groups = list(summary["by_group"])
    table = re.search(r'id="chart-composition".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    for cls in ("wrongful", "unjust", "rules"):
        trace = _trace(figures["composition"], cls)
        assert trace["x"] == groups
        counts = [sum(1 for e in episodes if e["group"] == g and e["class"] == cls) for g in groups]
        people = [summary["by_group"][g]["population"] for g in groups]
        np.testing.assert_allclose(trace["y"], [1000 * c / p for c, p in zip(counts, people)])
    for g in groups:
        total = sum(1 for e in episodes if e["group"] == g)
        assert re.search(rf"<th scope=\"row\">{g}</th><td>{summary['by_group'][g]['population']:,}</td>.*?<td>{total:,}</td>", table)


def test_system_charts_match_the_tables(run_dir, figures, daily, summary):
    regions = pq.read_table(run_dir / "regions.parquet").to_pylist()
    region_0 = [r["camera_intensity"] for r in sorted(regions, key=lambda r: r["day"]) if r["region"] == 0]
    region_name = next(t["name"] for t in figures["cameras"]["data"] if t["name"].startswith("region 0 ("))
    np.testing.assert_allclose(_trace(figures["cameras"], region_name)["y"], region_0)
    flights = [t for t in figures["blocked"]["data"] if t["name"] == "minority" and t["xaxis"] == "x"][0]
    people = _series(daily, "minority", "population")
    np.testing.assert_allclose(flights["y"], 1000 * np.cumsum(_series(daily, "minority", "blocked_flight")) / people)
    pending = [t for t in figures["appeals"]["data"] if t["name"] == "majority" and t["xaxis"] == "x"][0]
    np.testing.assert_allclose(pending["y"], 1000 * _series(daily, "majority", "pending_cases") / _series(daily, "majority", "population"))
    chill = [t for t in figures["chilling"]["data"] if t["name"] == "minority" and t["xaxis"] == "x"][0]
    events, expected = _series(daily, "minority", "events_protected"), _series(daily, "minority", "expected_protected")
    assert chill["y"][45] == pytest.approx(1 - events[16:46].sum() / expected[16:46].sum())  # 30-day window
    (gaps,) = [t for t in figures["income"]["data"] if t["type"] == "bar"]
    assert gaps["y"] == [summary["by_group"][g]["income_gap"] for g in summary["by_group"]]


def test_every_chart_has_a_data_table(page, daily):
    sections = re.findall(r'<section class="chart" id="chart-([a-z-]+)".*?</section>', page, re.S)
    assert set(sections) == CHARTS
    for key in CHARTS:
        section = re.search(rf'<section class="chart" id="chart-{key}".*?</section>', page, re.S).group(0)
        assert "<details" in section and "<table>" in section and "<td>" in section, key
    listed = re.search(r'id="chart-listed".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", listed)
    assert len(rows) == 60  # a 60-day run: every day in the table
    last = re.findall(r"<td>([^<]*)</td>", rows[-1])
    share = _series(daily, "minority", "listed")[-1] / _series(daily, "minority", "population")[-1]
    assert last[1] == f"{100 * share:.2f}%"


# ----------------------------------------------------------------------------- the text


def test_headline_numbers_match_the_summary(page, summary):
    headline = html.unescape(re.search(r'<section id="headline">(.*?)</section>', page, re.S).group(1))
    majority, minority = summary["by_group"]["majority"], summary["by_group"]["minority"]
    assert 0 < majority["ever_listed"] < 0.2 <= minority["ever_listed"]  # both phrasings are exercised
    assert f"1 in {round(1 / majority['ever_listed'])} people in the majority group ({percent(majority['ever_listed'])}, " \
           f"{majority['episodes']} listings)" in headline
    assert f"{percent(minority['ever_listed'])} of the people in the minority group ({minority['episodes']} listings)" in headline
    for metrics in (majority, minority):
        both = metrics["wrongful_share"] + metrics["unjust_share"]
        assert f"{percent(both)} of their listings were caused by" in headline
    assert minority["median_days_listed"] is None and "median time on the list was not reached" in headline
    assert "too short to say" in headline  # exit_within_1y is null in a 60-day run
    assert f"{minority['disparate_impact']:.2f} times as often as the majority" in headline


def test_headline_in_words_handles_nulls():
    def summary(**metrics):
        base = {"population": 1000, "ever_listed": 0.07, "episodes": 80, "wrongful_share": 0.25, "unjust_share": 0.13,
                "median_days_listed": 200.0, "exit_within_1y": 0.5, "listed_rate": 0.05, "disparate_impact": 1.5,
                "detained_rate": 0.0}
        return {"days": 730, "reference_group": "a", "by_group": {"a": {**base, "disparate_impact": 1.0}, "b": {**base, **metrics}}}

    text = " ".join(group_sentences(summary(), "b"))
    assert "1 in 14 people in the b group (7.0%, 80 listings)" in text
    assert "38% of their listings were caused by the system's errors (25%) or by protected behaviour" in text
    assert "after 200 days" in text and "Half of their listings were still open a year after they began" in text
    assert "1.50 times as often as the a group" in text
    assert "75% of their listings were still open" in " ".join(group_sentences(summary(exit_within_1y=0.25), "b"))
    nobody = " ".join(group_sentences(summary(ever_listed=0.0, episodes=0, wrongful_share=None, unjust_share=None,
                                             median_days_listed=None, exit_within_1y=None, listed_rate=0.0), "b"))
    assert "No one in the b group was listed" in nobody and "median" not in nobody
    open_ended = " ".join(group_sentences(summary(median_days_listed=None, exit_within_1y=None), "b"))
    assert "not reached within the run" in open_ended and "censored" not in open_ended
    notes = " ".join(caveats(summary(median_days_listed=None, exit_within_1y=None)))
    assert "censored" in notes and "no listing was followed for a full year" in notes.lower()
    assert group_sentences(summary(population=0), "b") == ["The b group has no people in this run."]


def test_text_from_files_is_escaped(page):
    assert html.escape(DESCRIPTION) in page
    assert "<script>alert" not in page and "<b>bold" not in page


def test_scenario_provenance_and_definitions(run_dir, page, summary):
    scenario = (run_dir / "scenario.toml").read_bytes()
    assert hashlib.sha256(scenario).hexdigest() in page
    assert html.escape(scenario.decode("utf-8"), quote=True) in page  # the scenario as run, escaped
    assert "Rongcheng points system" in page  # meta.sources
    assert f"<dt>seed</dt><dd>{summary['seed']}</dd>" in page
    assert f"<dd>{summary['credsim_version']}</dd>" in page
    four_fifths = re.search(r'id="four-fifths".*?</p>', page, re.S).group(0)
    for words in ("legal screening threshold", "US employment law", "EEOC", "1978", "Uniform Guidelines",
                  "not a test of fairness"):
        assert words in four_fifths


def test_a_panel_with_nothing_to_draw_says_so(run_dir, tmp_path):
    quiet = tmp_path / "no-decisions"
    shutil.copytree(run_dir, quiet)
    table = pq.read_table(quiet / "daily.parquet")
    for column in ("cases_decided", "wait_days"):
        index = table.column_names.index(column)
        table = table.set_column(index, column, pa.array(np.zeros(table.num_rows, dtype=np.int64)))
    pq.write_table(table, quiet / "daily.parquet")
    _remanifest(quiet)
    text = build_report(quiet).read_text(encoding="utf-8")
    appeals = figures_of(text)["appeals"]
    assert [t for t in appeals["data"] if t["yaxis"] == "y2"] == []
    assert any(a["text"] == "no case was decided during the run" for a in appeals["layout"]["annotations"])
    assert "No case was decided during the run for: majority, minority." in text


# ---------------------------------------------------------------------------- comparison


def test_comparison_holds_both_runs(run_dir, other_dir, tmp_path):
    target = build_comparison(run_dir, other_dir, tmp_path / "out" / "compare.html")
    assert target == tmp_path / "out" / "compare.html"
    text = target.read_text(encoding="utf-8")
    for name in ("small-city", "small-reform", "scenario city", "scenario reform"):
        assert name in text
    figures = figures_of(text)
    assert set(figures) == CHARTS
    assert text.count(plotly_js()[:200]) == 1
    names = {t["name"] for t in figures["listed"]["data"]}
    assert names == {"small-city: majority", "small-city: minority", "small-reform: majority", "small-reform: minority"}
    assert len(_trace(figures["listed"], "small-reform: minority")["y"]) == 45
    dashed = _trace(figures["listed"], "small-reform: majority")["line"]["dash"]
    assert dashed == "dash" and _trace(figures["listed"], "small-city: majority")["line"]["dash"] == "solid"
    for figure in figures.values():
        go.Figure(figure)
    assert "difference (small-reform − small-city)" in text


# -------------------------------------------------------------------------------- errors


def test_missing_folder_or_summary_is_a_clear_error(run_dir, tmp_path):
    with pytest.raises(ReportError, match="no such folder"):
        build_report(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    shutil.copytree(run_dir, partial)
    (partial / "summary.json").unlink()
    with pytest.raises(credsim.CorruptRunError, match=r"summary\.json: listed in manifest\.json but missing"):
        build_report(partial)
    assert isinstance(ReportError("x"), credsim.CredsimError)


def test_unreadable_parquet_is_a_clear_error(run_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "report.html").unlink()
    (broken / "daily.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(credsim.CorruptRunError, match=r"daily\.parquet: .* bytes; manifest\.json says"):
        build_report(broken)
    _remanifest(broken)  # a manifest made to match: the file is still read with care
    with pytest.raises(ReportError, match=r"daily\.parquet: cannot read it as Parquet"):
        build_report(broken)
    assert not (broken / "report.html").exists()


def _remanifest(folder) -> None:
    """Rewrite a run folder's manifest to match its files as they are now (a test's edit)."""
    from credsim.results import manifest

    manifest.write(folder, manifest.build(folder, manifest.DATA_FILES, credsim.__version__))


def _flip(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _listing(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("damage", ["flip a byte of daily.parquet", "delete manifest.json", "manifest lists nothing"])
def test_report_checks_the_manifest_before_reading_anything(cli, run_dir, other_dir, tmp_path, damage):
    """The issue's cases: one flipped byte in daily.parquet gave exit 0 and a wrong chart; a
    folder without manifest.json was reported as complete. Now exit 2, nothing written."""
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "report.html").unlink()
    _remanifest(broken)
    if damage.startswith("flip"):
        _flip(broken / "daily.parquet")
        expected = "daily.parquet: SHA-256 differs"
    elif damage.startswith("delete"):
        (broken / "manifest.json").unlink()
        expected = "manifest.json: missing"
    else:
        record = json.loads((broken / "manifest.json").read_text())
        (broken / "manifest.json").write_text(json.dumps({**record, "files": {}}))
        expected = "does not list scenario.toml"
    before = _listing(broken)
    for args in ([broken], [broken, "--out", tmp_path / "r.html"], [run_dir, broken, "--out", tmp_path / "c.html"],
                 [broken, other_dir, "--out", tmp_path / "c.html"]):
        result = cli("report", *args)
        assert result.exit_code == 2, result.output
        assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert _listing(broken) == before and not (tmp_path / "r.html").exists() and not (tmp_path / "c.html").exists()
    assert not list(tmp_path.glob(".*"))


def test_a_rebuilt_report_is_covered_by_the_manifest(run_dir, tmp_path):
    from credsim.results.manifest import verify

    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    (folder / "report.html").unlink()
    _remanifest(folder)  # as a run folder written by the library, without a report
    build_report(folder)
    entry = verify(folder)["files"]["report.html"]
    assert entry["sha256"] == hashlib.sha256((folder / "report.html").read_bytes()).hexdigest()
    (folder / "report.html").write_text("edited")
    with pytest.raises(credsim.CorruptRunError, match="report.html"):
        verify(folder)
    build_report(folder)  # rebuilding the report rewrites its entry
    assert verify(folder)["files"]["report.html"] == entry
    build_report(folder, tmp_path / "elsewhere.html")  # a copy elsewhere is not the run's
    assert set(verify(folder)["files"]) == {"report.html", *json.loads((folder / "manifest.json").read_text())["files"]}
    assert not list(folder.glob(".*"))


def test_a_failed_report_write_leaves_no_claim_in_the_manifest(run_dir, tmp_path, monkeypatch):
    from credsim.results import outputs
    from credsim.results.manifest import verify

    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    build_report(folder)
    old_report = (folder / "report.html").read_bytes()

    real = outputs.os.replace

    def disk_full(source, target):
        if str(target).endswith("report.html"):
            raise OSError(28, "No space left on device")
        return real(source, target)

    monkeypatch.setattr(outputs.os, "replace", disk_full)
    with pytest.raises(credsim.CredsimError, match="No space left on device"):
        build_report(folder)
    assert "report.html" not in verify(folder)["files"]  # not claimed while it may be stale
    assert (folder / "report.html").read_bytes() == old_report and not list(folder.glob(".*"))


def test_a_report_is_never_written_over_a_run_file(cli, run_dir, other_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    before = _listing(folder)
    for name in ("daily.parquet", "summary.json", "manifest.json", "scenario.toml"):
        for args in ([folder], [folder, other_dir]):
            result = cli("report", *args, "--out", folder / name)
            assert result.exit_code == 2 and "listed in its manifest.json" in " ".join(result.output.split()), result.output
    result = cli("report", other_dir, "--out", folder / "report.html")  # another run's report is not this one's
    assert result.exit_code == 2, result.output
    assert _listing(folder) == before


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # keeps `report` a subcommand, as in the real app
        """credsim"""

    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_command_rebuilds_and_compares(cli, run_dir, other_dir, tmp_path):
    (run_dir / "report.html").unlink()
    result = cli("report", run_dir)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and (run_dir / "report.html").is_file()
    result = cli("report", run_dir, other_dir, "--out", tmp_path / "c.html")
    assert result.exit_code == 0, result.output
    assert set(figures_of((tmp_path / "c.html").read_text(encoding="utf-8"))) == CHARTS


def test_command_errors_exit_2(cli, tmp_path):
    result = cli("report", tmp_path / "nowhere")
    assert result.exit_code == 2 and "error:" in result.output and "no such folder" in result.output
    result = cli("report", tmp_path)
    assert result.exit_code == 2 and "summary.json missing" in result.output
    result = cli("report", tmp_path, tmp_path, tmp_path)
    assert result.exit_code == 2 and "one run folder, or two" in result.output


def test_public_api():
    assert credsim.report.__all__ == sorted(["ReportError", "build_comparison", "build_report"])


def test_an_axis_with_nothing_on_it_starts_at_zero(tmp_path):
    """A chart whose series are all 0 (nobody listed yet) is drawn from 0 to 1, not from -1 to
    1 (-100% to 100% on a share axis); a chart with data keeps plotly's own range."""
    from credsim.report.build import draw_charts
    from credsim.report.data import load_run

    quiet = credsim.write_run(credsim.simulate(credsim.load_scenario("city", ["population.size=2000", "population.days=20"]), 1), tmp_path / "quiet")
    charts = {chart.key: chart for chart in draw_charts([load_run(quiet)])}
    assert charts["listed"].figure["layout"]["yaxis"]["range"] == [0, 1]
    assert all(v == 0 for trace in charts["listed"].figure["data"] for v in trace["y"] if v is not None)
    assert "range" not in charts["cameras"].figure["layout"]["yaxis"]  # camera intensity is never 0


# ------------------------------------------------------------------- the first hour (issue 16)


def test_bundle_matches_the_pinned_plotly_and_draws_every_trace_type(page, run_dir, other_dir, tmp_path):
    """The vendored partial bundle is the plotly.js of the installed (pinned) plotly package,
    and every trace of a report and of a comparison is of a type the bundle contains."""
    python_js = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", get_plotlyjs()[:400]).group(1)
    bundle = plotly_js()
    assert re.search(r"plotly\.js \(basic - minified\) v(\d+\.\d+\.\d+)", bundle[:400]).group(1) == python_js == VERSION
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"plotly=={plotly.__version__}"' in pyproject
    assert "</script" not in bundle.lower() and "<!--" not in bundle  # cannot end its <script> element early
    comparison = build_comparison(run_dir, other_dir, tmp_path / "c.html").read_text(encoding="utf-8")
    used = {t.get("type", "scatter") for text in (page, comparison) for f in figures_of(text).values() for t in f["data"]}
    assert used and used <= TRACE_TYPES, used - TRACE_TYPES


def test_headline_is_static_html_before_any_script(page):
    """The headline and tables read before plotly.js runs: no script before the headline, and
    plotly.js is inert text (type text/plain) loaded by the last script after the first paint."""
    first_script = page.index("<script")
    assert page.index('<section id="headline">') < first_script
    assert page.index("<head>") < page.index("</head>") < first_script
    assert re.search(r'<script type="text/plain" id="plotly-js">', page)
    executable = re.findall(r"<script(?![^>]*type=\"(?:text/plain|application/json)\")[^>]*>", page)
    assert len(executable) == 1 and page.rindex("<script") == page.index(executable[0])
    assert "requestAnimationFrame" in page[page.rindex("<script"):]


def test_no_control_can_send_the_chart_away(page):
    render = page[page.rindex("<script"):]
    for setting in ("showSendToCloud: false", "showLink: false", "plotlyServerURL: ''", "'sendChartToCloud'"):
        assert setting in render
    assert re.search(r'data-file="credsim-small-city-listed"', page)  # the PNG is named after the chart
    assert page.count('class="csv"') == len(CHARTS)


def test_lead_is_the_largest_finding_and_the_censoring_caveat_is_said_once(page, summary):
    headline = html.unescape(re.search(r'<section id="headline">(.*?)</section>', page, re.S).group(1))
    lead = re.search(r'<ul class="lead">(.*?)</ul>', headline, re.S).group(1)
    first = re.search(r"<li>(.*?)</li>", lead).group(1)
    ratio = summary["by_group"]["minority"]["ever_listed"] / summary["by_group"]["majority"]["ever_listed"]
    assert ratio >= 1.25
    assert first.startswith(f"The minority group was listed {ratio:.2f} times as often as the majority group")
    assert headline.count("censored") == 1
    assert headline.count("too short to say") == 1


def test_comparison_headline_says_what_changed_in_points(run_dir, other_dir, tmp_path):
    text = html.unescape(build_comparison(run_dir, other_dir, tmp_path / "c.html").read_text(encoding="utf-8"))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (run_dir, other_dir))
    headline = re.search(r'<section id="headline">(.*?)</section>', text, re.S).group(1)
    assert "What changed from small-city to small-reform" in headline
    change = 100 * (b["by_group"]["minority"]["ever_listed"] - a["by_group"]["minority"]["ever_listed"])
    assert f"Ever listed, the minority group: {percent(a['by_group']['minority']['ever_listed'])} in small-city, " \
           f"{percent(b['by_group']['minority']['ever_listed'])} in small-reform ({'+' if change > 0 else '−'}{abs(change):.2f} pp)" in headline
    side = re.search(r'<section id="summary">(.*?)</section>', text, re.S).group(1)
    assert re.search(r"minority: ever listed</th><td>[\d.]+%</td><td>[\d.]+%</td><td>[+-][\d.]+ pp</td>", side)


def test_comparison_runs_can_be_told_apart(run_dir, other_dir, tmp_path):
    figures = figures_of(build_comparison(run_dir, other_dir, tmp_path / "c.html").read_text(encoding="utf-8"))
    spans = [t for t in figures["score-days"]["data"] if not t["name"].endswith("median")]
    styles = {(t["name"].split(":")[0], t["marker"]["pattern"]["shape"], t["marker"]["opacity"]) for t in spans}
    assert {(name, shape) for name, shape, _ in styles} == {("small-city", ""), ("small-reform", "/")}
    gaps = [t for t in figures["income"]["data"] if t["type"] == "bar"]
    assert [t["name"] for t in gaps] == ["small-city", "small-reform"] and all(t["showlegend"] for t in gaps)
    assert [t["marker"]["pattern"]["shape"] for t in gaps] == ["", "/"]


def test_palettes_are_colour_blind_safe_and_regions_named(figures):
    viridis = set(GRADE_COLORS)
    assert set(REGION_COLORS) <= set(OKABE_ITO) and set(CLASS_COLORS.values()) <= set(OKABE_ITO) | {"#999999"}
    grade_colours = {t["line"]["color"] for t in figures["grades"]["data"]}
    assert grade_colours <= viridis and len(viridis) == 9
    names = [t["name"] for t in figures["cameras"]["data"]]
    assert "region 7 (53% minority)" in names  # city: 0.1 x 0.40 / (0.1 x 0.40 + 0.9 x 0.04) of region 7


def test_a_one_day_run_says_no_data_and_one_day(tmp_path):
    folder = credsim.write_run(credsim.simulate(credsim.load_scenario("city", ["population.size=500", "population.days=1"]), 1),
                               tmp_path / "one-day")
    text = build_report(folder).read_text(encoding="utf-8")
    assert "1 days" not in text and "over 1 day," in text
    survival = figures_of(text)["survival"]
    assert not survival["data"]
    assert [a["text"] for a in survival["layout"]["annotations"] if a["text"] == "no data"] == ["no data", "no data"]
    listed = figures_of(text)["listed"]["data"][0]
    assert listed["mode"] == "lines+markers"  # one point, drawn


def test_numbers_never_read_minus_zero():
    assert number(-0.0001, "ratio") == "0.000" and number(-0.00001, "pct") == "0.00%"
    assert number(-0.00001, "pp") == "0.00 pp" and number(0.0123, "pp") == "+1.23 pp"
    assert number(-0.02, "num") == "-0.02" and number(123456.0) == "123,456"
    assert percent(-0.00001) == "0%"


def test_a_year_long_report_is_under_2_mb(tmp_path):
    """The default run is a year of the city (1,000,000 people: 1.73 MB, see the slow test);
    the page's size hardly depends on the number of people (daily series, one survival step
    per distinct duration), so a year of 20,000 stands in for it with a margin."""
    folder = credsim.write_run(credsim.simulate(credsim.load_scenario("city", ["population.size=20000"]), 0), tmp_path / "year")
    assert build_report(folder).stat().st_size < 1_900_000


@pytest.mark.slow
def test_the_default_runs_report_is_under_2_mb(credsim_cli, tmp_path):
    done = credsim_cli("run", "--quiet", "--out", tmp_path / "default", timeout=1800)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "default" / "report.html").stat().st_size < 2_000_000


def test_a_run_compared_with_itself(cli, run_dir, tmp_path):
    """Found by the fuzzing of output paths: `credsim report A A` ended in a traceback (two
    RunData of one folder compared their arrays with ==)."""
    result = cli("report", run_dir, run_dir, "--out", tmp_path / "same.html")
    assert result.exit_code == 0, result.output
    assert "small-city (A)" in (tmp_path / "same.html").read_text(encoding="utf-8")


def test_the_comparison_report_draws_a_saved_decomposition(tmp_path):
    """The "What made the difference" section comes from decomposition.json beside the two end
    runs (as credsim compare --decompose saves it): intervals shown with replicates, metrics
    undefined somewhere named, not attributed; another folder's file is not used."""
    import json

    from credsim.report.decomposition import decomposition_section, find_decomposition

    data = {
        "a": "beijing-2020", "b": "reform", "runs": ["a", "b"], "by": "mechanism", "method": "exact", "permutations": None,
        "coalitions_run": 4, "seeds": [0, 1, 2], "population": 5000, "days": 90,
        "changes": [{"name": "appeal", "fields": [{"field": "appeal.capacity_per_million", "a": 1, "b": 100}]},
                    {"name": "forgiveness", "fields": [{"field": "score.forgiveness", "a": 0.002, "b": 0.005}]}],
        "metrics": [
            {"group": "overall", "metric": "wrongful_share", "a": 0.13, "b": 0.04, "total": -0.09, "total_interval": [-0.1, -0.08],
             "contributions": {"appeal": {"contribution": -0.08, "interval": [-0.09, -0.07]},
                               "forgiveness": {"contribution": -0.01, "interval": [-0.02, 0.0]}}, "undefined_in": []},
            {"group": "overall", "metric": "median_days_listed", "a": None, "b": None, "total": None, "total_interval": None,
             "contributions": None, "undefined_in": ["A", "A + appeal", "A + forgiveness", "B"]},
        ],
    }
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "decomposition.json").write_text(json.dumps(data))
    assert find_decomposition(tmp_path / "a", tmp_path / "b") == data
    assert find_decomposition(tmp_path / "b", tmp_path / "a") is None  # the ends the other way round
    html = decomposition_section(data)
    assert 'id="decomposition"' in html and "appeal.capacity_per_million" in html
    assert "-0.08 [-0.09, -0.07]" in html  # the contribution with its interval
    assert "overall: median_days_listed" in html and "undefined in every combination" in html
    assert html.count("undefined") >= 3  # one cell per change, and the note
    (tmp_path / "decomposition.json").write_text("{not json")
    with pytest.raises(ReportError, match="decomposition"):
        find_decomposition(tmp_path / "a", tmp_path / "b")


def test_the_decomposition_section_reads_at_390_px_and_on_a_desktop_in_chromium(tmp_path):
    """A comparison report with a decomposition, as credsim compare --decompose writes it, in
    headless Chromium: the section is there, no console error, and its wide table scrolls in
    its own box instead of widening the page."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no /usr/bin/chromium")
    from credsim.decompose import decompose

    a, b = (credsim.load_scenario(n, ["population.size=600", "population.days=10"]) for n in ("beijing-2020", "reform"))
    result = decompose(a, b, 0)
    credsim.write_run(result.ends[0], tmp_path / "a")
    credsim.write_run(result.ends[1], tmp_path / "b")
    (tmp_path / "decomposition.json").write_text(json.dumps(result.to_dict()))
    page_path = build_comparison(tmp_path / "a", tmp_path / "b", tmp_path / "report.html")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            for width in (390, 1400):
                page = browser.new_page(viewport={"width": width, "height": 900})
                problems = []
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.on("console", lambda message: message.type == "error" and problems.append(message.text))
                page.goto(page_path.resolve().as_uri())
                section = page.locator("#decomposition")
                assert section.is_visible() and "What made the difference" in section.inner_text()
                assert "protected-penalties" in section.inner_text()
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, (width, overflow)
                assert not problems, problems
                page.close()
        finally:
            browser.close()
