"""listing against a per-person loop of its documented rules.

The rules (listing's docstring), in order each day:
1. a listed person leaves (exit "term") when listed at least min_days and score >= exit_threshold;
2. a notice that has lasted notice_days becomes a listing (an open objection does not stop it);
3. a free person goes on notice when score < threshold or after an observation of an
   immediate behaviour (true or false); with notice_days = 0 the notice is a listing at once.
A new case is wrongful if score_clean >= threshold and no true immediate event, else unjust
if score_fair >= threshold and no true immediate event of an unprotected behaviour, else
rules. On notice a person objects with p_wrongful or p_rightful times access (capped at 1);
with appeal switched off there is no queue, and nobody objects.

The deterministic tests set the objection probabilities to 0 or 1 (p_wrongful = 1,
p_rightful = 0, access 1 for the majority and 0 for the minority), so no draw decides
anything; the state is drawn at random (seeded) so that every branch is hit many times.
The filing probability itself is checked statistically at the end.
"""

from __future__ import annotations

import numpy as np
import pytest

from credsim.engines.reference.phases.listing import listing
from credsim.state import CLASS_NAMES, EXIT_TERM, RULES, UNJUST, WRONGFUL

from .helpers import (
    BEHAVIOURS,
    FREE,
    LISTED,
    NOTICE,
    arrange,
    assert_counters_match,
    binomial_tolerance,
    clone,
    group_of,
    make_world,
    new_state,
    observations,
    rng,
    tally,
)

DAY = 30
RULES_OVERRIDES = (
    "listing.min_days=5",
    "listing.threshold=850",
    "listing.exit_threshold=960",
    "listing.immediate=['debt_default', 'online_criticism']",  # online_criticism is protected
    "listing.objection.p_wrongful=1.0",
    "listing.objection.p_rightful=0.0",
    "listing.objection.access={majority = 1.0, minority = 0.0}",
)


class Reference:
    """The listing rules, one person at a time, on plain Python lists."""

    def __init__(self, world, state):
        self.world, self.sc = world, world.scenario
        n = world.n_agents
        self.status = [int(x) for x in state.status]
        self.status_day = [int(x) for x in state.status_day]
        self.case_class = [int(x) for x in state.case_class]
        self.case_cause = [int(x) for x in state.case_cause]
        self.case_open = [bool(x) for x in state.case_open]
        self.case_id = [int(x) for x in state.case_id]
        self.ever = [bool(x) for x in state.ever_listed]
        self.score = [float(x) for x in state.score]
        self.clean = [float(x) for x in state.score_clean]
        self.fair = [float(x) for x in state.score_fair]
        self.episodes = [list(r) for r in zip(*(state.episodes[c].tolist() for c in ("person", "start", "end", "cls", "exit")))]
        self.episode = [int(x) for x in state.episode]
        self.next_case = self.first_new_case = state.next_case_id
        self.filed = []  # (person, case, day)
        self.counts = {name: [0] * world.n_groups for name in
                       ("notices", "exits_term", "objections_filed", "listings_threshold", "listings_immediate",
                        *(f"listings_{c}" for c in CLASS_NAMES))}
        self.n = n

    def end(self, i, day):
        if self.status[i] == LISTED:
            row = self.episode[i]
            self.episodes[row][2], self.episodes[row][4] = day, EXIT_TERM
            self.counts["exits_term"][group_of(self.world, i)] += 1
        self.status[i], self.case_id[i], self.episode[i], self.case_open[i] = FREE, -1, -1, False

    def start_listing(self, i, day):
        self.status[i], self.status_day[i], self.ever[i] = LISTED, day, True
        self.episode[i] = len(self.episodes)
        self.episodes.append([i, day, -1, self.case_class[i], -1])
        self.counts[f"listings_{CLASS_NAMES[self.case_class[i]]}"][group_of(self.world, i)] += 1
        # The score rule's listing when the score alone was low at notice; else the immediate rule's.
        cause = "threshold" if self.case_cause[i] == 0 else "immediate"
        self.counts[f"listings_{cause}"][group_of(self.world, i)] += 1

    def run(self, obs, day):
        rules = self.sc.listing
        for i in range(self.n):
            if self.status[i] == LISTED and day - self.status_day[i] >= rules.min_days and self.score[i] >= rules.exit_threshold:
                self.end(i, day)
        for i in range(self.n):
            if self.status[i] == NOTICE and day - self.status_day[i] >= rules.notice_days:
                self.start_listing(i, day)
        struck, true_struck, fair_struck = set(), set(), set()
        for k in range(len(obs)):
            name = BEHAVIOURS[int(obs.behaviour[k])]
            if name in rules.immediate:
                i = int(obs.person[k])
                struck.add(i)
                if obs.true[k]:
                    true_struck.add(i)
                    if not self.sc.behaviours[name].protected:
                        fair_struck.add(i)
        new = []
        for i in range(self.n):
            if self.status[i] != FREE or not (self.score[i] < rules.threshold or i in struck):
                continue
            if not (self.clean[i] < rules.threshold or i in true_struck):
                cls = WRONGFUL
            elif not (self.fair[i] < rules.threshold or i in fair_struck):
                cls = UNJUST
            else:
                cls = RULES
            g = group_of(self.world, i)
            self.status[i], self.status_day[i], self.case_class[i] = NOTICE, day, cls
            self.case_cause[i] = 0 if self.score[i] < rules.threshold else 1
            self.case_id[i] = self.next_case
            self.next_case += 1
            self.counts["notices"][g] += 1
            objection = rules.objection
            if objection.enabled and self.sc.appeal.enabled:  # no queue, no objections
                p = (objection.p_wrongful if cls == WRONGFUL else objection.p_rightful)
                p = min(p * objection.access.get(self.sc.group_names[g], 1.0), 1.0)
                assert p in (0.0, 1.0), "the deterministic test needs probabilities of 0 or 1"
                if p == 1.0:
                    self.case_open[i] = True
                    self.filed.append((i, self.case_id[i], day))
                    self.counts["objections_filed"][g] += 1
            new.append(i)
        if rules.notice_days == 0:
            for i in new:
                self.start_listing(i, day)


