"""Statistics that credsim reports about a run: survival on the list, inequality, disparity.

Everything here is a pure NumPy function of its arguments: no state, no randomness, no
pandas/scipy/lifelines. Each is vectorized (sorting, ``np.unique``, ``np.cumsum``,
``np.bincount``), so it runs on arrays the size of the whole population without a Python
loop over elements or over distinct times.

Survival (time spent on the list)
    ``kaplan_meier``        the product-limit estimate S(t) at each distinct event time
    ``km_survival_at``      S(t) at one time t
    ``km_median``           the median time on the list, or nan when it is not reached

Inequality
    ``gini``                Gini coefficient of non-negative values, optionally weighted

Disparity between groups
    ``disparate_impact``    each group's rate divided by a reference group's rate
    ``four_fifths_ratio``   ratio of NOT-selected rates, the quantity the four-fifths
                            screening rule looks at

Waits recorded as histograms
    ``median_from_histogram``  lower median of a wait whose counts are kept per day

Conventions: a result that is undefined for the data (no one at risk, a zero reference
rate, an empty input) is ``nan``, never an exception; an input that cannot be right
(negative durations or values, mismatched shapes) raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "kaplan_meier",
    "km_survival_at",
    "km_median",
    "gini",
    "disparate_impact",
    "four_fifths_ratio",
    "median_from_histogram",
]

#: Slack allowed when asking whether the running product S(t) has reached 0.5. The
#: product of many factors (1 - d_i/n_i) picks up rounding error: 24 subjects with
#: distinct, uncensored durations give S = 0.5000000000000001 at the 12th event, where the
#: exact value is 1/2. A true S(t) within this distance above 0.5 is treated as 0.5.
_MEDIAN_TOL = 1e-9


# --------------------------------------------------------------------------- survival


def _check_survival_input(durations: ArrayLike, observed: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to (float64 durations, bool observed), both shape (n,)."""
    d = np.asarray(durations, dtype=np.float64)
    o = np.asarray(observed)
    if d.ndim != 1 or o.ndim != 1:
        raise ValueError(
            f"durations and observed must be 1-D, got shapes {d.shape} and {o.shape}"
        )
    if d.shape != o.shape:
        raise ValueError(
            f"durations and observed must have the same length, got {d.shape[0]} and {o.shape[0]}"
        )
    if d.size and not np.all(np.isfinite(d)):
        raise ValueError("durations must be finite (no nan or inf)")
    if d.size and d.min() < 0:
        raise ValueError(f"durations must be non-negative, found {d.min()!r}")
    if o.dtype != np.bool_:
        if o.size and not np.all((o == 0) | (o == 1)):
            raise ValueError("observed must be boolean (or 0/1)")
        o = o.astype(np.bool_)
    return d, o


