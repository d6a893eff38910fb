"""Phase 2, observe: the system sees some true events, and some that never happened.

A true event is recorded when any channel catches it, each drawn independently:
- records: with ``p_records[b]``;
- cameras: with ``p_camera[b] * intensity[region] * watch[group]`` (at most 1);
- informants: each of the person's contacts reports it with ``p_inform[b]``, so it is caught
  with ``1 - (1 - p_inform[b]) ** degree``; the first report counts and one contact, drawn
  at random, is its informant (paid ``score.informant_reward``).

False observations (the system cannot tell them from true ones):
- false matches: face recognition attaches someone else's public event to a person, at
  ``false_match_rate * intensity[region] * watch[group] * false_match_multiplier[group]``
  per person-day (at most 1), alleging ``false_match_alleges``;
- malicious reports: people file at ``rate * (1 + reward_elasticity * max(reward, 0))`` per
  person-day against one of their contacts, ``other_group_bias`` times likelier to pick a
  contact of another group, alleging ``alleges``; the filer is paid like an informant;
- record errors: a department attaches someone else's record at ``rate`` per person-day,
  alleging ``alleges``.

Detained people are seen by nobody. Camera observations (true or false) count as
detections in the person's region: they steer adaptive surveillance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from credsim.draws import uniforms
from credsim.engines.reference.phases.behave import Events
from credsim.state import State
from credsim.tally import Tally
from credsim.world import World


@dataclass(frozen=True)
class Observations:
    """What the system recorded today."""

    person: np.ndarray  # (K,) int32
    behaviour: np.ndarray  # (K,) int16
    true: np.ndarray  # (K,) bool, inside the simulator only: did it happen?
    informant: np.ndarray  # (P,) int32, people paid for a report today
    informant_true: np.ndarray  # (P,) bool, whether their report was true

    def __len__(self) -> int:
        return len(self.person)


def observe(world: World, state: State, events: Events, day: int, rng: np.random.Generator, tally: Tally) -> Observations:
    person, behaviour = events.person, events.behaviour
    n = len(person)
    # The day's uniforms, drawn here in a fixed order: records, cameras, informants, and
    # which contact informs; the compiled pass below only compares them.
    u = uniforms(rng, (4, n))
    counts = np.zeros((6, world.n_groups))
    seen_person, seen_behaviour, informant = _sight(
        person, behaviour, u, world.p_records, world.p_camera, world.p_inform, state.intensity, world.watch,
        world.informed, world.layout.cell_bounds, world.layout.n_regions, world.network.indptr, world.network.indices,
        world.protected, world.harmful, counts, state.detections_today,
    )
    for k, name in enumerate(("events_protected", "events_harmful", "camera_detections", "informant_reports")):
        tally.add(name, counts[k])
    tally.add("records_seen", counts[5])

    persons, behaviours, truth = [seen_person], [seen_behaviour], [np.ones(len(seen_person), bool)]
    false = np.zeros(world.n_groups)  # false observations per group, from each source's own count
    payees, payee_truth = [informant], [np.ones(len(informant), bool)]
    free = lambda who: who[state.detained_until[who] <= day]  # noqa: E731 - detained people are not seen

    cameras = world.scenario.observation.cameras
    if cameras.enabled and cameras.false_match_rate > 0:
        exposure = cameras.false_match_rate * state.intensity[None, :] * (world.watch * world.false_match_multiplier)[:, None]
        exposure = np.minimum(exposure, 1.0)  # a chance per person-day: at most one a day on average
        victims = free(_uniform_in_cells(world, exposure, rng))
        _add_false(persons, behaviours, truth, victims, _behaviour_index(world, cameras.false_match_alleges))
        false += _count(tally, "false_matches", world, victims)
        np.add.at(state.detections_today, world.region[victims], 1)
    state.detections += state.detections_today  # today's only: the recorder empties it

    malicious = world.scenario.observation.malicious
    if malicious.enabled and malicious.rate > 0:
        reward = max(world.scenario.score.informant_reward, 0.0)
        rate = min(malicious.rate * (1.0 + malicious.reward_elasticity * reward), 1.0)
        filers = rng.integers(0, world.n_agents, rng.poisson(rate * world.n_agents))
        filers = filers[(state.detained_until[filers] <= day) & (world.network.degree_of(filers) > 0)]
        targets = _biased_contact(world, filers, malicious.other_group_bias, rng)
        reachable = state.detained_until[targets] <= day
        filers, targets = filers[reachable], targets[reachable]
        _add_false(persons, behaviours, truth, targets, _behaviour_index(world, malicious.alleges))
        false += _count(tally, "malicious_reports", world, targets)
        payees.append(filers)
        payee_truth.append(np.zeros(len(filers), bool))

    errors = world.scenario.observation.record_errors
    if errors.enabled and errors.rate > 0:
        victims = free(rng.integers(0, world.n_agents, rng.poisson(errors.rate * world.n_agents)).astype(np.int32))
        _add_false(persons, behaviours, truth, victims, _behaviour_index(world, errors.alleges))
        false += _count(tally, "record_errors", world, victims)

    obs = Observations(
        person=np.concatenate(persons).astype(np.int32),
        behaviour=np.concatenate(behaviours).astype(np.int16),
        true=np.concatenate(truth),
        informant=np.concatenate(payees).astype(np.int32),
        informant_true=np.concatenate(payee_truth),
    )
    tally.add("observations", counts[4] + false)  # the true ones seen were counted by _sight
    tally.add("false_observations", false)
    return obs


def _count(tally: Tally, name: str, world: World, who: np.ndarray) -> np.ndarray:
    """Count ``who`` per group under ``name``, and return the counts."""
    per_group = np.bincount(world.group[who], minlength=world.n_groups).astype(np.float64)
    tally.add(name, per_group)
    return per_group


SIGHT_CHUNK = 16384  # events judged per task
SIGHT_PARALLEL_FROM = 65536  # events; below this one core judges them
SEEN, BY_CAMERA, BY_INFORMANT, BY_RECORDS = 1, 2, 4, 8  # the bits of an event's verdict


@numba.njit(cache=True)
def _sight(person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions, indptr,
           indices, protected, harmful, counts, detections):  # pragma: no cover - compiled
    """The true events seen (records, cameras or informants, each its own uniform row of
    ``u``): their people and behaviours, in order; and the informant of each event an
    informant reported (a contact chosen by the fourth row). Counts per group into the rows
    of ``counts``: protected events, harmful events, camera detections, informant reports,
    events seen, events the records caught; and camera detections per region into ``detections``.

    Each event is judged on its own (:func:`_judge_chunk`), so the events are judged in
    chunks, on every core when there are many; the counts and the lists are then made in
    event order, in one pass over the verdicts.
    """
    n = person.shape[0]
    ds = np.zeros(n, np.float32)  # the degrees, as float32 (exact)
    verdict = np.empty(n, np.uint8)
    args = (person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions, indptr, ds,
            verdict)
    if n >= SIGHT_PARALLEL_FROM:
        _judge_parallel(*args)
    else:
        _judge(*args)
    seen_person = np.empty(n, np.int32)
    seen_behaviour = np.empty(n, np.int16)
    m = 0
    reported = np.empty(n, np.int64)  # events an informant reported
    k = 0
    low, high, g, r = 0, 0, 0, 0  # the last event's cell (see _judge_chunk)
    for j in range(n):
        i = person[j]
        if i < low or i >= high:
            low, high, g, r = _cell(cell_bounds, n_regions, i)
        b, v = behaviour[j], verdict[j]
        if v & SEEN:
            counts[4, g] += 1
            seen_person[m] = person[j]
            seen_behaviour[m] = b
            m += 1
        if protected[b]:
            counts[0, g] += 1
        if harmful[b]:
            counts[1, g] += 1
        if v & BY_CAMERA:
            counts[2, g] += 1
            detections[r] += 1
        if v & BY_RECORDS:
            counts[5, g] += 1
        if v & BY_INFORMANT:
            counts[3, g] += 1
            reported[k] = j
            k += 1
    return seen_person[:m].copy(), seen_behaviour[:m].copy(), _informants(person, u, ds, indptr, indices, reported[:k])


@numba.njit(cache=True)
def _judge(person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions, indptr, ds,
           verdict):  # pragma: no cover - compiled
    for c in range((person.shape[0] + SIGHT_CHUNK - 1) // SIGHT_CHUNK):
        _judge_chunk(c, person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions,
                     indptr, ds, verdict)


@numba.njit(cache=True, parallel=True)
def _judge_parallel(person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions,
                    indptr, ds, verdict):  # pragma: no cover - compiled
    for c in numba.prange((person.shape[0] + SIGHT_CHUNK - 1) // SIGHT_CHUNK):
        _judge_chunk(c, person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions,
                     indptr, ds, verdict)


@numba.njit(cache=True, inline="always")
def _judge_chunk(c, person, behaviour, u, p_records, p_camera, p_inform, intensity, watch, informed, cell_bounds, n_regions,
                 indptr, ds, verdict):  # pragma: no cover - compiled
    """The c-th chunk of events: the verdict on each (seen, by a camera, by an informant),
    and the degree of each event's person for behaviours informants can see (into ``ds``,
    from the network's row ends ``indptr``)."""
    a = c * SIGHT_CHUNK
    z = min(a + SIGHT_CHUNK, person.shape[0])
    # The degrees first, in a pass of their own: at millions of people every read is a
    # cache miss, and reads that do not wait on each other overlap.
    for j in range(a, z):
        if p_inform[behaviour[j]] > 0.0:
            ds[j] = np.float32(indptr[person[j] + 1] - indptr[person[j]])
    low, high, g, r = 0, 0, 0, 0  # the last event's cell, [low, high), and its group and region
    for j in range(a, z):
        i, b = person[j], behaviour[j]
        if i < low or i >= high:
            low, high, g, r = _cell(cell_bounds, n_regions, i)
        # (Zero chances are skipped; the informants' chance, a power of the degree, is tabled.)
        by_camera = p_camera[b] > 0.0 and u[1, j] < min(p_camera[b] * intensity[r] * watch[g], 1.0)
        by_informant = p_inform[b] > 0.0 and u[2, j] < informed[b, np.int64(ds[j])]
        by_records = u[0, j] < p_records[b]
        seen = by_records or by_camera or by_informant
        verdict[j] = (SEEN if seen else 0) | (BY_CAMERA if by_camera else 0) | (BY_INFORMANT if by_informant else 0) | (
            BY_RECORDS if by_records else 0)


