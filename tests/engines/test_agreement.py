"""The event engine against the reference engine (the yardstick), in distribution.

Each comparison runs the yardstick on one set of seeds and the other side on a disjoint set,
reduces every run to its statistics (:mod:`tests.engines.agreement`: per-group levels of
listed, on notice and detained, score means and quantiles, risk, income; episodes by class
and exit; events and observations per behaviour), and tests each statistic with Welch's t,
Holm's procedure holding the false-alarm rate of the whole family at ALPHA = 0.001.

That the family has power is shown with planted defects: the reference engine against
itself with one behaviour's rate x1.05, and with a changed score rule (forgiveness), must
be rejected, on the same seeds as the agreement tests; the reference engine against itself
on other seeds must not. The seeds are fixed, so each test's outcome is too; the
false-alarm rate is the chance that a set of seeds (or a new engine's random numbers, which
are a new draw) rejects engines that agree.

Sizes were chosen by measuring (docs/validation.md, "Agreement between engines"): at 20,000
people and 100 days a run takes 0.3-0.4 s of CPU, mostly per-day overhead (4,000 people take
0.22-0.25 s), so a larger population buys power more cheaply than more runs. The default
tests take 42-46 s of CPU in all.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

import credsim

from . import agreement as ag
from .agreement import ALPHA

SIZE, DAYS = 20_000, 100
FIRST = range(0, 16)  # the yardstick's seeds
SECOND = range(1000, 1016)  # the other side's seeds: disjoint, so the populations are independent
HARMFUL = "bad_driving"  # the city's commonest harmful behaviour (notice, listing and sanctions follow it)


def small(name: str, size: int = SIZE, days: int | None = DAYS, **changes) -> credsim.Scenario:
    overrides = {"population.size": size, **({"population.days": days} if days else {}), **changes}
    return credsim.load_scenario(name, overrides=overrides)


def rate_times(name: str, behaviour: str, factor: float, **kwargs) -> credsim.Scenario:
    """The scenario with ``behaviour``'s rate multiplied by ``factor`` in every group."""
    rates = credsim.load_scenario(name).behaviours[behaviour].rate
    return small(name, **kwargs, **{f"behaviours.{behaviour}.rate.{g}": r * factor for g, r in rates.items()})


@pytest.fixture(scope="module")
def city_reference():
    return ag.sample(small("city"), FIRST, "reference")


# ------------------------------------------------------------------ the test itself


def test_welch_is_scipys():
    """Welch's t, its degrees of freedom and p-value are scipy's ttest_ind(equal_var=False)."""
    rng = np.random.default_rng(3)
    x, y = rng.poisson(5.0, (4, 12)).astype(float), rng.poisson(6.0, (4, 15)).astype(float)
    t, df, p = ag.welch(x, y)
    expected = scipy_stats.ttest_ind(y, x, axis=-1, equal_var=False)
    np.testing.assert_allclose(t, expected.statistic, rtol=1e-12)
    np.testing.assert_allclose(p, expected.pvalue, rtol=1e-10)
    assert np.all(df < 12 + 15 - 2) and np.all(df > 11)


def _sample(values: np.ndarray, seeds) -> ag.Sample:
    return ag.Sample("x", "x", tuple(seeds), tuple(f"s{k}" for k in range(values.shape[1])), values)


def test_holm_and_constants():
    """Holm rejects the smallest p-values while p_(i) <= alpha/(m-i); a statistic constant and
    equal in both samples is not tested; constant but different is p = 0."""
    n = 10
    base = np.zeros((n, 4))
    base[:, 1] = np.arange(n)  # varies: tested
    base[:, 3] = 2.0
    other = base.copy()
    other[:, 1] += 100.0  # far apart: rejected
    other[:, 3] = 3.0  # constant in both, different: p = 0
    c = ag.compare(_sample(base, range(n)), _sample(other, range(n, 2 * n)), alpha=0.01)
    assert [r.tested for r in c.rows] == [False, True, False, True]
    assert c.row("s3").p == 0.0 and c.row("s1").p < 1e-10
    assert c.rejected and c.row("s1").rejected and c.row("s3").rejected
    assert np.isnan(c.row("s0").p) and not c.row("s0").rejected
    # Holm by hand at alpha 0.05, m = 3: 0.001 <= 0.05/3; then 0.03 > 0.05/2 stops.
    rows = [ag.Row(f"r{k}", 0, 0, 1, 0, 1, p, True, False) for k, p in enumerate((0.03, 0.001, 0.06))]
    assert [r.rejected for r in ag._holm(rows, 0.05)] == [False, True, False]
    # 0.001 <= 0.05/3, 0.02 <= 0.05/2 (Bonferroni's 0.05/3 would not reject it), 0.04 <= 0.05.
    rows = [ag.Row(f"r{k}", 0, 0, 1, 0, 1, p, True, False) for k, p in enumerate((0.02, 0.001, 0.04))]
    assert [r.rejected for r in ag._holm(rows, 0.05)] == [True, True, True]


