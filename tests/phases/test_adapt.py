"""adapt against per-person loops of its documented rules (deterministic: no draws).

From adapt's docstring:
- visibility: detained 1; listed 1 with shaming, unshamed_visibility without; else 0;
- exposure: the sum of one's contacts' visibility (a loop over the network here; the phase
  pushes changes of the people in ``state.changed``);
- risk += (1 / memory_days) * (exposure / degree + own_listing_weight * (listed or detained) - risk);
- every realloc_days (on days with (day + 1) % realloc_days == 0) the total camera intensity
  is shared in proportion to detections since the last reallocation (divided by intensity
  when corrected), after a floor of 0.1% of the mean intensity added to every region.

Float32 sums of 1.0 and 0.3 against Python floats: exposure within 1e-5, risk within 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

from credsim.engines.reference.phases.adapt import adapt

from .helpers import FREE, LISTED, NOTICE, contacts, make_world, new_state, ref_exposure, ref_visibility


@pytest.mark.parametrize("overrides", [
    [],
    ["sanctions.shaming.enabled=false"],
    ["adaptation.own_listing_weight=0.0", "adaptation.memory_days=3"],
    ["adaptation.enabled=false"],
    ["population.contacts=1.5", "sanctions.shaming.enabled=false"],  # some people without contacts
], ids=["city", "unshamed", "no_own_weight", "adaptation_off", "sparse"])
def test_exposure_shown_and_risk_over_days_match_the_loop(overrides):
    world = make_world("surveillance.adaptive=false", *overrides)
    n = world.n_agents
    rules = world.scenario.adaptation
    state = new_state(world)
    gen = np.random.default_rng(3)
    risk = [0.0] * n
    degree = [len(contacts(world, i)) for i in range(n)]
    for day in range(40):
        # Random changes of status and detention, reported in state.changed as the phases do.
        moved = gen.choice(n, 4, replace=False)
        state.status[moved] = gen.choice([FREE, NOTICE, LISTED], 4)
        jailed = gen.choice(n, 1)
        if gen.random() < 0.3:
            state.detained_until[jailed] = day + int(gen.integers(1, 6))
        released = np.flatnonzero(state.detained_until == day)
        state.changed.extend([moved, jailed, released])
        adapt(world, state, day)
        exposure = ref_exposure(world, state, day)
        np.testing.assert_allclose(state.exposure, exposure, rtol=0, atol=1e-5, err_msg=str(day))
        np.testing.assert_allclose(state.shown, [ref_visibility(world, state, i, day) for i in range(n)], rtol=0, atol=1e-7)
        assert state.changed == []
        if rules.enabled:
            for i in range(n):
                seen = exposure[i] / degree[i] if degree[i] else 0.0
                own = state.status[i] == LISTED or state.detained_until[i] > day
                seen += rules.own_listing_weight * own
                risk[i] += (seen - risk[i]) / rules.memory_days
        np.testing.assert_allclose(state.risk, risk, rtol=0, atol=1e-5, err_msg=str(day))
    assert max(risk) > 0 or not rules.enabled
    assert (state.exposure > 0).any()


def proportional(initial, intensity, detections, corrected):
    """The documented share: total intensity in proportion to detections (per unit of
    intensity when corrected)."""
    rate = [d / x if corrected else float(d) for d, x in zip(detections, intensity)]
    total = sum(initial)
    return [total * r / sum(rate) for r in rate]


def assert_reallocated(new, initial, before, detections, corrected):
    """In proportion to detections, up to the floor every region keeps (0.1% of the mean
    intensity): each region within 1e-3 * mean + 1e-3 * its proportional share; the total
    unchanged; no region below the floor; more detections (per unit) never less intensity."""
    mean = sum(initial) / len(initial)
    expected = proportional(initial, before, detections, corrected)
    for r, (x, e) in enumerate(zip(new, expected)):
        assert abs(x - e) <= 1e-3 * mean + 1e-3 * e + 1e-12, (r, x, e)
        assert x >= 1e-3 * mean * (1 - 1e-12), (r, x)
    assert np.isclose(sum(new), sum(initial), rtol=1e-12)
    order = np.argsort(expected, kind="stable")
    assert all(new[order[k]] <= new[order[k + 1]] + 1e-12 for k in range(len(new) - 1))


@pytest.mark.parametrize("corrected", [False, True])
def test_reallocation_in_proportion_to_detections(corrected):
    world = make_world("surveillance.adaptive=true", "surveillance.realloc_days=10",
                       f"surveillance.corrected={str(corrected).lower()}",
                       "surveillance.intensity=[1.0, 2.0, 1.0, 0.5, 1.0, 1.0, 1.5, 1.0]")
    state = new_state(world)
    initial = list(world.scenario.surveillance.intensity)
    detections = [5, 40, 7, 1, 3, 9, 30, 2]
    state.detections[:] = detections
    for day in range(9):  # not yet: (day + 1) % 10 != 0
        adapt(world, state, day)
        assert state.intensity.tolist() == initial and state.detections.tolist() == detections
    adapt(world, state, 9)
    assert_reallocated(state.intensity.tolist(), initial, initial, detections, corrected)
    assert state.detections.tolist() == [0] * 8
    # The next round starts from the new intensities (they found the next detections); a
    # region with no detections keeps only the floor.
    detections = [4, 4, 4, 4, 4, 4, 4, 0]
    state.detections[:] = detections
    before = state.intensity.tolist()
    for day in range(10, 20):
        adapt(world, state, day)
    assert_reallocated(state.intensity.tolist(), initial, before, detections, corrected)
    assert state.intensity[7] < 2e-3 * np.mean(initial)
    # No detections: nothing moves.
    before = state.intensity.tolist()
    adapt(world, state, 29)
    assert state.intensity.tolist() == before


def test_no_region_falls_below_a_thousandth_of_the_mean_intensity():
    world = make_world("surveillance.adaptive=true", "surveillance.realloc_days=1")
    state = new_state(world)
    state.detections[:] = [100, 0, 0, 0, 0, 0, 0, 0]
    adapt(world, state, 0)
    mean = float(np.mean(world.scenario.surveillance.intensity))
    assert state.intensity.min() >= 1e-3 * mean * (1 - 1e-12), (state.intensity.min(), 1e-3 * mean)
    assert np.isclose(state.intensity.sum(), 8 * mean)


def documented_floor_formula(total, intensity, detections, corrected):
    """docs/model.md, adaptive surveillance, word for word: an added floor of 0.001 / R of the
    total per region, the other 99.9% in proportion to d (per unit of intensity if corrected)."""
    d = [x / max(i, 1e-12) if corrected else float(x) for x, i in zip(detections, intensity)]
    floor = 0.001 / len(d)
    return [total * (floor + (1 - 0.001) * x / sum(d)) for x in d]


@pytest.mark.parametrize("corrected", [False, True])
def test_reallocation_is_the_documented_formula_over_one_period_only(corrected):
    """The floor is added to every region (not a minimum), and a reallocation sees only the
    detections since the previous one: two periods with different detections give, the second
    time, what the second period's detections alone give."""
    world = make_world("surveillance.adaptive=true", "surveillance.realloc_days=5",
                       f"surveillance.corrected={str(corrected).lower()}",
                       "surveillance.intensity=[1.0, 2.0, 1.0, 0.5, 1.0, 1.0, 1.5, 1.0]")
    state = new_state(world)
    total = float(sum(world.scenario.surveillance.intensity))
    first, second = [50, 0, 0, 0, 0, 0, 0, 50], [0, 3, 3, 0, 0, 0, 0, 1]
    state.detections[:] = first
    for day in range(5):
        adapt(world, state, day)
    before = state.intensity.tolist()
    np.testing.assert_allclose(before, documented_floor_formula(total, world.scenario.surveillance.intensity, first, corrected), rtol=1e-12)
    assert state.intensity[1] == pytest.approx(total * 0.001 / 8, rel=1e-12)  # no detections: exactly the floor
    state.detections[:] = second
    for day in range(5, 10):
        adapt(world, state, day)
    np.testing.assert_allclose(state.intensity.tolist(), documented_floor_formula(total, before, second, corrected), rtol=1e-12)
    assert state.intensity[0] == pytest.approx(total * 0.001 / 8, rel=1e-12)  # the first period is forgotten


