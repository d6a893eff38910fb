"""Files written where the user asks (``--out``, ``--csv``): atomically, only to a regular
file or a new path, with one clear line for anything else, and no partial file left for
good by a writer that was killed (credsim.results.outputs)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import credsim
import credsim.cli
from credsim.errors import OutputError
from credsim.results import outputs
from credsim.results.manifest import verify



@pytest.fixture
def devices(tmp_path) -> list[Path]:
    """Character devices to aim at. As root, copies of /dev/null and /dev/full made in
    tmp_path (a regression must not replace the machine's own /dev/null); otherwise the real
    ones, which a user cannot replace anyway."""
    if os.geteuid() != 0:
        return [Path(p) for p in ("/dev/null", "/dev/full") if os.path.exists(p)]
    made = []
    for name, minor in (("null", 3), ("full", 7)):
        os.mknod(tmp_path / name, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        made.append(tmp_path / name)
    return made


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    result = credsim.simulate(credsim.load_scenario("city", ["population.size=300", "population.days=5"]), 1)
    return credsim.write_run(result, tmp_path_factory.mktemp("runs") / "run")


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_device_or_fifo_is_never_replaced(tmp_path, devices):
    targets = [*devices, _fifo(tmp_path)]
    sock = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    targets.append(sock)
    (tmp_path / "link").symlink_to(targets[0])
    targets.append(tmp_path / "link")
    try:
        for target in targets:
            before = os.lstat(target)
            with pytest.raises(OutputError, match="not a regular file"):
                outputs.write_file(target, "data", "the report")
            after = os.lstat(target)
            assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev), target
    finally:
        server.close()
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("case", ["folder", "NUL", "newline", "escape", "too long", "through a file", "dot"])
def test_bad_names_are_refused_with_one_line(tmp_path, case):
    (tmp_path / "file").write_text("x")
    target = {
        "folder": str(tmp_path),
        "NUL": str(tmp_path / "a\0b"),
        "newline": str(tmp_path / "a\nb.csv"),
        "escape": str(tmp_path / "a\x1b[31mb.csv"),
        "too long": str(tmp_path / ("x" * 300)),
        "through a file": str(tmp_path / "file" / "out.csv"),
        "dot": str(tmp_path / ".."),
    }[case]
    with pytest.raises(OutputError) as caught:
        outputs.write_file(target, "data", "the table")
    assert "\n" not in str(caught.value) and "\0" not in str(caught.value) and "\x1b" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_write_that_fails_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("old")
    real = os.replace

    def full(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(OutputError, match="No space left on device"):
        outputs.write_file(target, "new", "the table")
    monkeypatch.setattr(outputs.os, "replace", real)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    assert outputs.write_file(target, "new") == target and target.read_text() == "new"


def test_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outputs.os, "open", read_only)
    with pytest.raises(OutputError, match="cannot write the table: Read-only file system"):
        outputs.write_file(tmp_path / "t.csv", "x", "the table")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_partial_files_of_dead_writers_are_cleaned_on_the_next_write(tmp_path):
    stale = tmp_path / f".report.html.credsim-{_dead_pid()}-0abc.partial"
    stale.write_bytes(b"x" * 1000)
    mine = tmp_path / f".report.html.credsim-{os.getpid()}-0def.partial"  # this process: alive
    mine.write_bytes(b"y")
    other = tmp_path / ".notes.partial"  # not credsim's: left alone
    other.write_bytes(b"z")
    outputs.write_file(tmp_path / "report.html", "page")
    assert not stale.exists() and mine.exists() and other.exists()
    assert (tmp_path / "report.html").read_text() == "page"


def test_a_writer_killed_mid_write_leaves_a_partial_that_the_next_write_removes(tmp_path, run_dir):
    """A real kill: a child writes a 20 MB report into a run folder slowly and is killed with
    SIGKILL half-way; its partial file is there, verify is not confused by it, a live
    writer's partial (holding its lock) is kept, and the next write removes the dead one's."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in os.listdir(run_dir):
        (folder / name).write_bytes((run_dir / name).read_bytes())
    slow = (
        "import os, sys, time\n"
        "from credsim.results import outputs\n"
        "real = os.write\n"
        "def slow(fd, data):\n"
        "    time.sleep(0.01)\n"
        "    return real(fd, data[:65536])\n"
        "outputs.os.write = slow\n"
        "outputs.write_file(sys.argv[1], b'x' * 20_000_000, 'the report')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(credsim.__file__).parents[1])}
    child = subprocess.Popen([sys.executable, "-c", slow, str(folder / "report.html")], env=env)
    try:
        deadline = time.monotonic() + 60
        while not [p for p in folder.glob(".report.html.credsim-*.partial") if p.stat().st_size > 0]:
            assert time.monotonic() < deadline and child.poll() is None, "the writer never started"
            time.sleep(0.01)
        alive = [p.name for p in folder.glob(".*.partial")]
        outputs.clean_stale_partials(folder)
        assert [p.name for p in folder.glob(".*.partial")] == alive  # its writer is alive: kept
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    partial = list(folder.glob(".report.html.credsim-*.partial"))
    assert len(partial) == 1 and not (folder / "report.html").exists()
    verify(folder)  # a partial file is not the run's: ignored
    credsim.report.build_report(folder)
    assert not list(folder.glob(".*.partial"))
    assert "report.html" in verify(folder)["files"]


# ---------------------------------------------------------------------------- the commands


def _invoke(*args, cwd: Path | None = None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(credsim.cli.app, [str(a) for a in args])


def test_report_and_compare_refuse_special_files(run_dir, tmp_path, devices):
    for special in [*devices, _fifo(tmp_path)]:
        before = os.stat(special)
        for args in (["report", run_dir, "--out", special], ["report", run_dir, run_dir, "--out", special],
                     ["compare", run_dir, run_dir, "--csv", special]):
            done = _invoke(*args)
            assert done.exit_code == 2, done.output
            assert "not a regular file" in done.output and isinstance(done.exception, SystemExit), done.output
        after = os.stat(special)
        assert (after.st_ino, after.st_mode, after.st_rdev) == (before.st_ino, before.st_mode, before.st_rdev)


def test_compare_csv_into_a_folder_is_refused_and_leaves_nothing(run_dir, tmp_path):
    done = _invoke("compare", run_dir, run_dir, "--csv", tmp_path)
    assert done.exit_code == 2 and "is a folder" in done.output and "Traceback" not in done.output
    assert list(tmp_path.iterdir()) == []


def test_a_300_character_out_name_is_one_line(run_dir, tmp_path):
    for args in (["report", run_dir, "--out", tmp_path / ("r" * 300)], ["compare", run_dir, run_dir, "--csv", tmp_path / ("c" * 300)],
                 ["run", "city", "-n", "300", "-d", "5", "-q", "--out", tmp_path / ("o" * 300)]):
        done = _invoke(*args)
        assert done.exit_code == 2 and "error" in done.output, done.output
        assert not isinstance(done.exception, (OSError, ValueError)), done.exception
    assert list(tmp_path.iterdir()) == []


def test_compare_from_a_read_only_working_directory_is_one_line(run_dir, tmp_path, monkeypatch):
    if os.geteuid() == 0:  # root writes anywhere a mode allows; /sys refuses even root
        place = Path("/sys")
        if not place.is_dir() or os.access(place, os.W_OK) and _writable(place):
            pytest.skip("no folder here refuses root's writes")
    else:
        place = tmp_path / "locked"
        place.mkdir(mode=0o500)
    done = _invoke("compare", run_dir, run_dir, cwd=place, monkeypatch=monkeypatch)
    assert done.exit_code == 2, done.output
    assert "compare-run-run.csv: cannot write the comparison table" in " ".join(done.output.split())
    assert not isinstance(done.exception, OSError)


def _writable(folder: Path) -> bool:
    try:
        fd = os.open(folder / ".credsim-probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    os.close(fd)
    os.unlink(folder / ".credsim-probe")
    return True
