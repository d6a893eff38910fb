"""What a web run is called on the page and in comparisons: its scenario and settings.

    run_label("city", 0, {"population.size": 10000}, resolved, offered)
    -> "city, 10,000 people, 365 days, seed 0"

A label names the scenario, the population, the days and the seed, then every other
parameter the request changed from the scenario's value ("appeal capacity 7.5"), so that two
runs of one comparison can be told apart by what was set, never by their ids.
"""

from __future__ import annotations

from credsim.scenario import Scenario
from credsim.web.params import Parameter

SHOWN = ("population.size", "population.days")


def run_label(scenario: str, seed: int, parameters: dict, resolved: Scenario, offered: list[Parameter]) -> str:
    pop = resolved.population
    parts = [scenario, f"{pop.size:,} people", f"{pop.days:,} day{'s' if pop.days != 1 else ''}", f"seed {seed}"]
    defaults = {p.path: p for p in offered}
    for path, value in parameters.items():
        parameter = defaults.get(path)
        if path in SHOWN or parameter is None or value == parameter.value:
            continue
        name = parameter.label[0].lower() + parameter.label[1:]
        parts.append(f"{name} {value:,g}" if isinstance(value, float) else f"{name} {value:,}")
    return ", ".join(parts)


def distinct(a: str, b: str) -> tuple[str, str]:
    """Two labels that differ: the same settings (different runs) get "(run A)" and "(run B)"."""
    return (a, b) if a != b else (f"{a} (run A)", f"{b} (run B)")
