"""One day of the event engine: the phases of docs/model.md, in order.

The phases are the reference engine's (:mod:`credsim.engines.reference.phases`), with
random numbers drawn from counter-based Philox generators keyed by (seed, day, phase) --
see :mod:`credsim.engines.event.streams` for what that guarantees.
"""

from __future__ import annotations

import numpy as np

from credsim.engines.event.streams import RANDOM_NUMBERS, day_streams
from credsim.engines.reference.phases import Recorder, adapt, appeal, behave, listing, observe, sanction, score
from credsim.engines.reference.phases.account import account
from credsim.engines.reference.phases.record import COUNTERS
from credsim.state import State
from credsim.tally import Tally
from credsim.world import World

__all__ = ["RANDOM_NUMBERS", "step"]


def step(world: World, state: State, day: int, seed: int, recorder: Recorder) -> None:
    rng = day_streams(seed, day)
    tally = Tally(COUNTERS, world.n_groups, world.n_behaviours)

    account(world, state, day, tally)  # what guilt by association will take today
    events = behave(world, state, day, rng["behave"])
    tally.add("poverty_events", events.poverty_moved)
    tally.count_behaviours("events", events.behaviour)
    seen = observe(world, state, events, day, rng["observe"], tally)
    tally.count_behaviours("observations", seen.behaviour)
    score(world, state, seen)
    listing(world, state, seen, day, rng["list"], tally)
    appeal(world, state, day, rng["appeal"], tally)
    sanction(world, state, seen, day, rng["sanction"], tally)
    adapt(world, state, day)
    recorder.record(world, state, day, tally)
