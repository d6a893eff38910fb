"""Phase 7, adapt, in the event engine: what people see changes only for the contacts of
people whose visibility changed; perceived risk moves in closed form.

The rules are the reference engine's (:mod:`credsim.engines.reference.phases.adapt`). The
people whose status or detention changed today, and the contacts their change of
visibility reaches, are brought up to date (their scores and perceived risk: a change of
exposure changes the daily map of both), given their new exposure and risk target, and put
back into the sums and the calendar. Everyone's perceived risk then takes its day in
aggregate: the group sums of risk move ``alpha`` of the way toward the sums of targets.
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.engines.event.lazy import ALPHA, RISK_KEEP, register, settle_risk, targets_of, unregister
from credsim.engines.event.state import EventState
from credsim.engines.reference.phases.adapt import _scatter, follow_detections, visibility
from credsim.kernels import sorted_union
from credsim.world import World


def adapt(world: World, state: EventState, day: int) -> None:
    params = state.params
    who = sorted_union(*state.changed) if state.changed else np.zeros(0, np.int32)
    state.changed.clear()
    if len(who):
        change = visibility(world, state, who, day) - state.shown[who]
        moved = change != 0
        shown, change = who[moved], change[moved]
        reached = _contacts(world.network.indptr, world.network.indices, shown)
        people = sorted_union(who, reached)  # their own status, or what they see, changed
        unregister(people, day, day, state.tracks, state.exposure, state.stamp, world.group, params,
                   state.free_sums, state.drift, state.held_sums)
        settle_risk(people, day - 1, state.risk, state.rstamp, state.target, world.group, params, state.targets)
        state.shown[shown] += change
        if len(shown):  # what guilt by association will take (account), kept as it changes; and what contacts see
            state.shown_degrees += np.bincount(world.group[shown], weights=change.astype(np.float64) * world.network.degree_of(shown),
                                               minlength=world.n_groups)
            _scatter(world.network.indptr, world.network.indices, shown, change, state.exposure)
        state.target[people] = targets_of(world, state, people, day, params)
        state.targets += np.bincount(world.group[people], weights=state.target[people], minlength=world.n_groups)
        state.heap, state.heap_size = register(
            people, day, state.tracks, state.exposure, state.stamp, state.status, state.due, world.group, params,
            state.free_sums, state.drift, state.held_sums, state.heap, state.heap_size,
        )
    state.risks = params[RISK_KEEP] * state.risks + params[ALPHA] * state.targets  # everyone's day of risk
    state.risk_sums = state.risks.copy()
    follow_detections(world, state, day)


@numba.njit(cache=True)
def _contacts(indptr, indices, who):  # pragma: no cover - compiled
    """The sorted distinct contacts of ``who``."""
    n = 0
    for i in who:
        n += indptr[i + 1] - indptr[i]
    out = np.empty(n, np.int32)
    k = 0
    for i in who:
        for j in range(indptr[i], indptr[i + 1]):
            out[k] = indices[j]
            k += 1
    return np.unique(out)
