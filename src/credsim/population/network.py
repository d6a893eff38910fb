"""The contact network: a symmetric graph stored as CSR arrays.

Each person starts about ``contacts / 2`` ties and receives as many on average, so everyone
has about ``contacts`` contacts. A tie's other end is drawn like this:

- with probability ``homophily`` from the person's own group, otherwise from the whole
  population (any group) -- the mixing rule that keeps ties symmetric and degrees equal
  across groups of unequal size. Without regions a contact of a person of group g is of
  the same group with probability ``h + (1 - h) * share_g``; with segregated regions the
  "whole population" draw is mostly from one's own region, whose share of g is higher;
- with probability ``contacts_within_region`` from the person's own region (when that
  region has anyone of the chosen kind), otherwise from anywhere.

Self-ties are dropped; the rare duplicate tie is kept (it counts twice).

Arrays: ``indptr`` (n_agents + 1,) int64, ``indices`` (n_ties,) int32 with the contacts of
person i in ``indices[indptr[i]:indptr[i + 1]]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from credsim.population.layout import Layout


@dataclass(frozen=True)
class Network:
    indptr: np.ndarray  # (n_agents + 1,) int64
    indices: np.ndarray  # (n_ties,) int32

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr).astype(np.int32)

    def contacts_of(self, person: int) -> np.ndarray:
        return self.indices[self.indptr[person] : self.indptr[person + 1]]


def build_network(
    layout: Layout, contacts: float, homophily: float, within_region: float, rng: np.random.Generator
) -> Network:
    n = layout.n_agents
    n_ties = int(round(n * contacts / 2))
    if n < 2 or n_ties == 0:
        return Network(np.zeros(n + 1, np.int64), np.zeros(0, np.int32))
    # Ties are started by people in turn, so everyone starts floor or ceil of contacts / 2.
    source = (np.arange(n_ties, dtype=np.int64) % n).astype(np.int32)
    source_group = layout.group[source]
    source_region = layout.region[source]
    same_group = rng.random(n_ties) < homophily
    same_region = rng.random(n_ties) < within_region
    u = rng.random(n_ties)
    target = np.empty(n_ties, np.int32)

    # Four kinds of draw, each uniform over a union of (group, region) cells.
    for kind_group in (True, False):
        for kind_region in (True, False):
            mask = (same_group == kind_group) & (same_region == kind_region)
            if not mask.any():
                continue
            target[mask] = _draw(layout, source_group[mask], source_region[mask], u[mask], kind_group, kind_region)

    keep = target != source
    return _csr(n, source[keep], target[keep])


def _draw(layout: Layout, group: np.ndarray, region: np.ndarray, u: np.ndarray, by_group: bool, by_region: bool) -> np.ndarray:
    """One person drawn uniformly, for each u, from the group's and/or region's people.

    People are ordered by group, then region, so a group is a contiguous range of ids and
    a (group, region) cell is too; a region is a union of cells, one per group.
    """
    size = layout.cell_size.astype(np.int64)  # (n_groups, n_regions)
    start = layout.cell_start.astype(np.int64)
    n_groups, n_regions = size.shape
    if by_group and by_region:
        count = size[group, region]
        empty = count == 0
        if empty.any():  # nobody of that group lives there: fall back to the whole group
            out = np.empty(len(u), np.int32)
            out[~empty] = _draw(layout, group[~empty], region[~empty], u[~empty], True, True)
            out[empty] = _draw(layout, group[empty], region[empty], u[empty], True, False)
            return out
        return (start[group, region] + _offset(u, count)).astype(np.int32)
    if by_group:
        first = layout.group_start[group]
        count = layout.group_start[group + 1] - first
        return (first + _offset(u, count)).astype(np.int32)
    if by_region:
        by_column = size.T.ravel()  # cells ordered region-major: (r, g) at r * n_groups + g
        cumulative = np.cumsum(by_column)
        exclusive = cumulative - by_column
        column_first = exclusive[region.astype(np.int64) * n_groups]
        column_count = size[:, region].sum(axis=0)
        position = column_first + _offset(u, column_count)
        cell = np.searchsorted(cumulative, position, side="right")
        g, r = cell % n_groups, cell // n_groups
        return (start[g, r] + position - exclusive[cell]).astype(np.int32)
    return _offset(u, np.int64(layout.n_agents)).astype(np.int32)


def _offset(u: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.minimum((u * count).astype(np.int64), count - 1)


def _csr(n: int, source: np.ndarray, target: np.ndarray) -> Network:
    indptr = np.zeros(n + 1, np.int64)
    degree = np.bincount(source, minlength=n) + np.bincount(target, minlength=n)
    np.cumsum(degree, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int32)
    _fill_csr(indptr, source, target, indices)
    return Network(indptr, indices)


@numba.njit(cache=True)
def _fill_csr(indptr, source, target, indices):  # pragma: no cover - compiled
    cursor = indptr[:-1].copy()
    for k in range(source.shape[0]):
        a = source[k]
        b = target[k]
        indices[cursor[a]] = b
        cursor[a] += 1
        indices[cursor[b]] = a
        cursor[b] += 1
