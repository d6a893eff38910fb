"""appeal against a per-person loop of its documented queue.

The rules (appeal's docstring): listed people without an open case appeal with
daily_rate * access; one first-in-first-out queue decides capacity_per_million * N / 1e6
cases a day, a fraction left over carrying to the next day; a case whose notice or listing
has already ended is withdrawn when it reaches the front and uses no capacity; a wrongful
case is upheld with uphold_wrongful, others with uphold_rightful; upheld, the notice or
listing ends (exit "appeal") and the recorded score is set to the clean track. Waits (days
from filing to decision) are kept per group.

Deterministic tests make every draw a certainty: daily_rate 1 with access 1 (majority) or
0 (minority), uphold_wrongful 1 and uphold_rightful 0. The rates themselves are then
checked statistically (5 binomial standard errors).
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from credsim.engines.reference.phases.appeal import appeal
from credsim.state import EXIT_APPEAL, RULES, WRONGFUL

from .helpers import (
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
    rng,
    tally,
)

START = 10
CERTAIN = (
    "appeal.daily_rate=1.0",
    "listing.objection.access={majority = 1.0, minority = 0.0}",
    "appeal.uphold_wrongful=1.0",
    "appeal.uphold_rightful=0.0",
)


def per_day(capacity_per_day: float, n: int = 40) -> str:
    return f"appeal.capacity_per_million={capacity_per_day * 1e6 / n}"


class Reference:
    def __init__(self, world, state):
        self.world, self.sc, self.n = world, world.scenario, world.n_agents
        self.status = state.status.tolist()
        self.case_id = state.case_id.tolist()
        self.case_class = state.case_class.tolist()
        self.case_open = state.case_open.tolist()
        self.score = state.score.tolist()
        self.clean = state.score_clean.tolist()
        self.episode = state.episode.tolist()
        self.ends = {}  # episode row -> (end, exit)
        self.queue = collections.deque(
            zip(state.queue["person"].tolist(), state.queue["case"].tolist(), state.queue["filed"].tolist())
        )
        self.credit = state.appeal_credit
        self.hist = state.wait_histogram.tolist()
        self.daily = []

    def day(self, day):
        rules, g_of = self.sc.appeal, lambda i: group_of(self.world, i)
        names = ("appeals_filed", "cases_decided", "cases_upheld", "wait_days", "exits_appeal", "objections_upheld")
        count = {k: [0.0] * self.world.n_groups for k in names}
        for i in range(self.n):
            if self.status[i] == LISTED and not self.case_open[i]:
                p = rules.daily_rate * self.sc.listing.objection.access.get(self.sc.group_names[g_of(i)], 1.0)
                assert p in (0.0, 1.0)
                if p == 1.0:
                    self.queue.append((i, self.case_id[i], day))
                    self.case_open[i] = True
                    count["appeals_filed"][g_of(i)] += 1
        self.credit += rules.capacity_per_million * self.n / 1e6
        capacity = math.floor(self.credit)
        decided = []
        while capacity > 0 and self.queue:
            i, case, filed = self.queue.popleft()
            if self.case_id[i] == case and self.status[i] != FREE:
                decided.append((i, filed))
                capacity -= 1
            # else: withdrawn, no capacity used
        self.credit -= len(decided)
        if not self.queue:
            self.credit -= math.floor(self.credit)  # idle: only a fraction carries over
        for i, filed in decided:
            g, wait = g_of(i), day - filed
            self.hist[g][min(wait, len(self.hist[g]) - 1)] += 1
            count["cases_decided"][g] += 1
            count["wait_days"][g] += wait
            self.case_open[i] = False
            p = rules.uphold_wrongful if self.case_class[i] == WRONGFUL else rules.uphold_rightful
            assert p in (0.0, 1.0)
            if p == 1.0:
                count["cases_upheld"][g] += 1
                self.score[i] = self.clean[i]
                if self.status[i] == LISTED:
                    self.ends[self.episode[i]] = (day, EXIT_APPEAL)
                    count["exits_appeal"][g] += 1
                else:
                    count["objections_upheld"][g] += 1
                self.status[i], self.case_id[i], self.episode[i] = FREE, -1, -1
        self.daily.append(count)


def busy_state(world, seed):
    """Many listed and noticed people, open cases of both classes, stale queue rows (a case
    that has ended, and an old case of someone who has a new one)."""
    gen = np.random.default_rng(seed)
    n = world.n_agents
    state = new_state(world)
    status = gen.choice([FREE, NOTICE, LISTED], n, p=[0.2, 0.3, 0.5])
    state.score[:] = gen.uniform(500, 900, n).astype(np.float32)
    state.score_clean[:] = gen.uniform(500, 1100, n).astype(np.float32)
    arrange(world, state, START, status, START - gen.integers(1, 20, n), case_class=gen.choice([WRONGFUL, RULES], n),
            case_open=gen.random(n) < 0.6, filed=START - gen.integers(1, 8, n))
    # Stale rows, interleaved by filing day: a free person's ended case; a listed person's
    # earlier case (their current one has another id).
    rows = list(zip(state.queue["person"].tolist(), state.queue["case"].tolist(), state.queue["filed"].tolist()))
    free = [i for i in range(n) if status[i] == FREE][:3]
    listed = [i for i in range(n) if status[i] == LISTED][:3]
    rows += [(i, 10_000 + i, START - 9) for i in free] + [(i, int(state.case_id[i]) + 5_000, START - 8) for i in listed]
    rows.sort(key=lambda r: r[2])
    state.queue = type(state.queue)(person=np.int32, case=np.int32, filed=np.int32)
    state.queue.append(person=np.array([r[0] for r in rows]), case=np.array([r[1] for r in rows]),
                       filed=np.array([r[2] for r in rows]))
    return state


@pytest.mark.parametrize("capacity", [0.25, 1.5, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_queue_over_days_matches_the_loop(seed, capacity):
    world = make_world(*CERTAIN, per_day(capacity))
    state = busy_state(world, seed)
    ref = Reference(world, state)
    for day in range(START, START + 12):
        t = tally(world)
        appeal(world, state, day, rng(seed, day), t)
        ref.day(day)
        for name, values in ref.daily[-1].items():
            assert t.values[name].tolist() == values, (day, name)
        assert state.status.tolist() == ref.status, day
        assert state.case_open.tolist() == ref.case_open, day
        assert [state.case_id[i] for i in range(world.n_agents)] == ref.case_id
        assert state.score.tolist() == ref.score
        assert state.wait_histogram.tolist() == ref.hist
        assert math.isclose(state.appeal_credit, ref.credit, abs_tol=1e-9)
        assert state.queue_length() == len(ref.queue)
        live = list(ref.queue)
        queued = list(zip(state.queue["person"][state.queue_head:].tolist(), state.queue["case"][state.queue_head:].tolist(),
                          state.queue["filed"][state.queue_head:].tolist()))
        assert queued == live
        assert_counters_match(world, state, day)
    for row, (end, exit_cause) in ref.ends.items():
        assert (state.episodes["end"][row], state.episodes["exit"][row]) == (end, exit_cause)
    still_open = [r for r in range(state.episodes.size) if r not in ref.ends]
    assert (state.episodes["end"][still_open] == -1).all()
    assert sum(sum(d["cases_decided"]) for d in ref.daily) > 0


def test_fractional_capacity_gives_small_populations_their_share():
    """0.25 decisions a day with a queue that never empties: after d days exactly
    floor(0.25 d) decisions, whatever the stale rows in between."""
    world = make_world(*CERTAIN, per_day(0.25), "appeal.daily_rate=0.0")
    n = world.n_agents
    state = new_state(world)
    arrange(world, state, 0, [LISTED] * n, [0] * n, case_class=[RULES] * n, case_open=[True] * n,
            filed=list(range(n)))
    decided = 0
    for day in range(40):
        t = tally(world)
        appeal(world, state, day, rng(0, day), t)
        decided += int(t.values["cases_decided"].sum())
        assert decided == math.floor(0.25 * (day + 1)), day


def test_idle_days_do_not_bank_a_whole_decision():
    """Documented: the queue decides capacity*N/1e6 cases a day and only a fraction carries
    over. With exactly 2 a day, no day may decide more than 2, even after idle days."""
    world = make_world(*CERTAIN, per_day(2.0), "appeal.daily_rate=0.0")
    n = world.n_agents
    state = new_state(world)
    for day in range(3):  # nothing to decide
        appeal(world, state, day, rng(1, day), tally(world))
    arrange(world, state, 3, [LISTED] * 5 + [FREE] * (n - 5), [0] * n, case_class=[RULES] * n,
            case_open=[True] * 5 + [False] * (n - 5), filed=[3] * n)
    decided = []
    for day in range(3, 6):
        t = tally(world)
        appeal(world, state, day, rng(1, day), t)
        decided.append(int(t.values["cases_decided"].sum()))
    assert decided == [2, 2, 1]


def test_uphold_probability_by_class():
    """40 open cases a day, half wrongful, all decided (capacity N a day); upheld with
    uphold_wrongful 0.6 and uphold_rightful 0.05: Binomial, 5 standard errors."""
    world = make_world("appeal.capacity_per_million=1000000", "appeal.daily_rate=0.0")
    n = world.n_agents
    state = new_state(world)
    arrange(world, state, START, [LISTED] * n, [0] * n, case_class=[WRONGFUL if i % 2 else RULES for i in range(n)],
            case_open=[True] * n)
    upheld = [0, 0]
    reps = 250
    for r in range(reps):
        s = clone(state)
        appeal(world, s, START, rng(31, r), tally(world))
        assert not s.case_open.any()
        for i in range(n):
            if s.status[i] == FREE:
                upheld[i % 2] += 1
                assert s.score[i] == s.score_clean[i]
    trials = reps * n / 2
    assert abs(upheld[1] - trials * 0.6) <= binomial_tolerance(trials, 0.6), upheld
    assert abs(upheld[0] - trials * 0.05) <= binomial_tolerance(trials, 0.05), upheld


def test_appeal_filing_probability_is_daily_rate_times_access():
    world = make_world("appeal.capacity_per_million=0", "appeal.daily_rate=0.2",
                       "listing.objection.access={majority = 1.0, minority = 0.5}")
    n = world.n_agents
    state = new_state(world)
    status = [LISTED if i % 3 else NOTICE for i in range(n)]  # people on notice do not appeal
    arrange(world, state, START, status, [0] * n, case_open=[i % 5 == 0 for i in range(n)])
    filed = np.zeros(world.n_groups)
    trials = np.zeros(world.n_groups)
    reps = 300
    for r in range(reps):
        s = clone(state)
        t = tally(world)
        appeal(world, s, START, rng(32, r), t)
        for i in range(n):
            eligible = status[i] == LISTED and not state.case_open[i]
            trials[group_of(world, i)] += eligible
            if not eligible:
                assert s.case_open[i] == state.case_open[i]
        filed += t.values["appeals_filed"]
        assert (s.n_pending - state.n_pending).tolist() == t.values["appeals_filed"].tolist()
    for g, p in enumerate((0.2, 0.1)):
        assert abs(filed[g] - trials[g] * p) <= binomial_tolerance(trials[g], p), (g, filed, trials)


def test_long_queue_of_withdrawn_cases_and_compaction():
    """1,100 withdrawn rows ahead of the live ones (enough for the queue to compact its
    buffer), live cases filed long ago (waits beyond the histogram's last bin go in it)."""
    world = make_world(*CERTAIN, per_day(1.5))
    n = world.n_agents
    state = new_state(world)
    arrange(world, state, START, [LISTED] * n, [0] * n, case_class=[WRONGFUL if i % 3 == 0 else RULES for i in range(n)],
            case_open=[True] * n, filed=[-100] * n)
    live = list(zip(state.queue["person"].tolist(), state.queue["case"].tolist(), state.queue["filed"].tolist()))
    stale = [(k % n, 100_000 + k, -200) for k in range(1100)]
    rows = stale + live
    state.queue = type(state.queue)(person=np.int32, case=np.int32, filed=np.int32)
    state.queue.append(person=np.array([r[0] for r in rows]), case=np.array([r[1] for r in rows]),
                       filed=np.array([r[2] for r in rows]))
    ref = Reference(world, state)
    for day in range(START, START + 6):
        t = tally(world)
        appeal(world, state, day, rng(5, day), t)
        ref.day(day)
        for name, values in ref.daily[-1].items():
            assert t.values[name].tolist() == values, (day, name)
        queued = list(zip(state.queue["person"][state.queue_head:].tolist(), state.queue["case"][state.queue_head:].tolist(),
                          state.queue["filed"][state.queue_head:].tolist()))
        assert queued == list(ref.queue)
        assert state.status.tolist() == ref.status
        assert state.wait_histogram.tolist() == ref.hist
        assert_counters_match(world, state, day)
    assert state.queue.size < 1100  # the decided rows were dropped from the buffer
    assert state.wait_histogram[:, -1].sum() > 0
