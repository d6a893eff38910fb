"""The event engine's state: the reference state, with each person's scores and perceived
risk kept as of their last change (:mod:`credsim.engines.event.lazy`).

``tracks[:, i]`` hold person i's three scores after the score phase of day ``stamp[i]``,
``risk[i]`` their perceived risk after the adapt phase of day ``rstamp[i]``; between changes
both follow closed forms. The sums per group that the record phase reads are kept by the
same closed forms, in aggregate, and each person's next crossing (of a threshold, or of the
score's range) waits in a calendar (``heap``) for its day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from credsim.state import State, initial_state
from credsim.world import World

NEVER = np.iinfo(np.int32).max  # a crossing that does not come


@dataclass
class EventState(State):
    stamp: np.ndarray = None  # (N,) int32: tracks[:, i] are the scores after the score phase of this day
    rstamp: np.ndarray = None  # (N,) int32: risk[i] is the perceived risk after the adapt phase of this day
    target: np.ndarray = None  # (N,) float32: what perceived risk moves toward: exposure / degree + own weight
    due: np.ndarray = None  # (N,) int32: the day of the person's next crossing; NEVER: none
    heap: np.ndarray = None  # (H,) int64: crossings waiting, day * 2**32 + person, a binary min-heap of heap_size
    heap_size: int = 0
    green: np.ndarray = None  # sorted int32: exactly the people whose score is at least the green-channel threshold
    params: np.ndarray = None  # float64: the rules the sums and the calendar were built under, then keep ** k for each day (lazy.params_of)
    free_sums: np.ndarray = None  # (3, G) float64: per track, the sum of the scores not held at a bound
    drift: np.ndarray = None  # (3, G) float64: per track, the sum of those people's daily constant c
    held_sums: np.ndarray = None  # (3, G) float64: per track, the sum of the scores held at a bound
    targets: np.ndarray = None  # (G,) float64: the sum of targets
    risks: np.ndarray = None  # (G,) float64: the sum of perceived risk, as of the last adapt phase
    shown_degrees: np.ndarray = None  # (G,) float64: the sum of shown * degree, kept as adapt changes what people show
    built: bool = False  # the sums and the calendar have been built (on day 0, and at each change of rules)
    regime: int = -1  # the timeline regime they were built under

    VARIABLE = (*State.VARIABLE, "heap", "green", "params")


# What a touched person's day reads and writes, together: one 32-byte record a person, so
# that bringing someone up to date is one cache miss rather than one an array. The state's
# arrays of these values (tracks, exposure, risk, target, stamp, rstamp) are views into it.
RECORD = np.dtype([
    ("score", "<f4"), ("score_clean", "<f4"), ("score_fair", "<f4"), ("exposure", "<f4"),
    ("risk", "<f4"), ("target", "<f4"), ("stamp", "<i4"), ("rstamp", "<i4"),
])


def event_state(world: World) -> EventState:
    """Everyone free, at the initial score, their base income and no perceived risk; the
    sums and the calendar are built at the start of day 0."""
    base = initial_state(world, fast=True)
    n, g = world.n_agents, world.n_groups
    record = np.zeros(n, RECORD)
    tracks = np.lib.stride_tricks.as_strided(record["score"], shape=(3, n), strides=(4, RECORD.itemsize))
    tracks[:] = base.tracks
    record["stamp"] = -1
    record["rstamp"] = -1
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    fields.update(tracks=tracks, exposure=record["exposure"], risk=record["risk"])
    state = EventState(
        **fields,
        stamp=record["stamp"],
        rstamp=record["rstamp"],
        target=record["target"],
        due=np.full(n, NEVER, np.int32),
        heap=np.zeros(1024, np.int64),
        green=np.zeros(0, np.int32),
        params=np.zeros(0),
        free_sums=np.zeros((3, g)),
        drift=np.zeros((3, g)),
        held_sums=np.zeros((3, g)),
        targets=np.zeros(g),
        risks=np.zeros(g),
        shown_degrees=np.zeros(g),
    )
    state.record = record  # not a field: checkpoints save and restore it through its views
    return state
