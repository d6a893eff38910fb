"""Phase 1, behave, in the event engine: the events of the day, drawn block by block from
numbers keyed by where they are, not by what was drawn before.

The model is the reference engine's (:mod:`credsim.engines.reference.phases.behave`, whose
docstring gives the intensity): each person's events of behaviour b are Poisson with
``rate[b, g] * region_rate * propensity * multiplier`` (at most one for a Bernoulli
behaviour), drawn by thinning: candidates at the group's largest intensity, walked by
exponential gaps, each kept with probability (own intensity / largest), and the part of
the multiplier above 1 drawn directly for the few people who have it.

What differs is where the numbers come from. People are cut into blocks of ``BLOCK``
(a fixed size), and the walk restarts at each block's edge (a Poisson process on disjoint
intervals is independent Poisson processes on each). The candidates of behaviour b in
group g and block k draw their uniforms, two each, in order, from a stream that starts at
the Philox words of counter (k, b * G + g, 0, 0) under the key of (seed, day, behave)
(:mod:`credsim.engines.event.philox`); the extra events from the stream at (k, b * G + g,
0, 1). So a block's events depend on the seed, the day, the block and the state of its
own people, and on nothing else: not on the blocks drawn before it,
nor on how many threads or processes share the blocks. Perceived risk is read as of the
end of yesterday through :func:`credsim.engines.event.lazy.risk_of` (the state keeps it
as of its last change).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numba
import numpy as np

from credsim.draws import pool
from credsim.engines.event.lazy import risk_of
from credsim.engines.event.pay import paid_values
from credsim.engines.event.philox import key, next_uniform, stream
from credsim.engines.reference.phases.behave import Events, _multiplier_of, _response_strengths, _room
from credsim.kernels import power, sorted_union
from credsim.engines.event.state import EventState
from credsim.state import LISTED
from credsim.world import POVERTY_CAP, World

BLOCK = 1 << 16  # people per block: the unit of the random numbers
PHASE = 0  # behave's index among the day's drawing phases (credsim.engines.event.streams.PHASES)
THREADS_FROM = 200_000  # people; below this the two halves of the units are drawn one after the other
BATCH = 256  # candidates drawn before their people's values are read
U = np.uint64


@dataclass(frozen=True)
class _Plan:
    """What behave derives from the world alone, once per world."""

    units: np.ndarray  # (U, 5) int64: behaviour, group, first person, end, block; in (b, g, block) order
    halves: tuple[np.ndarray, np.ndarray]  # the units of each thread: two runs of consecutive units
    peak: np.ndarray  # (B, G) float64: the thinning intensity, rate * largest propensity
    strength: np.ndarray  # (B,) float64: k in exp(-k * risk)
    rows: np.ndarray  # behaviours whose multiplier can exceed 1 (poverty, listing multiplier above 1)


_plans: dict[int, tuple[weakref.ref, _Plan]] = {}


def _plan(world: World) -> _Plan:
    known = _plans.get(id(world))
    if known is not None and known[0]() is world:
        return known[1]
    peak = world.rate * world.propensity_max
    start = world.layout.group_start
    units, load = [], []
    for b in range(world.n_behaviours):
        for g in range(world.n_groups):
            if peak[b, g] <= 0:
                continue
            for k in range(int(start[g]) // BLOCK, (int(start[g + 1]) + BLOCK - 1) // BLOCK):
                first, end = max(int(start[g]), k * BLOCK), min(int(start[g + 1]), (k + 1) * BLOCK)
                if end > first:
                    units.append((b, g, first, end, k))
                    load.append(peak[b, g] * (end - first))
    units = np.array(units, np.int64).reshape(-1, 5)
    # Two runs of consecutive units of about equal expected work: the events come out in unit order.
    cut = int(np.searchsorted(np.cumsum(load), 0.5 * sum(load))) + 1 if load else 0
    halves = (units[:cut], units[cut:])
    above = (world.poverty_elasticity != 0) | (world.listed_multiplier > 1)
    plan = _Plan(units, halves, peak, _response_strengths(world), np.flatnonzero(above).astype(np.int64))
    _plans.clear()  # one world at a time; do not keep old worlds alive
    _plans[id(world)] = (weakref.ref(world), plan)
    return plan


def behave(world: World, state: EventState, day: int, seed: int) -> Events:
    plan = _plan(world)
    disturbed, moved = _disturbed(world, state, plan, day)
    k0, k1 = key(seed, day, PHASE)
    coded = world.propensity_code is not None
    arrays = (
        k0, k1, world.rate, plan.peak, world.propensity_code if coded else np.zeros((world.n_behaviours, 1), np.uint8),
        world.propensity_level, coded, world.region_rate, world.regional, world.layout.cell_bounds, world.layout.n_regions,
        world.poverty_elasticity, plan.strength, world.listed_multiplier, world.bernoulli, POVERTY_CAP,
        state.income, world.base_income, state.status, LISTED, state.detained_until, day,
        state.risk, state.rstamp, state.target, state.params, disturbed,
    )
    draw = lambda units: _draw_units(units, *arrays)  # noqa: E731
    # Threads pay off only with work to share; the units give the same events either way.
    halves = list(pool().map(draw, plan.halves) if world.n_agents >= THREADS_FROM else map(draw, plan.halves))
    person = np.concatenate([h[0] for h in halves])
    ends = np.concatenate([h[1] for h in halves])
    counts = np.diff(np.concatenate([[0], ends[: len(plan.halves[0])], ends[len(plan.halves[0]) :] + len(halves[0][0])]))
    behaviour = np.repeat(plan.units[:, 0].astype(np.int16), counts)
    return Events(person, behaviour, moved)


def _disturbed(world: World, state: EventState, plan: _Plan, day: int) -> tuple[tuple, np.ndarray]:
    """The sorted people whose multiplier is above 1 for some behaviour -- listed (a listing
    multiplier above 1), or poorer than their base income (a positive poverty elasticity;
    richer, for a negative one) -- with what their multipliers depend on (see
    :func:`_values_of`); and (G,) float64 :attr:`Events.poverty_moved`, from one pass over
    the people off base income."""
    moved = np.zeros(world.n_groups)
    if not len(plan.rows):
        people = np.zeros(0, np.int32)
    else:
        people = state.listed if (world.listed_multiplier > 1).any() else state.listed[:0]
        if (world.poverty_elasticity != 0).any() and len(state.paid):
            coded = world.propensity_code is not None
            poor = _poverty_pass(
                state.paid, plan.rows, world.poverty_elasticity, world.rate,
                world.propensity_code if coded else np.zeros((world.n_behaviours, 1), np.uint8), world.propensity_level, coded,
                world.region_rate, world.regional, world.layout.cell_bounds, world.layout.n_regions, world.layout.group_start,
                *paid_values(world, state), day, POVERTY_CAP, moved=moved,
            )
            people = sorted_union(poor, people)
    kernel = _values_of_parallel if len(people) >= VALUES_PARALLEL_FROM else _values_of
    values = kernel(people, day, world.base_income, state.income, state.status, LISTED, state.detained_until,
                    state.risk, state.rstamp, state.target, state.params)
    return (people, *values), moved


VALUES_PARALLEL_FROM = 65536  # disturbed people; below this one core reads their values


@numba.njit(cache=True)
def _values_of(people, day, base, income, status, listed_code, detained_until, risk, rstamp, target, params):  # pragma: no cover - compiled
    """What the multipliers of the disturbed ``people`` depend on, read once a day for every
    behaviour's units (they are scattered: each read is a cache miss): free (not detained),
    base income, income, perceived risk as of yesterday, listed."""
    n = people.shape[0]
    free, v_base, v_income = np.empty(n, np.bool_), np.empty(n, np.float32), np.empty(n, np.float32)
    v_risk, listed = np.empty(n), np.empty(n, np.bool_)
    for j in range(n):
        free[j] = detained_until[people[j]] <= day
    for j in range(n):
        v_base[j] = base[people[j]]
    for j in range(n):
        v_income[j] = income[people[j]]
    for j in range(n):
        listed[j] = status[people[j]] == listed_code
    for j in range(n):
        v_risk[j] = risk_of(people[j], day - 1, risk, rstamp, target, params)
    return free, v_base, v_income, v_risk, listed


@numba.njit(cache=True, parallel=True)
def _values_of_parallel(people, day, base, income, status, listed_code, detained_until, risk, rstamp, target, params):  # pragma: no cover - compiled
    """:func:`_values_of` on every core: each person's values are their own, the same numbers."""
    n = people.shape[0]
    free, v_base, v_income = np.empty(n, np.bool_), np.empty(n, np.float32), np.empty(n, np.float32)
    v_risk, listed = np.empty(n), np.empty(n, np.bool_)
    for j in numba.prange(n):
        i = people[j]
        free[j] = detained_until[i] <= day
        v_base[j] = base[i]
        v_income[j] = income[i]
        listed[j] = status[i] == listed_code
        v_risk[j] = risk_of(i, day - 1, risk, rstamp, target, params)
    return free, v_base, v_income, v_risk, listed


