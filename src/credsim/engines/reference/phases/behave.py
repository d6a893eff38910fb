"""Phase 1, behave: people do things.

Person i's intensity for behaviour b on a day is

    rate[b, g] * region_rate[b, r] * propensity[b, i] * multiplier[b, i]
    multiplier = poverty ** poverty_elasticity[b] * response[b, i]
                 * (listed_multiplier[b] if listed) * (0 if detained)

Counts are Poisson with that intensity; a Bernoulli behaviour keeps at most one event per
person-day (its rate was compiled to -log(1 - p), so the chance of an event is exactly p
when the multiplier is 1).

Most people do nothing on most days, so the events are drawn by thinning rather than one
coin per person: candidates at the group's largest intensity, walked along the group's block
of people by exponential gaps (a Poisson process), each kept with probability (own
intensity / largest; the region multiplier counts with the propensity). That is exact for
the part of the multiplier up to 1; the part above 1
(poverty, listing multipliers) is drawn directly for the few people who have it. The day's
thinning is compiled (:func:`_thin_cells`) and split between ``STREAMS`` random streams
that run side by side on threads; its work is proportional to events, not to people.
Groups where candidates would exceed a quarter of the people are drawn densely (one
Poisson draw per person) instead.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numba
import numpy as np

from credsim.draws import pool
from credsim.kernels import power, sorted_union
from credsim.state import LISTED, State
from credsim.world import POVERTY_CAP, World


@dataclass(frozen=True)
class Events:
    """True events of one day, ordered by behaviour then person."""

    person: np.ndarray  # (E,) int32
    behaviour: np.ndarray  # (E,) int16
    # (G,) float64: the events poverty feedback added or removed today, expected (summary.json's
    # mechanisms): rate * region multiplier * propensity * |poverty ** poverty_elasticity - 1|
    # over the people off their base income and not detained; None where not counted.
    poverty_moved: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.person)


STREAMS = 2  # the thinned cells are shared between this many random streams, one thread each
THREADS_FROM = 200_000  # people; below this the streams are drawn one after the other
BATCH = 256  # candidates drawn before their people's values are read: the reads of a batch overlap


@dataclass(frozen=True)
class _Plan:
    """What behave derives from the world alone, once per world."""

    dense: np.ndarray  # (B, G) bool, drawn one coin per person
    thinned: np.ndarray  # (B, G) float64, thinning intensity per person; 0: not thinned
    owner: np.ndarray  # (B, G) int64, the stream that draws each thinned cell
    mine: tuple[np.ndarray, ...]  # per stream, (B, G) bool: its cells
    fixed: tuple  # the world's arrays for _thin_cells
    cells: list[tuple[int, int, int]]  # (b, g, k) of every cell with a nonzero rate
    extra_row: np.ndarray  # (B,) int64, the row of behaviour b in _extras; -1: its multiplier stays at most 1


_plans: dict[int, tuple[weakref.ref, _Plan]] = {}


def _plan(world: World) -> _Plan:
    known = _plans.get(id(world))
    if known is not None and known[0]() is world:
        return known[1]
    dense = world.rate * world.propensity_max > 0.25  # candidates for over a quarter of the people
    thinned = np.where(dense | (world.rate <= 0), 0.0, world.rate * world.propensity_max)
    # Cells (behaviour, group) go to the streams by a fixed rule, each stream drawing its own
    # cells in order: the events depend on the seed alone, not on how many threads there are.
    owner = _share(thinned * np.diff(world.layout.group_start))
    coded = world.propensity_code is not None
    fixed = (
        world.layout.group_start, thinned, world.propensity_max, world.rate,
        world.propensity_code if coded else np.zeros((world.n_behaviours, 1), np.uint8), world.propensity_level, coded,
        world.poverty_elasticity, _response_strengths(world), world.listed_multiplier, world.bernoulli,
    )
    cells = [(b, g, b * world.n_groups + g) for b in range(world.n_behaviours) for g in range(world.n_groups) if world.rate[b, g] > 0]
    # Only a poverty effect or a listing multiplier above 1 can take the multiplier above 1.
    above = (world.poverty_elasticity != 0) | (world.listed_multiplier > 1)
    extra_row = np.where(above, np.cumsum(above) - 1, -1).astype(np.int64)
    plan = _Plan(dense, thinned, owner, tuple(owner == s for s in range(STREAMS)), fixed, cells, extra_row)
    _plans.clear()  # one world at a time is the rule; do not keep old worlds alive
    _plans[id(world)] = (weakref.ref(world), plan)
    return plan


def behave(world: World, state: State, day: int, rng: np.random.Generator) -> Events:
    plan = _plan(world)
    disturbed = _disturbed(world, state)
    above, propensity, poor = _extras(world, state, day, plan, disturbed)
    moved = _poverty_moved(world, plan, disturbed, propensity, poor)
    arrays = (
        *plan.fixed,
        state.income, world.base_income, POVERTY_CAP, state.risk, state.status, LISTED, state.detained_until, day,
        disturbed, plan.extra_row, above, propensity,
        world.region_rate, world.regional, world.layout.cell_bounds, world.layout.n_regions,
    )
    streams = rng.spawn(STREAMS)
    draw = lambda s: _thin_cells(streams[s], plan.mine[s], *arrays)  # noqa: E731
    # Threads pay off only with work to share; the streams give the same events either way.
    drawn = list(pool().map(draw, range(STREAMS)) if world.n_agents >= THREADS_FROM else map(draw, range(STREAMS)))

    if STREAMS == 2 and not plan.dense.any():  # every cell thinned: the cells put in order in one pass
        return Events(*_in_order(plan.owner, drawn[0][0], drawn[0][1], drawn[1][0], drawn[1][1]), moved)
    people, kinds = [], []
    for b, g, k in plan.cells:
        if plan.thinned[b, g] > 0:
            person, cell_end = drawn[plan.owner[b, g]]
            found = person[cell_end[k] : cell_end[k + 1]]
        else:  # a cell with a rate is thinned or dense
            found = _dense(world, state, day, b, g, rng)
        people.append(found)
        kinds.append(np.full(len(found), b, np.int16))
    return Events(np.concatenate(people).astype(np.int32), np.concatenate(kinds), moved)


def _share(load: np.ndarray) -> np.ndarray:
    """(B, G) stream of each cell: the heaviest cells first, each to the least loaded stream."""
    owner = np.zeros(load.shape, np.int64)
    total = np.zeros(STREAMS)
    for k in np.argsort(-load, axis=None, kind="stable"):
        s = int(np.argmin(total))
        owner.flat[k] = s
        total[s] += load.flat[k]
    return owner


def _poverty_moved(world: World, plan: _Plan, who: np.ndarray, propensity: np.ndarray, poor: np.ndarray) -> np.ndarray:
    """(G,) float64, :attr:`Events.poverty_moved`, from the values :func:`_extras` read (the
    people off base income are among the disturbed whenever an elasticity is not 0)."""
    moved = np.zeros(world.n_groups)
    rows = np.flatnonzero(plan.extra_row >= 0)
    if len(who) == 0 or not len(rows):
        return moved
    group = world.groups_of(who)
    for r, b in enumerate(rows):
        if world.poverty_elasticity[b] != 0:
            moved += np.bincount(group, weights=world.rate[b, group] * propensity[r] * poor[r], minlength=world.n_groups)
    return moved


def _extras(world: World, state: State, day: int, plan: _Plan, who: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each behaviour whose multiplier can exceed 1 (a row of ``plan.extra_row``) and each
    of the sorted people ``who``: the part of the multiplier above 1 (0 where it is at most
    1), their propensity (times their region's multiplier), and ``|poverty ** elasticity -
    1|`` (0 when detained). Their values are read once, for every behaviour, on every core
    (they are scattered over the population: each read is a cache miss)."""
    rows = np.flatnonzero(plan.extra_row >= 0)
    kernel = _extras_parallel if len(who) >= EXTRAS_PARALLEL_FROM else _extras_serial
    above = np.zeros((len(rows), len(who)))
    propensity = np.ones((len(rows), len(who)))
    poor = np.zeros((len(rows), len(who)))
    if len(rows) and len(who):
        code, level, coded, eta, k, listed_multiplier = plan.fixed[4:10]  # as _thin_cells takes them
        kernel(who, rows, code, level, coded, eta, k, listed_multiplier, POVERTY_CAP,
               state.income, world.base_income, state.risk, state.status, LISTED, state.detained_until, day, above, propensity, poor)
        if world.regional:  # the region multiplier counts with the propensity
            propensity *= world.region_rate[rows][:, world.layout.region[who]]
    return above, propensity, poor


