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

import numpy as np

from credsim.kernels import forget_and_clip
from credsim.phases.observe import Observations
from credsim.state import State
from credsim.world import World


def score(world: World, state: State, obs: Observations) -> None:
    rules = world.scenario.score
    delta = world.delta[obs.behaviour]
    np.add.at(state.score, obs.person, delta)
    true_person, true_behaviour = obs.person[obs.true], obs.behaviour[obs.true]
    np.add.at(state.score_clean, true_person, world.delta[true_behaviour])
    np.add.at(state.score_fair, true_person, world.fair_delta[true_behaviour])

    if rules.informant_reward != 0 and len(obs.informant):
        reward = np.float32(rules.informant_reward)
        np.add.at(state.score, obs.informant, reward)
        honest = obs.informant[obs.informant_true]
        np.add.at(state.score_clean, honest, reward)
        np.add.at(state.score_fair, honest, reward)

    penalty = rules.association.penalty if rules.association.enabled else 0.0
    forget_and_clip(
        state.tracks,
        state.exposure,
        np.float32(penalty),
        np.float32(1.0 - rules.forgiveness),
        np.float32(rules.forgiveness * rules.initial),
        np.float32(rules.min),
        np.float32(rules.max),
        rules.forgiveness > 0,
    )
