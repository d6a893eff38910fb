"""What the event engine's day costs, part by part: the figures of docs/performance.md's
"The event engine" section.

    python benchmarks/event_costs.py parts 3000000          # behave per candidate; bookkeeping per person
    python benchmarks/event_costs.py profile 1000000 365    # cProfile of a run's days, heaviest first

``parts`` times, at PEOPLE people of ``city`` (medians of 5, after a warm-up):

- behave's draw of all its units on one thread, per expected candidate (the thinning
  walk's candidates: rate x largest propensity x people), beside the reference engine's
  behave on the same state (both cores);
- taking 33,000 people scattered over the population out of the sums (``unregister``) and
  putting them back with their next crossing (``register``), per person.

``profile`` runs DAYS days of ``city`` (``--scenario``) on the event engine under cProfile (``--engine
reference`` for the other) and prints the 20 functions with the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import statistics
import time

import numpy as np

import credsim
from credsim.engines import engine
from credsim.engines.event.lazy import RISK_KEEP, build, register, unregister
from credsim.engines.event.philox import key
from credsim.engines.reference.phases.record import Recorder
from credsim.engines.reference.step import day_streams
from credsim.state import LISTED
from credsim.world import POVERTY_CAP, build_world

event_behave = importlib.import_module("credsim.engines.event.behave")
reference_behave = importlib.import_module("credsim.engines.reference.phases.behave")


def _world(people: int, days: int, scenario: str = "city"):
    scenario = credsim.load_scenario(scenario, [f"population.size={people}", f"population.days={days}"])
    return build_world(scenario, np.random.Generator(np.random.PCG64(np.random.SeedSequence(1, spawn_key=(0,)))))


def _median_seconds(f, repeats: int = 5) -> float:
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parts(people: int) -> None:
    world = _world(people, 30)
    state = engine("event").initial_state(world)
    build(world, state, 0)
    plan = event_behave._plan(world)
    candidates = float((plan.peak * np.diff(world.layout.group_start)).sum())
    coded = world.propensity_code is not None
    disturbed, _ = event_behave._disturbed(world, state, plan, 5)
    arrays = (
        world.rate, plan.peak, world.propensity_code if coded else np.zeros((world.n_behaviours, 1), np.uint8),
        world.propensity_level, coded, world.region_rate, world.regional, world.layout.cell_bounds, world.layout.n_regions,
        world.poverty_elasticity, plan.strength, world.listed_multiplier, world.bernoulli, POVERTY_CAP,
        state.income, world.base_income, state.status, LISTED, state.detained_until, 5,
        state.risk, state.rstamp, state.target, state.params[RISK_KEEP], disturbed,
    )
    k0, k1 = key(1, 5, event_behave.PHASE)
    serial = _median_seconds(lambda: event_behave._draw_units(plan.units, k0, k1, *arrays))
    reference = _median_seconds(lambda: reference_behave.behave(world, state, 5, day_streams(1, 5)["behave"]))
    print(f"{people:,} people, {candidates:,.0f} candidates a day")
    print(f"event behave, one thread: {serial * 1e3:.1f} ms, {serial / candidates * 1e9:.0f} ns a candidate")
    print(f"reference behave, both cores: {reference * 1e3:.1f} ms")

    touched = np.sort(np.random.default_rng(1).choice(world.n_agents, 33_000, replace=False)).astype(np.int32)
    sums = (state.free_sums, state.drift, state.held_sums)

    def take_out():
        unregister(touched, 0, 0, state.tracks, state.exposure, state.stamp, world.group, state.params, *sums)

    def put_back():
        state.heap, state.heap_size = register(touched, 0, state.tracks, state.exposure, state.stamp, state.status, state.due,
                                               world.group, state.params, *sums, state.heap, state.heap_size)

    out, back = _median_seconds(lambda: (take_out(), put_back())), _median_seconds(put_back)
    print(f"bookkeeping of {len(touched):,} people: out and back {out / len(touched) * 1e9:.0f} ns a person, "
          f"of which back {back / len(touched) * 1e9:.0f}")


def profile(people: int, days: int, name: str, scenario: str) -> None:
    world = _world(people, days, scenario)
    runner = engine(name)
    state, recorder = runner.initial_state(world), Recorder(world, days)
    runner.step(world, state, 0, 1, recorder)  # day 0 builds and compiles: not profiled
    profiler = cProfile.Profile()
    profiler.enable()
    for day in range(1, days):
        runner.step(world, state, day, 1, recorder)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["parts", "profile"])
    parser.add_argument("people", type=int)
    parser.add_argument("days", type=int, nargs="?", default=365)
    parser.add_argument("--engine", default="event", choices=["event", "reference"])
    parser.add_argument("--scenario", default="city", help="profile: a built-in scenario or a TOML file")
    args = parser.parse_args()
    if args.what == "parts":
        parts(args.people)
    else:
        profile(args.people, args.days, args.engine, args.scenario)


if __name__ == "__main__":
    main()
