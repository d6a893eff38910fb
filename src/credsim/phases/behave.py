"""Phase 1, behave: people do things.

Person i's intensity for behaviour b on a day is

    rate[b, g] * propensity[b, i] * multiplier[b, i]
    multiplier = poverty ** poverty_elasticity[b] * response[b, i]
                 * (listed_multiplier[b] if listed) * (0 if detained)

Counts are Poisson with that intensity; a Bernoulli behaviour keeps at most one event per
person-day (its rate was compiled to -log(1 - p), so the chance of an event is exactly p
when the multiplier is 1).

Most people do nothing on most days, so the events are drawn by thinning rather than one
coin per person: a Poisson number of candidates at the group's largest intensity, placed
uniformly, each kept with probability (own intensity / largest). That is exact for the part
of the multiplier up to 1; the part above 1 (poverty, listing multipliers) is drawn
directly for the few people who have it. Groups where candidates would exceed a quarter
of the people are drawn densely (one Poisson draw per person) instead. The work is proportional to events, not to people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    above_one = _AboveOne(world, state)
    people, kinds = [], []
    for b in range(world.n_behaviours):
        disturbed = above_one.people(b)
        for g in range(world.n_groups):
            if world.rate[b, g] <= 0:
                continue
            found = _draw(world, state, day, b, g, disturbed, rng)
            if world.bernoulli[b]:
                found = np.unique(found)
            else:
                found.sort()
            people.append(found)
            kinds.append(np.full(len(found), b, np.int16))
    if not people:
        return Events(np.zeros(0, np.int32), np.zeros(0, np.int16))
    return Events(np.concatenate(people).astype(np.int32), np.concatenate(kinds))


class _AboveOne:
    """Who may have a multiplier above 1 for a behaviour: poorer than their base income
    (poverty elasticity > 0), richer (< 0), or listed (listing multiplier > 1). Found once a
    day, and only when some behaviour needs them."""

    def __init__(self, world: World, state: State):
        self.world, self.state, self.cache = world, state, {}

    def _find(self, key: str) -> np.ndarray:
        if key not in self.cache:
            state, base = self.state, self.world.base_income
            test = {"poorer": lambda: state.income < base, "richer": lambda: state.income > base, "listed": lambda: state.status == LISTED}
            self.cache[key] = np.flatnonzero(test[key]())
        return self.cache[key]

    def people(self, b: int) -> np.ndarray:
        world = self.world
        parts = []
        eta = world.poverty_elasticity[b]
        if eta > 0:
            parts.append(self._find("poorer"))
        elif eta < 0:
            parts.append(self._find("richer"))
        if world.listed_multiplier[b] > 1:
            parts.append(self._find("listed"))
        if not parts:
            return np.zeros(0, np.int64)
        return parts[0] if len(parts) == 1 else np.union1d(parts[0], parts[1])


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
    adaptation = world.scenario.adaptation
    if not adaptation.enabled:
        return np.ones(len(who))
    if world.protected[b] and adaptation.chilling.enabled:
        k = adaptation.chilling.strength * (1.0 + adaptation.chilling.opacity)
    elif world.deterred[b] and adaptation.deterrence.enabled:
        k = adaptation.deterrence.strength
    else:
        return np.ones(len(who))
    return np.exp(-k * state.risk[who].astype(np.float64))


def _draw(world: World, state: State, day: int, b: int, g: int, disturbed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sl = world.layout.group_slice(g)
    size = sl.stop - sl.start
    rate = world.rate[b, g]
    peak = world.propensity_max[b, g]
    if size * rate * peak > 0.25 * size:  # dense: cheaper than thinning
        who = np.arange(sl.start, sl.stop)
        intensity = rate * _propensity(world, b, who) * multiplier(world, state, day, b, who)
        counts = rng.poisson(intensity)
        return np.repeat(who, counts).astype(np.int32)

    # The part of the multiplier up to 1, by thinning in two stages: propensity first (a
    # single gather), then the dynamic multiplier for the few candidates left. Two
    # independent acceptances multiply, so this is the same thinning, with less work.
    n_candidates = rng.poisson(size * rate * peak)
    # Sorted, every gather below walks memory forward (the cache's friend), and the day's
    # events come out in person order.
    who = np.sort(sl.start + rng.integers(0, size, n_candidates))
    if world.propensity is not None:
        who = who[rng.random(n_candidates) * peak < world.propensity[b].take(who)]  # row, then a 1-D gather: fast
    found = who[rng.random(len(who)) < np.minimum(multiplier(world, state, day, b, who), 1.0)]

    # The part above 1, directly, for the few who have it.
    mine = disturbed[(disturbed >= sl.start) & (disturbed < sl.stop)]
    if len(mine):
        extra = rate * _propensity(world, b, mine) * np.maximum(multiplier(world, state, day, b, mine) - 1.0, 0.0)
        counts = rng.poisson(extra)
        if counts.any():
            found = np.concatenate([found, np.repeat(mine, counts)])
    return found.astype(np.int32)


def _propensity(world: World, b: int, who: np.ndarray) -> np.ndarray:
    if world.propensity is None:
        return np.ones(len(who))
    return world.propensity[b].take(who).astype(np.float64)
