"""Random numbers drawn on both cores: the same numbers as drawn on one.

NumPy's generators draw on one core. A day's large fills of uniforms need not: PCG64 can
skip ahead (``PCG64.advance``, "as if delta draws had occurred"), and each uniform of
``Generator.random`` takes exactly one 64-bit draw, so a copy of the generator advanced by
half the count draws the second half while the generator draws the first, and the
generator is then advanced past both. ``tests/test_draws.py`` checks that the numbers, and
every draw after them, are those of ``rng.random``.
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

THREADS = 2  # this machine's cores; the draws do not depend on it
SPLIT_FROM = 1 << 18  # uniforms; below this a thread costs more than it saves
_pools: dict[int, ThreadPoolExecutor] = {}


def pool() -> ThreadPoolExecutor:
    """This process's worker threads, on which random streams are drawn side by side
    (behave's streams, the second half of a large fill). A forked child must not use its
    parent's, which it lacks."""
    pid = os.getpid()
    if pid not in _pools:
        _pools[pid] = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="credsim-draws")
    return _pools[pid]


def uniforms(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``rng.random(shape)``: the same numbers, and ``rng`` left where that leaves it; a large
    fill is drawn half on another thread, from a copy of the generator advanced past the
    first half."""
    out = np.empty(shape)
    flat = out.reshape(-1)
    bits = rng.bit_generator
    # advance() also empties the generator's buffered 32-bit half-draw: split only where
    # there is none, which is where nothing but 64-bit draws came before.
    if flat.size < SPLIT_FROM or not isinstance(bits, np.random.PCG64) or bits.state["has_uint32"]:
        rng.random(out=flat)
        return out
    half = flat.size // 2
    ahead = copy.deepcopy(bits)
    ahead.advance(half)
    second = pool().submit(np.random.Generator(ahead).random, out=flat[half:])
    rng.random(out=flat[:half])  # both release the GIL while they fill
    second.result()
    bits.advance(flat.size - half)
    return out
