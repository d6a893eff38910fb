"""Phase 7, adapt: people react to what they see; surveillance follows its detections.

Visibility: a detained person is fully visible to their contacts (they vanish); a listed
person is fully visible when public shaming is on, and ``unshamed_visibility`` otherwise.
Each person's ``exposure`` is the sum of their contacts' visibility; it is kept up to date
by pushing the change of each person whose status changed today to their contacts, so the
work is proportional to changes, not to people.

Perceived risk is a moving average over ``memory_days`` of
``exposure / degree + own_listing_weight * (listed or detained)``. Behave turns it into
deterrence (penalized behaviours) and chilling (protected behaviours).

Adaptive surveillance: every ``realloc_days`` the fixed total camera intensity is shared
between regions: each gets a floor of 0.1% of the mean intensity, added, and the other 99.9%
of the total goes in proportion to their detections since the last reallocation only --
divided by the intensity that found them when ``corrected`` (detections per unit of
watching). With ``reallocate_on = "all"`` the share goes by all detections so far instead
(the Polya urn of Ensign et al. 2018), each day's detections divided by that day's
intensity when ``corrected``. The floor keeps the corrected rate defined (docs/model.md,
adaptive surveillance).
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.kernels import sorted_union, update_risk, update_risk_and_sum
from credsim.state import LISTED, State
from credsim.world import World

MIN_INTENSITY_SHARE = 1e-3


def adapt(world: World, state: State, day: int) -> None:
    _spread_visibility(world, state, day)
    rules = world.scenario.adaptation
    if rules.enabled:
        weight, alpha = np.float32(rules.own_listing_weight), np.float32(1.0 / rules.memory_days)
        if state.fast:  # the same sweep sums risk for the record
            own = sorted_union(state.listed, state.detained_people)  # both exact after sanction
            state.risk_sums = update_risk_and_sum(
                state.risk, state.exposure, world.network.indptr, own, weight, alpha, world.chunk_start, world.chunk_group, world.n_groups
            )
        else:
            update_risk(state.risk, state.exposure, world.network.indptr, state.status, state.detained_until, np.int32(day), np.int8(LISTED), weight, alpha)
    follow_detections(world, state, day)


def follow_detections(world: World, state: State, day: int) -> None:
    """Adaptive surveillance's part of the day: count today's detections, and share the
    cameras between regions again every ``realloc_days``."""
    surveillance = world.scenario.surveillance
    if surveillance.adaptive and surveillance.reallocate_on == "all":
        today = state.detections_today.astype(np.float64)
        state.detections_all += today / np.maximum(state.intensity, 1e-12) if surveillance.corrected else today
    if surveillance.adaptive and (day + 1) % surveillance.realloc_days == 0:
        _reallocate(world, state)


def visibility(world: World, state: State, who: np.ndarray, day: int) -> np.ndarray:
    shamed = world.scenario.sanctions.shaming.enabled
    listed_weight = 1.0 if shamed else world.scenario.adaptation.unshamed_visibility
    detained = state.detained_until[who] > day
    listed = state.status[who] == LISTED
    return np.where(detained, 1.0, np.where(listed, listed_weight, 0.0)).astype(np.float32)


def _spread_visibility(world: World, state: State, day: int) -> None:
    if not state.changed:
        return
    who = np.unique(np.concatenate(state.changed))
    state.changed.clear()
    new = visibility(world, state, who, day)
    change = new - state.shown[who]
    moved = change != 0
    who, change = who[moved], change[moved]
    state.shown[who] += change
    if len(who):
        _scatter(world.network.indptr, world.network.indices, who, change, state.exposure)


@numba.njit(cache=True)
def _scatter(indptr, indices, who, change, exposure):  # pragma: no cover - compiled
    for k in range(who.shape[0]):
        person = who[k]
        for j in range(indptr[person], indptr[person + 1]):
            contact = indices[j]
            exposure[contact] += change[k]
            if exposure[contact] < 1e-6:  # float32 sums of +w and -w leave dust
                exposure[contact] = 0.0


def _reallocate(world: World, state: State) -> None:
    detections = state.detections.astype(np.float64)
    state.detections[:] = 0
    if world.scenario.surveillance.reallocate_on == "all":
        detections = state.detections_all.copy()  # already corrected day by day
    elif world.scenario.surveillance.corrected:
        detections = detections / np.maximum(state.intensity, 1e-12)
    total = world.initial_intensity.sum()
    if detections.sum() <= 0 or total <= 0:
        return
    # Everyone keeps the floor; the rest is shared in proportion to detections.
    floor = MIN_INTENSITY_SHARE / len(detections)
    share = floor + (1.0 - floor * len(detections)) * detections / detections.sum()
    state.intensity[:] = total * share
