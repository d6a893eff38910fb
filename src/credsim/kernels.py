"""Compiled sweeps over the whole population: the few per-day steps that must touch
everyone (forgetting, perceived risk) done in one pass each instead of a numpy expression
per operation. Each does exactly the float32 arithmetic of the numpy it replaces, element
by element, so results do not depend on it; ``parallel=True`` splits people across cores
(no reductions, so the split cannot change a result).
"""

from __future__ import annotations

import numba
import numpy as np


PARALLEL_FROM = 500_000  # below this many people, waking threads costs more than it saves


def forget_and_clip(tracks, exposure, penalty, keep, pull, low, high, forgetting):
    """For each track row and person: subtract ``penalty * exposure`` (guilt by association),
    then ``x = x * keep + pull`` when ``forgetting``, then clip to [low, high]."""
    kernel = _forget_row_parallel if tracks.shape[1] >= PARALLEL_FROM else _forget_row
    for t in range(tracks.shape[0]):
        kernel(tracks[t], exposure, penalty, keep if forgetting else np.float32(1.0), pull if forgetting else np.float32(0.0), low, high)


def update_risk(risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha):
    """risk += alpha * (exposure / degree + own_weight * (listed or detained) - risk)."""
    kernel = _update_risk_parallel if risk.shape[0] >= PARALLEL_FROM else _update_risk
    kernel(risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha)


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
def _update_risk(risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha):  # pragma: no cover - compiled
    for i in range(risk.shape[0]):
        _risk_step(i, risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha)


@numba.njit(parallel=True, cache=True)
def _update_risk_parallel(risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha):  # pragma: no cover - compiled
    for i in numba.prange(risk.shape[0]):
        _risk_step(i, risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha)


@numba.njit(cache=True, inline="always")
def _risk_step(i, risk, exposure, degree, status, detained_until, day, listed_code, own_weight, alpha):  # pragma: no cover - compiled
    seen = np.float32(0.0)
    if degree[i] > 0:
        seen = exposure[i] / degree[i]
    if own_weight != 0 and (status[i] == listed_code or detained_until[i] > day):
        seen = seen + own_weight
    r = risk[i]
    if seen != 0 or r != 0:
        risk[i] = r + alpha * (seen - r)


@numba.njit(cache=True)
def sum64(values):  # pragma: no cover - compiled
    """The float64 sum of a float32 array, in a fixed order: eight running sums, so that the
    loop vectorizes, combined at the end (error about 1e-16 times the length)."""
    lanes = np.zeros(8)
    n = values.shape[0]
    whole = n - n % 8
    for i in range(0, whole, 8):
        for k in range(8):
            lanes[k] += values[i + k]
    for i in range(whole, n):
        lanes[0] += values[i]
    return lanes.sum()