def test_samples_must_not_share_seeds(city_reference):
    with pytest.raises(ValueError, match="share seeds"):
        ag.compare(city_reference, city_reference)


# ------------------------------------------------------------------ power and false alarms


def test_reference_against_itself_is_not_rejected(city_reference):
    """The null: the reference engine on seeds 0-15 against itself on seeds 1000-1015 (city,
    20,000 people, 100 days) is not rejected at family false-alarm rate 0.001."""
    c = ag.compare(city_reference, ag.sample(small("city"), SECOND, "reference"))
    assert not c.rejected, c.report()


def test_five_percent_rate_change_is_detected(city_reference):
    """Power: the reference engine with bad driving's rate x1.05 in every group (seeds
    1000-1015) against the reference engine (seeds 0-15) is rejected, by events of bad
    driving, at family false-alarm rate 0.001 (measured: t = 8.85, p = 1.3e-9, where Holm's
    first step needs p < 0.001/61, about t > 5.1 at this size)."""
    c = ag.compare(city_reference, ag.sample(rate_times("city", HARMFUL, 1.05), SECOND, "reference"))
    assert c.rejected, c.report()
    assert c.row(f"events/{HARMFUL}").rejected, c.report()


def test_score_rule_change_is_detected(city_reference):
    """Power of the score statistics themselves: forgiveness 0.002 -> 0.003 a day (+50%;
    no event rate changes) against the reference engine (seeds 0-15 against 1000-1015) is
    rejected at family false-alarm rate 0.001, by a score statistic (measured: the majority's
    last-day 90th percentile, t = -7.41, p = 2.1e-7; +25% gives t = -3.86 and is missed)."""
    c = ag.compare(city_reference, ag.sample(small("city", **{"score.forgiveness": 0.003}), SECOND, "reference"))
    assert c.rejected, c.report()
    assert any(r.rejected for r in c.rows if r.name.startswith("score_")), c.report()


# ------------------------------------------------------------------ the engines


def test_event_agrees_with_reference_in_city(city_reference):
    """city (every mechanism on), 20,000 people, 100 days: the event engine on seeds
    1000-1015 against the reference on seeds 0-15 is not rejected at family false-alarm
    rate 0.001; the family detects a 5% change in bad driving's rate and a +50% change in
    forgiveness on these seeds and sizes (the two tests above)."""
    c = ag.compare(city_reference, ag.sample(small("city"), SECOND, "event"))
    assert not c.rejected, c.report()


def test_event_agrees_with_reference_in_xinjiang():
    """xinjiang (detention, association, unjust listings), 20,000 people, 100 days: the
    event engine on seeds 1000-1015 against the reference on seeds 0-15 is not rejected at
    family false-alarm rate 0.001 (power: as in city, same sizes)."""
    scenario = small("xinjiang")
    c = ag.compare(ag.sample(scenario, FIRST, "reference"), ag.sample(scenario, SECOND, "event"))
    assert not c.rejected, c.report()
    assert c.row("detained/minority").tested and c.row("episodes_class/unjust").tested


def test_event_agrees_with_reference_where_listings_end_by_term():
    """city with a 20-day minimum term and forgetting ten times as fast (0.02 a day: a
    listed score climbs back to the exit threshold in about two months), so that listings
    end by term within the 100 days: the event engine reads the scores of the listed past
    their term every day (what the list phase decides exits by), a path no other default
    test reaches. Not rejected at family false-alarm rate 0.001, exits by term tested."""
    scenario = small("city", **{"listing.min_days": 20, "score.forgiveness": 0.02})
    c = ag.compare(ag.sample(scenario, FIRST, "reference"), ag.sample(scenario, SECOND, "event"))
    assert not c.rejected, c.report()
    assert c.row("episodes_exit/term").tested and c.row("episodes_exit/term").mean_a > 20, c.report()


