"""Experiments: files, seeds, executors (serial, a local pool, a real Dask cluster), the
catalog, resumption, failures, sensitivity indices and the commands.

One small experiment (5 parameter sets x 4 replicates of a 2,000-person, 30-day court
blacklist) is run once serially; every other executor must give the same catalog, timings
aside. The Dask cluster is real: a `dask scheduler` and `dask worker` processes started here
on 127.0.0.1 and killed at the end, whatever happens."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

import credsim
import credsim.experiments as ex
import credsim.experiments.cli
from credsim.experiments.design import point_key, sample
from credsim.experiments import provenance
from credsim.experiments.catalog import TIMINGS
from credsim.results.manifest import verify
from credsim.scenario import to_toml, with_overrides

DASK = Path(sys.executable).parent / "dask"
OUTCOMES = [
    "overall.ever_listed",
    "overall.wrongful_share",
    "overall.backlog_end",
    "overall.appeals_filed",
    "by_group.adults.gini_income",
]

SMALL = f"""
[experiment]
name = "small"
base = "court-blacklist"
replicates = 4
seed = 20240501
outcomes = {json.dumps(OUTCOMES)}

[experiment.overrides]
"population.size" = 2000
"population.days" = 30
"behaviours.debt_default.rate.adults" = 0.002
"observation.record_errors.rate" = 0.0002
"listing.notice_days" = 0

[parameters."appeal.capacity_per_million"]
values = [0, 100, 1000, 5000, 20000]

