"""Philox4x32-10, compiled: a counter-based random-number generator.

Philox (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC11, 2011) is a keyed bijection of a 128-bit counter: the numbers at counter ``c`` under
key ``k`` are a function of ``(k, c)`` alone, so any of them can be drawn without drawing
the ones before it. The event engine keys it by (seed, day, phase) and puts the block of
people, the behaviour and group, and the draw's index in the counter: a block's numbers
are then the same whichever process, thread or order draws them. Where a unit of work
draws many numbers in order, Philox gives its stream's starting state and SplitMix64 the
numbers that follow (:func:`stream`, :func:`next_uniform`): still a function of the key
and the counter alone.

``tests/engines/test_philox.py`` checks the known-answer vectors of the Random123 library
that defines it.
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.seeds import Seeds

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # the round multipliers
W0, W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)  # the key schedule's Weyl increments
MASK, SHIFT = np.uint64(0xFFFFFFFF), np.uint64(32)
ROUNDS = 10
TO_53 = 1.0 / 9007199254740992.0  # 2 ** -53
HIGH_27 = np.uint64(67108864)  # 2 ** 26: places 27 bits above 26
FIVE, SIX = np.uint64(5), np.uint64(6)


def key(seed: int, day: int, phase: int) -> tuple[np.uint64, np.uint64]:
    """The 64-bit key (two 32-bit words) of ``phase`` on ``day``: hashed from (seed, day,
    phase) by NumPy's SeedSequence algorithm (spawn key ``(3, day, phase)``)."""
    words = Seeds(seed, (3, day, phase)).generate_state(2, np.uint32)
    return np.uint64(words[0]), np.uint64(words[1])


@numba.njit(cache=True, inline="always")
def philox(c0, c1, c2, c3, k0, k1):  # pragma: no cover - compiled
    """The four 32-bit words (as uint64) at counter (c0, c1, c2, c3) under key (k0, k1);
    every argument a uint64 below 2 ** 32."""
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + W0) & MASK
            k1 = (k1 + W1) & MASK
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (p1 >> SHIFT) ^ c1 ^ k0, p1 & MASK, (p0 >> SHIFT) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


@numba.njit(cache=True, inline="always")
def uniform_pair(c0, c1, c2, c3, k0, k1):  # pragma: no cover - compiled
    """Two uniforms in [0, 1), 53 bits each (as NumPy makes a double of two 32-bit words),
    from the words at one counter."""
    a, b, c, d = philox(c0, c1, c2, c3, k0, k1)
    u = np.float64((a >> FIVE) * HIGH_27 + (b >> SIX)) * TO_53
    v = np.float64((c >> FIVE) * HIGH_27 + (d >> SIX)) * TO_53
    return u, v


GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment
MIX1, MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
S30, S27, S31, S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@numba.njit(cache=True, inline="always")
def stream(c0, c1, c2, c3, k0, k1):  # pragma: no cover - compiled
    """The starting state of a sequential stream keyed by one counter: 64 bits of the Philox
    words there. A unit of work draws its numbers from its own stream, in order (Philox's
    ten rounds for every number would cost three times the rest of a candidate's work)."""
    a, b, _, _ = philox(c0, c1, c2, c3, k0, k1)
    return (a << SHIFT) | b


@numba.njit(cache=True, inline="always")
def next_uniform(state):  # pragma: no cover - compiled
    """SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
    OOPSLA 2014): the next state and a uniform in [0, 1) from its 53 high bits."""
    state = state + GOLDEN
    z = state
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    z = z ^ (z >> S31)
    return state, np.float64(z >> S11) * TO_53


@numba.njit(cache=True)
def words(c0, c1, c2, c3, k0, k1):  # pragma: no cover - compiled
    """:func:`philox` as an array, for tests."""
    out = np.empty(4, np.uint64)
    out[0], out[1], out[2], out[3] = philox(c0, c1, c2, c3, k0, k1)
    return out
