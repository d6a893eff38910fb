"""One web job, start to finish, inside a worker process.

The server and a worker share nothing but the job's folder ``DATA/runs/<id>/``:

    request.json    what was asked (written by the server before the job is queued)
    progress.json   {"state", "stage", "days_done", "days", "error"?, "seconds"?}, replaced
                    atomically as the run goes: stages "building the population",
                    "simulating", "writing the report"; states running, done, failed,
                    cancelled (by the user) and stopped (the server stopped)
    cancel          present when the server wants the run stopped: empty for a user's cancel,
                    "server" when the server is stopping
    summary.json, *.parquet, scenario.toml, manifest.json   credsim.write_run
    report.html     credsim.report.build_report

A job returns a small dict (never raises), so that no exception has to survive pickling.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import tempfile
import time
import traceback
from pathlib import Path

from credsim.errors import CredsimError
from credsim.report import build_report
from credsim.resources import check_memory
from credsim.results import write_run
from credsim.scenario import load_scenario
from credsim.simulate import simulate

PROGRESS = "progress.json"
CANCEL = "cancel"
REQUEST = "request.json"
PROGRESS_INTERVAL_S = 0.1
CHECK_INTERVAL_S = 0.2  # how often a run looks for its cancel file, also while it builds
SERVER_STOP = "server"
STOPPED_MESSAGE = "the server was stopped before this run finished; start the run again"


class Cancelled(Exception):
    """The server asked this run to stop (``state`` "cancelled"), or the server stopped or is
    gone (``state`` "stopped")."""

    def __init__(self, message: str, state: str = "cancelled"):
        super().__init__(message)
        self.state = state


def why_stopped(folder: Path, server_pid: int) -> Cancelled | None:
    """Why the run in ``folder`` must stop now, or None to go on."""
    try:
        reason = (folder / CANCEL).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        reason = None
    except OSError:
        reason = ""
    if reason == SERVER_STOP or os.getppid() != server_pid:
        return Cancelled(STOPPED_MESSAGE, "stopped")
    if reason is not None:
        return Cancelled("the run was cancelled")
    return None


class Watch:
    """Checks for a cancel every :data:`CHECK_INTERVAL_S` seconds while a run builds and
    simulates, from a timer signal: a Python signal handler runs between two steps of the main
    thread (two numpy calls of the population build, say), so a cancel is acted on within a
    step, not only after a whole day. Used as a context manager in the worker's main thread."""

    def __init__(self, folder: Path, server_pid: int):
        self.folder, self.server_pid = folder, server_pid
        self.armed = False
        self.usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def _check(self, signum, frame) -> None:
        if self.armed:
            stop = why_stopped(self.folder, self.server_pid)
            if stop is not None:
                self.armed = False
                raise stop

    def __enter__(self) -> "Watch":
        if self.usable:
            self.previous = signal.signal(signal.SIGALRM, self._check)
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, CHECK_INTERVAL_S, CHECK_INTERVAL_S)
        return self

    def __exit__(self, *exc) -> None:
        self.armed = False
        if self.usable:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, self.previous)


WORKER_NICENESS = 5


def init_worker(threads: int) -> None:
    """Set up a fresh worker process: run below the server's priority (so that pages and
    progress still answer while every core simulates), share the cores among the concurrent
    runs, and leave Ctrl-C to the server, which stops runs through their ``cancel`` file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # pragma: no cover - not on every platform
        pass
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except (ImportError, ValueError):  # pragma: no cover - numba is a dependency
        pass


def warm_up() -> None:
    """Load what a run needs (modules, numba's compiled kernels) before the first job comes:
    a tiny run, its result thrown away. Failing here only costs the first job that time."""
    try:
        simulate(load_scenario("city", {"population.size": 200, "population.days": 2}), 0)
    except Exception:  # noqa: BLE001 - a built-in that does not load is reported when a job uses it
        pass


def run_job(folder: str, scenario_name: str, overrides: dict, seed: int, server_pid: int) -> dict:
    """Run one job into ``folder``; return ``{"state": "done"}`` or ``{"state": ..., "error": ...}``."""
    out = Path(folder)
    progress = ProgressWriter(out, server_pid)
    started = time.monotonic()
    try:
        stop = why_stopped(out, server_pid)
        if stop is not None:  # cancelled while it waited
            raise Cancelled(f"{stop} before it started" if stop.state == "cancelled" else str(stop), stop.state)
        with Watch(out, server_pid):
            scenario = load_scenario(scenario_name, overrides)
            check_memory(scenario)
            days = scenario.population.days
            progress.days = days
            progress.write("running", "building the population", 0, days)
            result = simulate(scenario, seed, progress=progress)  # "simulating" from the first day on
        progress.write("running", "writing the report", days, days)
        write_run(result, out)
        build_report(out)
        progress.write("done", "done", days, days, seconds=round(time.monotonic() - started, 3))
        return {"state": "done"}
    except Cancelled as stop:
        outcome = {"state": stop.state, "error": str(stop)}
    except CredsimError as error:
        outcome = {"state": "failed", "error": str(error)}
    except Exception as error:  # noqa: BLE001 - told to the user; the traceback goes to the server's stderr
        traceback.print_exc()
        outcome = {"state": "failed", "error": f"the run failed unexpectedly: {type(error).__name__}: {error}"}
    try:
        progress.write(outcome["state"], outcome["state"], progress.days_done, progress.days, error=outcome["error"])
    except OSError:  # the outcome still reaches the server through the return value
        pass
    return outcome


class ProgressWriter:
    """``simulate``'s progress callback: records days done in ``progress.json`` (at most
    every :data:`PROGRESS_INTERVAL_S` seconds) and stops the run when it is cancelled."""

    def __init__(self, folder: Path, server_pid: int):
        self.folder = folder
        self.server_pid = server_pid
        self.days_done = 0
        self.days = 0
        self.last = 0.0

    def __call__(self, days_done: int, days: int) -> None:
        self.days_done, self.days = days_done, days
        stop = why_stopped(self.folder, self.server_pid)
        if stop is not None:
            raise stop
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S or days_done == days:
            self.last = now
            self.write("running", "simulating", days_done, days)

    def write(self, state: str, stage: str, days_done: int, days: int, **more) -> None:
        record = {"state": state, "stage": stage, "days_done": days_done, "days": days, **more}
        write_json_atomic(self.folder / PROGRESS, record)


def write_json_atomic(path: Path, data: dict) -> None:
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
