"""Atomic, verifiable outputs; full disks; runs too large for the machine.

A run folder is complete when its ``manifest.json`` (written last) says so and every file
matches it; ``verify`` and ``read_summary`` refuse anything else, naming the file. A write
that fails (a full disk, simulated by raising ENOSPC) leaves the previous complete outputs
intact and no manifest claiming the new ones. A run that would not fit the memory or the
disk is refused before any work, with the estimate in the message.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

import credsim
import credsim.cli
import credsim.resources as resources
import credsim.results.write as write
from credsim.errors import CorruptRunError, ResourceError
from credsim.results.manifest import MANIFEST, verify

SMALL = ["population.size=1000", "population.days=20"]
DATA_FILES = ("scenario.toml", "daily.parquet", "regions.parquet", "episodes.parquet", "summary.json")  # what a run must write
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def result():
    return credsim.simulate(credsim.load_scenario("city", SMALL), 3)


@pytest.fixture
def run_dir(result, tmp_path):
    return credsim.write_run(result, tmp_path / "run")


def test_manifest_lists_every_file_with_its_checksum(run_dir):
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["status"] == "complete"
    assert manifest["credsim_version"] == credsim.__version__
    assert set(manifest["files"]) == set(DATA_FILES)
    for name, entry in manifest["files"].items():
        data = (run_dir / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert verify(run_dir) == manifest
    assert credsim.read_summary(run_dir)["seed"] == 3
    assert not list(run_dir.glob(".*"))  # no staging folder or temporary file left


def test_manifest_is_written_last(result, tmp_path, monkeypatch):
    order = []
    real = os.replace
    monkeypatch.setattr(write.os, "replace", lambda a, b: (order.append(Path(b).name), real(a, b))[1])
    credsim.write_run(result, tmp_path / "run")
    assert order[-1] == MANIFEST and set(order[:-1]) == set(DATA_FILES)


def test_same_seed_gives_a_byte_identical_folder(result, tmp_path):
    """The determinism audit: a second run with the same scenario and seed, written apart."""
    again = credsim.simulate(credsim.load_scenario("city", SMALL), 3)
    a, b = credsim.write_run(result, tmp_path / "a"), credsim.write_run(again, tmp_path / "b")
    for name in (*DATA_FILES, MANIFEST):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


Damage = namedtuple("Damage", "name edit message")
DAMAGES = [
    Damage("flip a byte", lambda d: _flip(d / "daily.parquet"), "daily.parquet: SHA-256 differs"),
    Damage("truncate", lambda d: _truncate(d / "episodes.parquet"), "episodes.parquet"),
    Damage("delete a file", lambda d: (d / "regions.parquet").unlink(), "regions.parquet: listed in manifest.json but missing"),
    Damage("delete the manifest", lambda d: (d / MANIFEST).unlink(), "manifest.json: missing"),
    Damage("manifest not complete", lambda d: _edit_manifest(d, status="writing"), "status is 'writing'"),
    Damage("manifest not JSON", lambda d: (d / MANIFEST).write_text("{"), "manifest.json: unreadable"),
    Damage("manifest escapes the folder", lambda d: _edit_manifest(d, files={"../x": {"bytes": 1, "sha256": "0"}}), "bad entry"),
    Damage("manifest lists no file", lambda d: _edit_manifest(d, files={}), "does not list scenario.toml, daily.parquet"),
    Damage("manifest leaves out the daily table", lambda d: _drop_entry(d, "daily.parquet"), "does not list daily.parquet"),
    Damage("hidden entry", lambda d: _add_entry(d, ".manifest.json.partial"), "bad entry '.manifest.json.partial'"),
    Damage("entry in a subfolder", lambda d: _add_entry(d, "sub/x"), "bad entry 'sub/x'"),
    Damage("entry for the manifest", lambda d: _add_entry(d, MANIFEST), "bad entry 'manifest.json'"),
    Damage("entry with a NUL", lambda d: _add_entry(d, "a\x00b"), "bad entry"),
    Damage("entry with a control character", lambda d: _add_entry(d, "a\nb"), "bad entry"),
    Damage("entry without a SHA-256", lambda d: _add_entry(d, "x", {"bytes": 1}), "bad entry 'x'"),
    Damage("entry with a size in words", lambda d: _add_entry(d, "x", {"bytes": "1", "sha256": "0" * 64}), "bad entry 'x'"),
    Damage("entry with a size that is a bool", lambda d: _add_entry(d, "x", {"bytes": True, "sha256": "0" * 64}), "bad entry 'x'"),
    Damage("manifest nested without end", lambda d: (d / MANIFEST).write_text("[" * 100_000), "manifest.json: unreadable"),
    Damage("summary edited", lambda d: (d / "summary.json").write_text((d / "summary.json").read_text().replace('"seed": 3', '"seed": 4')), "summary.json"),
]


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def _drop_entry(folder: Path, name: str) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["files"][name]
    (folder / MANIFEST).write_text(json.dumps(manifest))


def _add_entry(folder: Path, name: str, entry: dict | None = None) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][name] = entry if entry is not None else {"bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def _edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_verify_and_read_summary_refuse_a_damaged_folder_naming_the_file(run_dir, damage):
    damage.edit(run_dir)
    with pytest.raises(CorruptRunError, match=damage.message.replace("(", r"\(")):
        verify(run_dir)
    with pytest.raises(CorruptRunError):
        credsim.read_summary(run_dir)


def test_a_folder_that_is_not_a_run_is_named_as_such(tmp_path):
    with pytest.raises(CorruptRunError, match="manifest.json and summary.json missing; not a complete credsim run"):
        credsim.read_summary(tmp_path)
    with pytest.raises(CorruptRunError, match="no such run folder"):
        verify(tmp_path / "nowhere")
    for odd in ("x" * 300, "a\x00b"):  # a name too long for the file system, a NUL: no OSError or ValueError
        with pytest.raises(CorruptRunError):
            verify(tmp_path / odd)


def test_cover_adds_and_rewrites_an_entry_and_uncover_drops_it(run_dir):
    from credsim.results.manifest import cover, uncover

    (run_dir / "report.html").write_text("<html>one</html>")
    cover(run_dir, "report.html")
    assert verify(run_dir)["files"]["report.html"]["sha256"] == hashlib.sha256(b"<html>one</html>").hexdigest()
    (run_dir / "report.html").write_text("<html>two</html>")
    with pytest.raises(CorruptRunError, match="report.html"):
        verify(run_dir)  # a covered file that changes is caught like any other
    cover(run_dir, "report.html")
    verify(run_dir)
    uncover(run_dir, "report.html")
    assert "report.html" not in verify(run_dir)["files"]
    with pytest.raises(CorruptRunError):
        uncover(run_dir, "daily.parquet")  # a data file is never replaced
    with pytest.raises(ValueError):
        cover(run_dir, "../x")
    assert not list(run_dir.glob(".*"))


def test_verify_ignores_files_added_beside_the_run(run_dir):
    (run_dir / "report.html").write_text("<html></html>")
    verify(run_dir)


def test_compare_refuses_a_damaged_run_cleanly(run_dir, tmp_path):
    _flip(run_dir / "summary.json")
    done = CliRunner().invoke(credsim.cli.app, ["compare", str(run_dir), str(run_dir), "--csv", str(tmp_path / "c.csv")])
    assert done.exit_code == 2 and "summary.json" in done.output and "Traceback" not in done.output


# ------------------------------------------------------------------ a full disk


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_leaves_previous_outputs_intact(result, run_dir, monkeypatch):
    before = {name: (run_dir / name).read_bytes() for name in (*DATA_FILES, MANIFEST)}
    other = credsim.simulate(credsim.load_scenario("city", SMALL), 4)
    monkeypatch.setattr(write.pq, "write_table", _disk_full)
    with pytest.raises(OSError) as caught:
        credsim.write_run(other, run_dir)
    assert caught.value.errno == errno.ENOSPC
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    verify(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(before)  # the staging folder is gone


def test_disk_full_in_a_new_folder_leaves_no_manifest(result, tmp_path, monkeypatch):
    calls = []

    def fail_on_third(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 3:
            Path(where).write_bytes(b"PAR1 half")
            _disk_full()
        real(table, where, **kwargs)

    real = write.pq.write_table
    monkeypatch.setattr(write.pq, "write_table", fail_on_third)
    out = tmp_path / "new"
    with pytest.raises(OSError):
        credsim.write_run(result, out)
    assert list(out.iterdir()) == []
    with pytest.raises(CorruptRunError, match="missing"):
        verify(out)


def test_failure_while_moving_files_in_leaves_no_complete_claim(result, run_dir, monkeypatch):
    """Old outputs partly replaced: the old manifest and summary were removed first."""
    real, moved = os.replace, []

    def replace(a, b):
        if len(moved) == 2:
            _disk_full()
        moved.append(b)
        real(a, b)

    other = credsim.simulate(credsim.load_scenario("city", SMALL), 4)
    monkeypatch.setattr(write.os, "replace", replace)
    with pytest.raises(OSError):
        credsim.write_run(other, run_dir)
    assert not (run_dir / MANIFEST).exists() and not (run_dir / "summary.json").exists()
    with pytest.raises(CorruptRunError):
        verify(run_dir)


def test_cli_disk_full_while_writing_is_one_line_and_status_2(tmp_path, monkeypatch):
    monkeypatch.setattr(write.pq, "write_table", _disk_full)
    out = tmp_path / "run"
    done = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "300", "-d", "5", "-q", "-o", str(out)])
    assert done.exit_code == 2, done.output
    assert not isinstance(done.exception, OSError) and "Traceback" not in done.output
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "error" in lines[0], done.output
    assert not (out / MANIFEST).exists()


# ------------------------------------------------------------------ refused before any work


@pytest.fixture
def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(credsim.cli, "simulate", refuse)


def test_a_run_too_large_for_the_disk_is_refused_before_any_work(tmp_path, monkeypatch, no_simulation):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda path: usage._replace(free=5 * 2**20))
    out = tmp_path / "deep" / "run"
    done = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "2000000", "-d", "365", "-q", "-o", str(out)])
    assert done.exit_code == 2, done.output
    message = " ".join(done.output.split())
    need = resources.estimate_disk_bytes(credsim.load_scenario("city", ["population.size=2000000"]), checkpoints=True)
    assert f"{need / 2**20:,.1f} MiB" in message and "5.0 MiB free" in message and "with checkpoints" in message
    assert not (tmp_path / "deep").exists()


def test_a_run_too_large_for_the_memory_is_refused_before_any_work(tmp_path, monkeypatch, no_simulation):
    monkeypatch.setattr(resources, "available_bytes", lambda: 2**30)
    done = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "20000000", "-q", "-o", str(tmp_path / "run")])
    assert done.exit_code == 2, done.output
    need = resources.estimate_bytes(credsim.load_scenario("city", ["population.size=20000000"]))
    message = " ".join(done.output.split())
    assert f"{need / 2**30:.1f} GiB of memory" in message and "1.0 GiB available" in message
    assert not (tmp_path / "run").exists()


def test_disk_estimate_covers_what_runs_write(tmp_path):
    for name, overrides in (("city", ["population.size=3000", "population.days=60"]), ("xinjiang", ["population.size=3000", "population.days=60"])):
        scenario = credsim.load_scenario(name, overrides)
        folder = credsim.write_run(credsim.simulate(scenario, 1), tmp_path / name)
        written = sum(p.stat().st_size for p in folder.iterdir())
        assert written <= resources.estimate_disk_bytes(scenario), name
        checkpoints = tmp_path / f"{name}-ck"
        credsim.simulate(scenario, 1, checkpoint_dir=checkpoints, checkpoint_every=50)
        size = (checkpoints / "checkpoint.npz").stat().st_size
        assert written + 2 * size <= resources.estimate_disk_bytes(scenario, checkpoints=True), name


def test_an_unwritable_output_folder_is_refused(tmp_path, no_simulation):
    (tmp_path / "file").write_text("not a folder")
    done = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "300", "-d", "5", "-q", "-o", str(tmp_path / "file" / "run")])
    assert done.exit_code == 2 and "is not a folder" in done.output
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        done = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "300", "-d", "5", "-q", "-o", str(locked / "run")])
        assert done.exit_code == 2 and "cannot write" in done.output


def test_errors_hierarchy():
    assert issubclass(CorruptRunError, credsim.CredsimError) and credsim.CorruptRunError is CorruptRunError
    assert issubclass(ResourceError, credsim.CredsimError)
