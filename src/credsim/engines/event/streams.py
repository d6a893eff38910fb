"""The event engine's random numbers: counter-based Philox, keyed by (seed, day, phase).

A Philox generator is a keyed function of a counter: its numbers are fixed by its key and
where in the counter it starts, not by anything drawn before. Each drawing phase of day
``day`` draws from ``Philox(SeedSequence(seed, spawn_key=(2, day, phase)))``, whose 128-bit
key NumPy derives from (seed, day, phase) (:class:`credsim.seeds.Seeds` makes the sequence
quickly; the reference engine's streams use ``(1, day, phase)``).
"""

from __future__ import annotations

import numpy as np

from credsim.seeds import Seeds

PHASES = ("behave", "observe", "list", "appeal", "sanction")


def day_streams(seed: int, day: int) -> dict[str, np.random.Generator]:
    """One generator per drawing phase of ``day``."""
    return {name: np.random.Generator(np.random.Philox(Seeds(seed, (2, day, k)))) for k, name in enumerate(PHASES)}
