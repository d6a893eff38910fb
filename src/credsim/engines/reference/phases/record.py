"""Phase 8, record: the day's aggregates, per group and per region.

Counters (events, observations, listings, exits, cases, blocked purchases, sanctioned
person-days...) come from the day's :class:`Tally`; levels (how many are listed, score
means, grade shares, income) are read off the state. Score quantiles and grade shares are
taken on a fixed random panel of up to ``record.quantile_panel`` people per group
(everyone in smaller groups): exact for small runs, and within about 1/sqrt(panel) (in
quantile, or in share) for large ones, where sorting or counting the whole population
every day would cost more than the rest of the day.
"""

from __future__ import annotations

import functools

import numpy as np

from credsim.kernels import sum64
from credsim.state import State
from credsim.tally import BEHAVIOUR_COUNTERS, Tally
from credsim.world import World

COUNTERS = (
    "events_protected",
    "events_harmful",
    "observations",
    "false_observations",
    "camera_detections",
    "informant_reports",
    "false_matches",
    "malicious_reports",
    "record_errors",
    "notices",
    "listings_wrongful",
    "listings_unjust",
    "listings_rules",
    "exits_term",
    "exits_appeal",
    "objections_filed",
    "objections_upheld",
    "appeals_filed",
    "cases_decided",
    "cases_upheld",
    "wait_days",
    "blocked_flight",
    "blocked_rail",
    "internet_days",
    "schooling_days",
    "shaming_days",
    "detentions",
    "detained_days",
    "green_days",
    # For summary.json's mechanisms (credsim.mechanisms): what each mechanism changed.
    "records_seen",  # true events the records caught (whatever else also saw them)
    "listings_threshold",  # listings whose notice the score threshold gave
    "listings_immediate",  # listings whose notice an immediate behaviour gave
    "income_cut",  # income-days the listed lost below base to the employment sanction
    "poverty_events",  # expected events poverty feedback added or removed (credsim.engines.reference.phases.account)
    "association_points",  # score points guilt by association took, by the listed person's group
)
# Counters that are not whole numbers (income-days, expected events, score points): written
# to daily.parquet as float64; the other counters and the levels count things, as int64.
MEASURES = ("income_cut", "poverty_events", "association_points")
COUNT_LEVELS = ("population", "on_notice", "listed", "detained", "pending_cases")  # integer levels
TRACKS = ("score", "score_clean", "score_fair")
QUANTILES = (0.1, 0.5, 0.9)


