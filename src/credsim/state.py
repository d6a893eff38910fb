"""The state: everything about the population that changes from day to day.

The per-person arrays are updated in place by the phases: at tens of millions of people a
copy per day would double the memory for nothing. Every array's shape, dtype and unit is
below; N is the number of people, G of groups, R of regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from credsim.world import World

FREE, NOTICE, LISTED = 0, 1, 2  # status
WRONGFUL, UNJUST, RULES = 0, 1, 2  # class of a case (notice) and of its listing episode
CLASS_NAMES = ("wrongful", "unjust", "rules")
BY_THRESHOLD, BY_IMMEDIATE = 0, 1  # the cause of a notice: a score below the threshold, or an immediate rule
EXIT_TERM, EXIT_APPEAL, EXIT_CENSORED = 0, 1, 2
EXIT_NAMES = ("term", "appeal", "censored")
NOT_DETAINED = np.iinfo(np.int32).min  # detained_until for someone never detained


class Growable:
    """Column arrays that grow by doubling: the episode log and the appeal queue."""

    def __init__(self, **dtypes: np.dtype):
        self.size = 0
        self.columns = {name: np.empty(64, dtype) for name, dtype in dtypes.items()}

    def append(self, **values: np.ndarray) -> np.ndarray:
        """Append rows; return their indices."""
        k = len(next(iter(values.values())))
        need = self.size + k
        if need > len(next(iter(self.columns.values()))):
            capacity = max(need, 2 * len(next(iter(self.columns.values()))))
            for name, column in self.columns.items():
                grown = np.empty(capacity, column.dtype)
                grown[: self.size] = column[: self.size]
                self.columns[name] = grown
        for name, value in values.items():
            self.columns[name][self.size : need] = value
        rows = np.arange(self.size, need, dtype=np.int64)
        self.size = need
        return rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name][: self.size]


@dataclass
class State:
    # People ----------------------------------------------------------------------
    income: np.ndarray  # (N,) float32, current income, same units as base_income
    tracks: np.ndarray  # (3, N) float32, the three scores (rows: score, score_clean, score_fair)
    status: np.ndarray  # (N,) int8, FREE, NOTICE or LISTED
    status_day: np.ndarray  # (N,) int32, the day the current notice or listing began
    case_class: np.ndarray  # (N,) int8, class of the current notice/listing (WRONGFUL...)
    case_cause: np.ndarray  # (N,) int8, cause of the current notice/listing (BY_THRESHOLD, BY_IMMEDIATE)
    case_id: np.ndarray  # (N,) int32, id of the current notice/listing; -1 when free
    episode: np.ndarray  # (N,) int32, row of the current listing in the episode log; -1
    case_open: np.ndarray  # (N,) bool, an objection or appeal is waiting in the queue
    ever_listed: np.ndarray  # (N,) bool
    detained_until: np.ndarray  # (N,) int32, first day free again; NOT_DETAINED if never
    flag_count: np.ndarray  # (N,) int16, flagged observations in the current window
    flag_since: np.ndarray  # (N,) int32, first day of the current flag window
    shown: np.ndarray  # (N,) float32, how visible this person's listing/detention is to contacts
    exposure: np.ndarray  # (N,) float32, sum of contacts' visibility: listed contacts seen
    risk: np.ndarray  # (N,) float32, perceived risk, a moving average in [0, 1 + own weight]
    # The system -------------------------------------------------------------------
    intensity: np.ndarray  # (R,) float64, camera intensity per region
    detections: np.ndarray  # (R,) int64, camera detections since the last reallocation
    detections_today: np.ndarray  # (R,) int64, camera detections today
    detections_all: np.ndarray  # (R,) float64, all detections so far (each over its day's intensity when corrected)
    appeal_credit: float = 0.0  # capacity not yet used: fractional decisions carry over
    next_case_id: int = 0
    episodes: Growable = field(
        default_factory=lambda: Growable(person=np.int32, start=np.int32, end=np.int32, cls=np.int8, exit=np.int8)
    )
    queue: Growable = field(default_factory=lambda: Growable(person=np.int32, case=np.int32, filed=np.int32))
    queue_head: int = 0
    # Counters kept up to date by the phases, per group ---------------------------------
    n_notice: np.ndarray = None  # (G,) int64
    n_listed: np.ndarray = None  # (G,) int64
    n_detained: np.ndarray = None  # (G,) int64
    n_pending: np.ndarray = None  # (G,) int64, open cases in the appeal queue
    wait_histogram: np.ndarray = None  # (G, days + 1) int64, decided cases by days waited
    changed: list = field(default_factory=list)  # arrays of people whose visibility may have changed today
    # The fast path (``fast``): what the phases keep so that no phase has to read everyone.
    # Sets of people are sorted int32 arrays, and may hold people who have since left them
    # (a reader filters). With ``fast = False`` every phase scans the whole population
    # instead: the reference path, kept for tests (``tests/test_fast_path.py``).
    fast: bool = False
    cases: np.ndarray = None  # people on notice or listed (a superset)
    detained_people: np.ndarray = None  # people detained (a superset)
    paid: np.ndarray = None  # exactly the people whose income is not their base income
    listed: np.ndarray = None  # exactly the listed (kept by listing.start_listing and listing.end_case)
    below: np.ndarray = None  # today, from score: free people with score < listing threshold
    above: np.ndarray = None  # today, from score and appeal: score >= green-channel threshold
    track_sums: np.ndarray = None  # (3, G) float64, today's sum of each track per group
    risk_sums: np.ndarray = None  # (G,) float64, today's sum of risk per group
    income_sums: np.ndarray = None  # (G,) float64, today's sum of income per group
    # The timeline (credsim.changes): the regime whose terms each open case keeps
    terms: np.ndarray = None  # (N,) int16 when World.terms is set, else (0,)

    VARIABLE = ("cases", "detained_people", "paid", "listed", "below", "above")  # their length changes

    # The three tracks are rows of one array, so that one compiled pass updates all three.
    @property
    def score(self) -> np.ndarray:
        """(N,) float32, the score the system records."""
        return self.tracks[0]

    @score.setter
    def score(self, value: np.ndarray) -> None:
        self.tracks[0] = value

    @property
    def score_clean(self) -> np.ndarray:
        """(N,) float32, the score without any false observation."""
        return self.tracks[1]

    @score_clean.setter
    def score_clean(self, value: np.ndarray) -> None:
        self.tracks[1] = value

    @property
    def score_fair(self) -> np.ndarray:
        """(N,) float32, score_clean without the penalties on protected behaviour."""
        return self.tracks[2]

    @score_fair.setter
    def score_fair(self, value: np.ndarray) -> None:
        self.tracks[2] = value

    def queue_length(self) -> int:
        return self.queue.size - self.queue_head


def cases_and_status(state: State) -> tuple[np.ndarray, np.ndarray]:
    """People on notice or listed, sorted, and their status: from the fast path's set of
    cases (which may hold people since freed), or by a scan of everyone."""
    if state.fast:
        status = state.status[state.cases]
        open_ = status != FREE
        return state.cases[open_], status[open_]
    cases = np.flatnonzero(state.status != FREE).astype(np.int32)
    return cases, state.status[cases]


def listed_people(state: State) -> np.ndarray:
    """The listed, sorted (int32): the fast path's kept set, or by a scan of everyone."""
    if state.fast:
        return state.listed
    cases, status = cases_and_status(state)
    return cases[status == LISTED]