[sampling]
method = "grid"
"""


CAP = "appeal.capacity_per_million"


def rid(parameters: dict, replicate: int, kind: str = "design") -> str:
    """The run_id of a replicate at a point: named by its parameter values."""
    return ex.run_id(point_key(parameters), replicate, kind)


def write(folder: Path, text: str, name: str = "experiment.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def comparable(catalog: pd.DataFrame) -> list[dict]:
    """The catalog's rows without what may differ between executors (who ran it, when, and on
    which checkout state: a commit made while the tests run changes git_commit, not the run)."""
    rows = catalog.drop(columns=[*TIMINGS, "git_commit", "git_dirty", "cpu", "os"]).to_dict("records")
    for row in rows:
        row["spawn_key"] = tuple(int(k) for k in row["spawn_key"])
        row.update({k: None for k, v in row.items() if not isinstance(v, (tuple, str)) and pd.isna(v)})
    return rows


class Counting(ex.SerialExecutor):
    """The serial executor, counting what it is asked to run."""

    def __init__(self):
        self.ran: list[str] = []

    def submit(self, fn, /, *args):
        self.ran.append(args[0].run_id)
        return super().submit(fn, *args)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("spec"), SMALL)


@pytest.fixture(scope="module")
def serial(small_file, tmp_path_factory):
    """(folder, catalog) of the small experiment run serially, in this process."""
    out = tmp_path_factory.mktemp("serial")
    return out, ex.run_experiment(small_file, out, ex.SerialExecutor())


# ---------------------------------------------------------------- the dask cluster


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ELSEWHERE: dict[str, Path] = {}  # the directory the cluster's processes run in: not the client's


def start_worker(address: str, name: str) -> subprocess.Popen:
    # --no-nanny: the process started here is the worker itself, so killing it kills the worker
    return subprocess.Popen(
        [str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
         "--host", "127.0.0.1", "--name", name, "--death-timeout", "60"],
        cwd=ELSEWHERE.get("worker"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """(address, processes): a real scheduler and two single-threaded workers on 127.0.0.1,
    each started in a directory of its own (so that a relative path would land there)."""
    from distributed import Client

    ELSEWHERE.update(scheduler=tmp_path_factory.mktemp("scheduler"), worker=tmp_path_factory.mktemp("worker"))
    assert DASK.is_file(), f"the dask command is not installed at {DASK}"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [
        subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], cwd=ELSEWHERE["scheduler"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    ]
    try:
        processes += [start_worker(address, f"w{i}") for i in range(2)]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
        yield address, processes
    finally:
        for process in reversed(processes):
            stop(process)


# ---------------------------------------------------------------- the file


def test_load_experiment_resolves_base_overrides_and_parameters(small_file):
    spec = ex.load_experiment(small_file)
    assert spec.name == "small" and spec.replicates == 4 and spec.seed == 20240501
    assert spec.base.population.size == 2000 and spec.base.population.days == 30
    assert list(spec.parameters) == ["appeal.capacity_per_million"]
    assert spec.field_types == {"appeal.capacity_per_million": "float"}
    assert spec.outcomes == OUTCOMES


def test_nested_and_quoted_parameter_tables_mean_the_same(tmp_path):
    quoted = ex.load_experiment(write(tmp_path, SMALL, "a.toml"))
    nested = ex.load_experiment(write(tmp_path, SMALL.replace('[parameters."appeal.capacity_per_million"]', "[parameters.appeal.capacity_per_million]"), "b.toml"))
    assert nested.parameters == quoted.parameters
    assert ex.make_design(nested).sets == ex.make_design(quoted).sets


def test_nested_and_dotted_overrides_mean_the_same(tmp_path, small_file):
    import tomllib

    unquoted = SMALL.replace('"population.size"', "population.size").replace('"population.days"', "population.days")
    nested = ex.load_experiment(write(tmp_path, unquoted))
    quoted = ex.load_experiment(small_file)
    assert nested.overrides == quoted.overrides and nested.fingerprint == quoted.fingerprint
    assert ex.experiment_from_dict(tomllib.loads(SMALL)).base == quoted.base


def test_base_path_is_relative_to_the_experiment_file(tmp_path, monkeypatch):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "mine.toml").write_text('[meta]\nname = "mine"\nextends = "court-blacklist"\n', encoding="utf-8")
    text = SMALL.replace('base = "court-blacklist"', 'base = "scenarios/mine.toml"')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = ex.load_experiment(write(tmp_path, text))
    assert spec.base.meta.name == "mine" and spec.base.population.size == 2000


BAD = {
    # name: (edit of SMALL, fragments the message must hold besides the file name)
    "unknown key": (lambda t: t.replace("replicates = 4", "replicats = 4"), ["experiment.replicats", "unknown field", "replicates"]),
    "wrong type": (lambda t: t.replace("replicates = 4", 'replicates = "four"'), ["experiment.replicates", "valid integer", "'four'"]),
    "zero replicates": (lambda t: t.replace("replicates = 4", "replicates = 0"), ["experiment.replicates", ">= 1", "found 0"]),
    "missing base": (lambda t: t.replace('base = "court-blacklist"', ""), ["experiment.base", "required field is missing"]),
    "unknown base": (lambda t: t.replace('base = "court-blacklist"', 'base = "court-blaklist"'), ["experiment.base", "court-blaklist", "court-blacklist"]),
    "unknown parameter path": (lambda t: t.replace('"appeal.capacity_per_million"]', '"appeal.capacity_per_milion"]'),
                               ["parameters.appeal.capacity_per_milion", "no such field", "capacity_per_million"]),
    "unknown override path": (lambda t: t.replace('"population.days" = 30', '"population.dayz" = 30'), ["experiment.overrides.population.dayz", "no such field"]),
    "invalid override": (lambda t: t.replace('"population.days" = 30', '"population.days" = -3'), ["experiment.overrides", "population.days", ">= 1", "-3"]),
    "two kinds": (lambda t: t.replace("values = [0, 100", "range = [0, 1]\nvalues = [0, 100"),
                  ["parameters.appeal.capacity_per_million", "exactly one of values, grid or range", "values, range"]),
    "unknown parameter key": (lambda t: t.replace("values = [", "valuez = ["), ["parameters.appeal.capacity_per_million.valuez", "unknown field", "values, grid, range"]),
    "parameter not a table": (lambda t: t.replace('[parameters."appeal.capacity_per_million"]\nvalues = [0, 100, 1000, 5000, 20000]',
                                                  '[parameters]\n"appeal.capacity_per_million" = [0, 100]'),
                              ["parameters.appeal.capacity_per_million", "a table with one of values, grid or range", "[0, 100]"]),
    "range for a grid": (lambda t: t.replace("values = [0, 100, 1000, 5000, 20000]", "range = [0, 100]"),
                         ["parameters.appeal.capacity_per_million", "'grid' needs values or grid", "found range"]),
    "mixed values": (lambda t: t.replace("values = [0, 100", 'values = ["none", 100'), ["parameters.appeal.capacity_per_million", "all numbers"]),
    "unknown method": (lambda t: t.replace('method = "grid"', 'method = "halton"'), ["sampling.method", "'grid', 'list', 'latin', 'montecarlo', 'sobol' or 'morris'", "'halton'"]),
    "sobol n not a power of 2": (lambda t: t.replace('method = "grid"', 'method = "sobol"\nn = 48').replace("values = [0, 100, 1000, 5000, 20000]", "range = [0, 100]")
                                 + '[parameters."appeal.daily_rate"]\nrange = [0, 0.01]\n', ["sampling.n", "power of 2", "found 48"]),
    "latin without n": (lambda t: t.replace('method = "grid"', 'method = "latin"').replace("values = [0, 100, 1000, 5000, 20000]", "range = [0, 100]"),
                        ["sampling.n", "required field is missing", "latin"]),
    "bad outcome path": (lambda t: t.replace('"overall.ever_listed"', '"overall..ever_listed"'), ["outcomes[0]", "dotted path", "'overall..ever_listed'"]),
    "invalid toml": (lambda t: t + "\n[sampling\n", ["not valid TOML", "line"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_a_malformed_experiment_file_names_the_file_and_field(tmp_path, case):
    edit, fragments = BAD[case]
    path = write(tmp_path, edit(SMALL), "broken.toml")
    with pytest.raises(ex.ExperimentError) as caught:
        ex.load_experiment(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_an_outcome_the_summary_lacks_is_refused_before_any_run(tmp_path):
    path = write(tmp_path, SMALL.replace('"overall.backlog_end"', '"overall.backlog_ending"'))
    counting = Counting()
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(path, tmp_path / "out", counting)
    assert "outcomes[2]: overall.backlog_ending: summary.json has no such figure" in str(caught.value)
    assert "backlog_end" in str(caught.value) and counting.ran == []
    assert not (tmp_path / "out").exists(), "a refused experiment wrote something"


def test_every_mistake_of_a_file_is_in_one_message(tmp_path):
    text = SMALL.replace("replicates = 4", "replicats = 4").replace('"appeal.capacity_per_million"]', '"appeal.capacity_per_milion"]')
    with pytest.raises(ex.ExperimentError) as caught:
        ex.load_experiment(write(tmp_path, text))
    first, second = caught.value.problems
    assert first == "experiment.replicats: unknown field; expected one of: name, description, base, replicates, seed, seeds, overrides, outcomes"
    assert second.startswith("parameters.appeal.capacity_per_milion: no such field; appeal has: ") and "capacity_per_million" in second


# ---------------------------------------------------------------- design and seeds


def test_replicate_r_of_every_point_shares_one_seed(small_file):
    spec = ex.load_experiment(small_file)
    design = ex.make_design(spec)
    assert [s[CAP] for s in design.sets] == [0.0, 100.0, 1000.0, 5000.0, 20000.0]
    tasks = ex.plan_runs(spec, "out").tasks
    assert len(tasks) == 20
    for task in tasks:
        child = np.random.SeedSequence(spec.seed, spawn_key=(3, task.replicate))
        assert task.seed.spawn_key == (3, task.replicate) and task.seed.entropy == spec.seed
        assert task.seed.seed == int(child.generate_state(1, dtype=np.uint64)[0] >> 1) and 0 <= task.seed.seed < 2**63
        assert task.run_id == rid(task.parameters, task.replicate)  # named by its values, not its place
    assert len({t.seed.seed for t in tasks}) == spec.replicates


def test_independent_seeds_give_every_run_its_own_stream(small_file):
    spec = ex.load_experiment(small_file).model_copy(update={"seeds": "independent"})
    tasks = ex.plan_runs(spec, "out").tasks
    assert len({t.seed.seed for t in tasks}) == len(tasks) == 20
    assert all(t.seed.spawn_key[0] == 4 and t.seed.spawn_key[-1] == t.replicate for t in tasks)
    # the seed follows the point's values, wherever the point sits in the design
    moved = ex.experiment_from_dict(
        {**tomllib_loads(small_file), "parameters": {CAP: {"values": [20000, 0]}}}, "moved", small_file.parent
    ).model_copy(update={"seeds": "independent"})
    again = {t.run_id: t.seed.seed for t in ex.plan_runs(moved, "out").tasks}
    assert all(again[t.run_id] == t.seed.seed for t in tasks if t.run_id in again) and len(again) == 8


def tomllib_loads(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_sampled_designs_are_reproducible_and_respect_integer_fields(tmp_path):
    text = SMALL.replace('method = "grid"', 'method = "latin"\nn = 6').replace(
        "values = [0, 100, 1000, 5000, 20000]", "range = [0, 100]"
    ) + '[parameters."listing.min_days"]\nrange = [30, 400]\n'
    spec = ex.load_experiment(write(tmp_path, text))
    first, second = ex.make_design(spec), ex.make_design(spec)
    assert first.sets == second.sets and len(first.sets) == 6
    assert all(type(s["listing.min_days"]) is int and 30 <= s["listing.min_days"] <= 400 for s in first.sets)
    assert all(0 <= s["appeal.capacity_per_million"] <= 100 for s in first.sets)
    other = ex.load_experiment(write(tmp_path, text.replace("seed = 20240501", "seed = 1"), "other.toml"))
    assert ex.make_design(other).sets != first.sets


# ---------------------------------------------------------------- the catalog


def test_the_serial_catalog_has_a_complete_row_per_run(serial, small_file):
    out, catalog = serial
    spec = ex.load_experiment(small_file)
    assert len(catalog) == 20 and set(catalog["status"]) == {"complete"}
    assert list(catalog["run_id"][:5]) == [rid({CAP: 0.0}, 0), rid({CAP: 0.0}, 1), rid({CAP: 0.0}, 2), rid({CAP: 0.0}, 3), rid({CAP: 100.0}, 0)]
    assert catalog.attrs["parameters"] == ["appeal.capacity_per_million"] and catalog.attrs["outcomes"] == OUTCOMES
    assert catalog["seed"].nunique() == 4 and (catalog.groupby("replicate")["seed"].nunique() == 1).all()
    assert catalog["error"].isna().all()
    assert (catalog["seed_entropy"] == spec.seed).all()
    assert (catalog["seconds"] >= 0).all() and (catalog["finished"] >= catalog["started"]).all()
    assert (catalog["credsim_version"] == credsim.__version__).all()
    where = provenance.environment()
    for column in ("git_commit", "git_dirty", "source_hash", "python", "numpy", "numba", "pyarrow", "cpu", "os"):
        assert (catalog[column] == where[column]).all() if where[column] is not None else catalog[column].isna().all(), column
    assert catalog["source_hash"].str.fullmatch("[0-9a-f]{64}").all() and catalog["numpy"].eq(np.__version__).all()
    for _, row in catalog.iterrows():
        scenario = with_overrides(spec.base, {"appeal.capacity_per_million": row["appeal.capacity_per_million"]})
        assert row["scenario_hash"] == hashlib.sha256(to_toml(scenario).encode()).hexdigest()
        summary = (out / "runs" / row["run_id"] / "summary.json").read_text()
        assert f'"seed": {row["seed"]}' in summary
    # the outcomes vary with the parameter: more appeal capacity, a shorter backlog
    backlog = catalog.groupby("appeal.capacity_per_million")["overall.backlog_end"].mean()
    assert backlog.iloc[0] > backlog.iloc[-1]
    assert not list((out / "catalog").glob(".*")), "a staging file was left behind"


def test_duckdb_reads_the_catalog_directly(serial):
    out, catalog = serial
    query = f"""select "appeal.capacity_per_million" as capacity, count(*) as runs, avg("overall.ever_listed") as listed
                from '{out}/catalog/*.parquet' where status = 'complete' group by 1 order by 1"""
    rows = duckdb.sql(query).fetchall()
    assert [r[0] for r in rows] == [0.0, 100.0, 1000.0, 5000.0, 20000.0] and {r[1] for r in rows} == {4}
    expected = catalog.groupby("appeal.capacity_per_million")["overall.ever_listed"].mean().to_numpy()
    assert np.allclose([r[2] for r in rows], expected)


def test_summarize_replicates_gives_a_t_interval(serial):
    _, catalog = serial
    table = ex.summarize_replicates(catalog)
    assert len(table) == 5 * len(OUTCOMES)
    assert list(table.columns) == ["set_index", "appeal.capacity_per_million", "outcome", "runs", "n", "mean", "std", "ci_low", "ci_high"]
    row = table[(table["set_index"] == 2) & (table["outcome"] == "by_group.adults.gini_income")].iloc[0]
    values = catalog[catalog["set_index"] == 2]["by_group.adults.gini_income"].to_numpy()
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2
    assert row["n"] == row["runs"] == 4 and row["appeal.capacity_per_million"] == 1000.0
    assert row["mean"] == pytest.approx(values.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean() - half, values.mean() + half))
    assert row["ci_low"] < row["mean"] < row["ci_high"]


# ---------------------------------------------------------------- executors agree


def same_output_bytes(a, b) -> None:
    """Every run's data files are byte-identical in two experiment folders."""
    runs = sorted(p.name for p in (a / "runs").iterdir())
    assert runs and runs == sorted(p.name for p in (b / "runs").iterdir())
    for run in runs:
        for name in ("daily.parquet", "regions.parquet", "episodes.parquet", "summary.json", "scenario.toml"):
            assert (a / "runs" / run / name).read_bytes() == (b / "runs" / run / name).read_bytes(), (run, name)


