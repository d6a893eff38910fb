"""Will a run fit? Memory and disk estimates, checked before any work is done.

Memory is checked against the smallest of what this process may really use (see
:func:`memory_limits`): the machine's available memory, the cgroup's limit (a container's,
v1 or v2), the address-space limit (``ulimit -v``) less what the process already maps, and a
Dask worker's memory limit when the run is inside one. Disk is checked against the output
folder's free space, counting a resumed run's own checkpoint as space it will reuse. And
:func:`give_back_free_memory`, for a step that reads everyone in slices, so that its
scratch does not stay in the run's footprint.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import sys
from pathlib import Path

import numpy as np

from credsim.errors import ResourceError
from credsim.scenario.schema import Scenario

# Bytes per person of the state and the fixed traits, measured on the arrays of
# credsim.state and credsim.world (see docs/performance.md): 4 per float32, 1 per int8/bool...
PER_PERSON_FIXED = 4 + 1 + 2 + 4 + 1  # base income, dependents, region, degree, group
# and the network's row ends, 4 or 8 bytes a person (credsim.population.network.row_dtype)
PER_PERSON_STATE = 4 * 3 + 4 + 1 + 4 + 1 + 4 + 4 + 1 + 1 + 4 + 2 + 4 + 4 + 4 + 4 + 1  # see State (the last: case_cause)
# The event engine's state adds, a person: the day their scores and their perceived risk
# were last brought up to date, what perceived risk moves toward (in its 32-byte record),
# and the day of their next crossing (credsim.engines.event.state). Its calendar holds
# about one 8-byte entry per crossing to come: a few hundredths of a byte a person in
# ``city`` (0.26 at 1 M people after a year), within PEAK_FACTOR.
PER_PERSON_EVENT = 4 + 4 + 4 + 4
CASE_TERMS_BYTES = 2  # State.terms (int16), only when a timeline changes the terms open cases keep
# Day-to-day temporaries (the fast path's sets) and allocator slack; the peak measured at
# 10 M people was 121 bytes a person against 124 estimated here.
PEAK_FACTOR = 1.15
# A day's events and what is made of them (who, which behaviour, seen or not, score
# changes): 66 bytes an event measured at 200,000 people with every rate at 1 (155 MiB of
# peak against 31 MiB at the city's own rates, 2,000,000 events a day against 6,852); 56 at
# 400,000. Counted at the rates as written, before deterrence and chilling lower them.
EVENT_BYTES = 80


def expected_events_per_day(scenario: Scenario) -> float:
    """People times the sum over behaviours of the largest group rate: an upper bound on the
    mean number of a day's events before deterrence and chilling reduce the rates."""
    rates = sum(max(b.rate.values(), default=0.0) for b in scenario.behaviours.values())
    return scenario.population.size * rates


def state_bytes_per_person(scenario: Scenario) -> int:
    """The state's bytes a person under the scenario's engine."""
    return PER_PERSON_STATE + (PER_PERSON_EVENT if scenario.engine.name == "event" else 0)


def row_bytes(scenario: Scenario) -> int:
    """The network's row ends, a person: int32 unless the ties' ends pass 2**31."""
    from credsim.population.network import row_dtype

    pop = scenario.population
    return np.dtype(row_dtype(int(round(pop.size * pop.contacts / 2)))).itemsize


def estimate_bytes(scenario: Scenario) -> int:
    pop = scenario.population
    per_person = PER_PERSON_FIXED + row_bytes(scenario) + state_bytes_per_person(scenario) + 4 * pop.contacts
    if pop.propensity_cv > 0:
        per_person += len(scenario.behaviours)  # one byte per behaviour: a propensity class
    if _changes_case_terms(scenario):
        per_person += CASE_TERMS_BYTES
    # building the network holds every tie's far end (int32) until the CSR is filled, and
    # draws ties in chunks of 2**20 (about 30 MB of temporaries; 70 MB allowed)
    build = pop.size * pop.contacts / 2 * 4 + 70 * 2**20
    tables = pop.days * (len(pop.groups) * 80 + pop.regions * 3) * 8
    events = expected_events_per_day(scenario) * EVENT_BYTES
    return int(pop.size * per_person * PEAK_FACTOR + build + tables + events)