def case_term(world: World, state: State, people: np.ndarray, name: str, rules) -> np.ndarray | float | int:
    """The term ``name`` (a field of :class:`~credsim.world.CaseTerms`) of the cases of
    ``people``: each case's own, kept from the regime it opened under, when a timeline
    changes case terms; else the current rules' (``rules.<name>``), the same for everyone."""
    if world.terms is None:
        return getattr(rules, name)
    return getattr(world.terms, name)[state.terms[people]]


def initial_state(world: World, fast: bool = False) -> State:
    """Everyone free, at the initial score and their base income. ``fast``: keep the sets
    and sums of the fast path (the engine's runs); a state edited by hand must not."""
    n, g = world.n_agents, world.n_groups
    nobody = np.zeros(0, np.int32)
    initial = np.float32(world.scenario.score.initial)
    days = world.scenario.population.days
    return State(
        income=world.base_income.copy(),
        tracks=np.full((3, n), initial, np.float32),
        status=np.zeros(n, np.int8),
        status_day=np.zeros(n, np.int32),
        case_class=np.zeros(n, np.int8),
        case_cause=np.zeros(n, np.int8),
        case_id=np.full(n, -1, np.int32),
        episode=np.full(n, -1, np.int32),
        case_open=np.zeros(n, bool),
        ever_listed=np.zeros(n, bool),
        detained_until=np.full(n, NOT_DETAINED, np.int32),
        flag_count=np.zeros(n, np.int16),
        flag_since=np.zeros(n, np.int32),
        shown=np.zeros(n, np.float32),
        exposure=np.zeros(n, np.float32),
        risk=np.zeros(n, np.float32),
        intensity=world.initial_intensity.copy(),
        detections=np.zeros(world.layout.n_regions, np.int64),
        detections_today=np.zeros(world.layout.n_regions, np.int64),
        detections_all=np.zeros(world.layout.n_regions, np.float64),
        n_notice=np.zeros(g, np.int64),
        n_listed=np.zeros(g, np.int64),
        n_detained=np.zeros(g, np.int64),
        n_pending=np.zeros(g, np.int64),
        wait_histogram=np.zeros((g, days + 1), np.int64),
        fast=fast,
        cases=nobody,
        detained_people=nobody,
        paid=nobody,
        listed=nobody,
        below=nobody,
        above=nobody,
        track_sums=np.zeros((3, g)),
        risk_sums=np.zeros(g),
        income_sums=np.zeros(g),
        terms=np.zeros(n if world.terms is not None else 0, np.int16),
    )
