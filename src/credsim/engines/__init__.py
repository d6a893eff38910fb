"""The engines that run a scenario's days. Both run the model of docs/model.md; a run's
scenario names its engine (``[engine] name``), and ``simulate(..., engine=...)`` or
``credsim run --engine`` choose one.

- ``reference`` (:mod:`credsim.engines.reference`): every phase as the model states it, with
  the fast path's kept sets and sums, and a per-person path (``FAST = False``) that scans
  everyone, kept for tests. Each drawing phase of a day draws from one PCG64 stream keyed
  by (seed, day, phase): a day's numbers depend on how the people are laid out in one
  process.
- ``event`` (:mod:`credsim.engines.event`): the same phases, keeping scores and perceived
  risk in closed form between a person's changes; behave's random numbers do not depend on
  how the population is split (counter-based Philox, keyed by seed, day and block of
  people), the later phases' come from one PCG64 stream per (seed, day, phase) (see
  :mod:`credsim.engines.event.step` for what is guaranteed).

The same scenario and seed give the same run within an engine; across engines they give
runs that agree in distribution (``tests/engines/test_agreement.py``), not number for number.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from credsim.errors import CredsimError
from credsim.scenario.schema import ENGINE_NAMES


@dataclass(frozen=True)
class Engine:
    """What :func:`credsim.simulate` needs of an engine."""

    name: str
    random_numbers: str  # the random-number scheme, recorded in summary.json
    initial_state: Callable  # (world) -> State: everyone free at the start
    step: Callable  # (world, state, day, seed, recorder) -> None: one day, in place


def engine(name: str) -> Engine:
    """The engine called ``name`` (one of :data:`ENGINE_NAMES`)."""
    if name not in ENGINE_NAMES:
        raise CredsimError(f"unknown engine {name!r}; the engines are {', '.join(ENGINE_NAMES)}")
    return importlib.import_module(f"credsim.engines.{name}").ENGINE


__all__ = ["ENGINE_NAMES", "Engine", "engine"]
