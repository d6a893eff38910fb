"""One day of the model: the eight phases of docs/model.md, in order.

Beside them the day keeps its accounts (what each mechanism did, for summary.json's
``mechanisms``): :func:`credsim.engines.reference.phases.account.account` notes what guilt by association
will take before score reads the state, and the day's events and observations are counted
per behaviour. Accounts change nothing in the state.

Randomness is an argument: each phase that draws gets its own generator, seeded from the
run's seed, the day and the phase, so a day's draws depend on nothing drawn before it: the
state at the start of a day and the seed determine the day.
"""

from __future__ import annotations

import numpy as np

from credsim.engines.reference.phases import Recorder, adapt, appeal, behave, listing, observe, sanction, score
from credsim.engines.reference.phases.account import account
from credsim.engines.reference.phases.record import COUNTERS
from credsim.seeds import generator
from credsim.state import State
from credsim.tally import Tally
from credsim.world import World

PHASE_STREAMS = ("behave", "observe", "list", "appeal", "sanction")


def day_streams(seed: int, day: int) -> dict[str, np.random.Generator]:
    """One generator per drawing phase of ``day``: ``PCG64(SeedSequence(seed, spawn_key=(1, day, k)))``
    (seeded by :mod:`credsim.seeds`, which gives the same numbers in a third of the time)."""
    return {name: generator(seed, (1, day, k)) for k, name in enumerate(PHASE_STREAMS)}


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
