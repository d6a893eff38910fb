"""The world: what does not change during a run.

A :class:`World` holds the scenario's parameters compiled into arrays indexed by behaviour
(b), group (g) and region (r), and the people's fixed traits. It is built once from a
scenario and a seed; the phases read it and never write it (it plays the part of brax's
``sys``). What changes day by day lives in :class:`credsim.state.State`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import special

from credsim import kernels
from credsim.population import Layout, Network, build_network, make_layout
from credsim.scenario import timeline
from credsim.scenario.schema import Scenario

POVERTY_CAP = 20.0  # base / income never counts above this: income can reach 0 in detention
LEVELS = 256  # propensity classes: one byte per person and behaviour


@dataclass(frozen=True)
class CaseTerms:
    """The terms a case keeps from the day it opened (``State.terms`` is the regime it opened
    under), per regime: (K + 1,) arrays, index 0 the base scenario, k the k-th change day."""

    min_days: np.ndarray  # int64
    exit_threshold: np.ndarray  # float32, as the score it is compared with
    notice_days: np.ndarray  # int64
    uphold_wrongful: np.ndarray  # float64
    uphold_rightful: np.ndarray  # float64


@dataclass(frozen=True)
class World:
    """Fixed settings and traits. Shapes: N people, B behaviours, G groups, R regions."""

    scenario: Scenario
    layout: Layout
    network: Network
    base_income: np.ndarray  # (N,) float32, income units (the majority's median is about 1)
    dependents: np.ndarray  # (N,) int8, children whose schooling a sanction touches
    propensity_code: np.ndarray | None  # (B, N) uint8, propensity class; None: everyone alike
    propensity_level: np.ndarray  # (LEVELS,) float64, the propensity of each class (mean 1)
    propensity_max: np.ndarray  # (B, G) float64, the largest propensity times region multiplier in each group
    # Behaviours
    rate: np.ndarray  # (B, G) float64, base daily rate (Poisson intensity per unit propensity)
    region_rate: np.ndarray  # (B, R) float64, the rate's multiplier in each region (1: none)
    delta: np.ndarray  # (B,) float32, score change per observation
    fair_delta: np.ndarray  # (B,) float32, delta without penalties on protected behaviours
    protected: np.ndarray  # (B,) bool
    harmful: np.ndarray  # (B,) bool
    deterred: np.ndarray  # (B,) bool, penalized and not protected: falls with perceived risk
    bernoulli: np.ndarray  # (B,) bool, at most one event per person-day
    poverty_elasticity: np.ndarray  # (B,) float64
    listed_multiplier: np.ndarray  # (B,) float64
    p_records: np.ndarray  # (B,) float64
    p_camera: np.ndarray  # (B,) float64
    p_inform: np.ndarray  # (B,) float64
    informed: np.ndarray  # (B, max degree + 1) float64, 1 - (1 - p_inform[b]) ** degree: caught by a contact
    immediate: np.ndarray  # (B,) bool, an observation puts the person on notice at once
    flagged: np.ndarray  # (B,) bool, counts toward detention
    # Groups
    watch: np.ndarray  # (G,) float64, camera attention per group
    false_match_multiplier: np.ndarray  # (G,) float64
    access: np.ndarray  # (G,) float64, access to legal help
    group_size: np.ndarray  # (G,) int64
    # Score
    grade_names: list[str]  # highest first
    grade_bounds: np.ndarray  # (n_grades,) float32, lower bound of each grade, highest first
    # Surveillance
    initial_intensity: np.ndarray  # (R,) float64
    region_size: np.ndarray  # (R,) int64
    # Record
    panel: np.ndarray  # (n_panel,) int64, people whose scores give the daily quantiles
    panel_group_start: np.ndarray  # (G + 1,) int64, panel members of group g in a block
    # Sweeps (credsim.kernels)
    chunk_start: np.ndarray  # (C + 1,) int64, people are swept in chunks within a group
    chunk_group: np.ndarray  # (C,) int64, the group of each chunk
    base_income_sum: np.ndarray  # (G,) float64, the sum of base incomes over each group
    # Timeline (credsim.changes): which change day's rules these are, and the terms of cases
    regime: int = 0  # 0: the base scenario; k: from the k-th change day of the timeline
    terms: CaseTerms | None = None  # None: no change of the timeline touches a case's terms

    @property
    def regional(self) -> bool:
        """Whether some behaviour's rate differs between regions."""
        return bool((self.region_rate != 1.0).any())

    def region_factor(self, b: int, who: np.ndarray) -> np.ndarray:
        """(len(who),) float64, the region multiplier of behaviour ``b`` for ``who``."""
        return self.region_rate[b, self.layout.region[who]]

    def propensity_of(self, b: int, who: np.ndarray | slice) -> np.ndarray:
        """(len(who),) float64, the propensity of ``who`` for behaviour ``b``."""
        if self.propensity_code is None:
            return np.ones(len(np.arange(self.n_agents)[who]) if isinstance(who, slice) else len(who))
        return self.propensity_level[self.propensity_code[b, who]]

    @property
    def n_agents(self) -> int:
        return self.layout.n_agents

    @property
    def n_groups(self) -> int:
        return self.layout.n_groups

    @property
    def n_behaviours(self) -> int:
        return len(self.delta)

    @property
    def group(self) -> np.ndarray:
        return self.layout.group

    @property
    def region(self) -> np.ndarray:
        return self.layout.region

    def groups_of(self, people: np.ndarray) -> np.ndarray:
        """(len(people),) int64: the group of each of the sorted ``people``, from the group
        blocks (``world.group[people]`` without reading anyone's group)."""
        bounds = np.searchsorted(people, self.layout.group_start)
        return np.repeat(np.arange(self.n_groups), np.diff(bounds))

    def per_group(self, people: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """(G,) float64: how many of the sorted ``people`` are in each group, or the sum of
        their integer ``counts``. Groups are blocks of people, so a binary search finds
        each group's part, without reading anyone's group (the same numbers as a
        ``bincount`` of their groups: integer sums are exact)."""
        bounds = np.searchsorted(people, self.layout.group_start)
        if counts is None:
            return np.diff(bounds).astype(np.float64)
        total = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        return np.diff(total[bounds]).astype(np.float64)


def build_world(scenario: Scenario, rng: np.random.Generator) -> World:
    """Draw the synthetic population and compile the scenario. ``rng`` is the setup stream."""
    pop = scenario.population
    groups = list(pop.groups)
    behaviours = list(scenario.behaviours)
    n_groups, n_behaviours, n_regions = len(groups), len(behaviours), pop.regions

    shares = np.array([pop.groups[g].share for g in groups])
    region_shares = np.array(
        [pop.groups[g].region_shares or [1.0 / n_regions] * n_regions for g in groups], dtype=np.float64
    )
    layout = make_layout(pop.size, shares, region_shares)
    n = layout.n_agents

    base_income = np.empty(n, np.float32)
    dependents = np.empty(n, np.int8)
    for g, name in enumerate(groups):
        spec, sl = pop.groups[name], layout.group_slice(g)
        size = sl.stop - sl.start
        base_income[sl] = spec.income_median * np.exp(spec.income_sigma * rng.standard_normal(size))
        dependents[sl] = np.minimum(rng.poisson(spec.dependents_mean, size), 20)

    code, level = None, np.ones(LEVELS)
    propensity_max = np.ones((n_behaviours, n_groups))
    if pop.propensity_cv > 0:
        level = propensity_levels(pop.propensity_cv)
        code = np.empty((n_behaviours, n), np.uint8)
        for b in range(n_behaviours):
            code[b] = rng.integers(0, LEVELS, n, dtype=np.uint8)
            for g in range(n_groups):
                sl = layout.group_slice(g)
                propensity_max[b, g] = level[code[b, sl].max()] if sl.stop > sl.start else 1.0

    network = build_network(layout, pop.contacts, pop.homophily, pop.contacts_within_region, rng)
    rules = compile_rules(scenario, layout, network.max_degree())
    # Thinning needs each group's largest intensity: the largest region multiplier among the
    # regions where the group has people (region rates are fixed for a run: a timeline
    # cannot change them, scenario/timeline.py).
    for g in range(n_groups):
        present = layout.cell_size[g] > 0
        if present.any():
            propensity_max[:, g] *= rules["region_rate"][:, present].max(axis=1)

    panel, panel_start = _panel(layout, scenario.record.quantile_panel, rng)
    chunk_start, chunk_group = kernels.chunks(layout.group_start)
    return World(
        scenario=scenario,
        layout=layout,
        network=network,
        base_income=base_income,
        dependents=dependents,
        propensity_code=code,
        propensity_level=level,
        propensity_max=propensity_max,
        **rules,
        group_size=np.diff(layout.group_start),
        region_size=layout.cell_size.sum(axis=0),
        panel=panel,
        panel_group_start=panel_start,
        chunk_start=chunk_start,
        chunk_group=chunk_group,
        base_income_sum=np.array([kernels.sum64(base_income[layout.group_slice(g)]) for g in range(n_groups)]),
        terms=_case_terms(scenario),
    )


def compile_rules(scenario: Scenario, layout: Layout, max_degree: int) -> dict:
    """The World's fields that follow from the scenario's rules alone, not from the drawn
    population: what a timeline's change recompiles (:mod:`credsim.changes`)."""
    groups, behaviours = list(scenario.population.groups), list(scenario.behaviours)
    n_regions = scenario.population.regions
    spec = [scenario.behaviours[b] for b in behaviours]
    region_rate = np.array([s.region_rate or [1.0] * n_regions for s in spec], dtype=np.float64).reshape(len(spec), n_regions)
    counts_bernoulli = np.array([s.counts == "bernoulli" for s in spec])
    base = np.array([[s.rate[g] for g in groups] for s in spec], dtype=np.float64)
    # A Bernoulli behaviour with daily probability p is drawn as "at least one event" of a
    # Poisson process with intensity -log(1 - p), which has exactly probability p.
    rate = np.where(counts_bernoulli[:, None], -np.log1p(-np.minimum(base, 1 - 1e-12)), base)
    delta = np.array([scenario.score.deltas.get(b, 0.0) for b in behaviours], dtype=np.float32)
    protected = np.array([s.protected for s in spec])

    obs, listing, sanctions = scenario.observation, scenario.listing, scenario.sanctions
    intensity = np.array(scenario.surveillance.intensity or [1.0] * n_regions, dtype=np.float64)
    grades = sorted(scenario.score.grades.items(), key=lambda kv: -kv[1])

    p_inform = np.array([s.p_inform for s in spec]) * obs.informants.enabled
    return dict(
        rate=rate,
        region_rate=region_rate,
        delta=delta,
        fair_delta=np.where(protected & (delta < 0), 0, delta).astype(np.float32),
        protected=protected,
        harmful=np.array([s.harmful for s in spec]),
        deterred=(delta < 0) & ~protected,
        bernoulli=counts_bernoulli,
        poverty_elasticity=np.array([s.poverty_elasticity for s in spec]),
        listed_multiplier=np.array([s.listed_multiplier for s in spec]),
        p_records=np.array([s.p_records for s in spec]) * obs.records.enabled,
        p_camera=np.array([s.p_camera for s in spec]) * obs.cameras.enabled,
        p_inform=p_inform,
        informed=_informed(p_inform, max_degree),
        immediate=np.array([b in listing.immediate for b in behaviours]) & listing.enabled,
        flagged=np.array([b in sanctions.detention.flagged for b in behaviours]) & sanctions.detention.enabled,
        watch=np.array([obs.cameras.watch.get(g, 1.0) for g in groups]),
        false_match_multiplier=np.array([obs.cameras.false_match_multiplier.get(g, 1.0) for g in groups]),
        access=np.array([listing.objection.access.get(g, 1.0) for g in groups]),
        grade_names=[name for name, _ in grades],
        grade_bounds=np.array([bound for _, bound in grades], dtype=np.float32),
        initial_intensity=intensity,
    )


def _case_terms(scenario: Scenario) -> CaseTerms | None:
    """Each regime's case terms, when some change of the timeline touches them."""
    regimes = timeline.regimes(scenario) if scenario.timeline else []
    if not any(change.changes_terms for change, _ in regimes):
        return None
    rules = [scenario, *(s for _, s in regimes)]
    return CaseTerms(
        min_days=np.array([s.listing.min_days for s in rules], np.int64),
        exit_threshold=np.array([s.listing.exit_threshold for s in rules], np.float32),
        notice_days=np.array([s.listing.notice_days for s in rules], np.int64),
        uphold_wrongful=np.array([s.appeal.uphold_wrongful for s in rules], np.float64),
        uphold_rightful=np.array([s.appeal.uphold_rightful for s in rules], np.float64),
    )


def propensity_levels(cv: float) -> np.ndarray:
    """The propensity of each of ``LEVELS`` equally likely classes: the mean of a Gamma
    distribution with mean 1 and coefficient of variation ``cv`` over each class's slice of
    quantiles, ``[k / LEVELS, (k + 1) / LEVELS)``.

    A person's propensity for a behaviour is a class drawn uniformly, stored in one byte
    instead of four. The mean stays exactly 1 (the class means of all the slices average to
    the distribution's mean); the spread within each slice is lost, which lowers the
    coefficient of variation by about 0.1% at cv 0.7 (0.6991), and caps the largest
    propensity at the mean of the top slice (4.37 at cv 0.7, where a million Gamma draws
    reach about 8.8).
    """
    shape = 1.0 / cv**2
    quantile = special.gammaincinv(shape, np.arange(1, LEVELS) / LEVELS)
    # x f(x; shape, scale 1/shape) = f(x; shape + 1, scale 1/shape): the mean over a slice is
    # LEVELS times the slice's mass under the Gamma(shape + 1) distribution.
    upper = np.concatenate([[0.0], special.gammainc(shape + 1.0, quantile), [1.0]])
    return LEVELS * np.diff(upper)


def _panel(layout: Layout, per_group: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random panel of up to ``per_group`` people per group (everyone in small groups)."""
    parts = []
    for g in range(layout.n_groups):
        sl = layout.group_slice(g)
        size = sl.stop - sl.start
        if size <= per_group:
            parts.append(np.arange(sl.start, sl.stop, dtype=np.int64))
        else:
            parts.append(np.sort(rng.choice(size, per_group, replace=False)) + sl.start)
    start = np.zeros(layout.n_groups + 1, np.int64)
    np.cumsum([len(p) for p in parts], out=start[1:])
    return np.concatenate(parts), start


@numba.njit(cache=True)
def _informed(p_inform: np.ndarray, max_degree: int) -> np.ndarray:  # pragma: no cover - compiled
    """(B, max_degree + 1): the chance that a person with d contacts, each reporting an event of
    behaviour b with ``p_inform[b]``, is reported by at least one. Compiled, with the degree
    read as a float32 as ``Network.degree_of`` gives it: each entry is bit for bit the power a
    compiled per-event loop computes (``tests/phases/test_observe.py``)."""
    degree = np.arange(max_degree + 1).astype(np.float32)  # float32 like Network.degree_of, read as it was
    out = np.zeros((p_inform.shape[0], max_degree + 1))
    for b in range(p_inform.shape[0]):
        for d in range(max_degree + 1):
            out[b, d] = 1.0 - (1.0 - p_inform[b]) ** np.float64(degree[d])
    return out
