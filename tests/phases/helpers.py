"""Shared pieces of the per-phase tests: small worlds, hand-made states, and the reference
rules written as plain per-person Python loops.

Nothing here calls the code under test to compute an expected value: the loops below are
written from the phase modules' docstrings and docs/model.md, person by person, with Python
floats, so that a disagreement with the vectorized phases points at a bug in one of them.
"""

from __future__ import annotations

import copy
import math

import numpy as np

import credsim
from credsim.engines.reference.phases.observe import Observations
from credsim.state import FREE, LISTED, NOTICE, NOT_DETAINED, State, initial_state
from credsim.tally import Tally
from credsim.engines.reference.phases.record import COUNTERS
from credsim.world import World, build_world

BEHAVIOURS = (
    "bad_driving",
    "debt_default",
    "fraud",
    "video_games",
    "alcohol",
    "nappies",
    "volunteering",
    "blood_donation",
    "religious_practice",
    "online_criticism",
)

# A few dozen people in two groups of useful size (the city's 90/10 split would leave only
# four people in the minority).
SMALL = (
    "population.size=40",
    "population.days=60",
    "population.groups.majority.share=0.6",
    "population.groups.minority.share=0.4",
)


def scenario(*overrides: str, base: tuple[str, ...] = SMALL):
    return credsim.load_scenario("city", overrides=[*base, *overrides])


def make_world(*overrides: str, seed: int = 0, base: tuple[str, ...] = SMALL) -> World:
    return build_world(scenario(*overrides, base=base), np.random.default_rng(seed))


def only(*kept: str) -> list[str]:
    """Overrides that set every behaviour's rate to 0 except ``kept`` (a zero rate is skipped)."""
    return [f"behaviours.{b}.rate={{majority = 0.0, minority = 0.0}}" for b in BEHAVIOURS if b not in kept]


def rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def tally(world: World) -> Tally:
    return Tally(COUNTERS, world.n_groups)


def clone(state: State) -> State:
    return copy.deepcopy(state)


def bidx(world: World, name: str) -> int:
    return list(world.scenario.behaviours).index(name)


def group_of(world: World, i: int) -> int:
    return int(world.group[i])


def contacts(world: World, i: int) -> list[int]:
    """Person i's contacts, a duplicate tie listed twice (it counts twice)."""
    return [int(c) for c in world.network.indices[world.network.indptr[i] : world.network.indptr[i + 1]]]


def observations(person, behaviour, true, informant=(), informant_true=()) -> Observations:
    return Observations(
        person=np.asarray(person, np.int32),
        behaviour=np.asarray(behaviour, np.int16),
        true=np.asarray(true, bool),
        informant=np.asarray(informant, np.int32),
        informant_true=np.asarray(informant_true, bool),
    )


NO_OBS = observations([], [], [])


# ----------------------------------------------------------------- reference rules


def ref_visibility(world: World, state: State, i: int, day: int) -> float:
    """adapt's rule: a detained person is fully visible; a listed one fully when shaming is on,
    ``unshamed_visibility`` otherwise; anyone else not at all."""
    if int(state.detained_until[i]) > day:
        return 1.0
    if int(state.status[i]) == LISTED:
        if world.scenario.sanctions.shaming.enabled:
            return 1.0
        return float(world.scenario.adaptation.unshamed_visibility)
    return 0.0


def ref_exposure(world: World, state: State, day: int) -> list[float]:
    """Each person's sum of their contacts' visibility, by a loop over the network."""
    vis = [ref_visibility(world, state, j, day) for j in range(world.n_agents)]
    return [sum(vis[c] for c in contacts(world, i)) for i in range(world.n_agents)]


