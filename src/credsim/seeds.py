"""Seed sequences made quickly: the seeding of ``numpy.random.SeedSequence``, compiled.

A day draws from seven generators -- one for each drawing phase, and two that behave
spawns for its threads -- each seeded by ``SeedSequence(seed, spawn_key=key)``. Made with
NumPy's SeedSequence, the five phase streams took about a tenth of a 100,000-person day;
made here, a third of that (``docs/performance.md`` gives the commands that time both).
:class:`Seeds` gives the same state words, and spawns children with the same keys, so a
generator made from it draws exactly the same numbers (``tests/test_seeds.py`` compares
them with NumPy's).

The algorithm is NumPy's (``numpy/random/bit_generator.pyx``, after Melissa O'Neill's
``seed_seq_fe``): the entropy and the spawn key, as 32-bit words, are hashed into a pool
of four words; the state is drawn from the pool by a second hash.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

POOL_SIZE = 4
_MASK = np.uint64(0xFFFFFFFF)
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)
_MIX_L, _MIX_R = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
_SHIFT = np.uint64(16)


class Seeds(ISpawnableSeedSequence):
    """``SeedSequence(entropy, spawn_key=spawn_key)`` for a non-negative integer ``entropy``
    and spawn key of non-negative integers: the same state and the same children."""

    def __init__(self, entropy: int, spawn_key: tuple[int, ...] = ()):
        self.entropy, self.spawn_key, self.n_children_spawned = entropy, tuple(spawn_key), 0
        run, key = _words(entropy), [w for k in self.spawn_key for w in _words(k)]
        if key and len(run) < POOL_SIZE:  # as NumPy does, so that keys cannot collide with entropy
            run += [0] * (POOL_SIZE - len(run))
        self.pool = _mix(np.array(run + key, np.uint64))

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        kind = np.dtype(dtype)
        if kind == np.uint32:
            return _state(self.pool, n_words).astype(np.uint32)
        if kind == np.uint64:  # pairs of words, the first the low half, whatever the machine
            return _state64(self.pool, n_words)
        raise ValueError(f"Seeds.generate_state: dtype must be uint32 or uint64, not {kind}")

    def spawn(self, n_children: int) -> list[Seeds]:
        first = self.n_children_spawned
        self.n_children_spawned += n_children
        return [Seeds(self.entropy, (*self.spawn_key, i)) for i in range(first, first + n_children)]


def generator(entropy: int, spawn_key: tuple[int, ...]) -> np.random.Generator:
    """``Generator(PCG64(SeedSequence(entropy, spawn_key=spawn_key)))``, made quickly."""
    return np.random.Generator(np.random.PCG64(Seeds(entropy, spawn_key)))


def _words(value: int) -> list[int]:
    """A non-negative integer as 32-bit words, lowest first (0 is one word)."""
    if value < 0:
        raise ValueError(f"seeds must be non-negative integers, not {value}")
    words = [value & 0xFFFFFFFF]
    value >>= 32
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return words


# 32-bit arithmetic in uint64 variables, masked after each product: every operand is a
# uint64, so that Numba never promotes a mixed expression to float.


@numba.njit(cache=True, inline="always")
def _hashmix(value, hash_const):  # pragma: no cover - compiled
    value = (value ^ hash_const) & _MASK
    hash_const = (hash_const * _MULT_A) & _MASK
    value = (value * hash_const) & _MASK
    return value ^ (value >> _SHIFT), hash_const


@numba.njit(cache=True, inline="always")
def _mixed(x, y):  # pragma: no cover - compiled
    result = ((_MIX_L * x) - (_MIX_R * y)) & _MASK  # uint64 wraps modulo 2**64, a multiple of 2**32
    return result ^ (result >> _SHIFT)


@numba.njit(cache=True)
def _mix(entropy):  # pragma: no cover - compiled
    """The pool of SeedSequence.mix_entropy, from the assembled entropy words."""
    pool = np.zeros(POOL_SIZE, np.uint64)
    hash_const = _INIT_A
    for i in range(POOL_SIZE):
        pool[i], hash_const = _hashmix(entropy[i] if i < entropy.shape[0] else np.uint64(0), hash_const)
    for src in range(POOL_SIZE):
        for dst in range(POOL_SIZE):
            if src != dst:
                hashed, hash_const = _hashmix(pool[src], hash_const)
                pool[dst] = _mixed(pool[dst], hashed)
    for src in range(POOL_SIZE, entropy.shape[0]):
        for dst in range(POOL_SIZE):
            hashed, hash_const = _hashmix(entropy[src], hash_const)
            pool[dst] = _mixed(pool[dst], hashed)
    return pool


@numba.njit(cache=True)
def _state(pool, n_words):  # pragma: no cover - compiled
    """SeedSequence.generate_state's 32-bit words, drawn from the pool in turn."""
    out = np.empty(n_words, np.uint64)
    hash_const = _INIT_B
    for i in range(n_words):
        value = pool[i % POOL_SIZE] ^ hash_const
        hash_const = (hash_const * _MULT_B) & _MASK
        value = (value * hash_const) & _MASK
        out[i] = value ^ (value >> _SHIFT)
    return out


@numba.njit(cache=True)
def _state64(pool, n_words):  # pragma: no cover - compiled
    """The state as 64-bit words: each from two 32-bit words, the first the low half."""
    words = _state(pool, 2 * n_words)
    out = np.empty(n_words, np.uint64)
    for i in range(n_words):
        out[i] = words[2 * i] | (words[2 * i + 1] << np.uint64(32))
    return out
