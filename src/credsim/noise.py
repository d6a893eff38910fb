"""Which headline figures of a run are within noise, and which the run is too small to measure.

Chilling, deterrence and disparate impact carry standard errors in summary.json
(``*_se``; docs/metrics.md says how they are derived). A figure is **within noise** when it
lies within two standard errors of what no effect would give (0 for chilling and
deterrence, 1 for disparate impact; a disparate impact of 0, which has no standard error,
when its 95% interval holds 1). A run is **too small** for a metric when two standard
errors exceed the smallest effect worth reporting (:data:`RESOLUTION`): even a real effect of
that size would read as noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from credsim.mechanisms import inactive

SIGMAS = 2.0


@dataclass(frozen=True)
class Noisy:
    key: str  # the figure in summary.json
    se: str  # its standard error
    null: float  # its value with no effect
    label: str
    resolution: float  # the smallest effect worth reporting: 5 points, or a ratio 25% off 1
    interval: str | None = None  # its 95% interval, used where it has no standard error


NOISY = (
    Noisy("chilling_index", "chilling_index_se", 0.0, "chilling", 0.05),
    Noisy("deterrence", "deterrence_se", 0.0, "deterrence", 0.05),
    Noisy("disparate_impact", "disparate_impact_se", 1.0, "disparate impact", 0.25, "disparate_impact_ci"),
)


def within_noise(cell: dict, metric: Noisy) -> bool | None:
    """Whether the figure is within two standard errors of its no-effect value; None when
    either is missing."""
    value, se = cell.get(metric.key), cell.get(metric.se)
    interval = cell.get(metric.interval) if metric.interval else None
    if value is None:
        return None
    if se is None:  # a ratio of 0 (nobody listed in the group) has only an interval
        return interval[0] <= metric.null <= interval[1] if interval else None
    return abs(value - metric.null) <= SIGMAS * se


def cells(summary: dict) -> list[tuple[str, dict]]:
    """(name, figures) of each group and of the whole population."""
    return [*summary["by_group"].items(), ("overall", summary["overall"])]


def noise_notes(summary: dict) -> list[str]:
    """Short lines for the terminal: the figures within noise, and the metrics this run is
    too small to measure."""
    quiet, small = [], []
    for metric in NOISY:
        names = [name for name, cell in cells(summary) if within_noise(cell, metric)]
        if names:
            quiet.append(f"{metric.label} ({', '.join(names)})")
        worst = max((c.get(metric.se) or 0.0 for _, c in cells(summary)), default=0.0)
        if SIGMAS * worst > metric.resolution:
            small.append(f"{metric.label} (2 SE up to {_span(metric, SIGMAS * worst)})")
    lines = []
    if quiet:
        lines.append(f"within noise (within 2 standard errors of no effect): {'; '.join(quiet)}")
    if small:
        lines.append(f"too small a run to measure an effect under the noise: {'; '.join(small)}")
    return lines


def _span(metric: Noisy, width: float) -> str:
    return f"±{100 * width:.1f} points" if metric.null == 0 else f"±{width:.2f}"


def run_warnings(summary: dict) -> list[str]:
    """What ``credsim run`` warns of: mechanisms switched on that did nothing, then noise."""
    idle = inactive(summary.get("mechanisms", {}))
    lines = [f"switched on but inactive in this run: {', '.join(idle)} (summary.json: mechanisms)"] if idle else []
    return lines + noise_notes(summary)