def _disturbed(world: World, state: State) -> np.ndarray:
    """Sorted people whose multiplier may be above 1 for some behaviour: off their base income
    (poverty elasticity) or listed (listing multiplier above 1)."""
    if state.fast:
        cases = state.listed if (world.listed_multiplier > 1).any() else state.cases[:0]
        return sorted_union(state.paid if (world.poverty_elasticity != 0).any() else cases[:0], cases)
    mask = None
    if (world.poverty_elasticity != 0).any():
        mask = state.income != world.base_income
    if (world.listed_multiplier > 1).any():
        mask = state.status == LISTED if mask is None else mask | (state.status == LISTED)
    return np.zeros(0, np.int32) if mask is None else np.flatnonzero(mask).astype(np.int32)


def multiplier(world: World, state: State, day: int, b: int, who: np.ndarray) -> np.ndarray:
    """The dynamic part of the intensity of behaviour ``b`` for the people ``who``."""
    m = np.ones(len(who), np.float64)
    if len(who) == 0:
        return m
    eta = world.poverty_elasticity[b]
    if eta != 0:
        base = world.base_income[who].astype(np.float64)
        income = np.maximum(state.income[who].astype(np.float64), base / POVERTY_CAP)
        m *= (base / income) ** eta
    m *= response(world, state, b, who)
    if world.listed_multiplier[b] != 1:
        m[state.status[who] == LISTED] *= world.listed_multiplier[b]
    m[state.detained_until[who] > day] = 0.0
    return m


