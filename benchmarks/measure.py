"""One measurement, in a fresh process: the benchmark runner starts this as a subprocess so
that peak memory belongs to one run alone.

    python benchmarks/measure.py credsim SCENARIO N DAYS SEED            # the scenario's engine
    python benchmarks/measure.py credsim-event SCENARIO N DAYS SEED      # or the one named
    python benchmarks/measure.py credsim-reference SCENARIO N DAYS SEED
    python benchmarks/measure.py mesa - N DAYS SEED

Prints one JSON line: seconds to build, seconds (wall and CPU) to simulate the days, peak resident memory
above the baseline after imports, the final listed fraction per group, and for credsim the
engine and the events and observations of the run (the floors of docs/performance.md).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure_credsim(scenario: str, n: int, days: int, seed: int, engine: str | None = None) -> dict:
    """One credsim run of ``days`` for ``n`` people, timed day by day as credsim.simulate runs
    them (without writing outputs); ``engine`` overrides the scenario's ``[engine] name``."""
    import credsim
    from credsim.engines import engine as engine_named
    from credsim.engines.reference.phases.record import Recorder
    from credsim.world import build_world
    import numpy as np

    overrides = [f"population.size={n}", f"population.days={days}"] + ([f"engine.name={engine}"] if engine else [])
    resolved = credsim.load_scenario(scenario, overrides)
    runner = engine_named(resolved.engine.name)
    baseline = current_rss_bytes()
    start = time.perf_counter()
    world = build_world(resolved, np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,)))))
    state = runner.initial_state(world)  # as credsim.simulate runs it
    recorder = Recorder(world, days)
    built, cpu = time.perf_counter(), time.process_time()
    for day in range(days):
        runner.step(world, state, day, seed, recorder)
    done, cpu = time.perf_counter(), time.process_time() - cpu
    groups = list(resolved.population.groups)
    listed = {g: float(state.n_listed[i] / world.group_size[i]) for i, g in enumerate(groups)}
    return {
        "build_s": built - start, "simulate_s": done - built, "simulate_cpu_s": cpu, "peak_bytes": peak_rss_bytes() - baseline,
        "listed": listed, "engine": runner.name,
        "events": float(recorder.behaviour_columns["events"].sum()), "observations": float(recorder.behaviour_columns["observations"].sum()),
    }


def measure_mesa(n: int, days: int, seed: int) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    import mesa_reference

    baseline = current_rss_bytes()
    start = time.perf_counter()
    model = mesa_reference.ReferenceModel(n, seed=seed)
    built, cpu = time.perf_counter(), time.process_time()
    for _ in range(days):
        model.step()
    done, cpu = time.perf_counter(), time.process_time() - cpu
    frame = model.datacollector.get_model_vars_dataframe()
    listed = {"group0": float(frame["listed_0"].iloc[-1]), "group1": float(frame["listed_1"].iloc[-1])}
    return {"build_s": built - start, "simulate_s": done - built, "simulate_cpu_s": cpu, "peak_bytes": peak_rss_bytes() - baseline, "listed": listed}


if __name__ == "__main__":
    engine, scenario, n, days, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    if engine == "mesa":
        result = measure_mesa(n, days, seed)
    else:
        result = measure_credsim(scenario, n, days, seed, engine.removeprefix("credsim-") if engine.startswith("credsim-") else None)
    print(json.dumps(result))
