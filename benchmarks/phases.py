"""Where a day's time goes: CPU seconds per phase, averaged over the days of a run.

    .venv/bin/python benchmarks/phases.py [PEOPLE] [DAYS] [SCENARIO]
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/phases.py 1000000 60

Times are CPU time of this process (time.process_time), which is steadier than wall-clock
time on a shared machine and adds up the threads' time, and wall-clock time.
Run it twice: the first run also compiles and caches the Numba kernels.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import credsim
from credsim.engines.reference.phases import Recorder, adapt, appeal, behave, listing, observe, sanction, score
from credsim.engines.reference.phases.record import COUNTERS
from credsim.engines.reference import FAST
from credsim.state import initial_state
from credsim.engines.reference.step import day_streams
from credsim.tally import Tally
from credsim.world import build_world


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    name = sys.argv[3] if len(sys.argv) > 3 else "city"
    scenario = credsim.load_scenario(name, [f"population.size={n}", f"population.days={days}"])
    start = time.process_time()
    world = build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(0, spawn_key=(0,)))))
    state, recorder = initial_state(world, fast=FAST), Recorder(world, days)
    print(f"{name}: {n:,} people, {days} days; build {time.process_time() - start:.2f} s CPU")
    spent = dict.fromkeys(["behave", "observe", "score", "listing", "appeal", "sanction", "adapt", "record"], 0.0)
    waited = dict.fromkeys(spent, 0.0)

    def timed(name, call):
        t, w = time.process_time(), time.perf_counter()
        value = call()
        spent[name] += time.process_time() - t
        waited[name] += time.perf_counter() - w
        return value

    for day in range(days):
        rng, tally = day_streams(0, day), Tally(COUNTERS, world.n_groups)
        events = timed("behave", lambda: behave(world, state, day, rng["behave"]))
        seen = timed("observe", lambda: observe(world, state, events, day, rng["observe"], tally))
        timed("score", lambda: score(world, state, seen))
        timed("listing", lambda: listing(world, state, seen, day, rng["list"], tally))
        timed("appeal", lambda: appeal(world, state, day, rng["appeal"], tally))
        timed("sanction", lambda: sanction(world, state, seen, day, rng["sanction"], tally))
        timed("adapt", lambda: adapt(world, state, day))
        timed("record", lambda: recorder.record(world, state, day, tally))
    total, wall = sum(spent.values()), sum(waited.values())
    print(f"  {'phase':9s} {'CPU ms/day':>10s} {'share':>6s} {'wall ms/day':>11s}")
    for phase, seconds in spent.items():
        print(f"  {phase:9s} {1000 * seconds / days:10.2f} {100 * seconds / total:5.1f}% {1000 * waited[phase] / days:11.2f}")
    print(f"  {'total':9s} {1000 * total / days:10.2f} {'':6s} {1000 * wall / days:11.2f}")
    print(f"  -> {n * days / total:.3g} person-days per CPU second, {n * days / wall:.3g} per second of wall clock")
    # How much of the population the day's work must reach, by the end of the run.
    share = lambda count: f"{100 * count / n:.2f}%"  # noqa: E731
    print(f"  at the end: listed or on notice {share(state.n_listed.sum() + state.n_notice.sum())}, off base income {share(len(state.paid))}, "
          f"detained {share(state.n_detained.sum())}, with a visible listed contact {share(np.count_nonzero(state.exposure))}, "
          f"perceived risk above 0 {share(np.count_nonzero(state.risk))}")


if __name__ == "__main__":
    main()
