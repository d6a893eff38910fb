"""The run catalog: one Parquet file per run, ``OUT/catalog/<run_id>.parquet``.

One file per run, each written to a temporary name and moved into place with ``os.replace``,
so that any number of workers can write at once and a reader never sees half a row. The
folder is a Parquet dataset that DuckDB reads directly::

    duckdb -c "select * from 'OUT/catalog/*.parquet' order by run_id"

Columns, in order (see docs/experiments.md):

    run_id            string     p<point>-r<replicate> (n<point>-r<k> for a noise run), stable
    point             string     12 hex digits naming the parameter values
    kind              string     "design", or "noise" (independent-seed runs at the centre)
    set_index         int32      the parameter set's first place in the design (-1: noise run)
    replicate         int32
    status            string     "complete" or "failed"
    error             string     why it failed (null when complete)
    <parameter>...    one column per varied dotted path (int64, float64, bool or string)
    seed              int64      the seed simulate() was given
    seed_entropy      int64      the experiment's root seed
    spawn_key         list<int64> the run's SeedSequence spawn key (see design.py)
    scenario_hash     string     SHA-256 of the resolved scenario's TOML (null if it did not validate)
    engine            string     the engine that ran it ([engine] name; one for the whole folder)
    credsim_version   string     all of these from the worker that ran it:
    git_commit        string     the credsim checkout's commit, or null
    git_dirty         bool       uncommitted changes in that checkout (null: not a checkout)
    source_hash       string     SHA-256 of the installed credsim package's files
    python, numpy, numba, pyarrow   string   versions
    cpu, os           string     CPU model, platform
    worker            string     host:pid that ran it
    started, finished timestamp[us, UTC]
    seconds           float64
    <outcome>...      float64, one per outcome path (null when the summary has no number)

The parameter and outcome names are also in the file metadata (``credsim.parameters``,
``credsim.outcomes``) and in ``OUT/experiment.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CATALOG = "catalog"
RUNS = "runs"
EXPERIMENT_JSON = "experiment.json"
COMPLETE, FAILED = "complete", "failed"
TIMINGS = ("worker", "started", "finished", "seconds")  # what may differ between two equal runs
# ... and where they ran (the same code and libraries, maybe another machine)
PLACE = ("cpu", "os", "python", "git_dirty")
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


def catalog_schema(parameters: dict[str, str], outcomes: list[str]) -> pa.Schema:
    """The schema of a catalog row; ``parameters`` maps each path to its column kind."""
    fields = [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("point", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("set_index", pa.int32(), nullable=False),
        pa.field("replicate", pa.int32(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        *(pa.field(name, ARROW_TYPES.get(kind, pa.string())) for name, kind in parameters.items()),
        pa.field("seed", pa.int64()),
        pa.field("seed_entropy", pa.int64()),
        pa.field("spawn_key", pa.list_(pa.int64())),
        pa.field("scenario_hash", pa.string()),
        pa.field("engine", pa.string()),
        pa.field("credsim_version", pa.string()),
        pa.field("git_commit", pa.string()),
        pa.field("git_dirty", pa.bool_()),
        *(pa.field(name, pa.string()) for name in ("source_hash", "python", "numpy", "numba", "pyarrow", "cpu", "os")),
        pa.field("worker", pa.string()),
        pa.field("started", pa.timestamp("us", tz="UTC")),
        pa.field("finished", pa.timestamp("us", tz="UTC")),
        pa.field("seconds", pa.float64()),
        *(pa.field(name, pa.float64()) for name in outcomes),
    ]
    metadata = {"credsim.parameters": json.dumps(list(parameters)), "credsim.outcomes": json.dumps(outcomes)}
    return pa.schema(fields, metadata=metadata)


def write_row(out_dir: str | Path, row: dict[str, Any], schema: pa.Schema) -> Path:
    """Write one run's row as ``OUT/catalog/<run_id>.parquet``, atomically."""
    folder = Path(out_dir) / CATALOG
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([row], schema=schema)
    target = folder / f"{row['run_id']}.parquet"
    handle, staging = tempfile.mkstemp(prefix=f".{row['run_id']}.", suffix=".partial", dir=folder)
    os.close(handle)
    try:
        pq.write_table(table, staging)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return target


def read_row(out_dir: str | Path, run_id: str) -> dict[str, Any] | None:
    """A run's catalog row as a dict, or None when it has none (or an unreadable one)."""
    return row_state(out_dir, run_id)[0]


def row_state(out_dir: str | Path, run_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the row, None), or (None, why not): "missing", or "unreadable: ..." for a damaged file."""
    path = Path(out_dir) / CATALOG / f"{run_id}.parquet"
    if not path.is_file():
        return None, "missing"
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowException) as error:
        return None, f"unreadable catalog row {path} ({type(error).__name__}: {error})"
    if len(rows) != 1 or rows[0].get("run_id") != run_id:
        return None, f"catalog row {path} does not hold run {run_id}"
    return rows[0], None


def read_catalog_table(out_dir: str | Path) -> pa.Table | None:
    """Every row under ``OUT/catalog`` as one Arrow table sorted by run, or None if there are none."""
    folder = Path(out_dir) / CATALOG
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables = []
    for path in files:
        try:
            tables.append(pq.read_table(path))
        except (OSError, pa.ArrowException):
            continue  # damaged (re-run on resume) or being replaced right now
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive")
    metadata = tables[-1].schema.metadata
    return table.sort_by([("set_index", "ascending"), ("replicate", "ascending")]).replace_schema_metadata(metadata)


def read_experiment_json(out_dir: str | Path) -> dict[str, Any] | None:
    path = Path(out_dir) / EXPERIMENT_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        data, why = None, f"{type(error).__name__}: {error}"
    else:
        why = None if isinstance(data, dict) else f"expected a JSON object, found {type(data).__name__}"
    if why is not None:
        from credsim.experiments.spec import ExperimentError

        raise ExperimentError(str(path), [f"damaged ({why})",
                                          "the runs under runs/ and catalog/ are intact; move the folder aside and run the "
                                          "experiment into a new --out, or restore experiment.json from a copy"],
                              heading="unreadable experiment.json")  # fmt: skip
    return data


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(json.dumps(data, indent=2) + "\n")
    os.replace(staging, path)
