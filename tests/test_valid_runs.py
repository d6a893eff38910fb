"""Nothing that validates crashes later: any scenario the schema accepts runs to the end with
finite outputs (every float column of the three tables finite, summary.json writable without
NaN or infinity).

A hypothesis property draws random valid scenarios at tiny sizes (40 people, 3 days): a
built-in scenario with its optional tables filled in, its switches flipped at random and
any of its numbers moved anywhere within the schema's bounds -- the bounds themselves,
next to them, or log-uniformly between -- including the score range (moved as a block, so
that thresholds stay inside it). Explicit tests put every built-in scenario at the extremes
of its ranges, all at once. The default run draws 30 examples (about 25 s on a busy 2-core
machine); ``-m slow`` adds 1,500.
"""

from __future__ import annotations

import json
import math
import os
import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import credsim
from credsim.errors import ScenarioError
from credsim.scenario import builtin_names, dump_dict, load_scenario, validate_dict
from credsim.scenario.schema import Scenario

TINY = ["population.size=40", "population.days=3"]
SCHEMA = Scenario.model_json_schema()
UNBOUNDED = 1e308  # what a number without a schema bound is pushed to


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    for option in node.get("anyOf", ()):
        if option.get("type") != "null":
            return _resolve(option)
    return node


def bounds(path: tuple[str, ...]) -> tuple[float, float, bool] | None:
    """(lowest, highest, integer) the schema allows at ``path``; None if it is not a number."""
    node = _resolve(SCHEMA)
    for part in path:
        if "properties" in node and part in node["properties"]:
            node = _resolve(node["properties"][part])
        elif "patternProperties" in node:
            node = _resolve(next(iter(node["patternProperties"].values())))
        else:
            return None
    if node.get("type") == "array":
        node = _resolve(node["items"])
    if node.get("type") not in ("number", "integer"):
        return None
    integer = node["type"] == "integer"
    low = node.get("minimum", node.get("exclusiveMinimum", -UNBOUNDED))
    if "exclusiveMinimum" in node:
        low = math.nextafter(low, math.inf) if not integer else low + 1
    high = node.get("maximum", node.get("exclusiveMaximum", UNBOUNDED))
    return float(low), float(high), integer


def filled(name: str) -> dict:
    """Built-in ``name`` at a tiny size, with every optional per-group table and list given,
    so that each of its numbers can be moved."""
    raw = dump_dict(load_scenario(name, TINY))
    groups = list(raw["population"]["groups"])
    cams = raw["observation"]["cameras"]
    for table in ("watch", "false_match_multiplier"):
        cams[table] = {g: cams.get(table, {}).get(g, 1.0) for g in groups}
    objection = raw["listing"]["objection"]
    objection["access"] = {g: objection.get("access", {}).get(g, 1.0) for g in groups}
    raw["score"]["deltas"] = {b: raw["score"].get("deltas", {}).get(b, 0.0) for b in raw["behaviours"]}
    regions = raw["population"]["regions"]
    raw["surveillance"]["intensity"] = raw["surveillance"].get("intensity") or [1.0] * regions
    return raw


FILLED = {name: pickle.dumps(filled(name)) for name in builtin_names()}
SCORE_SCALE = [("score", "initial"), ("listing", "threshold"), ("listing", "exit_threshold"), ("sanctions", "green_channel", "threshold")]
FIXED = {("population", "size"), ("population", "days"), ("population", "regions"), ("record", "quantile_panel")}


def leaves(node, path=()):
    """(path, value) of every number, list of numbers and switch, except shares (they must sum to 1)."""
    for key, value in node.items():
        where = (*path, key)
        if isinstance(value, dict):
            yield from leaves(value, where)
        elif key in ("share", "region_shares") or where in FIXED or where[:2] == ("score", "grades"):
            continue
        elif isinstance(value, bool) or (isinstance(value, (int, float)) and bounds(where)) or (
            isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value) and bounds(where)
        ):
            yield where, value


