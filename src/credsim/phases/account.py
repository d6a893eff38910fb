"""What two feedback mechanisms change today, counted for summary.json's ``mechanisms``.

Read at the start of the day, before behave, from the state as behave and score use it:

- ``poverty_events``: the events poverty feedback adds (or removes) today, expected: over the
  people off their base income and not detained, ``rate * region multiplier * propensity *
  |m - 1|`` with
  ``m = (base / income) ** poverty_elasticity`` (income counted at least ``base /
  POVERTY_CAP``, as behave does), per group. Only the people the sanction phase keeps off
  base are read (the fast path's ``paid``; a scan finds the same sorted set).
- ``association_points``: the score points guilt by association takes today (before
  clipping): ``penalty * visibility * degree`` summed over the visible listed and detained
  people, counted in their own group (each of their contacts loses ``penalty * visibility``).
"""

from __future__ import annotations

import numpy as np

from credsim.kernels import sorted_union
from credsim.state import State
from credsim.tally import Tally
from credsim.world import POVERTY_CAP, World


def account(world: World, state: State, day: int, tally: Tally) -> None:
    _poverty(world, state, day, tally)
    _association(world, state, tally)


def _poverty(world: World, state: State, day: int, tally: Tally) -> None:
    rows = np.flatnonzero(world.poverty_elasticity != 0)
    if len(rows) == 0:
        return
    people = state.paid if state.fast else np.flatnonzero(state.income != world.base_income).astype(np.int32)
    people = people[state.detained_until[people] <= day]
    if len(people) == 0:
        return
    group = world.groups_of(people)
    base = world.base_income[people].astype(np.float64)
    ratio = base / np.maximum(state.income[people].astype(np.float64), base / POVERTY_CAP)
    moved = np.zeros(len(people))
    for b in rows:
        moved += world.rate[b, group] * world.region_factor(b, people) * world.propensity_of(b, people) * np.abs(ratio ** world.poverty_elasticity[b] - 1.0)
    tally.add("poverty_events", np.bincount(group, weights=moved, minlength=world.n_groups))


def _association(world: World, state: State, tally: Tally) -> None:
    rule = world.scenario.score.association
    if not rule.enabled or rule.penalty <= 0:
        return
    if state.fast:  # everyone visible is listed or detained: the kept sets hold them
        people = sorted_union(state.listed, state.detained_people)
        people = people[state.shown[people] > 0]
    else:
        people = np.flatnonzero(state.shown > 0).astype(np.int32)
    if len(people) == 0:
        return
    weight = rule.penalty * state.shown[people].astype(np.float64) * world.degree[people].astype(np.float64)
    tally.add("association_points", np.bincount(world.groups_of(people), weights=weight, minlength=world.n_groups))
