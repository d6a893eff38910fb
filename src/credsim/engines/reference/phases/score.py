"""Phase 3, score: observations change scores, on three tracks.

- ``score``: what the system records: every observation's delta, true or false;
- ``score_clean``: only true observations (the score without system error);
- ``score_fair``: ``score_clean`` without the penalties on protected behaviour.

Informants are paid ``score.informant_reward`` per report (on the recorded track only when
the report was malicious). Guilt by association takes ``association.penalty`` per visible
listed contact (``State.exposure``, as it stood at the end of yesterday) on every track: it
is the policy, not an error. Then forgetting pulls every track toward ``initial`` by
``forgiveness``, and the tracks are clipped to ``[min, max]``.
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.kernels import forget_and_clip, forget_and_find
from credsim.engines.reference.phases.observe import Observations
from credsim.state import FREE, State
from credsim.world import World


def score(world: World, state: State, obs: Observations) -> None:
    rules = world.scenario.score
    add = _add_observed_parallel if len(obs) >= ADD_PARALLEL_FROM else _add_observed
    add(state.tracks, obs.person, obs.behaviour, obs.true, world.delta, world.fair_delta)

    if rules.informant_reward != 0 and len(obs.informant):
        reward = np.float32(rules.informant_reward)
        np.add.at(state.score, obs.informant, reward)
        honest = obs.informant[obs.informant_true]
        np.add.at(state.score_clean, honest, reward)
        np.add.at(state.score_fair, honest, reward)

    penalty = rules.association.penalty if rules.association.enabled else 0.0
    args = (
        state.tracks,
        state.exposure,
        np.float32(penalty),
        np.float32(1.0 - rules.forgiveness),
        np.float32(rules.forgiveness * rules.initial),
        np.float32(rules.min),
        np.float32(rules.max),
        rules.forgiveness > 0,
    )
    if not state.fast:
        forget_and_clip(*args)
        return
    # The same sweep also finds who the list phase must put on notice and who may earn the
    # green channel, and sums the tracks for the record: nobody is read again today.
    listing, green = world.scenario.listing, world.scenario.sanctions.green_channel
    state.track_sums, state.below, state.above = forget_and_find(
        *args,
        state.status,
        FREE,
        np.float32(listing.threshold if listing.enabled else -np.inf),
        np.float32(green.threshold if green.enabled else np.inf),
        world.chunk_start,
        world.chunk_group,
        world.n_groups,
    )


ADD_PARALLEL_FROM = 50_000  # observations; below this one core adds them


@numba.njit(cache=True)
def _add_observed(tracks, person, behaviour, true, delta, fair_delta):  # pragma: no cover - compiled
    """Each observation's delta on the recorded track, and the true ones' on the clean and
    fair tracks: the float32 additions of ``np.add.at``, in the same order, a person
    observed twice included. A loop's additions do not wait on each other's cache misses."""
    for t in range(3):
        _add_track(t, tracks, person, behaviour, true, delta, fair_delta)


@numba.njit(cache=True, parallel=True)
def _add_observed_parallel(tracks, person, behaviour, true, delta, fair_delta):  # pragma: no cover - compiled
    """:func:`_add_observed`, the tracks shared between threads: the same additions."""
    for t in numba.prange(3):
        _add_track(t, tracks, person, behaviour, true, delta, fair_delta)


@numba.njit(cache=True, inline="always")
def _add_track(t, tracks, person, behaviour, true, delta, fair_delta):  # pragma: no cover - compiled
    row = tracks[t]
    if t == 0:  # the recorded track: every observation
        for j in range(person.shape[0]):
            row[person[j]] += delta[behaviour[j]]
        return
    change = delta if t == 1 else fair_delta
    for j in range(person.shape[0]):
        if true[j]:
            row[person[j]] += change[behaviour[j]]
