"""behave against a per-person loop of its documented rate.

behave draws, so these tests compare distributions. The reference intensity of person i
and behaviour b is written from behave's docstring and docs/model.md:

    lambda = base[b, g] * propensity[b, i] * poverty ** eta[b] * response[b, i]
             * (listed_multiplier[b] if listed) * (0 if detained)
    poverty = base_income / max(income, base_income / 20)
    response = exp(-deterrence * risk)               penalized, not protected
               exp(-chill * (1 + opacity) * risk)    protected
               1                                     otherwise
    base = p_b for Poisson behaviours, -log(1 - p_b) for Bernoulli ones

A day's count is Poisson(lambda); a Bernoulli behaviour has an event with probability
1 - exp(-lambda) and never more than one. Over R independent days (each with its own seeded
generator) a person's count is Poisson(R lambda) or Binomial(R, 1 - exp(-lambda)); every
test allows 5 standard errors of that distribution (plus 1 for discreteness), and the
whole table must also pass a chi-square bound (k + 5 sqrt(2k)). The seeds are fixed, so the
tests are deterministic; with a correct sampler a 5-sigma miss has probability < 1e-6 per
cell.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import credsim
from credsim.engines.reference.phases.behave import behave
from credsim.world import POVERTY_CAP

from .helpers import (
    BEHAVIOURS,
    FREE,
    LISTED,
    NOTICE,
    binomial_tolerance,
    chi_square_bound,
    group_of,
    make_world,
    new_state,
    only,
    poisson_tolerance,
    rng,
)

DAY = 20


def reference_intensity(world, state, i: int, b: int, day: int) -> float:
    """The documented daily intensity of behaviour b for person i, from the scenario."""
    sc = world.scenario
    name = BEHAVIOURS[b]
    spec = sc.behaviours[name]
    g = group_of(world, i)
    p = spec.rate[sc.group_names[g]]
    base = -math.log(1.0 - p) if spec.counts == "bernoulli" else p
    if base == 0:
        return 0.0
    propensity = float(world.propensity_of(b, np.array([i]))[0])
    if spec.region_rate is not None:  # the scenario's multiplier for the person's region
        propensity *= spec.region_rate[int(world.region[i])]
    base_income = float(world.base_income[i])
    income = max(float(state.income[i]), base_income / POVERTY_CAP)
    multiplier = (base_income / income) ** spec.poverty_elasticity
    adaptation = sc.adaptation
    delta = sc.score.deltas.get(name, 0.0)
    if adaptation.enabled:
        risk = float(state.risk[i])
        if spec.protected:
            if adaptation.chilling.enabled:
                multiplier *= math.exp(-adaptation.chilling.strength * (1.0 + adaptation.chilling.opacity) * risk)
        elif delta < 0 and adaptation.deterrence.enabled:
            multiplier *= math.exp(-adaptation.deterrence.strength * risk)
    if state.status[i] == LISTED:
        multiplier *= spec.listed_multiplier
    if state.detained_until[i] > day:
        multiplier = 0.0
    return base * propensity * multiplier


def run_days(world, state, reps: int, seed: int):
    """Counts (B, N) over ``reps`` draws of the same day, and per-call structural checks."""
    counts = np.zeros((world.n_behaviours, world.n_agents), np.int64)
    for r in range(reps):
        events = behave(world, state, DAY, rng(seed, r))
        person, behaviour = events.person, events.behaviour
        assert person.dtype == np.int32 and behaviour.dtype == np.int16
        # Ordered by behaviour, then person.
        key = behaviour.astype(np.int64) * world.n_agents + person
        assert np.all(np.diff(key) >= 0)
        day_counts = np.zeros_like(counts)
        np.add.at(day_counts, (behaviour, person), 1)
        assert day_counts[world.bernoulli].max(initial=0) <= 1, "a Bernoulli behaviour gave two events in a person-day"
        counts += day_counts
    return counts


def check_counts(counts, expected_per_day, bernoulli, reps: int) -> None:
    """Every cell within 5 standard errors, and the table's chi-square within its bound."""
    chi2, cells, worst = 0.0, 0, []
    for b in range(counts.shape[0]):
        for i in range(counts.shape[1]):
            q = expected_per_day[b][i]
            x = int(counts[b, i])
            if q == 0:
                assert x == 0, f"behaviour {BEHAVIOURS[b]}, person {i}: {x} events at intensity 0"
                continue
            if bernoulli[b]:
                mean, var, tol = reps * q, reps * q * (1 - q), binomial_tolerance(reps, q)
            else:
                mean, var, tol = reps * q, reps * q, poisson_tolerance(reps * q)
            if abs(x - mean) > tol:
                worst.append((BEHAVIOURS[b], i, x, round(mean, 1)))
            chi2 += (x - mean) ** 2 / var
            cells += 1
    assert not worst, f"counts outside 5 standard errors (behaviour, person, observed, expected): {worst[:10]}"
    assert chi2 <= chi_square_bound(cells), f"chi-square {chi2:.1f} over {cells} cells"