def _changes_case_terms(scenario: Scenario) -> bool:
    from credsim.scenario import timeline  # as credsim.world decides it keeps State.terms

    return bool(scenario.timeline) and any(change.changes_terms for change in timeline.changes(scenario))


# Where the limits are read; tests point these at folders of their own.
PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


def give_back_free_memory() -> None:
    """Return the memory this process has freed to the system, where the C library can
    (glibc's ``malloc_trim``; elsewhere nothing). For after a step that reads everyone in
    slices: the allocator keeps the pages its slices' scratch arrays were freed from, about
    11 bytes a person at 10 M people (measured for the event engine's build), and they
    would count in the run's peak for the rest of the run."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the process already uses
    except (OSError, AttributeError):  # not glibc (musl has none)
        return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def mem_available() -> int | None:
    try:
        with open(PROC / "meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (OSError, ValueError):
        return None


def cgroup_headroom() -> int | None:
    """The cgroup memory limit less the cgroup's present usage, the tightest along the path
    from this process's cgroup up to the root (v2: memory.max and memory.current; v1:
    memory.limit_in_bytes and memory.usage_in_bytes); None when no limit is set."""
    try:
        lines = (PROC / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, where = parts
        if controllers == "":  # v2, the unified hierarchy
            base, limit_file, usage_file = CGROUP_ROOT, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_file, usage_file = CGROUP_ROOT / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        folder = base / where.lstrip("/")
        while True:
            limit = _read_int(folder / limit_file)
            if limit is not None and limit < UNLIMITED:
                headroom = max(limit - (_read_int(folder / usage_file) or 0), 0)
                best = headroom if best is None else min(best, headroom)
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return best


def address_space_headroom() -> int | None:
    """``ulimit -v`` (RLIMIT_AS) less the address space this process already maps; None
    when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    try:
        with open(PROC / "self" / "statm") as f:
            mapped = int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        mapped = 0
    return max(soft - mapped, 0)


