"""Comparing two runs: the table, the CSV, and the command."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

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
