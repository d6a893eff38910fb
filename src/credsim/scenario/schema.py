"""The scenario schema: every parameter of the model, its type and its constraints.

A scenario is validated once, here, when it is loaded; the engine trusts it afterwards.
Unknown keys are errors (``extra="forbid"``), so a mistyped key never passes silently.
Tables keyed by group or by behaviour name are checked against the names the scenario
declares. Section by section this follows ``docs/model.md``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
# Bounds that keep every run finite (docs/reliability.md, section 6): a score is a float32,
# and the engine adds deltas and penalties to it and sums it over people, so a score-scale
# number stays within +-1e9 (real scales: 350-950, 0-1300); a multiplier of a rate or a
# weight stays within 1e6 (real ones: 0-20).
MAX_SCORE = 1e9
ScoreValue = Annotated[float, Field(ge=-MAX_SCORE, le=MAX_SCORE, allow_inf_nan=False)]
MAX_MULTIPLIER = 1e6
Multiplier = Annotated[float, Field(ge=0.0, le=MAX_MULTIPLIER, allow_inf_nan=False)]
Days = Annotated[int, Field(ge=0, le=1_000_000)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")]

MAX_POPULATION = 1_000_000_000
MAX_DAYS = 100 * 365
MIN_PROPENSITY_CV = 1e-4


class Section(BaseModel):
    # strict: `threshold = true` or `min_days = "365"` is a mistake to report, not to coerce
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Switch(Section):
    enabled: bool = True


# --------------------------------------------------------------------------- meta


class Meta(Section):
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=4000)
    sources: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=200)
    extends: str | None = Field(default=None, max_length=200)
    # What a scenario that extends another changes from it, and why: a field (dotted path,
    # or a table such as "listing.objection" naming every field in it) -> the reason. Each
    # built-in scenario that extends another names every field it changes (a test checks).
    changes: dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=200
    )


# --------------------------------------------------------------------------- population


class Group(Section):
    share: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
    region_shares: list[Probability] | None = Field(default=None, max_length=10_000)
    # incomes are float32: a median below 1e-6 (5e-324 was accepted) rounds people's
    # incomes to 0, and the poverty multiplier divides by them
    income_median: Annotated[float, Field(ge=1e-6, le=MAX_MULTIPLIER, allow_inf_nan=False)] = 1.0
    income_sigma: Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)] = 0.5
    dependents_mean: Annotated[float, Field(ge=0.0, le=20.0, allow_inf_nan=False)] = 0.7


class Population(Section):
    size: Annotated[int, Field(ge=1, le=MAX_POPULATION)]
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 365
    regions: Annotated[int, Field(ge=1, le=10_000)] = 1
    groups: dict[Name, Group] = Field(min_length=1, max_length=64)
    reference_group: Name
    # 0 (no heterogeneity) or at least MIN_PROPENSITY_CV: below it the Gamma quantiles of
    # credsim.world.propensity_levels lose their precision (at 1e-150 they run from 0 to 128)
    propensity_cv: Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)] = 0.7
    contacts: Annotated[float, Field(ge=0.0, le=200.0, allow_inf_nan=False)] = 10.0
    homophily: Probability = 0.8
    contacts_within_region: Probability = 0.9

    @model_validator(mode="after")
    def _check(self) -> Population:
        if 0 < self.propensity_cv < MIN_PROPENSITY_CV:
            raise ValueError(
                f"population.propensity_cv must be 0 or at least {MIN_PROPENSITY_CV:g}; got {self.propensity_cv:g}"
            )
        total = sum(g.share for g in self.groups.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"the shares of population.groups must sum to 1; they sum to {total:g}")
        if self.reference_group not in self.groups:
            raise ValueError(
                f"population.reference_group must be one of the groups {sorted(self.groups)}; "
                f"got {self.reference_group!r}"
            )
        for name, group in self.groups.items():
            if group.region_shares is None:
                continue
            if len(group.region_shares) != self.regions:
                raise ValueError(
                    f"population.groups.{name}.region_shares must have one share per region "
                    f"({self.regions}); got {len(group.region_shares)}"
                )
            total = sum(group.region_shares)
            if not math.isclose(total, 1.0, abs_tol=1e-6):
                raise ValueError(
                    f"population.groups.{name}.region_shares must sum to 1; they sum to {total:g}"
                )
        return self


# --------------------------------------------------------------------------- behaviours


class Behaviour(Section):
    """One kind of true event. Rates are daily, per person, per group."""

    rate: dict[Name, Probability]
    protected: bool = False
    harmful: bool = False
    p_records: Probability = 0.0
    p_camera: Probability = 0.0
    p_inform: Probability = 0.0
    poverty_elasticity: Annotated[float, Field(ge=-5.0, le=5.0, allow_inf_nan=False)] = 0.0
    listed_multiplier: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = 1.0
    counts: Literal["poisson", "bernoulli"] = "poisson"
    # One multiplier of the rate per region (population.regions of them); none: 1 everywhere.
    region_rate: list[Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)]] | None = Field(
        default=None, max_length=10_000
    )


# --------------------------------------------------------------------------- observation


class Records(Switch):
    pass


class Cameras(Switch):
    watch: dict[Name, Multiplier] = Field(default_factory=dict)
    false_match_rate: Probability = 0.0
    false_match_multiplier: dict[Name, Multiplier] = Field(default_factory=dict)
    false_match_alleges: Name | None = None


class Informants(Switch):
    pass


class MaliciousReports(Switch):
    rate: Probability = 0.0
    reward_elasticity: Multiplier = 0.0
    other_group_bias: Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)] = 1.0
    alleges: Name | None = None


class RecordErrors(Switch):
    rate: Probability = 0.0
    alleges: Name | None = None


class Observation(Section):
    records: Records = Records()
    cameras: Cameras = Cameras()
    informants: Informants = Informants()
    malicious: MaliciousReports = MaliciousReports()
    record_errors: RecordErrors = RecordErrors()


# --------------------------------------------------------------------------- score


class Association(Switch):
    penalty: Annotated[float, Field(ge=0.0, le=MAX_SCORE, allow_inf_nan=False)] = 0.0


class Score(Section):
    initial: ScoreValue = 1000.0
    min: ScoreValue = 0.0
    max: ScoreValue = 1300.0
    deltas: dict[Name, ScoreValue] = Field(default_factory=dict)
    informant_reward: ScoreValue = 0.0
    forgiveness: Probability = 0.0
    association: Association = Association(enabled=False)
    grades: dict[Annotated[str, Field(min_length=1, max_length=16)], ScoreValue] = Field(
        default_factory=dict, max_length=32
    )

    @model_validator(mode="after")
    def _check(self) -> Score:
        if not self.min < self.max:
            raise ValueError(f"score.min ({self.min:g}) must be below score.max ({self.max:g})")
        if not self.min <= self.initial <= self.max:
            raise ValueError(
                f"score.initial must be within [score.min, score.max] = [{self.min:g}, {self.max:g}]; "
                f"got {self.initial:g}"
            )
        for name, bound in self.grades.items():
            if not self.min <= bound <= self.max:
                raise ValueError(
                    f"score.grades.{name} must be within [{self.min:g}, {self.max:g}]; got {bound:g}"
                )
        return self


# --------------------------------------------------------------------------- listing


class Objection(Switch):
    p_wrongful: Probability = 0.5
    p_rightful: Probability = 0.05
    access: dict[Name, Multiplier] = Field(default_factory=dict)


class Listing(Switch):
    threshold: ScoreValue = 850.0
    exit_threshold: ScoreValue = 950.0
    min_days: Days = 365
    immediate: list[Name] = Field(default_factory=list)
    notice_days: Days = 0
    objection: Objection = Objection()


# --------------------------------------------------------------------------- appeal


class Appeal(Switch):
    capacity_per_million: Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)] = 10.0  # 1e6: everyone, every day
    daily_rate: Probability = 0.001
    uphold_wrongful: Probability = 0.5
    uphold_rightful: Probability = 0.05


# --------------------------------------------------------------------------- sanctions


class TravelBan(Switch):
    purchase_rate: Probability = 0.01
    income_elasticity: Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)] = 1.0
    rail_share: Probability = 0.3


class Employment(Switch):
    floor: Probability = 0.5
    fall_rate: Probability = 0.01
    recovery_rate: Probability = 0.01


class Detention(Switch):
    flagged: list[Name] = Field(default_factory=list)
    window_days: Annotated[int, Field(ge=1, le=100_000)] = 90
    threshold: Annotated[int, Field(ge=1, le=100_000)] = 3
    term_days: Annotated[int, Field(ge=1, le=100_000)] = 365


class GreenChannel(Switch):
    threshold: ScoreValue = 1050.0
    income_bonus: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = 0.02


class Sanctions(Section):
    travel_ban: TravelBan = TravelBan()
    employment: Employment = Employment()
    internet: Switch = Switch()
    schooling: Switch = Switch()
    shaming: Switch = Switch()
    detention: Detention = Detention(enabled=False)
    green_channel: GreenChannel = GreenChannel()


# --------------------------------------------------------------------------- adaptation


class Deterrence(Switch):
    strength: Multiplier = 5.0


class Chilling(Switch):
    strength: Multiplier = 5.0
    opacity: Multiplier = 1.0


class Adaptation(Switch):
    memory_days: Annotated[float, Field(ge=1.0, le=100_000.0, allow_inf_nan=False)] = 30.0
    own_listing_weight: Multiplier = 1.0
    unshamed_visibility: Probability = 0.3
    deterrence: Deterrence = Deterrence()
    chilling: Chilling = Chilling()


class Surveillance(Section):
    intensity: list[Multiplier] | None = Field(default=None, max_length=10_000)
    adaptive: bool = False
    realloc_days: Annotated[int, Field(ge=1, le=100_000)] = 30
    corrected: bool = False
    # What a reallocation shares cameras by: the detections since the last one ("window"),
    # or all detections so far ("all", the Polya urn of Ensign et al. 2018).
    reallocate_on: Literal["window", "all"] = "window"


class Record(Section):
    quantile_panel: Annotated[int, Field(ge=100, le=10_000_000)] = 20_000


# --------------------------------------------------------------------------- timeline


class TimelineEntry(Section):
    """One ``[[timeline]]`` entry: a step (``day`` and ``set``) or a ramp (``from_day``,
    ``to_day``, ``ramp`` and ``step_days``). ``set`` and ``ramp`` are keyed by dotted field
    paths, as ``--set`` takes them (a nested TOML table is read as the same paths). What may
    change, and the checks of the resolved scenario on every change day, are in
    :mod:`credsim.scenario.timeline`."""

    day: Days | None = None
    set: dict[str, Any] = Field(default_factory=dict, max_length=200)
    from_day: Days | None = None
    to_day: Days | None = None
    ramp: dict[str, list[Any]] = Field(default_factory=dict, max_length=200)
    step_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 7
    applies_to: Literal["new", "open"] = "new"
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("set", "ramp"):
                if isinstance(data.get(key), dict):
                    data[key] = flatten_paths(data[key])
        return data

    @model_validator(mode="after")
    def _check(self) -> TimelineEntry:
        step = self.day is not None or bool(self.set)
        ramp = self.from_day is not None or self.to_day is not None or bool(self.ramp)
        if step and ramp:
            raise ValueError("an entry is either a step (day and set) or a ramp (from_day, to_day and ramp), not both")
        if step and (self.day is None or not self.set):
            raise ValueError("a step entry needs a day and a non-empty set table")
        if not step and not ramp:
            raise ValueError("an entry needs day and set (a step) or from_day, to_day and ramp (a ramp)")
        if ramp:
            if self.from_day is None or self.to_day is None or not self.ramp:
                raise ValueError("a ramp entry needs from_day, to_day and a non-empty ramp table")
            if self.to_day <= self.from_day:
                raise ValueError(f"to_day ({self.to_day}) must be after from_day ({self.from_day})")
            for path, ends in self.ramp.items():
                if len(ends) != 2 or not all(_rampable(v) for v in ends):
                    raise ValueError(f"ramp.{path}: expected [start, end], two numbers or two lists of numbers; found {ends!r}"[:300])
                if isinstance(ends[0], list) != isinstance(ends[1], list) or (
                    isinstance(ends[0], list) and len(ends[0]) != len(ends[1])
                ):
                    raise ValueError(f"ramp.{path}: start and end must both be numbers or lists of the same length")
        return self


def flatten_paths(table: dict, prefix: str = "") -> dict:
    """``{"appeal": {"capacity_per_million": 5}}`` -> ``{"appeal.capacity_per_million": 5}``."""
    flat: dict = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten_paths(value, path))
        else:
            flat[path] = value
    return flat


def _rampable(value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    return number(value) or (isinstance(value, list) and 0 < len(value) <= 10_000 and all(number(v) for v in value))


# --------------------------------------------------------------------------- scenario


ENGINE_NAMES = ("reference", "event")  # credsim.engines; the first is the default until the event engine's agreement holds


class Engine(Section):
    """Which engine runs the days (credsim.engines). Both run the same model; they draw
    their random numbers by different schemes, so the same seed gives different (equally
    valid) people's days, and a run records which engine made it."""

    name: Literal["reference", "event"] = "reference"


