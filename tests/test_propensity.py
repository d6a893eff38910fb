"""Propensities are drawn in 256 one-byte classes (credsim.world.propensity_levels): the class
means of a Gamma distribution with mean 1 and coefficient of variation cv.

The level of a class is checked against a direct numerical integral of the Gamma density
over the class's quantiles (scipy.integrate.quad, to 1e-9), and the drawn classes of a
population against the uniform distribution (chi-square, 255 degrees of freedom, bound
k + 5 sqrt(2k)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

import credsim
from credsim.world import LEVELS, build_world, propensity_levels


@pytest.mark.parametrize("cv", [0.2, 0.7, 1.5])
def test_levels_are_the_class_means_of_the_gamma(cv):
    shape = 1.0 / cv**2
    gamma = stats.gamma(shape, scale=1.0 / shape)
    level = propensity_levels(cv)
    assert level.shape == (LEVELS,)
    assert np.all(np.diff(level) > 0)
    for c in (0, 1, 100, 200, 254, 255):
        low, high = gamma.ppf(c / LEVELS), gamma.ppf((c + 1) / LEVELS)
        mean = integrate.quad(lambda x: x * gamma.pdf(x), low, high, epsabs=1e-12)[0] * LEVELS
        assert math.isclose(level[c], mean, rel_tol=1e-6, abs_tol=1e-9), c
    # The mean is exactly 1; the spread lost inside the classes is small (it is the within-class
    # variance: below 1% of the total at these cvs).
    assert math.isclose(level.mean(), 1.0, rel_tol=1e-12)
    assert 0.99 * cv < level.std() < cv


def test_drawn_classes_are_uniform_and_independent_across_behaviours():
    world = build_world(credsim.load_scenario("city", ["population.size=200000"]), np.random.default_rng(0))
    code = world.propensity_code
    assert code.dtype == np.uint8 and code.shape == (world.n_behaviours, world.n_agents)
    k = LEVELS - 1
    for b in range(world.n_behaviours):
        counts = np.bincount(code[b], minlength=LEVELS)
        expected = world.n_agents / LEVELS
        assert ((counts - expected) ** 2 / expected).sum() < k + 5 * math.sqrt(2 * k), b
    # Two behaviours' classes are independent: their correlation is within 5 standard errors of 0.
    r = np.corrcoef(code[0].astype(float), code[1].astype(float))[0, 1]
    assert abs(r) < 5 / math.sqrt(world.n_agents)
    # The thinning bound of each group is the largest level drawn there.
    assert np.all(world.propensity_max == world.propensity_level[LEVELS - 1])
