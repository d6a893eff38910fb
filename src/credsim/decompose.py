"""What made two scenarios' results differ: every differing field, grouped into named
changes, and each headline metric's difference B - A shared among them by Shapley values.

    fields = differing_fields(a, b)            dotted path -> (value in A, value in B)
    changes = group_changes(fields, a, b, by)   by="mechanism" (MECHANISMS) or by="field"
    result = decompose(a, b, seed, ...)        runs every coalition, common random numbers

A *coalition* is A with the fields of some changes set to B's values; A is the empty one and
B the full one. Each coalition is run with the same seeds (one per replicate), so the
differences between coalitions are the changes' effects, not a fresh draw of luck. The
Shapley arithmetic is :mod:`credsim.shapley`; this module only builds the coalitions and
reads their summaries. docs/scenarios.md ("Decomposing a comparison") explains the output.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from credsim import shapley
from credsim.errors import CredsimError, ScenarioError
from credsim.scenario import Scenario, dump_dict, validate_dict
from credsim.simulate import simulate

#: The metrics attributed, overall and per group (disparate_impact is per group only).
HEADLINE_METRICS = (
    "ever_listed",
    "listed_rate",
    "wrongful_share",
    "unjust_share",
    "detained_rate",
    "disparate_impact",
    "median_days_listed",
    "blocked_per_1000_per_year",
    "chilling_index",
    "deterrence",
)

#: Fields that are never a change: the run's size is the comparison's, and meta is words.
NOT_CHANGES = ("meta.*", "population.size", "population.days")

PROTECTED_PENALTIES = "protected-penalties"

#: The map from fields to mechanisms, first match wins. ``score.deltas.<b>`` goes to
#: protected-penalties when behaviour b is protected in A or in B, to penalties otherwise.
MECHANISMS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("forgiveness", ("score.forgiveness",), "scores drift back toward the start (score.forgiveness)"),
    (PROTECTED_PENALTIES, (), "score changes for protected behaviours (score.deltas.<b> for a protected b)"),
    ("penalties", ("score.deltas.*",), "score changes for other behaviours"),
    ("association", ("score.association.*",), "guilt by association (score.association)"),
    ("score-scale", ("score.*",), "the score's start, range, grades and informant reward"),
    ("listing-term", ("listing.min_days",), "the shortest listing (listing.min_days)"),
    ("notice-and-objection", ("listing.notice_days", "listing.objection.*"), "notice before listing and objection during it"),
    ("listing-rule", ("listing.*",), "who is listed and when they leave (thresholds, immediate listing)"),
    ("appeal", ("appeal.*",), "appeals: capacity, filing rate, uphold rates"),
    ("detention", ("sanctions.detention.*",), "detention"),
    ("travel-ban", ("sanctions.travel_ban.*",), "the travel ban"),
    ("employment", ("sanctions.employment.*",), "the income sanction"),
    ("other-sanctions", ("sanctions.*",), "internet, schooling, shaming, green channel"),
    ("opacity", ("adaptation.chilling.opacity",), "how unclear the rules are (adaptation.chilling.opacity)"),
    ("chilling", ("adaptation.chilling.*",), "chilling strength and switch"),
    ("deterrence", ("adaptation.deterrence.*",), "deterrence strength and switch"),
    ("adaptation", ("adaptation.*",), "what people see and remember (memory, visibility)"),
    ("false-reports", ("observation.malicious.*", "observation.record_errors.*", "observation.cameras.false_match*"),
     "malicious reports, record errors, false face matches"),
    ("detection", ("observation.*", "behaviours.*.p_records", "behaviours.*.p_camera", "behaviours.*.p_inform"),
     "what the system sees: records, cameras, informants"),
    ("surveillance", ("surveillance.*",), "camera intensity and its reallocation"),
    ("behaviour", ("behaviours.*",), "what people do: rates and which behaviours are protected"),
    ("population", ("population.*",), "who the people are"),
    ("record", ("record.*",), "what is recorded"),
    ("engine", ("engine.*",), "the engine: its share is the sampling noise of two random-number schemes, not an effect"),
)

MISSING = object()  # a field set in one scenario only


class DecompositionError(CredsimError):
    """A decomposition that cannot be made: a coalition that is not a valid scenario."""


@dataclass(frozen=True)
class Change:
    name: str
    fields: tuple[str, ...]


@dataclass
class Attribution:
    """One metric of one group: its values at both ends and each change's share."""

    group: str
    metric: str
    a: float | None
    b: float | None
    total: float | None
    contributions: list[float] | None  # per change, mean over replicates; None: undefined
    intervals: list[tuple[float, float]] | None = None  # per change, 95%, with replicates > 1
    total_interval: tuple[float, float] | None = None
    undefined_in: list[str] = field(default_factory=list)  # coalitions where it is undefined


