"""credsim.shapley against value functions whose Shapley values are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from credsim import shapley


def glove(s):
    """Player 0 holds a left glove, players 1 and 2 a right one; a pair is worth 1.
    Shapley values: 2/3 for the left glove, 1/6 for each right one."""
    return {"pairs": 1.0 if 0 in s and (1 in s or 2 in s) else 0.0}


def squared(weights):
    """v(S) = (sum of the weights in S)**2, whose Shapley values are w_i * sum(w)."""
    return lambda s: {"v": sum(weights[i] for i in s) ** 2, "linear": sum(weights[i] for i in s)}


def test_exact_glove_game():
    phi = shapley.exact(3, glove)["pairs"]
    assert phi == pytest.approx([2 / 3, 1 / 6, 1 / 6], abs=1e-12)


def test_exact_squared_sum_and_additive_games():
    weights = [0.5, -1.0, 2.0, 3.0, 0.25]
    phi = shapley.exact(5, squared(weights))
    assert phi["v"] == pytest.approx([w * sum(weights) for w in weights], abs=1e-12)
    assert phi["linear"] == pytest.approx(weights, abs=1e-12)  # an additive game: each its own


def test_a_dummy_player_gets_zero_and_the_values_add_up():
    weights = [1.0, 0.0, 4.0, 2.5]  # player 1 changes nothing
    phi = shapley.exact(4, squared(weights))["v"]
    assert phi[1] == pytest.approx(0.0, abs=1e-12)
    assert sum(phi) == pytest.approx(sum(weights) ** 2, abs=1e-9)


def test_a_key_undefined_in_some_coalition_is_none_not_a_guess():
    def value(s):
        return {"always": float(len(s)), "sometimes": None if s == frozenset({1}) else 1.0}
    phi = shapley.exact(3, value)
    assert phi["sometimes"] is None
    assert phi["always"] == pytest.approx([1.0, 1.0, 1.0])


def test_sampled_is_efficient_and_near_the_exact_values():
    """Each sampled estimate is the mean of a player's marginal contribution over 4,000 random
    orders; for v = (sum w)**2 with these weights the marginal contributions are bounded by
    2 * 9.5 * 3 + 9 < 70, so the standard error is below 70 / sqrt(4000) = 1.1; a tolerance of
    5 standard errors (false alarm about 1 in 10**6 per player, fixed seed) is 5.5. The sum is
    exact whatever the orders."""
    weights = [0.5, -1.0, 2.0, 3.0, 0.25, 1.5, 0.75, 1.0, 0.5, 1.0]
    value = squared(weights)
    phi = shapley.sampled(10, value, shapley.random_orders(10, 4000, np.random.default_rng(7)))["v"]
    assert sum(phi) == pytest.approx(sum(weights) ** 2, abs=1e-9)
    expected = [w * sum(weights) for w in weights]
    assert max(abs(a - b) for a, b in zip(phi, expected)) < 5.5
    assert np.corrcoef(phi, expected)[0, 1] > 0.9


def test_sampled_with_every_order_of_three_is_close_to_exact():
    phi = shapley.sampled(3, glove, shapley.random_orders(3, 3000, np.random.default_rng(1)))["pairs"]
    assert sum(phi) == pytest.approx(1.0, abs=1e-12)
    # binomial-like error: sd of a marginal in {0, 1} is at most 0.5; 0.5 / sqrt(3000) = 0.009; 5 sd
    assert phi == pytest.approx([2 / 3, 1 / 6, 1 / 6], abs=0.046)
