"""The event engine's incomes (:mod:`credsim.engines.event.pay`) against the reference
engine's (``sanction._pay``), on a state with every kind of person pay moves: listed (their
income falling to the floor, or climbing back to it), off base income and free (recovering,
from below and above), detained (no income), rewarded by the green channel (toward the
bonus). Each income must be the reference engine's bit for bit, and so must the people
left off base income; the sums (rewarded days exactly, gaps and cuts to 1e-12: they are
added chunk by chunk) likewise. The chunks split across threads must give the serial
kernel's numbers bit for bit. What pay leaves for tomorrow's behave (each paid person's
income, base income and detention) must be what behave would otherwise gather.
"""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest

import credsim
from credsim.engines.event import pay as event_pay
from credsim.engines.event.lazy import build
from credsim.engines.event.state import event_state
from credsim.engines.reference.phases.record import COUNTERS
from credsim.state import FREE, LISTED
from credsim.tally import Tally
from credsim.world import build_world

DAY = 40
sanction = importlib.import_module("credsim.engines.reference.phases.sanction")  # the module, not the phase


@pytest.fixture(scope="module")
def moved():
    """A world of 200,000 people and a state where a third of them are paid by pay."""
    scenario = credsim.load_scenario("city", ["population.size=200000", "population.days=60"])
    world = build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(8, spawn_key=(0,)))))
    state = event_state(world)
    build(world, state, 0)
    rng = np.random.default_rng(8)
    n = world.n_agents
    pick = lambda share: np.sort(rng.choice(n, int(share * n), replace=False)).astype(np.int32)  # noqa: E731
    state.listed = pick(0.05)
    state.status[state.listed] = LISTED
    state.paid = pick(0.25)
    state.income[state.paid] = world.base_income[state.paid] * rng.choice(np.array([0.3, 0.59, 0.9, 0.99999, 1.1], np.float32), len(state.paid))
    state.detained_people = pick(0.01)
    state.detained_until[state.detained_people] = DAY + rng.integers(1, 3, len(state.detained_people))  # some free tomorrow
    threshold = world.scenario.sanctions.green_channel.threshold
    state.above = pick(0.04)
    state.score[state.above] = np.float32(threshold + 5)
    return world, state


def test_pay_gives_the_reference_engines_incomes(moved):
    world, state = moved
    runs = []
    for engine_pay in (sanction._pay, event_pay.pay):
        mine, tally = copy.deepcopy(state), Tally(COUNTERS, world.n_groups, world.n_behaviours)
        engine_pay(world, mine, mine.listed, DAY, tally)
        runs.append((mine, tally))
    (reference, ref_tally), (event, ev_tally) = runs
    assert np.array_equal(reference.income, event.income)
    assert np.array_equal(reference.paid, event.paid) and len(event.paid) > 3 * event_pay.CHUNK
    assert np.array_equal(ref_tally.values["green_days"], ev_tally.values["green_days"]) and ev_tally.values["green_days"].sum() > 1000
    for ref, ev in ((ref_tally.values["income_cut"], ev_tally.values["income_cut"]), (reference.income_sums, event.income_sums)):
        np.testing.assert_allclose(ev, ref, rtol=1e-12)
    assert ev_tally.values["income_cut"].sum() > 0
    # every kind moved: detained at 0, listed toward the floor, the rewarded above base
    assert np.all(event.income[state.detained_people[state.detained_until[state.detained_people] > DAY]] == 0)
    assert np.any(event.income[state.listed] < state.income[state.listed])
    assert np.any(event.income[state.above] > world.base_income[state.above])


def test_pay_leaves_what_behave_would_gather(moved):
    world, state = moved
    mine = copy.deepcopy(state)
    event_pay.pay(world, mine, mine.listed, DAY, Tally(COUNTERS, world.n_groups, world.n_behaviours))
    kept = event_pay.paid_values(world, mine)
    gathered = (mine.income[mine.paid], world.base_income[mine.paid], mine.detained_until[mine.paid])
    assert kept[0] is mine.paid_values[1]  # the kept arrays, not a gather
    for a, b in zip(kept, gathered):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    mine.paid = mine.paid.copy()  # anything that replaces the set: gathered again
    assert all(a is not b for a, b in zip(event_pay.paid_values(world, mine), kept))


def test_pay_split_across_threads_gives_the_serial_numbers(moved):
    world, state = moved
    rules = world.scenario.sanctions
    green, employment = rules.green_channel, rules.employment
    who = np.union1d(np.union1d(state.paid, state.listed), np.union1d(state.detained_people, state.above)).astype(np.int32)
    chunks = -(-len(who) // event_pay.CHUNK)
    assert chunks >= 4
    results = []
    for kernel in (event_pay._pay_serial, event_pay._pay_parallel):
        income = state.income.copy()
        parts, found = np.zeros((chunks, 3, world.n_groups)), np.zeros(chunks, np.int64)
        out = [np.zeros(len(who), t) for t in (np.int32, np.float32, np.float32, np.int32)]
        kernel(who, income, world.base_income, state.status, state.detained_until, state.score, DAY, LISTED, FREE, True,
               np.float32(green.threshold), np.float32(1 + green.income_bonus), True, np.float32(employment.floor),
               np.float32(employment.fall_rate), np.float32(employment.recovery_rate), np.float32(sanction.SETTLED),
               world.layout.group_start, parts, *out, found)
        results.append((income, parts, found, *out))
    for a, b in zip(*results):
        assert np.array_equal(a, b)