@dataclass
class Decomposition:
    label_a: str
    label_b: str
    changes: list[Change]
    fields: dict[str, tuple[object, object]]
    method: str  # "exact" or "sampled"
    permutations: int | None
    coalitions_run: int
    seeds: list[int]
    size: int
    days: int
    by: str
    rows: list[Attribution]
    ends: tuple = ()  # the RunResults of A and B with the first seed (not saved in to_dict)

    def to_dict(self) -> dict:
        show = lambda v: None if v is MISSING else v  # noqa: E731
        return {
            "a": self.label_a,
            "b": self.label_b,
            "runs": ["a", "b"],  # the end runs' folders beside this file (credsim compare --decompose)
            "by": self.by,
            "method": self.method,
            "permutations": self.permutations,
            "coalitions_run": self.coalitions_run,
            "seeds": self.seeds,
            "population": self.size,
            "days": self.days,
            "changes": [
                {"name": c.name, "fields": [{"field": f, "a": show(self.fields[f][0]), "b": show(self.fields[f][1])} for f in c.fields]}
                for c in self.changes
            ],
            "metrics": [
                {
                    "group": r.group,
                    "metric": r.metric,
                    "a": r.a,
                    "b": r.b,
                    "total": r.total,
                    "total_interval": list(r.total_interval) if r.total_interval else None,
                    "contributions": None
                    if r.contributions is None
                    else {
                        c.name: {"contribution": x, "interval": list(r.intervals[k]) if r.intervals else None}
                        for k, (c, x) in enumerate(zip(self.changes, r.contributions))
                    },
                    "undefined_in": r.undefined_in,
                }
                for r in self.rows
            ],
        }


# --------------------------------------------------------------------------- the changes


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def unflatten(flat: dict[str, object]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return out


def differing_fields(a: Scenario, b: Scenario) -> dict[str, tuple[object, object]]:
    """Every field (dotted path) whose value differs between the resolved scenarios, with
    (value in A, value in B); MISSING where a field is set in one only."""
    left, right = flatten(dump_dict(a)), flatten(dump_dict(b))
    out = {}
    for path in [*left, *(p for p in right if p not in left)]:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in NOT_CHANGES):
            continue
        x, y = left.get(path, MISSING), right.get(path, MISSING)
        if x is MISSING or y is MISSING or x != y:
            out[path] = (x, y)
    return out


def mechanism_of(path: str, protected: set[str]) -> str:
    """The mechanism a field belongs to (:data:`MECHANISMS`)."""
    if path.startswith("score.deltas.") and path.split(".")[2] in protected:
        return PROTECTED_PENALTIES
    for name, patterns, _ in MECHANISMS:
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            return name
    return path.split(".")[0]


def group_changes(fields: dict[str, tuple[object, object]], a: Scenario, b: Scenario, by: str = "mechanism") -> list[Change]:
    """The named changes: one per mechanism (in :data:`MECHANISMS` order), or one per field."""
    if by == "field":
        return [Change(path, (path,)) for path in fields]
    if by != "mechanism":
        raise DecompositionError(f"--by: expected 'mechanism' or 'field'; got {by!r}")
    protected = {n for s in (a, b) for n, beh in s.behaviours.items() if beh.protected}
    grouped: dict[str, list[str]] = {}
    for path in fields:
        grouped.setdefault(mechanism_of(path, protected), []).append(path)
    order = [name for name, _, _ in MECHANISMS]
    names = sorted(grouped, key=lambda n: (order.index(n) if n in order else len(order), n))
    return [Change(name, tuple(grouped[name])) for name in names]


