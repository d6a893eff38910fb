"""Tests of credsim.statistics: each checks a number computed independently of the module
(by hand, by a textbook table, or by a plain Python loop written here)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from credsim.statistics import (
    disparate_impact,
    four_fifths_ratio,
    gini,
    kaplan_meier,
    km_median,
    km_survival_at,
    median_from_histogram,
)

# ------------------------------------------------------------------ reference versions


def loop_kaplan_meier(durations, observed):
    """Product-limit estimator, one element at a time, straight from the definition."""
    durations = [float(d) for d in durations]
    observed = [bool(o) for o in observed]
    event_times = sorted({d for d, o in zip(durations, observed) if o})
    times, surv = [], []
    s = 1.0
    for t in event_times:
        n_at_risk = 0
        deaths = 0
        for d, o in zip(durations, observed):
            if d >= t:
                n_at_risk += 1
            if o and d == t:
                deaths += 1
        s *= 1.0 - deaths / n_at_risk
        times.append(t)
        surv.append(s)
    return times, surv


def loop_gini(x, w=None):
    """Pairwise definition: sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean_w), O(n^2)."""
    x = [float(v) for v in x]
    w = [1.0] * len(x) if w is None else [float(v) for v in w]
    W = sum(w)
    mean = sum(wi * xi for wi, xi in zip(w, x)) / W
    acc = 0.0
    for xi, wi in zip(x, w):
        for xj, wj in zip(x, w):
            acc += wi * wj * abs(xi - xj)
    return acc / (2.0 * W * W * mean)


# ------------------------------------------------------------------------ kaplan_meier


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_km_matches_python_loop_on_random_data_with_ties_and_censoring(seed):
    rng = np.random.default_rng(20240611 + seed)
    n = 400
    durations = rng.integers(0, 40, size=n)  # 400 draws over 40 values: many ties
    observed = rng.random(n) < 0.6  # ~40% censored, censoring ties with events too
    times, surv = kaplan_meier(durations, observed)
    ref_t, ref_s = loop_kaplan_meier(durations, observed)
    assert times.dtype == np.float64 and surv.dtype == np.float64
    assert times.shape == surv.shape == (len(ref_t),)
    np.testing.assert_array_equal(times, ref_t)
    np.testing.assert_allclose(surv, ref_s, rtol=0, atol=1e-12)


def test_km_matches_python_loop_on_continuous_durations():
    rng = np.random.default_rng(7)
    durations = rng.exponential(30.0, size=300)
    durations[:50] = np.round(durations[:50])  # a few ties mixed in
    observed = rng.random(300) < 0.7
    times, surv = kaplan_meier(durations, observed)
    ref_t, ref_s = loop_kaplan_meier(durations, observed)
    np.testing.assert_array_equal(times, ref_t)
    np.testing.assert_allclose(surv, ref_s, rtol=0, atol=1e-12)


def test_km_tiny_hand_example():
    # durations 2, 3, 3+, 5, 6+, 8   (+ = censored)
    # t=2: at risk {2,3,3+,5,6+,8} = 6, 1 event -> S = 5/6
    # t=3: at risk {3,3+,5,6+,8} = 5 (3+ censored at 3 is still at risk), 1 event
    #      -> S = 5/6 * 4/5 = 2/3
    # t=5: at risk {5,6+,8} = 3, 1 event -> S = 2/3 * 2/3 = 4/9
    # t=6: only a censoring, no step
    # t=8: at risk {8} = 1, 1 event -> S = 4/9 * 0 = 0
    durations = [2, 3, 3, 5, 6, 8]
    observed = [True, True, False, True, False, True]
    times, surv = kaplan_meier(durations, observed)
    np.testing.assert_array_equal(times, [2.0, 3.0, 5.0, 8.0])
    np.testing.assert_allclose(surv, [5 / 6, 2 / 3, 4 / 9, 0.0], rtol=0, atol=1e-15)


def test_km_textbook_6mp_remission_data():
    # Freireich et al. (1963) 6-MP arm, the standard KM example (e.g. Kleinbaum & Klein,
    # Survival Analysis, ch. 2): weeks in remission, n = 21.
    # events:   6 6 6 7 10 13 16 22 23
    # censored: 6 9 10 11 17 19 20 25 32 32 34 35
    # t   n_at_risk d   factor   S
    # 6      21     3   18/21    .8571
    # 7      17     1   16/17    .8067   (17 = 21 - three 6's - 6+)
    # 10     15     1   14/15    .7529   (7 and 9+ gone; 10+ still at risk)
    # 13     12     1   11/12    .6902   (10, 10+, 11+ gone)
    # 16     11     1   10/11    .6275
    # 22      7     1    6/7     .5378   (16, 17+, 19+, 20+ gone)
    # 23      6     1    5/6     .4482
    events = [6, 6, 6, 7, 10, 13, 16, 22, 23]
    censored = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
    durations = np.array(events + censored)
    observed = np.array([True] * len(events) + [False] * len(censored))
    factors = [Fraction(18, 21), Fraction(16, 17), Fraction(14, 15), Fraction(11, 12),
               Fraction(10, 11), Fraction(6, 7), Fraction(5, 6)]
    expected, s = [], Fraction(1)
    for f in factors:
        s *= f
        expected.append(float(s))
    times, surv = kaplan_meier(durations, observed)
    np.testing.assert_array_equal(times, [6, 7, 10, 13, 16, 22, 23])
    np.testing.assert_allclose(surv, expected, rtol=0, atol=1e-12)
    # the 4-decimal values printed in textbooks
    np.testing.assert_allclose(surv, [.8571, .8067, .7529, .6902, .6275, .5378, .4482], atol=6e-5)
    assert km_median(durations, observed) == 23.0


@pytest.mark.parametrize("seed", [10, 11])
def test_km_without_censoring_is_empirical_survival(seed):
    rng = np.random.default_rng(seed)
    durations = rng.integers(0, 25, size=500)
    observed = np.ones(500, dtype=bool)
    times, surv = kaplan_meier(durations, observed)
    np.testing.assert_array_equal(times, np.unique(durations))
    empirical = [(durations > t).mean() for t in times]  # share still listed after t
    np.testing.assert_allclose(surv, empirical, rtol=0, atol=1e-12)
    assert surv[-1] == pytest.approx(0.0, abs=1e-12)


def test_km_empty_and_no_events():
    t, s = kaplan_meier([], [])
    assert t.shape == s.shape == (0,)
    t, s = kaplan_meier([3, 4, 5], [False, False, False])
    assert t.shape == s.shape == (0,)


def test_km_accepts_0_1_observed():
    a = kaplan_meier([2, 3, 3, 5], [1, 0, 1, 1])
    b = kaplan_meier([2, 3, 3, 5], [True, False, True, True])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "durations, observed",
    [
        ([1, -2, 3], [True, True, True]),  # negative duration
        ([1, np.nan], [True, True]),  # nan duration
        ([1, 2, 3], [True, True]),  # length mismatch
        ([[1, 2]], [[True, True]]),  # not 1-D
        ([1, 2], [1, 2]),  # not boolean
    ],
)
def test_km_rejects_bad_input(durations, observed):
    with pytest.raises(ValueError):
        kaplan_meier(durations, observed)


# -------------------------------------------------------- km_survival_at / km_median


def test_km_survival_at_hand_example():
    # same data as test_km_tiny_hand_example: S = 5/6 on [2,3), 2/3 on [3,5),
    # 4/9 on [5,8), 0 from 8 on; 1 before 2
    durations = [2, 3, 3, 5, 6, 8]
    observed = [True, True, False, True, False, True]
    assert km_survival_at(durations, observed, 0.0) == 1.0
    assert km_survival_at(durations, observed, 1.99) == 1.0
    assert km_survival_at(durations, observed, 2.0) == pytest.approx(5 / 6, abs=1e-15)
    assert km_survival_at(durations, observed, 4.0) == pytest.approx(2 / 3, abs=1e-15)
    assert km_survival_at(durations, observed, 5.0) == pytest.approx(4 / 9, abs=1e-15)
    assert km_survival_at(durations, observed, 7.5) == pytest.approx(4 / 9, abs=1e-15)
    assert km_survival_at(durations, observed, 100.0) == 0.0
    # median: first time S <= 1/2 is t = 5 (S = 4/9); at t = 3 S = 2/3 > 1/2
    assert km_median(durations, observed) == 5.0


def test_km_survival_at_edge_cases():
    assert math.isnan(km_survival_at([], [], 3.0))
    assert km_survival_at([4, 5], [False, False], 10.0) == 1.0  # no events: never drops
    # curve that stops above 0 carries its last value forward past the last duration
    # durations 1, 2+ : t=1 n=2 d=1 -> S = 1/2
    assert km_survival_at([1, 2], [True, False], 50.0) == 0.5
    with pytest.raises(ValueError):
        km_survival_at([1, 2], [True, True], float("nan"))


def test_km_median_not_reached_is_nan():
    # durations 1, 2+, 3+, 4+ : t=1 n=4 d=1 -> S = 3/4, never reaches 1/2
    assert math.isnan(km_median([1, 2, 3, 4], [True, False, False, False]))
    # no events at all
    assert math.isnan(km_median([1, 2, 3], [False, False, False]))
    # empty
    assert math.isnan(km_median([], []))


def test_km_median_exactly_half():
    # 1, 2, 3, 4 all observed: S = 3/4, 1/2, 1/4, 0 -> median is 2 (S(2) = 1/2 <= 1/2)
    assert km_median([1, 2, 3, 4], [True] * 4) == 2.0
    # 1, 2, 3+, 4: S(1) = 3/4, S(2) = 3/4 * 2/3 = 1/2 -> median 2
    assert km_median([1, 2, 3, 4], [True, True, False, True]) == 2.0


def test_km_median_exact_half_survives_rounding():
    # 24 distinct uncensored times: S after the 12th event is exactly 12/24 = 1/2, but
    # the running float product gives 0.5000000000000001. The median is the 12th time.
    durations = np.arange(1, 25)
    assert km_median(durations, np.ones(24, dtype=bool)) == 12.0


def test_km_median_with_ties_hand_example():
    # 1, 1, 1, 2, 5+, 6 : t=1 n=6 d=3 -> S = 1/2 -> median 1
    assert km_median([1, 1, 1, 2, 5, 6], [True, True, True, True, False, True]) == 1.0
    # 1, 1+, 2, 2, 3+, 4 : t=1 n=6 d=1 -> 5/6; t=2 n=4 d=2 -> 5/6 * 1/2 = 5/12 -> median 2
    assert km_median([1, 1, 2, 2, 3, 4], [True, False, True, True, False, True]) == 2.0


# ---------------------------------------------------------------------------- gini


def test_gini_equal_values_is_zero():
    assert gini(np.full(10, 7.0)) == pytest.approx(0.0, abs=1e-15)
    assert gini([3]) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 5, 100])
def test_gini_one_holder_is_n_minus_1_over_n(n):
    x = np.zeros(n)
    x[n // 2] = 42.0
    assert gini(x) == pytest.approx((n - 1) / n, abs=1e-14)


def test_gini_hand_example():
    # x = 1, 2, 3, 4: sum|xi - xj| over ordered pairs = 2 * (1+2+3+1+2+1) = 20,
    # n^2 = 16, mean = 2.5 -> G = 20 / (2 * 16 * 2.5) = 0.25
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gini_matches_pairwise_formula_on_random_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(0.0, 1.0, size=150)
    x[:10] = 0.0  # some zeros
    x[10:20] = x[20]  # some ties
    assert gini(x) == pytest.approx(loop_gini(x), abs=1e-12)


def test_gini_weighted_matches_pairwise_formula_and_repetition():
    rng = np.random.default_rng(99)
    x = rng.integers(0, 50, size=60).astype(float)
    w = rng.integers(0, 5, size=60)
    assert gini(x, w) == pytest.approx(loop_gini(x, w), abs=1e-12)
    # integer weights == repeating each value that many times
    assert gini(x, w) == pytest.approx(gini(np.repeat(x, w)), abs=1e-12)
    # all-ones weights == unweighted; a common scale of the weights changes nothing
    assert gini(x, np.ones(60)) == pytest.approx(gini(x), abs=1e-12)
    assert gini(x, 0.3 * w) == pytest.approx(gini(x, w), abs=1e-12)


def test_gini_weighted_hand_example():
    # values 0 and 10 with weights 3 and 1 == population {0, 0, 0, 10}: one holder of 4
    # -> G = 3/4
    assert gini([10, 0], [1, 3]) == pytest.approx(0.75, abs=1e-15)


def test_gini_undefined_is_nan():
    assert math.isnan(gini([]))
    assert math.isnan(gini(np.zeros(5)))
    assert math.isnan(gini([], []))
    assert math.isnan(gini([0, 0, 3], [1, 1, 0]))  # all weight on zeros
    assert math.isnan(gini([1, 2], [0, 0]))  # no weight at all


def test_gini_rejects_bad_input():
    with pytest.raises(ValueError):
        gini([1.0, -0.5, 2.0])
    with pytest.raises(ValueError):
        gini([1.0, np.nan])
    with pytest.raises(ValueError):
        gini([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(ValueError):
        gini([1.0, 2.0], [1.0])


# ------------------------------------------------------------------------- disparity


def test_disparate_impact_hand_example():
    out = disparate_impact({"a": 0.10, "b": 0.25, "c": 0.05}, reference="a")
    assert list(out) == ["a", "b", "c"]
    assert out["a"] == 1.0
    assert out["b"] == pytest.approx(2.5, abs=1e-12)
    assert out["c"] == pytest.approx(0.5, abs=1e-12)


def test_disparate_impact_zero_reference_is_nan():
    out = disparate_impact({"ref": 0.0, "x": 0.2, "y": 0.0}, reference="ref")
    assert all(math.isnan(v) for v in out.values())  # 0/0 too: nan, not 1


def test_disparate_impact_bad_reference_or_rate():
    with pytest.raises(KeyError):
        disparate_impact({"a": 0.1}, reference="b")
    with pytest.raises(ValueError):
        disparate_impact({"a": 0.1, "b": -0.1}, reference="a")


def test_four_fifths_ratio_hand_example():
    # selected (listed) rates: ref 0.10 -> kept 0.90; g 0.30 -> kept 0.70;
    # ratio 0.70 / 0.90 = 7/9 = 0.777..., below 0.8. h 0.0 -> 1.0 / 0.9 = 10/9.
    out = four_fifths_ratio({"ref": 0.10, "g": 0.30, "h": 0.0}, reference="ref")
    assert out["ref"] == 1.0
    assert out["g"] == pytest.approx(7 / 9, abs=1e-12)
    assert out["g"] < 0.8
    assert out["h"] == pytest.approx(10 / 9, abs=1e-12)


def test_four_fifths_ratio_reference_all_selected_is_nan():
    out = four_fifths_ratio({"ref": 1.0, "g": 0.5, "h": 1.0}, reference="ref")
    assert all(math.isnan(v) for v in out.values())


def test_four_fifths_ratio_bad_input():
    with pytest.raises(KeyError):
        four_fifths_ratio({"a": 0.1}, reference="z")
    with pytest.raises(ValueError):
        four_fifths_ratio({"a": 0.1, "b": 1.5}, reference="a")


# ---------------------------------------------------------------- median_from_histogram


def test_median_from_histogram_hand_examples():
    # waits 0,1,1,2,2,2,5 (7 cases): sorted middle (4th) is 2
    # cumsum = 1,3,6,6,6,7 ; first >= 3.5 at w = 2
    assert median_from_histogram([1, 2, 3, 0, 0, 1]) == 2.0
    # waits 1,1,3,3 (4 cases): lower median is 1; cumsum = 0,2,2,4 ; first >= 2 at w = 1
    assert median_from_histogram(np.array([0, 2, 0, 2])) == 1.0
    # one case waiting 4 days
    assert median_from_histogram([0, 0, 0, 0, 1]) == 4.0
    # everyone at 0
    assert median_from_histogram([9]) == 0.0
    # 1 case at 0, 1 at 3 -> lower median 0
    assert median_from_histogram([1, 0, 0, 1]) == 0.0


def test_median_from_histogram_matches_np_sort_on_random_data():
    rng = np.random.default_rng(5)
    for _ in range(20):
        waits = rng.integers(0, 30, size=int(rng.integers(1, 200)))
        counts = np.bincount(waits, minlength=30)
        lower_median = np.sort(waits)[(waits.size - 1) // 2]
        assert median_from_histogram(counts) == float(lower_median)


def test_median_from_histogram_empty_and_bad():
    assert math.isnan(median_from_histogram([]))
    assert math.isnan(median_from_histogram([0, 0, 0]))
    with pytest.raises(ValueError):
        median_from_histogram([1, -1, 3])
    with pytest.raises(ValueError):
        median_from_histogram([1.5, 2.0])
