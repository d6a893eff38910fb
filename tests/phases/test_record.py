"""record against per-group loops over the people (deterministic).

From record's docstring: counters are the day's tally; levels are read off the state:
people on notice, listed, detained and pending per group, means of income, risk and the
three score tracks, their 10/50/90% quantiles (on everyone in groups no larger than the
quantile panel), grade shares (a person's grade is the highest one whose lower bound their
score reaches), and the expected protected and harmful events a day with no system at all
(sum over people of 1 - (1 - p) ** propensity for Bernoulli behaviours, rate * propensity
for Poisson ones). Per region: population, camera intensity and today's detections (which
are then emptied).

Means are float64 sums of float32 values against Python sums: within 1e-9 relative.
"""

from __future__ import annotations

import math

import numpy as np

from credsim.engines.reference.phases.record import COUNTERS, Recorder

from .helpers import BEHAVIOURS, FREE, LISTED, NOTICE, arrange, group_of, make_world, new_state, tally

DAY = 4


def loop_quantile(values, q):
    """Linear interpolation between order statistics at (n - 1) q (numpy's default)."""
    x = sorted(values)
    h = (len(x) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(x) - 1)
    return x[lo] + (h - lo) * (x[hi] - x[lo])


def expected_events(world):
    sc = world.scenario
    out = {"protected": [0.0] * world.n_groups, "harmful": [0.0] * world.n_groups}
    for i in range(world.n_agents):
        g = group_of(world, i)
        for b, name in enumerate(BEHAVIOURS):
            spec = sc.behaviours[name]
            p = spec.rate[sc.group_names[g]]
            prop = float(world.propensity_of(b, np.array([i]))[0])
            e = 1.0 - (1.0 - p) ** prop if spec.counts == "bernoulli" else p * prop
            if spec.protected:
                out["protected"][g] += e
            if spec.harmful:
                out["harmful"][g] += e
    return out


def test_levels_and_counters_match_the_loop():
    world = make_world("behaviours.alcohol.counts='bernoulli'", "behaviours.religious_practice.counts='bernoulli'",
                       "behaviours.religious_practice.rate={majority = 0.3, minority = 0.6}")
    n = world.n_agents
    gen = np.random.default_rng(4)
    state = new_state(world)
    state.score[:] = gen.choice([0.0, 599.9, 600.0, 850.0, 959.0, 960.0, 1030.0, 1049.0, 1050.0, 1300.0], n)
    state.score_clean[:] = gen.uniform(0, 1300, n)
    state.score_fair[:] = gen.uniform(0, 1300, n)
    state.income[:] = gen.uniform(0, 3, n)
    state.risk[:] = gen.uniform(0, 2, n)
    arrange(world, state, DAY + 1, gen.choice([FREE, NOTICE, LISTED], n), [0] * n,
            case_open=gen.random(n) < 0.5, detained_until=np.where(gen.random(n) < 0.2, DAY + 3, -5))
    state.detections_today[:] = gen.integers(0, 9, world.layout.n_regions)
    state.intensity[:] = gen.uniform(0.5, 2, world.layout.n_regions)
    t = tally(world)
    for name in COUNTERS:
        t.add(name, gen.integers(0, 50, world.n_groups).astype(float))
    recorder = Recorder(world, days=10)
    detections = state.detections_today.copy()
    recorder.record(world, state, DAY, t)
    cols = recorder.columns

    for name in COUNTERS:
        assert cols[name][DAY].tolist() == t.values[name].tolist(), name
    events = expected_events(world)
    for g in range(world.n_groups):
        members = [i for i in range(n) if group_of(world, i) == g]
        assert cols["population"][DAY, g] == len(members)
        assert cols["on_notice"][DAY, g] == sum(state.status[i] == NOTICE for i in members)
        assert cols["listed"][DAY, g] == sum(state.status[i] == LISTED for i in members)
        assert cols["detained"][DAY, g] == sum(state.detained_until[i] > DAY for i in members)
        assert cols["pending_cases"][DAY, g] == sum(bool(state.case_open[i]) for i in members)
        for name, values in (("income", state.income), ("risk", state.risk), ("score", state.score),
                             ("score_clean", state.score_clean), ("score_fair", state.score_fair)):
            mean = sum(float(values[i]) for i in members) / len(members)
            assert math.isclose(cols[f"{name}_mean"][DAY, g], mean, rel_tol=1e-9), (name, g)
        for track in ("score", "score_clean", "score_fair"):
            values = [float(getattr(state, track)[i]) for i in members]
            for q in (0.1, 0.5, 0.9):
                assert math.isclose(cols[f"{track}_p{int(q * 100)}"][DAY, g], loop_quantile(values, q), rel_tol=1e-9), (track, q)
        grade_of = {}
        for i in members:
            best = None
            for gr, bound in world.scenario.score.grades.items():
                if float(state.score[i]) >= bound and (best is None or bound > world.scenario.score.grades[best]):
                    best = gr
            grade_of[i] = best
        for gr in world.scenario.score.grades:
            share = sum(1 for i in members if grade_of[i] == gr) / len(members)
            assert math.isclose(cols[f"grade_{gr}"][DAY, g], share, abs_tol=1e-12), gr
        assert math.isclose(cols["expected_protected"][DAY, g], events["protected"][g], rel_tol=1e-9)
        assert math.isclose(cols["expected_harmful"][DAY, g], events["harmful"][g], rel_tol=1e-9)
    for r in range(world.layout.n_regions):
        assert recorder.region_columns["population"][DAY, r] == sum(1 for i in range(n) if world.region[i] == r)
    assert recorder.region_columns["camera_intensity"][DAY].tolist() == state.intensity.tolist()
    assert recorder.region_columns["detections"][DAY].tolist() == detections.tolist()
    assert state.detections_today.tolist() == [0] * world.layout.n_regions
    # Other days untouched.
    assert not cols["listed"][DAY + 1].any() and not cols["population"][DAY - 1].any()


def test_panel_quantiles_of_large_groups_are_within_their_sampling_error():
    """Groups of 600 and 400 with a panel of 100: the recorded quantile's rank in the whole
    group is the panel's sample quantile, so it lies within 5 sqrt(q (1 - q) / 100) of q
    (plus 1/100 for interpolation between panel members)."""
    world = make_world("record.quantile_panel=100", base=("population.size=1000", "population.days=5",
                                                          "population.groups.majority.share=0.6",
                                                          "population.groups.minority.share=0.4"))
    gen = np.random.default_rng(12)
    state = new_state(world)
    state.score[:] = gen.normal(900, 100, world.n_agents)
    recorder = Recorder(world, days=5)
    recorder.record(world, state, 0, tally(world))
    for g in range(world.n_groups):
        sl = world.layout.group_slice(g)
        panel = world.panel[world.panel_group_start[g]: world.panel_group_start[g + 1]]
        assert len(panel) == 100 == len(set(panel.tolist()))
        assert all(sl.start <= p < sl.stop for p in panel)
        scores = state.score[sl]
        for q in (0.1, 0.5, 0.9):
            value = recorder.columns[f"score_p{int(q * 100)}"][0, g]
            rank = float(np.mean(scores <= value))
            assert abs(rank - q) <= 5 * math.sqrt(q * (1 - q) / 100) + 0.01, (g, q, rank)
