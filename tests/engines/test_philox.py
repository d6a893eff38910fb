"""Philox4x32-10 as the event engine draws it: the Random123 known answers, and uniforms
that are uniform."""

from __future__ import annotations

import math

import numpy as np
import pytest

from credsim.engines.event.philox import key, uniform_pair, words

U = np.uint64

# Random123's kat_vectors for philox4x32 with 10 rounds: counter (4 words), key (2), result (4).
KNOWN = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter, k, expected", KNOWN)
def test_known_answers(counter, k, expected):
    assert tuple(int(w) for w in words(*(U(c) for c in counter), *(U(x) for x in k))) == expected


def _uniforms(n: int, k0, k1) -> np.ndarray:
    out = np.empty(2 * n)
    for i in range(n):
        out[2 * i], out[2 * i + 1] = uniform_pair(U(7), U(3), U(i), U(0), k0, k1)
    return out


def test_uniforms_are_uniform_and_keyed():
    """20,000 uniforms: each decile holds a tenth of them within 4.5 standard errors (a
    false alarm about once in 150,000 per decile), in [0, 1); another key gives others."""
    k0, k1 = key(11, 5, 0)
    u = _uniforms(10_000, k0, k1)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    se = math.sqrt(len(u) * 0.1 * 0.9)
    assert np.all(np.abs(counts - len(u) / 10) < 4.5 * se), counts
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4.5 / math.sqrt(len(u))
    other = _uniforms(100, *key(11, 6, 0))
    assert not np.any(other == u[:200])


def test_key_depends_on_seed_day_and_phase():
    keys = {key(s, d, p) for s in (0, 1) for d in (0, 1) for p in (0, 1)}
    assert len(keys) == 8
