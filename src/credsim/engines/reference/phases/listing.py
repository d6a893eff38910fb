"""Phase 4, list: notice, objection, listing and exit.

In this order each day:
1. listings end by term: at least ``min_days`` listed and ``score >= exit_threshold``;
2. notices that have lasted ``notice_days`` become listings (an objection still waiting in
   the queue does not stop it: the listing stays in force during review);
3. free people go on notice when ``score < threshold``, or at once after an observation of
   an ``immediate`` behaviour (true or not: the system cannot tell). With ``notice_days = 0``
   the notice becomes a listing the same day.

A case is classified when it begins: **wrongful** if the clean track would not have
triggered it (``score_clean >= threshold`` and no true immediate event), else **unjust** if
the fair track would not have (``score_fair >= threshold`` and no true immediate event of an
unprotected behaviour), else **rules**. A listing episode keeps its notice's class.

On notice a person objects with probability ``p_wrongful`` (wrongful cases) or
``p_rightful`` (others), times the group's ``access`` to legal help, capped at 1; the
objection joins the appeal queue. With ``appeal.enabled = false`` there is no queue to hear
objections, and none are filed.
"""

from __future__ import annotations

import numpy as np

from credsim.kernels import inserted, sorted_union, without
from credsim.state import (
    BY_IMMEDIATE,
    BY_THRESHOLD,
    CLASS_NAMES,
    EXIT_APPEAL,
    EXIT_TERM,
    FREE,
    LISTED,
    NOTICE,
    RULES,
    UNJUST,
    WRONGFUL,
    State,
    case_term,
    cases_and_status,
)
from credsim.engines.reference.phases.observe import Observations
from credsim.tally import Tally
from credsim.world import World


def listing(world: World, state: State, obs: Observations, day: int, rng: np.random.Generator, tally: Tally) -> None:
    rules = world.scenario.listing
    if not rules.enabled:
        return
    cases, status = cases_and_status(state)
    listed = cases[status == LISTED]
    # A case keeps the terms it opened under (case_term): the timeline's changes are for new ones
    due = listed[day - state.status_day[listed] >= case_term(world, state, listed, "min_days", rules)]  # only their scores are read
    ended = due[state.score[due] >= case_term(world, state, due, "exit_threshold", rules)]
    end_case(world, state, ended, day, EXIT_TERM, tally)

    on_notice = cases[status == NOTICE]  # ending a listing put nobody on notice
    waited = day - state.status_day[on_notice] >= case_term(world, state, on_notice, "notice_days", rules)
    start_listing(world, state, on_notice[waited], day, tally)

    new = _open_notices(world, state, obs, day, rng, tally, ended)
    if rules.notice_days == 0:
        start_listing(world, state, new, day, tally)
    if state.fast:  # of today's cases, only those that ended are closed
        still = np.ones(len(cases), bool)
        still[np.searchsorted(cases, ended)] = False
        state.cases = sorted_union(cases[still], new)


