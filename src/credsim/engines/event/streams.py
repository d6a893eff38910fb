"""The event engine's random numbers for the phases after behave: one PCG64 stream per
(seed, day, phase).

Each drawing phase of day ``day`` draws from ``PCG64(SeedSequence(seed, spawn_key=(2, day,
phase)))`` (:func:`credsim.seeds.generator`; the reference engine's streams use ``(1, day,
phase)``), over the day's events and open cases in the order the phase takes them, never
over everyone. Behave's numbers are counter-based and keyed by block of people
(:mod:`credsim.engines.event.behave`); these are not, and need not be yet: nothing here is
drawn per person. PCG64 rather than NumPy's Philox: the same guarantee (a stream fixed by
its key), more than twice as fast to fill (docs/performance.md gives the command), and
:func:`credsim.draws.uniforms` splits a large fill over two threads only for PCG64.
"""

from __future__ import annotations

import numpy as np

from credsim.seeds import generator

PHASES = ("behave", "observe", "list", "appeal", "sanction")


def day_streams(seed: int, day: int) -> dict[str, np.random.Generator]:
    """One generator per drawing phase of ``day``."""
    return {name: generator(seed, (2, day, k)) for k, name in enumerate(PHASES)}
