"""Phase 1, behave: people do things.

Person i's intensity for behaviour b on a day is

    rate[b, g] * propensity[b, i] * multiplier[b, i]
    multiplier = poverty ** poverty_elasticity[b] * response[b, i]
                 * (listed_multiplier[b] if listed) * (0 if detained)

Counts are Poisson with that intensity; a Bernoulli behaviour keeps at most one event per
person-day (its rate was compiled to -log(1 - p), so the chance of an event is exactly p
when the multiplier is 1).

Most people do nothing on most days, so the events are drawn by thinning rather than one
coin per person: candidates at the group's largest intensity, walked along the group's block
of people by exponential gaps (a Poisson process), each kept with probability (own
intensity / largest). That is exact for the part of the multiplier up to 1; the part above 1
(poverty, listing multipliers) is drawn directly for the few people who have it. The whole
day is one compiled pass (:func:`_thin_day`), and its work is proportional to events, not to
people. Groups where candidates would exceed a quarter of the people are drawn densely (one
Poisson draw per person) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from credsim.kernels import sorted_union
from credsim.state import LISTED, State
from credsim.world import POVERTY_CAP, World


@dataclass(frozen=True)
class Events:
    """True events of one day, ordered by behaviour then person."""

    person: np.ndarray  # (E,) int32
    behaviour: np.ndarray  # (E,) int16

    def __len__(self) -> int:
        return len(self.person)


def behave(world: World, state: State, day: int, rng: np.random.Generator) -> Events:
    size = np.diff(world.layout.group_start)
    dense = world.rate * world.propensity_max > 0.25  # candidates for over a quarter of the people
    thinned = np.where(dense | (world.rate <= 0), 0.0, world.rate * world.propensity_max)
    coded = world.propensity_code is not None
    disturbed = _disturbed(world, state)
    person, cell_end = _thin_day(
        rng, world.layout.group_start, thinned, world.propensity_max, world.rate,
        world.propensity_code if coded else np.zeros((world.n_behaviours, 1), np.uint8), world.propensity_level, coded,
        world.poverty_elasticity, _response_strengths(world), world.listed_multiplier, world.bernoulli,
        state.income, world.base_income, POVERTY_CAP, state.risk, state.status, LISTED, state.detained_until, day,
        disturbed,
    )
    counts = np.diff(cell_end).reshape(world.rate.shape)
    if not (dense & (world.rate > 0) & (size > 0)).any():
        return Events(person, np.repeat(np.arange(world.n_behaviours, dtype=np.int16), counts.sum(axis=1)))
    # Some cells are dense: draw them one coin per person, and put them in their place.
    people, kinds = [], []
    for b in range(world.n_behaviours):
        for g in range(world.n_groups):
            k = b * world.n_groups + g
            found = person[cell_end[k] : cell_end[k + 1]]
            if dense[b, g] and world.rate[b, g] > 0:
                found = _dense(world, state, day, b, g, rng)
            people.append(found)
            kinds.append(np.full(len(found), b, np.int16))
    return Events(np.concatenate(people).astype(np.int32), np.concatenate(kinds))


def _disturbed(world: World, state: State) -> np.ndarray:
    """Sorted people whose multiplier may be above 1 for some behaviour: off their base income
    (poverty elasticity) or listed (listing multiplier above 1)."""
    if state.fast:
        cases = state.cases[state.status[state.cases] == LISTED] if (world.listed_multiplier > 1).any() else state.cases[:0]
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
    counts = rng.poisson(world.rate[b, g] * world.propensity_of(b, who) * multiplier(world, state, day, b, who))
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


@numba.njit(cache=True)
def _thin_day(rng, group_start, intensity, peak, rate, code, level, coded, eta, k, listed_multiplier, bernoulli,
              income, base, cap, risk, status, listed_code, detained_until, day, disturbed):  # pragma: no cover - compiled
    """The day's events of every behaviour b and group g with ``intensity[b, g] > 0``, ordered
    by behaviour, then person; and where each (b, g) cell ends in that list.

    Candidates are the points of a Poisson process of ``intensity = rate * peak`` per person
    along the group's block, walked in order by exponential gaps: the same as a Poisson count
    placed uniformly, already sorted. A candidate on person i is kept with probability
    ``propensity / peak * min(multiplier, 1)``, using one uniform: below ``propensity /
    peak`` it is kept on propensity, and then, rescaled, it is again a uniform for the
    multiplier. The part of the multiplier above 1 is drawn directly, as a Poisson count of
    ``rate * propensity * (multiplier - 1)``, for the ``disturbed`` people (sorted), merged in
    person order. A Bernoulli behaviour keeps at most one event per person.
    """
    n_behaviours, n_groups = intensity.shape
    out = np.empty(1024, np.int32)
    cell_end = np.zeros(n_behaviours * n_groups + 1, np.int64)
    n = 0
    for b in range(n_behaviours):
        for g in range(n_groups):
            lam = intensity[b, g]
            start, stop = group_start[g], group_start[g + 1]
            if lam > 0:
                last = -1
                d = np.searchsorted(disturbed, start)
                x = start + rng.standard_exponential() / lam
                while True:
                    i = int(x) if x < stop else stop
                    # The disturbed people up to this candidate first, in person order.
                    while d < disturbed.shape[0] and disturbed[d] <= i and disturbed[d] < stop:
                        j = disturbed[d]
                        d += 1
                        m = _multiplier(j, eta[b], k[b], listed_multiplier[b], income, base, cap, risk, status, listed_code, detained_until, day)
                        if m <= 1.0:
                            continue
                        p = level[code[b, j]] if coded else 1.0
                        extra = rng.poisson(rate[b, g] * p * (m - 1.0))
                        if bernoulli[b]:
                            extra = min(extra, 0 if j == last else 1)
                        for _ in range(extra):
                            if n == out.shape[0]:
                                out = _grow(out)
                            out[n] = j
                            n += 1
                            last = j
                    if i >= stop:
                        break
                    x += rng.standard_exponential() / lam
                    u = rng.random() * peak[b, g]
                    p = level[code[b, i]] if coded else 1.0
                    if u >= p:
                        continue
                    m = _multiplier(i, eta[b], k[b], listed_multiplier[b], income, base, cap, risk, status, listed_code, detained_until, day)
                    if u >= p * min(m, 1.0) or (bernoulli[b] and i == last):
                        continue
                    if n == out.shape[0]:
                        out = _grow(out)
                    out[n] = i
                    n += 1
                    last = i
            cell_end[b * n_groups + g + 1] = n
    return out[:n].copy(), cell_end


@numba.njit(cache=True, inline="always")
def _multiplier(i, eta, k, listed_multiplier, income, base, cap, risk, status, listed_code, detained_until, day):  # pragma: no cover - compiled
    """The dynamic part of person i's intensity: :func:`multiplier`, for one person. Each
    array is read only when the behaviour needs it: at tens of millions of people every read
    is a cache miss."""
    if detained_until[i] > day:
        return 0.0
    m = 1.0
    if eta != 0.0:
        b = base[i]
        m *= (b / max(income[i], b / cap)) ** eta
    if k != 0.0:
        r = risk[i]
        if r != 0.0:
            m *= np.exp(-k * r)
    if listed_multiplier != 1.0 and status[i] == listed_code:
        m *= listed_multiplier
    return m


@numba.njit(cache=True)
def _grow(out):  # pragma: no cover - compiled
    grown = np.empty(2 * out.shape[0], out.dtype)
    grown[: out.shape[0]] = out
    return grown