def _open_notices(world: World, state: State, obs: Observations, day: int, rng: np.random.Generator, tally: Tally, ended: np.ndarray) -> np.ndarray:
    rules = world.scenario.listing
    if state.fast:
        # Only today's score sweep, or a listing ended today, can leave someone free and low.
        maybe = sorted_union(state.below, ended)
        low = maybe[(state.score[maybe] < rules.threshold) & (state.status[maybe] == FREE)]
    else:
        low = np.flatnonzero((state.score < rules.threshold) & (state.status == FREE))
    immediate = world.immediate[obs.behaviour]
    struck = obs.person[immediate]
    new = np.union1d(low, struck[state.status[struck] == FREE]).astype(np.int64)
    if len(new) == 0:
        return new

    # Which of them a clean or a fair record would also have caught by an immediate event.
    true_strike = obs.person[immediate & obs.true]
    fair_strike = obs.person[immediate & obs.true & ~world.protected[obs.behaviour]]
    clean_caught = (state.score_clean[new] < rules.threshold) | np.isin(new, true_strike)
    fair_caught = (state.score_fair[new] < rules.threshold) | np.isin(new, fair_strike)
    cls = np.where(~clean_caught, WRONGFUL, np.where(~fair_caught, UNJUST, RULES)).astype(np.int8)

    state.status[new] = NOTICE
    state.status_day[new] = day
    state.case_class[new] = cls
    # Its cause, for the accounts of summary.json: the score rule when the score alone was low.
    state.case_cause[new] = np.where(np.isin(new, low), BY_THRESHOLD, BY_IMMEDIATE)
    state.case_id[new] = np.arange(state.next_case_id, state.next_case_id + len(new), dtype=np.int32)
    if world.terms is not None:
        state.terms[new] = world.regime
    state.next_case_id += len(new)
    group = world.group[new]
    state.n_notice += np.bincount(group, minlength=world.n_groups)
    tally.count("notices", group)

    objection = rules.objection
    if objection.enabled and world.scenario.appeal.enabled:  # no queue, no one to hear them
        p = np.where(cls == WRONGFUL, objection.p_wrongful, objection.p_rightful) * world.access[group]
        file_case(world, state, new[rng.random(len(new)) < np.minimum(p, 1.0)], day, tally, "objections_filed")
    return new


def start_listing(world: World, state: State, who: np.ndarray, day: int, tally: Tally) -> None:
    if len(who) == 0:
        return
    group = world.group[who]
    state.status[who] = LISTED
    state.status_day[who] = day
    state.ever_listed[who] = True
    if state.fast:
        state.listed = inserted(state.listed, np.sort(who))
    rows = state.episodes.append(
        person=who, start=np.full(len(who), day), end=np.full(len(who), -1), cls=state.case_class[who], exit=np.full(len(who), -1)
    )
    state.episode[who] = rows
    counts = np.bincount(group, minlength=world.n_groups)
    state.n_notice -= counts
    state.n_listed += counts
    for c, name in enumerate(CLASS_NAMES):
        tally.count(f"listings_{name}", group[state.case_class[who] == c])
    cause = state.case_cause[who]
    tally.count("listings_threshold", group[cause == BY_THRESHOLD])
    tally.count("listings_immediate", group[cause == BY_IMMEDIATE])
    state.changed.append(who)


def end_case(world: World, state: State, who: np.ndarray, day: int, exit_cause: int, tally: Tally) -> None:
    """End the notices and listings of ``who`` (an upheld case, or a listing that ran out)."""
    if len(who) == 0:
        return
    group = world.group[who]
    was_listed = state.status[who] == LISTED
    if state.fast:
        state.listed = without(state.listed, np.sort(who[was_listed]))
    rows = state.episode[who[was_listed]]
    state.episodes.columns["end"][rows] = day
    state.episodes.columns["exit"][rows] = exit_cause
    state.n_listed -= np.bincount(group[was_listed], minlength=world.n_groups)
    state.n_notice -= np.bincount(group[~was_listed], minlength=world.n_groups)
    state.n_pending -= np.bincount(group[state.case_open[who]], minlength=world.n_groups)
    state.status[who] = FREE
    state.case_id[who] = -1
    state.episode[who] = -1
    state.case_open[who] = False
    name = "exits_term" if exit_cause == EXIT_TERM else "exits_appeal"
    tally.count(name, group[was_listed])
    if exit_cause == EXIT_APPEAL:
        tally.count("objections_upheld", group[~was_listed])
    state.changed.append(who)


def file_case(world: World, state: State, who: np.ndarray, day: int, tally: Tally, counter: str) -> None:
    """Put the cases of ``who`` at the back of the appeal queue."""
    if len(who) == 0:
        return
    state.queue.append(person=who, case=state.case_id[who], filed=np.full(len(who), day))
    state.case_open[who] = True
    group = world.group[who]
    state.n_pending += np.bincount(group, minlength=world.n_groups)
    tally.count(counter, group)