POVERTY_CHUNK = 16384  # people off base income per task of the poverty pass


def _poverty_pass(paid, *arrays, moved):
    """Over the sorted people off base income and not detained: add to ``moved`` (per
    group) ``rate * propensity * region multiplier * |poverty ** elasticity - 1|`` for each
    behaviour with an elasticity (the events poverty feedback adds or removes, expected);
    return those whose poverty multiplier is above 1 for some behaviour. ``arrays``: the
    world's rates and layout, then the income, base income and detention of each of
    ``paid``, in its order (:func:`credsim.engines.event.pay.paid_values`). Chunk by chunk, on
    every core when there are several: each chunk's part of ``moved`` is its own, and the
    parts are added in chunk order, so the numbers do not depend on the threads."""
    chunks = -(-len(paid) // POVERTY_CHUNK)
    parts, out, found = np.zeros((chunks, len(moved))), np.empty(len(paid), np.int32), np.zeros(chunks, np.int64)
    (_poverty_parallel if chunks > 1 else _poverty_serial)(paid, *arrays, parts, out, found)
    moved += parts.sum(axis=0)
    return np.concatenate([out[k * POVERTY_CHUNK : k * POVERTY_CHUNK + found[k]] for k in range(chunks)]) if chunks else out


@numba.njit(cache=True, inline="always")
def _poverty_chunk(paid, rows, eta, rate, code, level, coded, region_rate, regional, cell_bounds, n_regions,
                   group_start, v_income, v_base, v_held, day, cap, moved, out):  # pragma: no cover - compiled
    """:func:`_poverty_pass` for the sorted ``paid`` of one chunk, with their income, base
    income and detention: its part of the sums into ``moved``, its people above 1 into
    ``out``; returns how many."""
    n = 0
    g = np.searchsorted(group_start, paid[0], side="right") - 1
    cell = np.searchsorted(cell_bounds, paid[0], side="right") - 1
    for j in range(paid.shape[0]):
        i = paid[j]
        while i >= group_start[g + 1]:
            g += 1
        while i >= cell_bounds[cell + 1]:  # the people in order: their cells in order
            cell += 1
        if v_held[j] > day:
            continue
        ratio = np.float64(v_base[j]) / max(np.float64(v_income[j]), np.float64(v_base[j]) / cap)
        above = False
        for b in rows:
            if eta[b] == 0.0:
                continue
            f = power(ratio, eta[b])
            own = level[code[b, i]] if coded else 1.0
            if regional:
                own *= region_rate[b, cell % n_regions]
            moved[g] += rate[b, g] * own * abs(f - 1.0)
            above = above or f > 1.0
        if above:
            out[n] = i
            n += 1
    return n


@numba.njit(cache=True)
def _poverty_serial(paid, rows, eta, rate, code, level, coded, region_rate, regional, cell_bounds, n_regions,
                    group_start, v_income, v_base, v_held, day, cap, parts, out, found):  # pragma: no cover - compiled
    for k in range(parts.shape[0]):
        sl = slice(k * POVERTY_CHUNK, (k + 1) * POVERTY_CHUNK)
        found[k] = _poverty_chunk(paid[sl], rows, eta, rate, code, level, coded, region_rate, regional, cell_bounds, n_regions,
                                  group_start, v_income[sl], v_base[sl], v_held[sl], day, cap, parts[k], out[sl])


@numba.njit(cache=True, parallel=True)
def _poverty_parallel(paid, rows, eta, rate, code, level, coded, region_rate, regional, cell_bounds, n_regions,
                      group_start, v_income, v_base, v_held, day, cap, parts, out, found):  # pragma: no cover - compiled
    for k in numba.prange(parts.shape[0]):
        sl = slice(k * POVERTY_CHUNK, (k + 1) * POVERTY_CHUNK)
        found[k] = _poverty_chunk(paid[sl], rows, eta, rate, code, level, coded, region_rate, regional, cell_bounds, n_regions,
                                  group_start, v_income[sl], v_base[sl], v_held[sl], day, cap, parts[k], out[sl])


@numba.njit(cache=True, nogil=True)
def _draw_units(units, k0, k1, rate, peak, code, level, coded, region_rate, regional, cell_bounds, n_regions,
                eta, strength, listed_multiplier, bernoulli, cap, income, base, status, listed_code, detained_until, day,
                risk, rstamp, target, params, disturbed):  # pragma: no cover - compiled
    """The events of ``units`` (rows of (behaviour, group, first, end, block)), in unit
    order, each unit's in person order; and where each unit's events end. ``disturbed``:
    the people and values of :func:`_disturbed`. Without the GIL, so that two runs of units
    are drawn side by side."""
    disturbed, d_free, d_base, d_income, d_risk, d_listed = disturbed
    n_groups = peak.shape[1]
    out = np.empty(1024, np.int32)
    ends = np.empty(units.shape[0], np.int64)
    n = 0
    extra = np.empty(64, np.int32)
    at = np.empty(BATCH, np.int64)  # a batch's candidates, their accept uniforms (times the peak), propensities
    accept = np.empty(BATCH)
    p = np.empty(BATCH)
    kept = np.empty(BATCH, np.int64)  # which of the batch pass on propensity, and their values
    held = np.empty(BATCH, np.int32)
    v_base = np.empty(BATCH, np.float32)
    v_income = np.empty(BATCH, np.float32)
    v_risk = np.empty(BATCH)
    v_listed = np.empty(BATCH, np.bool_)
    chosen = np.empty(BATCH, np.int32)
    for r in range(units.shape[0]):
        b, g, first, end, block = units[r, 0], units[r, 1], units[r, 2], units[r, 3], units[r, 4]
        lam = peak[b, g]
        c0, c1 = U(block), U(b * n_groups + g)
        # 1. The extra events (the multiplier above 1), a Poisson process along the disturbed
        # people's extra intensities laid end to end: person j has a Poisson count of them.
        ne = 0
        if eta[b] != 0.0 or listed_multiplier[b] > 1.0:
            d = np.searchsorted(disturbed, first)
            cell = np.searchsorted(cell_bounds, first, side="right") - 1
            walked = 0.0
            extras = stream(c0, c1, U(0), U(1), k0, k1)
            extras, u = next_uniform(extras)
            next_at = -np.log1p(-u)
            while d < disturbed.shape[0] and disturbed[d] < end:
                i = disturbed[d]
                d += 1
                if not d_free[d - 1]:
                    continue
                m = _multiplier_of(eta[b], strength[b], listed_multiplier[b], cap, d_base[d - 1], d_income[d - 1], d_risk[d - 1], d_listed[d - 1])
                if m <= 1.0:
                    continue
                own = level[code[b, i]] if coded else 1.0
                if regional:
                    while i >= cell_bounds[cell + 1]:  # the disturbed in order: their cells in order
                        cell += 1
                    own *= region_rate[b, cell % n_regions]
                walked += rate[b, g] * own * (m - 1.0)
                while next_at < walked:
                    extras, u = next_uniform(extras)
                    next_at += -np.log1p(-u)
                    extra = _room(extra, ne)
                    extra[ne] = i
                    ne += 1
        # 2. Candidates at the peak intensity, each kept with probability (own / peak),
        # BATCH at a time: their places and uniforms drawn first, then each value they need
        # read in a pass of its own (the reads are cache misses that then overlap), then
        # merged with the extra events in person order (an extra event first on a tie).
        e, last = 0, -1
        draws = stream(c0, c1, U(0), U(0), k0, k1)
        draws, u = next_uniform(draws)
        draws, v = next_uniform(draws)
        x = first - np.log1p(-u) / lam
        cell_low, cell_high, cell_region = 0, 0, 0
        poverty, afraid, listing = eta[b] != 0.0, strength[b] != 0.0, listed_multiplier[b] != 1.0
        done = False
        while not done:
            nb = 0
            while nb < BATCH:
                if x >= end:
                    done = True
                    break
                at[nb] = int(x)
                accept[nb] = v * lam  # the candidate's second uniform, times the peak
                nb += 1
                draws, u = next_uniform(draws)
                draws, v = next_uniform(draws)
                x += -np.log1p(-u) / lam
            for c in range(nb):
                p[c] = level[code[b, at[c]]] if coded else 1.0
            if regional:  # people in order: the cell (and its region) changes seldom
                for c in range(nb):
                    if at[c] < cell_low or at[c] >= cell_high:
                        cell = np.searchsorted(cell_bounds, at[c], side="right") - 1
                        cell_low, cell_high, cell_region = cell_bounds[cell], cell_bounds[cell + 1], cell % n_regions
                    p[c] *= region_rate[b, cell_region]
            nk = 0
            for c in range(nb):
                p[c] *= rate[b, g]
                if accept[c] < p[c]:
                    kept[nk] = c
                    nk += 1
            for c in range(nk):
                held[c] = detained_until[at[kept[c]]]
            if poverty:
                for c in range(nk):
                    v_base[c] = base[at[kept[c]]]
                for c in range(nk):
                    v_income[c] = income[at[kept[c]]]
            if afraid:
                for c in range(nk):
                    v_risk[c] = risk_of(at[kept[c]], day - 1, risk, rstamp, target, params)
            if listing:
                for c in range(nk):
                    v_listed[c] = status[at[kept[c]]] == listed_code
            nc = 0
            for c in range(nk):
                if held[c] > day:
                    continue
                m = 1.0  # the multiplier, from the values the behaviour depends on
                if poverty:
                    m *= power(v_base[c] / max(v_income[c], v_base[c] / cap), eta[b])
                if afraid and v_risk[c] != 0.0:
                    m *= np.exp(-strength[b] * v_risk[c])
                if listing and v_listed[c]:
                    m *= listed_multiplier[b]
                j = kept[c]
                if accept[j] < p[j] * min(m, 1.0):
                    chosen[nc] = at[j]
                    nc += 1
            for c in range(nc + (1 if done else 0)):
                i = chosen[c] if c < nc else end  # after the last batch, the extras left
                while e < ne and extra[e] <= i:
                    who = extra[e]
                    e += 1
                    if not (bernoulli[b] and who == last):
                        out = _room(out, n)
                        out[n] = who
                        n += 1
                        last = who
                if c < nc and not (bernoulli[b] and i == last):
                    out = _room(out, n)
                    out[n] = i
                    n += 1
                    last = i
        ends[r] = n
    return out[:n].copy(), ends