class Coalitions:
    """Scenarios between A and B: A with the fields of some changes set to B's values."""

    def __init__(self, a: Scenario, b: Scenario, changes: list[Change]):
        self.base = flatten(dump_dict(a))
        self.target = flatten(dump_dict(b))
        self.changes = changes
        self.meta = dump_dict(b)["meta"]

    def raw(self, coalition: frozenset[int]) -> dict:
        flat = dict(self.base)
        for k in coalition:
            for path in self.changes[k].fields:
                if path in self.target:
                    flat[path] = self.target[path]
                else:
                    flat.pop(path, None)
        flat = {p: v for p, v in flat.items() if not p.startswith("meta.")}
        raw = unflatten(flat)
        raw["meta"] = {**self.meta, "name": self.name(coalition)[:80], "description": ""}
        return raw

    def name(self, coalition: frozenset[int]) -> str:
        if not coalition:
            return "A"
        if len(coalition) == len(self.changes):
            return "B"
        return "A + " + " + ".join(self.changes[k].name for k in sorted(coalition))

    def scenario(self, coalition: frozenset[int]) -> Scenario:
        try:
            return validate_dict(self.raw(coalition), self.name(coalition))
        except ScenarioError as error:
            culprits = self._smallest_invalid(coalition)
            partners = [k for k in range(len(self.changes)) if k not in culprits and self._valid(culprits | {k})]
            names = " + ".join(self.changes[k].name for k in sorted(culprits))
            together = (
                f"; it is valid again with {' or '.join(self.changes[k].name for k in partners)}, so these conflict"
                if partners
                else ""
            )
            raise DecompositionError(
                f"decompose: applying {names} of B to A without the other changes gives an invalid scenario "
                f"({'; '.join(error.problems)}){together}. Changes that must be made together cannot be separated: "
                f"group them (--by mechanism groups fields by mechanism) or compare in steps."
            ) from None

    def _valid(self, coalition: frozenset[int]) -> bool:
        try:
            validate_dict(self.raw(coalition))
            return True
        except ScenarioError:
            return False

    def _smallest_invalid(self, coalition: frozenset[int]) -> frozenset[int]:
        """Drop changes while the rest stays invalid: what is left conflicts."""
        culprits = set(coalition)
        for k in sorted(coalition):
            trial = frozenset(culprits - {k})
            if not self._valid(trial):
                culprits.discard(k)
        return frozenset(culprits)


# --------------------------------------------------------------------------- the values


def metric_values(summary: dict) -> dict[tuple[str, str], float | None]:
    out: dict[tuple[str, str], float | None] = {}
    for group, values in [("overall", summary["overall"]), *summary["by_group"].items()]:
        for metric in HEADLINE_METRICS:
            if metric in values:
                value = values[metric]
                out[(group, metric)] = None if value is None or not math.isfinite(value) else float(value)
    return out


