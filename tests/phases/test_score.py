"""score against a per-person loop of its documented rule (deterministic: no draws).

For each person and each of the three tracks, from score's docstring:
  + the delta of each of their observations (score: all; clean: true ones; fair: true ones,
    with penalties on protected behaviours dropped);
  + informant_reward per report they were paid for (score: all; clean and fair: true ones);
  - association.penalty * (sum of their contacts' visibility), on every track;
  then x += forgiveness * (initial - x), then clip to [min, max].

The loop works in Python floats; the phase in float32. Scores are at most 1300, where a
float32 step is 1.2e-4; a person's update takes at most a few dozen roundings, so results
must agree within 5e-3.
"""

from __future__ import annotations

import numpy as np
import pytest

from credsim.engines.reference.phases.score import score
from credsim.state import LISTED

from .helpers import BEHAVIOURS, clone, contacts, make_world, new_state, observations, ref_visibility

DAY = 12


def reference_score(world, state, obs, day):
    sc = world.scenario
    rules = sc.score
    n = world.n_agents
    tracks = {"score": [float(x) for x in state.score], "score_clean": [float(x) for x in state.score_clean],
              "score_fair": [float(x) for x in state.score_fair]}
    visibility = [ref_visibility(world, state, j, day - 1) for j in range(n)]  # as of yesterday's end
    for i in range(n):
        for track, values in tracks.items():
            x = values[i]
            for k in range(len(obs)):
                if int(obs.person[k]) != i:
                    continue
                name = BEHAVIOURS[int(obs.behaviour[k])]
                delta = rules.deltas.get(name, 0.0)
                if track != "score" and not obs.true[k]:
                    continue
                if track == "score_fair" and sc.behaviours[name].protected and delta < 0:
                    delta = 0.0
                x += delta
            if rules.informant_reward != 0:
                for k in range(len(obs.informant)):
                    if int(obs.informant[k]) == i and (track == "score" or obs.informant_true[k]):
                        x += rules.informant_reward
            if rules.association.enabled:
                x -= rules.association.penalty * sum(visibility[c] for c in contacts(world, i))
            x += rules.forgiveness * (rules.initial - x)
            values[i] = min(max(x, rules.min), rules.max)
    return tracks


def hand_made_day(world, seed):
    """A varied state (some listed or detained contacts, scores near both bounds) and a day's
    observations with duplicates, false ones, protected ones and paid informants."""
    gen = np.random.default_rng(seed)
    n = world.n_agents
    state = new_state(world)
    for track in (state.score, state.score_clean, state.score_fair):
        track[:] = gen.uniform(0, 1300, n).astype(np.float32)
    state.score[:4] = [1299.5, 3.0, 0.0, 1300.0]
    state.score_clean[:4] = [1299.5, 3.0, 0.0, 1300.0]
    state.status[gen.random(n) < 0.2] = LISTED
    state.detained_until[gen.random(n) < 0.1] = DAY + 3
    state.detained_until[5] = DAY  # released today, but still visible in yesterday's exposure
    # exposure as it stood at the end of yesterday, by a loop over the network
    state.exposure[:] = [
        sum(ref_visibility(world, state, c, DAY - 1) for c in contacts(world, i)) for i in range(n)
    ]
    k = 120
    person = gen.integers(0, n, k)
    person[:6] = [0, 0, 1, 1, 2, 3]
    behaviour = gen.integers(0, len(BEHAVIOURS), k)
    behaviour[:6] = [BEHAVIOURS.index(b) for b in ("blood_donation", "volunteering", "debt_default", "fraud",
                                                    "online_criticism", "blood_donation")]
    true = gen.random(k) < 0.7
    informant = gen.integers(0, n, 30)
    obs = observations(person, behaviour, true, informant, gen.random(30) < 0.5)
    return state, obs