def response(world: World, state: State, b: int, who: np.ndarray) -> np.ndarray:
    """exp(-deterrence * risk) for penalized behaviours, exp(-chill * risk * (1 + opacity))
    for protected ones, 1 otherwise."""
    k = _response_strength(world, b)
    if k == 0.0:
        return np.ones(len(who))
    return np.exp(-k * state.risk[who].astype(np.float64))


def _dense(world: World, state: State, day: int, b: int, g: int, rng: np.random.Generator) -> np.ndarray:
    """One Poisson draw per person of group ``g``: for intensities too high to thin."""
    sl = world.layout.group_slice(g)
    who = np.arange(sl.start, sl.stop)
    intensity = world.rate[b, g] * world.propensity_of(b, who) * world.region_factor(b, who)
    counts = rng.poisson(intensity * multiplier(world, state, day, b, who))
    if world.bernoulli[b]:
        counts = np.minimum(counts, 1)
    return np.repeat(who, counts).astype(np.int32)


def _response_strengths(world: World) -> np.ndarray:
    return np.array([_response_strength(world, b) for b in range(world.n_behaviours)])


def _response_strength(world: World, b: int) -> float:
    """k in response = exp(-k * risk): 0 when behaviour ``b`` does not respond to risk."""
    adaptation = world.scenario.adaptation
    if not adaptation.enabled:
        return 0.0
    if world.protected[b] and adaptation.chilling.enabled:
        return adaptation.chilling.strength * (1.0 + adaptation.chilling.opacity)
    if world.deterred[b] and adaptation.deterrence.enabled:
        return adaptation.deterrence.strength
    return 0.0