def test_counts_per_person_and_behaviour_match_the_documented_intensity():
    """Everything at once, with propensity heterogeneity (cv 0.7): poorer, richer and
    near-zero incomes, listed and noticed people, detained people (and one released today),
    perceived risk from 0 to 1.5; Poisson and Bernoulli behaviours on both the thinning
    and the dense path; elasticities of both signs; listing multipliers above and below 1."""
    world = make_world(
        "behaviours.bad_driving.rate={majority = 0.05, minority = 0.06}",
        "behaviours.debt_default.rate={majority = 0.03, minority = 0.03}",
        "behaviours.fraud.rate={majority = 0.02, minority = 0.02}",
        "behaviours.video_games.rate={majority = 0.3, minority = 0.4}",  # dense path
        "behaviours.alcohol.rate={majority = 0.05, minority = 0.04}",
        "behaviours.alcohol.counts='bernoulli'",
        "behaviours.alcohol.listed_multiplier=0.5",
        "behaviours.nappies.rate={majority = 0.05, minority = 0.05}",
        "behaviours.nappies.poverty_elasticity=-1.0",
        "behaviours.volunteering.rate={majority = 0.4, minority = 0.5}",  # dense, Bernoulli
        "behaviours.volunteering.counts='bernoulli'",
        "behaviours.blood_donation.rate={majority = 0.0, minority = 0.05}",
        "behaviours.religious_practice.rate={majority = 0.04, minority = 0.08}",
        "behaviours.religious_practice.listed_multiplier=2.0",
        "behaviours.online_criticism.rate={majority = 0.03, minority = 0.03}",
        "behaviours.online_criticism.poverty_elasticity=0.7",
    )
    assert world.propensity_code is not None
    n = world.n_agents
    state = new_state(world)
    gen = np.random.default_rng(99)
    factors = [1.0, 0.5, 2.0, 0.01, 0.0, 0.8, 1.3]
    for i in range(n):
        state.income[i] = np.float32(world.base_income[i] * factors[i % len(factors)])
        state.status[i] = LISTED if i % 5 == 1 else (NOTICE if i % 7 == 2 else FREE)
        state.risk[i] = np.float32(gen.uniform(0.0, 1.5))
    for i in (3, 17, 33):
        state.detained_until[i] = DAY + 5
    state.detained_until[10] = DAY  # released today: free to act
    state.detained_until[11] = DAY - 3

    reps = 800
    counts = run_days(world, state, reps, seed=1)
    q = [
        [
            (-math.expm1(-lam) if world.bernoulli[b] else lam)
            for lam in (reference_intensity(world, state, i, b, DAY) for i in range(n))
        ]
        for b in range(world.n_behaviours)
    ]
    check_counts(counts, q, world.bernoulli, reps)
    for i in (3, 17, 33):
        assert counts[:, i].sum() == 0, f"detained person {i} did something"
    assert counts[:, 10].sum() > 0


def test_region_multipliers_scale_each_persons_rate():
    """Per-region multipliers (0, below and above 1) on the thinned path, the dense path, a
    Bernoulli behaviour and the extra process (a listing multiplier above 1): each person's
    counts match the documented intensity times their region's multiplier."""
    regions = "[0.0, 0.5, 1.0, 2.0, 3.0, 1.0, 0.25, 1.5]"
    world = make_world(
        *only("bad_driving", "video_games", "alcohol", "religious_practice"),
        "behaviours.bad_driving.rate={majority = 0.05, minority = 0.06}",
        f"behaviours.bad_driving.region_rate={regions}",
        "behaviours.video_games.rate={majority = 0.3, minority = 0.4}",  # dense path
        f"behaviours.video_games.region_rate={regions}",
        "behaviours.alcohol.rate={majority = 0.05, minority = 0.04}",
        "behaviours.alcohol.counts='bernoulli'",
        f"behaviours.alcohol.region_rate={regions}",
        "behaviours.religious_practice.rate={majority = 0.04, minority = 0.08}",
        "behaviours.religious_practice.listed_multiplier=2.0",
        f"behaviours.religious_practice.region_rate={regions}",
    )
    assert world.regional and len(set(world.region.tolist())) == 8
    n = world.n_agents
    state = new_state(world)
    for i in range(n):
        state.status[i] = LISTED if i % 3 == 1 else FREE
    reps = 600
    counts = run_days(world, state, reps, seed=3)
    q = [
        [(-math.expm1(-lam) if world.bernoulli[b] else lam) for lam in (reference_intensity(world, state, i, b, DAY) for i in range(n))]
        for b in range(world.n_behaviours)
    ]
    check_counts(counts, q, world.bernoulli, reps)
    assert counts[:, world.region == 0].sum() == 0  # a zero multiplier: nothing happens there


