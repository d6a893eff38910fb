"""The design of an experiment: its parameter sets, and every run's seed.

Pure functions of the experiment: the same file gives the same sets, in the same order, and
the same seeds, on any machine and with any executor.

A run is named by **what it runs**, not by where it sits in the design: its *point* is a
digest of its parameter values (:func:`point_key`), and its ``run_id`` is
``p<point>-r<replicate>``. Adding values to a grid, sets to a list, samples to a Sobol'
design or replicates to any design leaves every existing run's name and seed as it was,
so an experiment grows in place.

Seeds come from one tree rooted at ``SeedSequence(experiment.seed)``:

- **common** (the default): replicate ``r`` of *every* point has the seed of
  ``SeedSequence(root, spawn_key=(3, r))``. Two points then differ only by their
  parameters -- common random numbers -- so a difference between points, or an elementary
  effect, is the parameters' effect and not seed noise: a parameter that does nothing gets
  an effect of exactly zero.
- **independent**: each run has its own stream, ``spawn_key=(4, *point words, r)`` where the
  point words are the first four 32-bit words of the point's digest.
- the **noise runs** (Sobol', Morris) at the centre of the ranges: ``spawn_key=(5, k)``,
  independent of every design run, so their spread is the outcome's spread from seed alone.

The sampler of latin, montecarlo, sobol and morris designs is seeded by child ``(0,)``.
A run's ``simulate`` seed is the first 64-bit word of its SeedSequence's state, shifted
right by one so that it fits a signed 64-bit integer (and a Parquet int64 column).

Experiments made before this scheme (credsim 0.1's ``(1, set, replicate)``, named by
position) have no ``seeding`` in their experiment.json; resuming one is refused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from credsim.experiments.spec import Experiment

SEEDING = "values-1"  # recorded in experiment.json; a folder without it used positional seeds
DESIGN_KEY = 0
COMMON_KEY, INDEPENDENT_KEY, NOISE_KEY = 3, 4, 5
DESIGN, NOISE = "design", "noise"


@dataclass(frozen=True)
class Design:
    """The parameter sets of an experiment.

    ``sets``: one mapping of dotted path -> value per parameter set, in design order.
    ``problem``: SALib's problem dict (names, bounds) for sampled designs, else None.
    ``matrix``: (n_sets, n_parameters) float64, the raw sample SALib's analysers expect
    (before integer fields are rounded); None for grids and lists.
    ``centre``: the point of the noise runs (the middle of every range), or None.
    """

    method: str
    parameters: list[str]
    sets: list[dict[str, Any]]
    problem: dict[str, Any] | None
    matrix: np.ndarray | None
    centre: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunSeed:
    """Where one run's randomness comes from: ``simulate(scenario, seed)``."""

    seed: int
    entropy: int
    spawn_key: tuple[int, ...]


def point_key(parameters: dict[str, Any]) -> str:
    """A parameter set's name: 12 hex digits of the SHA-256 of its values as canonical JSON.

    Integers and floats are told apart (``5`` and ``5.0`` are written differently), as the
    scenario would tell them apart; the order of the keys does not matter."""
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def run_id(point: str, replicate: int, kind: str = DESIGN) -> str:
    """A run's stable name: ``p<point>-r<replicate>`` (``n...`` for a noise run)."""
    return f"{'n' if kind == NOISE else 'p'}{point}-r{replicate:03d}"


def run_seed(root_seed: int, point: str, replicate: int, seeds: str = "common", kind: str = DESIGN) -> RunSeed:
    """The seed of replicate ``replicate`` at ``point`` (see the module's docstring)."""
    if kind == NOISE:
        key: tuple[int, ...] = (NOISE_KEY, replicate)
    elif seeds == "common":
        key = (COMMON_KEY, replicate)
    elif seeds == "independent":
        key = (INDEPENDENT_KEY, *_point_words(point), replicate)
    else:
        raise ValueError(f"seeds must be 'common' or 'independent'; got {seeds!r}")
    sequence = np.random.SeedSequence(root_seed, spawn_key=key)
    seed = int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return RunSeed(seed=seed, entropy=int(root_seed), spawn_key=key)


def _point_words(point: str) -> tuple[int, ...]:
    digest = hashlib.sha256(point.encode("ascii")).digest()
    return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(4))


def design_seed(root_seed: int) -> int:
    """The sampler's seed (for SALib): child (0,) of the root, as a 32-bit integer."""
    sequence = np.random.SeedSequence(root_seed, spawn_key=(DESIGN_KEY,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def count_sets(experiment: Experiment) -> int:
    """How many parameter sets the design has, without sampling it."""
    sampling, d = experiment.sampling, len(experiment.parameters)
    if sampling.method == "grid":
        return int(np.prod([len(_grid_values(p, "other")) for p in experiment.parameters.values()], dtype=np.int64)) if d else 1
    if sampling.method == "list":
        return len(experiment.sets or ())
    if sampling.method in ("latin", "montecarlo"):
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
    if sampling.method == "list":
        sets = [dict(one) for one in experiment.sets or ()]
        return Design("list", list(sets[0]) if sets else [], sets, None, None)
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [list(map(float, experiment.parameters[name].range)) for name in names],
    }
    matrix = sample(sampling.method, problem, sampling.n, design_seed(experiment.seed),
                    second_order=sampling.second_order, levels=sampling.levels)  # fmt: skip
    sets = [{name: _cast(float(x), experiment.field_types[name]) for name, x in zip(names, row)} for row in matrix]
    centre = {name: _cast((low + high) / 2, experiment.field_types[name]) for name, (low, high) in zip(names, problem["bounds"])}
    return Design(sampling.method, names, sets, problem, matrix, centre)


def sample(method: str, problem: dict[str, Any], n: int, seed: int, *, second_order: bool = False, levels: int = 4) -> np.ndarray:
    """SALib's sample for ``method``: (rows, num_vars) float64. Pure: same arguments, same rows."""
    if method == "montecarlo":
        # uniform draws filled row by row: the sample of n is the first n rows of the sample of 2n
        low, high = np.array(problem["bounds"], dtype=np.float64).T
        return low + np.random.default_rng(seed).random((n, problem["num_vars"])) * (high - low)
    if method == "latin":
        from SALib.sample import latin

        return np.asarray(latin.sample(problem, n, seed=seed), dtype=np.float64)
    if method == "sobol":
        from SALib.sample import sobol

        return np.asarray(sobol.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed), dtype=np.float64)
    if method == "morris":
        from SALib.sample import morris

        return np.asarray(morris.sample(problem, n, num_levels=levels, seed=seed), dtype=np.float64)
    raise ValueError(f"unknown sampling method {method!r}; expected latin, montecarlo, sobol or morris")


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
