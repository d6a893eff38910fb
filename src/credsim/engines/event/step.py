"""One day of the event engine: the phases of docs/model.md, in order.

The phases whose work is already proportional to what happens -- observe, list, appeal,
sanction -- are the reference engine's (:mod:`credsim.engines.reference.phases`), sanction
with the event engine's own step for incomes (:mod:`.pay`: the same rule, split across
cores, leaving what tomorrow's behave reads of the people off base income). Behave, score,
adapt and the day's accounts are the event engine's own: behave draws from numbers keyed
by block of people (:mod:`.behave`); score and adapt keep scores and perceived risk in
closed form between a person's changes, with the sums per group kept in aggregate and the
crossings in a calendar (:mod:`.lazy`); the accounts read sums kept as they change
(:mod:`.account`). At the start of day 0, and of a day a timeline changes the rules, the
sums and calendar are built again.

Random numbers: behave's from Philox4x32 keyed by (seed, day, behave) with the block, the
behaviour and group, and the draw in the counter; observe's, list's, appeal's and
sanction's from PCG64 keyed by (seed, day, phase) (:mod:`.streams`), drawn in the order
those phases draw them: over the day's events and open cases, never over everyone.
"""

from __future__ import annotations

from credsim.engines.event.account import account
from credsim.engines.event.adapt import adapt
from credsim.engines.event.behave import behave
from credsim.engines.event.lazy import build, values_at
from credsim.engines.event.pay import pay
from credsim.engines.event.score import rescore, score
from credsim.engines.event.state import EventState
from credsim.engines.event.streams import day_streams
from credsim.engines.reference.phases import Recorder, appeal, listing, observe, sanction
from credsim.engines.reference.phases.record import COUNTERS
from credsim.tally import Tally
from credsim.world import World

RANDOM_NUMBERS = "philox-block (behave), pcg64-day-phase (later phases)"


def step(world: World, state: EventState, day: int, seed: int, recorder: Recorder) -> None:
    if not state.built or state.regime != world.regime:
        build(world, state, day)  # day 0, or a timeline's change of rules
    rng = day_streams(seed, day)
    tally = Tally(COUNTERS, world.n_groups, world.n_behaviours)

    account(world, state, day, tally)  # what guilt by association will take today
    events = behave(world, state, day, seed)
    tally.add("poverty_events", events.poverty_moved)
    tally.count_behaviours("events", events.behaviour)
    seen = observe(world, state, events, day, rng["observe"], tally)
    tally.count_behaviours("observations", seen.behaviour)
    score(world, state, seen, day)
    listing(world, state, seen, day, rng["list"], tally)
    cases, before = state.cases, state.score[state.cases]  # as kept: an upheld appeal changes one
    appeal(world, state, day, rng["appeal"], tally)
    upheld = state.score[cases] != before
    rescore(world, state, cases[upheld], before[upheld], day)
    sanction(world, state, seen, day, rng["sanction"], tally, pay=pay)  # incomes chunk by chunk on every core
    adapt(world, state, day)
    recorder.record(world, state, day, tally, tracks_of=lambda members: values_at(members, day, state.tracks, state.exposure, state.stamp, state.params))
