"""The contact network (credsim.population.network) on 200,000 people, fixed seeds.

Tolerances are 5 standard errors of the statistic, derived from the model's independent
per-tie draws (see each test), not fitted to the numbers one seed happens to give.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from credsim.population import network as network_module
from credsim.population.layout import make_layout
from credsim.population.network import build_network

N = 200_000
CONTACTS = 10.0
HOMOPHILY = 0.6
WITHIN = 0.8
SHARES = np.array([0.85, 0.15])  # group 1 is the minority
SIGMAS = 5.0


def _one_region_layout():
    return make_layout(N, SHARES, np.ones((2, 1)))


def _build(layout, seed=11, homophily=HOMOPHILY, within=WITHIN):
    return build_network(layout, CONTACTS, homophily, within, np.random.Generator(np.random.PCG64(seed)))


@pytest.fixture(scope="module")
def layout():
    return _one_region_layout()


@pytest.fixture(scope="module")
def net(layout):
    return _build(layout)


def _rows(net):
    return np.repeat(np.arange(len(net.indptr) - 1, dtype=np.int64), np.diff(net.indptr))


def test_format(net):
    assert net.indptr.dtype == np.int32 and net.indices.dtype == np.int32
    assert net.indptr[0] == 0 and net.indptr[-1] == len(net.indices) and np.all(np.diff(net.indptr) >= 0)
    assert net.indices.min() >= 0 and net.indices.max() < N


def test_symmetric(net):
    i, j = _rows(net), net.indices.astype(np.int64)
    assert np.array_equal(np.sort(i * N + j), np.sort(j * N + i))  # multiset of (i, j) == that of (j, i)


def test_no_self_ties(net):
    assert not np.any(net.indices == _rows(net))


def _starts_per_person():
    n_ties = int(round(N * CONTACTS / 2))
    assert n_ties % N == 0  # everyone starts the same number of ties: keeps the formulas exact
    return n_ties // N


def test_mean_degree_is_contacts_less_the_dropped_self_ties(layout, net):
    # With one region, a tie started by someone of group g is a self-tie with probability
    # h / size_g + (1 - h) / N. The count S of self-ties is a sum of many rare independent
    # events, so var S ~ E[S]; the mean degree is 2 (n_ties - S) / N.
    starts = _starts_per_person()
    size = np.diff(layout.group_start)
    expected_self = starts * float(np.sum(size * (HOMOPHILY / size + (1 - HOMOPHILY) / N)))
    mean = len(net.indices) / N
    expected = CONTACTS - 2 * expected_self / N
    sd = 2 * math.sqrt(expected_self) / N
    assert mean <= CONTACTS
    assert abs(mean - expected) <= SIGMAS * sd + 1e-12, (mean, expected, sd)


def _minority_tie_rates(layout):
    """(T_m, p1, T_M, p2): ties started by the minority and the chance each is within the
    group; ties started by the majority and the chance each lands in the minority."""
    starts = _starts_per_person()
    size = np.diff(layout.group_start)
    share = size[1] / N
    return starts * size[1], HOMOPHILY + (1 - HOMOPHILY) * share, starts * size[0], (1 - HOMOPHILY) * share


def test_degrees_are_equal_across_groups(layout, net):
    # The mixing rule gives the minority as many contacts as anyone: it starts T_m ties and
    # receives Bin(T_m, p1) + Bin(T_M, p2), whose mean is T_m again; less its self-ties
    # (each takes two entries from its row), a shift of a few 1e-4, well inside the error.
    t_m, p1, t_big, p2 = _minority_tie_rates(layout)
    minority = layout.group_slice(1)
    degree = np.diff(net.indptr)[minority]
    size = len(degree)
    expected_self = t_m * (HOMOPHILY / size + (1 - HOMOPHILY) / N)
    expected = CONTACTS - 2 * expected_self / size
    sd = math.sqrt(t_m * p1 * (1 - p1) + t_big * p2 * (1 - p2)) / size
    assert abs(degree.mean() - expected) <= SIGMAS * sd, (degree.mean(), expected, sd)


def test_same_group_share_of_a_minority_members_contacts(layout, net):
    # Expected share h + (1 - h) * share. Over all minority members' contacts the share is
    # 2 MM / (T_m + MM + B), MM ~ Bin(T_m, p1) the within-minority ties (in two rows each)
    # and B ~ Bin(T_M, p2) those received from the majority; its standard error by the
    # delta method (each tie is an independent draw).
    t_m, p1, t_big, p2 = _minority_tie_rates(layout)
    minority = layout.group_slice(1)
    i = _rows(net)
    mine = (i >= minority.start) & (i < minority.stop)
    contacts = net.indices[mine]
    share = float(np.mean((contacts >= minority.start) & (contacts < minority.stop)))
    a, b = t_m * p1, t_big * p2
    denominator = t_m + a + b
    d_mm, d_b = 2 * (t_m + b) / denominator**2, 2 * a / denominator**2
    sd = math.sqrt(d_mm**2 * t_m * p1 * (1 - p1) + d_b**2 * t_big * p2 * (1 - p2))
    assert abs(share - p1) <= SIGMAS * sd, (share, p1, sd)


def test_within_region_share():
    # One group, regions of shares q_r: a tie stays in its starter's region with probability
    # w + (1 - w) q_r, so over all ties (each in two rows) the share is w + (1 - w) sum q_r^2,
    # a binomial proportion over the n_ties independent ties.
    layout = make_layout(N, np.array([1.0]), np.array([[0.5, 0.3, 0.2]]))
    net = _build(layout, seed=3)
    q = layout.cell_size[0] / N
    expected = WITHIN + (1 - WITHIN) * float(np.sum(q**2))
    same = float(np.mean(layout.region[_rows(net)] == layout.region[net.indices]))
    sd = math.sqrt(expected * (1 - expected) / (len(net.indices) / 2))
    assert abs(same - expected) <= SIGMAS * sd, (same, expected, sd)


def test_deterministic_and_independent_of_the_chunk_size(layout, net, monkeypatch):
    again = _build(layout)
    assert np.array_equal(again.indptr, net.indptr) and np.array_equal(again.indices, net.indices)
    for chunk in (1000, 77_777):  # many chunks, and a last chunk that is not full
        monkeypatch.setattr(network_module, "CHUNK", chunk)
        other = _build(layout)
        assert np.array_equal(other.indptr, net.indptr) and np.array_equal(other.indices, net.indices)
    different = _build(layout, seed=12)
    assert not np.array_equal(different.indices, net.indices)


def test_rng_is_left_in_the_same_state_whatever_the_chunk_size(layout, monkeypatch):
    after = []
    for chunk in (network_module.CHUNK, 4096):
        monkeypatch.setattr(network_module, "CHUNK", chunk)
        rng = np.random.Generator(np.random.PCG64(5))
        build_network(layout, CONTACTS, HOMOPHILY, WITHIN, rng)
        after.append(rng.random(4))
    assert np.array_equal(after[0], after[1])


def test_tiny_populations():
    one = make_layout(1, np.array([1.0]), np.ones((1, 1)))
    net = build_network(one, CONTACTS, HOMOPHILY, WITHIN, np.random.default_rng(0))
    assert net.indptr.tolist() == [0, 0] and len(net.indices) == 0
    two = make_layout(2, np.array([0.5, 0.5]), np.ones((2, 1)))
    net = build_network(two, 3.0, HOMOPHILY, WITHIN, np.random.default_rng(0))
    assert not np.any(net.indices == _rows(net))
    assert np.array_equal(np.sort(_rows(net) * 2 + net.indices), np.sort(net.indices.astype(np.int64) * 2 + _rows(net)))


def test_each_tie_end_follows_the_documented_rule_exactly():
    """The compiled tie draw against a plain loop over ties, written from the module's rule,
    on a layout with an empty (group, region) cell, from the same uniforms."""
    layout = make_layout(2_000, np.array([0.7, 0.3]), np.array([[0.0, 0.6, 0.4], [0.5, 0.2, 0.3]]))
    n, first, last, homophily, within = layout.n_agents, 1_500, 5_200, 0.6, 0.7
    got = network_module._draw_ties(layout, first, last, homophily, within, np.random.default_rng(8))
    draws = np.random.default_rng(8).random((last - first, 3))
    people = np.arange(n)

    def pick(members, u):  # uniform over the sorted members, by u
        return members[min(int(u * len(members)), len(members) - 1)]

    for k in range(last - first):
        source = (first + k) % n
        g, r = layout.group[source], layout.region[source]
        same_group, same_region, u = draws[k, 0] < homophily, draws[k, 1] < within, draws[k, 2]
        pool = people
        if same_group:
            pool = pool[layout.group[pool] == g]
        if same_region and (not same_group or np.any(layout.region[pool] == r)):
            pool = pool[layout.region[pool] == r]
        assert got[k] == pick(pool, u), f"tie {first + k}"


def test_row_ends_are_int32_until_the_tie_ends_reach_2_to_the_31():
    assert network_module.row_dtype(2**30 - 1) is np.int32  # 2**31 - 2 tie ends
    assert network_module.row_dtype(2**30) is np.int64  # 2**31: one past int32
    assert network_module.row_dtype(0) is np.int32


@pytest.mark.parametrize("engine", ["reference", "event"])
def test_int64_row_ends_give_the_same_network_and_the_same_run(engine, monkeypatch):
    """Every phase that walks the network reads int32 row ends as it read int64 ones: the
    same scenario and seed, with the rows forced to int64, give the same network and the
    same daily table, episodes and summary."""
    import credsim
    import credsim.world

    scenario = credsim.load_scenario("city", ["population.size=20000", "population.days=40", f"engine.name={engine}"])
    narrow = credsim.simulate(scenario, 3)
    assert narrow.world.network.indptr.dtype == np.int32
    monkeypatch.setattr(network_module, "row_dtype", lambda n_ties: np.int64)
    wide = credsim.simulate(scenario, 3)
    assert wide.world.network.indptr.dtype == np.int64
    assert np.array_equal(wide.world.network.indptr, narrow.world.network.indptr)
    assert np.array_equal(wide.world.network.indices, narrow.world.network.indices)
    assert wide.daily.equals(narrow.daily) and wide.episodes.equals(narrow.episodes)
    assert wide.summary["overall"] == narrow.summary["overall"]