def decompose(
    a: Scenario,
    b: Scenario,
    seed: int = 0,
    *,
    by: str = "mechanism",
    replicates: int = 1,
    permutations: int = 64,
    labels: tuple[str, str] = ("A", "B"),
    on_run: Callable[[int, int], None] | None = None,
) -> Decomposition:
    """Attribute B - A of every headline metric to the changes between ``a`` and ``b``.

    ``a`` and ``b`` must have the same population size and days (the caller sets them).
    Replicate r uses seed ``seed + r`` for every coalition. With more than
    :data:`credsim.shapley.EXACT_LIMIT` changes the values are estimated from
    ``permutations`` random orders (seeded by ``seed``). ``on_run(done, total)`` is called
    after each simulation."""
    if (a.population.size, a.population.days) != (b.population.size, b.population.days):
        raise DecompositionError("decompose: both scenarios must be run at the same population size and days")
    if replicates < 1:
        raise DecompositionError(f"--replicates: expected at least 1; got {replicates}")
    fields = differing_fields(a, b)
    changes = group_changes(fields, a, b, by)
    n = len(changes)
    coalitions = Coalitions(a, b, changes)
    exact = n <= shapley.EXACT_LIMIT
    if exact:
        needed = [frozenset(s) for s in _all_subsets(n)]
        orders = None
    else:
        orders = shapley.random_orders(n, permutations, np.random.default_rng(seed))
        needed = list(dict.fromkeys(frozenset(order[:k]) for order in orders for k in range(n + 1)))
    scenarios = {s: coalitions.scenario(s) for s in needed}  # every coalition checked before any run
    seeds = [seed + r for r in range(replicates)]
    total_runs, done = len(needed) * replicates, 0
    per_replicate = []
    table_per_replicate = []
    ends = {}
    for run_seed in seeds:
        table: dict[frozenset[int], dict] = {}
        for s in needed:
            result = simulate(scenarios[s], run_seed)
            table[s] = metric_values(result.summary)
            if run_seed == seeds[0] and len(s) in (0, n):
                ends[len(s)] = result
            done += 1
            if on_run:
                on_run(done, total_runs)
        value = table.__getitem__
        if exact:
            per_replicate.append(shapley.exact(n, value))
        else:
            per_replicate.append(shapley.sampled(n, value, orders))
        table_per_replicate.append(table)
    rows = _attribute(changes, coalitions, table_per_replicate, per_replicate, n)
    return Decomposition(
        label_a=labels[0], label_b=labels[1], changes=changes, fields=fields,
        method="exact" if exact else "sampled", permutations=None if exact else permutations,
        coalitions_run=len(needed), seeds=seeds, size=a.population.size, days=a.population.days, by=by, rows=rows,
        ends=(ends[0], ends[n]),
    )


def interval(samples: list[float]) -> tuple[float, float]:
    """A 95% t-interval for the mean of ``samples`` (replicates); the point when all agree."""
    mean = float(np.mean(samples))
    if len(samples) < 2:
        return mean, mean
    half = float(stats.t.ppf(0.975, len(samples) - 1) * np.std(samples, ddof=1) / math.sqrt(len(samples)))
    return mean - half, mean + half


def _attribute(changes, coalitions, tables, per_replicate, n) -> list[Attribution]:
    full, empty = frozenset(range(n)), frozenset()
    keys = list(dict.fromkeys(k for table in tables for v in table.values() for k in v))
    rows = []
    for key in keys:
        group, metric = key
        ends = [(t[empty].get(key), t[full].get(key)) for t in tables]
        a = _mean([x for x, _ in ends])
        b = _mean([y for _, y in ends])
        totals = [y - x if x is not None and y is not None else None for x, y in ends]
        undefined = sorted({coalitions.name(s) for t in tables for s, v in t.items() if v.get(key) is None})
        phis = [p.get(key) for p in per_replicate]
        row = Attribution(group, metric, a, b, _mean(totals), None, undefined_in=undefined)
        if all(phi is not None for phi in phis) and None not in totals:
            row.contributions = [float(np.mean([phi[k] for phi in phis])) for k in range(n)]
            if len(phis) > 1:
                row.intervals = [interval([phi[k] for phi in phis]) for k in range(n)]
                row.total_interval = interval(totals)
        rows.append(row)
    return rows


def _mean(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _all_subsets(n: int):
    for mask in range(1 << n):
        yield (k for k in range(n) if mask >> k & 1)


# --------------------------------------------------------------------------- output


CSV_COLUMNS = ("group", "metric", "change", "contribution", "ci_low", "ci_high", "note")


def to_csv_rows(result: Decomposition) -> list[dict]:
    """One row per change and metric (and group), then a ``total`` row equal to B - A."""
    rows = []
    for r in result.rows:
        note = f"undefined in: {', '.join(r.undefined_in)}" if r.contributions is None else ""
        for k, change in enumerate(result.changes):
            value = None if r.contributions is None else r.contributions[k]
            low, high = r.intervals[k] if r.intervals else (None, None)
            rows.append({"group": r.group, "metric": r.metric, "change": change.name, "contribution": value,
                         "ci_low": low, "ci_high": high, "note": note})
        low, high = r.total_interval or (None, None)
        rows.append({"group": r.group, "metric": r.metric, "change": "total", "contribution": r.total,
                     "ci_low": low, "ci_high": high, "note": "B - A" if r.total is not None else "undefined at A or B"})
    return rows


def to_csv(result: Decomposition) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in to_csv_rows(result):
        writer.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()
