"""The last step of phase 6, sanction, in the event engine: incomes.

The rule is the reference engine's, person by person
(:func:`credsim.engines.reference.phases.sanction.income_day`), for the same people: those
off their base income, listed, detained or rewarded. Here they are taken in chunks of
``CHUNK``, on every core when there are several; each chunk adds the day's sums (rewarded
days, gaps to base income, what the employment sanction took) into its own part, and the
parts are added in chunk order, so the numbers do not depend on the threads. Each person's
income is the reference engine's bit for bit; the sums may differ from its in the last
bits (they are added in another order).

What it leaves besides: the people off base income (``state.paid``) with their new income,
base income and detention (``state.paid_values``), in the same order, which tomorrow's
behave reads instead of gathering them again (:func:`paid_values`).
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.engines.event.state import EventState
from credsim.engines.reference.phases.sanction import SETTLED, income_day
from credsim.kernels import sorted_union
from credsim.state import FREE, LISTED
from credsim.tally import Tally
from credsim.world import World

CHUNK = 16384  # people per task


def pay(world: World, state: EventState, listed: np.ndarray, day: int, tally: Tally) -> None:
    rules = world.scenario.sanctions
    green, employment = rules.green_channel, rules.employment
    held = state.detained_people
    # Everyone else is at base income and stays there: the sets hold all who may not be.
    who = sorted_union(state.paid, listed, held, state.above if green.enabled else held[:0])
    chunks = -(-len(who) // CHUNK)
    parts = np.zeros((chunks, 3, world.n_groups))
    paid, income, base, until = (np.empty(len(who), t) for t in (np.int32, np.float32, np.float32, np.int32))
    found = np.zeros(chunks, np.int64)
    (_pay_parallel if chunks > 1 else _pay_serial)(
        who, state.income, world.base_income, state.status, state.detained_until, state.score, day,
        LISTED, FREE, green.enabled, np.float32(green.threshold), np.float32(1.0 + green.income_bonus),
        employment.enabled, np.float32(employment.floor), np.float32(employment.fall_rate),
        np.float32(employment.recovery_rate if employment.enabled else 1.0), np.float32(SETTLED),
        world.layout.group_start, parts, paid, income, base, until, found,
    )
    kept = [slice(k * CHUNK, k * CHUNK + found[k]) for k in range(chunks)]
    paid, income, base, until = (np.concatenate([a[s] for s in kept]) if chunks else a[:0] for a in (paid, income, base, until))
    green_days, gaps, cuts = parts.sum(axis=0)
    if green.enabled:
        tally.add("green_days", green_days)
    if employment.enabled:
        tally.add("income_cut", cuts)
    state.paid = paid
    state.paid_values = (paid, income, base, until)
    state.income_sums = world.base_income_sum + gaps


def paid_values(world: World, state: EventState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(income, base income, detained until) of each of ``state.paid``, in its order: as the
    last pay left them, or gathered (on day 0, and after a checkpoint's restore: the same
    numbers)."""
    kept = getattr(state, "paid_values", None)
    if kept is not None and kept[0] is state.paid:
        return kept[1:]
    return state.income[state.paid], world.base_income[state.paid], state.detained_until[state.paid]


@numba.njit(cache=True, inline="always")
def _pay_chunk(who, income, base_income, status, detained_until, score, day, listed_code, free_code, green, green_threshold,
               bonus, employment, floor, fall_rate, recovery_rate, settled, group_start, part, paid, v_new, v_base, v_until):  # pragma: no cover - compiled
    """:func:`pay` for the sorted ``who`` of one chunk: their incomes written, the chunk's
    sums into ``part`` (rewarded, gaps, cuts by group), those left off base income into
    ``paid`` with their values; returns how many."""
    m = who.shape[0]
    # Their values first, each array gathered in a pass of its own (the cache misses of a
    # pass overlap).
    base, now, held, st = base_income[who], income[who], detained_until[who], status[who]
    sc = score[who] if green else np.zeros(0, np.float32)
    g = np.searchsorted(group_start, who[0], side="right") - 1
    k = 0
    for j in range(m):
        i = who[j]
        while i >= group_start[g + 1]:
            g += 1
        new, rewarded, cut = income_day(base[j], now[j], held[j], st[j], sc[j] if green else np.float32(0.0), day, listed_code,
                                        free_code, green, green_threshold, bonus, employment, floor, fall_rate, recovery_rate,
                                        settled)
        if rewarded:
            part[0, g] += 1.0
        part[2, g] += cut
        income[i] = new
        if new != base[j]:
            paid[k], v_new[k], v_base[k], v_until[k] = i, new, base[j], held[j]
            k += 1
            part[1, g] += np.float64(new) - np.float64(base[j])
    return k


@numba.njit(cache=True)
def _pay_serial(who, income, base_income, status, detained_until, score, day, listed_code, free_code, green, green_threshold,
                bonus, employment, floor, fall_rate, recovery_rate, settled, group_start, parts, paid, v_new, v_base, v_until,
                found):  # pragma: no cover - compiled
    for c in range(parts.shape[0]):
        s = slice(c * CHUNK, (c + 1) * CHUNK)
        found[c] = _pay_chunk(who[s], income, base_income, status, detained_until, score, day, listed_code, free_code, green,
                              green_threshold, bonus, employment, floor, fall_rate, recovery_rate, settled, group_start, parts[c],
                              paid[s], v_new[s], v_base[s], v_until[s])


@numba.njit(cache=True, parallel=True)
def _pay_parallel(who, income, base_income, status, detained_until, score, day, listed_code, free_code, green, green_threshold,
                  bonus, employment, floor, fall_rate, recovery_rate, settled, group_start, parts, paid, v_new, v_base, v_until,
                  found):  # pragma: no cover - compiled
    for c in numba.prange(parts.shape[0]):
        s = slice(c * CHUNK, (c + 1) * CHUNK)
        found[c] = _pay_chunk(who[s], income, base_income, status, detained_until, score, day, listed_code, free_code, green,
                              green_threshold, bonus, employment, floor, fall_rate, recovery_rate, settled, group_start, parts[c],
                              paid[s], v_new[s], v_base[s], v_until[s])
