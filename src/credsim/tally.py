"""A day's counters, per group: what the phases report to the record phase.

Phases count things as they happen (``tally.count("blocked_flight", groups_of_people)``);
the record phase turns the day's tally into a row per group. Names are declared in
:data:`credsim.engines.reference.phases.record.COUNTERS`, so a typo fails loudly instead of adding a column.
"""

from __future__ import annotations

import numpy as np

BEHAVIOUR_COUNTERS = ("events", "observations")  # counted per behaviour rather than per group


class Tally:
    def __init__(self, names: tuple[str, ...], n_groups: int, n_behaviours: int = 0):
        self.n_groups = n_groups
        self.values = {name: np.zeros(n_groups, np.float64) for name in names}
        # Per behaviour, for summary.json's mechanisms: the day's true events and observations.
        self.by_behaviour = {name: np.zeros(n_behaviours, np.float64) for name in BEHAVIOUR_COUNTERS}

    def count(self, name: str, groups: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add one (or ``weights``) per element, to the element's group."""
        if len(groups):
            self.values[name] += np.bincount(groups, weights=weights, minlength=self.n_groups)

    def add(self, name: str, per_group: np.ndarray) -> None:
        self.values[name] += per_group

    def count_behaviours(self, name: str, behaviour: np.ndarray) -> None:
        """Add one per element to its behaviour's count under ``name``."""
        counts = self.by_behaviour[name]
        if len(behaviour) and len(counts):
            counts += np.bincount(behaviour, minlength=len(counts))