@numba.njit(cache=True, inline="always")
def _cell(cell_bounds, n_regions, i):  # pragma: no cover - compiled
    """Person i's cell, ``[low, high)``, and its group and region: from the cell blocks, not
    read per person (a day's events run in person order within each behaviour, so the cell
    changes seldom from one event to the next)."""
    k = np.searchsorted(cell_bounds, i, side="right") - 1
    return cell_bounds[k], cell_bounds[k + 1], k // n_regions, k % n_regions


@numba.njit(cache=True)
def _informants(person, u, ds, indptr, indices, reported):  # pragma: no cover - compiled
    """The informant of each reported event: a contact chosen by the event's fourth uniform."""
    k = reported.shape[0]
    first = np.empty(k, np.int64)
    for c in range(k):
        first[c] = indptr[person[reported[c]]]
    informant = np.empty(k, np.int32)
    for c in range(k):
        j = reported[c]
        contacts = np.int64(ds[j])  # the degree, exact in float32
        informant[c] = indices[first[c] + min(np.int64(u[3, j] * contacts), contacts - 1)]
    return informant


def _add_false(persons: list, behaviours: list, truth: list, victims: np.ndarray, b: int) -> None:
    persons.append(victims)
    behaviours.append(np.full(len(victims), b, np.int16))
    truth.append(np.zeros(len(victims), bool))


