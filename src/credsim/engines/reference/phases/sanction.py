"""Phase 6, sanction: listed and detained people are punished; high scorers are rewarded.

- detention: a person's observations of ``flagged`` behaviours are counted in a window that
  opens with the first flag and lasts ``window_days``; reaching ``threshold`` flags within it
  means detention for ``term_days``: no events (see behave), no income, not seen.
- travel ban: listed people (not detained) try to buy tickets at
  ``purchase_rate * income ** income_elasticity`` a day; each attempt is blocked and counted,
  a ``rail_share`` of them rail, the rest flights (only counts per group are kept, so they
  are drawn per group, from the group's summed rate).
- employment: while listed, income falls toward ``floor * base_income`` by ``fall_rate`` of
  the gap a day (an income below the floor, after detention, climbs to it by
  ``recovery_rate``); otherwise it recovers toward its target by ``recovery_rate``.
- internet throttling, schooling of dependents, public shaming: counted person-days
  (schooling counts dependent-days). Shaming also makes listings fully visible to contacts
  (see adapt).
- green channel: free people with ``score >= threshold`` are rewarded: counted, and their
  income target is ``base_income * (1 + income_bonus)``.
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.kernels import power, sorted_union, without
from credsim.engines.reference.phases.observe import Observations
from credsim.state import FREE, LISTED, State, listed_people
from credsim.tally import Tally
from credsim.world import World

MAX_ATTEMPTS = 1e12  # blocked purchases a group-day: 1,000 a person-day at 1e9 people
SETTLED = 1e-4  # an income within this fraction of its target is put on it


def sanction(world: World, state: State, obs: Observations, day: int, rng: np.random.Generator, tally: Tally, pay=None) -> None:
    """``pay``: the step that moves incomes, called as ``pay(world, state, listed, day,
    tally)``; the reference engine's own (``_pay``) unless an engine brings one."""
    rules = world.scenario.sanctions
    _detain(world, state, obs, day, tally)
    # Sorted sets, so that their counts per group need nobody's group (World.per_group).
    listed = listed_people(state)
    if state.fast:  # the detained are a small sorted set: nobody's detention is read
        listed_free = without(listed, state.detained_people)
    else:
        listed_free = listed[state.detained_until[listed] <= day]

    if rules.travel_ban.enabled and len(listed_free):
        # Only each group's count is kept, so each group's attempts are one Poisson draw of
        # the group's summed rate, and its rail share one binomial draw: the distribution of
        # a draw per person, summed (docs/model.md), at two draws a group instead of two a
        # person.
        ban = rules.travel_ban
        rate = ban.purchase_rate * _income_power_sums(listed_free, state.income, ban.income_elasticity, world.layout.group_start)
        # at most MAX_ATTEMPTS a group-day: only a scenario at the schema's far corners
        # (income_sigma 5, income_elasticity 5) asks for more, past what a Poisson draw takes
        attempts = rng.poisson(np.minimum(rate, MAX_ATTEMPTS))
        rail = rng.binomial(attempts, ban.rail_share)
        tally.add("blocked_rail", rail.astype(np.float64))
        tally.add("blocked_flight", (attempts - rail).astype(np.float64))
    if rules.internet.enabled:
        tally.add("internet_days", world.per_group(listed))
    if rules.schooling.enabled:
        tally.add("schooling_days", world.per_group(listed, world.dependents[listed]))
    if rules.shaming.enabled:
        tally.add("shaming_days", world.per_group(listed))
    tally.add("detained_days", state.n_detained.astype(np.float64))
    (_pay if pay is None else pay)(world, state, listed, day, tally)


def _detain(world: World, state: State, obs: Observations, day: int, tally: Tally) -> None:
    if state.fast:
        held = state.detained_people
        released = held[state.detained_until[held] == day]
        state.detained_people = held[state.detained_until[held] > day]
    else:
        released = np.flatnonzero(state.detained_until == day)
    if len(released):
        state.n_detained -= np.bincount(world.group[released], minlength=world.n_groups)
        state.changed.append(released)
    detention = world.scenario.sanctions.detention
    if not detention.enabled:
        return
    flagged = obs.person[world.flagged[obs.behaviour]]
    if len(flagged) == 0:
        return
    who, count = np.unique(flagged, return_counts=True)
    taken = _count_flags(who, count, state.flag_since, state.flag_count, state.detained_until, day,
                         detention.window_days, detention.threshold)
    if len(taken) == 0:
        return
    state.detained_until[taken] = day + detention.term_days
    if state.fast:
        state.detained_people = sorted_union(state.detained_people, taken)
    state.flag_count[taken] = 0
    group = world.group[taken]
    state.n_detained += np.bincount(group, minlength=world.n_groups)
    tally.count("detentions", group)
    state.changed.append(taken)


@numba.njit(cache=True)
def _income_power_sums(people, income, elasticity, group_start):  # pragma: no cover - compiled
    """(G,) float64: the sum of ``max(income, 0) ** elasticity`` over the sorted ``people``
    of each group (groups are blocks of people: ``group_start``), added in person order."""
    sums = np.zeros(group_start.shape[0] - 1)
    g = 0
    for j in range(people.shape[0]):
        i = people[j]
        while i >= group_start[g + 1]:
            g += 1
        sums[g] += power(max(np.float64(income[i]), 0.0), elasticity)
    return sums


