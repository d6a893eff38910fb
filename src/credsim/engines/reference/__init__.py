"""The reference engine: the phases of docs/model.md, one after the other, each day
(:mod:`credsim.engines.reference.step`).

Its runs keep the fast path's sets and sums (:attr:`credsim.state.State.fast`), so that
no phase has to read everyone. ``FAST = False`` makes every phase scan the whole
population instead: the per-person path, for ``tests/test_fast_path.py``.
"""

from __future__ import annotations

from credsim.engines import Engine
from credsim.engines.reference.step import step
from credsim.state import initial_state

FAST = True

RANDOM_NUMBERS = "pcg64-day-phase"  # PCG64(SeedSequence(seed, spawn_key=(1, day, phase))); behave's two streams spawned from it


def _initial_state(world):
    return initial_state(world, fast=FAST)


ENGINE = Engine(name="reference", random_numbers=RANDOM_NUMBERS, initial_state=_initial_state, step=step)
