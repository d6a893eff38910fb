"""A day's counters, per group: what the phases report to the record phase.

Phases count things as they happen (``tally.count("blocked_flight", groups_of_people)``);
the record phase turns the day's tally into a row per group. Names are declared in
:data:`credsim.phases.record.COUNTERS`, so a typo fails loudly instead of adding a column.
"""

from __future__ import annotations

import numpy as np


class Tally:
    def __init__(self, names: tuple[str, ...], n_groups: int):
        self.n_groups = n_groups
        self.values = {name: np.zeros(n_groups, np.float64) for name in names}

    def count(self, name: str, groups: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add one (or ``weights``) per element, to the element's group."""
        if len(groups):
            self.values[name] += np.bincount(groups, weights=weights, minlength=self.n_groups)

    def add(self, name: str, per_group: np.ndarray) -> None:
        self.values[name] += per_group