def test_released_and_listed_person_keeps_listing_visibility():
    """A listed person released from detention drops from 1 to unshamed_visibility."""
    world = make_world("sanctions.shaming.enabled=false", "adaptation.unshamed_visibility=0.3")
    state = new_state(world)
    i = 0
    state.status[i] = LISTED
    state.detained_until[i] = 3
    state.changed.append(np.array([i]))
    adapt(world, state, 2)
    assert state.shown[i] == 1.0
    state.changed.append(np.array([i]))  # released on day 3 (sanction reports it)
    adapt(world, state, 3)
    assert np.isclose(state.shown[i], 0.3)
    for c in set(contacts(world, i)):  # nobody else is listed: exposure is person 0's share
        assert np.isclose(state.exposure[c], 0.3 * contacts(world, i).count(c))


@pytest.mark.parametrize("corrected", [False, True])
def test_reallocation_on_all_detections_so_far(corrected):
    """reallocate_on = "all": each reallocation shares the cameras by every detection since
    day 0 -- each day's over that day's intensity when corrected -- not only the last window's."""
    world = make_world("surveillance.adaptive=true", "surveillance.realloc_days=3", "surveillance.reallocate_on='all'",
                       f"surveillance.corrected={str(corrected).lower()}",
                       "surveillance.intensity=[1.0, 2.0, 1.0, 0.5, 1.0, 1.0, 1.5, 1.0]")
    state = new_state(world)
    initial = list(world.scenario.surveillance.intensity)
    gen = np.random.default_rng(4)
    total = [0.0] * 8
    for day in range(9):
        today = gen.integers(0, 20, 8)
        state.detections_today[:] = today
        state.detections += today
        intensity = state.intensity.tolist()  # what found today's detections
        for r in range(8):
            total[r] += today[r] / intensity[r] if corrected else float(today[r])
        adapt(world, state, day)
        state.detections_today[:] = 0  # as the record phase does
        if (day + 1) % 3 == 0:
            mean = sum(initial) / 8
            want = [sum(initial) * t / sum(total) for t in total]
            for r in range(8):
                assert abs(state.intensity[r] - want[r]) <= 1e-3 * mean + 1e-3 * want[r] + 1e-12, (day, r)
    assert day == 8 and sorted(total) != sorted([0.0] * 8)
