"""What a web request may change, and checking a request before any work is done.

The web app exposes a short allow-list of a scenario's parameters (:func:`parameters_for`),
each with the range its slider offers; the server accepts nothing else. A run request

    {"scenario": "city", "seed": 1, "parameters": {"appeal.capacity_per_million": 5.0}}

is checked field by field (:func:`check_run_request`): the scenario must be a built-in name
(never a path), the seed a whole number, each parameter path on the allow-list and its value
a JSON number of the right kind inside the web range. Then the overrides go to
:func:`credsim.load_scenario` as a mapping -- values are passed as data, never parsed or
evaluated -- which validates them exactly as ``credsim run --set`` does.

Messages follow one template: "The 'seed' parameter must be a whole number in
[0, 4294967295]. Got -1 instead."
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from credsim.errors import CredsimError
from credsim.scenario import Scenario, builtin_names, load_scenario

MAX_WEB_POPULATION = 2_000_000
MAX_WEB_DAYS = 3_650
MIN_WEB_POPULATION = 100
#: The People the form starts at: a run of seconds (a year of the city took about 1 s on a
#: 2-core machine, plus the report), large enough that every group has hundreds of people.
WEB_DEFAULT_POPULATION = 20_000
MAX_SEED = 2**32 - 1
MAX_PARAMETERS = 100
MAX_PATH_LENGTH = 200
REQUEST_KEYS = ("scenario", "seed", "parameters")


class RequestError(ValueError):
    """A request the server will not act on; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Parameter:
    """One control of the web form: a dotted scenario path, its range and current value."""

    path: str
    label: str
    section: str
    kind: str  # "int" or "float"
    min: float
    max: float
    step: float
    value: float
    help: str = ""
    inert: str = ""  # why it has no effect in this scenario, if it has none
    scale: str = "linear"  # how the slider moves: "linear", or "log" through orders of magnitude

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunRequest:
    """A checked run request: a built-in scenario name, a seed and the overrides."""

    scenario: str
    seed: int
    parameters: dict[str, int | float]
    resolved: Scenario

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "seed": self.seed, "parameters": dict(self.parameters)}


def parameters_for(scenario: Scenario) -> list[Parameter]:
    """The parameters the web form offers for ``scenario``, in the form's order.

    Ranges are wide enough to hold the scenario's own value; the population and the number
    of days are capped for a web demonstration (:data:`MAX_WEB_POPULATION`, :data:`MAX_WEB_DAYS`),
    and People starts at :data:`WEB_DEFAULT_POPULATION` (or the scenario's size, if smaller),
    so that a first run takes seconds.
    """
    pop, cams, score = scenario.population, scenario.observation.cameras, scenario.score
    cameras_off = "" if cams.enabled else "the cameras are switched off in this scenario"
    appeal_off = "" if scenario.appeal.enabled else "appeals are switched off in this scenario"
    listing_off = "" if scenario.listing.enabled else "the blacklist is switched off in this scenario"
    items = [
        _make("population.size", "People", "Population", "int", MIN_WEB_POPULATION, MAX_WEB_POPULATION, 100,
              min(pop.size, WEB_DEFAULT_POPULATION),
              f"Synthetic people in the run; the run time grows with it. The scenario's own size is {pop.size:,}; "
              f"the app starts at {min(pop.size, WEB_DEFAULT_POPULATION):,} so that a run takes seconds.", scale="log"),
        _make("population.days", "Days", "Population", "int", 1, MAX_WEB_DAYS, 1, pop.days,
              "Length of the run in days (365 = one year)."),
    ]
    for group in pop.groups:
        items.append(_make(
            f"observation.cameras.watch.{group}", f"Camera attention on the {group} group", "Surveillance", "float",
            0.0, 20.0, 0.1, cams.watch.get(group, 1.0),
            "How much more (or less) the cameras watch this group; 1 is the baseline.", cameras_off))
    items.append(_make(
        "observation.cameras.false_match_rate", "Camera false-match rate", "Surveillance", "float", 0.0, 0.001, 0.000005,
        cams.false_match_rate, "False face matches per person-day at camera intensity 1.", cameras_off))
    items.append(_make(
        "appeal.capacity_per_million", "Appeal capacity", "Appeal", "float", 0.0, 1000.0, 0.5,
        scenario.appeal.capacity_per_million, "Appeal decisions a day per million people.", appeal_off))
    for name, behaviour in scenario.behaviours.items():
        if behaviour.protected:
            items.append(_make(
                f"score.deltas.{name}", f"Score change for {name.replace('_', ' ')} (protected)", "Score", "float",
                -500.0, 100.0, 1.0, score.deltas.get(name, 0.0),
                "Points added to (or, when negative, taken from) the score for each observed act."))
    items.append(_make(
        "score.forgiveness", "Forgetting", "Score", "float", 0.0, 0.05, 0.0005, score.forgiveness,
        "Share of a score's distance from the start forgotten each day."))
    items.append(_make(
        "listing.threshold", "Listing threshold", "Blacklist", "float", score.min, score.max, 1.0,
        scenario.listing.threshold, "A score below this puts a person on the blacklist.", listing_off))
    items.append(_make(
        "listing.min_days", "Minimum days on the list", "Blacklist", "int", 0, MAX_WEB_DAYS, 1,
        scenario.listing.min_days, "Days a listed person stays listed at least.", listing_off))
    return items


