"""The installed `credsim` command, run as a user would run it (a subprocess).

Starting the command costs about a second, so the short commands run together, in parallel,
in one fixture (`ran`); each test then checks one of them."""

from __future__ import annotations

import copy
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
import tomllib
from importlib import resources

import pyarrow.parquet as pq
import pytest
import tomli_w

import credsim
from credsim.resources import available_bytes, estimate_bytes

FILES = {"scenario.toml", "daily.parquet", "regions.parquet", "episodes.parquet", "summary.json", "manifest.json", "report.html"}


def flat(text: str) -> str:
    """Collapse whitespace, so that text wrapped by a table reads as one line."""
    return " ".join(text.split())


def assert_clean_failure(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    for fragment in fragments:
        assert fragment in proc.stderr, f"{fragment!r} not in stderr:\n{proc.stderr}"


# ---------------------------------------------------------------- the commands


BRACKETS = {"tag-like": "[debt_default]", "closing-tag": "[/x]"}
# one broken file of each class (conftest.BAD_FILES has more; the loader tests try them all)
CLI_BAD_CASES = [
    "missing_section", "unknown_nested_key", "wrong_type", "probability_above_1", "shares_not_1",
    "unknown_group_in_watch", "nan", "invalid_toml", "bad_utf8",
]  # fmt: skip


@pytest.fixture(scope="module")
def ran(credsim_cli, city, bad_files, tmp_path_factory):
    """name -> CompletedProcess of each command below; ran["root"] is their folder."""
    root = tmp_path_factory.mktemp("cli")
    (root / "quiet").mkdir()
    (root / "taken").write_text("not a folder\n")
    (root / "good.toml").write_text(tomli_w.dumps(city), encoding="utf-8")
    (root / "a.toml").write_text('[meta]\nname = "a"\nextends = "b.toml"\n')
    (root / "b.toml").write_text('[meta]\nname = "b"\nextends = "a.toml"\n')
    for name, found in BRACKETS.items():
        data = copy.deepcopy(city)
        data["listing"]["immediate"] = found  # a string where a list is expected
        (root / f"brackets-{name}.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    small = ("-n", 500, "-d", 5)
    jobs = {
        "run": (("run", "city", "--population", 2000, "--days", 30, "--seed", 5, "--out", root / "run"), {}),
        "quiet": (("run", "--population", 300, "--days", 3, "--seed", 3, "--quiet"), {"cwd": root / "quiet"}),
        "bad_set": (("run", *small, "--set", "nonsense.key=1", "--out", root / "D-set"), {}),
        "no_equals": (("run", *small, "--set", "listing.min_days", "--out", root / "D-eq"), {}),
        "unknown": (("run", "atlantis", *small, "--out", root / "D-unknown"), {}),
        "out_file": (("run", *small, "--out", root / "taken"), {}),
        "scenarios": (("scenarios",), {}),
        "validate_good": (("validate", root / "good.toml"), {}),
        "validate_missing": (("validate", root / "absent.toml"), {}),
        "validate_cycle": (("validate", root / "a.toml"), {}),
        **{f"validate:{case}": (("validate", bad_files[case][0]), {}) for case in CLI_BAD_CASES},
        **{f"brackets:{name}": (("validate", root / f"brackets-{name}.toml"), {}) for name in BRACKETS},
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(credsim_cli, *args, **kwargs) for name, (args, kwargs) in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    results["root"] = root
    return results


# ---------------------------------------------------------------- run


def test_run_writes_the_five_files(ran):
    proc, out = ran["run"], ran["root"] / "run"
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == FILES  # and no staging folder left behind
    for name in ("daily.parquet", "regions.parquet"):
        assert pq.read_table(out / name).num_rows > 0
    pq.read_table(out / "episodes.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["scenario"], summary["population"], summary["days"], summary["seed"]) == ("city", 2000, 30, 5)


def test_run_prints_headline_table_for_each_group(ran, city):
    proc = ran["run"]
    text = proc.stdout
    for group in city["population"]["groups"]:
        assert group in text
    assert "overall" in text
    for label in ("ever listed", "wrongful", "disparate impact"):
        assert label in text
    assert str(ran["root"] / "run") in "".join(text.split())  # "wrote DIR", however wrapped


def test_run_shows_progress(ran):
    assert "30/30" in ran["run"].stderr


def test_run_matches_the_library(ran):
    """The command adds nothing: its summary is the library's for the same scenario and seed."""
    out = ran["root"] / "run"
    scenario = credsim.load_scenario("city", ["population.size=2000", "population.days=30"])
    assert json.loads((out / "summary.json").read_text()) == credsim.simulate(scenario, 5).summary
    assert credsim.load_scenario(out / "scenario.toml") == scenario


def test_run_quiet_writes_default_folder(ran):
    proc = ran["quiet"]
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in (ran["root"] / "quiet" / "runs" / "city-seed3").iterdir()} == FILES
    assert "3/3" not in proc.stderr and "ever listed" not in proc.stdout


@pytest.mark.parametrize(
    "name, folder, fragments",
    [
        ("bad_set", "D-set", ["nonsense.key"]),
        ("no_equals", "D-eq", ["listing.min_days", "KEY=VALUE"]),
        ("unknown", "D-unknown", ["atlantis", "city"]),
    ],
)
def test_run_with_bad_input_exits_2_and_writes_nothing(ran, name, folder, fragments):
    assert_clean_failure(ran[name], *fragments)
    assert not (ran["root"] / folder).exists()


def test_run_out_is_an_existing_file(ran):
    assert_clean_failure(ran["out_file"], "taken")
    assert (ran["root"] / "taken").read_text() == "not a folder\n"


def test_run_too_large_is_refused_before_any_work(credsim_cli, tmp_path):
    scenario = credsim.load_scenario("city", ["population.size=1000000000"])
    if estimate_bytes(scenario) <= available_bytes():
        pytest.skip("this machine could hold a billion people")
    out = tmp_path / "D"
    start = time.monotonic()
    proc = credsim_cli("run", "--population", 1_000_000_000, "--days", 30, "--out", out, timeout=60)
    elapsed = time.monotonic() - start
    assert_clean_failure(proc, "GiB", "1,000,000,000")
    assert re.search(r"\d+(\.\d+)? GiB", proc.stderr)
    assert "/30" not in proc.stderr  # no progress: no day was run
    assert elapsed < 30
    assert not out.exists()


# ---------------------------------------------------------------- scenarios


def test_scenarios_lists_every_builtin_with_its_description(ran):
    proc = ran["scenarios"]
    assert proc.returncode == 0, proc.stderr
    text = flat(proc.stdout)
    folder = resources.files("credsim.scenario") / "builtin"
    names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))
    assert "city" in names
    for name in names:
        assert name in text
    description = tomllib.loads((folder / "city.toml").read_text(encoding="utf-8"))["meta"]["description"]
    assert re.search(r"\bcity\b( \(default\))? " + re.escape(flat(description.splitlines()[0])), text), text


# ---------------------------------------------------------------- validate


def test_validate_good_file_exits_0(ran):
    proc = ran["validate_good"]
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


@pytest.mark.parametrize("case", CLI_BAD_CASES)
def test_validate_bad_file_exits_2_naming_the_field(ran, bad_files, case):
    path, fragments = bad_files[case]
    assert_clean_failure(ran[f"validate:{case}"], path.name, *fragments)


@pytest.mark.parametrize(
    "name, fragment",
    [("validate_missing", "absent.toml"), ("validate_cycle", "cycle")],
)
def test_validate_other_failures_exit_2(ran, name, fragment):
    assert_clean_failure(ran[name], fragment)


@pytest.mark.parametrize("name", list(BRACKETS))
def test_validate_prints_bracketed_values_verbatim(ran, name):
    assert_clean_failure(ran[f"brackets:{name}"], "listing.immediate", BRACKETS[name])


def test_run_says_what_it_is_doing_in_stages(ran):
    text = ran["run"].stderr
    stages = ["building the population", "simulating", "writing the outputs", "writing the report"]
    where = [text.find(stage) for stage in stages]
    assert all(i >= 0 for i in where) and where == sorted(where), text
    assert "30/30 days" in text


# ---------------------------------------------------------------- nothing is replaced


def _population(folder) -> int:
    return json.loads((folder / "summary.json").read_text())["population"]


def test_run_never_replaces_an_earlier_run(credsim_cli, tmp_path):
    """The default folder gets a fresh name; an existing --out is refused unless --overwrite,
    and --overwrite replaces only a folder that holds a credsim run."""
    first = credsim_cli("run", "-n", 300, "-d", 3, "-q", cwd=tmp_path)
    second = credsim_cli("run", "-n", 400, "-d", 3, "-q", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    runs = tmp_path / "runs"
    assert _population(runs / "city-seed0") == 300 and _population(runs / "city-seed0-2") == 400
    assert "city-seed0-2" in flat(second.stdout)

    before = (runs / "city-seed0" / "summary.json").read_bytes()
    refused = credsim_cli("run", "-n", 500, "-d", 3, "-q", "--out", runs / "city-seed0")
    assert_clean_failure(refused, "already holds a credsim run", "--overwrite")
    assert (runs / "city-seed0" / "summary.json").read_bytes() == before

    replaced = credsim_cli("run", "-n", 500, "-d", 3, "-q", "--out", runs / "city-seed0", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert _population(runs / "city-seed0") == 500

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text("my own notes\n")
    for extra in ((), ("--overwrite",)):
        proc = credsim_cli("run", "-n", 300, "-d", 3, "-q", "--out", mine, *extra)
        assert_clean_failure(proc, "holds no credsim run")
        assert sorted(p.name for p in mine.iterdir()) == ["summary.json"]
        assert (mine / "summary.json").read_text() == "my own notes\n"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert credsim_cli("run", "-n", 300, "-d", 3, "-q", "--out", empty).returncode == 0
    assert _population(empty) == 300


def test_write_run_still_replaces_a_run(tmp_path):
    """The refusal is the command line's: the library (experiments re-running a damaged run) replaces."""
    scenario = credsim.load_scenario("city", ["population.size=300", "population.days=3"])
    credsim.write_run(credsim.simulate(scenario, 1), tmp_path / "r")
    credsim.write_run(credsim.simulate(scenario, 2), tmp_path / "r")
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["seed"] == 2


def test_one_day_is_one_day(credsim_cli, tmp_path):
    done = credsim_cli("run", "-n", 300, "-d", 1, "--out", tmp_path / "one")
    assert done.returncode == 0, done.stderr
    assert "1 days" not in done.stdout + done.stderr and "300 people, 1 day," in flat(done.stdout)
