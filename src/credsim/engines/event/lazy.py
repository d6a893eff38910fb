"""Scores and perceived risk between events, in closed form; the sums per group they make;
and the calendar of the crossings they will make.

Between two changes of a person (an observation, a change of what their contacts show,
of their own status, an upheld appeal), their day is the same affine map, day after day:

- each score track (docs/model.md, score): ``x -> clip(keep * (x - penalty * exposure) + pull)``
  with ``keep = 1 - forgiveness`` and ``pull = forgiveness * initial`` (keep 1 and pull 0
  without forgetting), i.e. ``x -> clip(keep * x + c)`` with ``c = pull - keep * penalty *
  exposure``. Unclipped, k days later x is ``s + (x - s) * keep ** k`` with ``s = c / (1 -
  keep)`` (``x + c * k`` when keep is 1): it moves monotonically toward s, so it is clipped
  only once it has passed a bound it never comes back from, and from then on it stays at
  that bound ("held");
- perceived risk: ``r -> r + alpha * (target - r)``, so k days later ``target + (r - target)
  * (1 - alpha) ** k``.

So a person's values are kept as of their last change (``EventState.stamp``/``rstamp``) and
computed when read. The sums per group are kept the same way, in aggregate: the sum of the
unheld scores of a group obeys ``F -> keep * F + (sum of their c)`` each day, and that of
risk ``R -> (1 - alpha) * R + alpha * (sum of targets)``; a person changes them only when
their own values change (:func:`unregister`, then :func:`register`). What a phase decides
by a threshold -- free people below the listing threshold, the green channel, a score
reaching a bound -- happens on a day computed when the person changes (:func:`next_day`)
and kept in a binary heap of (day, person): that day the person is brought up to date
(:func:`pop_due`). The work of a day is proportional to the people something happens to.

The arithmetic is float64 from the float32 values kept; the reference engine iterates in
float32. ``tests/engines/test_lazy.py`` checks the closed forms against the iteration in
float64 (equal to 1e-9) and against the reference engine's float32 sweep (within the
rounding it accumulates), and the sums and crossing days against a plain loop over everyone.
"""

from __future__ import annotations

import numba
import numpy as np

from credsim.engines.event.state import NEVER, EventState
from credsim.resources import give_back_free_memory
from credsim.state import FREE, LISTED
from credsim.world import World

# Positions in EventState.params
KEEP, PULL, KEEP_PENALTY, LOW, HIGH, LIST, GREEN, RISK_KEEP, ALPHA, WEIGHT, DAYS, PAST_HIGH = range(12)
PARAMS = 12
POWERS = PARAMS  # params[POWERS + k] = keep ** k, then params[POWERS + n + k] = risk keep ** k: 0 <= k < n = days + 2
NO_STEP = np.int64(1) << np.int64(40)  # a number of days past any run's end
SHIFT = np.int64(32)
LOW_BITS = np.int64(0xFFFFFFFF)


def params_of(world: World) -> np.ndarray:
    """The rules of ``world`` that the closed forms use, in float64. The rates are exact (a
    float32 ``1 - forgiveness`` would move the fixed point of forgetting off ``initial``:
    1000.013 for a forgiveness of 0.002), the levels as float32, the scores' type."""
    scenario = world.scenario
    rules, listing, green, adaptation = scenario.score, scenario.listing, scenario.sanctions.green_channel, scenario.adaptation
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    forgetting = rules.forgiveness > 0
    keep = 1.0 - rules.forgiveness if forgetting else 1.0
    pull = rules.forgiveness * rules.initial if forgetting else 0.0
    penalty = rules.association.penalty if rules.association.enabled else 0.0
    alpha = 1.0 / adaptation.memory_days if adaptation.enabled else 0.0
    params = np.zeros(PARAMS)
    params[[KEEP, PULL, KEEP_PENALTY, LOW, HIGH]] = keep, pull, keep * penalty, f32(rules.min), f32(rules.max)
    params[LIST] = f32(listing.threshold) if listing.enabled else -np.inf
    params[GREEN] = f32(green.threshold) if green.enabled else np.inf
    params[[RISK_KEEP, ALPHA, WEIGHT]] = 1.0 - alpha, alpha, adaptation.own_listing_weight if adaptation.enabled else 0.0
    params[DAYS] = scenario.population.days
    params[PAST_HIGH] = np.nextafter(params[HIGH], np.inf)  # a path past the top is clipped
    n = scenario.population.days + 2
    return np.concatenate([params, _powers(keep, n), _powers(params[RISK_KEEP], n)])