def check_run_request(body: Any, catalog: dict[str, list[Parameter]] | None = None) -> RunRequest:
    """Check a decoded JSON request body; return the :class:`RunRequest` or raise :class:`RequestError`.

    ``catalog`` maps built-in scenario names to their parameters (default: computed here).
    """
    if not isinstance(body, dict):
        raise RequestError(f"The request must be a JSON object with the keys {', '.join(REQUEST_KEYS)}. "
                           f"Got {_json_kind(body)} instead.")
    unknown = sorted(set(body) - set(REQUEST_KEYS))
    if unknown:
        raise RequestError(f"Unknown key {_show(unknown[0])} in the request; "
                           f"a run request has: {', '.join(REQUEST_KEYS)}.", field=str(unknown[0]))
    names = builtin_names()
    name = body.get("scenario", "city")
    if not isinstance(name, str) or name not in names:
        raise RequestError(f"The 'scenario' parameter must be one of the built-in scenarios: {', '.join(names)}. "
                           f"Got {_show(name)} instead.", field="scenario")
    seed = body.get("seed", 0)
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise RequestError(f"The 'seed' parameter must be a whole number in [0, {MAX_SEED}]. Got {_show(seed)} instead.",
                           field="seed")
    given = body.get("parameters", {})
    if not isinstance(given, dict):
        raise RequestError(f"The 'parameters' field must be a JSON object of dotted paths to numbers, such as "
                           f"{{\"appeal.capacity_per_million\": 5}}. Got {_json_kind(given)} instead.", field="parameters")
    if len(given) > MAX_PARAMETERS:
        raise RequestError(f"The 'parameters' field may hold at most {MAX_PARAMETERS} entries. Got {len(given)} instead.",
                           field="parameters")
    offered = catalog.get(name) if catalog is not None else None
    if offered is None:
        try:
            offered = parameters_for(load_scenario(name))
        except CredsimError as error:  # a built-in that does not load: say so
            raise RequestError(str(error), field="scenario") from None
    allowed = {p.path: p for p in offered}
    overrides: dict[str, int | float] = {}
    for path, value in given.items():
        if len(path) > MAX_PATH_LENGTH or path not in allowed:
            raise RequestError(f"{_show(path)} is not a parameter this app can change in scenario {name!r}; "
                               f"it can change: {', '.join(allowed)}.", field=path)
        overrides[path] = check_value(allowed[path], value)
    try:
        resolved = load_scenario(name, overrides=overrides)
    except CredsimError as error:  # ScenarioError: the schema's own message, field by field
        raise RequestError(str(error), field=_first_field(str(error), overrides)) from None
    return RunRequest(name, seed, overrides, resolved)


def check_value(parameter: Parameter, value: Any) -> int | float:
    """``value`` as the parameter's kind, or a :class:`RequestError` saying what was expected."""
    low, high = _plain(parameter.min), _plain(parameter.max)
    what = "a whole number" if parameter.kind == "int" else "a number"
    problem = f"The {parameter.path!r} parameter ({parameter.label}) must be {what} in [{low}, {high}]. Got {_show(value)} instead."
    if parameter.kind == "int":
        if not _is_int(value):
            raise RequestError(problem, field=parameter.path)
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(problem, field=parameter.path)
    if not parameter.min <= value <= parameter.max:
        raise RequestError(problem, field=parameter.path)
    return int(value) if parameter.kind == "int" else float(value)


# ---------------------------------------------------------------------------- internals


def _make(path, label, section, kind, low, high, step, value, help_text, inert="", scale="linear") -> Parameter:
    value = int(value) if kind == "int" else float(value)
    return Parameter(path, label, section, kind, min(low, value), max(high, value), step, value, help_text, inert, scale)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(number: float) -> str:
    if float(number).is_integer():
        return f"{int(number):,}"
    return f"{number:g}"


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_field(message: str, overrides: dict[str, Any]) -> str | None:
    """The overridden path a schema message is about, so the form can mark that field."""
    for path in sorted(overrides, key=len, reverse=True):
        if path in message:
            return path
    return None