def kaplan_meier(durations: ArrayLike, observed: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier (product-limit) estimate of the survival function.

    Parameters
    ----------
    durations : array_like, shape (n,)
        Non-negative, finite numbers: how long each episode lasted (days on the list).
        Converted to float64.
    observed : array_like of bool, shape (n,)
        True when the episode ended (an event: the person left the list), False when it
        was censored (still listed at the end of the run). 0/1 integers are accepted.

    Returns
    -------
    times : ndarray of float64, shape (k,)
        The distinct durations at which at least one event happened, ascending.
    survival : ndarray of float64, shape (k,)
        S(t) just after each of those times:

            S(t) = prod_{t_i <= t} (1 - d_i / n_i)

        where d_i is the number of events at t_i and n_i the number at risk at t_i, i.e.
        with duration >= t_i. An episode censored at exactly t_i counts as at risk at t_i
        (the usual convention: censoring is taken to happen just after the events).
        S is a right-continuous step function, equal to 1 before ``times[0]``.

    Both arrays are empty when n == 0 or when no episode has an event.

    Raises
    ------
    ValueError
        Mismatched or non-1-D shapes, negative or non-finite durations, non-boolean
        ``observed``.

    Notes
    -----
    O(n log n): one ``np.unique`` over the durations, then ``np.bincount`` for the events
    and exits at each distinct time, a reversed cumulative sum for the numbers at risk,
    and a cumulative product over the event times.
    """
    d, o = _check_survival_input(durations, observed)
    if d.size == 0 or not o.any():
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)

    uniq, inverse = np.unique(d, return_inverse=True)
    inverse = inverse.reshape(-1)  # numpy 2.0.x returned the input's shape here
    exits = np.bincount(inverse, minlength=uniq.size)  # events + censorings at each time
    events = np.bincount(inverse, weights=o.astype(np.float64), minlength=uniq.size)
    # number with duration >= uniq[j]: everyone, minus those who left strictly before.
    at_risk = d.size - np.concatenate(([0], np.cumsum(exits)[:-1]))

    has_event = events > 0
    factors = 1.0 - events[has_event] / at_risk[has_event]
    return uniq[has_event], np.cumprod(factors)


def km_survival_at(durations: ArrayLike, observed: ArrayLike, t: float) -> float:
    """Kaplan-Meier survival S(t) at a single time ``t``.

    Parameters
    ----------
    durations, observed : array_like, shape (n,)
        As in :func:`kaplan_meier`.
    t : float
        The time at which to read the curve. S is right-continuous, so at an event time
        ``t`` the value includes the drop at ``t``.

    Returns
    -------
    float
        S(t); 1.0 when ``t`` is before the first event time (or there are no events at
        all); ``nan`` when n == 0 (no one to estimate from). Beyond the last duration the
        last value of the curve is carried forward.

    Raises
    ------
    ValueError
        As in :func:`kaplan_meier`, or if ``t`` is nan.
    """
    t = float(t)
    if np.isnan(t):
        raise ValueError("t must be a number, got nan")
    d, o = _check_survival_input(durations, observed)
    if d.size == 0:
        return float("nan")
    times, surv = kaplan_meier(d, o)
    idx = int(np.searchsorted(times, t, side="right"))
    return 1.0 if idx == 0 else float(surv[idx - 1])


def km_median(durations: ArrayLike, observed: ArrayLike) -> float:
    """Median survival time from the Kaplan-Meier curve.

    Parameters
    ----------
    durations, observed : array_like, shape (n,)
        As in :func:`kaplan_meier`.

    Returns
    -------
    float
        The smallest event time t with S(t) <= 0.5 (S(t) within 1e-9 above 0.5 counts as
        0.5, to absorb rounding in the running product).

        ``nan`` when the curve never reaches 0.5 -- too much censoring, or too few events,
        for half the episodes to be seen ending. The median is then *not reached*: it is
        longer than the data can show, not zero and not missing at random, and callers
        should report it as "not reached" rather than as a number. Also ``nan`` when n == 0.

    Raises
    ------
    ValueError
        As in :func:`kaplan_meier`.
    """
    times, surv = kaplan_meier(durations, observed)
    reached = np.flatnonzero(surv <= 0.5 + _MEDIAN_TOL)
    if reached.size == 0:
        return float("nan")
    return float(times[reached[0]])


# ------------------------------------------------------------------------- inequality


def gini(values: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, near 1 when one holds all.

    Parameters
    ----------
    values : array_like, shape (n,)
        Non-negative, finite numbers (a score, a count, an amount). Converted to float64.
    weights : array_like, shape (n,), optional
        Non-negative, finite weights (how many people each value stands for). Without
        weights every value counts once.

    Returns
    -------
    float
        Unweighted, with x_(1) <= ... <= x_(n) the sorted values:

            G = sum_i (2 i - n - 1) x_(i) / (n * sum_i x_i)

        which equals the mean absolute difference over all ordered pairs (including each
        value with itself) divided by twice the mean: sum_ij |x_i - x_j| / (2 n^2 mean).
        One holder of everything among n gives (n - 1) / n.

        Weighted, with W = sum w and the same pairwise definition:

            G = sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean_w),   mean_w = sum w x / W

        computed after sorting as sum_i w_i x_i (2 C_{i-1} + w_i - W) / (W * sum w x),
        C_{i-1} being the weight of the values sorted before i. Integer weights give the
        same number as repeating each value w_i times; all-ones weights give the
        unweighted G.

        ``nan`` for empty input, for a total of zero (all values zero, or zero total
        weight, or all the weight on zeros): inequality of nothing is undefined.

    Raises
    ------
    ValueError
        Not 1-D, negative or non-finite values or weights, weights of another length.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("values must be finite (no nan or inf)")
    if x.size and x.min() < 0:
        raise ValueError(f"gini needs non-negative values, found {x.min()!r}")

    if weights is None:
        n = x.size
        total = x.sum()
        if n == 0 or total == 0:
            return float("nan")
        xs = np.sort(x)
        coef = 2.0 * np.arange(1, n + 1, dtype=np.float64) - n - 1.0
        # np.sum's pairwise order is fixed by the length alone; np.dot goes through BLAS,
        # whose order (and so the last bits) depends on its thread count
        return float(np.sum(coef * xs) / (n * total))

    w = np.asarray(weights, dtype=np.float64)
    if w.shape != x.shape:
        raise ValueError(f"weights must have the shape of values {x.shape}, got {w.shape}")
    if w.size and not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (no nan or inf)")
    if w.size and w.min() < 0:
        raise ValueError(f"weights must be non-negative, found {w.min()!r}")
    if x.size == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    W = ws.sum()
    wx = ws * xs
    total = wx.sum()
    if W == 0 or total == 0:
        return float("nan")
    before = np.cumsum(ws) - ws  # weight of the values sorted before each one
    return float(np.sum(wx * (2.0 * before + ws - W)) / (W * total))  # not np.dot: see above


# -------------------------------------------------------------------------- disparity


def _reference_rate(rates: Mapping[str, float], reference: str) -> float:
    if reference not in rates:
        raise KeyError(f"reference group {reference!r} is not among the groups {sorted(rates)}")
    return float(rates[reference])


def disparate_impact(rates: Mapping[str, float], reference: str) -> dict[str, float]:
    """Each group's rate divided by the reference group's rate.

    Parameters
    ----------
    rates : mapping of str to float
        A rate per group (e.g. the share of each group put on the list). Non-negative;
        ``nan`` is allowed and gives ``nan``.
    reference : str
        The group to compare against; must be a key of ``rates``.

    Returns
    -------
    dict of str to float
        ``{group: rates[group] / rates[reference]}`` in the order of ``rates``, the
        reference itself included (1.0). A value of 2.0 means the group's rate is twice
        the reference's.

        When the reference rate is 0 every ratio is ``nan`` -- including for a group whose
        own rate is also 0 and for the reference itself: 0/0 says nothing about whether
        the two groups are treated alike, so no number is invented for it.

    Raises
    ------
    KeyError
        ``reference`` is not a group in ``rates``.
    ValueError
        A rate is negative.
    """
    ref = _reference_rate(rates, reference)
    undefined = ref == 0 or np.isnan(ref)
    out: dict[str, float] = {}
    for group, rate in rates.items():  # one entry per group, not per person
        r = float(rate)
        if r < 0:
            raise ValueError(f"rate of group {group!r} is negative: {r!r}")
        out[group] = float("nan") if undefined else r / ref
    return out


def four_fifths_ratio(selected_rates: Mapping[str, float], reference: str) -> dict[str, float]:
    """Ratio of NOT-selected rates, the quantity the four-fifths rule screens.

    Here "selected" is the adverse outcome (put on the list, flagged, sanctioned), so the
    favourable rate of a group is ``1 - rate``. For each group:

        ratio_g = (1 - rate_g) / (1 - rate_ref)

    A ratio below 0.8 is what the "four-fifths rule" flags: a group whose favourable rate
    is under four fifths of the reference group's. That rule comes from US employment law
    -- the Uniform Guidelines on Employee Selection Procedures (EEOC and other agencies,
    1978, 29 CFR 1607.4(D)) -- where it is a rule of thumb for when an agency should look
    more closely at a selection procedure. It is a legal screening threshold, not a test
    of fairness: a ratio above 0.8 does not show a system is fair, and one below 0.8 does
    not by itself show that it is not (the Guidelines themselves allow for small samples
    and other evidence). The Guidelines compare each group with the group that has the
    highest favourable rate; here the caller picks the reference.

    Parameters
    ----------
    selected_rates : mapping of str to float
        Per group, the share selected for the adverse outcome, in [0, 1]; ``nan`` allowed.
    reference : str
        The group to compare against; must be a key of ``selected_rates``.

    Returns
    -------
    dict of str to float
        ``{group: ratio_g}`` in the order of ``selected_rates``, the reference included
        (1.0). ``nan`` for every group when the reference's not-selected rate is 0 (its
        selected rate is 1), including a group also at rate 1, as in
        :func:`disparate_impact`.

    Raises
    ------
    KeyError
        ``reference`` is not a group.
    ValueError
        A rate outside [0, 1].
    """
    ref_kept = 1.0 - _reference_rate(selected_rates, reference)
    undefined = ref_kept == 0 or np.isnan(ref_kept)
    out: dict[str, float] = {}
    for group, rate in selected_rates.items():  # one entry per group, not per person
        r = float(rate)
        if r < 0 or r > 1:  # the reference is among the groups, so it is checked too
            raise ValueError(f"selected rate of group {group!r} must be in [0, 1], got {r!r}")
        out[group] = float("nan") if undefined else (1.0 - r) / ref_kept
    return out


# ------------------------------------------------------------------------- histograms


def median_from_histogram(counts: ArrayLike) -> float:
    """Lower median of a wait recorded as a per-day histogram.

    Parameters
    ----------
    counts : array_like of int, shape (k,)
        ``counts[w]`` = how many cases waited exactly ``w`` days (w = 0 .. k-1).
        Non-negative integers (integer-valued floats are accepted).

    Returns
    -------
    float
        The smallest ``w`` with ``cumsum(counts)[w] >= total / 2`` (compared as
        ``2 * cumsum >= total`` in integers, so exactly): the median for an odd total, the
        lower of the two middle values for an even total. ``nan`` when the total is 0
        (including k == 0).

    Raises
    ------
    ValueError
        Not 1-D, negative, non-integer or non-finite counts.
    """
    c = np.asarray(counts)
    if c.ndim != 1:
        raise ValueError(f"counts must be 1-D, got shape {c.shape}")
    if c.size == 0:
        return float("nan")
    if c.dtype.kind == "f":
        if not np.all(np.isfinite(c)) or not np.all(c == np.floor(c)):
            raise ValueError("counts must be whole numbers")
    elif c.dtype.kind not in "iub":
        raise ValueError(f"counts must be integers, got dtype {c.dtype}")
    c = c.astype(np.int64)
    if c.min() < 0:
        raise ValueError(f"counts must be non-negative, found {int(c.min())}")
    cum = np.cumsum(c)
    total = int(cum[-1])
    if total == 0:
        return float("nan")
    return float(np.argmax(2 * cum >= total))
