"""credsim.draws.uniforms against Generator.random: the same numbers, split or not, and the
generator left where rng.random leaves it (the draws after it are the same too)."""

from __future__ import annotations

import numpy as np
import pytest

from credsim.draws import SPLIT_FROM, uniforms


def pcg(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@pytest.mark.parametrize("shape", [(4, 0), (7,), (4, SPLIT_FROM // 4 - 1), (4, SPLIT_FROM // 4), (3, SPLIT_FROM + 1)])
def test_the_same_numbers_and_the_same_draws_after(shape):
    expected, got = pcg(11), pcg(11)
    want = expected.random(shape)
    have = uniforms(got, shape)
    assert have.shape == want.shape and have.dtype == want.dtype
    np.testing.assert_array_equal(have, want)
    # Every kind of draw after it: 64-bit (random, normal) and buffered 32-bit (small integers).
    assert expected.bit_generator.state == got.bit_generator.state
    np.testing.assert_array_equal(got.random(5), expected.random(5))
    np.testing.assert_array_equal(got.integers(0, 1000, 9), expected.integers(0, 1000, 9))
    np.testing.assert_array_equal(got.standard_normal(5), expected.standard_normal(5))


def test_a_buffered_half_draw_is_kept():
    """After a 32-bit draw the generator holds half of a 64-bit draw: advancing would drop it,
    so the fill is not split, and the next 32-bit draw is the one rng.random leaves."""
    expected, got = pcg(5), pcg(5)
    for rng in (expected, got):
        rng.integers(0, 10, 1, dtype=np.int32)
    assert got.bit_generator.state["has_uint32"] == 1
    shape = (2, SPLIT_FROM)
    np.testing.assert_array_equal(uniforms(got, shape), expected.random(shape))
    assert expected.bit_generator.state == got.bit_generator.state
    np.testing.assert_array_equal(got.integers(0, 10, 5, dtype=np.int32), expected.integers(0, 10, 5, dtype=np.int32))


def test_other_bit_generators_draw_on_one_core():
    expected, got = np.random.Generator(np.random.Philox(3)), np.random.Generator(np.random.Philox(3))
    np.testing.assert_array_equal(uniforms(got, (2, SPLIT_FROM)), expected.random((2, SPLIT_FROM)))
    np.testing.assert_array_equal(got.random(5), expected.random(5))
