"""How long a web run will take, said beside People x Days before it is started.

    seconds = FIXED_S + BUILD_S_PER_PERSON * people + days * (DAY_S + PERSON_DAY_S * people)

The constants were measured on a 2-core machine with nothing else running, after the first
compile, for the city scenario: building 1,000,000 people took 1.25 s; a day took 1.2 ms at
2,000 people, 2.0-2.7 ms at 20,000, 4.5 ms at 100,000 and 6.3 ms at 200,000; writing the
outputs and the report of 20,000 people x 365 days took 0.5 s. The command that gives them:

    python -c "import time; from credsim import load_scenario, simulate; simulate(load_scenario('city', \\
        {'population.size': 200, 'population.days': 2})); t = time.perf_counter(); \\
        simulate(load_scenario('city', {'population.size': 20000, 'population.days': 365})); \\
        print(time.perf_counter() - t)"

A server then scales the model by what its own finished runs took (:func:`calibrated`): the
median ratio of measured to predicted seconds over its latest runs, so that a loaded or slower
machine shows its own times.
"""

from __future__ import annotations

import statistics

FIXED_S = 1.0
BUILD_S_PER_PERSON = 1.3e-6
DAY_S = 1.5e-3
PERSON_DAY_S = 2.5e-8
LATEST = 5  # runs the scale is taken from

MEASURED_ON = "a rate measured on a 2-core test machine"
MEASURED_HERE = "the rate of this server's latest runs"


def predicted(people: int, days: int) -> float:
    """Seconds a run of ``people`` x ``days`` takes on the measuring machine."""
    return FIXED_S + BUILD_S_PER_PERSON * people + days * (DAY_S + PERSON_DAY_S * people)


def calibrated(timed: list[tuple[int, int, float]]) -> dict:
    """The model the page uses, scaled by ``timed`` runs: (people, days, seconds), oldest first.

    Returns ``{"fixed_s", "build_s_per_person", "day_s", "person_day_s", "scale", "source"}``;
    the page computes ``scale * predicted(people, days)`` with these.
    """
    ratios = [seconds / predicted(people, days) for people, days, seconds in timed[-LATEST:] if seconds > 0]
    scale = statistics.median(ratios) if ratios else 1.0
    return {"fixed_s": FIXED_S, "build_s_per_person": BUILD_S_PER_PERSON, "day_s": DAY_S, "person_day_s": PERSON_DAY_S,
            "scale": round(scale, 3), "source": MEASURED_HERE if ratios else MEASURED_ON}
