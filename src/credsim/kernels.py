"""Compiled sweeps over the whole population: the few per-day steps that must touch
everyone (forgetting, perceived risk) done in one pass each instead of a numpy expression
per operation, and small compiled helpers for the sparse sets the fast path keeps.

Each sweep does exactly the float32 arithmetic of the numpy it replaces, element by
element, so results do not depend on it. A sweep also returns what later phases would
otherwise read everyone again for -- float64 sums per group, and the few people past a
threshold -- computed per fixed chunk of people and combined in chunk order, so that no
result depends on the number of threads. ``parallel=True`` splits chunks across cores.
"""

from __future__ import annotations

import numba
import numpy as np

PARALLEL_FROM = 500_000  # below this many people, waking threads costs more than it saves
CHUNK = 16384  # people per chunk of a sweep; chunks never straddle two groups
SMALL = 4096  # sorted_union sorts fewer people than this, and merges more


def chunks(group_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, group) of each chunk: ``start`` has one more entry, the end of the last chunk."""
    starts, groups = [], []
    for g in range(len(group_start) - 1):
        bounds = np.arange(group_start[g], group_start[g + 1], CHUNK, dtype=np.int64)
        starts.append(bounds)
        groups.append(np.full(len(bounds), g, np.int64))
    return np.append(np.concatenate(starts), group_start[-1]).astype(np.int64), np.concatenate(groups)


def forget_and_clip(tracks, exposure, penalty, keep, pull, low, high, forgetting):
    """For each track row and person: subtract ``penalty * exposure`` (guilt by association),
    then ``x = x * keep + pull`` when ``forgetting``, then clip to [low, high]."""
    kernel = _forget_row_parallel if tracks.shape[1] >= PARALLEL_FROM else _forget_row
    for t in range(tracks.shape[0]):
        kernel(tracks[t], exposure, penalty, keep if forgetting else np.float32(1.0), pull if forgetting else np.float32(0.0), low, high)


def forget_and_find(tracks, exposure, penalty, keep, pull, low, high, forgetting, status, free, threshold, reward_threshold, starts, group, n_groups):
    """:func:`forget_and_clip`, and what the record and list phases need from the new scores:

    - ``sums`` (3, G) float64: the sum of each track over each group;
    - ``below``: people free (``status == free``) with ``score < threshold``, sorted;
    - ``above``: people with ``score >= reward_threshold`` (any status), sorted.
    """
    kernel = _forget_find_parallel if tracks.shape[1] >= PARALLEL_FROM else _forget_find
    n_chunks = len(starts) - 1
    partial = np.zeros((3, n_chunks))
    n_below = np.zeros(n_chunks, np.int64)
    n_above = np.zeros(n_chunks, np.int64)
    kernel(tracks, exposure, penalty, keep if forgetting else np.float32(1.0), pull if forgetting else np.float32(0.0), low, high,
           status, free, threshold, reward_threshold, starts, partial, n_below, n_above)
    sums = np.zeros((3, n_groups))
    _add_by_group(partial, group, sums)
    below = _collect(tracks[0], status, free, threshold, starts, n_below, True)
    above = _collect(tracks[0], status, free, reward_threshold, starts, n_above, False)
    return sums, below, above


def update_risk(risk, exposure, indptr, status, detained_until, day, listed_code, own_weight, alpha):
    """risk += alpha * (exposure / degree + own_weight * (listed or detained) - risk), with
    person i's degree ``indptr[i + 1] - indptr[i]`` (the network's row ends)."""
    kernel = _update_risk_parallel if risk.shape[0] >= PARALLEL_FROM else _update_risk
    kernel(risk, exposure, indptr, status, detained_until, day, listed_code, own_weight, alpha)


def update_risk_and_sum(risk, exposure, indptr, own, own_weight, alpha, starts, group, n_groups):
    """:func:`update_risk` for the sorted people ``own`` listed or detained (a small set, so
    that the sweep need not read everyone's status and detention), and the sum of the new
    risk over each group, (G,) float64."""
    kernel = _update_risk_sum_parallel if risk.shape[0] >= PARALLEL_FROM else _update_risk_sum
    partial = np.zeros((1, len(starts) - 1))
    kernel(risk, exposure, indptr, own, np.searchsorted(own, starts), own_weight, alpha, starts, partial)
    sums = np.zeros((1, n_groups))
    _add_by_group(partial, group, sums)
    return sums[0]


def sorted_union(*parts: np.ndarray) -> np.ndarray:
    """The sorted distinct people of several arrays of people (int32). The kept sets are
    sorted already, so they are merged rather than sorted again (a part that is not sorted,
    such as the people an appeal freed, in queue order, is sorted first)."""
    parts = [p.astype(np.int32, copy=False) for p in parts if len(p)]
    if not parts:
        return np.zeros(0, np.int32)
    if sum(len(p) for p in parts) < SMALL:  # calling compiled code costs more than sorting
        merged = np.sort(np.concatenate(parts))
        return merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
    parts.sort(key=len)  # the small first: each merge walks what is merged so far
    merged = parts[0] if _ascending(parts[0]) else np.sort(parts[0])
    for part in parts[1:]:
        merged = _merge(merged, part if _ascending(part) else np.sort(part))
    return merged if len(parts) > 1 else _merge(merged, merged[:0])


def inserted(people: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The sorted ``people`` (int32) with the sorted ``new``, none of them among them, put in
    their places: one copy of the set, not a merge."""
    if len(new) == 0:
        return people
    return np.insert(people, np.searchsorted(people, new), new.astype(people.dtype))


def without(people: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The sorted ``people`` who are not among the sorted ``others``: a binary search for
    each of ``others`` (a small set), not a read of anything per person."""
    if len(others) == 0 or len(people) == 0:
        return people
    at = np.minimum(np.searchsorted(people, others), len(people) - 1)
    keep = np.ones(len(people), bool)
    keep[at[people[at] == others]] = False
    return people[keep]


@numba.njit(cache=True, inline="always")
def power(x, eta):  # pragma: no cover - compiled
    """``x ** eta`` as NumPy computes it for an array: an exponent of 1 is ``x`` and of 0.5 a
    square root, each exact (a compiled power is 20 times slower, and differs from the square
    root in the last bit of about one value in a thousand)."""
    if eta == 1.0:
        return x
    if eta == 0.5:
        return np.sqrt(x)
    return x**eta


@numba.njit(cache=True)
def _ascending(values):  # pragma: no cover - compiled
    for i in range(1, values.shape[0]):
        if values[i] < values[i - 1]:
            return False
    return True


@numba.njit(cache=True)
def _merge(a, b):  # pragma: no cover - compiled
    """The distinct values (people, so at least 0) of two sorted arrays, sorted. Branch-free:
    which array gives the next value is a coin toss to the processor, so it is computed,
    not guessed (twice as fast as numpy's sort of both)."""
    na, nb = a.shape[0], b.shape[0]
    out = np.empty(na + nb + 1, np.int32)
    i, j, n, last = 0, 0, 0, -1
    while i < na and j < nb:
        x, y = a[i], b[j]
        value = x if x <= y else y
        i += np.int64(x <= y)
        j += np.int64(y <= x)  # on a tie both move on
        out[n] = value  # written always, kept only when new
        n += np.int64(value != last)
        last = value
    while i < na:
        out[n] = a[i]
        n += np.int64(a[i] != last)
        last = a[i]
        i += 1
    while j < nb:
        out[n] = b[j]
        n += np.int64(b[j] != last)
        last = b[j]
        j += 1
    return out[:n]


# Each sweep twice, under its own name (Numba caches by name): serial, and split across
# threads with prange. The bodies are the same.


@numba.njit(cache=True)
def _forget_row(row, exposure, penalty, keep, pull, low, high):  # pragma: no cover - compiled
    # Branch-free so that it vectorizes. With keep = 1 and pull = 0 the products are exact,
    # and subtracting a zero cost changes nothing: the same numbers as the numpy steps.
    for i in range(row.shape[0]):
        x = (row[i] - penalty * exposure[i]) * keep + pull
        row[i] = min(max(x, low), high)


@numba.njit(parallel=True, cache=True)
def _forget_row_parallel(row, exposure, penalty, keep, pull, low, high):  # pragma: no cover - compiled
    for i in numba.prange(row.shape[0]):
        x = (row[i] - penalty * exposure[i]) * keep + pull
        row[i] = min(max(x, low), high)


@numba.njit(cache=True)
def _forget_find(tracks, exposure, penalty, keep, pull, low, high, status, free, threshold, reward_threshold, starts, partial, n_below, n_above):  # pragma: no cover - compiled
    for c in range(starts.shape[0] - 1):
        _forget_find_chunk(c, tracks, exposure, penalty, keep, pull, low, high, status, free, threshold, reward_threshold, starts, partial, n_below, n_above)


@numba.njit(parallel=True, cache=True)
def _forget_find_parallel(tracks, exposure, penalty, keep, pull, low, high, status, free, threshold, reward_threshold, starts, partial, n_below, n_above):  # pragma: no cover - compiled
    for c in numba.prange(starts.shape[0] - 1):
        _forget_find_chunk(c, tracks, exposure, penalty, keep, pull, low, high, status, free, threshold, reward_threshold, starts, partial, n_below, n_above)


@numba.njit(cache=True, inline="always")
def _forget_find_chunk(c, tracks, exposure, penalty, keep, pull, low, high, status, free, threshold, reward_threshold, starts, partial, n_below, n_above):  # pragma: no cover - compiled
    # Plain loops over the chunk's own slices, so that each vectorizes: the update, then the
    # sums and the counts over the values just written (still in cache).
    a, b = starts[c], starts[c + 1]
    cost = exposure[a:b]
    for t in range(tracks.shape[0]):
        row = tracks[t, a:b]
        for i in range(b - a):
            x = (row[i] - penalty * cost[i]) * keep + pull
            row[i] = min(max(x, low), high)
        partial[t, c] = _sum_lanes(row)
    # Counted in int32, one loop each: so they vectorize (a chunk is far below 2**31).
    score, state, mark = tracks[0, a:b], status[a:b], np.int32(free)
    below = np.int32(0)
    for i in range(b - a):
        below += np.int32(score[i] < threshold) * np.int32(np.int32(state[i]) == mark)
    above = np.int32(0)
    for i in range(b - a):
        above += np.int32(score[i] >= reward_threshold)
    n_below[c] = below
    n_above[c] = above


LANES = 64  # running sums of a float64 sum, each over every LANES-th element


@numba.njit(cache=True, inline="always")
def _sum_lanes(values):  # pragma: no cover - compiled
    """The float64 sum of ``values`` in a fixed order, whatever the machine: ``LANES`` running
    sums, lane k over the elements at k, k + LANES, ..., added in lane order, then the
    remainder. Adding a block of elements into the lanes is a map, not a reduction, so it
    vectorizes (three times faster than one running sum) without reordering any addition."""
    lanes = np.zeros(LANES)
    n = values.shape[0]
    whole = n - n % LANES
    for a in range(0, whole, LANES):
        for k in range(LANES):
            lanes[k] += values[a + k]
    total = 0.0
    for k in range(LANES):
        total += lanes[k]
    for i in range(whole, n):
        total += values[i]
    return total


@numba.njit(cache=True)
def _collect(score, status, free, threshold, starts, counts, below):  # pragma: no cover - compiled
    """The people counted by a sweep, from the chunks that have any."""
    out = np.empty(counts.sum(), np.int32)
    n = 0
    for c in range(starts.shape[0] - 1):
        if counts[c] == 0:
            continue
        for i in range(starts[c], starts[c + 1]):
            if (score[i] < threshold and status[i] == free) if below else score[i] >= threshold:
                out[n] = i
                n += 1
    return out


@numba.njit(cache=True)
def _add_by_group(partial, group, sums):  # pragma: no cover - compiled
    for t in range(partial.shape[0]):
        for c in range(partial.shape[1]):
            sums[t, group[c]] += partial[t, c]


@numba.njit(cache=True)
def _update_risk(risk, exposure, indptr, status, detained_until, day, listed_code, own_weight, alpha):  # pragma: no cover - compiled
    for i in range(risk.shape[0]):
        degree = np.float32(np.int32(indptr[i + 1] - indptr[i]))  # through int32: int64 -> float32 does not vectorize
        risk[i] = _risk_step(risk[i], exposure[i], degree, status[i] == listed_code or detained_until[i] > day, own_weight, alpha)


@numba.njit(parallel=True, cache=True)
def _update_risk_parallel(risk, exposure, indptr, status, detained_until, day, listed_code, own_weight, alpha):  # pragma: no cover - compiled
    for i in numba.prange(risk.shape[0]):
        degree = np.float32(np.int32(indptr[i + 1] - indptr[i]))  # through int32: int64 -> float32 does not vectorize
        risk[i] = _risk_step(risk[i], exposure[i], degree, status[i] == listed_code or detained_until[i] > day, own_weight, alpha)


@numba.njit(cache=True)
def _update_risk_sum(risk, exposure, indptr, own, own_start, own_weight, alpha, starts, partial):  # pragma: no cover - compiled
    for c in range(starts.shape[0] - 1):
        _risk_chunk(c, risk, exposure, indptr, own, own_start, own_weight, alpha, starts, partial)


@numba.njit(parallel=True, cache=True)
def _update_risk_sum_parallel(risk, exposure, indptr, own, own_start, own_weight, alpha, starts, partial):  # pragma: no cover - compiled
    for c in numba.prange(starts.shape[0] - 1):
        _risk_chunk(c, risk, exposure, indptr, own, own_start, own_weight, alpha, starts, partial)


@numba.njit(cache=True, inline="always")
def _risk_chunk(c, risk, exposure, indptr, own, own_start, own_weight, alpha, starts, partial):  # pragma: no cover - compiled
    # The chunk's listed or detained people are marked in a buffer that stays in cache: the
    # sweep reads 16 bytes a person from memory instead of 21 (the degrees from the row ends,
    # 4 bytes a person with int32 rows, as a degree array's float32 took).
    a, b = starts[c], starts[c + 1]
    mine = np.zeros(b - a, np.bool_)
    for k in range(own_start[c], own_start[c + 1]):
        mine[own[k] - a] = True
    # Each degree is the difference of two row ends, read as two aligned slices: indexed by
    # the loop's own counter, the loop vectorizes as it did over a float32 degree array.
    r, e, first, last = risk[a:b], exposure[a:b], indptr[a:b], indptr[a + 1 : b + 1]
    for i in range(b - a):
        r[i] = _risk_step(r[i], e[i], np.float32(np.int32(last[i] - first[i])), mine[i], own_weight, alpha)
    partial[0, c] = _sum_lanes(r)


@numba.njit(cache=True, inline="always")
def _risk_step(r, exposure, degree, own, own_weight, alpha):  # pragma: no cover - compiled
    # Scalars in, a scalar out: an inlined helper that took the arrays would count
    # references to them at every call, which made the serial loop 25 times slower.
    seen = np.float32(0.0)
    if degree > 0:
        seen = exposure / degree
    if own_weight != 0 and own:
        seen = seen + own_weight
    if seen != 0 or r != 0:
        return r + alpha * (seen - r)
    return r


@numba.njit(cache=True)
def sum64(values):  # pragma: no cover - compiled
    """The float64 sum of a float32 array, in a fixed order (:func:`_sum_lanes`; error about
    1e-16 times the length)."""
    return _sum_lanes(values)