def test_region_rate_needs_one_value_per_region():
    with pytest.raises(credsim.ScenarioError, match="behaviours.alcohol.region_rate must have one value per region"):
        make_world("behaviours.alcohol.region_rate=[1.0, 2.0]")


@pytest.mark.parametrize("p", [0.1, 0.6])  # 0.1: thinning path; 0.6: dense path
def test_bernoulli_gives_at_most_one_event_with_probability_p(p):
    world = make_world(
        *only("alcohol"),
        "population.propensity_cv=0.0",
        f"behaviours.alcohol.rate={{majority = {p}, minority = {p}}}",
        "behaviours.alcohol.counts='bernoulli'",
    )
    state = new_state(world)
    reps = 400
    counts = run_days(world, state, reps, seed=2)  # asserts <= 1 per person-day
    trials = reps * world.n_agents
    hits = int(counts.sum())
    # Binomial(trials, p): 5 standard errors. (A Poisson count at rate p would give
    # P(>=1) = 1 - exp(-p): 0.095 or 0.45, 3.5 and 40 standard errors away.)
    assert abs(hits - trials * p) <= binomial_tolerance(trials, p), (hits, trials * p)


# One factor at a time, everyone alike (propensity_cv = 0) and every other behaviour off.
# (behaviour, rate p, overrides, state setup, the documented factor on the intensity)
FACTOR_CASES = {
    "poverty_eta1_half_income": ("debt_default", 0.02, ["behaviours.debt_default.listed_multiplier=1.0"],
                                 {"income": 0.5}, 2.0),
    "poverty_eta05_double_income": ("fraud", 0.05, [], {"income": 2.0}, 0.5**0.5),
    "poverty_cap_at_zero_income": ("debt_default", 0.01, ["behaviours.debt_default.listed_multiplier=1.0"],
                                   {"income": 0.0}, POVERTY_CAP),
    "negative_eta_richer": ("nappies", 0.05, ["behaviours.nappies.poverty_elasticity=-1.0"], {"income": 2.0}, 2.0),
    "negative_eta_poorer": ("nappies", 0.05, ["behaviours.nappies.poverty_elasticity=-1.0"], {"income": 0.5}, 0.5),
    "listed_multiplier_above_1": ("debt_default", 0.04, [], {"status": LISTED}, 1.5),
    "listed_multiplier_not_on_notice": ("debt_default", 0.04, [], {"status": NOTICE}, 1.0),
    "listed_multiplier_below_1": ("alcohol", 0.05, ["behaviours.alcohol.listed_multiplier=0.5"],
                                  {"status": LISTED}, 0.5),
    "deterrence_on_penalized": ("bad_driving", 0.05, [], {"risk": 0.4}, math.exp(-3.0 * 0.4)),
    "chilling_on_protected": ("religious_practice", 0.05, [], {"risk": 0.4}, math.exp(-3.0 * 2.0 * 0.4)),
    "chilling_opacity": ("online_criticism", 0.05, ["adaptation.chilling.opacity=0.5"], {"risk": 0.4},
                         math.exp(-3.0 * 1.5 * 0.4)),
    "chilling_on_protected_rewarded": ("volunteering", 0.05, ["behaviours.volunteering.protected=true"],
                                       {"risk": 0.4}, math.exp(-3.0 * 2.0 * 0.4)),
    "no_response_on_rewarded": ("volunteering", 0.05, [], {"risk": 0.4}, 1.0),
    "no_response_unscored": ("nappies", 0.05, ["score.deltas.nappies=0"], {"risk": 0.4}, 1.0),
    "deterrence_off": ("bad_driving", 0.05, ["adaptation.deterrence.enabled=false"], {"risk": 0.4}, 1.0),
    "chilling_off_protected_not_deterred": ("religious_practice", 0.05, ["adaptation.chilling.enabled=false"],
                                            {"risk": 0.4}, 1.0),
    "adaptation_off": ("bad_driving", 0.05, ["adaptation.enabled=false"], {"risk": 0.4}, 1.0),
    "detained": ("volunteering", 0.3, [], {"detained": True}, 0.0),
    "combined": ("debt_default", 0.02, [], {"income": 0.5, "status": LISTED, "risk": 0.2},
                 2.0 * 1.5 * math.exp(-3.0 * 0.2)),
    "bernoulli_listed_multiplier": ("alcohol", 0.1, ["behaviours.alcohol.counts='bernoulli'",
                                                      "behaviours.alcohol.listed_multiplier=2.0"],
                                    {"status": LISTED}, 2.0),
    "bernoulli_chilled": ("religious_practice", 0.1, ["behaviours.religious_practice.counts='bernoulli'"],
                          {"risk": 0.3}, math.exp(-3.0 * 2.0 * 0.3)),
}


