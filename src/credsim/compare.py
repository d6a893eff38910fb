"""Two runs side by side: every summary metric per group, with the difference.

The inputs are summaries (``summary.json`` of a run folder, or a fresh run's). Groups are
matched by name; a group present in only one run is shown with blanks on the other side.
"""

from __future__ import annotations

import csv
import io

METRICS = (
    "listed_rate",
    "ever_listed",
    "detained_rate",
    "disparate_impact",
    "not_listed_ratio",
    "wrongful_share",
    "unjust_share",
    "median_days_listed",
    "exit_within_1y",
    "appeals_filed",
    "appeals_upheld",
    "appeal_median_wait_days",
    "backlog_end",
    "blocked_per_1000_per_year",
    "chilling_index",
    "deterrence",
    "income_gap",
    "gini_income",
    "gini_score",
)


def engine_name(summary: dict) -> str:
    """The engine that made a run (its summary's ``engine.name``). A summary that does not
    record one is older than the engines (credsim.engines): the reference engine made it."""
    engine = summary.get("engine")
    return str(engine.get("name", "reference")) if isinstance(engine, dict) else "reference"


def engines_warning(a: dict, b: dict, label_a: str = "A", label_b: str = "B") -> str | None:
    """A sentence saying that two runs were made by different engines, or None when one engine
    made both. Runs of one engine with one seed share their random numbers (common random
    numbers), so their differences are the settings' effects; across engines the same seed
    gives the same population but other days, so a difference also holds sampling noise."""
    x, y = engine_name(a), engine_name(b)
    if x == y:
        return None
    return (f"{label_a} was made by the {x} engine and {label_b} by the {y} engine: the same seed gives the same "
            "population but not common random numbers, so each difference includes the sampling noise of two "
            "random-number schemes, not only the effect of the settings")


def compare_summaries(a: dict, b: dict) -> list[dict]:
    """Rows of (group, metric, a, b, difference b - a), overall first, then each group."""
    groups = ["overall", *a["by_group"], *(g for g in b["by_group"] if g not in a["by_group"])]
    rows = []
    for group in groups:
        left = a["overall"] if group == "overall" else a["by_group"].get(group, {})
        right = b["overall"] if group == "overall" else b["by_group"].get(group, {})
        for metric in METRICS:
            if metric not in left and metric not in right:
                continue
            x, y = left.get(metric), right.get(metric)
            rows.append({"group": group, "metric": metric, "a": x, "b": y, "difference": y - x if x is not None and y is not None else None})
    return rows


def to_csv(rows: list[dict], label_a: str, label_b: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "metric", label_a, label_b, "difference"])
    for row in rows:
        writer.writerow([row["group"], row["metric"], *("" if row[k] is None else repr(row[k]) for k in ("a", "b", "difference"))])
    return buffer.getvalue()


def compare_experiments(a, b) -> list[dict]:
    """Two experiments' replicate summaries side by side (frames from
    :func:`credsim.experiments.summarize_replicates`): for each parameter set and outcome
    present in either, the mean and 95% interval of each, and the difference of the means.
    Parameter sets are matched by their parameter values."""

    def keyed(frame) -> dict:
        parameters = [c for c in frame.columns if c not in ("set_index", "outcome", "runs", "n", "mean", "std", "ci_low", "ci_high")]
        rows = {}
        for record in frame.to_dict("records"):
            setting = ", ".join(f"{p}={record[p]!r}" for p in parameters)
            rows[(setting, record["outcome"])] = record
        return rows

    left, right = keyed(a), keyed(b)
    out = []
    for key in [*left, *(k for k in right if k not in left)]:
        x, y = left.get(key, {}), right.get(key, {})
        mean_a, mean_b = _finite(x.get("mean")), _finite(y.get("mean"))
        out.append(
            {
                "parameters": key[0],
                "outcome": key[1],
                "mean_a": mean_a,
                "ci_a": (_finite(x.get("ci_low")), _finite(x.get("ci_high"))),
                "mean_b": mean_b,
                "ci_b": (_finite(y.get("ci_low")), _finite(y.get("ci_high"))),
                "difference": mean_b - mean_a if mean_a is not None and mean_b is not None else None,
            }
        )
    return out


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None
