"""The expected events poverty feedback moves (counted by behave, Events.poverty_moved) and
the points guilt by association takes (credsim.engines.reference.phases.account), against per-person loops
written from credsim.engines.reference.phases.account's docstring; the fast path's kept sets give the same
sums as a scan of everyone."""

from __future__ import annotations

import numpy as np

from credsim.engines.reference.phases.account import account
from credsim.engines.reference.phases.behave import behave
from credsim.state import FREE, LISTED, NOT_DETAINED
from credsim.world import POVERTY_CAP

from .helpers import arrange, clone, group_of, make_world, new_state, rng, tally

DAY = 20


def situation(world, seed):
    gen = np.random.default_rng(seed)
    n = world.n_agents
    state = new_state(world)
    status = gen.choice([FREE, LISTED], n, p=[0.7, 0.3])
    detained = np.where(gen.random(n) < 0.15, DAY + 3, np.where(gen.random(n) < 0.1, DAY, NOT_DETAINED))
    arrange(world, state, DAY, status, [DAY - 5] * n, detained_until=detained)
    off = gen.random(n) < 0.5
    state.income[:] = np.where(off, world.base_income * gen.uniform(0.0, 1.5, n), world.base_income).astype(np.float32)
    state.shown[:] = np.where(detained > DAY - 1, 1.0, np.where(status == LISTED, gen.choice([0.0, 0.3, 1.0], n), 0.0))
    return state


def fast_copy(world, state):
    s = clone(state)
    s.fast = True
    s.paid = np.flatnonzero(s.income != world.base_income).astype(np.int32)
    s.listed = np.flatnonzero(s.status == LISTED).astype(np.int32)
    s.detained_people = np.flatnonzero(s.detained_until > DAY - 1).astype(np.int32)
    return s


def test_poverty_and_association_match_the_loop():
    world = make_world("score.association.penalty=0.5", "behaviours.fraud.poverty_elasticity=-0.7", seed=3)
    state = situation(world, 1)
    t = tally(world)
    account(world, state, DAY, t)
    t.add("poverty_events", behave(world, state, DAY, rng(1)).poverty_moved)

    poverty, points = [0.0] * world.n_groups, [0.0] * world.n_groups
    penalty = world.scenario.score.association.penalty
    for i in range(world.n_agents):
        g = group_of(world, i)
        base, income = float(world.base_income[i]), float(state.income[i])
        if income != base and int(state.detained_until[i]) <= DAY:
            for b in range(world.n_behaviours):
                eta = float(world.poverty_elasticity[b])
                if eta != 0:
                    m = (base / max(income, base / POVERTY_CAP)) ** eta
                    poverty[g] += float(world.rate[b, g]) * float(world.propensity_of(b, np.array([i]))[0]) * abs(m - 1.0)
        points[g] += penalty * float(state.shown[i]) * len(world.network.contacts_of(i))
    assert sum(poverty) > 0 and sum(points) > 0  # the situation exercised both
    np.testing.assert_allclose(t.values["poverty_events"], poverty, rtol=1e-5)  # behave's income ratio is float32
    np.testing.assert_allclose(t.values["association_points"], points, rtol=1e-6)

    # The fast path's kept sets give the same sums, to the last bit.
    f = tally(world)
    fast = fast_copy(world, state)
    account(world, fast, DAY, f)
    f.add("poverty_events", behave(world, fast, DAY, rng(1)).poverty_moved)
    assert f.values["poverty_events"].tolist() == t.values["poverty_events"].tolist()
    assert f.values["association_points"].tolist() == t.values["association_points"].tolist()


def test_switched_off_or_untriggered_counts_nothing():
    """No elasticity, no penalty: nothing counted, whatever the state; and a state where
    nobody is off base or visible counts nothing though both are on."""
    off = make_world("score.association.enabled=false", "behaviours.debt_default.poverty_elasticity=0",
                     "behaviours.fraud.poverty_elasticity=0")
    t = tally(off)
    state = situation(off, 2)
    account(off, state, DAY, t)
    assert behave(off, state, DAY, rng(2)).poverty_moved.sum() == 0 and t.values["association_points"].sum() == 0
    world = make_world("score.association.penalty=0.5")
    t = tally(world)
    state = new_state(world)
    account(world, state, DAY, t)
    assert behave(world, state, DAY, rng(2)).poverty_moved.sum() == 0 and t.values["association_points"].sum() == 0
