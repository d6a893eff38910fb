"""Applying a scenario's timeline during a run (see :mod:`credsim.scenario.timeline`).

The run holds one :class:`~credsim.world.World` at a time. At the start of a change day it
is replaced by a World for the scenario as it stands from that day: the same drawn people
and network, the rules recompiled (:func:`credsim.world.compile_rules`). Every cache of a
parameter is keyed by the World or rebuilt here:

- behave's plan (thinning intensities, response strengths) is keyed by the World object;
- the recorder's expected events (``Recorder.expected``) are recomputed here;
- the fast path's kept sets (``below``, ``above``) are found again each day from the day's
  thresholds by the score sweep; ``paid`` and ``listed`` do not depend on a parameter;
- a change of ``surveillance.intensity`` resets the camera intensity per region
  (``State.intensity``, which adaptive surveillance moves from there);
- visibility to contacts (``State.shown``) is pushed again for everyone listed or detained,
  so a change of shaming or ``unshamed_visibility`` reaches listings already open;
- cases: new notices take the new regime's terms (``State.terms``); an entry with
  ``applies_to = "open"`` gives them to cases already open too.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from credsim.engines.reference.phases.record import Recorder, _expected_events
from credsim.scenario import timeline
from credsim.scenario.schema import Scenario
from credsim.state import FREE, LISTED, State
from credsim.world import World, compile_rules


class Schedule:
    """The timeline of ``base`` (the World built from the scenario as given)."""

    def __init__(self, base: World):
        self.base = base
        self.regimes: list[tuple[timeline.Change, Scenario]] = timeline.regimes(base.scenario) if base.scenario.timeline else []
        self.day_index = {change.day: k + 1 for k, (change, _) in enumerate(self.regimes)}

    def regime_before(self, day: int) -> int:
        """The regime in force on the days before ``day`` (0: the base scenario)."""
        return sum(1 for change, _ in self.regimes if change.day < day)

    def world(self, k: int) -> World:
        """The World of regime ``k``."""
        if k == 0:
            return self.base
        scenario = self.regimes[k - 1][1]
        rules = compile_rules(scenario, self.base.layout, self.base.network.max_degree())
        return dataclasses.replace(self.base, scenario=scenario, regime=k, **rules)

    def resume(self, day: int, recorder: Recorder) -> World:
        """The World for a run resumed at ``day`` (whose state already holds every earlier change)."""
        world = self.world(self.regime_before(day))
        recorder.expected = _expected_events(world)
        return world

    def start_of(self, day: int, world: World, state: State, recorder: Recorder) -> World:
        """The World for ``day``: ``world``, or, on a change day, the new one, with the state
        brought into line with it."""
        k = self.day_index.get(day)
        if k is None:
            return world
        change = self.regimes[k - 1][0]
        new = self.world(k)
        if "surveillance.intensity" in change.values:
            state.intensity[:] = new.initial_intensity
        if change.open and new.terms is not None:
            state.terms[state.status != FREE] = k
        shown = np.flatnonzero((state.status == LISTED) | (state.detained_until > day)).astype(np.int32)
        if len(shown):
            state.changed.append(shown)
        recorder.expected = _expected_events(new)
        return new


WINDOW_DAYS = 90  # the before and after figures of a change are means over this many days


def around_changes(schedule: Schedule, daily) -> list[dict]:
    """summary.json's ``timeline``: for each change day the run reached, what changed and the
    daily means over the ``WINDOW_DAYS`` before it and from it on (fewer where the run is
    shorter; None where there are no such days): people listed per 1,000, open cases in the
    appeal queue, new listings a day."""
    if not schedule.regimes:
        return []
    days = int(daily["day"].to_numpy().max()) + 1 if daily.num_rows else 0
    groups = daily.num_rows // max(days, 1)

    def per_day(name: str) -> np.ndarray:
        return daily[name].to_numpy().astype(np.float64).reshape(days, groups).sum(axis=1)

    population = per_day("population")
    figures = {
        "listed_per_1000": 1000 * per_day("listed") / np.maximum(population, 1),
        "pending_cases": per_day("pending_cases"),
        "listings_per_day": sum(per_day(f"listings_{c}") for c in ("wrongful", "unjust", "rules")),
    }
    out = []
    for change, _ in schedule.regimes:
        if change.day >= days:
            break
        spans = {"before": (max(0, change.day - WINDOW_DAYS), change.day), "after": (change.day, min(days, change.day + WINDOW_DAYS))}
        out.append(
            {
                "day": change.day,
                "entries": list(change.entries),
                "applies_to": "open" if change.open else "new",
                "set": change.values,
                "window_days": WINDOW_DAYS,
                **{
                    side: ({name: float(values[a:b].mean()) for name, values in figures.items()} if b > a else None)
                    for side, (a, b) in spans.items()
                },
            }
        )
    return out
