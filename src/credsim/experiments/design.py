"""The design of an experiment: its parameter sets, and every run's seed.

Pure functions of the experiment: the same file gives the same sets, in the same order, and
the same seeds, on any machine and with any executor.

Seeds come from one tree rooted at ``SeedSequence(experiment.seed)``::

    root
    ├── spawn 0: the design (the sampler's seed for latin, sobol and morris)
    └── spawn 1: the runs
        └── spawn i: parameter set i
            └── spawn r: replicate r  ->  SeedSequence(root, spawn_key=(1, i, r))

so adding replicates or parameter sets never changes the seed of an existing run. A run's
``simulate`` seed is the first 64-bit word of its SeedSequence's state, shifted right by one
so that it fits a signed 64-bit integer (and a Parquet int64 column).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from credsim.experiments.spec import Experiment

DESIGN_KEY = 0
RUNS_KEY = 1


@dataclass(frozen=True)
class Design:
    """The parameter sets of an experiment.

    ``sets``: one mapping of dotted path -> value per parameter set, in run order.
    ``problem``: SALib's problem dict (names, bounds) for sampled designs, else None.
    ``matrix``: (n_sets, n_parameters) float64, the raw sample SALib's analysers expect
    (before integer fields are rounded); None for grids.
    """

    method: str
    parameters: list[str]
    sets: list[dict[str, Any]]
    problem: dict[str, Any] | None
    matrix: np.ndarray | None


@dataclass(frozen=True)
class RunSeed:
    """Where one run's randomness comes from: ``simulate(scenario, seed)``."""

    seed: int
    entropy: int
    spawn_key: tuple[int, ...]


def run_id(set_index: int, replicate: int) -> str:
    """A run's stable name: its parameter set and replicate, zero-padded so names sort."""
    return f"p{set_index:05d}-r{replicate:03d}"


def run_seed(root_seed: int, set_index: int, replicate: int) -> RunSeed:
    """The seed of run (set_index, replicate): child (1, set_index, replicate) of the root."""
    sequence = np.random.SeedSequence(root_seed, spawn_key=(RUNS_KEY, set_index, replicate))
    seed = int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return RunSeed(seed=seed, entropy=int(root_seed), spawn_key=(RUNS_KEY, set_index, replicate))


def design_seed(root_seed: int) -> int:
    """The sampler's seed (for SALib): child (0,) of the root, as a 32-bit integer."""
    sequence = np.random.SeedSequence(root_seed, spawn_key=(DESIGN_KEY,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def count_sets(experiment: Experiment) -> int:
    """How many parameter sets the design has, without sampling it."""
    sampling, d = experiment.sampling, len(experiment.parameters)
    if sampling.method == "grid":
        return int(np.prod([len(_grid_values(p, "other")) for p in experiment.parameters.values()], dtype=np.int64)) if d else 1
    if sampling.method == "latin":
        return sampling.n
    if sampling.method == "sobol":
        return sampling.n * (2 * d + 2 if sampling.second_order else d + 2)
    return sampling.n * (d + 1)  # morris


def make_design(experiment: Experiment) -> Design:
    """Every parameter set of the experiment, in run order."""
    names = list(experiment.parameters)
    sampling = experiment.sampling
    if sampling.method == "grid":
        axes = [_grid_values(experiment.parameters[name], experiment.field_types[name]) for name in names]
        sets = [dict(zip(names, combo)) for combo in itertools.product(*axes)]
        return Design("grid", names, sets, None, None)
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [list(map(float, experiment.parameters[name].range)) for name in names],
    }
    matrix = sample(sampling.method, problem, sampling.n, design_seed(experiment.seed),
                    second_order=sampling.second_order, levels=sampling.levels)  # fmt: skip
    sets = [{name: _cast(float(x), experiment.field_types[name]) for name, x in zip(names, row)} for row in matrix]
    return Design(sampling.method, names, sets, problem, matrix)


def sample(method: str, problem: dict[str, Any], n: int, seed: int, *, second_order: bool = False, levels: int = 4) -> np.ndarray:
    """SALib's sample for ``method``: (rows, num_vars) float64. Pure: same arguments, same rows."""
    if method == "latin":
        from SALib.sample import latin

        return np.asarray(latin.sample(problem, n, seed=seed), dtype=np.float64)
    if method == "sobol":
        from SALib.sample import sobol

        return np.asarray(sobol.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed), dtype=np.float64)
    if method == "morris":
        from SALib.sample import morris

        return np.asarray(morris.sample(problem, n, num_levels=levels, seed=seed), dtype=np.float64)
    raise ValueError(f"unknown sampling method {method!r}; expected latin, sobol or morris")


def _grid_values(parameter, field_type: str) -> list[Any]:
    if parameter.values is not None:
        # listed values go in as written (a float for an integer field is the user's to fix,
        # and the run says so); only whole numbers for a float field are widened
        return [float(v) if field_type == "float" and type(v) is int else v for v in parameter.values]
    grid = parameter.grid
    return [_cast(float(x), field_type) for x in np.linspace(grid.start, grid.stop, grid.num)]


def _cast(value: float, field_type: str) -> Any:
    """A generated value as the schema wants it: integer fields get the nearest whole number."""
    return int(round(value)) if field_type == "int" else value
