"""Shapley values: share a difference v(all) - v(none) among the players that make it.

Pure arithmetic, no simulation: the caller's ``value`` maps a coalition (a frozenset of
player indices) to a mapping of outcome keys to numbers, or ``None`` where an outcome is
undefined for that coalition. Each outcome is attributed separately.

    exact(n, value)                      every coalition: 2**n calls of ``value``
    sampled(n, value, orders)            marginal contributions along given orders
    random_orders(n, permutations, rng)  the orders, drawn

Both are *efficient*: a key's contributions add up to v(all) - v(none) exactly, since the
marginal contributions along any order telescope. ``sampled`` is unbiased for the exact
values; its error shrinks as 1/sqrt(permutations). A key undefined in any coalition the
method needs gets ``None`` for every player, never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from itertools import combinations

import numpy as np

Coalition = frozenset[int]
Value = Callable[[Coalition], Mapping[Hashable, float | None]]

EXACT_LIMIT = 8  # 2**8 = 256 coalitions; above this, sample orders


def exact(n: int, value: Value) -> dict[Hashable, list[float] | None]:
    """The Shapley value of each of ``n`` players, per key of ``value``'s mapping:
    phi_i = sum over S not containing i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))."""
    values = {s: value(s) for k in range(n + 1) for s in map(frozenset, combinations(range(n), k))}
    weight = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    out: dict[Hashable, list[float] | None] = {}
    for key in _keys(values.values()):
        if any(v.get(key) is None for v in values.values()):
            out[key] = None
            continue
        phi = [0.0] * n
        for s, v in values.items():
            for i in range(n):
                if i not in s:
                    phi[i] += weight[len(s)] * (values[s | {i}][key] - v[key])
        out[key] = phi
    return out


def random_orders(n: int, permutations: int, rng: np.random.Generator) -> list[list[int]]:
    """``permutations`` random orders of ``n`` players, for :func:`sampled`."""
    if permutations < 1:
        raise ValueError("permutations must be at least 1")
    return [[int(p) for p in rng.permutation(n)] for _ in range(permutations)]


def sampled(n: int, value: Value, orders: list[list[int]]) -> dict[Hashable, list[float] | None]:
    """Estimated Shapley values: the mean marginal contribution of each player along the
    given orders (:func:`random_orders`; coalitions are evaluated once each and reused)."""
    permutations = len(orders)
    cache: dict[Coalition, Mapping[Hashable, float | None]] = {}

    def v(s: Coalition):
        if s not in cache:
            cache[s] = value(s)
        return cache[s]

    steps = []  # (player, coalition before, coalition after)
    for order in orders:
        before: Coalition = frozenset()
        for player in order:
            after = before | {int(player)}
            steps.append((int(player), before, after))
            before = after
    for _, before, after in steps:
        v(before), v(after)
    out: dict[Hashable, list[float] | None] = {}
    for key in _keys(cache.values()):
        if any(c.get(key) is None for c in cache.values()):
            out[key] = None
            continue
        phi = [0.0] * n
        for player, before, after in steps:
            phi[player] += cache[after][key] - cache[before][key]
        out[key] = [x / permutations for x in phi]
    return out


def _keys(values) -> list[Hashable]:
    seen: dict[Hashable, None] = {}
    for v in values:
        for key in v:
            seen.setdefault(key, None)
    return list(seen)
