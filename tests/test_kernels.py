"""The small helpers of the fast path (credsim.kernels, World.groups_of and World.per_group),
against plain NumPy and Python."""

from __future__ import annotations

import math

import numpy as np
import pytest

from credsim.kernels import LANES, sorted_union, sum64


@pytest.mark.parametrize("size", [50, 5000])  # sorted, and merged
def test_sorted_union_is_the_sorted_distinct_people_of_its_parts(size):
    rng = np.random.default_rng(7)
    for _ in range(2000 if size < 1000 else 200):
        parts = []
        for _ in range(rng.integers(1, 5)):
            part = rng.integers(0, size, rng.integers(0, 30 if size < 1000 else 3000)).astype(rng.choice([np.int32, np.int64]))
            parts.append(np.unique(part) if rng.random() < 0.6 else part)  # sorted sets, and a queue's order
        expected = np.unique(np.concatenate(parts)).astype(np.int32)
        got = sorted_union(*parts)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)


def test_sorted_union_of_nothing_is_empty():
    assert sorted_union().shape == (0,)
    assert sorted_union(np.zeros(0, np.int32), np.zeros(0, np.int64)).dtype == np.int32


@pytest.mark.parametrize("n", [0, 1, LANES - 1, LANES, LANES + 1, 16_384, 100_003])
def test_sum64_is_the_float64_sum_to_rounding(n):
    values = np.random.default_rng(n).lognormal(0.0, 3.0, n).astype(np.float32)
    exact = math.fsum(values.astype(np.float64))
    assert abs(sum64(values) - exact) <= 1e-15 * max(n, 1) * max(exact, 1.0)


def test_groups_and_counts_per_group_of_a_sorted_set_match_a_bincount_of_their_groups():
    import credsim
    from credsim.world import build_world

    world = build_world(credsim.load_scenario("xinjiang", ["population.size=5000"]), np.random.default_rng(3))
    rng = np.random.default_rng(4)
    for size in (0, 1, 40, 2000):
        people = np.sort(rng.choice(world.n_agents, size, replace=False)).astype(np.int32)
        counts = rng.integers(0, 5, size)
        np.testing.assert_array_equal(world.groups_of(people), world.group[people])
        np.testing.assert_array_equal(world.per_group(people), np.bincount(world.group[people], minlength=world.n_groups))
        np.testing.assert_array_equal(
            world.per_group(people, counts), np.bincount(world.group[people], weights=counts, minlength=world.n_groups)
        )


def test_without_is_a_set_difference_of_sorted_people():
    from credsim.kernels import without

    rng = np.random.default_rng(11)
    for _ in range(500):
        people = np.unique(rng.integers(0, 300, rng.integers(0, 80))).astype(np.int32)
        others = np.unique(rng.integers(0, 320, rng.integers(0, 20))).astype(np.int32)
        np.testing.assert_array_equal(without(people, others), np.setdiff1d(people, others))


@pytest.mark.parametrize("parallel", [False, True])
def test_risk_sweep_from_the_set_of_listed_or_detained_is_the_sweep_from_their_status(parallel, monkeypatch):
    """The fast path's risk sweep marks the listed or detained from a sorted set; the
    reference sweep reads everyone's status and detention: the same float32 risks, and the
    sums per group are the float64 sums of the new risks."""
    import credsim.kernels as kernels

    monkeypatch.setattr(kernels, "PARALLEL_FROM", 0 if parallel else 10**12)
    rng = np.random.default_rng(5)
    n, day, listed_code = 70_000, 30, np.int8(2)
    starts, group = kernels.chunks(np.array([0, 40_000, n]))
    exposure = np.where(rng.random(n) < 0.2, rng.random(n) * 3, 0).astype(np.float32)
    degree = rng.integers(0, 12, n)
    indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int32)  # rows of a network with those degrees
    status = np.where(rng.random(n) < 0.05, listed_code, 0).astype(np.int8)
    detained_until = np.where(rng.random(n) < 0.01, day + 5, np.where(rng.random(n) < 0.01, day, -1)).astype(np.int32)
    start = np.where(rng.random(n) < 0.3, rng.random(n), 0).astype(np.float32)
    own = np.flatnonzero((status == listed_code) | (detained_until > day)).astype(np.int32)
    weight, alpha = np.float32(1.0), np.float32(1 / 30)
    by_status, by_set = start.copy(), start.copy()
    kernels.update_risk(by_status, exposure, indptr, status, detained_until, np.int32(day), listed_code, weight, alpha)
    sums = kernels.update_risk_and_sum(by_set, exposure, indptr, own, weight, alpha, starts, group, 2)
    np.testing.assert_array_equal(by_set, by_status)
    for i in rng.choice(n, 2000, replace=False):  # the rule, person by person, with each one's degree
        seen = np.float32(exposure[i] / np.float32(degree[i])) if degree[i] > 0 else np.float32(0)
        if status[i] == listed_code or detained_until[i] > day:
            seen = np.float32(seen + weight)
        want = start[i] if seen == 0 and start[i] == 0 else np.float32(start[i] + alpha * np.float32(seen - start[i]))
        assert by_set[i] == want, (i, by_set[i], want)
    assert not np.array_equal(by_set, start)
    for g, (a, b) in enumerate([(0, 40_000), (40_000, n)]):
        assert abs(sums[g] - math.fsum(by_set[a:b].astype(np.float64))) <= 1e-12 * (b - a)


def test_inserted_puts_new_people_in_their_places():
    from credsim.kernels import inserted

    rng = np.random.default_rng(12)
    for _ in range(500):
        everyone = rng.permutation(400)[: rng.integers(0, 120)]
        split = rng.integers(0, len(everyone) + 1)
        people, new = np.sort(everyone[:split]).astype(np.int32), np.sort(everyone[split:]).astype(np.int64)
        got = inserted(people, new)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, np.sort(everyone))
