"""Comparing two runs: the table, the CSV, and the command."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

import credsim
from credsim.compare import METRICS, compare_summaries, to_csv

CREDSIM = str(Path(sys.executable).parent / "credsim")


def _summary(name: str, seed: int = 2) -> dict:
    scenario = credsim.load_scenario(name, ["population.size=4000", "population.days=60"])
    return credsim.simulate(scenario, seed).summary


def test_rows_cover_every_group_and_metric_with_the_difference():
    a, b = _summary("beijing-2020"), _summary("reform")
    rows = compare_summaries(a, b)
    groups = {row["group"] for row in rows}
    assert groups == {"overall", *a["by_group"]}
    for row in rows:
        left = a["overall"] if row["group"] == "overall" else a["by_group"][row["group"]]
        right = b["overall"] if row["group"] == "overall" else b["by_group"][row["group"]]
        assert row["a"] == left[row["metric"]] and row["b"] == right[row["metric"]]
        if row["a"] is not None and row["b"] is not None:
            assert row["difference"] == row["b"] - row["a"]
        else:
            assert row["difference"] is None
    assert {row["metric"] for row in rows if row["group"] == "majority"} == set(METRICS)


def test_groups_in_only_one_run_are_shown_with_blanks():
    rows = compare_summaries(_summary("city"), _summary("court-blacklist"))
    adults = [row for row in rows if row["group"] == "adults"]
    assert adults and all(row["a"] is None and row["difference"] is None for row in adults)


def test_csv_round_trips():
    rows = compare_summaries(_summary("city", 1), _summary("city", 2))
    parsed = list(csv.reader(to_csv(rows, "A", "B").splitlines()))
    assert parsed[0] == ["group", "metric", "A", "B", "difference"]
    assert len(parsed) == len(rows) + 1


def test_compare_command_on_run_folders_and_on_scenario_names(tmp_path):
    for seed in (1, 2):
        done = subprocess.run([CREDSIM, "run", "city", "-n", "3000", "-d", "30", "-s", str(seed), "-q", "-o", str(tmp_path / f"r{seed}")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    out = tmp_path / "c.csv"
    done = subprocess.run([CREDSIM, "compare", str(tmp_path / "r1"), str(tmp_path / "r2"), "--csv", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ever_listed" in done.stdout and out.read_text().startswith("group,metric,r1,r2,difference")
    done = subprocess.run([CREDSIM, "compare", "beijing-2020", "reform", "-n", "3000", "-d", "30", "--csv", str(tmp_path / "d.csv")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "unjust_share" in done.stdout


def test_compare_refuses_a_folder_that_is_not_a_run(tmp_path):
    done = subprocess.run([CREDSIM, "compare", str(tmp_path), "city"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "summary.json" in done.stderr and "Traceback" not in done.stderr


def test_experiments_are_compared_by_parameter_set_and_outcome():
    import pandas as pd

    from credsim.compare import compare_experiments

    columns = ["set_index", "appeal.capacity_per_million", "outcome", "runs", "n", "mean", "std", "ci_low", "ci_high"]
    a = pd.DataFrame([[0, 2.0, "overall.ever_listed", 3, 3, 0.10, 0.01, 0.08, 0.12], [1, 20.0, "overall.ever_listed", 3, 3, 0.05, 0.01, 0.03, 0.07]], columns=columns)
    b = pd.DataFrame([[0, 20.0, "overall.ever_listed", 3, 3, 0.04, 0.01, 0.02, 0.06], [1, 50.0, "overall.ever_listed", 3, 2, 0.01, float("nan"), float("nan"), float("nan")]], columns=columns)
    rows = {(r["parameters"], r["outcome"]): r for r in compare_experiments(a, b)}
    matched = rows[("appeal.capacity_per_million=20.0", "overall.ever_listed")]
    assert matched["mean_a"] == 0.05 and matched["mean_b"] == 0.04
    assert abs(matched["difference"] - (-0.01)) < 1e-12
    assert matched["ci_a"] == (0.03, 0.07)
    only_a = rows[("appeal.capacity_per_million=2.0", "overall.ever_listed")]
    assert only_a["mean_b"] is None and only_a["difference"] is None
    only_b = rows[("appeal.capacity_per_million=50.0", "overall.ever_listed")]
    assert only_b["ci_b"] == (None, None) and only_b["mean_a"] is None


def test_compare_refuses_an_experiment_against_a_run(tmp_path):
    (tmp_path / "exp" / "catalog").mkdir(parents=True)
    done = subprocess.run([CREDSIM, "compare", str(tmp_path / "exp"), "city"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "two experiment folders" in done.stderr


# --------------------------------------------------------------------------- --decompose


def _decomposition_csv(path: Path) -> dict:
    """{(group, metric): {change: contribution or None}} from a decomposition CSV."""
    out: dict = {}
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["group", "metric", "change", "contribution", "ci_low", "ci_high", "note"]
    for row in rows:
        out.setdefault((row["group"], row["metric"]), {})[row["change"]] = float(row["contribution"]) if row["contribution"] else None
    return out


def test_decompose_command_attributes_every_metric_and_saves_what_the_report_draws(tmp_path):
    """The issue's done-when, at a smaller size: at least three changes, and each metric's
    contributions add up to its total row, which is B - A of the two end runs saved beside."""
    import json

    out_dir, table = tmp_path / "cmp", tmp_path / "d.csv"
    done = subprocess.run([CREDSIM, "compare", "beijing-2020", "reform", "--decompose", "--csv", str(table), "-o", str(out_dir),
                           "-n", "2000", "-d", "60"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "exact" in done.stdout and "16 combinations" in done.stdout
    rows = _decomposition_csv(table)
    changes = {c for values in rows.values() for c in values} - {"total"}
    assert changes == {"forgiveness", "protected-penalties", "notice-and-objection", "appeal"}
    a = json.loads((out_dir / "a" / "summary.json").read_text())
    b = json.loads((out_dir / "b" / "summary.json").read_text())
    attributed = 0
    for (group, metric), values in rows.items():
        left = a["overall"] if group == "overall" else a["by_group"][group]
        right = b["overall"] if group == "overall" else b["by_group"][group]
        if left[metric] is None or right[metric] is None:
            assert values["total"] is None
            continue
        assert abs(values["total"] - (right[metric] - left[metric])) < 1e-12
        if all(v is not None for v in values.values()):
            assert abs(sum(v for c, v in values.items() if c != "total") - values["total"]) < 1e-9, (group, metric)
            attributed += 1
    assert attributed >= 20
    assert (out_dir / "decomposition.csv").read_text() == table.read_text()
    saved = json.loads((out_dir / "decomposition.json").read_text())
    assert saved["method"] == "exact" and saved["runs"] == ["a", "b"] and len(saved["changes"]) == 4
    page = (out_dir / "report.html").read_text()
    assert 'id="decomposition"' in page and "notice-and-objection" in page
    # credsim report on the two end runs draws the same saved decomposition
    again = tmp_path / "again.html"
    done = subprocess.run([CREDSIM, "report", str(out_dir / "a"), str(out_dir / "b"), "-o", str(again)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'id="decomposition"' in again.read_text()


def test_decompose_reruns_a_run_folder_from_its_scenario_and_says_so(tmp_path):
    done = subprocess.run([CREDSIM, "run", "reform", "-n", "1000", "-d", "30", "-s", "5", "-q", "-o", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results, notes = [], []
    for a in (str(tmp_path / "r"), "reform"):
        table = tmp_path / f"{len(results)}.csv"
        done = subprocess.run([CREDSIM, "compare", a, "reform-plus", "--decompose", "-n", "1000", "-d", "30", "-s", "3",
                               "--csv", str(table), "-o", str(tmp_path / f"o{len(results)}")], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results.append(_decomposition_csv(table))
        notes.append(" ".join(done.stderr.split()))
    assert "is a run folder: its scenario.toml is run again here" in notes[0] and "run folder" not in notes[1]
    assert results[0] == results[1], "a run folder is its scenario, re-run at the size, days and seed given"


def test_decompose_names_the_changes_that_cannot_be_separated():
    done = subprocess.run([CREDSIM, "compare", "city", "beijing-2020", "--decompose", "--by", "field", "-n", "500", "-d", "5"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "population.groups.majority.share" in message and "population.groups.minority.share" in message
    assert "conflict" in message


def test_a_metric_undefined_in_some_combination_is_reported_not_guessed():
    from credsim.decompose import decompose

    a, b = (credsim.load_scenario(n, ["population.size=1500", "population.days=30"]) for n in ("reform", "reform-plus"))
    result = decompose(a, b, 0)
    median = next(r for r in result.rows if (r.group, r.metric) == ("overall", "median_days_listed"))
    assert median.contributions is None and median.undefined_in  # nobody leaves the list in 30 days
    assert any(r.contributions is not None for r in result.rows)


def test_association_contributes_nothing_between_reform_and_reform_plus():
    """The issue: switching guilt by association off changes nothing. With three seeds (common
    to every combination), its share of every attributed metric is zero within its 95%
    interval; the interval is a t-interval over seeds, so a real zero falls outside it about 5%
    of the time per metric -- here it is exactly zero in every seed, so it cannot."""
    from credsim.decompose import decompose

    a, b = (credsim.load_scenario(n, ["population.size=2000", "population.days=90"]) for n in ("reform", "reform-plus"))
    _assert_association_is_within_noise_of_zero(decompose(a, b, 1, replicates=3))


def _assert_association_is_within_noise_of_zero(result) -> None:
    k = [c.name for c in result.changes].index("association")
    checked = 0
    for row in result.rows:
        if row.contributions is None:
            continue
        low, high = row.intervals[k]
        assert low <= 0 <= high, (row.group, row.metric, row.intervals[k])
        checked += 1
    assert checked >= 20


@pytest.mark.slow
def test_association_is_zero_where_the_term_and_opacity_are_not():
    """The same at 20,000 people over 500 days, where the decomposition has the power to see
    the other two changes: the one-year term lowers the share listed at the end, with an
    interval clear of zero (3 seeds), while association's share stays within noise of zero."""
    from credsim.decompose import decompose

    a, b = (credsim.load_scenario(n, ["population.size=20000", "population.days=500"]) for n in ("reform", "reform-plus"))
    result = decompose(a, b, 1, replicates=3)
    _assert_association_is_within_noise_of_zero(result)
    listed = next(r for r in result.rows if (r.group, r.metric) == ("overall", "listed_rate"))
    k = [c.name for c in result.changes].index("listing-term")
    assert listed.intervals[k][1] < 0, listed.intervals