class Recorder:
    """Holds the daily table as (days, groups) arrays, and the regional table."""

    def __init__(self, world: World, days: int):
        g, r = world.n_groups, world.layout.n_regions
        self.days = days
        self.level_names = (
            [*COUNT_LEVELS, "income_mean", "risk_mean"]
            + [f"{t}_mean" for t in TRACKS]
            + [f"{t}_p{int(q * 100)}" for t in TRACKS for q in QUANTILES]
            + [f"grade_{name}" for name in world.grade_names]
            + ["expected_protected", "expected_harmful"]
        )
        self.columns = {name: np.zeros((days, g)) for name in (*self.level_names, *COUNTERS)}
        # Each track's mean and quantile columns, and the grade columns, looked up once.
        self.track_columns = [
            (self.columns[f"{t}_mean"], [self.columns[f"{t}_p{int(q * 100)}"] for q in QUANTILES]) for t in TRACKS
        ]
        self.grade_columns = [self.columns[f"grade_{name}"] for name in world.grade_names]
        self.region_columns = {name: np.zeros((days, r)) for name in ("population", "camera_intensity", "detections")}
        self.behaviour_columns = {name: np.zeros((days, world.n_behaviours)) for name in BEHAVIOUR_COUNTERS}
        self.expected = _expected_events(world)

    def record(self, world: World, state: State, day: int, tally: Tally, tracks_of=None) -> None:
        """Today's row. ``tracks_of(members)`` gives the (3, len(members)) scores of panel
        members where the state does not hold them as of today (the event engine keeps
        scores as of each person's last change); by default they are read off the state."""
        for name, values in tally.values.items():
            self.columns[name][day] = values
        for name, values in tally.by_behaviour.items():
            if len(values):
                self.behaviour_columns[name][day] = values
        levels = self.columns
        levels["population"][day] = world.group_size
        levels["on_notice"][day] = state.n_notice
        levels["listed"][day] = state.n_listed
        levels["detained"][day] = state.n_detained
        levels["pending_cases"][day] = state.n_pending
        levels["expected_protected"][day] = self.expected[0]
        levels["expected_harmful"][day] = self.expected[1]
        panel, start = world.panel, world.panel_group_start
        for g in range(world.n_groups):
            sl = world.layout.group_slice(g)
            if sl.stop == sl.start:
                continue
            size = sl.stop - sl.start
            if state.fast:  # summed by the phases' own sweeps today
                total = [state.income_sums[g] / size, state.risk_sums[g] / size, *(state.track_sums[:, g] / size)]
            else:
                total = [sum64(a) / size for a in (state.income[sl], state.risk[sl], *state.tracks[:, sl])]
            levels["income_mean"][day, g] = total[0]
            levels["risk_mean"][day, g] = total[1]
            members = panel[start[g] : start[g + 1]]
            panel_tracks = np.take(state.tracks, members, axis=1) if tracks_of is None else tracks_of(members)  # take: 3x faster than tracks[:, members]
            quantiles = _quantiles(panel_tracks)
            for k, (mean, quantile) in enumerate(self.track_columns):
                mean[day, g] = total[2 + k]
                for j, column in enumerate(quantile):
                    column[day, g] = quantiles[k, j]
            # Grade shares: exact for groups that fit in the panel, estimated on it above
            # (within about 1/sqrt(panel) of the true share; counting everyone every day
            # would cost more than the rest of the record phase).
            if tracks_of is not None:  # the panel, or everyone in a group that fits in it
                scores = panel_tracks[0]
            else:
                scores = state.score[sl] if sl.stop - sl.start == len(members) else state.score[members]
            above = 0
            for column, bound in zip(self.grade_columns, world.grade_bounds):
                at_least = int(np.count_nonzero(scores >= bound))
                column[day, g] = (at_least - above) / len(scores)
                above = at_least
        self.region_columns["population"][day] = world.region_size
        self.region_columns["camera_intensity"][day] = state.intensity
        self.region_columns["detections"][day] = state.detections_today
        state.detections_today[:] = 0


def _quantiles(values: np.ndarray) -> np.ndarray:
    """(rows, len(QUANTILES)) float64: each row's QUANTILES, interpolated linearly between
    order statistics (numpy's default method). The rows are sorted: NumPy's vectorized sort
    is faster here than a partition around six order statistics."""
    position, below, above = _positions(values.shape[1])
    ordered = np.sort(values, axis=1).astype(np.float64)
    low, high = ordered[:, below], ordered[:, above]
    return low + (high - low) * (position - below)


@functools.lru_cache(maxsize=16)
def _positions(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where QUANTILES fall among n sorted values, and the order statistics either side."""
    position = np.asarray(QUANTILES) * (n - 1)
    below = np.floor(position).astype(np.int64)
    return position, below, np.minimum(below + 1, n - 1)


def _expected_events(world: World) -> np.ndarray:
    """(2, G): expected protected and harmful events a day with no system at all -- the same
    people with no response, no poverty effect, no listing multiplier and no detention."""
    out = np.zeros((2, world.n_groups))
    layout = world.layout
    for b in range(world.n_behaviours):
        for g in range(world.n_groups):
            expected = 0.0
            for r in range(layout.n_regions):  # a region's multiplier holds for its cell of the group
                start, size = int(layout.cell_start[g, r]), int(layout.cell_size[g, r])
                # People of a propensity class are alike: count them per class.
                if world.propensity_code is None:
                    people, level = np.array([size]), np.ones(1)
                else:
                    cell = world.propensity_code[b, start : start + size]
                    people, level = np.bincount(cell, minlength=len(world.propensity_level)), world.propensity_level
                lam = world.rate[b, g] * world.region_rate[b, r] * level
                expected += (people * (-np.expm1(-lam) if world.bernoulli[b] else lam)).sum()
            if world.protected[b]:
                out[0, g] += expected
            if world.harmful[b]:
                out[1, g] += expected
    return out
