"""Web jobs: a bounded pool of worker processes, and what each job is doing.

    jobs = JobManager(data_dir, max_concurrent=2, max_queued=20)
    jobs.start()                          # optional: start the workers before the first job
    job = jobs.submit(run_request)        # -> Job; raises QueueFull past the cap
    jobs.status(job.id)                   # -> {"state", "stage", "days_done", "days", ...}
    jobs.runs()                           # -> every run this folder holds, newest first
    jobs.cancel(job.id); jobs.shutdown()

At most ``max_concurrent`` simulations run at once, each in its own process of a
``ProcessPoolExecutor``; further jobs wait in the pool's queue ("queued"), and past
``max_queued`` waiting jobs a new one is refused. A job's state is worked out on demand from
its future and its folder's ``progress.json`` (see :mod:`credsim.web.worker`), so the server
keeps no state that a worker must update. Jobs of an earlier server are read from disk.

Old runs are deleted when a new one is submitted (:meth:`JobManager.prune`): the folder keeps
at most ``keep_runs`` runs and ``keep_bytes`` bytes of them, dropping the oldest finished runs
first (never one that is still running or waiting), with the comparisons that used them.

Stopping the server (:meth:`JobManager.shutdown`) tells the running jobs so through their
``cancel`` file, gives them :data:`SHUTDOWN_GRACE_S` to stop, ends the rest, and records each
unfinished run as "stopped" (not "cancelled": nobody cancelled it).

Every method is called from the server's event loop thread; the pool's own threads only
complete futures.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from credsim.errors import CorruptRunError
from credsim.report.build import REPORT_NAME
from credsim.resources import check_disk
from credsim.results.manifest import verify
from credsim.web.params import RunRequest
from credsim.web.estimate import calibrated
from credsim.web.worker import (CANCEL, PROGRESS, REQUEST, SERVER_STOP, STOPPED_MESSAGE, init_worker, run_job, warm_up,
                                write_json_atomic)

JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MAX_REMEMBERED = 1000  # finished jobs beyond this are forgotten in memory; their folders still answer
SHUTDOWN_GRACE_S = 1.0  # a running job stops at its next check (0.2 s); past this it is ended
KEEP_RUNS = 50
KEEP_BYTES = 2 * 1024**3
FINISHED = ("done", "failed", "cancelled", "stopped")
MESSAGES = {"failed": "the run failed", "cancelled": "the run was cancelled", "stopped": STOPPED_MESSAGE}


def is_job_id(text: str) -> bool:
    """Whether ``text`` is a job id: a lowercase UUID4, so never a path."""
    return bool(JOB_ID.match(text))


class QueueFull(Exception):
    """Too many jobs are waiting; the message says how many."""


@dataclass
class Job:
    id: str
    folder: Path
    request: dict
    days: int
    future: Future
    created: float = field(default_factory=time.time)
    cancel_requested: bool = False


class JobManager:
    """The jobs of one server (see the module docstring)."""

    def __init__(self, data_dir: str | Path, max_concurrent: int = 2, max_queued: int = 20, *,
                 keep_runs: int = KEEP_RUNS, keep_bytes: int = KEEP_BYTES):
        if max_concurrent < 1 or max_queued < 0 or keep_runs < 1 or keep_bytes < 0:
            raise ValueError(f"max_concurrent and keep_runs must be >= 1, max_queued and keep_bytes >= 0; got "
                             f"{max_concurrent}, {keep_runs}, {max_queued}, {keep_bytes}")
        self.runs_dir = Path(data_dir) / "runs"
        self.compare_dir = Path(data_dir) / "compare"
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.keep_runs = keep_runs
        self.keep_bytes = keep_bytes
        self.jobs: dict[str, Job] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._warm_ups: list[Future] = []

    def start(self) -> None:
        """Start the worker processes now, each loading what a run needs, so that the first
        run does not wait for them (a run submitted meanwhile queues behind the warm-up)."""
        pool = self._get_pool()
        self._warm_ups = [pool.submit(warm_up) for _ in range(self.max_concurrent)]

    # ------------------------------------------------------------------ submitting

    def submit(self, request: RunRequest, label: str = "") -> Job:
        unfinished = sum(1 for job in self.jobs.values() if not job.future.done())
        if unfinished >= self.max_concurrent + self.max_queued:
            raise QueueFull(
                f"The server is busy: {unfinished} runs are running or waiting, the most it takes at once. "
                "Try again when one has finished."
            )
        job_id = str(uuid.uuid4())
        folder = self.runs_dir / job_id
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        check_disk(request.resolved, self.runs_dir)  # ResourceError: the caller answers 422
        self.prune(room_for=1)
        folder.mkdir()
        record = {**request.to_json(), "id": job_id, "created": time.time(), "label": label,
                  "people": request.resolved.population.size}
        write_json_atomic(folder / REQUEST, record)
        args = (str(folder), request.scenario, dict(request.parameters), request.seed, os.getpid())
        try:
            future = self._get_pool().submit(run_job, *args)
        except BrokenProcessPool:  # a worker died (killed for memory?): start a fresh pool
            broken, self._pool = self._pool, None
            broken.shutdown(wait=False, cancel_futures=True)
            future = self._get_pool().submit(run_job, *args)
        job = Job(job_id, folder, record, request.resolved.population.days, future)
        self.jobs[job_id] = job
        self._forget_old()
        return job

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // self.max_concurrent)
            self._pool = ProcessPoolExecutor(
                max_workers=self.max_concurrent,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a threaded server
                initializer=init_worker,
                initargs=(threads,),
            )
        return self._pool

    def _forget_old(self) -> None:
        if len(self.jobs) <= MAX_REMEMBERED:
            return
        for job_id in [j.id for j in self.jobs.values() if j.future.done()][: len(self.jobs) - MAX_REMEMBERED]:
            del self.jobs[job_id]

    # ------------------------------------------------------------------ asking

    def status(self, job_id: str) -> dict | None:
        """What the job is doing, or None when there is no such job."""
        if not is_job_id(job_id):
            return None
        job = self.jobs.get(job_id)
        if job is None:
            return self._status_on_disk(job_id)
        progress = read_json(job.folder / PROGRESS) or {}
        out = {
            "id": job_id,
            "state": "queued",
            "stage": "waiting for a free worker",
            "days_done": int(progress.get("days_done", 0)),
            "days": job.days,
            "request": job.request,
        }
        if job.future.done():
            out.update(self._outcome(job))
        elif progress.get("state") in FINISHED and progress["state"] != "done":  # stopped; the future follows
            out.update(state=progress["state"], stage=progress["state"],
                       error=progress.get("error") or MESSAGES[progress["state"]])
        elif progress:  # a worker has it (its last word may be written before the future is resolved)
            stage = progress.get("stage", "simulating") if progress.get("state") == "running" else "finishing"
            if job.cancel_requested:
                stage = f"cancelling (while {stage})"
            out.update(state="running", stage=stage)
        elif job.cancel_requested:  # it stops as soon as a worker picks it up
            out.update(state="cancelled", stage="cancelled", error="the run was cancelled before it started")
        else:
            ahead = [j for j in self.jobs.values() if not j.future.done() and not j.cancel_requested
                     and j.created < job.created and not (j.folder / PROGRESS).exists()]
            out["queue_position"] = len(ahead) + 1
            if any(not w.done() for w in self._warm_ups):
                out["stage"] = "waiting while the workers start (the simulation is compiled once)"
        if out["state"] == "done":
            out.update(days_done=job.days, report_url=f"/runs/{job_id}/{REPORT_NAME}")
        return out

    def counts(self) -> dict[str, int]:
        """How many jobs are running and how many wait, now."""
        states = [self.status(j.id)["state"] for j in list(self.jobs.values()) if not j.future.done()]
        return {"running": states.count("running"), "queued": states.count("queued")}

    def is_done(self, job_id: str) -> bool:
        status = self.status(job_id)
        return status is not None and status["state"] == "done"

    def folder(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.runs_dir / job_id

    def _outcome(self, job: Job) -> dict:
        if job.future.cancelled():
            return {"state": "cancelled", "stage": "cancelled", "error": "the run was cancelled before it started"}
        error = job.future.exception()
        if error is not None:
            message = ("the worker process running this job stopped unexpectedly (perhaps out of memory); "
                       "try a smaller population" if isinstance(error, BrokenProcessPool)
                       else f"the run failed unexpectedly: {type(error).__name__}: {error}")
            return {"state": "failed", "stage": "failed", "error": message}
        result = job.future.result()
        out = {"state": result["state"], "stage": result["state"]}
        seconds = (read_json(job.folder / PROGRESS) or {}).get("seconds")
        if seconds is not None:
            out["seconds"] = seconds
        if "error" in result:
            out["error"] = result["error"]
        return out

    def _status_on_disk(self, job_id: str) -> dict | None:
        folder = self.runs_dir / job_id
        request = read_json(folder / REQUEST)
        if request is None:
            return None
        progress = read_json(folder / PROGRESS) or {}
        days = int(progress.get("days") or 0)
        out = {"id": job_id, "days_done": int(progress.get("days_done", 0)), "days": days, "request": request}
        damage = _damage(folder)
        if damage is None:
            out.update(state="done", stage="done", days_done=days, report_url=f"/runs/{job_id}/{REPORT_NAME}")
            if progress.get("seconds") is not None:
                out["seconds"] = progress["seconds"]
        elif progress.get("state") == "done":
            out.update(state="failed", stage="failed", error=f"the run's files do not match their manifest: {damage}")
        elif progress.get("state") in MESSAGES:
            out.update(state=progress["state"], stage=progress["state"],
                       error=progress.get("error") or MESSAGES[progress["state"]])
        else:  # an earlier server ended without a word (killed)
            out.update(state="stopped", stage="stopped", error=STOPPED_MESSAGE)
        return out

    # ------------------------------------------------------------------ the history

    def runs(self) -> list[dict]:
        """Every run in the folder, newest first: what ``status`` says of each."""
        ids = set(self.jobs)
        if self.runs_dir.is_dir():
            ids.update(entry.name for entry in self.runs_dir.iterdir() if is_job_id(entry.name))
        statuses = [status for status in map(self.status, ids) if status is not None]
        return sorted(statuses, key=lambda s: s["request"].get("created", 0), reverse=True)

    def timings(self) -> dict:
        """The time model of :mod:`credsim.web.estimate`, scaled by this server's finished runs."""
        timed = [(job.request.get("people", 0), job.days, (read_json(job.folder / PROGRESS) or {}).get("seconds"))
                 for job in sorted(self.jobs.values(), key=lambda j: j.created) if job.future.done()]
        return calibrated([(p, d, float(s)) for p, d, s in timed if p and isinstance(s, (int, float))])

    def prune(self, room_for: int = 0) -> list[str]:
        """Delete the oldest finished runs until at most ``keep_runs - room_for`` runs and
        ``keep_bytes`` bytes remain, and the comparisons of deleted runs; return their ids."""
        everything = self.runs()
        finished = [s for s in reversed(everything) if s["state"] in FINISHED]  # oldest first
        count = len(everything)
        sizes = {s["id"]: _bytes(self.runs_dir / s["id"]) for s in finished}
        total = sum(sizes.values())
        deleted = []
        for status in finished:
            if count <= self.keep_runs - room_for and total <= self.keep_bytes:
                break
            shutil.rmtree(self.runs_dir / status["id"], ignore_errors=True)
            self.jobs.pop(status["id"], None)
            count, total = count - 1, total - sizes[status["id"]]
            deleted.append(status["id"])
        if deleted and self.compare_dir.is_dir():
            for page in self.compare_dir.iterdir():
                if any(job_id in page.name for job_id in deleted):
                    page.unlink(missing_ok=True)
        return deleted

    # ------------------------------------------------------------------ stopping

    def cancel(self, job_id: str) -> dict | None:
        job = self.jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            return self.status(job_id)
        if not job.future.done():
            job.cancel_requested = True
            (job.folder / CANCEL).touch()
            job.future.cancel()  # succeeds only while it is still in the pool's own queue
        return self.status(job_id)

    def shutdown(self) -> None:
        """Stop what waits and what runs (within :data:`SHUTDOWN_GRACE_S`), end the worker
        processes, and record the unfinished runs as stopped by the server."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        unfinished = [job for job in self.jobs.values() if not job.future.done()]
        for job in unfinished:
            # Written whole and then moved into place: a run that looks while it is written
            # must not read it empty, which is a user's cancel (seen once in a clean .ci/run).
            staging = job.folder / f".{CANCEL}.partial"
            staging.write_text(SERVER_STOP, encoding="utf-8")
            os.replace(staging, job.folder / CANCEL)
        processes = list((getattr(pool, "_processes", None) or {}).values())  # to end stragglers below
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(2.0)
        for job in unfinished:  # a run that was ended, or never started, is told as stopped
            progress = read_json(job.folder / PROGRESS) or {}
            if progress.get("state") not in FINISHED:
                try:
                    write_json_atomic(job.folder / PROGRESS, {
                        "state": "stopped", "stage": "stopped", "days_done": int(progress.get("days_done", 0)),
                        "days": job.days, "error": STOPPED_MESSAGE})
                except OSError:
                    pass


def _damage(folder: Path) -> str | None:
    """None when ``folder`` holds a finished run, its report included, as its manifest says
    (:func:`credsim.results.manifest.verify`, the check every reader makes); else what is wrong."""
    try:
        if REPORT_NAME not in verify(folder)["files"]:
            return f"{REPORT_NAME} is not listed"
    except CorruptRunError as error:
        return str(error).replace(str(folder), "the run")
    return None


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