@numba.njit(cache=True)
def _powers(keep, n):  # pragma: no cover - compiled
    """keep ** k for k < n, each as ``path`` computes it."""
    out = np.empty(n)
    for k in range(n):
        out[k] = keep ** np.int64(k)
    return out


# ------------------------------------------------------------------ closed forms


@numba.njit(cache=True, inline="always")
def power(params, k):  # pragma: no cover - compiled
    """``keep ** k``, looked up: a run's days since a change are few, its people many."""
    if 0 <= k < (params.shape[0] - POWERS) // 2:
        return params[POWERS + k]
    return params[KEEP] ** k


@numba.njit(cache=True, inline="always")
def risk_power(params, k):  # pragma: no cover - compiled
    """``risk keep ** k`` (perceived risk's forgetting), looked up likewise."""
    n = (params.shape[0] - POWERS) // 2
    if 0 <= k < n:
        return params[POWERS + n + k]
    return params[RISK_KEEP] ** k


@numba.njit(cache=True, inline="always")
def moved(x, c, keep, k, q):  # pragma: no cover - compiled
    """``path(x, c, keep, k)`` given ``q = keep ** k``."""
    if k <= 0:
        return x
    if keep == 1.0:
        return x + c * k
    s = c / (1.0 - keep)
    return s + (x - s) * q


@numba.njit(cache=True, inline="always")
def path(x, c, keep, k):  # pragma: no cover - compiled
    """An unclipped score k days after x: the affine map ``x -> keep * x + c`` k times."""
    return moved(x, c, keep, k, keep**k)


@numba.njit(cache=True, inline="always")
def held(x, c, keep, low, high):  # pragma: no cover - compiled
    """A score at a bound that the next day's map would take past it: it stays there."""
    step = keep * x + c
    return (x <= low and step < low) or (x >= high and step > high)


@numba.njit(cache=True, inline="always")
def value(x, c, keep, k, low, high):  # pragma: no cover - compiled
    """The score k days after x (a value within [low, high]), clipped as each day clips it."""
    return clipped(x, c, keep, k, keep**k, low, high)


@numba.njit(cache=True, inline="always")
def clipped(x, c, keep, k, q, low, high):  # pragma: no cover - compiled
    """``value(x, c, keep, k, low, high)`` given ``q = keep ** k`` (:func:`power`)."""
    if k <= 0 or held(x, c, keep, low, high):
        return x
    return min(max(moved(x, c, keep, k, q), low), high)


@numba.njit(cache=True, inline="always")
def risk_of(i, t, risk, rstamp, target, params):  # pragma: no cover - compiled
    """Person i's perceived risk after the adapt phase of day t (t >= rstamp[i])."""
    r = np.float64(risk[i])
    k = t - rstamp[i]
    x = np.float64(target[i])
    if k <= 0 or r == x:  # most people: no risk, nothing to fear
        return r
    return x + (r - x) * risk_power(params, k)


@numba.njit(cache=True)
def first_below(x, c, keep, level, steps):  # pragma: no cover - compiled
    """The fewest days k >= 1 after which the unclipped path from x is below ``level``;
    NO_STEP if not within ``steps`` days."""
    if x < level:
        return np.int64(1)
    if keep == 1.0:
        if c >= 0.0:
            return NO_STEP
        guess = (x - level) / -c
    else:
        s = c / (1.0 - keep)
        if s >= level:
            return NO_STEP
        guess = np.log((level - s) / (x - s)) / np.log(keep)
    if not guess < steps:  # also a NaN
        return NO_STEP
    k = max(np.int64(1), np.int64(guess))
    while k > 1 and path(x, c, keep, k - 1) < level:
        k -= 1
    while path(x, c, keep, k) >= level:
        k += 1
        if k > steps:
            return NO_STEP
    return k


