"""Running a scenario: build the world, step through the days, gather the results.

``simulate(scenario, seed)`` is the whole library API of a run; the command line only wraps
it. A run is fully determined by its scenario (which names its engine, ``[engine] name``)
and seed: the population is drawn from ``SeedSequence(seed, spawn_key=(0,))`` whatever the
engine, and each day by the engine from its own random numbers (:mod:`credsim.engines`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from credsim import __version__
from credsim.changes import Schedule, around_changes
from credsim.checkpoint import Checkpoints
from credsim.engines import engine as engine_named
from credsim.mechanisms import mechanisms
from credsim.metrics import summarize
from credsim.engines.reference.phases.record import COUNT_LEVELS, COUNTERS, MEASURES, Recorder
from credsim.resources import check_memory
from credsim.scenario.schema import Scenario
from credsim.state import CLASS_NAMES, EXIT_CENSORED, EXIT_NAMES, State
from credsim.world import World, build_world

Progress = Callable[[int, int], None]


@dataclass
class RunResult:
    """Everything a run produced. Tables are pyarrow; ``summary`` is plain JSON-able data."""

    scenario: Scenario
    seed: int
    daily: pa.Table  # one row per day and group
    regions: pa.Table  # one row per day and region
    episodes: pa.Table  # one row per listing episode
    summary: dict
    world: World
    state: State


def simulate(
    scenario: Scenario,
    seed: int = 0,
    progress: Progress | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    engine: str | None = None,
) -> RunResult:
    """Run ``scenario`` with ``seed``; ``progress(days_done, days)`` is called after each day.

    ``engine`` ("reference" or "event", :mod:`credsim.engines`) replaces the scenario's
    ``[engine] name``; the run's scenario records the engine that ran it.

    With ``checkpoint_dir``, the run is saved there every ``checkpoint_every`` days (0: never;
    default: by the clock, about once a minute and at most 5% of the run's time) and
    :func:`credsim.resume` can continue it (see :mod:`credsim.checkpoint`)."""
    if engine is not None:
        scenario = with_engine(scenario, engine)
    checkpoints = Checkpoints(checkpoint_dir, scenario, seed, checkpoint_every) if checkpoint_dir is not None else None
    return run_from(scenario, seed, progress, checkpoints)


def run_from(scenario: Scenario, seed: int, progress: Progress | None, checkpoints: Checkpoints | None) -> RunResult:
    """The run; ``checkpoints`` saves it as it goes, and may hold the day to start from."""
    check_memory(scenario)
    runner = engine_named(scenario.engine.name)
    setup = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    world = build_world(scenario, setup)
    state = runner.initial_state(world)
    days = scenario.population.days
    recorder = Recorder(world, days)
    schedule = Schedule(world)
    first = checkpoints.restore(world, state, recorder) if checkpoints is not None else 0
    if first and progress is not None:
        progress(first, days)
    if first:
        world = schedule.resume(first, recorder)
        checkpoints.check_regime(world.regime)
    for day in range(first, days):
        world = schedule.start_of(day, world, state, recorder)  # a timeline's changes, on their day
        runner.step(world, state, day, seed, recorder)
        if checkpoints is not None:
            checkpoints.after_day(world, state, recorder, day + 1)
        if progress is not None:
            progress(day + 1, days)
    daily = daily_table(world, recorder)
    regions = regions_table(recorder)
    episodes = episodes_table(world, state)
    summary = {
        "credsim_version": __version__,
        "scenario": scenario.meta.name,
        "seed": seed,
        "population": world.n_agents,
        "days": days,
        "engine": {"name": runner.name, "random_numbers": runner.random_numbers},
        **summarize(world, state, recorder, episodes),
        "timeline": around_changes(schedule, daily),
        "mechanisms": mechanisms(world, recorder),
    }
    return RunResult(scenario, seed, daily, regions, episodes, summary, world, state)


def with_engine(scenario: Scenario, name: str) -> Scenario:
    """``scenario`` run by the engine ``name``."""
    engine_named(name)  # an unknown name is a CredsimError naming the engines
    return scenario.model_copy(update={"engine": scenario.engine.model_copy(update={"name": name})})


def daily_table(world: World, recorder: Recorder) -> pa.Table:
    days, groups = recorder.days, world.scenario.group_names
    columns = {
        "day": pa.array(np.repeat(np.arange(days, dtype=np.int32), len(groups))),
        "group": pa.array(np.tile(np.array(groups, dtype=object), days)).dictionary_encode(),
    }
    for name, values in recorder.columns.items():
        kind = np.int64 if (name in COUNTERS and name not in MEASURES) or name in COUNT_LEVELS else np.float64
        columns[name] = pa.array(values.ravel().astype(kind))
    return pa.table(columns)


def regions_table(recorder: Recorder) -> pa.Table:
    days, regions = recorder.region_columns["population"].shape
    return pa.table(
        {
            "day": pa.array(np.repeat(np.arange(days, dtype=np.int32), regions)),
            "region": pa.array(np.tile(np.arange(regions, dtype=np.int32), days)),
            "population": pa.array(recorder.region_columns["population"].ravel().astype(np.int64)),
            "camera_intensity": pa.array(recorder.region_columns["camera_intensity"].ravel()),
            "detections": pa.array(recorder.region_columns["detections"].ravel().astype(np.int64)),
        }
    )


def episodes_table(world: World, state: State) -> pa.Table:
    log = state.episodes
    person = log["person"]
    end = log["end"]
    exit_cause = np.where(end < 0, EXIT_CENSORED, log["exit"])
    groups = np.array(world.scenario.group_names, dtype=object)
    return pa.table(
        {
            "person": pa.array(person.astype(np.int32)),
            "group": pa.array(groups[world.group[person]]).dictionary_encode() if len(person) else pa.array([], pa.string()).dictionary_encode(),
            "region": pa.array(world.region[person].astype(np.int32)),
            "start_day": pa.array(log["start"].astype(np.int32)),
            "end_day": pa.array(end.astype(np.int32), mask=end < 0),
            "class": pa.array(np.array(CLASS_NAMES, dtype=object)[log["cls"]].tolist(), pa.string()),
            "exit": pa.array(np.array(EXIT_NAMES, dtype=object)[exit_cause].tolist(), pa.string()),
        }
    )
