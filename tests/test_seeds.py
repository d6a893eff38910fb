"""credsim.seeds against numpy.random.SeedSequence: the same state words, the same children,
and generators that draw the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from credsim.seeds import Seeds, generator
from credsim.engines.reference.step import PHASE_STREAMS, day_streams

ENTROPIES = [0, 1, 3, 2**32 - 1, 2**32, 2**40 + 5, 2**63 - 1, 12345678901234567890]
KEYS = [(), (0,), (1, 0, 0), (1, 364, 4), (1, 10**6, 2), (1, 5, 0, 1), (2**33, 7)]


@pytest.mark.parametrize("entropy", ENTROPIES)
def test_state_words_are_numpys(entropy):
    for key in KEYS:
        ours, numpys = Seeds(entropy, key), np.random.SeedSequence(entropy, spawn_key=key)
        for n_words, dtype in [(4, np.uint64), (3, np.uint64), (8, np.uint32), (5, np.uint32)]:
            got = ours.generate_state(n_words, dtype)
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, numpys.generate_state(n_words, dtype), err_msg=f"{entropy} {key} {n_words}")


def test_children_and_their_draws_are_numpys():
    for entropy in (0, 7, 2**40 + 5):
        ours = generator(entropy, (1, 12, 0))
        numpys = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(1, 12, 0))))
        np.testing.assert_array_equal(ours.random(10), numpys.random(10))
        for _ in range(2):  # a second spawn continues the numbering, as NumPy's does
            for a, b in zip(ours.spawn(3), numpys.spawn(3)):
                np.testing.assert_array_equal(a.bit_generator.seed_seq.spawn_key, b.bit_generator.seed_seq.spawn_key)
                np.testing.assert_array_equal(a.standard_exponential(20), b.standard_exponential(20))


def test_day_streams_are_the_documented_seed_sequences():
    streams = day_streams(42, 17)
    assert list(streams) == list(PHASE_STREAMS)
    for k, name in enumerate(PHASE_STREAMS):
        expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(42, spawn_key=(1, 17, k))))
        np.testing.assert_array_equal(streams[name].integers(0, 2**62, 8), expected.integers(0, 2**62, 8))


def test_bad_seeds_and_word_types_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        Seeds(-1)
    with pytest.raises(ValueError, match="uint32 or uint64"):
        Seeds(1).generate_state(4, np.int64)
