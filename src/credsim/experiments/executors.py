"""Where an experiment's runs execute, behind one small interface.

An executor has two methods, as in :mod:`concurrent.futures`::

    submit(fn, *args) -> concurrent.futures.Future
    shutdown() -> None

and is a context manager. Three are provided:

- :class:`SerialExecutor` runs each call at once, in this process (tests, debugging);
- :class:`LocalExecutor` is a process pool on this machine (the default, and what
  ``--workers N`` means): nothing beyond credsim's own install is needed. Its workers
  watch the process that started them and exit when it is gone, so a killed command
  (SIGINT, SIGTERM or SIGKILL) leaves no worker running;
- :class:`DaskExecutor` sends runs to a ``dask.distributed`` cluster: an existing scheduler
  (``tcp://HOST:PORT``), or a ``LocalCluster`` it starts and stops itself. It needs the
  ``dask`` extra (``pip install -e '.[dask]'``).

Results never depend on the executor: every run's seed is fixed by the design
(:mod:`credsim.experiments.design`) before anything is submitted.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future: ...

    def shutdown(self) -> None: ...


class _Context:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def shutdown(self) -> None:  # pragma: no cover - overridden
        pass


class SerialExecutor(_Context):
    """Runs each submitted call immediately, in this process; the future is already done."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - the future carries it, as a pool's would
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


class LocalExecutor(_Context):
    """A pool of ``workers`` processes on this machine (default: one per CPU core).

    Workers are started with ``spawn``: a fresh interpreter each, so no lock or thread pool of
    the parent (numba's, pyarrow's) is copied into them half-held.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=watch_parent, initargs=(os.getpid(),))  # fmt: skip

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


PARENT_POLL_S = 0.5


def watch_parent(parent: int) -> None:
    """In a pool worker: exit as soon as ``parent`` (the process that started the pool) is gone.

    A pool's workers otherwise outlive a parent killed by SIGKILL or SIGTERM -- no Python
    code runs in the parent to stop them -- and keep simulating for nobody."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(PARENT_POLL_S)

    threading.Thread(target=watch, name="credsim-watch-parent", daemon=True).start()


DASK_MISSING = "the Dask executor needs dask.distributed, which credsim's plain install leaves out: pip install -e '.[dask]' (from a checkout) or pip install 'distributed>=2024.1'"


class DaskExecutor(_Context):
    """Runs on a ``dask.distributed`` cluster.

    With ``address`` (``tcp://HOST:PORT``) it connects to a running scheduler; without, it
    starts a ``LocalCluster`` of ``workers`` single-threaded worker processes and stops it
    on :meth:`shutdown`. Workers need credsim installed, and the output folder must be on a
    file system they all see (each run writes its own folder and catalog row).

    A worker that dies takes only its unfinished runs with it: the scheduler gives them to
    another worker. Finished runs are already on disk.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, timeout: float = 10.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - depends on the installation
            from credsim.experiments.spec import ExperimentError

            raise ExperimentError("dask", [DASK_MISSING, "or run without --scheduler and --executor dask: --workers N "
                                           "alone is a local process pool"], heading="not installed") from None  # fmt: skip
        self.address = address
        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self._client = Client(self._cluster, timeout=timeout)
        else:
            try:
                self._client = Client(address, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                from credsim.experiments.spec import ExperimentError

                raise ExperimentError(f"--scheduler {address}", [f"cannot reach the Dask scheduler: {exc}"],
                                      heading="no scheduler") from None  # fmt: skip

    @property
    def client(self):
        return self._client

    def check_workers(self, expected: dict[str, Any]) -> None:
        """Refuse the cluster, before any run is sent, when a worker now connected runs other
        credsim source or libraries than ``expected`` (the client's; a worker that joins
        later is checked by each run it is given)."""
        from credsim.experiments import provenance
        from credsim.experiments.spec import ExperimentError

        found = self._client.run(provenance.environment)
        problems = [f"{worker}: {'; '.join(differences)}" for worker, where in sorted(found.items())
                    if (differences := provenance.mismatch(expected, where))]  # fmt: skip
        if problems:
            raise ExperimentError(str(self.address or "dask"), problems + [
                "install the same credsim and libraries on every worker (the source hash and the numpy, numba and "
                "pyarrow versions are checked), then run the same command again"], heading="workers refused")  # fmt: skip

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        dask_future = self._client.submit(fn, *args, pure=False)
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def transfer(done) -> None:
            # runs in the client's callback thread; the Dask future is released once copied,
            # so no finished result is left held on a worker that might die
            try:
                future.set_result(done.result())
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)
            finally:
                done.release()

        dask_future.add_done_callback(transfer)
        return future

    def shutdown(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None, kind: str | None = None) -> Executor:
    """The executor the command line asks for: Dask with a scheduler address; else ``kind``
    ("local", the default: a process pool of ``workers`` processes; "dask": a Dask
    LocalCluster of ``workers``; "serial": this process)."""
    if scheduler is not None:
        return DaskExecutor(address=scheduler)
    kind = kind or "local"
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers=workers)
    if kind == "serial":
        return SerialExecutor()
    raise ValueError(f"unknown executor {kind!r}; expected local, dask or serial")