@numba.njit(cache=True, nogil=True)
def _thin_cells(rng, mine, group_start, intensity, peak, rate, code, level, coded, eta, k, listed_multiplier, bernoulli,
              income, base, cap, risk, status, listed_code, detained_until, day,
              disturbed, extra_row, above, propensity, region_rate, regional, cell_bounds, n_regions):  # pragma: no cover - compiled
    """The day's events of every behaviour b and group g with ``mine[b, g]`` and
    ``intensity[b, g] > 0``, ordered by behaviour, then person; and where each (b, g) cell
    ends in that list. Without the GIL: streams run on threads side by side.

    Candidates are the points of a Poisson process of ``intensity = rate * peak`` per person
    along the group's block, walked in order by exponential gaps: the same as a Poisson count
    placed uniformly, already sorted. A candidate on person i is kept with probability
    ``propensity / peak * min(multiplier, 1)``, using one uniform: below ``propensity /
    peak`` it is kept on propensity, and then, rescaled, it is again a uniform for the
    multiplier. The part of the multiplier above 1 is drawn directly for the ``disturbed``
    people (sorted; ``above`` and ``propensity`` are theirs, from :func:`_extras`, in row
    ``extra_row[b]``): a Poisson process along their
    extra intensities ``rate * propensity * (multiplier - 1)`` laid end to end, so that
    person j has a Poisson count of them; merged in person order (an extra event of person
    i before a candidate on i). A Bernoulli behaviour keeps at most one event per person.

    Candidates are drawn ``BATCH`` at a time and only then are their people's values read,
    each in a loop of its own: at tens of millions of people every read is a cache miss,
    and reads that do not wait on each other are served side by side. The draws are made
    in the same order as one candidate at a time, so the events are the same.
    """
    n_behaviours, n_groups = intensity.shape
    one, zero = np.float32(1.0), np.float32(0.0)
    out = np.empty(1024, np.int32)
    cell_end = np.zeros(n_behaviours * n_groups + 1, np.int64)
    n = 0
    at = np.empty(BATCH, np.int64)  # a batch's candidates
    u = np.empty(BATCH)  # and their uniforms, times the peak
    p = np.empty(BATCH)  # their propensities
    kept = np.empty(BATCH, np.int64)  # which of the batch pass on propensity
    held = np.empty(BATCH, np.int32)  # their detention end, base, income, risk, listed
    v_base = np.empty(BATCH, np.float32)
    v_income = np.empty(BATCH, np.float32)
    v_risk = np.empty(BATCH, np.float32)
    v_listed = np.empty(BATCH, np.bool_)
    chosen = np.empty(BATCH, np.int32)  # the batch's events from candidates, in order
    extra = np.empty(64, np.int32)  # and from the extra process
    cell_low, cell_high, cell_region = 0, 0, 0  # the last candidate's cell and its region
    for b in range(n_behaviours):
        for g in range(n_groups):
            lam = intensity[b, g]
            start, stop = group_start[g], group_start[g + 1]
            if not (lam > 0 and mine[b, g]):
                cell_end[b * n_groups + g + 1] = n
                continue
            last = -1
            poverty, fear, listing = eta[b] != 0.0, k[b] != 0.0, listed_multiplier[b] != 1.0
            row = extra_row[b]
            d = np.searchsorted(disturbed, start) if row >= 0 else disturbed.shape[0]
            x = start + rng.standard_exponential() / lam
            # The extra events are the points of one Poisson process along the disturbed
            # people's summed extra intensity: a draw per event, not per person.
            walked, extra_at = 0.0, rng.standard_exponential()
            done = False
            while not done:
                # 1. Draw a batch: the extra events up to each candidate, then the candidate.
                nb, ne = 0, 0
                while nb < BATCH:
                    i = int(x) if x < stop else stop
                    while d < disturbed.shape[0] and disturbed[d] <= i and disturbed[d] < stop:
                        e, j = d, disturbed[d]  # e indexes the values computed for j: plain reads
                        d += 1
                        if above[row, e] <= 0.0:
                            continue
                        walked += rate[b, g] * propensity[row, e] * above[row, e]
                        while extra_at < walked:
                            extra_at += rng.standard_exponential()
                            extra = _room(extra, ne)
                            extra[ne] = j
                            ne += 1
                    if i >= stop:
                        done = True
                        break
                    x += rng.standard_exponential() / lam
                    at[nb] = i
                    u[nb] = rng.random() * peak[b, g]
                    nb += 1
                # 2. Their propensities (times their region's multiplier), then who passes on propensity.
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
                    if u[c] < p[c]:
                        kept[nk] = c
                        nk += 1
                # 3. Their values, each array read only when the behaviour needs it.
                for c in range(nk):
                    held[c] = detained_until[at[kept[c]]]
                if poverty:
                    for c in range(nk):
                        v_base[c] = base[at[kept[c]]]
                    for c in range(nk):
                        v_income[c] = income[at[kept[c]]]
                if fear:
                    for c in range(nk):
                        v_risk[c] = risk[at[kept[c]]]
                if listing:
                    for c in range(nk):
                        v_listed[c] = status[at[kept[c]]] == listed_code
                nc = 0
                for c in range(nk):
                    j = kept[c]
                    m = 0.0 if held[c] > day else _multiplier_of(
                        eta[b], k[b], listed_multiplier[b], cap,
                        v_base[c] if poverty else one, v_income[c] if poverty else one,
                        v_risk[c] if fear else zero, listing and v_listed[c])
                    if u[j] < p[j] * min(m, 1.0):
                        chosen[nc] = at[j]
                        nc += 1
                # 4. Merge the two in person order (extras first on a tie), one event per
                # person-day for a Bernoulli behaviour.
                a, e = 0, 0
                while a < nc or e < ne:
                    if e < ne and (a >= nc or extra[e] <= chosen[a]):
                        who = extra[e]
                        e += 1
                    else:
                        who = chosen[a]
                        a += 1
                    if bernoulli[b] and who == last:
                        continue
                    out = _room(out, n)
                    out[n] = who
                    n += 1
                    last = who
            cell_end[b * n_groups + g + 1] = n
    return out[:n].copy(), cell_end


