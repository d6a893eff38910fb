"""The memory estimate that decides whether a run may start covers what a run really takes.

A run of 1,000,000 people is made in a fresh process, and its peak resident memory above
the baseline after imports (the peak counted from there: Linux's VmHWM, reset through
/proc/self/clear_refs) must not exceed
``credsim.resources.estimate_bytes``. At this size about 60 MB of the peak is fixed (the
compiled kernels being loaded), which the estimate does not count, so the check is
strict: the measured peak was 180 MB against 236 MB estimated, and arrays of more than
about 55 bytes a person added to the state or the world without updating the estimate
make it fail.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import credsim
from credsim.resources import estimate_bytes

PEOPLE, DAYS = 1_000_000, 20

SCRIPT = f"""
import json, resource
import numpy as np
import credsim
from credsim.engines import engine
from credsim.engines.reference.phases.record import Recorder
from credsim.world import build_world

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

scenario = credsim.load_scenario("city", ["population.size={PEOPLE}", "population.days={DAYS}", "engine.name=ENGINE"])
runner = engine(scenario.engine.name)
baseline = rss()
with open("/proc/self/clear_refs", "w") as f:  # the peak from here on, not the imports'
    f.write("5")
world = build_world(scenario, np.random.default_rng(0))
state, recorder = runner.initial_state(world), Recorder(world, {DAYS})
for day in range({DAYS}):
    runner.step(world, state, day, 0, recorder)
print(json.dumps({{"peak": peak() - baseline}}))
"""


@pytest.mark.parametrize("engine", ["reference", "event"])
def test_the_memory_estimate_covers_a_real_run(engine):
    # Twice: the first run may compile the Numba kernels (and compiling takes hundreds of MB
    # for a moment); the second loads them from the cache, as every later run does.
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", SCRIPT.replace("ENGINE", engine)], capture_output=True, text=True, check=True, timeout=600)
    peak = json.loads(done.stdout.strip().splitlines()[-1])["peak"]
    need = estimate_bytes(credsim.load_scenario("city", [f"population.size={PEOPLE}", f"population.days={DAYS}", f"engine.name={engine}"]))
    assert 0 < peak <= need, f"peak {peak / 1e6:.0f} MB above the baseline, estimate {need / 1e6:.0f} MB"


# ------------------------------------------------------------------ the limits a run meets

import errno
import os
import resource as rlimit
import types
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import credsim.cli
import credsim.resources as res
from credsim.errors import ResourceError
from credsim.resources import (
    PER_PERSON_EVENT, PER_PERSON_FIXED, PER_PERSON_STATE, checkpoint_bytes, estimate_disk_bytes, estimate_report_bytes,
)


def fake_proc(root: Path, cgroup_lines: str, meminfo_kib: int = 64 * 2**20) -> None:
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(f"MemTotal: {2 * meminfo_kib} kB\nMemAvailable: {meminfo_kib} kB\n")
    (root / "proc" / "self" / "cgroup").write_text(cgroup_lines)
    (root / "proc" / "self" / "statm").write_text("1000 500 0 0 0 0 0\n")


@pytest.fixture
def fake_system(tmp_path, monkeypatch):
    monkeypatch.setattr(res, "PROC", tmp_path / "proc")
    monkeypatch.setattr(res, "CGROUP_ROOT", tmp_path / "cgroup")
    return tmp_path


def test_a_cgroup_v2_limit_is_the_tightest_along_the_path(fake_system):
    fake_proc(fake_system, "0::/user.slice/job\n")
    job = fake_system / "cgroup" / "user.slice" / "job"
    job.mkdir(parents=True)
    (job / "memory.max").write_text("max\n")  # no limit here...
    (job.parent / "memory.max").write_text(f"{2**30}\n")  # ...but one above it
    (job.parent / "memory.current").write_text(f"{200 * 2**20}\n")
    assert res.cgroup_headroom() == 2**30 - 200 * 2**20
    limits = res.memory_limits()
    assert limits["the cgroup's memory limit"] == 824 * 2**20 and limits["available memory"] == 64 * 2**30
    assert res.available_bytes() == 824 * 2**20
    with pytest.raises(ResourceError, match=r"0\.8 GiB available \(the cgroup's memory limit\)"):
        res.check_memory(credsim.load_scenario("city", ["population.size=10000000"]))


def test_a_cgroup_v1_limit_counts_and_its_no_limit_does_not(fake_system):
    fake_proc(fake_system, "12:cpu,cpuacct:/docker/abc\n5:memory:/docker/abc\n")
    group = fake_system / "cgroup" / "memory" / "docker" / "abc"
    group.mkdir(parents=True)
    (group / "memory.limit_in_bytes").write_text(f"{512 * 2**20}\n")
    (group / "memory.usage_in_bytes").write_text(f"{100 * 2**20}\n")
    assert res.cgroup_headroom() == 412 * 2**20
    (group / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "unlimited"
    assert res.cgroup_headroom() is None


def test_the_address_space_limit_less_what_is_mapped(fake_system, monkeypatch):
    fake_proc(fake_system, "")
    monkeypatch.setattr(res.resource, "getrlimit", lambda which: (3 * 2**30, rlimit.RLIM_INFINITY))
    assert res.address_space_headroom() == 3 * 2**30 - 1000 * rlimit.getpagesize()
    assert min(res.memory_limits(), key=res.memory_limits().get) == "the address-space limit (ulimit -v)"


def test_a_dask_worker_s_memory_limit_counts(fake_system, monkeypatch):
    fake_proc(fake_system, "")
    worker = types.SimpleNamespace(memory_manager=types.SimpleNamespace(memory_limit=300 * 2**20))
    monkeypatch.setitem(sys.modules, "distributed", types.SimpleNamespace(get_worker=lambda: worker))
    assert res.dask_worker_headroom() == 300 * 2**20 - 500 * rlimit.getpagesize()
    with pytest.raises(ResourceError, match=r"GiB available \(the Dask worker's memory limit\)"):
        res.check_memory(credsim.load_scenario("city", ["population.size=2000000"]))

    def outside():
        raise ValueError("No worker found")

    monkeypatch.setitem(sys.modules, "distributed", types.SimpleNamespace(get_worker=outside))
    assert res.dask_worker_headroom() is None


ULIMIT_SCRIPT = """
import resource, sys
import credsim.cli
with open("/proc/self/statm") as f:
    mapped = int(f.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + {extra}, resource.RLIM_INFINITY))