def random_situation(world, seed):
    gen = np.random.default_rng(seed)
    n = world.n_agents
    state = new_state(world)
    status = gen.choice([FREE, NOTICE, LISTED], n, p=[0.5, 0.25, 0.25])
    status_day = np.where(status == LISTED, DAY - gen.integers(0, 10, n), DAY - gen.integers(0, 6, n))
    levels = np.array([700.0, 849.9, 850.0, 900.0, 959.9, 960.0, 1000.0], np.float32)
    state.score[:] = gen.choice(levels, n)
    state.score_clean[:] = np.where(gen.random(n) < 0.5, state.score, gen.choice(levels, n))
    state.score_fair[:] = np.where(gen.random(n) < 0.5, state.score_clean, gen.choice(levels, n))
    arrange(world, state, DAY, status, status_day, case_class=gen.integers(0, 3, n),
            case_open=gen.random(n) < 0.4, filed=DAY - gen.integers(1, 5, n))
    b = BEHAVIOURS.index
    k = 25
    obs = observations(
        gen.integers(0, n, k),
        gen.choice([b("debt_default"), b("online_criticism"), b("fraud"), b("bad_driving")], k),
        gen.random(k) < 0.5,
    )
    return state, obs


def compare(world, state, ref, t, before_queue):
    assert state.status.tolist() == ref.status
    active = [i for i in range(ref.n) if ref.status[i] != FREE]
    assert [int(state.status_day[i]) for i in active] == [ref.status_day[i] for i in active]
    assert [int(state.case_class[i]) for i in active] == [ref.case_class[i] for i in active]
    assert [int(state.case_cause[i]) for i in active] == [ref.case_cause[i] for i in active]
    assert state.case_open.tolist() == ref.case_open
    assert state.ever_listed.tolist() == ref.ever
    # Case ids: kept by those who keep their case, fresh and distinct for new ones, -1 when free.
    assert state.next_case_id == ref.next_case
    for i in range(ref.n):
        if ref.status[i] == FREE:
            assert state.case_id[i] == -1
        elif ref.case_id[i] < ref.first_new_case:
            assert state.case_id[i] == ref.case_id[i]
        else:
            assert ref.first_new_case <= state.case_id[i] < ref.next_case
    ids = [int(state.case_id[i]) for i in active]
    assert len(set(ids)) == len(ids)
    # Episode log: rows in the same order (old rows keep their index), and each listed
    # person's episode index points at their open row.
    log = [list(r) for r in zip(*(state.episodes[c].tolist() for c in ("person", "start", "end", "cls", "exit")))]
    assert log == ref.episodes
    assert [int(state.episode[i]) for i in range(ref.n)] == [ref.episode[i] if ref.status[i] == LISTED else -1 for i in range(ref.n)]
    # Queue: the old rows untouched, new rows are today's objections.
    q = list(zip(state.queue["person"].tolist(), state.queue["case"].tolist(), state.queue["filed"].tolist()))
    assert q[: len(before_queue)] == before_queue
    assert sorted(q[len(before_queue):]) == sorted((i, int(state.case_id[i]), d) for i, _, d in ref.filed)
    for name, values in ref.counts.items():
        assert t.values[name].tolist() == values, name


@pytest.mark.parametrize("switches", [[], ["appeal.enabled=false"], ["listing.objection.enabled=false"]],
                         ids=["objections", "no_appeal", "no_objections"])
@pytest.mark.parametrize("notice_days", [0, 3])
@pytest.mark.parametrize("seed", range(8))
def test_random_situations_match_the_loop(seed, notice_days, switches):
    world = make_world(*RULES_OVERRIDES, f"listing.notice_days={notice_days}", *switches)
    state, obs = random_situation(world, seed)
    ref = Reference(world, state)
    ref.run(obs, DAY)
    before_queue = list(zip(state.queue["person"].tolist(), state.queue["case"].tolist(), state.queue["filed"].tolist()))
    t = tally(world)
    listing(world, state, obs, DAY, rng(seed), t)
    compare(world, state, ref, t, before_queue)
    assert_counters_match(world, state, DAY)