@numba.njit(cache=True, inline="always")
def _multiplier_of(eta, k, listed_multiplier, cap, base, income, risk, listed):  # pragma: no cover - compiled
    """The dynamic part of one person's intensity (:func:`multiplier`) from their values.
    Scalars, not arrays: an inlined helper that takes arrays counts references to them at
    every call, which costs more than the arithmetic."""
    m = 1.0
    if eta != 0.0:
        m *= power(base / max(income, base / cap), eta)
    if k != 0.0 and risk != 0.0:
        m *= np.exp(-k * risk)
    if listed:
        m *= listed_multiplier
    return m


EXTRAS_PARALLEL_FROM = 50_000  # disturbed people; below this one core reads their values
EXTRAS_CHUNK = 4096


@numba.njit(cache=True)
def _extras_serial(who, rows, code, level, coded, eta, k, listed_multiplier, cap, income, base, risk, status, listed_code,
                   detained_until, day, above, propensity, poor):  # pragma: no cover - compiled
    for c in range((who.shape[0] + EXTRAS_CHUNK - 1) // EXTRAS_CHUNK):
        _extras_chunk(c, who, rows, code, level, coded, eta, k, listed_multiplier, cap, income, base, risk, status,
                      listed_code, detained_until, day, above, propensity, poor)


@numba.njit(cache=True, parallel=True)
def _extras_parallel(who, rows, code, level, coded, eta, k, listed_multiplier, cap, income, base, risk, status, listed_code,
                     detained_until, day, above, propensity, poor):  # pragma: no cover - compiled
    for c in numba.prange((who.shape[0] + EXTRAS_CHUNK - 1) // EXTRAS_CHUNK):
        _extras_chunk(c, who, rows, code, level, coded, eta, k, listed_multiplier, cap, income, base, risk, status,
                      listed_code, detained_until, day, above, propensity, poor)


@numba.njit(cache=True, inline="always")
def _extras_chunk(c, who, rows, code, level, coded, eta, k, listed_multiplier, cap, income, base, risk, status, listed_code,
                  detained_until, day, above, propensity, poor):  # pragma: no cover - compiled
    """:func:`_extras` for the c-th chunk of ``who``: each array gathered in a pass of its own
    (so that the cache misses overlap), then each row computed from the values read."""
    a = c * EXTRAS_CHUNK
    n = min(EXTRAS_CHUNK, who.shape[0] - a)
    mine = who[a : a + n]
    v_income, v_base, v_risk = income[mine], base[mine], risk[mine]
    v_listed, v_held = status[mine] == listed_code, detained_until[mine] > day
    for r in range(rows.shape[0]):
        b = rows[r]
        if coded:
            propensity[r, a : a + n] = level[code[b, mine]]
        for j in range(n):
            m = 0.0 if v_held[j] else _multiplier_of(eta[b], k[b], listed_multiplier[b], cap, v_base[j], v_income[j], v_risk[j], v_listed[j])
            above[r, a + j] = m - 1.0 if m > 1.0 else 0.0
            if eta[b] != 0.0 and not v_held[j]:
                poor[r, a + j] = abs(power(v_base[j] / max(v_income[j], v_base[j] / cap), eta[b]) - 1.0)


@numba.njit(cache=True)
def _in_order(owner, person0, cell_end0, person1, cell_end1):  # pragma: no cover - compiled
    """The events of both streams, cell by cell in (behaviour, group) order, with their
    behaviours (``STREAMS`` is 2: each cell's events are in the stream that owns it)."""
    n_behaviours, n_groups = owner.shape
    person = np.empty(person0.shape[0] + person1.shape[0], np.int32)
    behaviour = np.empty(person.shape[0], np.int16)
    n = 0
    for b in range(n_behaviours):
        for g in range(n_groups):
            k = b * n_groups + g
            mine, ends = (person0, cell_end0) if owner[b, g] == 0 else (person1, cell_end1)
            for j in range(ends[k], ends[k + 1]):
                person[n] = mine[j]
                behaviour[n] = b
                n += 1
    return person, behaviour


@numba.njit(cache=True)
def _room(out, n):  # pragma: no cover - compiled
    """``out``, or a copy twice its size when it has no room for an element at ``n``."""
    if n < out.shape[0]:
        return out
    grown = np.empty(2 * out.shape[0], out.dtype)
    grown[: out.shape[0]] = out
    return grown
