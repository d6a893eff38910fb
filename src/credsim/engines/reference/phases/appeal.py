"""Phase 5, appeal: one first-in-first-out queue of objections and appeals.

Listed people without an open case appeal with ``daily_rate`` times their group's access to
legal help. The queue decides ``capacity_per_million * N / 1e6`` cases a day; a fraction
left over carries to the next day, so small populations get their share too. A case whose
notice or listing has already ended (by term) is withdrawn when it reaches the front and
uses no capacity. A wrongful case is upheld with ``uphold_wrongful``, others with
``uphold_rightful``; upheld, the notice or listing ends and the recorded score is corrected
to the clean track. Waits (days from filing to decision) are kept per group.
"""

from __future__ import annotations

import numpy as np

from credsim.kernels import sorted_union
from credsim.engines.reference.phases.listing import end_case, file_case
from credsim.state import EXIT_APPEAL, FREE, WRONGFUL, State, case_term, listed_people
from credsim.tally import Tally
from credsim.world import World


def appeal(world: World, state: State, day: int, rng: np.random.Generator, tally: Tally) -> None:
    rules = world.scenario.appeal
    if not rules.enabled:
        return
    listed = listed_people(state)
    listed = listed[~state.case_open[listed]]
    p = rules.daily_rate * world.access[world.groups_of(listed)]
    file_case(world, state, listed[rng.random(len(listed)) < p], day, tally, "appeals_filed")

    state.appeal_credit += rules.capacity_per_million * world.n_agents / 1e6
    capacity = int(state.appeal_credit)
    person, filed = _take(state, capacity)
    state.appeal_credit -= len(person)
    if state.queue_length() == 0:
        state.appeal_credit %= 1.0  # idle capacity is not banked: only the fraction carries

    if len(person) == 0:
        return
    wait = day - filed
    group = world.group[person]
    np.add.at(state.wait_histogram, (group, np.minimum(wait, state.wait_histogram.shape[1] - 1)), 1)
    tally.count("cases_decided", group)
    tally.count("wait_days", group, wait.astype(np.float64))
    state.case_open[person] = False
    state.n_pending -= np.bincount(group, minlength=world.n_groups)

    wrongful = state.case_class[person] == WRONGFUL  # each case decided on the terms it opened under
    p_uphold = np.where(
        wrongful, case_term(world, state, person, "uphold_wrongful", rules), case_term(world, state, person, "uphold_rightful", rules)
    )
    upheld = person[rng.random(len(person)) < p_uphold]
    tally.count("cases_upheld", world.group[upheld])
    if state.fast:  # keep today's sums true, and let sanction see who may now earn the green channel
        change = state.score_clean[upheld].astype(np.float64) - state.score[upheld]
        state.track_sums[0] += np.bincount(world.group[upheld], weights=change, minlength=world.n_groups)
        state.above = sorted_union(state.above, upheld)
    state.score[upheld] = state.score_clean[upheld]
    end_case(world, state, upheld, day, EXIT_APPEAL, tally)


def _take(state: State, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """(person, day filed) of the next ``capacity`` live cases, skipping stale ones."""
    taken = []
    while capacity > 0 and state.queue_length() > 0:
        rows = np.arange(state.queue_head, min(state.queue_head + capacity, state.queue.size))
        person = state.queue["person"][rows]
        live = (state.case_id[person] == state.queue["case"][rows]) & (state.status[person] != FREE)
        live_rows = rows[live]
        taken.append(live_rows)
        capacity -= len(live_rows)
        state.queue_head = int(rows[-1]) + 1
    rows = np.concatenate(taken) if taken else np.zeros(0, np.int64)
    person, filed = state.queue["person"][rows].copy(), state.queue["filed"][rows].copy()
    _compact(state)
    return person, filed


def _compact(state: State) -> None:
    """Drop decided rows once they are most of the buffer, so the queue does not grow forever."""
    head = state.queue_head
    if head > 1024 and head > state.queue.size // 2:
        for name, column in state.queue.columns.items():
            column[: state.queue.size - head] = column[head : state.queue.size].copy()
        state.queue.size -= head
        state.queue_head = 0
