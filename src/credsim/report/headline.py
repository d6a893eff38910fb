"""The headline panel: what the run did to each group, in plain words, from summary.json.

Each sentence is built from one or two summary metrics (docs/metrics.md) and says so when
a metric is null: "no one was listed", "the median was not reached within the run".
Returned as plain text; the page escapes it.
"""

from __future__ import annotations


def percent(fraction: float) -> str:
    """A share as a percentage: whole numbers, one decimal below 10%, two below 1%."""
    value = 100 * fraction
    if value == 0:
        return "0%"
    if abs(value) < 1:
        return f"{value:.2f}%"
    if abs(value) < 10:
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def share_of(fraction: float, whom: str, extra: str = "") -> str:
    """"1 in 14 people in the minority group (7.1%, extra)" under a fifth; "43% of the people in ..." above."""
    if fraction < 0.2:
        inside = ", ".join(x for x in (percent(fraction), extra) if x)
        return f"1 in {round(1 / fraction):,} people in {whom} ({inside})"
    return f"{percent(fraction)} of the people in {whom}" + (f" ({extra})" if extra else "")


def run_line(summary: dict) -> str:
    return (f"{summary.get('population', 0):,} synthetic people over {summary['days']:,} days, "
            f"scenario {summary['scenario']}, seed {summary['seed']}.")


def group_sentences(summary: dict, group: str) -> list[str]:
    """The headline sentences about one group of a run."""
    metrics = summary["by_group"][group]
    days = summary["days"]
    population = metrics.get("population") or 0
    if population == 0:
        return [f"The {group} group has no people in this run."]
    sentences = []
    ever = metrics.get("ever_listed")
    episodes = metrics.get("episodes") or 0
    if not ever:
        sentences.append(f"No one in the {group} group was listed during the {days:,} days of the run.")
    else:
        listings = f"{episodes:,} listing{'s' if episodes != 1 else ''}"
        sentences.append(f"{share_of(ever, f'the {group} group', listings)} were listed at some point "
                         f"during the {days:,} days.")
    if episodes:
        sentences.append(_causes(metrics))
        sentences.extend(_duration(metrics, days))
    listed = metrics.get("listed_rate")
    if listed and ever:
        sentences.append(f"{percent(listed)} of the group were on the list at the end of the run.")
    impact = metrics.get("disparate_impact")
    reference = summary.get("reference_group")
    if group != reference and reference in summary["by_group"]:
        if impact is not None:
            sentences.append(f"At the end, the {group} group was on the list {impact:.2f} times as often as the "
                             f"{reference} group.")
        elif summary["by_group"][reference].get("listed_rate") == 0:
            sentences.append(f"No one in the {reference} group was on the list at the end, so how often the "
                             f"{group} group was listed relative to it cannot be given as a ratio.")
    detained = metrics.get("detained_rate")
    if detained:
        sentences.append(f"{share_of(detained, 'the group')} were detained at the end of the run.")
    return sentences


def _causes(metrics: dict) -> str:
    wrongful, unjust = metrics.get("wrongful_share"), metrics.get("unjust_share")
    if wrongful is None or unjust is None:
        return "The causes of their listings are not known."
    either = wrongful + unjust
    if either == 0:
        return "None of their listings were caused by the system's errors or by protected behaviour: all were by its rules."
    if unjust == 0:
        return f"{percent(wrongful)} of their listings were caused by the system's errors; none by protected behaviour."
    if wrongful == 0:
        return (f"{percent(unjust)} of their listings were caused by protected behaviour such as worship or criticism; "
                "none by the system's errors.")
    return (f"{percent(either)} of their listings were caused by the system's errors ({percent(wrongful)}) "
            f"or by protected behaviour such as worship or criticism ({percent(unjust)}).")


def _duration(metrics: dict, days: int) -> list[str]:
    out = []
    median = metrics.get("median_days_listed")
    if median is not None:
        out.append(f"Half of their listings had ended after {median:,.0f} days (the median time on the list, "
                   f"Kaplan–Meier).")
    else:
        out.append("The median time on the list was not reached within the run: more than half of their listings "
                   "had not been seen to end when the run stopped.")
    within = metrics.get("exit_within_1y")
    if within is not None:
        still = 1 - within
        words = "half" if abs(still - 0.5) < 0.005 else percent(still)
        out.append(f"{words[0].upper()}{words[1:]} of their listings were still open a year after they began.")
    elif days < 365:
        out.append(f"The run lasted {days:,} days, too short to say how many listings were still open a year later.")
    else:
        out.append("No listing was followed for a full year, so the run cannot say how many were still open a year later.")
    return out
