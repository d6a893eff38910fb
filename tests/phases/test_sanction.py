"""sanction against per-person loops of its documented rules.

From sanction's docstring:
- detention: flagged observations are counted in a window that opens with the first flag
  and lasts window_days; reaching threshold within it means detention for term_days
  (detained while day < detained_until); release on the day detained_until is reached;
- travel ban: listed, not detained people try purchase_rate * income ** income_elasticity
  tickets a day (Poisson), rail_share of them rail; every attempt is blocked and counted;
- employment: while listed, income falls toward floor * base by fall_rate of the gap a day
  (an income below the floor, after detention, climbs to it by recovery_rate); otherwise it
  moves toward its target (base, or base * (1 + income_bonus) for green-channel people) by
  recovery_rate; an income within 1e-4 * base of its target is put on it; detained people
  earn nothing;
- internet, schooling (dependent-days), shaming: counted listed person-days; green channel:
  free, not detained people with score >= threshold, counted.

Income and detention are deterministic and compared day by day with a loop (incomes in
Python floats against the phase's float32: relative 1e-5 after 40 days of at most a few
roundings each). The travel ban draws: its counts are compared with the Poisson expectation
(5 standard errors), and the summed rates it draws them from with a loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from credsim.engines.reference.phases.sanction import _income_power_sums, sanction
from credsim.state import NOT_DETAINED

from .helpers import (
    BEHAVIOURS,
    FREE,
    LISTED,
    NOTICE,
    NO_OBS,
    arrange,
    assert_counters_match,
    binomial_tolerance,
    clone,
    group_of,
    make_world,
    new_state,
    observations,
    poisson_tolerance,
    rng,
    tally,
)

START = 50


def reference_income(world, incomes, status, score, detained_until, day):
    """One day of the employment and green-channel rules, person by person."""
    sc = world.scenario.sanctions
    out = []
    for i, income in enumerate(incomes):
        base = float(world.base_income[i])
        detained = detained_until[i] > day
        if detained:
            out.append(0.0)
            continue
        listed = status[i] == LISTED
        rewarded = sc.green_channel.enabled and score[i] >= sc.green_channel.threshold and status[i] == FREE
        target = base * (1.0 + sc.green_channel.income_bonus) if rewarded else base
        if listed and sc.employment.enabled:
            target = sc.employment.floor * base
            rate = sc.employment.fall_rate if income > target else sc.employment.recovery_rate
            new = income + rate * (target - income)
        elif sc.employment.enabled:
            new = income + sc.employment.recovery_rate * (target - income)
        else:
            new = target
        if abs(new - target) <= 1e-4 * base:
            new = target
        out.append(new)
    return out


def income_situation(world, seed):
    gen = np.random.default_rng(seed)
    n = world.n_agents
    state = new_state(world)
    status = [FREE] * n
    detained = [NOT_DETAINED] * n
    for i in range(n):
        kind = i % 9
        base = float(world.base_income[i])
        if kind == 0:  # listed, at base: falls to the floor
            status[i] = LISTED
        elif kind == 1:  # listed, above base (an earlier bonus)
            status[i], state.income[i] = LISTED, base * 1.03
        elif kind == 2:  # listed at the floor already
            status[i], state.income[i] = LISTED, base * world.scenario.sanctions.employment.floor
        elif kind == 3:  # free, poorer: recovers
            state.income[i] = base * gen.uniform(0.0, 0.9)
        elif kind == 4:  # free, high score: green channel
            state.score[i] = 1100.0
        elif kind == 5:  # on notice, high score: not rewarded, recovers
            status[i], state.income[i], state.score[i] = NOTICE, base * 0.7, 1100.0
        elif kind == 6:  # detained (free), released part-way
            detained[i] = START + 1 + int(gen.integers(0, 20))
        elif kind == 7:  # free, rich after a bonus, score fallen: back to base
            state.income[i] = base * 1.03
        else:  # listed, below the floor (out of detention): climbs to the floor
            status[i], state.income[i] = LISTED, base * 0.1
    arrange(world, state, START, status, [START - 3] * n, detained_until=detained)
    return state


@pytest.mark.parametrize("overrides", [
    [],
    ["sanctions.employment.enabled=false"],
    ["sanctions.green_channel.enabled=false"],
    ["sanctions.employment.fall_rate=0.2", "sanctions.employment.recovery_rate=0.3", "sanctions.employment.floor=0.3"],
], ids=["city", "no_employment", "no_green", "fast"])
def test_income_over_days_matches_the_loop(overrides):
    world = make_world("sanctions.travel_ban.enabled=false", *overrides)
    state = income_situation(world, 0)
    incomes = [float(x) for x in state.income]
    status, score, detained = state.status.tolist(), state.score.tolist(), state.detained_until.tolist()
    employment = world.scenario.sanctions.employment.enabled
    for day in range(START, START + 40):
        t = tally(world)
        sanction(world, state, NO_OBS, day, rng(day), t)
        incomes = reference_income(world, incomes, status, score, detained, day)
        scale = np.maximum(world.base_income, 1e-3)
        np.testing.assert_allclose(state.income / scale, np.array(incomes) / scale, rtol=0, atol=1e-5, err_msg=str(day))
        assert_counters_match(world, state, day)
        # income_cut: what the listed (not detained) earn below base under the employment sanction.
        cut = [0.0] * world.n_groups
        for i, income in enumerate(incomes):
            listed_free = status[i] == LISTED and detained[i] <= day
            if employment and listed_free and income < float(world.base_income[i]):
                cut[group_of(world, i)] += float(world.base_income[i]) - income
        np.testing.assert_allclose(t.values["income_cut"], cut, rtol=1e-5, atol=1e-6, err_msg=str(day))
    # The situations did what they were made for.
    for i in range(0, world.n_agents, 9):
        assert state.income[i] < world.base_income[i] or "sanctions.employment.enabled=false" in overrides


def test_listed_person_below_the_floor_moves_toward_it():
    """Someone released from detention (income 0) who is still listed is below the floor; their
    income climbs to it by recovery_rate of the gap a day (not stuck at 0 for the rest of the
    listing): after d days, floor * base * (1 - (1 - recovery_rate) ** d)."""
    world = make_world("sanctions.travel_ban.enabled=false")
    n = world.n_agents
    state = new_state(world)
    arrange(world, state, START, [LISTED] * n, [START - 3] * n, detained_until=[START] * n)  # released today
    state.income[:] = 0.0  # no income while detained
    employment = world.scenario.sanctions.employment
    for day in range(START, START + 5):
        sanction(world, state, NO_OBS, day, rng(day), tally(world))
        expected = employment.floor * world.base_income.astype(float) * (1 - (1 - employment.recovery_rate) ** (day - START + 1))
        np.testing.assert_allclose(state.income, expected, rtol=1e-5)


def test_detention_windows_match_the_loop():
    """60 days of random flagged and unflagged observations (none for detained people, who
    are never seen); detention with window 5, threshold 3, term 4."""
    world = make_world(
        "sanctions.detention.flagged=['religious_practice', 'online_criticism']",
        "sanctions.detention.window_days=5", "sanctions.detention.threshold=3", "sanctions.detention.term_days=4",
    )
    n = world.n_agents
    gen = np.random.default_rng(5)
    state = new_state(world)
    flagged = {BEHAVIOURS.index("religious_practice"), BEHAVIOURS.index("online_criticism")}
    until = [NOT_DETAINED] * n
    count = [0] * n
    since = [0] * n
    rules = world.scenario.sanctions.detention
    for day in range(0, 60):
        # Today's observations: nobody detained is seen.
        person, behaviour = [], []
        for i in range(n):
            if until[i] > day:
                continue
            for _ in range(gen.poisson(0.25)):
                person.append(i)
                behaviour.append(int(gen.choice([BEHAVIOURS.index("religious_practice"),
                                                 BEHAVIOURS.index("online_criticism"), BEHAVIOURS.index("fraud")])))
        obs = observations(person, behaviour, gen.random(len(person)) < 0.5)
        # Reference: release, then count today's flags in their window, then detain.
        released = [i for i in range(n) if until[i] == day]
        taken = []
        for i in range(n):
            k = sum(1 for p, b in zip(person, behaviour) if p == i and b in flagged)
            if k == 0:
                continue
            if count[i] == 0 or day - since[i] >= rules.window_days:
                since[i], count[i] = day, 0
            count[i] += k
            if count[i] >= rules.threshold and until[i] <= day:
                until[i], count[i] = day + rules.term_days, 0
                taken.append(i)
        t = tally(world)
        state.changed.clear()
        sanction(world, state, obs, day, rng(day), t)
        assert state.detained_until.tolist() == until, day
        assert state.flag_count.tolist() == count, day
        assert [int(state.flag_since[i]) for i in range(n) if count[i]] == [since[i] for i in range(n) if count[i]]
        detentions = [0] * world.n_groups
        for i in taken:
            detentions[group_of(world, i)] += 1
        assert t.values["detentions"].tolist() == detentions
        now = [sum(1 for i in range(n) if until[i] > day and group_of(world, i) == g) for g in range(world.n_groups)]
        assert t.values["detained_days"].tolist() == now
        assert_counters_match(world, state, day)
        changed = set(np.concatenate(state.changed).tolist()) if state.changed else set()
        assert set(taken) | set(released) <= changed  # adapt must hear of every change of visibility
        for i in range(n):
            if until[i] > day:
                assert state.income[i] == 0.0
    assert sum(1 for u in until if u != NOT_DETAINED) >= 5  # the test exercised detention


def test_counted_person_days():
    world = make_world("sanctions.travel_ban.enabled=false")
    gen = np.random.default_rng(8)
    n = world.n_agents
    state = new_state(world)
    status = gen.choice([FREE, NOTICE, LISTED], n, p=[0.4, 0.2, 0.4])
    detained = np.where(gen.random(n) < 0.2, START + 5, NOT_DETAINED)
    state.score[:] = gen.choice([900.0, 1049.9, 1050.0, 1200.0], n)
    arrange(world, state, START, status, [START - 3] * n, detained_until=detained)
    t = tally(world)
    sanction(world, state, NO_OBS, START, rng(0), t)
    expect = {k: [0.0] * world.n_groups for k in ("internet_days", "schooling_days", "shaming_days", "detained_days", "green_days")}
    for i in range(n):
        g = group_of(world, i)
        if status[i] == LISTED:
            expect["internet_days"][g] += 1
            expect["schooling_days"][g] += int(world.dependents[i])
            expect["shaming_days"][g] += 1
        if detained[i] > START:
            expect["detained_days"][g] += 1
        if status[i] == FREE and detained[i] <= START and state.score[i] >= 1050.0:
            expect["green_days"][g] += 1
    for k, v in expect.items():
        assert t.values[k].tolist() == v, k
    assert sum(expect["schooling_days"]) > 0 and sum(expect["green_days"]) > 0
    # Switched off, nothing is counted.
    world_off = make_world("sanctions.travel_ban.enabled=false", "sanctions.internet.enabled=false",
                           "sanctions.schooling.enabled=false", "sanctions.shaming.enabled=false",
                           "sanctions.green_channel.enabled=false")
    s = clone(state)
    t = tally(world_off)
    sanction(world_off, s, NO_OBS, START, rng(0), t)
    for k in ("internet_days", "schooling_days", "shaming_days", "green_days"):
        assert t.values[k].sum() == 0, k


def test_travel_ban_blocks_at_the_documented_rate():
    """Per group, R days: blocked purchases are Poisson with mean R * sum over listed,
    not detained people of purchase_rate * income ** elasticity; rail ones are
    Binomial(total, rail_share)."""
    world = make_world("sanctions.travel_ban.purchase_rate=1.0", "sanctions.travel_ban.income_elasticity=1.5",
                       "sanctions.travel_ban.rail_share=0.3")
    gen = np.random.default_rng(9)
    n = world.n_agents
    state = new_state(world)
    status = [LISTED if i % 3 else FREE for i in range(n)]
    detained = [START + 2 if i % 7 == 0 else NOT_DETAINED for i in range(n)]
    arrange(world, state, START, status, [START - 3] * n, detained_until=detained)
    state.income[:] = world.base_income * gen.uniform(0.2, 2.0, n).astype(np.float32)
    state.income[detained.index(START + 2)] = 50.0  # a rich detained traveller must not count
    ban = world.scenario.sanctions.travel_ban
    reps = 300
    mean = [0.0] * world.n_groups
    for i in range(n):
        if status[i] == LISTED and detained[i] <= START:
            mean[group_of(world, i)] += reps * ban.purchase_rate * float(state.income[i]) ** ban.income_elasticity
    flight = np.zeros(world.n_groups)
    rail = np.zeros(world.n_groups)
    for r in range(reps):
        t = tally(world)
        sanction(world, clone(state), NO_OBS, START, rng(41, r), t)
        flight += t.values["blocked_flight"]
        rail += t.values["blocked_rail"]
    for g in range(world.n_groups):
        total = flight[g] + rail[g]
        assert abs(total - mean[g]) <= poisson_tolerance(mean[g]), (g, total, mean[g])
        assert abs(rail[g] - ban.rail_share * total) <= binomial_tolerance(total, ban.rail_share), (g, rail[g], total)
    assert math.isfinite(sum(mean)) and sum(mean) > 100


@pytest.mark.parametrize("elasticity", [1.0, 0.5, 1.5, 0.0, -0.5])
def test_travel_rate_per_group_is_the_sum_of_each_persons(elasticity):
    """The travel ban draws one Poisson per group from the sum over its listed, free people
    of max(income, 0) ** elasticity: that sum against a loop in Python floats (the same
    roundings for elasticities 1 and 0.5, one ulp of the power otherwise)."""
    world = make_world()
    gen = np.random.default_rng(3)
    n = world.n_agents
    income = (world.base_income * gen.uniform(-0.2, 3.0, n)).astype(np.float32)
    income[gen.random(n) < 0.1] = 0.0
    if elasticity < 0:
        income = np.maximum(income, np.float32(0.01))  # a negative power of 0 is infinite
    people = np.sort(gen.choice(n, n // 3, replace=False)).astype(np.int32)
    expected = [0.0] * world.n_groups
    for i in people:
        expected[group_of(world, i)] += max(float(income[i]), 0.0) ** elasticity
    got = _income_power_sums(people, income, elasticity, world.layout.group_start)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert got.sum() > 0
