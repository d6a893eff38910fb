"""The event engine's closed forms against the iteration they replace.

- The closed forms (:mod:`credsim.engines.event.lazy`) against the day's map iterated in
  float64: equal to 1e-9 of the score scale; the crossing days against the first day the
  iteration crosses: equal.
- Whole runs: the event engine's day, with a shadow of every person's scores and perceived
  risk kept beside it by the reference engine's own float32 sweeps (forget_and_clip,
  update_risk) from the same observations, exposures and statuses. Each day the scores the
  event engine would give everyone (``values_at``) are within ``days * 2 ulp`` of the
  shadow's (the rounding float32 iteration may accumulate, at most two half-ulps a day;
  measured at most 0.0054 points in 150 days), and so is perceived risk; the group sums the
  record phase reads equal the sums over everyone to 1e-4 points a person (measured 7e-7); the green channel's set is exactly the people at or
  above its threshold; every free person below the listing threshold at the end of a day
  has a crossing the next day (so the list phase sees them).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import credsim
from credsim.engines.event import lazy
from credsim.engines.event.state import NEVER, event_state
from credsim.changes import Schedule
from credsim.engines.reference.phases import Recorder
from credsim.engines.reference.phases.score import _add_observed
from credsim.kernels import forget_and_clip, update_risk
from credsim.state import FREE, LISTED
from credsim.world import build_world

event_step = importlib.import_module("credsim.engines.event.step")
rng = np.random.default_rng(2026)


def _iterate(x, c, keep, k, low, high):
    for _ in range(k):
        x = min(max(keep * x + c, low), high)
    return x


@pytest.mark.parametrize("keep", [1.0, 0.999, 0.97, 0.5])
def test_closed_form_is_the_iteration(keep):
    low, high = 0.0, 1300.0
    for _ in range(300):
        x = rng.uniform(low, high)
        c = rng.normal(0, 2) + (1 - keep) * 1000 if keep < 1 else rng.normal(0, 2)
        for k in (0, 1, 2, 7, 50, 365):
            assert lazy.value(x, c, keep, k, low, high) == pytest.approx(_iterate(x, c, keep, k, low, high), abs=1e-9 * high)


def test_the_tables_of_powers_give_what_the_kernels_would_compute():
    """The rules carry keep ** k and perceived risk's keep ** k for every k a run can ask
    (0 <= k < days + 2); looked up, they must be what the compiled power gives without the
    tables, bit for bit (so a run is the same with or without them), and past the tables the
    power is computed."""
    scenario = credsim.load_scenario("city", ["population.size=2000", "population.days=50", "score.forgiveness=0.013",
                                              "adaptation.enabled=true", "adaptation.memory_days=17"])
    params = lazy.params_of(build_world(scenario, np.random.default_rng(0)))
    bare = params[: lazy.PARAMS]  # no tables: every power computed
    assert len(params) == lazy.PARAMS + 2 * 52 and params[lazy.KEEP] != params[lazy.RISK_KEEP] < 1
    for k in range(0, 60):
        assert lazy.power(params, k) == lazy.power(bare, k), k
        assert lazy.risk_power(params, k) == lazy.risk_power(bare, k), k
    assert lazy.risk_power(params, 51) == params[lazy.POWERS + 52 + 51] and lazy.power(params, 51) == params[lazy.POWERS + 51]


@pytest.mark.parametrize("keep", [1.0, 0.999, 0.97])
def test_crossing_days_are_the_iteration(keep):
    """first_below and first_at_least give the first day the unclipped iteration crosses."""
    for _ in range(300):
        x = rng.uniform(500, 1200)
        level = rng.uniform(500, 1200)
        c = rng.normal(0, 3) + ((1 - keep) * rng.uniform(400, 1300) if keep < 1 else 0.0)
        path = [x]
        for _ in range(400):
            path.append(keep * path[-1] + c)
        below = next((k for k in range(1, 401) if path[k] < level), None)
        at_least = next((k for k in range(1, 401) if path[k] >= level), None)
        got_below = lazy.first_below(x, c, keep, level, 400)
        got_at_least = lazy.first_at_least(x, c, keep, level, 400)
        assert (got_below if got_below != lazy.NO_STEP else None) == (below if x >= level else 1)
        assert (got_at_least if got_at_least != lazy.NO_STEP else None) == (at_least if x < level else 1)


def test_calendar_pops_each_day_in_order_and_drops_replaced_entries():
    heap, size = np.zeros(2, np.int64), 0
    due = np.full(10, NEVER, np.int32)
    for person, day in [(3, 5), (1, 2), (7, 5), (2, 9), (3, 6)]:  # person 3's day 5 is replaced by 6
        due[person] = day
        heap, size = lazy.push(heap, size, (day << 32) | person)
    found, heap, size = lazy.pop_due(heap, size, 5, due)
    assert found.tolist() == [1, 7]
    found, heap, size = lazy.pop_due(heap, size, 6, due)
    assert found.tolist() == [3]
    assert size == 1 and due[2] == 9


def test_bookkeeping_split_across_threads_gives_the_serial_numbers():
    """unregister and register take many touched people chunk by chunk, on every core: each
    chunk's part of the sums, the scores written and the crossing days must be the serial
    kernels' bit for bit (the sums are then added in chunk order, so a run does not depend on
    the number of threads)."""
    scenario = credsim.load_scenario("city", ["population.size=60000", "population.days=200", "score.association.enabled=true",
                                              "score.association.penalty=3", "sanctions.green_channel.enabled=true"])
    world = build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(1, spawn_key=(0,)))))
    state = event_state(world)
    lazy.build(world, state, 0)
    draw = np.random.default_rng(7)
    people = np.sort(draw.choice(world.n_agents, 5 * lazy.CHUNK + 123, replace=False)).astype(np.int32)
    state.tracks[:, people] += draw.normal(0, 80, (3, len(people))).astype(np.float32)  # some below, some past a threshold
    state.exposure[people] = draw.integers(0, 3, len(people)).astype(np.float32)
    state.stamp[people] = draw.integers(-1, 20, len(people)).astype(np.int32)
    assert len(people) >= lazy.PARALLEL_FROM
    n_parts = -(-len(people) // lazy.CHUNK)
    results = []
    for out_kernel, in_kernel in ((lazy._out_serial, lazy._in_serial), (lazy._out_parallel, lazy._in_parallel)):
        tracks, stamp, due = state.tracks.copy(), state.stamp.copy(), state.due.copy()
        taken = np.zeros((n_parts, 3, 3, world.n_groups))
        out_kernel(people, 30, 29, tracks, state.exposure, stamp, world.group, state.params, taken)
        given, days = np.zeros_like(taken), np.empty(len(people), np.int32)
        in_kernel(people, 30, tracks, state.exposure, stamp, state.status, due, world.group, state.params, given, days, True)
        results.append((taken, given, days, tracks, stamp, due))
    serial, split = results
    for a, b in zip(serial, split):
        assert np.array_equal(a, b)
    taken, given, days = serial[:3]
    # every chunk took its people out of the free sums and put them back; many have a crossing to come
    assert np.count_nonzero(days != NEVER) > 100 and np.all(taken[:, 0].sum(axis=(1, 2)) > 0) and np.all(given[:, 0].sum(axis=(1, 2)) > 0)



@pytest.mark.parametrize("after", [0, 40])
def test_build_in_slices_gives_the_whole_build(monkeypatch, after):
    """build works through the people a slice at a time, so that it holds a bounded amount
    besides the state. In slices of one chunk it must give what it gives in one slice: the
    same scores, stamps, targets, crossing days, calendar and green set, bit for bit, and the
    same sums to 1e-12 (only the order they are added in differs). ``after`` 40: a rebuild
    (a change of rules) that first brings everyone up to date from their own stamps."""
    import copy

    scenario = credsim.load_scenario("city", SCENARIOS["busy"][1:] + ["population.size=9000", "population.days=60"])
    world = build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(3, spawn_key=(0,)))))
    state, recorder = event_state(world), Recorder(world, 60)
    for day in range(after):
        event_step.step(world, state, day, 3, recorder)
    built = []
    for size in (lazy.BUILD_SLICE, lazy.CHUNK):
        monkeypatch.setattr(lazy, "BUILD_SLICE", size)
        mine = copy.deepcopy(state)
        lazy.build(world, mine, after)
        built.append(mine)
    whole, sliced = built
    assert -(-world.n_agents // lazy.CHUNK) == 5
    for name in ("tracks", "risk", "stamp", "rstamp", "target", "due", "green"):
        assert np.array_equal(getattr(whole, name), getattr(sliced, name)), name
    assert whole.heap_size == sliced.heap_size and (after == 0 or whole.heap_size > 0)
    assert np.array_equal(whole.heap[: whole.heap_size], sliced.heap[: sliced.heap_size])
    for name in ("free_sums", "drift", "held_sums", "targets", "risks"):
        assert np.allclose(getattr(whole, name), getattr(sliced, name), rtol=1e-12, atol=0), name
    assert after == 0 or (len(whole.green) > 0 and np.any(whole.stamp != state.stamp))

SCENARIOS = {
    "city": ["population.size=4000", "population.days=150"],
    "busy": [  # guilt by association, forgetting, the green channel: every closed form at work
        "population.size=4000", "population.days=150", "score.association.enabled=true", "score.association.penalty=2", "score.forgiveness=0.01",
        "sanctions.green_channel.enabled=true", "sanctions.green_channel.threshold=1002", "sanctions.shaming.enabled=true",
    ],
    "no-forgetting": ["population.size=4000", "population.days=150", "score.association.enabled=true",
                      "score.association.penalty=20", "score.forgiveness=0"],
    # a timeline: the rules change on day 60 (forgetting, thresholds, the listing's terms)
    "late-reform": ["population.size=3000", "population.days=120", "timeline.0.day=60"],
}


def _shadowed_run(name: str, seed: int = 5) -> dict:
    """The event engine's days (credsim.engines.event.step.step, phase by phase) with a shadow
    kept by the reference engine's sweeps; returns the largest differences seen."""
    scenario = credsim.load_scenario("late-reform" if name == "late-reform" else "city", SCENARIOS[name])
    n, days = scenario.population.size, scenario.population.days
    world = build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,)))))
    schedule = Schedule(world)
    state, recorder = event_state(world), Recorder(world, days)
    shadow_tracks, shadow_risk = state.tracks.copy(), state.risk.copy()
    everyone = np.arange(world.n_agents, dtype=np.int32)
    worst = {"score": 0.0, "risk": 0.0, "sums": 0.0}
    real = event_step.score

    def score_with_shadow(world, state, seen, day):
        # the reference engine's score phase on the shadow: observations, rewards, then the sweep
        rules = world.scenario.score
        _add_observed(shadow_tracks, seen.person, seen.behaviour, seen.true, world.delta, world.fair_delta)
        if rules.informant_reward != 0 and len(seen.informant):
            np.add.at(shadow_tracks[0], seen.informant, np.float32(rules.informant_reward))
            for t in (1, 2):
                np.add.at(shadow_tracks[t], seen.informant[seen.informant_true], np.float32(rules.informant_reward))
        penalty = rules.association.penalty if rules.association.enabled else 0.0
        forget_and_clip(shadow_tracks, state.exposure, np.float32(penalty), np.float32(1 - rules.forgiveness),
                        np.float32(rules.forgiveness * rules.initial), np.float32(rules.min), np.float32(rules.max), rules.forgiveness > 0)
        real(world, state, seen, day)

    real_rescore = event_step.rescore

    def rescore_with_shadow(world, state, people, before, day):
        shadow_tracks[0, people] = shadow_tracks[1, people]  # an upheld appeal: the recorded score is the clean one
        real_rescore(world, state, people, before, day)

    event_step.score, event_step.rescore = score_with_shadow, rescore_with_shadow
    try:
        for day in range(days):
            world = schedule.start_of(day, world, state, recorder)
            event_step.step(world, state, day, seed, recorder)
            adaptation = world.scenario.adaptation
            if adaptation.enabled:
                update_risk(shadow_risk, state.exposure, world.network.indptr, state.status, state.detained_until, np.int32(day),
                            np.int8(LISTED), np.float32(adaptation.own_listing_weight), np.float32(1.0 / adaptation.memory_days))
            now = lazy.values_at(everyone, day, state.tracks, state.exposure, state.stamp, state.params)
            worst["score"] = max(worst["score"], float(np.abs(now.astype(np.float64) - shadow_tracks).max()))
            risk = np.array([lazy.risk_of(i, day, state.risk, state.rstamp, state.target, state.params) for i in everyone])
            worst["risk"] = max(worst["risk"], float(np.abs(risk - shadow_risk).max()))
            sums = np.array([np.bincount(world.group, weights=now[t], minlength=world.n_groups) for t in range(3)])
            worst["sums"] = max(worst["sums"], float(np.abs(sums - state.track_sums).max()) / n)
            assert np.abs(np.bincount(world.group, weights=risk, minlength=world.n_groups) - state.risk_sums).max() / n < 1e-9
            # what guilt by association takes (account): the kept sum is the sum over everyone, exactly
            shown = np.bincount(world.group, weights=state.shown.astype(np.float64) * np.diff(world.network.indptr), minlength=world.n_groups)
            assert np.array_equal(state.shown_degrees, shown), (day, state.shown_degrees, shown)
            worst["shown"] = max(worst.get("shown", 0.0), float(shown.sum()))
            if np.isfinite(state.params[lazy.GREEN]):
                assert np.array_equal(np.flatnonzero(now[0] >= state.params[lazy.GREEN]), state.green), day
            low = np.flatnonzero((now[0] < state.params[lazy.LIST]) & (state.status == FREE))
            assert np.all(state.due[low] == day + 1), day
    finally:
        event_step.score, event_step.rescore = real, real_rescore
    worst["listed"] = int(state.n_listed.sum())
    worst["regime"] = world.regime
    return worst


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_event_engines_day_keeps_the_iterations_scores(name):
    worst = _shadowed_run(name)
    days = 150
    if name == "late-reform":
        assert worst["regime"] == 1  # the change came
    ulp_score = float(np.spacing(np.float32(1300.0)))
    assert worst["score"] <= days * 2 * ulp_score, worst
    assert worst["risk"] <= days * 2 * float(np.spacing(np.float32(2.0))), worst
    assert worst["sums"] < 1e-4, worst
    assert worst["listed"] > 0  # the list phase acted on what score kept
    assert worst["shown"] > 0  # and what the listed show was kept, checked while there was some