sys.argv = ["credsim", "run", "city", "-n", "{people}", "-d", "3", "-q", "--checkpoint-every", "0", "--out", sys.argv[1]]
credsim.cli.main()
"""


def test_under_ulimit_v_a_run_too_large_is_refused_up_front(tmp_path):
    """The address-space limit is set in the process itself, after the imports (which map
    about a gigabyte of their own), 400 MiB above what is mapped then: a run estimated at
    about 0.6 GiB is refused before any work with the estimate, not a MemoryError traceback."""
    script = ULIMIT_SCRIPT.format(extra=400 * 2**20, people=3_000_000)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert "GiB available (the address-space limit (ulimit -v))" in " ".join(done.stderr.split())
    assert not (tmp_path / "out").exists()


def test_a_memory_error_that_still_happens_is_one_clear_line(tmp_path, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(credsim.cli, "simulate", exhausted)
    result = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "500", "-d", "2", "-q", "--checkpoint-every", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "ran out of memory" in result.output and "estimated at" in result.output


EVENTS_SCRIPT = SCRIPT.replace(
    f'scenario = credsim.load_scenario("city", ["population.size={PEOPLE}", "population.days={DAYS}", "engine.name=ENGINE"])',
    "base = credsim.load_scenario('city')\n"
    "ones = ['behaviours.%s.rate.%s=1' % (b, g) for b, x in base.behaviours.items() for g in x.rate]\n"
    "credsim.simulate(credsim.load_scenario('city', ['population.size=2000', 'population.days=2', *ones]), 0)\n"
    "scenario = credsim.load_scenario('city', ['population.size=200000', 'population.days=3', *ones])",
).replace(f"range({DAYS})", "range(3)").replace(f"Recorder(world, {DAYS})", "Recorder(world, 3)")


def test_the_estimate_counts_the_event_volume():
    """Every rate at 1 (10 events a person-day in city): at 200,000 people the peak was 155
    MiB against 101 estimated before events were counted; now events count EVENT_BYTES each."""
    people, days = 200_000, 3
    assert "population.size=200000" in EVENTS_SCRIPT and "range(3)" in EVENTS_SCRIPT
    done = subprocess.run([sys.executable, "-c", EVENTS_SCRIPT], capture_output=True, text=True, check=True, timeout=600)
    peak = json.loads(done.stdout.strip().splitlines()[-1])["peak"]
    base = credsim.load_scenario("city")
    ones = [f"behaviours.{b}.rate.{g}=1" for b, x in base.behaviours.items() for g in x.rate]
    scenario = credsim.load_scenario("city", [f"population.size={people}", f"population.days={days}", *ones])
    need = estimate_bytes(scenario)
    assert res.expected_events_per_day(scenario) == 10 * people
    assert peak > 100 * 2**20, "every rate at 1 should cost far more than the people alone"
    assert peak <= need, f"peak {peak / 2**20:.0f} MiB, estimate {need / 2**20:.0f} MiB"


def test_the_per_person_terms_cover_every_per_person_array():
    """The arrays of the World (network included) and the State, per person, against the
    estimate's per-person terms: an array added without updating them fails here."""
    from credsim.state import initial_state
    from credsim.world import build_world

    people = 50_000
    scenario = credsim.load_scenario("city", [f"population.size={people}", "population.days=2"])
    world = build_world(scenario, np.random.default_rng(0))
    state = initial_state(world, fast=True)

    def per_person(obj) -> float:
        # the quantile panel is of fixed size (record.quantile_panel a group), not per person
        arrays = [v for k, v in vars(obj).items() if isinstance(v, np.ndarray) and v.size >= people // 2 and k != "panel"]
        return sum(a.nbytes for a in arrays) / people

    world_bytes = per_person(world) + per_person(world.network)
    allowed_world = PER_PERSON_FIXED + res.row_bytes(scenario) + 4 * scenario.population.contacts * 1.01 + len(scenario.behaviours)
    assert world_bytes <= allowed_world, (world_bytes, allowed_world)
    assert per_person(state) <= PER_PERSON_STATE, per_person(state)


def test_the_event_engines_state_is_counted_in_the_estimates():
    """The event engine's state, per person, against PER_PERSON_STATE + PER_PERSON_EVENT
    (its record's fields are views into one array: each byte counted once); and the memory
    and checkpoint estimates of a scenario that runs on it grow by exactly that term."""
    from credsim.engines.event.state import event_state
    from credsim.world import build_world

    people = 50_000
    scenario = credsim.load_scenario("city", [f"population.size={people}", "population.days=2", "engine.name=event"])
    state = event_state(build_world(scenario, np.random.default_rng(0)))
    arrays = [v for v in vars(state).values() if isinstance(v, np.ndarray) and v.size >= people // 2]
    own = [a for a in arrays if not np.shares_memory(a, state.record)]
    assert len(own) < len(arrays) - 5  # the record's views were found and left out
    per_person = (sum(a.nbytes for a in own) + state.record.nbytes) / people
    assert PER_PERSON_STATE < per_person <= PER_PERSON_STATE + PER_PERSON_EVENT, per_person
    reference = credsim.load_scenario("city", [f"population.size={people}", "population.days=2", "engine.name=reference"])
    assert estimate_bytes(scenario) - estimate_bytes(reference) == pytest.approx(people * PER_PERSON_EVENT * res.PEAK_FACTOR, abs=1)
    assert checkpoint_bytes(scenario) - checkpoint_bytes(reference) == people * PER_PERSON_EVENT


def test_the_disk_estimate_counts_the_report(tmp_path):
    """report.html (5.3 MB for a year of city) is counted: a small run's folder, report
    included, fits its estimate; without the report the estimate was 1.6 MB."""
    result = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "500", "-d", "365", "-q", "--checkpoint-every", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "o" / "report.html").stat().st_size
    written = sum(p.stat().st_size for p in (tmp_path / "o").rglob("*") if p.is_file())
    scenario = credsim.load_scenario("city", ["population.size=500", "population.days=365"])
    assert report <= estimate_report_bytes(scenario) / 2  # one copy; the estimate holds two
    assert written <= estimate_disk_bytes(scenario)


Usage = namedtuple("Usage", "total used free")


def test_a_resume_counts_the_space_its_own_checkpoint_holds(tmp_path, monkeypatch):
    """After a disk-full, "free some space and resume" must work: the checkpoint the resume
    replaces is space it may use. The file system is given just too little free space for a
    fresh run with checkpoints, but enough with the checkpoint's own bytes counted."""
    scenario = credsim.load_scenario("city", ["population.size=3000", "population.days=6"])
    folder = tmp_path / "run"
    credsim.simulate(scenario, 0, checkpoint_dir=folder / ".checkpoint", checkpoint_every=2)
    held = (folder / ".checkpoint" / "checkpoint.npz").stat().st_size
    need = estimate_disk_bytes(scenario, checkpoints=True)
    monkeypatch.setattr(res.shutil, "disk_usage", lambda path: Usage(10 * need, 0, need - held // 2))
    with pytest.raises(ResourceError, match="Free some space"):
        res.check_disk(scenario, folder, checkpoints=True)  # a fresh run: refused
    result = CliRunner().invoke(credsim.cli.app, ["run", "--resume", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    assert (folder / "manifest.json").is_file()


def test_a_read_only_file_system_is_not_told_to_free_space(tmp_path, monkeypatch):
    scenario = credsim.load_scenario("city", ["population.size=500", "population.days=2"])
    real = os.statvfs
    flagged = lambda path: types.SimpleNamespace(f_flag=real(path).f_flag | os.ST_RDONLY)  # noqa: E731
    monkeypatch.setattr(res.os, "statvfs", flagged)
    with pytest.raises(ResourceError, match="read-only file system; choose another --out") as caught:
        res.check_disk(scenario, tmp_path)
    assert "free some space" not in str(caught.value).lower()
    monkeypatch.setattr(res.os, "statvfs", real)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "o" / "daily.parquet"))

    monkeypatch.setattr(credsim.cli, "write_run", read_only)
    result = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "500", "-d", "2", "-q", "--checkpoint-every", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "read-only" in result.output, result.output
    assert "free some space" not in result.output