def test_a_local_process_pool_gives_the_same_catalog(serial, small_file, tmp_path):
    with ex.LocalExecutor(workers=2) as pool:
        catalog = ex.run_experiment(small_file, tmp_path, pool)
    assert comparable(catalog) == comparable(serial[1])
    same_output_bytes(serial[0], tmp_path)
    assert catalog["worker"].nunique() >= 1 and not catalog["worker"].str.endswith(f":{os.getpid()}").any()


def test_a_dask_cluster_gives_the_same_catalog(serial, small_file, tmp_path, dask_cluster):
    address, _ = dask_cluster
    with ex.DaskExecutor(address) as pool:
        catalog = ex.run_experiment(small_file, tmp_path, pool)
    assert comparable(catalog) == comparable(serial[1])
    same_output_bytes(serial[0], tmp_path)
    assert catalog["worker"].nunique() == 2  # both workers took part


def test_a_dask_worker_killed_mid_experiment_loses_nothing(serial, small_file, tmp_path, dask_cluster):
    from distributed import Client

    address, _ = dask_cluster
    victim = start_worker(address, "victim")
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(3, timeout=90)
            # warm the newcomer up (imports, numba's cache) so it is as quick as the others
            (where,) = [a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "victim"]
            warmup = ex.plan_runs(ex.load_experiment(small_file), tmp_path / "warmup").tasks[0]
            assert client.submit(ex.execute_run, warmup, workers=[where], pure=False).result(timeout=120)["status"] == "complete"
        seen: dict = {}

        def progress(done, total, row):
            if row is None or "killed_at" in seen:
                return
            if done >= 3 and row["worker"].endswith(f":{victim.pid}"):
                # a result the victim finished is in; now it dies, with runs still to do
                seen["killed_at"] = done
                seen["finished"] = {p.stem: pq.read_table(p).to_pylist()[0] for p in (tmp_path / "catalog").glob("*.parquet")}
                os.kill(victim.pid, signal.SIGKILL)

        with ex.DaskExecutor(address) as pool:
            catalog = ex.run_experiment(small_file, tmp_path, pool, progress=progress)
    finally:
        stop(victim)
    assert "killed_at" in seen, "the victim worker finished no run before the others did them all"
    assert seen["killed_at"] < len(catalog), "nothing was left to do when the worker died"
    assert set(catalog["status"]) == {"complete"}
    assert comparable(catalog) == comparable(serial[1])
    after = catalog.set_index("run_id")
    for run, row in seen["finished"].items():
        assert row["status"] == "complete"
        assert all(after.loc[run, name] == row[name] or (row[name] is None and pd.isna(after.loc[run, name])) for name in OUTCOMES)


