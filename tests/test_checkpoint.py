"""Checkpoints and resume: a run killed at any moment and resumed gives the same outputs,
byte for byte, as the run that was never interrupted.

The strongest test kills the real ``credsim run`` with SIGKILL at several points (after it
has written a checkpoint, at a random moment after that: during a day, during a checkpoint
write, or while the outputs are written), resumes it with ``credsim run --resume`` and
compares every file with an uninterrupted run's. The in-process tests resume from every
checkpoint of a run, and check what a checkpoint holds and how it fails.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import re
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import credsim
import credsim.checkpoint as checkpoint
import credsim.cli
from credsim.errors import CorruptRunError, CredsimError
from credsim.engines.reference.phases.record import Recorder
from credsim.results.manifest import DATA_FILES, verify
from credsim.state import Growable, initial_state
from credsim.world import build_world

from conftest import CREDSIM

# the killed runs: small population, many days, a checkpoint every few days
BUSY = [  # errors, penalties, short listings, appeals and detention: every part of the state moves
    "observation.cameras.false_match_rate=0.002",
    "observation.malicious.rate=0.001",
    "score.deltas.online_criticism=-200",
    "listing.min_days=10",
    "score.forgiveness=0.05",
    "appeal.capacity_per_million=20000",
    "appeal.uphold_wrongful=1.0",
    "appeal.daily_rate=0.05",
    "sanctions.detention.threshold=1",
    "sanctions.detention.window_days=120",
]
KILL_ARGS = ("city", "-n", "2000", "-d", "200", "-s", "13", *(x for s in BUSY for x in ("--set", s)), "--checkpoint-every", "3", "-q")
SMALL = ["population.size=1500", "population.days=60", *BUSY, "engine.name=reference"]  # its State and step (the event engine's: test_engines)


def _env():
    # one thread: the compiled kernels give the same numbers on any number of threads, and
    # small runs on a busy machine are several times faster without thread hand-offs
    return {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "ignore", "NUMBA_NUM_THREADS": "1"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _cli(*args, timeout=120):
    return subprocess.run([str(CREDSIM), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=_env())


def _same_outputs(a: Path, b: Path) -> None:
    for name in DATA_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"
    assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
    verify(a)
    verify(b)


def _checkpoint_day(folder: Path) -> int:
    """The day of the checkpoint in a run folder (reading only its metadata); -1 if none."""
    try:
        with np.load(folder / checkpoint.FOLDER / checkpoint.FILE) as npz:
            return json.loads(npz["meta"].tobytes())["day"]
    except (OSError, KeyError, ValueError):
        return -1


def _partial_checkpoint(out: Path) -> bool:
    folder = out / checkpoint.FOLDER
    return folder.is_dir() and any(e.name.endswith(".partial") for e in os.scandir(folder))


def _staging(out: Path) -> bool:
    return out.is_dir() and any(e.name.startswith(".credsim-partial-") for e in os.scandir(out))


# name -> (moment to wait for, extra delay range in s, busy polling, what the kill must leave)
KILL_POINTS = {
    "after the day-3 checkpoint": (lambda out: _checkpoint_day(out) >= 3, (0.0, 0.06), False, None),
    "after the day-99 checkpoint": (lambda out: _checkpoint_day(out) >= 99, (0.0, 0.06), False, None),
    "after the day-198 checkpoint": (lambda out: _checkpoint_day(out) >= 198, (0.0, 0.06), False, None),
    "while a checkpoint is written": (lambda out: _checkpoint_day(out) >= 30 and _partial_checkpoint(out), (0.0, 0.0), True, _partial_checkpoint),
    "while the outputs are written": (_staging, (0.0, 0.0), True, _staging),
}


def _kill_when(out: Path, ready, delay: float = 0.0, busy: bool = False, left=None, attempts: int = 5) -> int:
    """Start the killable run; SIGKILL it ``delay`` s after ``ready(out)``. A moment missed
    (the run ended first, or ``left(out)`` is not true after the kill: the write it was to
    interrupt had finished) is tried again. Returns the day of the checkpoint left behind."""
    for _ in range(attempts):
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.Popen([str(CREDSIM), "run", *KILL_ARGS, "-o", str(out)], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not ready(out) and proc.poll() is None and time.monotonic() < deadline:
                if not busy:
                    time.sleep(0.005)
            if proc.poll() is None:
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode == -signal.SIGKILL and (left is None or left(out)):
            return _checkpoint_day(out)
    pytest.fail(f"the run always ended before the moment to kill it ({attempts} attempts)")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same command, never interrupted (it also writes checkpoints)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = _cli("run", *KILL_ARGS, "-o", out)
    assert done.returncode == 0, done.stderr
    assert not (out / checkpoint.FOLDER).exists()  # removed once the outputs are complete
    return out


def test_checkpoints_do_not_change_the_outputs(uninterrupted, tmp_path):
    """Same command without checkpoints, and the library without any: byte-identical files."""
    plain = tmp_path / "plain"
    done = _cli("run", *KILL_ARGS, "--checkpoint-every", "0", "-o", plain)
    assert done.returncode == 0, done.stderr
    _same_outputs(uninterrupted, plain)
    scenario = credsim.load_scenario("city", ["population.size=2000", "population.days=200", *BUSY])
    library = credsim.write_run(credsim.simulate(scenario, 13), tmp_path / "library")
    _same_outputs(uninterrupted, library)


@pytest.mark.parametrize("moment", list(KILL_POINTS))
def test_sigkill_then_resume_gives_identical_outputs(uninterrupted, tmp_path, moment):
    out = tmp_path / "run"
    ready, (low, high), busy, left = KILL_POINTS[moment]
    delay = random.Random(moment).uniform(low, high)
    reached = _kill_when(out, ready, delay, busy, left)
    print(f"killed {moment} (+{delay * 1000:.0f} ms): checkpoint left at day {reached}")
    assert reached >= 3
    assert not (out / "manifest.json").exists()  # a killed run never claims to be complete
    with pytest.raises(CorruptRunError):
        verify(out)
    done = _cli("run", "--resume", out, "-q")
    assert done.returncode == 0, done.stderr
    _same_outputs(uninterrupted, out)
    assert not (out / checkpoint.FOLDER).exists()
    assert not list(out.glob(".credsim-partial-*"))


def test_killed_twice_and_resumed_twice(uninterrupted, tmp_path):
    out = tmp_path / "run"
    first = _kill_when(out, lambda o: _checkpoint_day(o) >= 30, 0.01)
    proc = subprocess.Popen([str(CREDSIM), "run", "--resume", str(out), "-q"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _checkpoint_day(out) < first + 30 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _checkpoint_day(out) >= first + 30  # the resumed run went on checkpointing
    done = _cli("run", "--resume", out, "-q")
    assert done.returncode == 0, done.stderr
    _same_outputs(uninterrupted, out)


@pytest.mark.skipif(not os.environ.get("CREDSIM_KILL_STRESS"), reason="set CREDSIM_KILL_STRESS=N for N kills at random moments")
def test_many_kills_at_random_moments(uninterrupted, tmp_path):
    """The figure in docs/reliability.md: N kills, each 0-100 ms after a checkpoint of a day
    drawn at random (or, one time in five, at the moment the outputs are written)."""
    rng = random.Random(int(os.environ.get("CREDSIM_KILL_SEED", "1")))
    tally = {"kills": 0, "checkpoint write under way": 0, "output write under way": 0, "days simulated again": 0}
    for k in range(int(os.environ["CREDSIM_KILL_STRESS"])):
        out = tmp_path / f"run{k}"
        if rng.random() < 0.2:
            reached = _kill_when(out, _staging, busy=True)
        else:
            day = 3 * rng.randint(1, 66)
            reached = _kill_when(out, lambda o: _checkpoint_day(o) >= day, rng.uniform(0.0, 0.1))
        tally["kills"] += 1
        tally["checkpoint write under way"] += _partial_checkpoint(out)
        tally["output write under way"] += _staging(out)
        tally["days simulated again"] += 200 - reached
        done = _cli("run", "--resume", out, "-q")
        assert done.returncode == 0, done.stderr
        _same_outputs(uninterrupted, out)
        shutil.rmtree(out)
    print(f"\nrandom kills, all resumed to identical outputs: {tally}")


# ------------------------------------------------------------------ in process


@pytest.fixture(scope="module")
def small():
    return credsim.load_scenario("city", SMALL)


@pytest.fixture(scope="module")
def reference(small):
    return credsim.simulate(small, 7)


def _same_result(a, b) -> None:
    assert a.summary == b.summary
    assert a.daily.equals(b.daily) and a.regions.equals(b.regions) and a.episodes.equals(b.episodes)
    assert a.scenario == b.scenario and a.seed == b.seed


def test_resume_from_every_checkpoint(small, reference, tmp_path):
    """Save every 4 days, keep a copy of each checkpoint, resume from each: all identical."""
    live = tmp_path / "live"
    kept = []

    def keep(done, total):
        if done % 4 == 0 and done < total:
            copy = tmp_path / f"day{done}"
            copy.mkdir()
            shutil.copy(live / checkpoint.FILE, copy / checkpoint.FILE)
            kept.append((done, copy))

    with_checkpoints = credsim.simulate(small, 7, progress=keep, checkpoint_dir=live, checkpoint_every=4)
    _same_result(with_checkpoints, reference)
    assert [d for d, _ in kept] == list(range(4, 60, 4))
    # something to carry over: episodes, decided appeals, detentions
    assert reference.episodes.num_rows > 20 and reference.summary["overall"]["appeals_upheld"] > 0
    assert reference.state.queue.size > 0 and (reference.state.detained_until > 0).any()
    for day, folder in kept:
        calls = []
        resumed = credsim.resume(folder, progress=lambda d, t: calls.append(d))
        _same_result(resumed, reference)
        assert calls[0] == day and calls[-1] == 60 and len(calls) == 60 - day + 1


def test_checkpoint_holds_every_state_field(small, tmp_path):
    """Round trip of a mid-run state: every field of State (arrays, scalars, logs, lists)."""
    live = tmp_path / "ck"
    result = credsim.simulate(small, 3, checkpoint_dir=live, checkpoint_every=25)
    state = result.state
    state.changed.append(np.array([3, 1], np.int32))  # normally empty between days: prove it is kept anyway
    state.appeal_credit = 0.3712
    saver = checkpoint.Checkpoints(live, small, 3, 25)
    recorder = Recorder(result.world, small.population.days)
    saver.save(result.world, state, recorder, 50)
    fresh_world = build_world(small, np.random.Generator(np.random.PCG64(np.random.SeedSequence(3, spawn_key=(0,)))))
    fresh = initial_state(fresh_world)
    loader = checkpoint.Checkpoints(live, small, 3, 25, start=live / checkpoint.FILE)
    assert loader.restore(fresh_world, fresh, Recorder(fresh_world, small.population.days)) == 50
    for f in dataclasses.fields(state):
        a, b = getattr(state, f.name), getattr(fresh, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f.name
        elif isinstance(a, Growable):
            assert a.size == b.size and a.columns.keys() == b.columns.keys(), f.name
            for column in a.columns:
                assert np.array_equal(a[column], b[column]), f"{f.name}.{column}"
        elif isinstance(a, list):
            assert len(a) == len(b) and all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(a, b)), f.name
        else:
            assert type(a) is type(b) and a == b, f.name


def test_a_state_field_of_unknown_kind_is_refused():
    @dataclasses.dataclass
    class Odd:
        thing: object = dataclasses.field(default_factory=object)

    with pytest.raises(TypeError, match="thing"):
        checkpoint._dump_state(Odd(), {})


def test_world_is_rebuilt_identically_from_scenario_and_seed(small):
    """Why the World is not saved: the same scenario and seed rebuild it exactly."""

    def world(seed):
        return build_world(small, np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,)))))

    a, b, other = world(5), world(5), world(6)
    prints = [checkpoint.Checkpoints("unused", small, 5, 5).fingerprint(w) for w in (a, b, other)]
    assert prints[0] == prints[1] != prints[2]
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f.name
    assert np.array_equal(a.network.indices, b.network.indices) and np.array_equal(a.layout.region, b.layout.region)


@pytest.mark.parametrize(
    "field, value, error, message",
    [
        ("world", "0" * 64, CorruptRunError, "world rebuilt"),  # as if NumPy had drawn another population
        ("credsim_version", "0.0.1", CredsimError, "written by credsim 0.0.1"),
    ],
)
def test_resume_refuses_a_checkpoint_from_another_world_or_version(small, tmp_path, field, value, error, message):
    folder = tmp_path / "ck"
    credsim.simulate(small, 2, checkpoint_dir=folder, checkpoint_every=20)
    with np.load(folder / checkpoint.FILE) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta[field] = value
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    _save_with_digest(folder, arrays)
    with pytest.raises(error, match=message):
        credsim.resume(folder)


def _save_with_digest(folder, arrays) -> None:
    """Save edited arrays as a checkpoint with a digest that matches them (as a writer
    would), so that the check after the digest is the one tested."""
    arrays = {**arrays, checkpoint.DIGEST: np.frombuffer(checkpoint._arrays_digest(arrays).encode(), np.uint8)}
    np.savez(folder / checkpoint.FILE, **arrays)


@pytest.mark.parametrize("edit", ["a score", "an income", "the day's listing status", "the recorder's rows", "the digest removed", "a flipped byte"])
def test_an_altered_checkpoint_is_refused_naming_the_file(small, tmp_path, edit):
    """Each per-person array (and everything else) is covered by the SHA-256 saved with it:
    one value changed in a consistent, readable file (CRCs and all) is refused on resume,
    as is a byte flipped in the file."""
    folder = tmp_path / "ck"
    credsim.simulate(small, 2, checkpoint_dir=folder, checkpoint_every=20)
    file = folder / checkpoint.FILE
    if edit == "a flipped byte":
        data = bytearray(file.read_bytes())
        data[len(data) // 3] ^= 0x01
        file.write_bytes(bytes(data))
    else:
        with np.load(file) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if edit == "the digest removed":
            del arrays[checkpoint.DIGEST]
        else:
            key = {"a score": "state:tracks", "an income": "state:income", "the day's listing status": "state:status",
                   "the recorder's rows": next(k for k in arrays if k.startswith("daily:"))}[edit]
            changed = arrays[key].copy()
            changed.flat[len(changed.flat) // 2] += 1
            arrays[key] = changed
        np.savez(file, **arrays)
    with pytest.raises(CorruptRunError, match=re.escape(str(file))):
        credsim.resume(folder)
    with pytest.raises(CorruptRunError, match=re.escape(str(file))):
        checkpoint.read_plan(folder)


@pytest.mark.parametrize("every", ["often", -5, 2.5, True])
def test_a_checkpoint_with_a_bad_interval_is_a_clear_error(small, tmp_path, every):
    folder = tmp_path / "ck"
    credsim.simulate(small, 2, checkpoint_dir=folder, checkpoint_every=20)
    with np.load(folder / checkpoint.FILE) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["every"] = every
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    _save_with_digest(folder, arrays)
    with pytest.raises(CorruptRunError, match="'every' is .*expected a whole number of days"):
        checkpoint.read_plan(folder)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_an_unreadable_checkpoint_is_a_clear_error(small, tmp_path, damage):
    folder = tmp_path / "ck"
    credsim.simulate(small, 2, checkpoint_dir=folder, checkpoint_every=20)
    file = folder / checkpoint.FILE
    data = file.read_bytes()
    file.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(5000), "empty": b""}[damage])
    with pytest.raises(CorruptRunError, match="checkpoint"):
        credsim.resume(folder)


def test_no_checkpoint_to_resume(tmp_path):
    with pytest.raises(CredsimError, match="no checkpoint"):
        credsim.resume(tmp_path)


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(small, tmp_path, monkeypatch, reference):
    folder = tmp_path / "ck"
    real_savez, calls = np.savez, []

    def savez(file, **arrays):
        calls.append(1)
        if len(calls) == 3:
            file.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(file, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    with pytest.raises(OSError) as caught:
        credsim.simulate(small, 7, checkpoint_dir=folder, checkpoint_every=10)
    assert caught.value.errno == errno.ENOSPC
    assert [p.name for p in folder.iterdir()] == [checkpoint.FILE]  # no temporary file left
    assert checkpoint.read_plan(folder).day == 20  # the previous checkpoint, whole
    monkeypatch.setattr(checkpoint.np, "savez", real_savez)
    _same_result(credsim.resume(folder), reference)


def test_a_fresh_run_discards_an_old_checkpoint(small, tmp_path):
    folder = tmp_path / "ck"
    credsim.simulate(small, 2, checkpoint_dir=folder, checkpoint_every=20)
    (folder / ".checkpoint-stale.partial").write_bytes(b"left by a kill")
    credsim.simulate(small, 2, checkpoint_dir=folder, checkpoint_every=0)
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------ the command line


def test_cli_resume_refuses_other_settings(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "run"
    done = runner.invoke(credsim.cli.app, ["run", "city", "-n", "500", "-d", "20", "--checkpoint-every", "5", "-q", "-o", str(folder)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(credsim.cli.app, ["run", "--resume", str(folder), "--seed", "4"])
    assert done.exit_code == 2 and "--seed" in done.output and "Traceback" not in done.output
    done = runner.invoke(credsim.cli.app, ["run", "--resume", str(folder)])
    assert done.exit_code == 2 and "complete run" in done.output


def test_cli_disk_full_during_a_checkpoint_is_one_line_and_status_2(tmp_path, monkeypatch):
    real_savez, calls = np.savez, []

    def savez(file, **arrays):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(file, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    folder = tmp_path / "run"
    done = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "500", "-d", "30", "--checkpoint-every", "10", "-q", "-o", str(folder)])
    assert done.exit_code == 2, done.output
    assert not isinstance(done.exception, OSError) and "Traceback" not in done.output
    message = " ".join(done.output.split())
    assert "No space left on device" in message and "day 10" in message and "--resume" in message
    assert not (folder / "manifest.json").exists()
    monkeypatch.setattr(checkpoint.np, "savez", real_savez)
    done = CliRunner().invoke(credsim.cli.app, ["run", "--resume", str(folder), "-q"])
    assert done.exit_code == 0, done.output
    verify(folder)


@pytest.mark.parametrize("save_seconds, saved_on", [(0.0, [60, 120, 180]), (5.0, [60, 160])])
def test_by_default_a_run_is_saved_by_the_clock(small, tmp_path, monkeypatch, save_seconds, saved_on):
    """With no interval, a run is saved once a minute has passed since it started or was
    last saved, and not before 20 times the last save's duration (at most 5% of the run
    spent saving). A fake clock: each day takes one second, each save ``save_seconds``."""
    now = [0.0]
    monkeypatch.setattr(checkpoint, "_clock", lambda: now[0])
    reference = importlib.import_module("credsim.engines.reference")  # the engine the scenario names
    real_step, real_write = reference.ENGINE.step, checkpoint._write_atomic

    def one_second_a_day(*args):
        now[0] += 1.0
        real_step(*args)

    days = []

    def timed_write(folder, arrays):
        days.append(json.loads(arrays["meta"].tobytes())["day"])
        now[0] += save_seconds
        return real_write(folder, arrays)

    monkeypatch.setattr(reference, "ENGINE", dataclasses.replace(reference.ENGINE, step=one_second_a_day))
    monkeypatch.setattr(checkpoint, "_write_atomic", timed_write)
    scenario = credsim.scenario.with_overrides(small, {"population.days": 200})
    folder = tmp_path / "by-clock"
    credsim.simulate(scenario, 7, checkpoint_dir=folder)
    assert days == saved_on
    assert checkpoint.read_plan(folder).every is None  # a resumed run goes on by the clock
    days.clear()
    credsim.simulate(credsim.scenario.with_overrides(small, {"population.days": 59}), 7, checkpoint_dir=tmp_path / "short")
    assert days == []  # under a minute: cheaper to run again than to save
