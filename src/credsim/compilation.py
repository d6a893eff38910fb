"""Numba's compiled kernels: whether they are cached for this source, and compiling them
ahead of a run so that the command line can say so.

Every kernel is ``@numba.njit(cache=True)``: the first run of an installation compiles them
(about 30 s on an idle two-core machine, over a minute on a busy one) and numba writes the
machine code beside the source (``__pycache__``, or ``NUMBA_CACHE_DIR`` when set); later
processes load it in about a second. Editing any of credsim's source files, or another numba
version, makes numba compile every kernel again (:mod:`credsim.numba_cache`: numba alone
would recompile only the edited module's kernels, and keep stale machine code in kernels
that call into it).

    cached()                 -> True when the kernels a run uses are in numba's cache
    compile_for(scenario)    compile them with a tiny run of the same scenario

Nothing here is needed for correctness: a run compiles whatever is missing as it goes.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from numba.core.registry import CPUDispatcher

from credsim.scenario.schema import Scenario

#: modules holding numba kernels (the phases are found by walking the package)
KERNEL_MODULES = ("credsim.kernels", "credsim.world", "credsim.population.network")
#: people and days of the tiny run that compiles a scenario's kernels
WARM_UP_SIZE, WARM_UP_DAYS = 300, 2


def kernels() -> list[CPUDispatcher]:
    """Every kernel compiled on its own (kernels inlined into others have no cache of their own)."""
    phases = importlib.import_module("credsim.engines.reference.phases")
    names = [*KERNEL_MODULES, *(f"credsim.engines.reference.phases.{m.name}" for m in pkgutil.iter_modules(phases.__path__))]
    found = []
    for name in names:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.__module__ == name and value.targetoptions.get("inline") != "always":
                found.append(value)
    return found


def cached() -> bool | None:
    """True when the kernels have been compiled for this source: some kernel is cached with
    the package's current stamp (:mod:`credsim.numba_cache`: every kernel is stamped with
    the whole package, so an edit anywhere makes every cached kernel stale at once, and a
    kernel left stale after a run is one that run did not need: it compiles when a run does).
    False when every cached kernel is stale, or nothing is cached yet; None when numba's
    cache cannot be read."""
    try:
        for kernel in kernels():
            cache_file = kernel._cache._cache_file  # numba's own cache index (internal, stable since 0.4x)
            if os.path.exists(cache_file._index_path) and cache_file._load_index():
                return True
        return False  # nothing cached, or all of it written for another source or numba version
    except (AttributeError, OSError, EOFError, ValueError):  # pragma: no cover - another numba's internals
        return None


def compile_for(scenario: Scenario) -> None:
    """Compile (or load from the cache) the kernels ``scenario`` uses: run a tiny copy of it
    (at most WARM_UP_SIZE people and WARM_UP_DAYS days) and throw the result away."""
    from credsim.simulate import simulate  # simulate imports the phases; keep this module light

    population = scenario.population.model_copy(update={
        "size": min(scenario.population.size, WARM_UP_SIZE), "days": min(scenario.population.days, WARM_UP_DAYS)})
    simulate(scenario.model_copy(update={"population": population}), seed=0)