def recount(world: World, state: State, day: int) -> dict[str, list[int]]:
    """Per-group counts from the per-person arrays, as they should stand at the end of ``day``."""
    g = world.n_groups
    out = {"n_notice": [0] * g, "n_listed": [0] * g, "n_detained": [0] * g, "n_pending": [0] * g}
    for i in range(world.n_agents):
        k = group_of(world, i)
        if state.status[i] == NOTICE:
            out["n_notice"][k] += 1
        if state.status[i] == LISTED:
            out["n_listed"][k] += 1
        if state.detained_until[i] > day:
            out["n_detained"][k] += 1
        if state.case_open[i]:
            out["n_pending"][k] += 1
    return out


def assert_counters_match(world: World, state: State, day: int) -> None:
    expected = recount(world, state, day)
    for name, values in expected.items():
        assert list(getattr(state, name)) == values, (name, list(getattr(state, name)), values)


def arrange(
    world: World,
    state: State,
    day: int,
    status,
    status_day,
    case_class=None,
    case_open=None,
    filed=None,
    detained_until=None,
) -> State:
    """Put ``state`` consistently into a hand-made situation, as at the end of day ``day - 1``:
    each notice or listing gets its own case id, each listing an open episode row starting on
    its ``status_day``, each open case a queue row filed on ``filed``; counters are recounted."""
    n = world.n_agents
    state.status[:] = np.asarray(status, np.int8)
    state.status_day[:] = np.asarray(status_day, np.int32)
    state.case_class[:] = 0 if case_class is None else np.asarray(case_class, np.int8)
    state.case_open[:] = False if case_open is None else np.asarray(case_open, bool)
    if detained_until is not None:
        state.detained_until[:] = np.asarray(detained_until, np.int32)
    state.case_id[:] = -1
    state.episode[:] = -1
    for i in range(n):
        if state.status[i] != FREE:
            state.case_id[i] = state.next_case_id
            state.next_case_id += 1
        else:
            state.case_open[i] = False
        if state.status[i] == LISTED:
            state.ever_listed[i] = True
            (row,) = state.episodes.append(
                person=np.array([i]), start=np.array([state.status_day[i]]), end=np.array([-1]),
                cls=np.array([state.case_class[i]]), exit=np.array([-1]),
            )
            state.episode[i] = row
    open_people = [i for i in range(n) if state.case_open[i]]
    if open_people:
        when = [int(filed[i]) if filed is not None else day - 1 for i in open_people]
        order = sorted(range(len(open_people)), key=lambda k: (when[k], open_people[k]))
        state.queue.append(
            person=np.array([open_people[k] for k in order]),
            case=np.array([state.case_id[open_people[k]] for k in order]),
            filed=np.array([when[k] for k in order]),
        )
    counts = recount(world, state, day - 1)
    for name, values in counts.items():
        getattr(state, name)[:] = values
    return state


def new_state(world: World) -> State:
    return initial_state(world)


def poisson_tolerance(mean: float, sigmas: float = 5.0) -> float:
    """A Poisson count's allowed deviation: ``sigmas`` standard errors, plus 1 for discreteness."""
    return sigmas * math.sqrt(mean) + 1.0


def binomial_tolerance(n: float, p: float, sigmas: float = 5.0) -> float:
    return sigmas * math.sqrt(n * p * (1.0 - p)) + 1.0


def chi_square_bound(k: int, sigmas: float = 5.0) -> float:
    """An upper bound for a chi-square statistic with ``k`` degrees of freedom: mean k, sd
    sqrt(2k); ``sigmas`` standard deviations above the mean."""
    return k + sigmas * math.sqrt(2.0 * k)


__all__ = [
    "BEHAVIOURS", "FREE", "LISTED", "NOTICE", "NOT_DETAINED", "NO_OBS", "SMALL", "arrange", "assert_counters_match",
    "bidx", "binomial_tolerance", "chi_square_bound", "clone", "contacts", "group_of", "make_world", "new_state",
    "observations", "only", "poisson_tolerance", "recount", "ref_exposure", "ref_visibility", "rng", "scenario", "tally",
]