# ------------------------------------------------------------------ slow: every scenario, more seeds

SLOW_SIZE = 10_000
SLOW_FIRST = range(0, 24)
SLOW_SECOND = range(1000, 1024)
# Days: each scenario's own horizon up to 200 days, except where a timeline's first change
# comes later and is cheap enough to reach (late-reform's reform on day 730).
# court-list-history's first change is on day 1232: its 200 days test its rules before it.
SLOW_DAYS = {"late-reform": 760}


@pytest.mark.slow
@pytest.mark.parametrize("name", credsim.scenario.builtin_names())
def test_event_agrees_with_reference_everywhere(name):
    """Every built-in scenario at 10,000 people and min(its days, 200) days (late-reform:
    760, past its reform on day 730): the event engine on seeds 1000-1023 against the
    reference on seeds 0-23 is not rejected at family false-alarm rate 0.001. Power: at
    these sizes, bad driving's rate x1.05 in city gives t = 10.7 on its events (measured,
    seeds as here; Holm needs about t > 4.9 for K = 70)."""
    days = SLOW_DAYS.get(name, min(credsim.load_scenario(name).population.days, 200))
    scenario = small(name, size=SLOW_SIZE, days=days)
    c = ag.compare(ag.sample(scenario, SLOW_FIRST, "reference"), ag.sample(scenario, SLOW_SECOND, "event"))
    assert not c.rejected, c.report()


POWER_FIRST = range(0, 32)
POWER_SECOND = range(1000, 1032)


@pytest.fixture(scope="module")
def city_reference_32():
    return ag.sample(small("city"), POWER_FIRST, "reference")


@pytest.mark.slow
def test_reference_against_itself_with_more_seeds(city_reference_32):
    """The null with 32 runs a side (city, 20,000 people, 100 days, seeds 0-31 against
    1000-1031): not rejected at family false-alarm rate 0.001."""
    c = ag.compare(city_reference_32, ag.sample(small("city"), POWER_SECOND, "reference"))
    assert not c.rejected, c.report()


# (name, scenario changes, a statistic that must be among the rejected)
DEFECTS = [
    ("bad driving rate x1.05", {f"behaviours.{HARMFUL}.rate.{g}": 0.002 * 1.05 for g in ("majority", "minority")}, f"events/{HARMFUL}"),
    ("forgiveness +25%", {"score.forgiveness": 0.0025}, None),
    ("bad driving score delta +10%", {f"score.deltas.{HARMFUL}": -5.5}, None),
    ("notice 30 -> 36 days", {"listing.notice_days": 36}, None),
]


@pytest.mark.slow
@pytest.mark.parametrize("defect, changes, statistic", DEFECTS, ids=[d[0] for d in DEFECTS])
def test_planted_defects_are_detected_with_more_seeds(city_reference_32, defect, changes, statistic):
    """Power with 32 runs a side (city, 20,000 people, 100 days, seeds 0-31 against
    1000-1031): each planted defect -- a 5% rate change, and changes of the score and
    listing rules that move no event rate -- is rejected at family false-alarm rate 0.001."""
    c = ag.compare(city_reference_32, ag.sample(small("city", **changes), POWER_SECOND, "reference"))
    assert c.rejected, f"{defect}: {c.report()}"
    if statistic:
        assert c.row(statistic).rejected, c.report()


@pytest.mark.slow
@pytest.mark.parametrize("mean", [0.1, 1.0, 10.0])
def test_welch_false_alarms_on_counts(mean):
    """The per-test level the family uses (0.001 / 50 statistics = 2e-5) holds for Welch's t
    on Poisson counts with 16 runs a side, the smallest sample above: over 2,000,000 null
    pairs (expected 40 false alarms), at most 70 (a calibrated test exceeds that with
    probability below 1e-4)."""
    rng = np.random.default_rng(18)
    level, hits = ALPHA / 50, 0
    for _ in range(10):
        x, y = rng.poisson(mean, (2, 200_000, 16)).astype(float)
        hits += int(np.count_nonzero(ag.welch(x, y)[2] < level))
    assert hits <= 70