def _behaviour_index(world: World, name: str | None) -> int:
    return list(world.scenario.behaviours).index(name)


def _random_contact(world: World, who: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One contact of each person, chosen by ``u`` in [0, 1); everyone here has a contact."""
    first = world.network.indptr[who]
    degree = world.network.indptr[who + 1] - first
    return world.network.indices[first + np.minimum((u * degree).astype(np.int64), degree - 1)]


def _biased_contact(world: World, filers: np.ndarray, bias: float, rng: np.random.Generator) -> np.ndarray:
    """One contact per filer, contacts of another group weighted ``bias`` to 1."""
    if len(filers) == 0:
        return np.zeros(0, np.int32)
    if bias == 1.0:
        return _random_contact(world, filers, rng.random(len(filers)))
    indptr, indices = world.network.indptr, world.network.indices
    degree = (indptr[filers + 1] - indptr[filers]).astype(np.int64)
    owner = np.repeat(np.arange(len(filers)), degree)
    offsets = np.arange(degree.sum()) - np.repeat(np.cumsum(degree) - degree, degree)
    contacts = indices[indptr[filers][owner] + offsets]
    weight = np.where(world.group[contacts] != world.group[filers][owner], bias, 1.0)
    cumulative = np.cumsum(weight)
    row_end = np.cumsum(degree) - 1
    row_total = cumulative[row_end] - np.concatenate([[0.0], cumulative[row_end[:-1]]])
    row_before = cumulative[row_end] - row_total
    target = row_before + rng.random(len(filers)) * row_total
    pick = np.searchsorted(cumulative, target, side="right")
    return contacts[np.minimum(pick, row_end)]


def _uniform_in_cells(world: World, rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """People hit by a (group, region) cell-wide Poisson rate per person: counts, then places."""
    size = world.layout.cell_size
    counts = rng.poisson(rate * size)
    starts = np.repeat(world.layout.cell_start.ravel(), counts.ravel())
    sizes = np.repeat(size.ravel(), counts.ravel())
    return (starts + np.minimum((rng.random(len(starts)) * sizes).astype(np.int64), sizes - 1)).astype(np.int32)
