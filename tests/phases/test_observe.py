"""observe against per-person loops of its documented channels.

observe draws, so these tests compare distributions over R independent days (each with its
own seeded generator) on a few dozen people, against probabilities and rates computed
person by person from observe's docstring:

- a true event of behaviour b by person i (group g, region r) is seen with
  q = 1 - (1 - p_records[b]) (1 - min(p_camera[b] I[r] watch[g], 1)) prod_contacts (1 - p_inform[b]);
  over R days its count is Binomial(R, q);
- false matches hit person i at false_match_rate I[r] watch[g] multiplier[g] a day, record
  errors at rate, malicious reports at sum over filers f of rate' w(f, i) / W(f), where
  rate' = rate (1 + reward_elasticity max(reward, 0)) and w = other_group_bias for a contact
  of the other group, 1 otherwise; each of these counts is Poisson over R days.

Tolerance: 5 standard errors per person (plus 1 for discreteness), and a chi-square bound
(k + 5 sqrt(2k)) over the whole table. Detained people must get exactly nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from credsim.engines.reference.phases.behave import Events, behave
from credsim.engines.reference.phases.observe import observe

from .helpers import (
    BEHAVIOURS,
    binomial_tolerance,
    chi_square_bound,
    contacts,
    group_of,
    make_world,
    new_state,
    poisson_tolerance,
    rng,
    tally,
)

DAY = 9
INTENSITY = "surveillance.intensity=[0.5, 1.0, 1.5, 2.0, 0.5, 1.0, 3.0, 2.0]"
NO_FALSE = (
    "observation.cameras.false_match_rate=0.0",
    "observation.malicious.rate=0.0",
    "observation.record_errors.rate=0.0",
)
CHANNELS = (
    "behaviours.bad_driving.p_records=0.2",
    "behaviours.bad_driving.p_camera=0.3",
    "behaviours.religious_practice.p_camera=0.1",
    "behaviours.religious_practice.p_inform=0.05",
    "behaviours.online_criticism.p_records=0.2",
    "behaviours.online_criticism.p_inform=0.02",
    "behaviours.fraud.p_records=0.5",
    "behaviours.fraud.p_inform=0.05",
    "behaviours.video_games.p_records=0.0",
    "behaviours.debt_default.p_records=0.9",
)
SEEN = ("bad_driving", "debt_default", "fraud", "video_games", "religious_practice", "online_criticism")


def p_seen(world, i: int, name: str) -> tuple[float, float, float]:
    """(records, camera, informant) probabilities of catching one event of ``name`` by i."""
    sc = world.scenario
    spec = sc.behaviours[name]
    g = sc.group_names[group_of(world, i)]
    intensity = sc.surveillance.intensity[int(world.region[i])]
    p_rec = spec.p_records if sc.observation.records.enabled else 0.0
    p_cam = min(spec.p_camera * intensity * sc.observation.cameras.watch.get(g, 1.0), 1.0) if sc.observation.cameras.enabled else 0.0
    missed_by_all = 1.0
    if sc.observation.informants.enabled:
        for _ in contacts(world, i):
            missed_by_all *= 1.0 - spec.p_inform
    return p_rec, p_cam, 1.0 - missed_by_all


def all_events(world, names) -> Events:
    """Every person does each of ``names`` once (ordered by behaviour, then person)."""
    person, behaviour = [], []
    for name in sorted(names, key=BEHAVIOURS.index):
        person += list(range(world.n_agents))
        behaviour += [BEHAVIOURS.index(name)] * world.n_agents
    return Events(np.array(person, np.int32), np.array(behaviour, np.int16))


def test_true_events_are_seen_with_the_documented_probability_and_informants_are_contacts():
    world = make_world(*NO_FALSE, *CHANNELS, INTENSITY)
    n = world.n_agents
    events = all_events(world, SEEN)
    state = new_state(world)
    reps = 600
    seen = np.zeros((len(BEHAVIOURS), n), np.int64)
    paid = np.zeros(n, np.int64)
    camera_by_group = np.zeros(world.n_groups)
    informant_by_group = np.zeros(world.n_groups)
    detections_by_region = np.zeros(world.layout.n_regions, np.int64)
    events_group = np.bincount(world.group[events.person], minlength=world.n_groups)
    for r in range(reps):
        t = tally(world)
        state.detections_today[:] = 0
        obs = observe(world, state, events, DAY, rng(11, r), t)
        assert obs.true.all() and obs.informant_true.all()
        pairs = list(zip(obs.person.tolist(), obs.behaviour.tolist()))
        assert len(set(pairs)) == len(pairs)  # each event is recorded at most once
        np.add.at(seen, (obs.behaviour, obs.person), 1)
        np.add.at(paid, obs.informant, 1)
        # Tally: exact per-group counts of what was passed in and what was seen.
        prot = [BEHAVIOURS.index(b) for b in SEEN if world.scenario.behaviours[b].protected]
        harm = [BEHAVIOURS.index(b) for b in SEEN if world.scenario.behaviours[b].harmful]
        np.testing.assert_array_equal(t.values["events_protected"], events_group / len(SEEN) * len(prot))
        np.testing.assert_array_equal(t.values["events_harmful"], events_group / len(SEEN) * len(harm))
        np.testing.assert_array_equal(t.values["observations"], np.bincount(world.group[obs.person], minlength=world.n_groups))
        assert t.values["false_observations"].sum() == 0
        assert t.values["informant_reports"].sum() == len(obs.informant)
        assert state.detections_today.sum() == t.values["camera_detections"].sum()
        camera_by_group += t.values["camera_detections"]
        informant_by_group += t.values["informant_reports"]
        detections_by_region += state.detections_today

    chi2, cells, misses = 0.0, 0, []
    exp_paid = np.zeros(n)
    exp_camera = np.zeros(world.n_groups)
    exp_informant = np.zeros(world.n_groups)
    exp_region = np.zeros(world.layout.n_regions)
    for name in SEEN:
        b = BEHAVIOURS.index(name)
        for i in range(n):
            p_rec, p_cam, p_inf = p_seen(world, i, name)
            q = 1.0 - (1.0 - p_rec) * (1.0 - p_cam) * (1.0 - p_inf)
            g = group_of(world, i)
            exp_camera[g] += reps * p_cam
            exp_informant[g] += reps * p_inf
            exp_region[int(world.region[i])] += reps * p_cam
            mine = contacts(world, i)
            for c in mine:  # the informant is one contact drawn at random
                exp_paid[c] += reps * p_inf / len(mine)
            x = int(seen[b, i])
            if q in (0.0, 1.0):
                assert x == reps * q, (name, i, x)
                continue
            if abs(x - reps * q) > binomial_tolerance(reps, q):
                misses.append((name, i, x, reps * q))
            chi2 += (x - reps * q) ** 2 / (reps * q * (1 - q))
            cells += 1
    assert not misses, misses[:10]
    assert chi2 <= chi_square_bound(cells), (chi2, cells)
    # Sums of independent Bernoulli draws: variance <= mean, so sqrt(mean) is a safe scale.
    for observed, expected in ((camera_by_group, exp_camera), (informant_by_group, exp_informant),
                               (detections_by_region, exp_region), (paid, exp_paid)):
        for x, m in zip(observed, expected):
            if m == 0:
                assert x == 0
            else:
                assert abs(x - m) <= poisson_tolerance(m), (x, m)


def test_channels_switched_off_see_nothing():
    world = make_world(*NO_FALSE, *CHANNELS, INTENSITY, "observation.records.enabled=false",
                       "observation.cameras.enabled=false", "observation.informants.enabled=false")
    state = new_state(world)
    events = all_events(world, SEEN)
    for r in range(20):
        obs = observe(world, state, events, DAY, rng(12, r), tally(world))
        assert len(obs) == 0 and len(obs.informant) == 0


@pytest.fixture
def detained_state():
    def make(world):
        state = new_state(world)
        state.detained_until[[2, 25, 31]] = DAY + 1  # detained
        state.detained_until[7] = DAY  # released today: seen again
        return state, {2, 25, 31}
    return make


class FalseOnly:
    """observe with no true events, ``reps`` days; tallies per person what was received
    (``got``) and what was filed (``filed``, malicious filers are paid as informants)."""

    def __init__(self, world, state):
        self.world, self.state = world, state
        self.got = np.zeros(world.n_agents, np.int64)
        self.filed = np.zeros(world.n_agents, np.int64)

    def days(self, reps, seed):
        world, state = self.world, self.state
        for r in range(reps):
            t = tally(world)
            state.detections_today[:] = 0
            obs = observe(world, state, Events(np.zeros(0, np.int32), np.zeros(0, np.int16)), DAY, rng(seed, r), t)
            assert not obs.true.any() and not obs.informant_true.any()
            np.add.at(self.got, obs.person, 1)
            np.add.at(self.filed, obs.informant, 1)
            by_group = np.bincount(world.group[obs.person], minlength=world.n_groups)
            np.testing.assert_array_equal(t.values["false_observations"], by_group)
            np.testing.assert_array_equal(t.values["observations"], by_group)
            yield obs, t


def check_poisson(observed, expected_per_day, reps, what):
    chi2, cells, misses = 0.0, 0, []
    for i, (x, q) in enumerate(zip(observed, expected_per_day)):
        m = reps * q
        if m == 0:
            assert x == 0, f"{what}: person {i} got {x} at rate 0"
            continue
        if abs(x - m) > poisson_tolerance(m):
            misses.append((i, int(x), round(m, 1)))
        chi2 += (x - m) ** 2 / m
        cells += 1
    assert not misses, f"{what} outside 5 standard errors (person, observed, expected): {misses}"
    assert chi2 <= chi_square_bound(cells), (what, chi2, cells)


def test_false_matches_per_person_rate(detained_state):
    world = make_world(
        *NO_FALSE, INTENSITY,
        "observation.cameras.false_match_rate=0.02",
        "observation.cameras.false_match_multiplier={majority = 1.0, minority = 5.0}",
    )
    state, detained = detained_state(world)
    sc = world.scenario
    cams = sc.observation.cameras
    alleged = BEHAVIOURS.index(cams.false_match_alleges)
    reps = 500
    run = FalseOnly(world, state)
    for obs, t in run.days(reps, seed=13):
        assert (obs.behaviour == alleged).all()
        np.testing.assert_array_equal(t.values["false_matches"], np.bincount(world.group[obs.person], minlength=world.n_groups))
        # False matches are camera detections of the person's region.
        np.testing.assert_array_equal(state.detections_today, np.bincount(world.region[obs.person], minlength=world.layout.n_regions))
    rate = []
    for i in range(world.n_agents):
        g = sc.group_names[group_of(world, i)]
        r = cams.false_match_rate * sc.surveillance.intensity[int(world.region[i])] * cams.watch.get(g, 1.0) * cams.false_match_multiplier.get(g, 1.0)
        rate.append(0.0 if i in detained else r)
    check_poisson(run.got, rate, reps, "false matches")


@pytest.mark.parametrize("bias", [1.0, 10.0])
def test_malicious_reports_per_target_and_per_filer(detained_state, bias):
    world = make_world(
        *NO_FALSE,
        "observation.malicious.rate=0.01",
        "observation.malicious.reward_elasticity=0.5",
        f"observation.malicious.other_group_bias={bias}",
        "score.informant_reward=2",
    )
    state, detained = detained_state(world)
    n = world.n_agents
    mal = world.scenario.observation.malicious
    alleged = BEHAVIOURS.index(mal.alleges)
    rate = mal.rate * (1.0 + mal.reward_elasticity * 2.0)
    reps = 800
    run = FalseOnly(world, state)
    for obs, t in run.days(reps, seed=14 + int(bias)):
        assert (obs.behaviour == alleged).all()
        assert len(obs.informant) == len(obs)  # each report pays its filer
        np.testing.assert_array_equal(t.values["malicious_reports"], np.bincount(world.group[obs.person], minlength=world.n_groups))
    target_rate = [0.0] * n
    filer_rate = [0.0] * n
    for f in range(n):
        mine = contacts(world, f)
        if f in detained or not mine:
            continue
        weight = [bias if group_of(world, c) != group_of(world, f) else 1.0 for c in mine]
        total = sum(weight)
        for c, w in zip(mine, weight):
            if c in detained:
                continue  # a report on a detained person is dropped, and its filer not paid
            target_rate[c] += rate * w / total
            filer_rate[f] += rate * w / total
    check_poisson(run.got, target_rate, reps, "malicious reports received")
    check_poisson(run.filed, filer_rate, reps, "malicious reports filed")
    # Per group of the target (where the bias shows most): Poisson, 5 standard errors.
    for g in range(world.n_groups):
        members = [i for i in range(n) if group_of(world, i) == g]
        x, m = int(run.got[members].sum()), reps * sum(target_rate[i] for i in members)
        assert abs(x - m) <= poisson_tolerance(m), (g, x, m)


def test_record_errors_per_person_rate(detained_state):
    world = make_world(*NO_FALSE, "observation.record_errors.rate=0.03")
    state, detained = detained_state(world)
    alleged = BEHAVIOURS.index(world.scenario.observation.record_errors.alleges)
    reps = 700
    run = FalseOnly(world, state)
    for obs, t in run.days(reps, seed=16):
        assert (obs.behaviour == alleged).all()
        np.testing.assert_array_equal(t.values["record_errors"], np.bincount(world.group[obs.person], minlength=world.n_groups))
    check_poisson(run.got, [0.0 if i in detained else 0.03 for i in range(world.n_agents)], reps, "record errors")


def test_detained_people_are_never_seen_in_a_whole_day(detained_state):
    """behave then observe with every channel and every false source at high rates."""
    world = make_world(
        "behaviours.religious_practice.rate={majority = 0.5, minority = 0.5}",
        "behaviours.religious_practice.p_records=0.5",
        "behaviours.bad_driving.rate={majority = 0.3, minority = 0.3}",
        "observation.cameras.false_match_rate=0.05",
        "observation.malicious.rate=0.05",
        "observation.record_errors.rate=0.05",
    )
    state, detained = detained_state(world)
    free_seen = 0
    for r in range(150):
        events = behave(world, state, DAY, rng(17, r))
        obs = observe(world, state, events, DAY, rng(18, r), tally(world))
        assert not set(obs.person.tolist()) & detained
        assert not set(obs.informant[~obs.informant_true].tolist()) & detained  # detained people file nothing
        free_seen += int((obs.person == 7).sum())
    assert free_seen > 0


def test_tallies_of_observations_count_true_and_false_ones_per_group(detained_state):
    world = make_world(
        *CHANNELS,
        "observation.cameras.false_match_rate=0.02",
        "observation.malicious.rate=0.02",
        "observation.record_errors.rate=0.02",
    )
    state, _ = detained_state(world)
    events = all_events(world, SEEN)
    count = lambda who: np.bincount(world.group[who], minlength=world.n_groups)  # noqa: E731
    false_total = 0
    for r in range(60):
        t = tally(world)
        obs = observe(world, state, events, DAY, rng(19, r), t)
        np.testing.assert_array_equal(t.values["observations"], count(obs.person))
        np.testing.assert_array_equal(t.values["false_observations"], count(obs.person[~obs.true]))
        sources = t.values["false_matches"] + t.values["malicious_reports"] + t.values["record_errors"]
        np.testing.assert_array_equal(t.values["false_observations"], sources)
        false_total += int((~obs.true).sum())
    assert false_total > 0


def test_the_informants_table_is_the_power_observe_computed_per_event():
    """World.informed[b, d] = 1 - (1 - p_inform[b]) ** d, the compiled power of the degree
    read as float32, which observe computed for each event before it was tabled."""
    import numba

    @numba.njit
    def per_event(p_inform, degree):
        out = np.empty((p_inform.shape[0], degree.shape[0]))
        for b in range(p_inform.shape[0]):
            for j in range(degree.shape[0]):
                out[b, j] = 1.0 - (1.0 - p_inform[b]) ** np.float64(degree[j])
        return out

    world = make_world(*CHANNELS)
    degree = np.diff(world.network.indptr).astype(np.float32)  # contacts, as the rule reads them
    assert world.informed.shape == (len(BEHAVIOURS), int(degree.max()) + 1)
    np.testing.assert_array_equal(world.informed[:, degree.astype(np.int64)], per_event(world.p_inform, degree))
    np.testing.assert_allclose(world.informed[:, 3], 1.0 - (1.0 - world.p_inform) ** 3, rtol=1e-15)


def test_many_events_judged_in_parallel_chunks_as_one_by_one():
    """Above SIGHT_PARALLEL_FROM events, _sight judges chunks of events on every core, and
    finds each event's group and region from the cell blocks: its lists, counts and
    detections against a loop over the events reading world.group and world.region, given
    the same uniforms."""
    from credsim.engines.reference.phases.observe import SIGHT_CHUNK, SIGHT_PARALLEL_FROM, _sight

    world = make_world(*CHANNELS, "population.size=2000")
    gen = np.random.default_rng(4)
    n = SIGHT_PARALLEL_FROM + SIGHT_CHUNK // 2 + 7
    behaviour = np.sort(gen.integers(0, len(BEHAVIOURS), n)).astype(np.int16)
    person = gen.integers(0, world.n_agents, n).astype(np.int32)
    for b in range(len(BEHAVIOURS)):  # in person order within each behaviour, as behave gives them
        person[behaviour == b] = np.sort(person[behaviour == b])
    u = gen.random((4, n))
    intensity = gen.uniform(0.2, 1.5, world.layout.n_regions)
    assert (world.p_camera > 0).any() and (world.p_inform > 0).any() and world.layout.n_regions > 1

    counts = np.zeros((6, world.n_groups))
    detections = np.zeros(world.layout.n_regions, np.int64)
    seen_person, seen_behaviour, informant = _sight(
        person, behaviour, u, world.p_records, world.p_camera, world.p_inform, intensity, world.watch, world.informed,
        world.layout.cell_bounds, world.layout.n_regions, world.network.indptr, world.network.indices,
        world.protected, world.harmful, counts, detections)

    want_counts = np.zeros((6, world.n_groups))
    want_detections = np.zeros(world.layout.n_regions, np.int64)
    want_seen, want_informant = [], []
    for j in range(n):
        i, b = int(person[j]), int(behaviour[j])
        g, r, d = int(world.group[i]), int(world.region[i]), len(world.network.contacts_of(i))
        camera = world.p_camera[b] > 0 and u[1, j] < min(world.p_camera[b] * intensity[r] * world.watch[g], 1.0)
        informant_saw = world.p_inform[b] > 0 and u[2, j] < world.informed[b, d]
        records = u[0, j] < world.p_records[b]
        want_counts[5, g] += records  # the records' own catch, whatever else saw it
        if records or camera or informant_saw:
            want_counts[4, g] += 1
            want_seen.append((i, b))
        want_counts[0, g] += world.protected[b]
        want_counts[1, g] += world.harmful[b]
        if camera:
            want_counts[2, g] += 1
            want_detections[r] += 1
        if informant_saw:
            want_counts[3, g] += 1
            first = world.network.indptr[i]
            want_informant.append(world.network.indices[first + min(int(u[3, j] * d), d - 1)])
    assert want_counts[2].sum() > 0 and want_counts[3].sum() > 0
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(detections, want_detections)
    assert list(zip(seen_person.tolist(), seen_behaviour.tolist())) == want_seen
    np.testing.assert_array_equal(informant, want_informant)
