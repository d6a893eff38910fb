"""Will a run fit? Memory and disk estimates, checked before any work is done."""

from __future__ import annotations

import os
import shutil

from credsim.errors import ResourceError
from credsim.scenario.schema import Scenario

# Bytes per person of the state and the fixed traits, measured on the arrays of
# credsim.state and credsim.world (see docs/performance.md): 4 per float32, 1 per int8/bool...
PER_PERSON_FIXED = 4 + 1 + 2 + 4 + 1 + 8  # base income, dependents, region, degree, group, indptr
PER_PERSON_STATE = 4 * 3 + 4 + 1 + 4 + 1 + 4 + 4 + 1 + 1 + 4 + 2 + 4 + 4 + 4 + 4  # see State
# Day-to-day temporaries (the day's events, the fast path's sets) and allocator slack; the
# peak measured at 10 M people was 121 bytes a person against 124 estimated here.
PEAK_FACTOR = 1.15


def estimate_bytes(scenario: Scenario) -> int:
    pop = scenario.population
    per_person = PER_PERSON_FIXED + PER_PERSON_STATE + 4 * pop.contacts
    if pop.propensity_cv > 0:
        per_person += len(scenario.behaviours)  # one byte per behaviour: a propensity class
    # building the network holds every tie's far end (int32) until the CSR is filled, and
    # draws ties in chunks of 2**20 (about 30 MB of temporaries; 70 MB allowed)
    build = pop.size * pop.contacts / 2 * 4 + 70 * 2**20
    tables = pop.days * (len(pop.groups) * 80 + pop.regions * 3) * 8
    return int(pop.size * per_person * PEAK_FACTOR + build + tables)


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_memory(scenario: Scenario) -> None:
    need, have = estimate_bytes(scenario), available_bytes()
    if need > have:
        raise ResourceError(
            f"a run of {scenario.population.size:,} people for {scenario.population.days:,} days needs about "
            f"{need / 2**30:.1f} GiB of memory; this machine has {have / 2**30:.1f} GiB available. "
            "Lower population.size (or population.contacts)."
        )


# Disk: the outputs, uncompressed (Parquet compresses them; measured files are 2-3x smaller).
DAILY_COLUMNS = 80  # columns of daily.parquet, with room to grow (58 in 0.1.0)
REGION_COLUMNS = 5
EPISODE_BYTES_PER_PERSON = 16  # allowance: about two episodes per person, at 7 narrow columns
FIXED_OUTPUT_BYTES = 1 << 20  # scenario.toml, summary.json, manifest.json, Parquet footers


def estimate_disk_bytes(scenario: Scenario, checkpoints: bool = False) -> int:
    """Bytes a run writes into its output folder: daily rows x columns x 8, regional rows,
    an allowance for episodes proportional to the population; with ``checkpoints``, two
    checkpoints at once (the last one, and the next one while it is written)."""
    pop = scenario.population
    tables = pop.days * (len(pop.groups) * DAILY_COLUMNS + pop.regions * REGION_COLUMNS) * 8
    episodes = pop.size * EPISODE_BYTES_PER_PERSON
    need = tables + episodes + FIXED_OUTPUT_BYTES
    if checkpoints:
        need += 2 * (pop.size * (PER_PERSON_STATE + EPISODE_BYTES_PER_PERSON) + tables + FIXED_OUTPUT_BYTES)
    return int(need)


def free_disk_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the file system of ``folder``, or of its nearest existing parent."""
    path = os.path.abspath(folder)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def check_disk(scenario: Scenario, folder: str | os.PathLike, checkpoints: bool = False) -> None:
    need, have = estimate_disk_bytes(scenario, checkpoints), free_disk_bytes(folder)
    if need > have:
        raise ResourceError(
            f"a run of {scenario.population.size:,} people for {scenario.population.days:,} days writes about "
            f"{need / 2**20:,.1f} MiB into {folder}{' (with checkpoints)' if checkpoints else ''}; "
            f"its file system has {have / 2**20:,.1f} MiB free. Free some space or choose another --out."
        )
