"""The event engine's behave: numbers keyed by block, and events with the model's rates.

- Split independence: the units (behaviour, group, block) drawn one at a time, or in any
  partition, give exactly the events of one draw of them all.
- Rates: over many days, each behaviour's events per group match the expectation a plain
  per-person loop computes from the model's intensity (rate, propensity, region, poverty,
  perceived risk, listing multiplier, detention), within 4.5 standard errors of a Poisson
  count: a false alarm about once in 150,000 per comparison.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import credsim
from credsim.engines.event.lazy import build
from credsim.engines.event.philox import key
from credsim.engines.event.state import event_state
from credsim.state import LISTED
from credsim.world import POVERTY_CAP, build_world

behave = importlib.import_module("credsim.engines.event.behave")

SETTINGS = [
    "population.size=150000", "population.days=30",  # more than two blocks a group
    "adaptation.enabled=true",
]


@pytest.fixture(scope="module")
def busy():
    """A world and a state with people listed, detained, off base income and afraid."""
    scenario = credsim.load_scenario("city", SETTINGS)
    world = build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(4, spawn_key=(0,)))))
    state = event_state(world)
    build(world, state, 0)
    rng = np.random.default_rng(9)
    n = world.n_agents
    listed = np.sort(rng.choice(n, n // 50, replace=False)).astype(np.int32)
    state.status[listed] = LISTED
    state.listed = listed
    paid = np.sort(rng.choice(n, n // 40, replace=False)).astype(np.int32)
    state.income[paid] *= np.float32(0.3)
    state.paid = paid
    state.detained_until[rng.choice(n, n // 100, replace=False)] = 10**6
    afraid = rng.choice(n, n // 10, replace=False)
    state.risk[afraid] = rng.uniform(0.1, 1.5, len(afraid)).astype(np.float32)
    state.target[afraid] = rng.uniform(0.0, 1.0, len(afraid)).astype(np.float32)
    state.rstamp[afraid] = -3  # their risk is kept as of two days before day -1
    return world, state


def test_a_block_draws_the_same_events_however_the_units_are_split(busy):
    world, state = busy
    plan = behave._plan(world)
    assert len(np.unique(plan.units[:, 4])) >= 3
    k0, k1 = key(11, 5, behave.PHASE)

    def draw(units):
        return behave._draw_units(units, k0, k1, *_arrays(world, state, 5))

    whole, ends = draw(plan.units)
    pieces = [draw(plan.units[r : r + 1])[0] for r in range(len(plan.units))]
    assert np.array_equal(np.concatenate(pieces), whole)
    assert np.array_equal(np.diff(np.concatenate([[0], ends])), [len(p) for p in pieces])
    odd, even = draw(plan.units[1::2])[0], draw(plan.units[0::2])[0]  # another partition, in another order
    assert sorted(np.concatenate([odd, even]).tolist()) == sorted(whole.tolist())


def _arrays(world, state, day):
    """The arguments of _draw_units after the key, as behave passes them."""
    plan = behave._plan(world)
    coded = world.propensity_code is not None
    disturbed = behave._disturbed(world, state, plan, day)[0]
    return (
        world.rate, plan.peak, world.propensity_code if coded else np.zeros((world.n_behaviours, 1), np.uint8),
        world.propensity_level, coded, world.region_rate, world.regional, world.layout.cell_bounds, world.layout.n_regions,
        world.poverty_elasticity, plan.strength, world.listed_multiplier, world.bernoulli, POVERTY_CAP,
        state.income, world.base_income, state.status, LISTED, state.detained_until, day,
        state.risk, state.rstamp, state.target, state.params, disturbed,
    )


def _expected(world, state, day) -> np.ndarray:
    """(B, G): the expected events of a day, from a plain loop over the people."""
    keep = state.params[7]
    strengths = behave._response_strengths(world)
    out = np.zeros((world.n_behaviours, world.n_groups))
    for b in range(world.n_behaviours):
        for i in range(world.n_agents):
            g = world.group[i]
            if world.rate[b, g] == 0 or state.detained_until[i] > day:
                continue
            lam = world.rate[b, g] * world.propensity_of(b, np.array([i]))[0] * world.region_factor(b, np.array([i]))[0]
            m = 1.0
            if world.poverty_elasticity[b] != 0:
                base, income = float(world.base_income[i]), float(state.income[i])
                m *= (base / max(income, base / POVERTY_CAP)) ** world.poverty_elasticity[b]
            risk = state.target[i] + (state.risk[i] - state.target[i]) * keep ** ((day - 1) - state.rstamp[i])
            m *= math.exp(-strengths[b] * risk)
            if state.status[i] == LISTED:
                m *= world.listed_multiplier[b]
            lam *= m
            out[b, g] += (1 - math.exp(-lam)) if world.bernoulli[b] else lam
    return out


def test_events_have_the_models_rates(busy):
    world, state = busy
    small = credsim.load_scenario("city", ["population.size=6000", "population.days=30", "adaptation.enabled=true"])
    world = build_world(small, np.random.Generator(np.random.PCG64(np.random.SeedSequence(4, spawn_key=(0,)))))
    st = event_state(world)
    build(world, st, 0)
    rng = np.random.default_rng(3)
    n = world.n_agents
    st.listed = np.sort(rng.choice(n, n // 20, replace=False)).astype(np.int32)
    st.status[st.listed] = LISTED
    st.paid = np.sort(rng.choice(n, n // 20, replace=False)).astype(np.int32)
    st.income[st.paid] *= np.float32(0.2)
    st.detained_until[rng.choice(n, n // 50, replace=False)] = 10**6
    afraid = rng.choice(n, n // 5, replace=False)
    st.risk[afraid] = rng.uniform(0.2, 2.0, len(afraid)).astype(np.float32)
    st.target[afraid] = rng.uniform(0.0, 1.0, len(afraid)).astype(np.float32)
    st.rstamp[afraid] = 2
    day, seeds = 5, range(300)
    expected = _expected(world, st, day) * len(seeds)
    counts = np.zeros_like(expected)
    for seed in seeds:
        events = behave.behave(world, st, day, seed)
        np.add.at(counts, (events.behaviour, world.group[events.person]), 1)
        for b in np.flatnonzero(world.bernoulli):
            people = events.person[events.behaviour == b]
            assert len(np.unique(people)) == len(people)  # at most one a person-day
    tested = expected > 20
    assert tested.sum() >= 4
    z = (counts[tested] - expected[tested]) / np.sqrt(expected[tested])
    assert np.all(np.abs(z) < 4.5), (z, counts[tested], expected[tested])


def test_the_poverty_pass_is_a_plain_loop_and_the_same_on_any_number_of_threads(busy):
    """The pass over the people off base income (the expected events poverty feedback moves,
    per group, and who is poorer than their base): equal to a plain per-person loop, and its
    chunks split across threads give the serial kernel's numbers bit for bit."""
    world, state = busy
    rng = np.random.default_rng(12)
    paid = np.sort(rng.choice(world.n_agents, 3 * behave.POVERTY_CHUNK + 77, replace=False)).astype(np.int32)
    income = state.income.copy()
    income[paid] *= rng.choice(np.array([0.2, 0.7, 1.6], np.float32), len(paid))  # poorer and richer
    plan = behave._plan(world)
    coded = world.propensity_code is not None
    arrays = (
        plan.rows, world.poverty_elasticity, world.rate, world.propensity_code, world.propensity_level, coded,
        world.region_rate, world.regional, world.layout.cell_bounds, world.layout.n_regions, world.layout.group_start,
        income[paid], world.base_income[paid], state.detained_until[paid], 5, POVERTY_CAP,  # theirs, in their order
    )
    moved = np.zeros(world.n_groups)
    poor = behave._poverty_pass(paid, *arrays, moved=moved)

    expected_moved, expected_poor = np.zeros(world.n_groups), []
    for i in paid:
        if state.detained_until[i] > 5:
            continue
        g, ratio = world.group[i], float(world.base_income[i]) / max(float(income[i]), float(world.base_income[i]) / POVERTY_CAP)
        above = False
        for b in np.flatnonzero(world.poverty_elasticity != 0):
            f = ratio ** world.poverty_elasticity[b]
            own = world.propensity_of(b, np.array([i]))[0] * world.region_factor(b, np.array([i]))[0]
            expected_moved[g] += world.rate[b, g] * own * abs(f - 1.0)
            above = above or f > 1.0
        if above:
            expected_poor.append(i)
    assert poor.tolist() == expected_poor and len(expected_poor) > 1000
    np.testing.assert_allclose(moved, expected_moved, rtol=1e-12)

    chunks = -(-len(paid) // behave.POVERTY_CHUNK)
    results = []
    for kernel in (behave._poverty_serial, behave._poverty_parallel):
        parts, out, found = np.zeros((chunks, world.n_groups)), np.empty(len(paid), np.int32), np.zeros(chunks, np.int64)
        kernel(paid, *arrays, parts, out, found)
        results.append((parts, found, np.concatenate([out[k * behave.POVERTY_CHUNK :][: found[k]] for k in range(chunks)])))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_the_values_of_the_disturbed_are_read_alike_on_one_core_or_all(busy):
    """What the multipliers of the disturbed depend on (free, base income, income, perceived
    risk as of yesterday, listed), read on one core or split across threads: the same, and
    equal to reading each person's own values."""
    world, state = busy
    people = np.sort(np.random.default_rng(5).choice(world.n_agents, behave.VALUES_PARALLEL_FROM + 5, replace=False)).astype(np.int32)
    arguments = (people, 5, world.base_income, state.income, state.status, LISTED, state.detained_until,
                 state.risk, state.rstamp, state.target, state.params)
    serial, split = behave._values_of(*arguments), behave._values_of_parallel(*arguments)
    for a, b in zip(serial, split):
        assert np.array_equal(a, b)
    free, base, income, risk, listed = serial
    keep = state.params[7]
    expected_risk = state.target[people] + (state.risk[people].astype(np.float64) - state.target[people]) * keep ** (4 - state.rstamp[people])
    assert np.array_equal(free, state.detained_until[people] <= 5) and np.array_equal(listed, state.status[people] == LISTED)
    assert np.array_equal(base, world.base_income[people]) and np.array_equal(income, state.income[people])
    np.testing.assert_allclose(risk, expected_risk, rtol=1e-12, atol=1e-12)
    assert listed.any() and not free.all() and (risk > 0).any()