@numba.njit(cache=True)
def _count_flags(who, count, flag_since, flag_count, detained_until, day, window_days, threshold):  # pragma: no cover - compiled
    """Add ``count[j]`` flags to each of the sorted people ``who[j]``, in a window opened by
    the first flag (a window that has lasted ``window_days`` is opened again); returns those
    free who reach ``threshold``. Their values are gathered first, a pass each, so that the
    cache misses of a pass overlap."""
    since, flags, held = flag_since[who], flag_count[who], detained_until[who]
    taken = np.empty(who.shape[0], who.dtype)
    k = 0
    for j in range(who.shape[0]):
        i = who[j]
        n = np.int64(flags[j])
        if day - since[j] >= window_days or n == 0:
            flag_since[i] = day
            n = 0
        n = min(n + count[j], np.int64(np.iinfo(np.int16).max))
        flag_count[i] = n
        if n >= threshold and held[j] <= day:
            taken[k] = i
            k += 1
    return taken[:k]


def _pay(world: World, state: State, listed_people: np.ndarray, day: int, tally: Tally) -> None:
    """Move incomes toward their targets; only people who are off target, listed, detained or
    rewarded are touched."""
    rules = world.scenario.sanctions
    green = rules.green_channel
    if state.fast:
        # Everyone else is at base income and stays there: the sets hold all who may not.
        held = state.detained_people
        who = sorted_union(state.paid, listed_people, held, state.above if green.enabled else held[:0])
    else:
        touched = (state.income != world.base_income) | (state.status == LISTED) | (state.detained_until > day)
        if green.enabled:
            touched |= state.score >= green.threshold
        who = np.flatnonzero(touched)
    if len(who) == 0:
        if state.fast:
            state.income_sums = world.base_income_sum.copy()
        return
    employment = rules.employment
    green_days, gaps, cuts = np.zeros(world.n_groups), np.zeros(world.n_groups), np.zeros(world.n_groups)
    paid = _move_incomes(
        who.astype(np.int64), state.income, world.base_income, state.status, state.detained_until, state.score, day,
        LISTED, FREE, green.enabled, np.float32(green.threshold), np.float32(1.0 + green.income_bonus),
        employment.enabled, np.float32(employment.floor), np.float32(employment.fall_rate),
        np.float32(employment.recovery_rate if employment.enabled else 1.0), np.float32(SETTLED),
        world.groups_of(who), green_days, gaps, cuts,
    )
    if green.enabled:
        tally.add("green_days", green_days)
    if employment.enabled:
        tally.add("income_cut", cuts)
    if state.fast:
        state.paid = paid
        state.income_sums = world.base_income_sum + gaps


@numba.njit(cache=True)
def _move_incomes(who, income, base_income, status, detained_until, score, day, listed_code, free_code,
                  green, green_threshold, bonus, employment, floor, fall_rate, recovery_rate, settled,
                  group, green_days, gaps, cuts):  # pragma: no cover - compiled
    """One day of income for ``who``, in float32 as the module docstring says: detained, 0;
    listed, toward ``floor * base`` (falling at ``fall_rate``, or climbing back from below at
    ``recovery_rate``); rewarded (free, not detained, score at least ``green_threshold``),
    toward ``bonus * base``; else toward base. Within ``settled * base`` of its target an
    income is put on it. Counts rewarded people into ``green_days`` and the float64 gaps
    ``income - base`` into ``gaps``, and the listed's income below base under the employment
    sanction into ``cuts``, per group (``group[j]`` is the group of ``who[j]``); returns who
    is off base afterwards."""
    m = who.shape[0]
    # Their values first, each array gathered in a pass of its own, so that the cache misses
    # of a pass overlap (a loop that also computed would wait for each in turn).
    v_base, v_income, v_held, v_status = base_income[who], income[who], detained_until[who], status[who]
    v_score = score[who] if green else score[:0]
    paid = np.empty(m, np.int32)
    k = 0
    for j in range(m):
        i = who[j]
        base, g = v_base[j], group[j]
        new, rewarded, cut = income_day(base, v_income[j], v_held[j], v_status[j], v_score[j] if green else np.float32(0.0), day,
                                        listed_code, free_code, green, green_threshold, bonus, employment, floor, fall_rate,
                                        recovery_rate, settled)
        if rewarded:
            green_days[g] += 1.0
        cuts[g] += cut
        income[i] = new
        if new != base:
            paid[k] = i
            k += 1
            gaps[g] += np.float64(new) - np.float64(base)
    return paid[:k].copy()


@numba.njit(cache=True, inline="always")
def income_day(base, now, held_until, status, score, day, listed_code, free_code, green, green_threshold, bonus, employment,
               floor, fall_rate, recovery_rate, settled):  # pragma: no cover - compiled
    """One person's income after ``day`` (float32, see :func:`_move_incomes`) from their
    values; whether they were rewarded; what the employment sanction took (float64, 0 if
    not listed or not below base). Scalars, so that it inlines at no cost."""
    one = np.float32(1.0)
    detained = held_until > day
    listed = status == listed_code and not detained
    rewarded = green and score >= green_threshold and status == free_code and not detained
    target = base * (bonus if rewarded else one)
    step = recovery_rate
    if employment and listed:
        target = base * floor
        if now > target:
            step = fall_rate
    new = now + step * (target - now)
    if abs(new - target) <= settled * base:
        new = target
    cut = 0.0
    if detained:
        new = np.float32(0.0)
    elif employment and listed and new < base:
        cut = np.float64(base) - np.float64(new)
    return new, rewarded, cut