class Scenario(Section):
    meta: Meta
    population: Population
    behaviours: dict[Name, Behaviour] = Field(min_length=1, max_length=64)
    observation: Observation
    score: Score
    listing: Listing
    appeal: Appeal
    sanctions: Sanctions
    adaptation: Adaptation
    surveillance: Surveillance
    record: Record = Record()
    engine: Engine = Engine()
    timeline: list[TimelineEntry] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _cross_check(self) -> Scenario:
        groups = set(self.population.groups)
        behaviours = set(self.behaviours)

        def check_groups(path: str, table: dict[str, object], complete: bool) -> None:
            unknown = sorted(set(table) - groups)
            if unknown:
                raise ValueError(f"{path} names unknown group {unknown[0]!r}; the groups are {sorted(groups)}")
            missing = sorted(groups - set(table))
            if complete and missing:
                raise ValueError(f"{path} must give a value for every group; missing {missing[0]!r}")

        def check_behaviour(path: str, name: str | None, need: str | None = None) -> None:
            if name is None:
                return
            if name not in behaviours:
                raise ValueError(f"{path} names unknown behaviour {name!r}; the behaviours are {sorted(behaviours)}")
            if need and getattr(self.behaviours[name], need) <= 0:
                raise ValueError(f"{path} names behaviour {name!r}, whose {need} is 0; it must be above 0")

        for name, behaviour in self.behaviours.items():
            check_groups(f"behaviours.{name}.rate", behaviour.rate, complete=True)
            regional = behaviour.region_rate
            if regional is not None and len(regional) != self.population.regions:
                raise ValueError(
                    f"behaviours.{name}.region_rate must have one value per region ({self.population.regions}); got {len(regional)}"
                )
        check_groups("observation.cameras.watch", self.observation.cameras.watch, complete=False)
        check_groups(
            "observation.cameras.false_match_multiplier",
            self.observation.cameras.false_match_multiplier,
            complete=False,
        )
        check_groups("listing.objection.access", self.listing.objection.access, complete=False)
        for name in self.score.deltas:
            check_behaviour("score.deltas", name)
        check_behaviour("observation.cameras.false_match_alleges", self.observation.cameras.false_match_alleges, "p_camera")
        check_behaviour("observation.malicious.alleges", self.observation.malicious.alleges)
        check_behaviour("observation.record_errors.alleges", self.observation.record_errors.alleges, "p_records")
        for name in self.listing.immediate:
            check_behaviour("listing.immediate", name)
        for name in self.sanctions.detention.flagged:
            check_behaviour("sanctions.detention.flagged", name)

        cams = self.observation.cameras
        if cams.enabled and cams.false_match_rate > 0 and cams.false_match_alleges is None:
            raise ValueError("observation.cameras.false_match_alleges must name a public behaviour when false_match_rate > 0")
        mal = self.observation.malicious
        if mal.enabled and mal.rate > 0 and mal.alleges is None:
            raise ValueError("observation.malicious.alleges must name a behaviour when rate > 0")
        err = self.observation.record_errors
        if err.enabled and err.rate > 0 and err.alleges is None:
            raise ValueError("observation.record_errors.alleges must name a behaviour when rate > 0")

        lo, hi = self.score.min, self.score.max
        for path, value in (
            ("listing.threshold", self.listing.threshold),
            ("listing.exit_threshold", self.listing.exit_threshold),
            ("sanctions.green_channel.threshold", self.sanctions.green_channel.threshold),
        ):
            if not lo <= value <= hi:
                raise ValueError(f"{path} must be within the score range [{lo:g}, {hi:g}]; got {value:g}")
        if self.listing.exit_threshold < self.listing.threshold:
            raise ValueError(
                f"listing.exit_threshold ({self.listing.exit_threshold:g}) must not be below "
                f"listing.threshold ({self.listing.threshold:g})"
            )
        intensity = self.surveillance.intensity
        if intensity is not None and len(intensity) != self.population.regions:
            raise ValueError(
                f"surveillance.intensity must have one value per region ({self.population.regions}); got {len(intensity)}"
            )
        return self

    # Convenience views used by the engine -----------------------------------------

    @property
    def group_names(self) -> list[str]:
        return list(self.population.groups)

    @property
    def behaviour_names(self) -> list[str]:
        return list(self.behaviours)