@numba.njit(cache=True)
def first_at_least(x, c, keep, level, steps):  # pragma: no cover - compiled
    """The fewest days k >= 1 after which the unclipped path from x is at least ``level``;
    NO_STEP if not within ``steps`` days."""
    if x >= level:
        return np.int64(1)
    if keep == 1.0:
        if c <= 0.0:
            return NO_STEP
        guess = (level - x) / c
    else:
        s = c / (1.0 - keep)
        if s <= level:
            return NO_STEP
        guess = np.log((s - level) / (s - x)) / np.log(keep)
    if not guess < steps:
        return NO_STEP
    k = max(np.int64(1), np.int64(guess))
    while k > 1 and path(x, c, keep, k - 1) >= level:
        k -= 1
    while path(x, c, keep, k) < level:
        k += 1
        if k > steps:
            return NO_STEP
    return k


@numba.njit(cache=True, inline="always")
def next_day(x0, x1, x2, c, free, t, params):  # pragma: no cover - compiled
    """The first day after t on which a person whose scores are (x0, x1, x2) on day t, with
    daily constant c, crosses something a phase decides by: a score bound (the sums must
    then count them as held), the listing threshold while ``free``, the green-channel
    threshold either way. NEVER if none before the run ends. A path moves monotonically
    toward its limit s, so it can cross a level only if s lies past it: that test alone
    settles most people, with no logarithm."""
    keep, low, high = params[KEEP], params[LOW], params[HIGH]
    steps = np.int64(params[DAYS]) - t
    if keep == 1.0:  # no forgetting: the path is x + c * k
        falls, rises, s = c < 0.0, c > 0.0, 0.0
    else:
        s = c / (1.0 - keep)
        falls, rises = False, False
    best = NO_STEP
    for x in (x0, x1, x2):
        if (falls or (keep != 1.0 and s < low)) and not held(x, c, keep, low, high):
            best = min(best, first_below(x, c, keep, low, steps))
        if (rises or (keep != 1.0 and s > high)) and not held(x, c, keep, low, high):
            best = min(best, first_at_least(x, c, keep, params[PAST_HIGH], steps))
    level = params[LIST]
    if free and level > low:
        if x0 < level:
            best = 1  # free and already below: the next day's list phase must see them
        elif (falls or (keep != 1.0 and s < level)) and not held(x0, c, keep, low, high):
            best = min(best, first_below(x0, c, keep, level, steps))
    level = params[GREEN]
    if level <= high and not held(x0, c, keep, low, high):
        if x0 >= level:
            if level > low and (falls or (keep != 1.0 and s < level)):
                best = min(best, first_below(x0, c, keep, level, steps))
        elif rises or (keep != 1.0 and s > level):
            best = min(best, first_at_least(x0, c, keep, level, steps))
    return NEVER if best > steps else np.int32(t + best)


# ------------------------------------------------------------------ bookkeeping
# People are taken CHUNK at a time, and each array is gathered for the chunk in a pass of
# its own before anything is computed: the touched people are scattered over the
# population, so each read is a cache miss, and misses that do not wait on each other are
# served side by side. Each chunk adds its change of the sums into a part of its own, and
# the parts are added in chunk order: the sums are the same numbers whether the chunks
# were taken by one thread or several. Each kernel is compiled twice, under its own name
# (Numba caches by name): serial, and split across threads with prange; the bodies are
# the same.

CHUNK = 2048
PARALLEL_FROM = 4 * CHUNK  # touched people; below this, waking threads costs more than it saves


