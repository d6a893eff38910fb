"""Phase 3, score, in the event engine: only the people something happens to today.

The rules are the reference engine's (:mod:`credsim.engines.reference.phases.score`):
observations change the three tracks, informants are paid, guilt by association takes its
penalty, forgetting pulls toward ``initial``, and the tracks are clipped. Here the day's map
is applied in closed form (:mod:`credsim.engines.event.lazy`): the group sums advance by
one day in aggregate, and a person is brought up to date only when they are observed or
paid, when a crossing of theirs falls today, or when a later phase reads them (their case
is open). From those people come the free people below the listing threshold (the list
phase's ``below``) and the green channel's changes.
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.engines.event.lazy import GREEN, KEEP, LIST, pop_due, register, unregister
from credsim.engines.event.state import EventState
from credsim.engines.reference.phases.observe import Observations
from credsim.engines.reference.phases.score import ADD_PARALLEL_FROM, _add_observed, _add_observed_parallel
from credsim.kernels import sorted_union, without
from credsim.state import FREE, case_term
from credsim.world import World


def score(world: World, state: EventState, obs: Observations, day: int) -> None:
    params = state.params
    state.free_sums *= params[KEEP]  # every unheld score's day, in aggregate
    state.free_sums += state.drift
    due, state.heap, state.heap_size = pop_due(state.heap, state.heap_size, day, state.due)

    reward = world.scenario.score.informant_reward
    paid = obs.informant if reward != 0 else obs.informant[:0]
    observed = sorted_union(obs.person, paid)
    if len(observed):
        unregister(observed, day, day - 1, *_keeping(world, state))  # as of yesterday, then today's changes
        add = _add_observed_parallel if len(obs) >= ADD_PARALLEL_FROM else _add_observed  # the same additions
        add(state.tracks, obs.person, obs.behaviour, obs.true, world.delta, world.fair_delta)
        if len(paid):  # as the reference engine pays them
            np.add.at(state.score, paid, np.float32(reward))
            honest = paid[obs.informant_true]
            np.add.at(state.score_clean, honest, np.float32(reward))
            np.add.at(state.score_fair, honest, np.float32(reward))
        _register(world, state, observed, day, stepping=True)  # today's map, then into the sums
    # Crossings due today, and the listings whose term may end today (the list phase reads
    # their scores). Other open cases are read by no phase today; an upheld appeal sets the
    # recorded score to the clean one, both kept as of the same day (see rescore).
    others = without(sorted_union(due, _term_due(world, state, day)), observed)
    if len(others):
        unregister(others, day, day, *_keeping(world, state))
        _register(world, state, others, day)
    touched = sorted_union(observed, others)
    now = state.score[touched]  # read once: scattered reads of a strided array are slow
    state.below = touched[(now < params[LIST]) & (state.status[touched] == FREE)] if np.isfinite(params[LIST]) else touched[:0]
    follow_green(state, touched, now)
    state.track_sums = state.free_sums + state.held_sums


def follow_green(state: EventState, touched: np.ndarray, scores: np.ndarray | None = None) -> None:
    """Keep the set of people at or above the green-channel threshold exact for the sorted
    ``touched`` (everyone else has not crossed it: a crossing is a day in the calendar),
    given their ``scores`` if read already."""
    level = state.params[GREEN]
    if np.isfinite(level) and len(touched):
        state.green = _follow(state.green, touched, (state.score[touched] if scores is None else scores) >= level)
    state.above = state.green


@numba.njit(cache=True)
def _follow(green, touched, up):  # pragma: no cover - compiled
    """The sorted ``green`` with each of the sorted ``touched`` in it where ``up`` and out of
    it where not: one merge of the two, not a search of the set for each of them."""
    out = np.empty(green.shape[0] + touched.shape[0], np.int32)
    i, n = 0, 0
    for j in range(touched.shape[0]):
        person = touched[j]
        while i < green.shape[0] and green[i] < person:
            out[n] = green[i]
            n += 1
            i += 1
        if i < green.shape[0] and green[i] == person:
            i += 1
        if up[j]:
            out[n] = person
            n += 1
    out[n : n + green.shape[0] - i] = green[i:]
    return out[: n + green.shape[0] - i].copy()


def _keeping(world: World, state: EventState) -> tuple:
    """The arguments after (people, t, write) of :func:`credsim.engines.event.lazy.unregister`."""
    return (state.tracks, state.exposure, state.stamp, world.group, state.params, state.free_sums, state.drift, state.held_sums)


def _register(world: World, state: EventState, people: np.ndarray, day: int, stepping: bool = False) -> None:
    state.heap, state.heap_size = register(
        people, day, state.tracks, state.exposure, state.stamp, state.status, state.due, world.group, state.params,
        state.free_sums, state.drift, state.held_sums, state.heap, state.heap_size, stepping,
    )


def rescore(world: World, state: EventState, people: np.ndarray, before: np.ndarray, day: int) -> None:
    """After an upheld appeal set the recorded score of ``people`` from ``before`` to their
    clean score (both as kept, as of the same day, so the closed form carries the change
    forward unchanged): the sums, calendar and green channel follow."""
    if len(people) == 0:
        return
    state.score[people] = before
    unregister(people, day, day, *_keeping(world, state))  # brings all three tracks to today
    state.score[people] = state.score_clean[people]
    _register(world, state, people, day)
    follow_green(state, people)
    state.track_sums = state.free_sums + state.held_sums


def _term_due(world: World, state: EventState, day: int) -> np.ndarray:
    """The listed whose minimum term has passed: the list phase reads their scores today."""
    listed = state.listed
    if not world.scenario.listing.enabled or len(listed) == 0:
        return listed
    return listed[day - state.status_day[listed] >= case_term(world, state, listed, "min_days", world.scenario.listing)]