@pytest.mark.parametrize("case", sorted(FACTOR_CASES))
def test_each_documented_factor_scales_the_rate(case):
    name, p, overrides, setup, factor = FACTOR_CASES[case]
    world = make_world(
        *only(name),
        "population.propensity_cv=0.0",
        f"behaviours.{name}.rate={{majority = {p}, minority = {p}}}",
        *overrides,
    )
    assert world.propensity_code is None
    state = new_state(world)
    state.income[:] = world.base_income * np.float32(setup.get("income", 1.0))
    state.status[:] = setup.get("status", FREE)
    state.risk[:] = setup.get("risk", 0.0)
    if setup.get("detained"):
        state.detained_until[:] = DAY + 1
    bernoulli = world.scenario.behaviours[name].counts == "bernoulli"
    # Documented probability (Bernoulli) or intensity (Poisson) per person-day.
    q = -math.expm1(math.log1p(-p) * factor) if bernoulli else p * factor
    # The loop's value for each person must agree with the case's factor (a check of the
    # reference itself).
    b = BEHAVIOURS.index(name)
    for i in range(world.n_agents):
        lam = reference_intensity(world, state, i, b, DAY)
        assert math.isclose(-math.expm1(-lam) if bernoulli else lam, q, rel_tol=1e-5, abs_tol=1e-12)

    reps = 250
    counts = run_days(world, state, reps, seed=3)
    total = int(counts[b].sum())
    assert counts.sum() == total  # nothing else happens
    trials = reps * world.n_agents
    if q == 0:
        assert total == 0
    elif bernoulli:
        assert abs(total - trials * q) <= binomial_tolerance(trials, q), (total, trials * q)
    else:
        assert abs(total - trials * q) <= poisson_tolerance(trials * q), (total, trials * q)


def test_same_seed_same_events_and_state_untouched():
    world = make_world("behaviours.bad_driving.rate={majority = 0.2, minority = 0.2}")
    state = new_state(world)
    state.risk[:] = 0.3
    before = {k: v.copy() for k, v in vars(state).items() if isinstance(v, np.ndarray)}
    a = behave(world, state, 5, rng(7, 5))
    b = behave(world, state, 5, rng(7, 5))
    c = behave(world, state, 5, rng(7, 6))
    np.testing.assert_array_equal(a.person, b.person)
    np.testing.assert_array_equal(a.behaviour, b.behaviour)
    assert len(a) > 0 and not (len(a) == len(c) and np.array_equal(a.person, c.person))
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(state, k), v, err_msg=k)


def test_the_part_of_the_multiplier_above_one_is_the_same_on_one_core_and_on_all(monkeypatch):
    """behave's extra process reads the disturbed people's multipliers from ``_extras``,
    which splits them between cores for many people: the same numbers either way, and the
    documented multiplier's part above 1 (to float32 rounding of the income ratio)."""
    module = sys.modules["credsim.engines.reference.phases.behave"]  # ``credsim.engines.reference.phases.behave`` names the function
    world = make_world(
        "behaviours.debt_default.rate={majority = 0.03, minority = 0.03}",
        "behaviours.religious_practice.listed_multiplier=2.0",
        "behaviours.online_criticism.poverty_elasticity=0.7",
    )
    state = new_state(world)
    gen = np.random.default_rng(5)
    n = world.n_agents
    state.income[:] = (world.base_income * gen.choice([0.01, 0.5, 0.9, 1.0, 1.2], n)).astype(np.float32)
    state.status[:] = np.where(gen.random(n) < 0.3, LISTED, FREE)
    state.risk[:] = gen.uniform(0.0, 1.5, n).astype(np.float32)
    state.detained_until[gen.random(n) < 0.05] = DAY + 3
    who = np.arange(0, n, 3, dtype=np.int32)
    plan = module._plan(world)
    monkeypatch.setattr(module, "EXTRAS_PARALLEL_FROM", 10**12)
    serial = module._extras(world, state, DAY, plan, who)
    monkeypatch.setattr(module, "EXTRAS_PARALLEL_FROM", 0)
    split = module._extras(world, state, DAY, plan, who)
    for one, other in zip(serial, split):
        np.testing.assert_array_equal(one, other)
    above, propensity, _ = serial
    rows = np.flatnonzero(plan.extra_row >= 0)
    assert len(rows) >= 3
    for r, b in enumerate(rows):
        expected = module.multiplier(world, state, DAY, b, who) - 1.0
        np.testing.assert_allclose(above[r], np.maximum(expected, 0.0), rtol=1e-6, atol=1e-12)
        np.testing.assert_array_equal(propensity[r], world.propensity_of(b, who))