def unregister(people, t, write, tracks, exposure, stamp, group, params, free_sums, drift, held_sums):
    """Take ``people`` (kept as of their stamps) out of the sums as they stand on day t, and
    write their scores as of day ``write`` (t or t - 1), with that stamp."""
    parts = np.zeros((-(-len(people) // CHUNK), 3, 3, free_sums.shape[1]))
    kernel = _out_parallel if len(people) >= PARALLEL_FROM else _out_serial
    kernel(people, t, write, tracks, exposure, stamp, group, params, parts)
    free, moving, held_ = parts.sum(axis=0)
    free_sums -= free
    drift -= moving
    held_sums -= held_


def register(people, t, tracks, exposure, stamp, status, due, group, params, free_sums, drift, held_sums, heap, size, stepping=False):
    """Put ``people`` (their scores as of day t) into the sums, and their next crossing into
    the calendar; returns the calendar. ``stepping``: their scores are as of yesterday plus
    today's observations, and the day's map ``clip(keep * x + c)`` is applied first."""
    parts = np.zeros((-(-len(people) // CHUNK), 3, 3, free_sums.shape[1]))
    days = np.empty(len(people), np.int32)
    kernel = _in_parallel if len(people) >= PARALLEL_FROM else _in_serial
    kernel(people, t, tracks, exposure, stamp, status, due, group, params, parts, days, stepping)
    free, moving, held_ = parts.sum(axis=0)
    free_sums += free
    drift += moving
    held_sums += held_
    return _push_all(people, days, heap, size)


@numba.njit(cache=True, inline="always")
def _out_chunk(mine, t, write, tracks, exposure, stamp, group, params, part):  # pragma: no cover - compiled
    """:func:`unregister` for one chunk; part[0], part[1], part[2]: what it takes from the
    free sums, the drift and the held sums."""
    keep, low, high = params[KEEP], params[LOW], params[HIGH]
    x = _gather(tracks, mine).astype(np.float64)
    e, st, gr = exposure[mine], stamp[mine], group[mine]
    for j in range(mine.shape[0]):
        g, k, w = gr[j], t - st[j], write - st[j]
        c = params[PULL] - params[KEEP_PENALTY] * e[j]
        qk, qw = power(params, k), power(params, w)
        for r in range(3):
            v = x[r, j]
            if held(v, c, keep, low, high):
                part[2, r, g] += v
            else:
                part[0, r, g] += moved(v, c, keep, k, qk)
                part[1, r, g] += c
                x[r, j] = clipped(v, c, keep, w, qw, low, high)
    for r in range(3):
        row = tracks[r]
        for j in range(mine.shape[0]):
            row[mine[j]] = np.float32(x[r, j])
    for j in range(mine.shape[0]):
        stamp[mine[j]] = write


@numba.njit(cache=True)
def _out_serial(people, t, write, tracks, exposure, stamp, group, params, parts):  # pragma: no cover - compiled
    for a in range(parts.shape[0]):
        _out_chunk(people[a * CHUNK : (a + 1) * CHUNK], t, write, tracks, exposure, stamp, group, params, parts[a])


@numba.njit(cache=True, parallel=True)
def _out_parallel(people, t, write, tracks, exposure, stamp, group, params, parts):  # pragma: no cover - compiled
    for a in numba.prange(parts.shape[0]):
        _out_chunk(people[a * CHUNK : (a + 1) * CHUNK], t, write, tracks, exposure, stamp, group, params, parts[a])


@numba.njit(cache=True, inline="always")
def _in_chunk(mine, t, tracks, exposure, stamp, status, due, group, params, part, days, stepping):  # pragma: no cover - compiled
    """:func:`register` for one chunk, but for the calendar: their crossing days into
    ``days``. In passes -- the sums, the crossing days, the scattered writes -- so that no
    pass waits on a store to scattered memory (one loop doing all three, with the calendar's
    pushes, ran at twice the cost)."""
    keep, low, high = params[KEEP], params[LOW], params[HIGH]
    m = mine.shape[0]
    x = _gather(tracks, mine).astype(np.float64)
    c = params[PULL] - params[KEEP_PENALTY] * exposure[mine].astype(np.float64)
    gr, free = group[mine], status[mine] == FREE
    if stepping:
        for r in range(3):
            row = tracks[r]
            for j in range(m):
                v = np.float32(min(max(keep * x[r, j] + c[j], low), high))
                row[mine[j]] = v
                x[r, j] = v
    for j in range(m):
        g = gr[j]
        for r in range(3):
            v = x[r, j]
            if held(v, c[j], keep, low, high):
                part[2, r, g] += v
            else:
                part[0, r, g] += v
                part[1, r, g] += c[j]
    for j in range(m):
        days[j] = next_day(x[0, j], x[1, j], x[2, j], c[j], free[j], t, params)
    for j in range(m):
        stamp[mine[j]] = t
    for j in range(m):
        due[mine[j]] = days[j]


@numba.njit(cache=True)
def _in_serial(people, t, tracks, exposure, stamp, status, due, group, params, parts, days, stepping):  # pragma: no cover - compiled
    for a in range(parts.shape[0]):
        sl = slice(a * CHUNK, (a + 1) * CHUNK)
        _in_chunk(people[sl], t, tracks, exposure, stamp, status, due, group, params, parts[a], days[sl], stepping)


@numba.njit(cache=True, parallel=True)
def _in_parallel(people, t, tracks, exposure, stamp, status, due, group, params, parts, days, stepping):  # pragma: no cover - compiled
    for a in numba.prange(parts.shape[0]):
        sl = slice(a * CHUNK, (a + 1) * CHUNK)
        _in_chunk(people[sl], t, tracks, exposure, stamp, status, due, group, params, parts[a], days[sl], stepping)


@numba.njit(cache=True)
def _push_all(people, days, heap, size):  # pragma: no cover - compiled
    """Each person's crossing into the calendar, in person order; returns the calendar."""
    for j in range(people.shape[0]):
        if days[j] != NEVER:
            heap, size = push(heap, size, (np.int64(days[j]) << SHIFT) | np.int64(people[j]))
    return heap, size


@numba.njit(cache=True)
def settle_risk(people, t, risk, rstamp, target, group, params, targets):  # pragma: no cover - compiled
    """Bring ``people``'s perceived risk to the end of day t (the last adapt phase) and take
    their targets out of the group sums: their targets are about to change. The sum of risk
    does not change: their risk is the same number, kept as of a later day."""
    for j in range(people.shape[0]):
        i = people[j]
        risk[i] = np.float32(risk_of(i, t, risk, rstamp, target, params))
        rstamp[i] = t
        targets[group[i]] -= np.float64(target[i])


def values_at(people, t, tracks, exposure, stamp, params):
    """(3, len(people)) float32: the scores of ``people`` after the score phase of day t,
    for a reader that must not change the state (the record phase's panel)."""
    return _values(people, t, tracks, exposure, stamp, params)


@numba.njit(cache=True)
def _gather(tracks, people):  # pragma: no cover - compiled
    """tracks[:, people], each row in a pass of its own (np.take copies a strided array first)."""
    out = np.empty((3, people.shape[0]), np.float32)
    for r in range(3):
        row = tracks[r]
        for j in range(people.shape[0]):
            out[r, j] = row[people[j]]
    return out


@numba.njit(cache=True)
def _values(people, t, tracks, exposure, stamp, params):  # pragma: no cover - compiled
    """Each array gathered in a pass of its own (the cache misses of scattered people then
    overlap), then the closed forms."""
    x = _gather(tracks, people)
    n = people.shape[0]
    e, st = np.empty(n, np.float32), np.empty(n, np.int32)
    for j in range(n):
        e[j] = exposure[people[j]]
    for j in range(n):
        st[j] = stamp[people[j]]
    keep, low, high = params[KEEP], params[LOW], params[HIGH]
    out = np.empty(x.shape, np.float32)
    for j in range(n):
        k = t - st[j]
        c = params[PULL] - params[KEEP_PENALTY] * e[j]
        q = power(params, k)  # once for the three tracks
        for r in range(3):
            out[r, j] = np.float32(clipped(np.float64(x[r, j]), c, keep, k, q, low, high))
    return out


# ------------------------------------------------------------------ the calendar


@numba.njit(cache=True)
def push(heap, size, key):  # pragma: no cover - compiled
    if size == heap.shape[0]:
        grown = np.empty(2 * heap.shape[0], np.int64)
        grown[:size] = heap[:size]
        heap = grown
    k = size
    heap[k] = key
    while k > 0:
        parent = (k - 1) >> 1
        if heap[parent] <= heap[k]:
            break
        heap[parent], heap[k] = heap[k], heap[parent]
        k = parent
    return heap, size + 1


@numba.njit(cache=True)
def pop_due(heap, size, t, due):  # pragma: no cover - compiled
    """The people whose crossing falls on day t (or before), each once, sorted; entries a
    later change replaced (their day is no longer the person's ``due``) are dropped."""
    out = np.empty(64, np.int32)
    n = 0
    while size > 0 and (heap[0] >> SHIFT) <= t:
        key = heap[0]
        size -= 1
        heap[0] = heap[size]
        k = 0
        while True:  # sift down
            a, b, m = 2 * k + 1, 2 * k + 2, k
            if a < size and heap[a] < heap[m]:
                m = a
            if b < size and heap[b] < heap[m]:
                m = b
            if m == k:
                break
            heap[m], heap[k] = heap[k], heap[m]
            k = m
        day, i = np.int32(key >> SHIFT), np.int32(key & LOW_BITS)
        if due[i] == day:
            due[i] = NEVER
            if n == out.shape[0]:
                grown = np.empty(2 * n, np.int32)
                grown[:n] = out
                out = grown
            out[n] = i
            n += 1
    found = np.sort(out[:n])
    return found, heap, size


# ------------------------------------------------------------------ building


def targets_of(world: World, state: EventState, people: np.ndarray, day: int, params: np.ndarray) -> np.ndarray:
    """(len(people),) float32: what perceived risk moves toward after day ``day``:
    ``exposure / degree`` (0 without contacts) plus the own-listing weight while listed or
    detained, as the reference engine's adapt phase computes it."""
    if params[ALPHA] == 0.0:
        return np.zeros(len(people), np.float32)
    degree = world.network.degree_of(people)
    seen = np.where(degree > 0, state.exposure[people] / np.maximum(degree, np.float32(1)), np.float32(0)).astype(np.float32)
    own = (state.status[people] == LISTED) | (state.detained_until[people] > day)
    return np.where(own, seen + np.float32(params[WEIGHT]), seen).astype(np.float32)


BUILD_SLICE = 1 << 20  # people brought up to date and registered at a time by build (a multiple of CHUNK)


def build(world: World, state: EventState, day: int) -> None:
    """At the start of ``day`` (0, or a change of rules): bring everyone to the end of the
    day before under the rules they were kept by, and build the sums and the calendar again
    under the world's rules. The one step that reads everyone; a run does it once per regime.
    It works through the people a slice of ``BUILD_SLICE`` at a time, so that what it holds
    besides the state is bounded, not a few more bytes a person (the calendar's pushes, and
    so the calendar, come out in person order all the same)."""
    new, old = params_of(world), state.params
    n_groups = world.n_groups
    for sums in (state.free_sums, state.drift, state.held_sums):
        sums[:] = 0.0
    heap, size = np.zeros(1024, np.int64), 0
    targets, risks, shown, green = np.zeros(n_groups), np.zeros(n_groups), np.zeros(n_groups), []
    for first in range(0, world.n_agents, BUILD_SLICE):
        part = np.arange(first, min(first + BUILD_SLICE, world.n_agents), dtype=np.int32)
        here = slice(first, first + len(part))
        if state.built:
            state.tracks[:, here] = values_at(part, day - 1, state.tracks, state.exposure, state.stamp, old)
            k = (day - 1) - state.rstamp[here]
            x = state.target[here].astype(np.float64)
            state.risk[here] = (x + (state.risk[here] - x) * old[RISK_KEEP] ** k).astype(np.float32)
        state.stamp[here] = day - 1
        state.rstamp[here] = day - 1
        state.target[here] = targets_of(world, state, part, day - 1, new)
        heap, size = register(
            part, day - 1, state.tracks, state.exposure, state.stamp, state.status, state.due, world.group, new,
            state.free_sums, state.drift, state.held_sums, heap, size,
        )
        group = world.group[here]
        targets += np.bincount(group, weights=state.target[here], minlength=n_groups)
        risks += np.bincount(group, weights=state.risk[here], minlength=n_groups)
        shown += np.bincount(group, weights=state.shown[here].astype(np.float64) * world.network.degree_of(part), minlength=n_groups)
        if np.isfinite(new[GREEN]):
            green.append(first + np.flatnonzero(state.score[here] >= new[GREEN]).astype(np.int32))
    state.heap, state.heap_size = heap, size
    state.targets, state.risks, state.shown_degrees = targets, risks, shown
    state.green = np.concatenate(green) if green else np.zeros(0, np.int32)
    state.params, state.built, state.regime = new, True, world.regime
    give_back_free_memory()