# ---------------------------------------------------------------- resume and failure


def test_resuming_reruns_only_what_is_not_complete(serial, small_file, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(serial[0], out)
    counting = Counting()
    again = ex.run_experiment(small_file, out, counting)
    assert counting.ran == []
    assert comparable(again) == comparable(serial[1])
    assert (again["started"] == serial[1]["started"]).all()  # the old rows, untouched

    missing, gone, failed_id = rid({CAP: 100.0}, 2), rid({CAP: 5000.0}, 0), rid({CAP: 20000.0}, 1)
    unreadable, altered = rid({CAP: 0.0}, 1), rid({CAP: 1000.0}, 3)
    (out / "catalog" / f"{missing}.parquet").unlink()  # never recorded
    shutil.rmtree(out / "runs" / gone)  # recorded, but its folder is gone
    failed = serial[1][serial[1]["run_id"] == failed_id].to_dict("records")[0]
    row = pq.read_table(out / "catalog" / f"{failed_id}.parquet")
    status = row.schema.get_field_index("status")
    pq.write_table(row.set_column(status, "status", pa.array(["failed"])), out / "catalog" / f"{failed_id}.parquet")
    (out / "catalog" / f"{unreadable}.parquet").write_bytes(b"PAR1 torn")  # a damaged row: re-run, not dropped
    with open(out / "runs" / altered / "summary.json", "a", encoding="utf-8") as stream:
        stream.write(" ")  # a damaged folder: its manifest no longer matches
    counting = Counting()
    resumed = ex.run_experiment(small_file, out, counting)
    assert sorted(counting.ran) == sorted([missing, gone, failed_id, unreadable, altered])
    assert comparable(resumed) == comparable(serial[1])
    assert resumed.set_index("run_id").loc[failed_id, "seed"] == failed["seed"]


def test_a_folder_of_another_experiment_is_refused(serial, small_file, tmp_path):
    other = write(tmp_path, SMALL.replace("seed = 20240501", "seed = 5"))
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(other, serial[0], Counting())
    assert "another experiment" in str(caught.value)


def test_a_failed_run_is_recorded_and_the_others_complete(tmp_path):
    text = SMALL.replace("replicates = 4", "replicates = 2").replace(
        '[parameters."appeal.capacity_per_million"]\nvalues = [0, 100, 1000, 5000, 20000]',
        '[parameters."listing.min_days"]\nvalues = [60, -5, 365]',
    )
    catalog = ex.run_experiment(write(tmp_path, text), tmp_path / "out", ex.SerialExecutor())
    assert len(catalog) == 6
    bad = catalog[catalog["listing.min_days"] == -5]
    good = catalog[catalog["listing.min_days"] != -5]
    assert set(bad["status"]) == {"failed"} and set(good["status"]) == {"complete"}
    assert all("listing.min_days" in e and ">= 0" in e and "-5" in e for e in bad["error"])
    assert bad["scenario_hash"].isna().all() and bad[OUTCOMES].isna().all().all()
    assert not any((tmp_path / "out" / "runs" / r).exists() for r in bad["run_id"])
    assert all((tmp_path / "out" / "runs" / r / "summary.json").is_file() for r in good["run_id"])
    # a failure inside a run (not only in validation) is caught and recorded too
    spec = ex.load_experiment(write(tmp_path, text))
    task = ex.plan_runs(spec, tmp_path / "out2").tasks[0]
    broken = type(task)(**{**task.__dict__, "outcomes": ["overall.no_such_figure"]})
    row = ex.execute_run(broken)
    assert row["status"] == "failed" and "overall.no_such_figure" in row["error"]


# ---------------------------------------------------------------- sensitivity


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict:
    """Analytic first-order and total Sobol' indices of the Ishigami function."""
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    return {"S1": [v1 / total, v2 / total, 0.0], "ST": [(v1 + v13) / total, v2 / total, v13 / total]}


def test_sobol_indices_of_the_ishigami_function():
    from SALib.test_functions import Ishigami

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
    X = sample("sobol", problem, 1024, seed=3)
    table = ex.indices("sobol", problem, X, Ishigami.evaluate(X), seed=3)
    truth = ishigami_indices()
    for kind in ("S1", "ST"):
        rows = table[table["index"] == kind].reset_index()
        for k, row in rows.iterrows():
            assert 0 < row["conf"] < 0.1, row  # an interval narrow enough to mean something
            # a 95% interval covers the truth; twice its half-width leaves room for the 1 in 20
            assert abs(row["value"] - truth[kind][k]) <= 2 * row["conf"], (kind, row["parameter"], row["value"], truth[kind][k])
            assert row["low"] == pytest.approx(row["value"] - row["conf"])


def test_morris_elementary_effects_of_a_linear_model():
    problem = {"num_vars": 2, "names": ["x1", "x2"], "bounds": [[0.0, 1.0], [0.0, 2.0]]}
    X = sample("morris", problem, 10, seed=1)
    table = ex.indices("morris", problem, X, 3 * X[:, 0] - X[:, 1]).set_index(["parameter", "index"])["value"]
    # mu* = |coefficient| x the width of the range; a linear model's effects never vary
    assert table[("x1", "mu_star")] == pytest.approx(3.0) and table[("x2", "mu_star")] == pytest.approx(2.0)
    assert table[("x2", "mu")] == pytest.approx(-2.0) and abs(table[("x1", "sigma")]) < 1e-9


MORRIS = SMALL.replace("replicates = 4", "replicates = 1").replace('method = "grid"', 'method = "morris"\nn = 3').replace(
    "values = [0, 100, 1000, 5000, 20000]", "range = [0, 20000]"
) + '[parameters."listing.objection.p_wrongful"]\nrange = [0.0, 1.0]\n'


# ---------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, as credsim's app is
        pass

    ex.cli.register(app)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], env={"NO_COLOR": "1", "COLUMNS": "200"})

    return invoke