def dask_worker_headroom() -> int | None:
    """Inside a Dask worker: its memory limit less this process's resident memory; None
    elsewhere (distributed is only asked when already imported: a worker has it loaded)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except Exception:  # not in a worker (ValueError), or an old or odd distributed
        return None
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None) or getattr(worker, "memory_limit", None)
    if not limit:
        return None
    try:
        with open(PROC / "self" / "statm") as f:
            resident = int(f.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        resident = 0
    return max(int(limit) - resident, 0)


def memory_limits() -> dict[str, int]:
    """What this process may still use, by what limits it: only the limits that apply."""
    found = {
        "available memory": mem_available(),
        "the cgroup's memory limit": cgroup_headroom(),
        "the address-space limit (ulimit -v)": address_space_headroom(),
        "the Dask worker's memory limit": dask_worker_headroom(),
    }
    return {name: value for name, value in found.items() if value is not None}


def available_bytes() -> int:
    limits = memory_limits()
    return min(limits.values()) if limits else 1 << 62


def check_memory(scenario: Scenario) -> None:
    need, have = estimate_bytes(scenario), available_bytes()
    if need > have:
        limits = memory_limits()
        which = next((name for name, value in limits.items() if value == have), "available memory")
        events = expected_events_per_day(scenario)
        raise ResourceError(
            f"a run of {scenario.population.size:,} people for {scenario.population.days:,} days "
            f"(about {events:,.0f} events a day) needs about {need / 2**30:.1f} GiB of memory; "
            f"{have / 2**30:.1f} GiB available ({which}). "
            "Lower population.size (or population.contacts, or the behaviours' rates)."
        )


def out_of_memory_message(scenario: Scenario) -> str:
    """For a MemoryError that still happens: one line, with the estimate."""
    limits = memory_limits()
    which = min(limits, key=limits.get) if limits else "the machine"
    return (
        f"ran out of memory: a run of {scenario.population.size:,} people was estimated at "
        f"{estimate_bytes(scenario) / 2**30:.2f} GiB, and {which} now leaves "
        f"{min(limits.values(), default=0) / 2**30:.2f} GiB. Lower population.size, or free memory and run again."
    )


# Disk: the outputs, uncompressed (Parquet compresses them; measured files are 2-3x smaller).
DAILY_COLUMNS = 80  # columns of daily.parquet, with room to grow (58 in 0.1.0)
REGION_COLUMNS = 5
EPISODE_BYTES_PER_PERSON = 16  # allowance: about two episodes per person, at 7 narrow columns
FIXED_OUTPUT_BYTES = 1 << 20  # scenario.toml, summary.json, manifest.json, Parquet footers
# report.html: the charting library inline and the charts' data; measured 5,293,658 bytes
# for city (2 groups, 8 regions) over 365 days and 9,265,668 over 3,650 (1,209 bytes a day).
# Counted twice: a report rebuilt in a folder stands beside the one it replaces.
REPORT_FIXED_BYTES = 6 * 2**20
REPORT_BYTES_PER_GROUP_DAY = 500


def estimate_report_bytes(scenario: Scenario) -> int:
    pop = scenario.population
    return int(2 * (REPORT_FIXED_BYTES + pop.days * (len(pop.groups) + 1) * REPORT_BYTES_PER_GROUP_DAY))


def estimate_disk_bytes(scenario: Scenario, checkpoints: bool = False) -> int:
    """Bytes a run writes into its output folder: daily rows x columns x 8, regional rows,
    an allowance for episodes proportional to the population, the report; with
    ``checkpoints``, two checkpoints at once (the last one, and the next one while it is
    written)."""
    pop = scenario.population
    tables = pop.days * (len(pop.groups) * DAILY_COLUMNS + pop.regions * REGION_COLUMNS) * 8
    episodes = pop.size * EPISODE_BYTES_PER_PERSON
    need = tables + episodes + FIXED_OUTPUT_BYTES + estimate_report_bytes(scenario)
    if checkpoints:
        need += 2 * checkpoint_bytes(scenario)
    return int(need)


def checkpoint_bytes(scenario: Scenario) -> int:
    pop = scenario.population
    tables = pop.days * (len(pop.groups) * DAILY_COLUMNS + pop.regions * REGION_COLUMNS) * 8
    return int(pop.size * (state_bytes_per_person(scenario) + EPISODE_BYTES_PER_PERSON) + tables + FIXED_OUTPUT_BYTES)


def free_disk_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the file system of ``folder``, or of its nearest existing parent."""
    return shutil.disk_usage(_existing(folder)).free


def _existing(folder: str | os.PathLike) -> str:
    path = os.path.abspath(folder)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def read_only(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` (or its nearest existing parent) is on a read-only file system."""
    try:
        return bool(os.statvfs(_existing(folder)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_disk(scenario: Scenario, folder: str | os.PathLike, checkpoints: bool = False, reusable: int = 0) -> None:
    """Refuse a run whose outputs will not fit. ``reusable``: bytes already in ``folder``
    that the run replaces as it goes (a resumed run's own checkpoint), counted as free."""
    if read_only(folder):
        raise ResourceError(f"{folder} is on a read-only file system; choose another --out.")
    need, free = estimate_disk_bytes(scenario, checkpoints), free_disk_bytes(folder)
    have = free + reusable
    if need > have:
        held = f" (and {reusable / 2**20:,.1f} MiB its checkpoint holds)" if reusable else ""
        raise ResourceError(
            f"a run of {scenario.population.size:,} people for {scenario.population.days:,} days writes about "
            f"{need / 2**20:,.1f} MiB into {folder}{' (with checkpoints)' if checkpoints else ''}; "
            f"its file system has {free / 2**20:,.1f} MiB free{held}. Free some space or choose another --out."
        )
