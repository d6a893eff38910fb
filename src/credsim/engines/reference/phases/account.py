"""What guilt by association takes today, counted for summary.json's ``mechanisms``.

Read at the start of the day, before score, from the state as score uses it. (Poverty
feedback's count, ``poverty_events``, is made by behave from the values it reads anyway:
:attr:`credsim.engines.reference.phases.behave.Events.poverty_moved`. It is defined here:)

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
from credsim.world import World


def account(world: World, state: State, day: int, tally: Tally) -> None:
    _association(world, state, tally)


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
    weight = rule.penalty * state.shown[people].astype(np.float64) * world.network.degree_of(people).astype(np.float64)
    tally.add("association_points", np.bincount(world.groups_of(people), weights=weight, minlength=world.n_groups))
