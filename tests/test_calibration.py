"""The calibration: its fitting routine recovers known parameters; the command runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import credsim
from credsim.calibration import Target, court_targets, cumulative_by_day, fit

CREDSIM = str(Path(sys.executable).parent / "credsim")


def test_fit_recovers_parameters_of_a_known_model():
    # A toy "simulator" whose outputs are known functions of two parameters.
    def toy(scenario, seed):
        rate = scenario.behaviours["debt_default"].rate["adults"]
        purchase = scenario.sanctions.travel_ban.purchase_rate
        return SimpleNamespace(a=3.0 * rate**0.9, b=purchase * 7.0)

    truth = {"rate": 2e-5, "purchase": 0.004}
    targets = [
        Target("a", 3.0 * truth["rate"] ** 0.9, "behaviours.debt_default.rate.adults", lambda r: r.a, "toy"),
        Target("b", truth["purchase"] * 7.0, "sanctions.travel_ban.purchase_rate", lambda r: r.b, "toy"),
    ]
    base = credsim.load_scenario("court-blacklist", ["population.size=1000"])
    result = fit(base, targets, iterations=30, tolerance=1e-9, run=toy)
    assert result.converged
    best = result.best.parameters
    assert best["behaviours.debt_default.rate.adults"] == pytest.approx(truth["rate"], rel=1e-6)
    assert best["sanctions.travel_ban.purchase_rate"] == pytest.approx(truth["purchase"], rel=1e-6)


def test_fit_recovers_the_default_rate_from_simulated_outputs():
    """Generate outputs with a known default rate, then fit from twice that rate."""
    known = 2e-5
    overrides = ["population.size=30000", "population.days=400", f"behaviours.debt_default.rate.adults={known}"]
    truth_scenario = credsim.load_scenario("court-blacklist", overrides)
    truth = credsim.simulate(truth_scenario, seed=5)
    ever = cumulative_by_day(truth)["ever_listed"][-1]
    assert ever > 100  # enough listings that the fit has something to match
    per_adult = ever / 30000
    target = Target("ever listed per adult", per_adult, "behaviours.debt_default.rate.adults", court_targets()[0].measure, "synthetic")
    start = truth_scenario.model_copy(deep=True)
    start = credsim.scenario.with_overrides(start, {"behaviours.debt_default.rate.adults": 2 * known})
    result = fit(start, [target], seed=5, iterations=8, tolerance=0.5 / ever)
    recovered = result.best.parameters["behaviours.debt_default.rate.adults"]
    # Same seed: the count is a step function of the rate; one listing either way is
    # about 1/ever in relative terms, and the rate-count slope is a little below 1.
    assert recovered == pytest.approx(known, rel=3.0 / ever**0.5)


def test_court_targets_come_from_the_published_figures():
    names = {t.name: t.value for t in court_targets(adults=1.1e9)}
    assert names["people ever listed per adult"] == pytest.approx(14.5e6 / 1.1e9)
    assert names["blocked purchases (flight) per person ever listed"] == pytest.approx(27.3 / 14.5)
    assert names["rail share of blocked purchases"] == pytest.approx(6.0 / 33.3)


def test_calibrate_command_runs_and_writes_its_table(tmp_path):
    done = subprocess.run(
        [CREDSIM, "calibrate", "court-blacklist", "--population", "5000", "--iterations", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "calibration.json").read_text())
    assert record["population"] == 5000 and len(record["iterations"]) <= 2
    assert {row["target"] for row in record["targets"]} == {t.name for t in court_targets()}
    assert (tmp_path / "calibration.csv").read_text().startswith("target,")
    assert "2019-07-11" in done.stdout
    # both tables are of the best run (issue 16: the per-date table showed the last run)
    best = record["best_run"]
    text = " ".join(done.stdout.split())
    assert f"the best run, run {best} of {len(record['iterations'])}" in text
    assert f"the same run (run {best}) against every published date" in text
    listed = next(r for r in record["targets"] if r["target"] == "people ever listed per adult")
    last_date = [r for r in record["history"] if r["figure"] == "people listed"][-1]
    if last_date["date"] == "2019-07-11":  # the target's own date: the same run gives the same error
        assert last_date["relative_error"] == pytest.approx(listed["relative_error"], rel=1e-9)
    for row in record["targets"]:  # parameter names whole, on a line of their own
        assert re.search(rf"^  {re.escape(row['parameter'])} = ", done.stdout, re.M), done.stdout


def test_calibrate_refuses_a_scenario_without_targets():
    done = subprocess.run([CREDSIM, "calibrate", "city"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no published targets" in done.stderr and "Traceback" not in done.stderr
