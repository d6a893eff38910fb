"""One web job, start to finish, inside a worker process.

The server and a worker share nothing but the job's folder ``DATA/runs/<id>/``:

    request.json    what was asked (written by the server before the job is queued)
    progress.json   {"state", "stage", "days_done", "days"}, replaced atomically as the run goes
    cancel          present when the server wants the run stopped (a user's cancel, or shutdown)
    summary.json, *.parquet, scenario.toml, manifest.json   credsim.write_run
    report.html     credsim.report.build_report

A job returns a small dict (never raises), so that no exception has to survive pickling.
"""

from __future__ import annotations

import json
import os
import signal
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


class Cancelled(Exception):
    """The server asked this run to stop, or the server is gone."""


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
    try:
        if (out / CANCEL).exists():  # cancelled while it waited
            raise Cancelled("the run was cancelled before it started")
        progress.write("running", "building the population", 0, 0)
        scenario = load_scenario(scenario_name, overrides)
        check_memory(scenario)
        progress(0, scenario.population.days)
        result = simulate(scenario, seed, progress=progress)
        progress.write("running", "writing the report", scenario.population.days, scenario.population.days)
        write_run(result, out)
        build_report(out)
        progress.write("done", "done", scenario.population.days, scenario.population.days)
        return {"state": "done"}
    except Cancelled as stop:
        outcome = {"state": "cancelled", "error": str(stop)}
    except CredsimError as error:
        outcome = {"state": "failed", "error": str(error)}
    except Exception as error:  # noqa: BLE001 - told to the user; the traceback goes to the server's stderr
        traceback.print_exc()
        outcome = {"state": "failed", "error": f"the run failed unexpectedly: {type(error).__name__}: {error}"}
    try:
        progress.write(outcome["state"], outcome["state"], progress.days_done, progress.days)
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
        if (self.folder / CANCEL).exists():
            raise Cancelled("the run was cancelled")
        if os.getppid() != self.server_pid:
            raise Cancelled("the server stopped")
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S or days_done == days:
            self.last = now
            self.write("running", "simulating", days_done, days)

    def write(self, state: str, stage: str, days_done: int, days: int) -> None:
        record = {"state": state, "stage": stage, "days_done": days_done, "days": days}
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
