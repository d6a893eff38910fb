"""The headline panel: what the run did, in plain words, from summary.json.

    lead_sentences(summary)              the largest finding first (see its docstring)
    group_sentences(summary, group)      what the run did to one group
    caveats(summary)                     what the figures above cannot show (said once)
    change_sentences(a, b, label_a, label_b)   a comparison: what changed, in percentage points

Each sentence is built from one or two summary metrics (docs/metrics.md) and says so when
a metric is null: "no one was listed", "the median was not reached within the run".
Returned as plain text; the page escapes it.
"""

from __future__ import annotations


import math

DISPARITY = 1.25  # a ratio of ever-listed shares at least this far from 1 leads the headline

#: (key, words, kind) of the figures a comparison's headline compares
CHANGES = (
    ("ever_listed", "ever listed", "pct"),
    ("listed_rate", "listed at the end", "pct"),
    ("wrongful_share", "share of listings that were wrongful", "pct"),
    ("unjust_share", "share of listings that were unjust", "pct"),
    ("detained_rate", "detained at the end", "pct"),
)


def percent(fraction: float) -> str:
    """A share as a percentage: whole numbers, one decimal below 10%, two below 1%; never "-0%"."""
    value = 100 * fraction
    if abs(value) < 0.005:
        return "0%"
    if abs(value) < 1:
        return f"{value:.2f}%"
    if abs(value) < 10:
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def points(difference: float) -> str:
    """A difference of two shares in percentage points, signed: "+1.20 pp", "−0.35 pp", "0.00 pp"."""
    value = 100 * difference
    if abs(value) < 0.005:
        return "0.00 pp"
    return f"{'+' if value > 0 else '−'}{abs(value):.2f} pp"


def days_text(days: int) -> str:
    """"1 day", "365 days"."""
    return f"{days:,} day" + ("" if days == 1 else "s")


def share_of(fraction: float, whom: str, extra: str = "") -> str:
    """"1 in 14 people in the minority group (7.1%, extra)" under a fifth; "43% of the people in ..." above."""
    if fraction < 0.2:
        inside = ", ".join(x for x in (percent(fraction), extra) if x)
        return f"1 in {round(1 / fraction):,} people in {whom} ({inside})"
    return f"{percent(fraction)} of the people in {whom}" + (f" ({extra})" if extra else "")


def run_line(summary: dict) -> str:
    return (f"{summary.get('population', 0):,} synthetic people over {days_text(summary['days'])}, "
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
        sentences.append(f"No one in the {group} group was listed during the {days_text(days)} of the run.")
    else:
        listings = f"{episodes:,} listing{'s' if episodes != 1 else ''}"
        sentences.append(f"{share_of(ever, f'the {group} group', listings)} were listed at some point "
                         f"during the {days_text(days)}.")
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
        out.append(f"Half of their listings had ended after {days_text(round(median))} (the median time on the list, "
                   f"Kaplan–Meier).")
    else:
        out.append("The median time on the list was not reached within the run.")
    within = metrics.get("exit_within_1y")
    if within is not None:
        still = 1 - within
        words = "half" if abs(still - 0.5) < 0.005 else percent(still)
        out.append(f"{words[0].upper()}{words[1:]} of their listings were still open a year after they began.")
    return out


def caveats(summary: dict) -> list[str]:
    """What the group sentences cannot show, said once for the whole run."""
    groups = [m for m in summary["by_group"].values() if m.get("episodes")]
    out = []
    if any(m.get("median_days_listed") is None for m in groups):
        out.append("Listings still open when the run ended are censored: they count as on the list for as long as "
                   "they were seen, and no longer. Where more than half of a group's listings were still open, the "
                   "median time on the list is longer than the run can show (\"not reached\").")
    if groups and any(m.get("exit_within_1y") is None for m in groups):
        if summary["days"] < 365:
            out.append(f"The run lasted {days_text(summary['days'])}, too short to say how many listings were still "
                       "open a year after they began.")
        else:
            out.append("Where no listing was followed for a full year, the run cannot say how many were still open a "
                       "year later.")
    return out


def lead_sentences(summary: dict) -> list[str]:
    """The run's largest finding first. A difference between groups in how often their people
    were ever listed leads when one group's share is at least DISPARITY times another's (or
    one group had listings and another none); then the share of all listings caused by the
    system's errors or by penalties for protected behaviour. Empty when nothing was listed."""
    by_group, reference = summary["by_group"], summary.get("reference_group")
    days = summary["days"]
    disparities = []
    base = by_group.get(reference, {}).get("ever_listed")
    for group, metrics in by_group.items():
        ever = metrics.get("ever_listed")
        if group == reference or ever is None or base is None or not metrics.get("population"):
            continue
        if base == 0 and ever > 0:
            disparities.append((math.inf, f"{percent(ever)} of the {group} group were listed at some point during the "
                                          f"{days_text(days)}, and no one in the {reference} group."))
        elif base > 0 and ever > 0:
            ratio = ever / base
            size = abs(math.log(ratio))
            if size >= math.log(DISPARITY):
                disparities.append((size, f"The {group} group was listed {ratio:.2f} times as often as the {reference} "
                                          f"group: {100 * ever:.2f}% of its people at some point during the "
                                          f"{days_text(days)}, against {100 * base:.2f}%."))
    out = [sentence for _, sentence in sorted(disparities, key=lambda d: -d[0])]
    overall = summary.get("overall", {})
    wrongful, unjust = overall.get("wrongful_share"), overall.get("unjust_share")
    if overall.get("episodes") and wrongful is not None and unjust is not None:
        out.append(f"{percent(wrongful + unjust)} of all {overall['episodes']:,} listings were caused by the system's "
                   f"errors ({percent(wrongful)}) or by penalties for protected behaviour such as worship or criticism "
                   f"({percent(unjust)}).")
    elif not overall.get("episodes") and overall.get("ever_listed") == 0:
        out.append(f"No one was listed during the {days_text(days)} of the run.")
    return out


def change_sentences(a: dict, b: dict, label_a: str, label_b: str, limit: int = 6) -> list[str]:
    """What changed from run A to run B, the largest changes first, differences of shares in
    percentage points (pp): "Ever listed, minority: 3.43% in A, 1.20% in B (−2.23 pp)."."""
    changes = []
    groups = [g for g in a["by_group"] if g in b["by_group"]]
    for key, words, _ in CHANGES:
        for group in [*groups, None]:
            left = (a["overall"] if group is None else a["by_group"][group]).get(key)
            right = (b["overall"] if group is None else b["by_group"][group]).get(key)
            if left is None or right is None:
                continue
            who = "everyone" if group is None else f"the {group} group"
            changes.append((abs(right - left), f"{words[0].upper()}{words[1:]}, {who}: {percent(left)} in {label_a}, "
                                               f"{percent(right)} in {label_b} ({points(right - left)})."))
    changes.sort(key=lambda c: -c[0])
    out = [sentence for _, sentence in changes[:limit]]
    for group in groups:
        left, right = a["by_group"][group].get("disparate_impact"), b["by_group"][group].get("disparate_impact")
        if group != a.get("reference_group") and left is not None and right is not None:
            out.append(f"At the end, the {group} group was on the list {left:.2f} times as often as the "
                       f"{a.get('reference_group')} group in {label_a}, {right:.2f} times in {label_b}.")
    return out