def place(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def pick(draw, low: float, high: float, integer: bool) -> float:
    """A value within [low, high]: a bound, next to one, a tiny or ordinary value, or log-uniform."""
    kind = draw(st.sampled_from(["low", "high", "near_low", "near_high", "tiny", "ordinary", "log"]))
    if kind == "low":
        value = low
    elif kind == "high":
        value = high
    elif kind == "near_low":
        value = math.nextafter(low, high) if not integer else low + 1
    elif kind == "near_high":
        value = math.nextafter(high, low) if not integer else high - 1
    elif kind == "tiny":
        value = 5e-324 if not integer else 1
    elif kind == "ordinary":
        value = draw(st.floats(0.0, 10.0))
    else:
        exponent = draw(st.floats(-300.0, math.log10(max(abs(high), abs(low), 1.0))))
        value = 10.0**exponent * draw(st.sampled_from([1.0, -1.0]))
    value = min(max(value, low), high)
    return int(value) if integer else float(value)


@st.composite
def valid_scenarios(draw):
    name = draw(st.sampled_from(builtin_names()))
    raw = pickle.loads(FILLED[name])
    for path, value in list(leaves(raw)):
        if not draw(st.integers(0, 3)) == 0:  # one number in four is moved
            continue
        if isinstance(value, bool):
            place(raw, path, not value)
            continue
        low, high, integer = bounds(path)
        if isinstance(value, list):
            place(raw, path, [pick(draw, low, high, integer) for _ in value])
        elif path not in SCORE_SCALE and path[:2] != ("score", "min") and path[:2] != ("score", "max"):
            place(raw, path, pick(draw, low, high, integer))
    if draw(st.booleans()):  # the score range, with every threshold kept at its relative place
        score = raw["score"]
        old_low, old_high = score["min"], score["max"]
        low = draw(st.sampled_from([-1e308, -1e39, -1e9, 0.0, 350.0]))
        high = draw(st.sampled_from([1e308, 1e39, 1e9, 1300.0])) if low < 1300 else 1e308
        for path in SCORE_SCALE:
            node = raw
            for part in path[:-1]:
                node = node[part]
            fraction = (node[path[-1]] - old_low) / (old_high - old_low)
            node[path[-1]] = min(max(low + fraction * (high - low), low), high)
        score["min"], score["max"] = low, high
        score["grades"] = {}
    try:
        scenario = validate_dict(raw, f"{name} (moved)")
    except ScenarioError:
        assume(False)
    return scenario


def check_finite(result) -> None:
    for table in ("daily", "regions", "episodes"):
        frame = getattr(result, table)
        for column in frame.column_names:
            if pa.types.is_floating(frame[column].type):
                values = frame[column].to_numpy(zero_copy_only=False)
                assert np.isfinite(values).all(), f"{table}.{column}: {values[~np.isfinite(values)][:3]}"
    json.dumps(result.summary, allow_nan=False)  # raises on NaN or infinity


def run_finite(scenario, engine: str | None = None) -> None:
    with np.errstate(all="ignore"):
        check_finite(credsim.simulate(scenario, 0, engine=engine))


PROPERTY = dict(deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@settings(max_examples=int(os.environ.get("CREDSIM_VALID_RUN_EXAMPLES", "30")), **PROPERTY)
@given(scenario=valid_scenarios())
def test_valid_scenarios_run_to_the_end_with_finite_outputs(scenario):
    run_finite(scenario)


@settings(max_examples=int(os.environ.get("CREDSIM_VALID_RUN_EXAMPLES", "30")), **PROPERTY)
@given(scenario=valid_scenarios())
def test_valid_scenarios_run_to_the_end_on_the_event_engine(scenario):
    """The event engine's closed forms and calendar meet every corner the schema allows:
    forgetting of 0 or 1, a score range of a single point's width, rates of 0."""
    run_finite(scenario, "event")


@pytest.mark.slow
@settings(max_examples=1500, **PROPERTY)
@given(scenario=valid_scenarios())
def test_many_valid_scenarios_run_to_the_end_with_finite_outputs(scenario):
    run_finite(scenario)


# ------------------------------------------------------------------ explicit cases


@pytest.mark.parametrize(
    "overrides, field",
    [
        (["score.association.enabled=true", "score.association.penalty=1e39"], "score.association.penalty"),
        (["population.groups.majority.income_median=1e39"], "population.groups.majority.income_median"),
        (["score.min=-1e308", "score.max=1e308"], "score.min"),
        (["appeal.capacity_per_million=1e308"], "appeal.capacity_per_million"),
        (["surveillance.intensity=[1e308, 1, 1, 1, 1, 1, 1, 1]"], "surveillance.intensity.0"),
        (["population.propensity_cv=5e-324"], "population.propensity_cv"),
        (["population.groups.minority.income_median=5e-324"], "population.groups.minority.income_median"),
        (["score.deltas.theft=-1e308"], "score.deltas.theft"),
        (["adaptation.chilling.strength=1e308"], "adaptation.chilling.strength"),
    ],
    ids=["penalty", "income", "score-range", "appeal-capacity", "intensity", "propensity-cv", "tiny-income", "delta", "chilling"],
)
def test_values_past_the_bounds_are_refused_naming_the_field(overrides, field):
    """The issue's cases (penalty, income, score range, appeal capacity, intensity) and the
    tiny propensity_cv and income median each validated, then crashed after the simulation
    or wrote inf; the last two are past the new bounds without having crashed alone."""
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        load_scenario("city", TINY + overrides)


def extreme(name: str, side: str) -> Scenario:
    """Built-in ``name`` with every number it has (and every optional table filled) at the
    top or the bottom of its schema range, all at once; the score range at +-MAX_SCORE with
    its thresholds in their places."""
    raw = pickle.loads(FILLED[name])
    for path, value in list(leaves(raw)):
        if isinstance(value, bool):
            continue
        low, high, integer = bounds(path)
        if path in SCORE_SCALE or path in (("score", "min"), ("score", "max")):
            continue
        target = high if side == "high" else low
        if path == ("population", "propensity_cv") and side == "low":
            target = 0.0
        if path[-1] in ("p_camera", "p_records") and side == "low":
            target = 5e-324  # above 0: a false match or record error may name the behaviour
        place(raw, path, [target] * len(value) if isinstance(value, list) else (int(target) if integer else target))
    original = pickle.loads(FILLED[name])["observation"]
    for source in ("cameras", "malicious", "record_errors"):  # a false report must name a behaviour
        rate = "false_match_rate" if source == "cameras" else "rate"
        if raw["observation"][source].get("alleges" if source != "cameras" else "false_match_alleges") is None:
            raw["observation"][source][rate] = original[source][rate]
    score = raw["score"]
    low, high, _ = bounds(("score", "min"))
    for path in SCORE_SCALE:
        node = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = low + (node[path[-1]] - score["min"]) / (score["max"] - score["min"]) * (high - low)
    score["min"], score["max"], score["grades"] = low, high, {}
    return validate_dict(raw, f"{name} at its {side} extremes")


@pytest.mark.parametrize("engine", ["reference", "event"])
@pytest.mark.parametrize("side", ["high", "low"])
@pytest.mark.parametrize("name", builtin_names())
def test_every_built_in_scenario_at_the_extremes_of_its_ranges_runs_finite(name, side, engine, tmp_path):
    scenario = extreme(name, side)
    with np.errstate(all="ignore"):
        result = credsim.simulate(scenario, 0, engine=engine)
    check_finite(result)
    credsim.write_run(result, tmp_path / "out")


def test_legitimate_extremes_stay_valid():
    """The bounds refuse nothing real: the population cap, Beijing's population, 100 M people,
    and every built-in scenario as shipped."""
    from credsim.scenario.schema import MAX_POPULATION

    for overrides in (["population.size=100000000"], [f"population.size={MAX_POPULATION}"]):
        assert load_scenario("city", overrides).population.size > 1e7
    assert load_scenario("beijing-2020", ["population.size=21500000"]).population.size > 1e7
    for name in builtin_names():
        load_scenario(name)
