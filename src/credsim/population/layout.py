"""Who is where: people ordered by group, then region, in contiguous blocks.

Counts are fixed, not drawn: each group gets ``round(size * share)`` people and each region
its share of the group, by the largest-remainder rule, so that the same scenario always gives
the same layout and a group's or a cell's people are one slice of every per-person array.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Layout:
    n_agents: int
    group: np.ndarray  # (n_agents,) int8, index into the scenario's groups
    region: np.ndarray  # (n_agents,) int16
    group_start: np.ndarray  # (n_groups + 1,) int64: group g is [group_start[g], group_start[g + 1])
    cell_size: np.ndarray  # (n_groups, n_regions) int64
    cell_start: np.ndarray  # (n_groups, n_regions) int64: first person of each cell

    @property
    def n_groups(self) -> int:
        return self.cell_size.shape[0]

    @property
    def n_regions(self) -> int:
        return self.cell_size.shape[1]

    @cached_property
    def cell_bounds(self) -> np.ndarray:
        """(n_groups * n_regions + 1,) int64: cell k -- group ``k // n_regions``, region
        ``k % n_regions`` -- is people ``[cell_bounds[k], cell_bounds[k + 1])``."""
        return np.append(self.cell_start.ravel(), self.n_agents).astype(np.int64)

    def group_slice(self, g: int) -> slice:
        return slice(int(self.group_start[g]), int(self.group_start[g + 1]))


def apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``shares`` (largest remainder)."""
    shares = np.asarray(shares, dtype=np.float64)
    exact = total * shares / shares.sum()
    parts = np.floor(exact).astype(np.int64)
    short = total - int(parts.sum())
    if short > 0:
        order = np.argsort(-(exact - parts), kind="stable")
        parts[order[:short]] += 1
    return parts


def make_layout(n_agents: int, group_shares: np.ndarray, region_shares: np.ndarray) -> Layout:
    """``region_shares``: (n_groups, n_regions), each row summing to 1."""
    n_groups, n_regions = region_shares.shape
    group_size = apportion(n_agents, group_shares)
    cell_size = np.stack([apportion(int(group_size[g]), region_shares[g]) for g in range(n_groups)])
    flat = cell_size.ravel()
    cell_start = (np.cumsum(flat) - flat).reshape(n_groups, n_regions)
    group_start = np.zeros(n_groups + 1, np.int64)
    np.cumsum(group_size, out=group_start[1:])
    group = np.repeat(np.arange(n_groups, dtype=np.int8), group_size)
    region = np.repeat(np.tile(np.arange(n_regions, dtype=np.int16), n_groups), flat)
    return Layout(n_agents, group, region, group_start, cell_size, cell_start)