def test_the_sensitivity_command_prints_and_writes_morris_indices(cli, tmp_path):
    path = write(tmp_path, MORRIS)
    points = len({point_key(s) for s in ex.make_design(ex.load_experiment(path)).sets})  # a point met twice runs once
    assert points < 9
    result = cli("sensitivity", path, "--out", tmp_path / "out", "--executor", "serial", "--quiet")
    assert result.exit_code == 0, result.output
    assert "Morris" in result.stdout and "mu_star" in result.stdout and "appeal.capacity_per_million" in result.stdout
    table = pd.read_csv(tmp_path / "out" / "sensitivity.csv")
    assert list(table.columns) == ["outcome", "parameter", "index", "value", "conf", "low", "high"]
    assert set(table["outcome"]) == set(OUTCOMES) and len(pq.ParquetDataset(tmp_path / "out" / "catalog").files) == points + 5
    assert "noise floor" in result.stdout and "too few for morris" in result.stderr  # n = 3 trajectories
    noise = pd.read_csv(tmp_path / "out" / "noise.csv")
    assert list(noise.columns) == ["outcome", "runs", "sd", "index", "floor"] and (noise["runs"] == 5).all()
    page = (tmp_path / "out" / "experiment.html").read_text(encoding="utf-8")
    assert "Morris screening of overall.appeals_filed" in page and "noise floor" in page
    filed = table[(table["outcome"] == "overall.appeals_filed") & (table["index"] == "mu_star")].set_index("parameter")["value"]
    floor = noise.set_index("outcome").loc["overall.appeals_filed", "floor"]
    # the propensity to object drives how many appeals are filed, above the seed noise
    assert filed["listing.objection.p_wrongful"] > floor > 0


def test_the_experiment_and_runs_commands(cli, tmp_path):
    text = SMALL.replace("replicates = 4", "replicates = 2").replace("values = [0, 100, 1000, 5000, 20000]", "values = [0, 5000]")
    path = write(tmp_path, text)
    result = cli("experiment", path, "--out", tmp_path / "out", "--executor", "serial")
    assert result.exit_code == 0, result.output
    assert "4 runs, 4 complete, 0 failed" in result.stdout and "mean ± half-width of the 95% t interval" in result.stdout
    listed = cli("runs", tmp_path / "out")
    assert listed.exit_code == 0 and rid({CAP: 5000.0}, 1) in listed.stdout and "complete" in listed.stdout
    again = cli("experiment", path, "--out", tmp_path / "out", "--executor", "serial")
    assert again.exit_code == 0 and "4 runs (4 already complete)" in again.stdout


def test_the_commands_fail_with_one_clean_message(cli, tmp_path):
    path = write(tmp_path, SMALL.replace("replicates = 4", "replicats = 4"))
    result = cli("experiment", path, "--executor", "serial")
    assert result.exit_code == 2 and "experiment.replicats: unknown field" in result.stderr
    assert "Traceback" not in result.output
    assert cli("runs", tmp_path / "nothing").exit_code == 2
    grid = write(tmp_path, SMALL, "grid.toml")
    refused = cli("sensitivity", grid, "--executor", "serial")
    assert refused.exit_code == 2 and "'sobol' or 'morris'" in refused.stderr


def test_failed_runs_make_the_experiment_command_exit_1(cli, tmp_path):
    text = SMALL.replace("replicates = 4", "replicates = 1").replace(
        '[parameters."appeal.capacity_per_million"]\nvalues = [0, 100, 1000, 5000, 20000]',
        '[parameters."listing.min_days"]\nvalues = [60, -5]',
    )
    result = cli("experiment", write(tmp_path, text), "--out", tmp_path / "out", "--executor", "serial", "--quiet")
    assert result.exit_code == 1 and "1 run(s) failed" in result.stderr
    failed = cli("runs", tmp_path / "out", "--failed")
    assert rid({"listing.min_days": -5}, 0) in failed.stdout and "listing.min_days" in failed.stdout
    assert rid({"listing.min_days": 60}, 0) not in failed.stdout


# ---------------------------------------------------------------- the public API