CASES = {
    "city": [],
    "no_association_no_forgiveness": ["score.association.enabled=false", "score.forgiveness=0.0"],
    "strong_association_forgiveness": ["score.association.penalty=3.0", "score.forgiveness=0.05"],
    "negative_reward": ["score.informant_reward=-4"],
    "other_initial": ["score.initial=900", "score.forgiveness=0.05"],
    "no_reward": ["score.informant_reward=0"],
    "protected_reward_kept_on_fair": ["behaviours.volunteering.protected=true", "score.deltas.online_criticism=-200"],
    "unshamed_visibility": ["sanctions.shaming.enabled=false", "score.association.penalty=2.0"],
    "narrow_range": ["score.min=900", "score.max=1100", "listing.threshold=950", "listing.exit_threshold=960",
                     "sanctions.green_channel.threshold=1050", "score.grades={A = 1000, B = 900}"],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_three_tracks_match_the_loop(case, seed):
    world = make_world(*CASES[case])
    state, obs = hand_made_day(world, seed)
    if case == "narrow_range":
        for track in (state.score, state.score_clean, state.score_fair):
            np.clip(track, 900, 1100, out=track)
    expected = reference_score(world, clone(state), obs, DAY)
    untouched = clone(state)
    score(world, state, obs)
    for track, values in expected.items():
        np.testing.assert_allclose(getattr(state, track), values, rtol=0, atol=5e-3, err_msg=track)
        assert getattr(state, track).dtype == np.float32
    # Nothing else moves.
    for name in ("status", "income", "exposure", "risk", "detained_until"):
        np.testing.assert_array_equal(getattr(state, name), getattr(untouched, name), err_msg=name)


def test_bounds_are_reached_and_protected_penalties_miss_the_fair_track():
    """Hand-worked numbers: person 0 at 1299.5 gets +10 +5 (clipped at 1300); person 2 at 0
    gets a true -20 for criticism (stays at 0 on score and clean, unchanged on fair)."""
    world = make_world("score.association.enabled=false", "score.forgiveness=0.0", "score.informant_reward=0")
    state = new_state(world)
    state.score[:3] = state.score_clean[:3] = state.score_fair[:3] = [1299.5, 500.0, 0.0]
    b = BEHAVIOURS.index
    obs = observations([0, 0, 1, 1, 2, 1], [b("blood_donation"), b("volunteering"), b("debt_default"),
                                            b("religious_practice"), b("online_criticism"), b("fraud")],
                       [True, True, True, True, True, False])
    score(world, state, obs)
    assert state.score[:3].tolist() == [1300.0, 500.0 - 50 - 10 - 30, 0.0]
    assert state.score_clean[:3].tolist() == [1300.0, 500.0 - 50 - 10, 0.0]
    assert state.score_fair[:3].tolist() == [1300.0, 500.0 - 50, 0.0]
    assert (state.score[3:] == 1000.0).all()


def test_observations_are_added_alike_on_one_core_and_on_three():
    """score adds the day's deltas in a compiled loop, the tracks on threads from
    ADD_PARALLEL_FROM observations: both give the float32 additions of np.add.at, in
    order, people observed many times included."""
    import sys

    module = sys.modules["credsim.engines.reference.phases.score"]  # ``credsim.engines.reference.phases.score`` names the function
    rng = np.random.default_rng(8)
    n, k = 5_000, 60_000
    start = (1000 + 50 * rng.standard_normal((3, n))).astype(np.float32)
    person = rng.integers(0, n, k).astype(np.int32)  # about 12 observations a person
    behaviour = rng.integers(0, 6, k).astype(np.int16)
    true = rng.random(k) < 0.8
    delta = rng.uniform(-50, 10, 6).astype(np.float32)
    fair = np.where(delta < 0, 0, delta).astype(np.float32)
    expected = start.copy()
    np.add.at(expected[0], person, delta[behaviour])
    np.add.at(expected[1], person[true], delta[behaviour[true]])
    np.add.at(expected[2], person[true], fair[behaviour[true]])
    for add in (module._add_observed, module._add_observed_parallel):
        tracks = start.copy()
        add(tracks, person, behaviour, true, delta, fair)
        np.testing.assert_array_equal(tracks, expected)