def test_more_than_eight_changes_are_sampled_and_still_add_up():
    from credsim.decompose import decompose

    a, b = (credsim.load_scenario(n, ["population.size=500", "population.days=5"]) for n in ("city", "baseline"))
    result = decompose(a, b, 0, by="field", permutations=2)
    assert len(result.changes) > 8 and result.method == "sampled" and result.permutations == 2
    for row in result.rows:
        if row.contributions is not None:
            assert abs(sum(row.contributions) - row.total) < 1e-9


def test_the_documented_map_is_the_code_s():
    """docs/scenarios.md's table of changes lists the mechanisms of credsim.decompose.MECHANISMS,
    in the same order (the order in which the first match is taken)."""
    import re

    from credsim.decompose import MECHANISMS

    text = (Path(__file__).resolve().parents[1] / "docs" / "scenarios.md").read_text(encoding="utf-8")
    section = text[text.index("**The map from fields to mechanisms**"):text.index("**Reading a share.**")]
    documented = re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M)
    assert documented == [name for name, _, _ in MECHANISMS]


def test_a_missing_run_folder_is_named_as_such(tmp_path):
    """`compare runs/a runs/typo` says the folder does not exist, not "invalid scenario"."""
    (tmp_path / "a").mkdir()
    done = subprocess.run([CREDSIM, "compare", str(tmp_path / "a"), str(tmp_path / "typo")], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert f"{tmp_path / 'typo'}: no such run folder" in message and "invalid scenario" not in message
    assert not list(tmp_path.glob("compare-*.csv"))


def test_an_error_names_the_overrides_given_not_set(tmp_path):
    """-n alone: the error names population.size, never "(with --set)"."""
    done = subprocess.run([CREDSIM, "compare", "city", "reform", "-n", "5000000000"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    message = " ".join(done.stderr.split())
    assert done.returncode == 2 and "(with population.size=5000000000)" in message and "--set" not in message
