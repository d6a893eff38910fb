"""Reading a run folder for the report: the saved outputs only, never an in-memory run.

``load_run(run_dir)`` reads ``summary.json``, ``scenario.toml``, ``daily.parquet``,
``regions.parquet`` and ``episodes.parquet`` into a :class:`RunData` of plain NumPy arrays,
one dictionary of columns per group, so that the figures need neither pandas nor pyarrow.
The folder is checked against its ``manifest.json`` first
(:func:`credsim.results.manifest.verify`). Anything missing or unreadable raises
:class:`ReportError` or :class:`credsim.CorruptRunError` with a message that names the file.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from credsim.errors import CredsimError
from credsim.results import manifest

DAILY_REQUIRED = ("day", "group", "population", "listed", "pending_cases", "income_mean")
REGIONS_REQUIRED = ("day", "region", "population", "camera_intensity")
EPISODES_REQUIRED = ("group", "start_day", "end_day", "class")


class ReportError(CredsimError):
    """A run folder cannot be reported on: missing, incomplete, or unreadable."""


@dataclass
class Episodes:
    """Listing episodes, one entry per episode (arrays of shape (n_episodes,)).

    ``end_day`` is -1 for an episode still open at the end (censored).
    """

    group: np.ndarray  # object (str)
    start_day: np.ndarray  # int64
    end_day: np.ndarray  # int64, -1 when censored
    cls: np.ndarray  # object (str): wrongful, unjust, rules

    def durations(self, days: int) -> tuple[np.ndarray, np.ndarray]:
        """(durations in days, observed) as in docs/metrics.md: end - start, or days - start when censored."""
        observed = self.end_day >= 0
        duration = np.where(observed, self.end_day - self.start_day, days - self.start_day)
        return duration.astype(np.float64), observed


@dataclass(eq=False)  # compared by identity: the charts find a run with runs.index(run), and a run compared with itself has equal arrays
class RunData:
    """One run folder, read.

    ``daily[group][column]`` and ``regions[column]`` are arrays over days: shape (days,) for
    daily columns, (days, n_regions) for regions. ``day`` is ``np.arange(days)``.
    """

    path: Path
    summary: dict
    scenario_text: str
    scenario: dict
    scenario_sha256: str
    groups: list[str]
    days: int
    day: np.ndarray
    daily: dict[str, dict[str, np.ndarray]]
    regions: dict[str, np.ndarray]
    episodes: Episodes
    label: str = field(default="")

    @property
    def meta(self) -> dict:
        meta = self.scenario.get("meta", {})
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.summary.get("scenario", self.meta.get("name", "")))


def load_run(run_dir: str | Path) -> RunData:
    """Read a complete run folder, after checking it against its ``manifest.json``.

    Raises :class:`credsim.CorruptRunError` when the folder does not match its manifest (or
    has none), :class:`ReportError` when it is missing or a file cannot be read."""
    path = Path(run_dir)
    try:
        path.exists()
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: cannot read it ({error})") from None
    if not path.exists():
        raise ReportError(f"{path}: no such folder")
    if not path.is_dir():
        raise ReportError(f"{path}: not a folder")
    manifest.verify(path, only=manifest.DATA_FILES)  # before anything is read: a damaged or partial run is refused
    summary = _read_summary(path)
    scenario_path = path / "scenario.toml"
    try:
        raw = scenario_path.read_bytes()
        scenario_text = raw.decode("utf-8")
        scenario = tomllib.loads(scenario_text)
    except FileNotFoundError:
        raise ReportError(f"{scenario_path}: missing; not a complete credsim run") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ReportError(f"{scenario_path}: cannot read it: {error}") from None
    days = summary["days"]
    groups = list(summary["by_group"])
    daily_table = _read_parquet(path / "daily.parquet", DAILY_REQUIRED)
    regions_table = _read_parquet(path / "regions.parquet", REGIONS_REQUIRED)
    episodes_table = _read_parquet(path / "episodes.parquet", EPISODES_REQUIRED)
    return RunData(
        path=path,
        summary=summary,
        scenario_text=scenario_text,
        scenario=scenario,
        scenario_sha256=hashlib.sha256(raw).hexdigest(),
        groups=groups,
        days=days,
        day=np.arange(days),
        daily=_split_daily(daily_table, groups, days, path / "daily.parquet"),
        regions=_pivot_regions(regions_table, days, path / "regions.parquet"),
        episodes=_episodes(episodes_table),
        label=path.resolve().name or str(path),
    )


def _read_summary(path: Path) -> dict:
    file = path / "summary.json"
    if not file.is_file():
        raise ReportError(f"{path}: no summary.json; not a complete credsim run")
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"{file}: cannot read it: {error}") from None
    if not isinstance(summary, dict):
        raise ReportError(f"{file}: not a credsim summary (not a JSON object)")
    missing = [key for key in ("scenario", "seed", "days", "by_group", "overall") if key not in summary]
    if missing:
        raise ReportError(f"{file}: not a credsim summary (missing {', '.join(missing)})")
    if not isinstance(summary["days"], int) or summary["days"] < 1 or not summary["by_group"]:
        raise ReportError(f"{file}: not a credsim summary (days must be a positive integer, by_group non-empty)")
    return summary


def _read_parquet(file: Path, required: tuple[str, ...]) -> pa.Table:
    if not file.is_file():
        raise ReportError(f"{file}: missing; not a complete credsim run")
    try:
        table = pq.read_table(file)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise ReportError(f"{file}: cannot read it as Parquet: {error}") from None
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise ReportError(f"{file}: missing column(s) {', '.join(missing)}")
    return table


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def _split_daily(table: pa.Table, groups: list[str], days: int, file: Path) -> dict[str, dict[str, np.ndarray]]:
    day = _numbers(table.column("day")).astype(np.int64)
    group = _strings(table.column("group"))
    names = [n for n in table.column_names if n not in ("day", "group")]
    columns = {name: _numbers(table.column(name)) for name in names}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in groups:
        rows = np.flatnonzero(group == name)
        rows = rows[np.argsort(day[rows], kind="stable")]
        if not np.array_equal(day[rows], np.arange(days)):
            raise ReportError(f"{file}: group {name!r} does not have one row for each of the {days} days")
        out[name] = {column: values[rows] for column, values in columns.items()}
    return out


def _pivot_regions(table: pa.Table, days: int, file: Path) -> dict[str, np.ndarray]:
    day = _numbers(table.column("day")).astype(np.int64)
    region = _numbers(table.column("region")).astype(np.int64)
    n_regions = int(region.max()) + 1 if region.size else 0
    if region.size != days * n_regions or (region.size and (day.min() < 0 or day.max() >= days or region.min() < 0)):
        raise ReportError(f"{file}: expected one row per day and region ({days} days)")
    out = {}
    for name in table.column_names:
        if name in ("day", "region"):
            continue
        grid = np.full((days, n_regions), np.nan)
        grid[day, region] = _numbers(table.column(name)).astype(np.float64)
        out[name] = grid
    return out


def _episodes(table: pa.Table) -> Episodes:
    end = table.column("end_day")
    end_values = np.asarray(end.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return Episodes(
        group=_strings(table.column("group")),
        start_day=np.asarray(_numbers(table.column("start_day")), dtype=np.int64),
        end_day=end_values,
        cls=_strings(table.column("class")),
    )
