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

Arrays: ``indptr`` (n_agents + 1,) int32, or int64 when the rows hold 2**31 tie ends or more
(:func:`row_dtype`), and ``indices`` (n_ties,) int32 with the contacts of person i in
``indices[indptr[i]:indptr[i + 1]]``: the ties in the order they were started, each one in
the rows of both its ends. (int32 row ends save 4 bytes a person: 100 M people with 20
contacts each still fit.)

Building: tie k is started by person ``k % n_agents`` and takes three uniforms of its own
(same group?, same region?, which person?), drawn from ``rng`` tie after tie. The ties are
drawn in chunks of ``CHUNK`` ties, but since each chunk takes the next ``3 * chunk`` uniforms
the network depends only on the state of ``rng``, not on the chunk size. Only the targets
are kept for all ties (int32, 4 bytes a tie: ``2 * contacts`` bytes per person); starters
are recomputed. The targets of a chunk are drawn in one compiled pass over its ties, and
the degree count and the CSR fill are compiled loops that skip self-ties and use
``indptr`` itself as the cursor. So the build needs, beyond the final CSR, those 4 bytes a
tie (the targets are freed once the rows are filled), and before that the current chunk's
uniforms and targets, about 30 MB whatever the population (``credsim.resources`` allows 70).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from credsim.population.layout import Layout


@dataclass(frozen=True)
class Network:
    indptr: np.ndarray  # (n_agents + 1,) int32 (int64 from 2**31 tie ends: row_dtype)
    indices: np.ndarray  # (n_ties,) int32

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr).astype(np.int32)

    def degree_of(self, people: np.ndarray) -> np.ndarray:
        """(len(people),) float32: how many contacts each of ``people`` has, as the risk and
        informant rules read it (exact: a degree is far below 2**24). Kept as the row ends
        only, not as an array of its own: 4 bytes a person saved."""
        return (self.indptr[people + 1] - self.indptr[people]).astype(np.float32)

    def max_degree(self) -> int:
        return int(np.diff(self.indptr).max(initial=0))

    def contacts_of(self, person: int) -> np.ndarray:
        return self.indices[self.indptr[person] : self.indptr[person + 1]]


CHUNK = 1 << 20  # ties drawn at once; the network does not depend on it


def row_dtype(n_ties: int) -> type:
    """The row ends' type: int32 while both ends of every tie (at most ``2 * n_ties``) fit."""
    return np.int32 if 2 * n_ties <= np.iinfo(np.int32).max else np.int64


def build_network(
    layout: Layout, contacts: float, homophily: float, within_region: float, rng: np.random.Generator
) -> Network:
    n = layout.n_agents
    n_ties = int(round(n * contacts / 2))
    if n < 2 or n_ties == 0:
        return Network(np.zeros(n + 1, np.int32), np.zeros(0, np.int32))
    target = np.empty(n_ties, np.int32)
    for first in range(0, n_ties, CHUNK):
        last = min(first + CHUNK, n_ties)
        target[first:last] = _draw_ties(layout, first, last, homophily, within_region, rng)
    # Rows: count the degrees into indptr, then fill the indices with it as the cursor.
    indptr = np.zeros(n + 1, row_dtype(n_ties))
    _count_tie_ends(target, indptr)
    indices = np.empty(int(indptr[n]), np.int32)
    _fill_tie_rows(target, indptr, indices)
    return Network(indptr, indices)


def _draw_ties(
    layout: Layout, first: int, last: int, homophily: float, within_region: float, rng: np.random.Generator
) -> np.ndarray:
    """The other ends of ties ``first`` to ``last - 1`` (self-ties included)."""
    draws = rng.random((last - first, 3))  # each tie's own three uniforms, tie after tie
    size = layout.cell_size.astype(np.int64)  # (n_groups, n_regions)
    by_column = size.T.ravel()  # cells ordered region-major: (r, g) at r * n_groups + g
    cumulative = np.cumsum(by_column)
    return _ties(
        first, layout.n_agents, layout.group, layout.region, layout.group_start.astype(np.int64), size,
        layout.cell_start.astype(np.int64), cumulative, cumulative - by_column, size.sum(axis=0),
        homophily, within_region, draws,
    )


@numba.njit(cache=True)
def _ties(first, n, group, region, group_start, size, start, cumulative, exclusive, region_size,
          homophily, within_region, draws):  # pragma: no cover - compiled
    """The other end of each tie from its three uniforms, in one pass. Ties are started by
    people in turn (tie k by person ``k % n``), so everyone starts floor or ceil of
    ``contacts / 2``. Each end is one person drawn uniformly from a union of (group, region)
    cells, by its third uniform u: ``min(int(u * count), count - 1)`` into the union.

    People are ordered by group, then region, so a group is a contiguous range of ids and
    a (group, region) cell is too; a region is a union of cells, one per group, found in
    the cells laid out region by region (``cumulative``, ``exclusive``)."""
    n_groups = size.shape[0]
    target = np.empty(draws.shape[0], np.int32)
    for k in range(draws.shape[0]):
        source = (first + k) % n
        g, r = group[source], region[source]
        same_group, same_region, u = draws[k, 0] < homophily, draws[k, 1] < within_region, draws[k, 2]
        if same_group and same_region and size[g, r] > 0:
            target[k] = start[g, r] + _offset(u, size[g, r])
        elif same_group:  # (or nobody of that group lives there: the whole group)
            target[k] = group_start[g] + _offset(u, group_start[g + 1] - group_start[g])
        elif same_region:
            position = exclusive[r * n_groups] + _offset(u, region_size[r])
            cell = np.searchsorted(cumulative, position, side="right")
            target[k] = start[cell % n_groups, cell // n_groups] + position - exclusive[cell]
        else:
            target[k] = _offset(u, n)
    return target


@numba.njit(cache=True, inline="always")
def _offset(u, count):  # pragma: no cover - compiled
    return min(np.int64(u * count), count - 1)


@numba.njit(cache=True)
def _count_tie_ends(target, indptr):  # pragma: no cover - compiled
    """Leave in ``indptr[i]`` the end of row i in the CSR (``indptr[n]`` = the total)."""
    n = indptr.shape[0] - 1
    a = 0  # the starter of tie k: k % n
    for k in range(target.shape[0]):
        b = target[k]
        if b != a:  # self-ties are dropped
            indptr[a] += 1
            indptr[b] += 1
        a += 1
        if a == n:
            a = 0
    total = 0
    for i in range(n):
        total += indptr[i]
        indptr[i] = total
    indptr[n] = total


@numba.njit(cache=True)
def _fill_tie_rows(target, indptr, indices):  # pragma: no cover - compiled
    """Fill each row from its end, ties in reverse order, moving ``indptr[i]`` back to the
    row's start: rows end up holding their ties in increasing order of k."""
    n = indptr.shape[0] - 1
    n_ties = target.shape[0]
    a = (n_ties - 1) % n  # the starter of tie k: k % n
    for k in range(n_ties - 1, -1, -1):
        b = target[k]
        if b != a:
            indptr[b] -= 1
            indices[indptr[b]] = a
            indptr[a] -= 1
            indices[indptr[a]] = b
        if a == 0:
            a = n
        a -= 1
