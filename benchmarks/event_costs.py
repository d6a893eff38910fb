"""What the event engine's day costs, part by part: the figures of docs/performance.md's
"The event engine" section.

    python benchmarks/event_costs.py parts 3000000          # behave per candidate; bookkeeping per person
    python benchmarks/event_costs.py phases 10000000 365    # both engines' days, phase by phase
    python benchmarks/event_costs.py profile 1000000 365    # cProfile of a run's days, heaviest first
    python benchmarks/event_costs.py memory 10000000 365    # resident memory a person, as the run goes

``parts`` times, at PEOPLE people of ``city`` (medians of 5, after a warm-up):

- behave's draw of all its units on one thread, per expected candidate (the thinning
  walk's candidates: rate x largest propensity x people), beside the reference engine's
  behave on the same state (both cores);
- taking 33,000 people scattered over the population out of the sums (``unregister``) and
  putting them back with their next crossing (``register``), per person;
- sanction's incomes, the reference engine's step against the event engine's, with the
  sets of people as ``city`` has them at the end of a year (and the union of those sets,
  merged smallest first and largest first); then behave's reading of what
  the multipliers of the listed depend on (``_values_of``), per person.

``phases`` runs DAYS days of ``city`` (``--scenario``) on both engines, the same world and
seed, interleaved ten days at a time (on a shared machine absolute times move with load;
their ratio much less), and prints each engine's wall-clock milliseconds a day, in all and
per phase, over days 1 to DAYS - 1 (day 0 builds and compiles); then how many people are
listed and off their base income on the last day.

``memory`` runs DAYS days of ``city`` (``--scenario``) on the event engine (``--engine
reference`` for the other) and prints the resident memory above the baseline after the
imports, in bytes a person, after the world's build, the state's, day 0 and a few later
days: where a run's peak is reached, and what the allocator keeps (``--traced``: also the
NumPy arrays allocated after day 1 and still live, which the rest of the growth is not;
``--trim``: memory the allocator keeps is given back after every day).

``profile`` runs DAYS days of ``city`` (``--scenario``) on the event engine under cProfile (``--engine
reference`` for the other) and prints the 20 functions with the most time of their own.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import collections
import functools
import importlib
import pstats
import statistics
import sys
import time
import tracemalloc

import numpy as np

import credsim
from credsim.engines import engine
from credsim.engines.event.lazy import build, register, unregister
from credsim.engines.event.philox import key
from credsim.engines.reference.phases.record import COUNTERS, Recorder
from credsim.engines.reference.step import day_streams
from credsim.errors import CredsimError
from credsim.kernels import _merge, sorted_union
from credsim.resources import give_back_free_memory
from credsim.state import LISTED
from credsim.tally import Tally
from credsim.world import POVERTY_CAP, build_world

event_behave = importlib.import_module("credsim.engines.event.behave")
event_pay = importlib.import_module("credsim.engines.event.pay")
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
        state.risk, state.rstamp, state.target, state.params, disturbed,
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
    _pay_costs(world, state)


def _pay_costs(world, state) -> None:
    """Sanction's incomes, the reference engine's step against the event engine's, with the
    sets of people as ``city`` has them at the end of a year (listed 1.5%, off base income
    7.3%, detained 0.02%, rewarded 1.2%), interleaved; each timing includes a copy of the
    incomes (the step writes them)."""
    rng, n = np.random.default_rng(8), world.n_agents
    pick = lambda share: np.sort(rng.choice(n, int(share * n), replace=False)).astype(np.int32)  # noqa: E731
    state.listed = pick(0.015)
    state.status[state.listed] = LISTED
    state.paid = pick(0.073)
    state.income[state.paid] = world.base_income[state.paid] * np.float32(0.8)
    state.detained_people = pick(0.0002)
    state.detained_until[state.detained_people] = 100
    state.above = pick(0.012)
    state.score[state.above] = np.float32(world.scenario.sanctions.green_channel.threshold + 50)
    sets = (state.paid, state.listed, state.detained_people, state.above)
    who = len(sorted_union(*sets))
    # the union of those sets, merged smallest first (sorted_union) and largest first (as it did before)
    smallest = _median_seconds(lambda: sorted_union(*sets))
    largest = _median_seconds(lambda: functools.reduce(_merge, sets))
    print(f"union of {who:,} people: {smallest * 1e3:.1f} ms merging the smallest sets first, {largest * 1e3:.1f} the largest")
    steps = {"reference": importlib.import_module("credsim.engines.reference.phases.sanction")._pay, "event": event_pay.pay}
    spent = {name: [] for name in steps}
    for _ in range(6):
        for name, step in steps.items():
            mine = copy.copy(state)
            start = time.perf_counter()
            mine.income = state.income.copy()
            step(world, mine, mine.listed, 40, Tally(COUNTERS, world.n_groups, world.n_behaviours))
            spent[name].append(time.perf_counter() - start)
    ref, event = (statistics.median(spent[name][1:]) for name in steps)
    print(f"incomes of {who:,} people: reference {ref * 1e3:.1f} ms (one core), event {event * 1e3:.1f} ms (both cores)")
    # what behave reads of the disturbed (here the listed), each with a perceived risk to bring forward
    state.risk[state.listed] = rng.uniform(0.2, 2.0, len(state.listed)).astype(np.float32)
    state.target[state.listed] = rng.uniform(0.0, 1.0, len(state.listed)).astype(np.float32)
    state.rstamp[state.listed] = rng.integers(0, 39, len(state.listed)).astype(np.int32)
    arguments = (state.listed, 40, world.base_income, state.income, state.status, LISTED, state.detained_until,
                 state.risk, state.rstamp, state.target, state.params)
    read = _median_seconds(lambda: event_behave._values_of(*arguments))
    print(f"values of {len(state.listed):,} disturbed people, one core: {read / len(state.listed) * 1e9:.0f} ns a person")


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


def memory(people: int, days: int, name: str, scenario: str, traced: bool = False, trim: bool = False) -> None:
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from measure import current_rss_bytes, peak_rss_bytes

    baseline = current_rss_bytes()

    def show(when: str) -> None:
        traced = f", {tracemalloc.get_traced_memory()[0] / people:5.1f} allocated since day 1 and live" if tracemalloc.is_tracing() else ""
        print(f"  {when:>10s}: {(current_rss_bytes() - baseline) / people:6.1f} now, {(peak_rss_bytes() - baseline) / people:6.1f} peak{traced}")

    print(f"{scenario} on the {name} engine, {people:,} people: resident bytes a person above the baseline")
    world = _world(people, days, scenario)
    show("world")
    runner = engine(name)
    state, recorder = runner.initial_state(world), Recorder(world, days)
    show("state")
    for day in range(days):
        runner.step(world, state, day, 1, recorder)
        if trim:
            give_back_free_memory()
        if day in (0, 1, 30, 100, 200, days - 1):
            show(f"day {day}")
        if day == 1 and traced:
            tracemalloc.start()  # NumPy's arrays from here on (not those Numba's kernels make)


STEP_PHASES = ("account", "behave", "observe", "score", "listing", "appeal", "rescore", "sanction", "adapt")


def phases(people: int, days: int, scenario: str) -> None:
    spent = {name: collections.Counter() for name in ("reference", "event")}
    runs = {}
    for name in spent:
        runner = engine(name)
        step = sys.modules[f"credsim.engines.{name}.step"]
        for phase in STEP_PHASES:  # each phase the step calls, timed where the step looks it up
            if hasattr(step, phase):
                setattr(step, phase, _timed(getattr(step, phase), spent[name], phase))
        world = _world(people, days, scenario)
        state, recorder = runner.initial_state(world), Recorder(world, days)
        recorder.record = _timed(recorder.record, spent[name], "record")
        runner.step(world, state, 0, 1, recorder)
        runs[name] = (runner, world, state, recorder)
        spent[name].clear()
    total = collections.Counter()
    for first in range(1, days, 10):
        for name, (runner, world, state, recorder) in runs.items():
            start = time.perf_counter()
            for day in range(first, min(days, first + 10)):
                runner.step(world, state, day, 1, recorder)
            total[name] += time.perf_counter() - start
    print(f"{scenario}, {people:,} people, days 1-{days - 1}: ms a day (wall clock)")
    print(f"  {'phase':9s} {'reference':>10s} {'event':>10s}")
    for phase in ("total", *STEP_PHASES, "record"):
        cells = [total[name] if phase == "total" else spent[name].get(phase) for name in spent]
        if any(c is not None for c in cells):
            print(f"  {phase:9s} " + " ".join(f"{1e3 * c / (days - 1):10.2f}" if c is not None else f"{'':10s}" for c in cells))
    print(f"  event / reference throughput: {total['reference'] / total['event']:.2f}")
    state = runs["event"][2]
    print(f"  on the last day (event engine): {state.n_listed.sum():,} listed, {len(state.paid):,} off their base income")


def _timed(call, spent: collections.Counter, name: str):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        value = call(*args, **kwargs)
        spent[name] += time.perf_counter() - start
        return value

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["parts", "phases", "profile", "memory"])
    parser.add_argument("people", type=int)
    parser.add_argument("days", type=int, nargs="?", default=365)
    parser.add_argument("--engine", default="event", choices=["event", "reference"])
    parser.add_argument("--scenario", default="city", help="phases, profile, memory: a built-in scenario or a TOML file")
    parser.add_argument("--traced", action="store_true", help="memory: also the NumPy arrays allocated after day 1 and still live (tracemalloc)")
    parser.add_argument("--trim", action="store_true", help="memory: give freed memory back to the system after every day (malloc_trim)")
    args = parser.parse_args()
    if args.what in ("phases", "profile") and args.days < 2:
        parser.error(f"DAYS: {args.what} times days 1 to DAYS - 1, so DAYS must be at least 2, not {args.days}")
    try:
        days = 30 if args.what == "parts" else args.days  # parts runs 30 days of city
        credsim.load_scenario("city" if args.what == "parts" else args.scenario, [f"population.size={args.people}", f"population.days={days}"])
    except CredsimError as error:  # PEOPLE or DAYS out of range, or a scenario that does not load: one line each
        parser.error(str(error))
    if args.what == "parts":
        parts(args.people)
    elif args.what == "phases":
        phases(args.people, args.days, args.scenario)
    elif args.what == "memory":
        memory(args.people, args.days, args.engine, args.scenario, args.traced, args.trim)
    else:
        profile(args.people, args.days, args.engine, args.scenario)


if __name__ == "__main__":
    main()