def test_the_public_api_is_pinned():
    assert ex.__all__ == sorted(ex.__all__)
    assert ex.__all__ == [
        "DaskExecutor", "Design", "Executor", "Experiment", "ExperimentError", "LocalExecutor", "RunSeed",
        "SerialExecutor", "analyze", "catalog_schema", "execute_run", "experiment_from_dict", "indices",
        "load_catalog", "load_experiment", "make_design", "make_executor", "plan_runs", "run_experiment",
        "run_id", "run_seed", "scenario_hash", "sensitivity", "summarize_replicates",
    ]  # fmt: skip
    assert issubclass(ex.ExperimentError, credsim.CredsimError)
    assert callable(ex.sensitivity) and ex.sensitivity.__name__ == "sensitivity"
    namespace: dict = {}
    exec("from credsim.experiments import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(ex.__all__)


def test_registering_the_commands_imports_nothing_heavy():
    heavy = "('pandas', 'scipy', 'SALib', 'distributed', 'dask', 'matplotlib')"
    code = (f"import sys, typer, credsim.cli; before = {{m for m in {heavy} if m in sys.modules}}; "
            "from credsim.experiments.cli import register; register(typer.Typer()); "
            f"print(sorted(m for m in {heavy} if m in sys.modules and m not in before))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert all(isinstance(e, ex.Executor) for e in (ex.SerialExecutor(), Counting()))


@pytest.mark.parametrize(("options", "executor"), [((), "local"), (("--workers", "1"), "local"), (("--workers", "1", "--executor", "dask"), "dask")])
def test_workers_alone_mean_a_local_process_pool(cli, tmp_path, options, executor):
    text = SMALL.replace("replicates = 4", "replicates = 1").replace("values = [0, 100, 1000, 5000, 20000]", "values = [0]")
    result = cli("experiment", write(tmp_path, text), "--out", tmp_path / "out", *options)
    assert result.exit_code == 0, result.output
    assert f"on the {executor} executor" in result.output


# ---------------------------------------------------------------- designs: lists, Monte Carlo, growth

TINY = SMALL.replace('"population.size" = 2000', '"population.size" = 400').replace('"population.days" = 30', '"population.days" = 10')


def test_an_explicit_list_of_parameter_sets(tmp_path):
    text = TINY.replace('[parameters."appeal.capacity_per_million"]\nvalues = [0, 100, 1000, 5000, 20000]\n', "").replace(
        'method = "grid"', 'method = "list"'
    ) + '[[sets]]\nappeal.capacity_per_million = 5\n"listing.min_days" = 90\n[[sets]]\n"appeal.capacity_per_million" = 50\nlisting.min_days = 30\n'
    spec = ex.load_experiment(write(tmp_path, text))
    design = ex.make_design(spec)
    assert design.sets == [{CAP: 5.0, "listing.min_days": 90}, {CAP: 50.0, "listing.min_days": 30}]
    assert design.parameters == [CAP, "listing.min_days"]
    broken = text + '[[sets]]\n"appeal.capacity_per_million" = 7\n'
    with pytest.raises(ex.ExperimentError) as caught:
        ex.load_experiment(write(tmp_path, broken, "broken.toml"))
    assert "sets[2]: every set must give the same fields" in str(caught.value)


def test_monte_carlo_samples_are_uniform_in_the_ranges_and_grow_in_place(tmp_path):
    text = TINY.replace('method = "grid"', 'method = "montecarlo"\nn = 400').replace(
        "values = [0, 100, 1000, 5000, 20000]", "range = [0, 100]") + '[parameters."listing.objection.p_wrongful"]\nrange = [0.2, 0.6]\n'  # fmt: skip
    spec = ex.load_experiment(write(tmp_path, text))
    design = ex.make_design(spec)
    x = np.array([[s[CAP], s["listing.objection.p_wrongful"]] for s in design.sets])
    assert ((x[:, 0] >= 0) & (x[:, 0] <= 100)).all() and ((x[:, 1] >= 0.2) & (x[:, 1] <= 0.6)).all()
    # uniform: the mean of 400 draws is within 4 standard errors of the middle (false alarm ~6e-5)
    assert abs(x[:, 1].mean() - 0.4) < 4 * 0.4 / math.sqrt(12 * 400)
    bigger = ex.make_design(ex.load_experiment(write(tmp_path, text.replace("n = 400", "n = 800"), "bigger.toml")))
    assert bigger.sets[:400] == design.sets


def test_sobol_designs_grow_by_powers_of_two_keeping_every_run(tmp_path):
    text = TINY.replace('method = "grid"', 'method = "sobol"\nn = 8').replace(
        "values = [0, 100, 1000, 5000, 20000]", "range = [0, 100]") + '[parameters."listing.objection.p_wrongful"]\nrange = [0.2, 0.6]\n'  # fmt: skip
    small = {t.run_id: t.seed for t in ex.plan_runs(ex.load_experiment(write(tmp_path, text)), "o").tasks}
    large = {t.run_id: t.seed for t in ex.plan_runs(ex.load_experiment(write(tmp_path, text.replace("n = 8", "n = 16"), "l.toml")), "o").tasks}
    assert set(small) < set(large) and all(large[k] == v for k, v in small.items())


def test_a_grid_grows_in_place_and_a_morris_design_refuses_to(tmp_path):
    one = TINY.replace("replicates = 4", "replicates = 1").replace("values = [0, 100, 1000, 5000, 20000]", "values = [0, 100]")
    out = tmp_path / "out"
    first = Counting()
    ex.run_experiment(write(tmp_path, one, "one.toml"), out, first)
    assert len(first.ran) == 2
    grown = one.replace("replicates = 1", "replicates = 2").replace("values = [0, 100]", "values = [0, 100, 1000]")
    second = Counting()
    catalog = ex.run_experiment(write(tmp_path, grown, "grown.toml"), out, second)
    assert sorted(second.ran) == sorted([rid({CAP: 0.0}, 1), rid({CAP: 100.0}, 1), rid({CAP: 1000.0}, 0), rid({CAP: 1000.0}, 1)])
    assert len(catalog) == 6 and set(catalog["status"]) == {"complete"}
    assert json.loads((out / "experiment.json").read_text())["replicates"] == 2
    # a value put first: the points keep their runs, and each gets its place in the new design
    first_place = write(tmp_path, grown.replace("values = [0, 100, 1000]", "values = [50, 0, 100, 1000]"), "first.toml")
    third = Counting()
    catalog = ex.run_experiment(first_place, out, third)
    assert sorted(third.ran) == sorted([rid({CAP: 50.0}, 0), rid({CAP: 50.0}, 1)])
    assert catalog.groupby("set_index")[CAP].agg(set).to_dict() == {0: {50.0}, 1: {0.0}, 2: {100.0}, 3: {1000.0}}
    table = ex.summarize_replicates(ex.load_catalog(out))  # the stored places collide; the points do not
    assert sorted(table[table["outcome"] == OUTCOMES[0]][CAP]) == [0.0, 50.0, 100.0, 1000.0] and set(table["n"]) == {2}
    morris = write(tmp_path, MORRIS.replace('"population.size" = 2000', '"population.size" = 300').replace('"population.days" = 30', '"population.days" = 3'), "m.toml")
    ex.run_experiment(morris, tmp_path / "m", ex.SerialExecutor())
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(write(tmp_path, morris.read_text().replace("n = 3", "n = 4"), "m4.toml"), tmp_path / "m", Counting())
    assert "cannot grow" in str(caught.value) and "sampling.n changed from 3 to 4" in str(caught.value)


# ---------------------------------------------------------------- nothing lost


def tiny_grid(tmp_path: Path, values: str = "[0, 100]", name: str = "tiny.toml") -> Path:
    return write(tmp_path, TINY.replace("replicates = 4", "replicates = 1").replace("values = [0, 100, 1000, 5000, 20000]", f"values = {values}"), name)


def test_a_folder_from_the_old_seeding_is_refused_with_a_reason(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "experiment.json").write_text(json.dumps({"name": "small", "fingerprint": "x"}))
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(tiny_grid(tmp_path), out, Counting())
    assert "older credsim" in str(caught.value) and "new --out" in str(caught.value)


def test_a_damaged_experiment_json_is_a_clear_message(tmp_path, cli):
    out = tmp_path / "out"
    ex.run_experiment(tiny_grid(tmp_path), out, ex.SerialExecutor())
    (out / "experiment.json").write_text('{"name": "tiny", "finger')
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(tiny_grid(tmp_path), out, Counting())
    assert str(caught.value).startswith(f"{out / 'experiment.json'}: unreadable experiment.json") and "damaged" in str(caught.value)
    result = cli("experiment", tiny_grid(tmp_path), "--out", out, "--executor", "serial", "--quiet")
    assert result.exit_code == 2 and "Traceback" not in result.output and "unreadable experiment.json" in result.stderr


class Losing(ex.SerialExecutor):
    """Runs each task, then loses the record of one (as a worker writing elsewhere would)."""

    def submit(self, fn, /, *args):
        future = super().submit(fn, *args)
        if args[0].replicate == 0 and args[0].parameters[CAP] == 100.0:
            (Path(args[0].out_dir) / "catalog" / f"{args[0].run_id}.parquet").unlink()
        return future


def test_a_run_missing_after_the_experiment_is_named_and_the_call_fails(tmp_path):
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(tiny_grid(tmp_path), tmp_path / "out", Losing())
    assert "1 of 2 run(s) missing or damaged" in str(caught.value) and f"{rid({CAP: 100.0}, 0)}: missing" in str(caught.value)


def test_the_out_folder_is_absolute_before_any_task_leaves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tasks = ex.plan_runs(ex.load_experiment(tiny_grid(tmp_path)), "relative/out").tasks
    assert all(t.out_dir == str(tmp_path / "relative" / "out") for t in tasks)


def test_a_second_live_experiment_in_one_folder_is_refused(tmp_path):
    from credsim.experiments.runner import folder_lock

    out = tmp_path / "out"
    with folder_lock(out):
        with pytest.raises(ex.ExperimentError) as caught:
            ex.run_experiment(tiny_grid(tmp_path), out, Counting())
    assert "another experiment is running in this folder" in str(caught.value) and f"pid {os.getpid()}" in str(caught.value)
    assert len(ex.run_experiment(tiny_grid(tmp_path), out, ex.SerialExecutor())) == 2  # released


class Foreign(ex.SerialExecutor):
    """A worker whose numpy is another version than the client's."""

    def submit(self, fn, /, *args):
        import dataclasses

        return super().submit(fn, dataclasses.replace(args[0], expected={**args[0].expected, "numpy": "0.0.1"}))


def test_a_worker_with_other_libraries_is_refused(tmp_path):
    with pytest.raises(ex.ExperimentError) as caught:
        ex.run_experiment(tiny_grid(tmp_path), tmp_path / "out", Foreign())
    message = str(caught.value)
    assert "worker refused" in message and "numpy: the client has '0.0.1', this worker" in message
    assert not list((tmp_path / "out" / "catalog").glob("*.parquet")), "a refused worker recorded a run"


def test_dask_workers_with_other_libraries_are_refused_before_any_run(dask_cluster):
    address, _ = dask_cluster
    expected = {key: provenance.environment()[key] for key in provenance.MUST_MATCH}
    with ex.DaskExecutor(address) as dask:
        dask.check_workers(expected)  # the same installation: accepted
        with pytest.raises(ex.ExperimentError) as caught:
            dask.check_workers({**expected, "pyarrow": "0.0.1"})
    message = str(caught.value)
    assert "workers refused" in message and message.count("pyarrow: the client has '0.0.1', this worker") == 2


def test_a_missing_dask_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ex.ExperimentError) as caught:
        ex.DaskExecutor()
    assert "pip install -e '.[dask]'" in str(caught.value)


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def alive(pids: list[int]) -> list[int]:
    import psutil

    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("signum", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow), pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_killing_the_command_leaves_no_pool_worker_running(tmp_path, signum):
    text = TINY.replace("replicates = 4", "replicates = 20").replace('"population.days" = 10', '"population.days" = 200')
    command = [str(Path(sys.executable).parent / "credsim"), "experiment", str(write(tmp_path, text)), "--out", str(tmp_path / "out"), "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers: list[int] = []
        for _ in range(1200):  # the pool starts once the plan is made
            workers = descendants(process.pid)
            if len(workers) >= 2 and (tmp_path / "out" / "experiment.json").exists():
                break
            time.sleep(0.1)
        assert len(workers) >= 2, "the pool never started"
        process.send_signal(signum)
        process.wait(timeout=120)
        for _ in range(300):  # workers look for their parent every 0.5 s
            if not alive(workers):
                break
            time.sleep(0.1)
        assert alive(workers) == [], "pool workers outlived the command"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in alive(descendants(process.pid)):
            os.kill(pid, signal.SIGKILL)


def test_an_experiment_through_dask_processes_started_elsewhere_lands_in_the_clients_folder(tmp_path, dask_cluster):
    """The real `dask scheduler` and `dask worker`s of the fixture run in directories of their
    own; the client, in a third, gives a relative --out: every run must be in its folder."""
    address, _ = dask_cluster
    (tmp_path / "client").mkdir()
    path = tiny_grid(tmp_path / "client", "[0, 100, 1000]")
    credsim_command = str(Path(sys.executable).parent / "credsim")
    done = subprocess.run([credsim_command, "experiment", path.name, "--scheduler", address, "--out", "rel/out", "--quiet"],
                          cwd=tmp_path / "client", capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    catalog = ex.load_catalog(tmp_path / "client" / "rel" / "out")
    assert len(catalog) == 3 and set(catalog["status"]) == {"complete"}
    for run in catalog["run_id"]:
        verify(tmp_path / "client" / "rel" / "out" / "runs" / run)
    assert not any((ELSEWHERE[k] / "rel").exists() for k in ("worker", "scheduler"))


# ---------------------------------------------------------------- arms compared, sensitivity read


def test_differences_are_paired_over_common_seeds_and_stay_in_range(serial):
    from credsim.experiments.compare import differences

    _, catalog = serial
    table = differences(catalog)
    row = table[(table["parameters"] == f"{CAP}=20000.0") & (table["outcome"] == "overall.backlog_end")].iloc[0]
    base = catalog[catalog[CAP] == 0.0].set_index("replicate")["overall.backlog_end"]
    high = catalog[catalog[CAP] == 20000.0].set_index("replicate")["overall.backlog_end"]
    d = (high - base).to_numpy()
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert row["method"] == "paired over 4 common seed(s)" and row["difference"] == pytest.approx(d.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    shares = table[table["outcome"] == "overall.wrongful_share"]
    assert ((shares["ci_low"] >= -1) & (shares["ci_high"] <= 1)).all()


def test_two_folders_are_compared_paired_or_unpaired_saying_so(serial, tmp_path, cli):
    from credsim.experiments.compare import compare_folders

    out, _ = serial
    same = compare_folders(out, out)
    assert set(same["method"]) == {"paired over 4 common seed(s)"} and (same["difference"] == 0).all()
    other = tiny_grid(tmp_path, "[0, 100]")
    ex.run_experiment(other, tmp_path / "a", ex.SerialExecutor())
    reseeded = write(tmp_path, other.read_text().replace("seed = 20240501", "seed = 3"), "b.toml")
    ex.run_experiment(reseeded, tmp_path / "b", ex.SerialExecutor())
    frame = compare_folders(tmp_path / "a", tmp_path / "b")
    assert set(frame["method"]) == {"unpaired (no common seeds; Welch)"}
    from credsim.cli import app as credsim_app

    done = CliRunner().invoke(credsim_app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--csv", str(tmp_path / "c.csv")],
                              env={"NO_COLOR": "1", "COLUMNS": "200"})  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "unpaired" in done.output and list(pd.read_csv(tmp_path / "c.csv").columns)[:3] == ["point", "parameters", "outcome"]


def test_sensitivity_warnings_and_the_ranking_check():
    from credsim.experiments.analysis import ranking_check, warnings

    frame = pd.DataFrame({"outcome": "y", "parameter": ["a", "b", "c"], "index": "S1", "value": [1.2, -0.3, 0.02],
                          "conf": [0.1, 0.05, 0.01]})  # fmt: skip
    frame["low"], frame["high"] = frame["value"] - frame["conf"], frame["value"] + frame["conf"]
    frame.attrs["method"] = "sobol"
    said = " | ".join(warnings(frame, 16, {"y": {"index": "S1", "floor": 0.05}}))
    assert "sampling.n = 16 base sample N is too few" in said and "S1 = 1.2 is above 1" in said
    assert "b: S1 = -0.3 is negative beyond its interval" in said and "c: S1 = 0.02 is within the noise floor" in said

    def morris(values, half, floor, seeds="common"):
        table = pd.DataFrame({"outcome": "y", "parameter": ["a", "b", "inert"], "index": "mu_star", "value": values})
        table["low"] = table["value"] - half
        table.attrs.update(method="morris", noise={"y": {"floor": floor}}, seeds=seeds)
        return table

    # common random numbers: b is real (its interval excludes 0) though below the floor
    assert ranking_check(morris([0.5, 0.02, 0.0], 0.01, 0.05), morris([0.4, 0.03, 0.0], 0.01, 0.05))["same"].all()
    check = ranking_check(morris([0.5, 0.2, 0.0], 0.01, 0.05), morris([0.2, 0.4, 0.0], 0.01, 0.05))
    assert not check["same"].any() and check["first"].iloc[0] == "a, b" and check["second"].iloc[0] == "b, a"
    # independent seeds: below the floor is noise, whatever the interval
    alone = ranking_check(morris([0.5, 0.02, 0.0], 0.01, 0.05, "independent"), morris([0.4, 0.03, 0.0], 0.01, 0.05, "independent"))
    assert alone["first"].iloc[0] == "a" and alone["floor"].iloc[0] == 0.05


def test_a_catalog_row_and_the_folder_reproduce_the_run(serial):
    from credsim import load_scenario, simulate

    out, catalog = serial
    row = catalog.iloc[6]
    scenario = with_overrides(load_scenario(out / "base.toml"), {CAP: row[CAP]})
    assert hashlib.sha256(to_toml(scenario).encode()).hexdigest() == row["scenario_hash"]
    again = simulate(scenario, int(row["seed"]))
    assert json.loads((out / "runs" / row["run_id"] / "summary.json").read_text()) == json.loads(json.dumps(again.summary))


def test_the_experiment_page_draws_in_chromium_at_phone_and_desktop_widths(serial, tmp_path):
    """experiment.html of the grid experiment, and of a Morris analysis, opens offline: every
    chart drawn, no console error, no request anywhere."""
    from credsim.experiments.page import build_page

    chromium = Path("/usr/bin/chromium")
    if os.environ.get("CREDSIM_SKIP_BROWSER") == "1":
        pytest.skip("CREDSIM_SKIP_BROWSER=1")
    assert chromium.exists(), f"{chromium} is missing: run scripts/install-browser.sh as root"
    from playwright.sync_api import sync_playwright

    out = tmp_path / "exp"
    shutil.copytree(serial[0], out)
    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0.0, 1.0], [0.0, 2.0]]}
    X = sample("morris", problem, 10, seed=1)
    indices = ex.indices("morris", problem, X, 3 * X[:, 0] - X[:, 1])
    indices.insert(0, "outcome", "overall.ever_listed")
    indices.attrs.update(method="morris", noise={"overall.ever_listed": {"floor": 0.5}})
    paths = {"grid": build_page(out), "morris": build_page(out, indices)}
    assert paths["grid"] == out / "experiment.html"
    problems, foreign = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            for width in (390, 1280):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
                page.on("request", lambda request: request.url.startswith(("file:", "data:", "about:")) or foreign.append(request.url))
                page.goto(paths["morris"].as_uri())
                page.wait_for_function("() => [...document.querySelectorAll('.plot')].every(p => p.querySelector('svg.main-svg'))")
                count = page.locator(".plot").count()
                assert count == len(OUTCOMES) + 1  # each outcome against the capacity, and the Morris chart
                assert "Morris screening of overall.ever_listed" in page.inner_text("body")
                page.close()
        finally:
            browser.close()
    assert problems == [] and foreign == []


def test_the_example_experiments_of_the_readme_and_docs_load():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    for name in ("appeal-capacity", "screening"):
        assert f"examples/{name}.toml" in readme
        spec = ex.load_experiment(root / "examples" / f"{name}.toml")
        assert spec.name == name and spec.seeds == "common"
    assert ex.load_experiment(root / "examples" / "screening.toml").sampling.method == "morris"