def test_hand_made_boundaries():
    """Exact boundaries, written out: min_days and exit_threshold are inclusive, threshold
    is strict, notice_days inclusive; the classes of new cases."""
    world = make_world(*RULES_OVERRIDES, "listing.notice_days=3")
    n = world.n_agents
    state = new_state(world)
    status = [FREE] * n
    status_day = [0] * n
    # 0: listed 5 days, score 960 -> leaves; 1: listed 5 days, 959.9 -> stays;
    # 2: listed 4 days, 1000 -> stays; 3: notice 3 days -> listed; 4: notice 2 days -> stays;
    # 5: notice 3 days with an open objection -> listed anyway.
    for i, s, d in ((0, LISTED, 5), (1, LISTED, 5), (2, LISTED, 4), (3, NOTICE, 3), (4, NOTICE, 2), (5, NOTICE, 3)):
        status[i], status_day[i] = s, DAY - d
    case_open = [i == 5 for i in range(n)]
    state.score[:6] = [960.0, 959.9, 1000.0, 800.0, 800.0, 800.0]
    # 6: free at exactly 850 -> nothing; 7: 849.9, clean 900 -> wrongful;
    # 8: 849.9, clean 849.9, fair 900 -> unjust; 9: 849.9 on all tracks -> rules;
    # 10: 1000, false debt default -> wrongful; 11: 1000, true debt default -> rules;
    # 12: 1000, true online criticism, fair 1000 -> unjust; 13: true criticism, fair 800 -> rules;
    # 0 again: leaves by term and has a debt default today -> on notice again (free by then).
    state.score[6:14] = [850.0, 849.9, 849.9, 849.9, 1000.0, 1000.0, 1000.0, 1000.0]
    state.score_clean[6:14] = [850.0, 900.0, 849.9, 849.9, 1000.0, 1000.0, 1000.0, 1000.0]
    state.score_fair[6:14] = [850.0, 900.0, 900.0, 849.9, 1000.0, 1000.0, 1000.0, 800.0]
    arrange(world, state, DAY, status, status_day, case_class=[RULES] * n, case_open=case_open)
    b = BEHAVIOURS.index
    obs = observations([10, 11, 12, 13, 0, 2], [b("debt_default"), b("debt_default"), b("online_criticism"),
                                                 b("online_criticism"), b("debt_default"), b("debt_default")],
                       [False, True, True, True, True, True])
    listing(world, state, obs, DAY, rng(0), tally(world))
    assert state.status[:14].tolist() == [NOTICE, LISTED, LISTED, LISTED, NOTICE, LISTED, FREE,
                                          NOTICE, NOTICE, NOTICE, NOTICE, NOTICE, NOTICE, NOTICE]
    assert state.case_class[[7, 8, 9, 10, 11, 12, 13, 0]].tolist() == [WRONGFUL, UNJUST, RULES, WRONGFUL, RULES,
                                                                        UNJUST, RULES, RULES]
    assert state.case_open[5]  # the objection is still waiting
    assert state.status_day[3] == DAY and state.status_day[5] == DAY and state.status_day[1] == DAY - 5
    ended = state.episodes["person"].tolist().index(0)
    assert (state.episodes["end"][ended], state.episodes["exit"][ended]) == (DAY, EXIT_TERM)
    assert_counters_match(world, state, DAY)


def test_objection_probability_is_p_times_access():
    """Half the new cases wrongful, half by the rules; objections are filed with
    p_wrongful 0.6 / p_rightful 0.1 times access (majority 1, minority 0.5). Each (class,
    group) frequency over R independent days is Binomial: 5 standard errors."""
    world = make_world(
        "listing.objection.p_wrongful=0.6", "listing.objection.p_rightful=0.1",
        "listing.objection.access={majority = 1.0, minority = 0.5}", "listing.notice_days=3",
    )
    n = world.n_agents
    state = new_state(world)
    state.score[:] = 800.0
    state.score_clean[:] = np.where(np.arange(n) % 2 == 0, 1000.0, 800.0)  # even: wrongful
    state.score_fair[:] = state.score_clean
    reps = 250
    filed = np.zeros((2, world.n_groups))
    trials = np.zeros((2, world.n_groups))
    for r in range(reps):
        s = clone(state)
        listing(world, s, observations([], [], []), DAY, rng(21, r), tally(world))
        for i in range(n):
            wrongful = s.case_class[i] == WRONGFUL
            assert wrongful == (i % 2 == 0)
            trials[0 if wrongful else 1, group_of(world, i)] += 1
            filed[0 if wrongful else 1, group_of(world, i)] += s.case_open[i]
    p = np.array([[0.6, 0.3], [0.1, 0.05]])
    for c in range(2):
        for g in range(world.n_groups):
            assert abs(filed[c, g] - trials[c, g] * p[c, g]) <= binomial_tolerance(trials[c, g], p[c, g]), (c, g, filed, trials)
