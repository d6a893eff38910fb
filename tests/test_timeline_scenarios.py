"""The built-in scenarios with a timeline, and the issue's done-when check: a scenario that
extends beijing-2020 and sets appeal.capacity_per_million = 5000 at day 200 empties its
appeal queue after day 200; its scenario.toml repeats the run byte for byte; a run killed
after the change resumes to identical outputs. The default run checks it at 3,000 people;
the slow test at 100,000, through the command line, with a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import credsim
from credsim.results.write import write_run
from credsim.scenario import load_scenario, timeline

from conftest import CREDSIM

RULES = ("behaviours", "observation", "score", "listing", "appeal", "sanctions", "adaptation", "surveillance")


def _rules(scenario) -> dict:
    return {name: getattr(scenario, name).model_dump() if name != "behaviours" else scenario.model_dump()["behaviours"] for name in RULES}


def test_late_reform_runs_beijing_then_reform():
    late = load_scenario("late-reform")
    [(change, after)] = timeline.regimes(late)
    assert change.day == 730 and late.population.days == 1460 and not change.open
    assert _rules(late) == _rules(load_scenario("beijing-2020"))
    assert _rules(after) == _rules(load_scenario("reform"))


def test_surveillance_buildup_covers_one_region_after_another():
    scenario = load_scenario("surveillance-buildup")
    assert not scenario.surveillance.adaptive and scenario.surveillance.intensity == [0.1] * 8
    full_from = {}
    for change, rules in timeline.regimes(scenario):
        for region, value in enumerate(rules.surveillance.intensity):
            if value == 1.0:
                full_from.setdefault(region, change.day)
    assert full_from == {r: 90 * r + 60 for r in range(8)}


def test_court_list_history_follows_the_published_growth():
    """The file's enforcement per period is each period's published new listings per
    adult-day over the highest period's (figures of docs/validation.md)."""
    scenario = load_scenario("court-list-history")
    start = date(2013, 10, 1)
    published = [(date(2017, 2, 14), 6.73e6), (date(2017, 12, 31), 9.59e6), (date(2018, 12, 31), 13.0e6), (date(2019, 7, 11), 14.5e6)]
    days = [(d - start).days for d, _ in published]
    counts = [v for _, v in published]
    rates = np.diff([0.0, *counts]) / 1.1e9 / np.diff([0, *days])
    share = rates / rates.max()
    debt = scenario.behaviours["debt_default"]
    assert debt.rate["adults"] == pytest.approx(rates.max(), rel=1e-3)
    regimes = timeline.regimes(scenario)
    assert [c.day for c, _ in regimes] == days[:3]
    enforcement = [debt.p_records] + [s.behaviours["debt_default"].p_records for _, s in regimes]
    assert enforcement == pytest.approx(share, abs=1e-4)
    assert scenario.population.days == days[-1] + 1


def _done_when_file(folder: Path, size: int) -> Path:
    path = folder / "capacity.toml"
    path.write_text(
        '[meta]\nname = "capacity-at-200"\nextends = "beijing-2020"\n\n'
        f"[population]\nsize = {size}\ndays = 300\n\n"
        '[[timeline]]\nday = 200\nset = { "appeal.capacity_per_million" = 5000.0 }\n',
        encoding="utf-8",
    )
    return path


def _pending(run) -> np.ndarray:
    return run.daily["pending_cases"].to_numpy().reshape(300, -1).sum(axis=1)


def _collapses(pending: np.ndarray) -> None:
    assert pending[150:200].min() > 0  # a queue before the change...
    assert pending[201:].max() <= 0.1 * pending[150:200].mean()  # ...gone after it


def test_done_when_small(tmp_path):
    # Busier than beijing-2020 (more objections and appeals), so that 3,000 people build a queue
    scenario = load_scenario(_done_when_file(tmp_path, 3000), ["listing.objection.p_rightful=0.5", "appeal.daily_rate=0.01"])
    first = credsim.simulate(scenario, 0)
    _collapses(_pending(first))
    out = write_run(first, tmp_path / "first")
    again = write_run(credsim.simulate(load_scenario(out / "scenario.toml"), 0), tmp_path / "again")
    for name in ("daily.parquet", "regions.parquet", "episodes.parquet", "summary.json", "scenario.toml"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    live = tmp_path / "live"
    credsim.simulate(scenario, 0, checkpoint_dir=live, checkpoint_every=250)  # saved after day 249, past the change
    resumed = write_run(credsim.resume(live), tmp_path / "resumed")
    for name in ("daily.parquet", "regions.parquet", "episodes.parquet", "summary.json"):
        assert (out / name).read_bytes() == (resumed / name).read_bytes(), name


def _cli(*args, timeout=3600):
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    return subprocess.run([str(CREDSIM), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_done_when_100000_people(tmp_path):
    """The issue's check as written: 100,000 people, 300 days, by the command line; killed with
    SIGKILL once its checkpoint is past day 200, resumed, and compared byte for byte."""
    path = _done_when_file(tmp_path, 100_000)
    done = _cli("run", path, "--seed", 1, "--out", tmp_path / "first", "-q")
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    pending = pq.read_table(tmp_path / "first" / "daily.parquet")["pending_cases"].to_numpy().reshape(300, -1).sum(axis=1)
    _collapses(pending)
    print(f"\npending cases, mean of days 150-199: {pending[150:200].mean():.1f}; max after day 200: {pending[201:].max()}")
    again = _cli("run", tmp_path / "first" / "scenario.toml", "--seed", 1, "--out", tmp_path / "again", "-q")
    assert again.returncode == 0, again.stderr
    killed = tmp_path / "killed"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [str(CREDSIM), "run", str(path), "--seed", "1", "--out", str(killed), "--checkpoint-every", "210", "-q"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    checkpoint = killed / ".checkpoint" / "checkpoint.npz"
    while not checkpoint.exists() and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists()
    resumed = _cli("run", "--resume", killed, "-q")
    assert resumed.returncode == 0, resumed.stderr
    for name in ("daily.parquet", "regions.parquet", "episodes.parquet", "summary.json", "scenario.toml"):
        first = (tmp_path / "first" / name).read_bytes()
        assert first == (tmp_path / "again" / name).read_bytes(), name
        assert first == (killed / name).read_bytes(), name
