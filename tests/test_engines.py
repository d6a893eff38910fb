"""Choosing an engine (credsim.engines) and what a run, a resumed run, an experiment and a
comparison record and say about it: the surface of issue #18, at small populations.

Whether the two engines agree in distribution is tests/engines/test_agreement.py; here the
engines only need to run. The command-line runs start together, in parallel, in one fixture
(each costs about 3 s, most of it starting Python)."""

from __future__ import annotations

import json
import shutil
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import credsim
from credsim.results.manifest import DATA_FILES
import credsim.experiments as ex
from credsim import checkpoint
from credsim.cli import app
from credsim.compare import engines_warning
from credsim.engines import ENGINE_NAMES, engine
from credsim.errors import ScenarioError
from credsim.scenario.schema import Engine
from credsim.report import build_comparison, build_report

EVENT = {"name": "event", "random_numbers": engine("event").random_numbers}
REFERENCE = {"name": "reference", "random_numbers": engine("reference").random_numbers}
SMALL = ("city", "-n", 500, "-d", 20, "-s", 4, "-q")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def ran(credsim_cli, tmp_path_factory):
    """name -> CompletedProcess of each command below; ran["root"] is their folder."""
    root = tmp_path_factory.mktemp("engines")
    (root / "bad-engine.toml").write_text('[meta]\nname = "bad-engine"\nextends = "city"\n\n[engine]\nname = "x"\n', encoding="utf-8")
    (root / "event.toml").write_text('[meta]\nname = "on-events"\nextends = "city"\n\n[engine]\nname = "event"\n', encoding="utf-8")
    (root / "reference.toml").write_text('[meta]\nname = "on-reference"\nextends = "city"\n\n[engine]\nname = "reference"\n', encoding="utf-8")
    jobs = {
        "event": ("run", *SMALL, "--engine", "event", "--out", root / "event"),
        "event-again": ("run", *SMALL[:-1], "--engine", "event", "--out", root / "event-again"),  # not quiet
        "reference": ("run", *SMALL, "--engine", "reference", "--out", root / "reference"),  # named: whatever the default
        "default": ("run", *SMALL, "--out", root / "default"),
        "unknown": ("run", *SMALL, "--engine", "evnt", "--out", root / "unknown"),
        "unknown-in-file": ("run", root / "bad-engine.toml", "-n", 500, "-d", 20, "-q", "--out", root / "unknown-in-file"),
        "validate-bad": ("validate", root / "bad-engine.toml"),
        "validate-event": ("validate", root / "event.toml"),
        "engine-and-resume": ("run", "--resume", root / "nowhere", "--engine", "event"),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(credsim_cli, *args) for name, args in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    results["root"] = root
    return results


def _clean_failure(proc, *fragments) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in proc.stderr, f"{fragment!r} not in {proc.stderr!r}"
    return proc.stderr


# --------------------------------------------------------------------- credsim run --engine


def test_run_engine_event_is_recorded_in_scenario_and_summary(ran):
    assert ran["event"].returncode == 0, ran["event"].stderr
    folder = ran["root"] / "event"
    scenario = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    assert scenario["engine"] == {"name": "event"}
    assert json.loads((folder / "summary.json").read_text())["engine"] == EVENT
    # the default engine is recorded too, and so is one named on the command line
    default = ran["root"] / "default"
    name = Engine().name
    assert tomllib.loads((default / "scenario.toml").read_text(encoding="utf-8"))["engine"] == {"name": name}
    assert json.loads((default / "summary.json").read_text())["engine"] == {"name": name, "random_numbers": engine(name).random_numbers}
    reference = ran["root"] / "reference"
    assert tomllib.loads((reference / "scenario.toml").read_text(encoding="utf-8"))["engine"] == {"name": "reference"}
    assert json.loads((reference / "summary.json").read_text())["engine"] == REFERENCE


def test_the_same_seed_and_engine_give_identical_outputs_and_the_engine_matters(ran):
    a, b, reference = (ran["root"] / name for name in ("event", "event-again", "reference"))
    assert ran["event-again"].returncode == 0 and ran["reference"].returncode == 0
    assert "seed 4, event engine, into" in " ".join(ran["event-again"].stdout.split())  # the run says which engine
    for name in DATA_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # the same seed, the other engine: the same people, other days (--engine is not ignored)
    assert (a / "daily.parquet").read_bytes() != (reference / "daily.parquet").read_bytes()
    assert json.loads((a / "summary.json").read_text())["population"] == json.loads((reference / "summary.json").read_text())["population"]


def test_an_unknown_engine_on_the_command_line_is_one_line_naming_the_engines(ran):
    message = _clean_failure(ran["unknown"], "--engine 'evnt'", "reference, event")
    assert len(message.strip().splitlines()) == 1
    assert not (ran["root"] / "unknown").exists()


def test_an_unknown_engine_in_a_scenario_file_names_the_file_the_field_and_the_engines(ran):
    for name in ("unknown-in-file", "validate-bad"):
        message = _clean_failure(ran[name], "bad-engine.toml", "engine.name", "'reference' or 'event'", "found 'x'")
        assert len(message.strip().splitlines()) == 2, message  # the file, then its one problem
    assert not (ran["root"] / "unknown-in-file").exists()


def test_validate_accepts_a_scenario_naming_an_engine_and_says_which(ran):
    proc = ran["validate-event"]
    assert proc.returncode == 0, proc.stderr
    assert "valid scenario 'on-events'" in proc.stdout and "event engine" in proc.stdout


def test_engine_with_resume_is_refused(ran):
    _clean_failure(ran["engine-and-resume"], "--engine and --resume", "keeps the engine it started with")


def test_a_timeline_cannot_change_the_engine(tmp_path):
    path = tmp_path / "switch.toml"
    path.write_text('[meta]\nname = "switch"\nextends = "city"\n\n[[timeline]]\nday = 10\nset = { "engine.name" = "event" }\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        credsim.load_scenario(str(path))
    text = str(caught.value)
    assert "switch.toml" in text and "timeline.0.set.engine.name" in text and "one engine runs the whole run" in text


def test_simulate_engine_overrides_the_scenario_and_an_unknown_one_is_refused():
    scenario = credsim.load_scenario("city", ["population.size=300", "population.days=3"])
    result = credsim.simulate(scenario, 1, engine="event")
    assert result.scenario.engine.name == "event" and result.summary["engine"] == EVENT
    # one seed, two engines: the same people (the population is drawn before any engine runs)
    other = credsim.simulate(scenario, 1, engine="reference")
    assert other.summary["engine"] == REFERENCE
    for name in ("base_income", "dependents"):
        assert (getattr(result.world, name) == getattr(other.world, name)).all(), name
    for name in ("indptr", "indices"):  # the same contacts
        assert np.array_equal(getattr(result.world.network, name), getattr(other.world.network, name)), name
    with pytest.raises(credsim.CredsimError, match="the engines are reference, event"):
        credsim.simulate(scenario, 1, engine="evnt")
    assert ENGINE_NAMES == ("reference", "event")


# --------------------------------------------------------------------------- checkpoints

# errors, penalties, short listings, appeals and detention (tests/test_checkpoint.py): every part of the state moves
BUSY = ["population.size=1000", "population.days=30", "listing.notice_days=0", "observation.cameras.false_match_rate=0.002",
        "observation.malicious.rate=0.001", "score.deltas.online_criticism=-200", "listing.min_days=10",
        "score.forgiveness=0.05", "appeal.capacity_per_million=20000", "appeal.uphold_wrongful=1.0",
        "appeal.daily_rate=0.05", "sanctions.detention.threshold=1", "sanctions.detention.window_days=120"]


def test_a_resumed_event_run_keeps_its_engine_and_its_outputs(tmp_path):
    """A checkpoint of an event-engine run, resumed in process and by ``credsim run --resume``
    (which is given no engine), gives the uninterrupted run's outputs byte for byte."""
    scenario = credsim.load_scenario("city", BUSY)
    live, kept = tmp_path / "live", tmp_path / "kept"

    def keep(done, total):
        if done == 15:
            kept.mkdir()
            shutil.copy(live / checkpoint.FILE, kept / checkpoint.FILE)

    whole = credsim.simulate(scenario, 7, engine="event", progress=keep, checkpoint_dir=live, checkpoint_every=5)
    assert whole.summary["engine"] == EVENT and whole.episodes.num_rows > 20 and whole.summary["overall"]["appeals_upheld"] > 0
    resumed = credsim.resume(shutil.copytree(kept, tmp_path / "in-process"))
    assert resumed.scenario.engine.name == "event" and resumed.summary == whole.summary
    assert resumed.daily.equals(whole.daily) and resumed.episodes.equals(whole.episodes)

    expected = credsim.write_run(whole, tmp_path / "whole")
    folder = tmp_path / "cli"
    shutil.copytree(kept, folder / checkpoint.FOLDER)
    done = CliRunner().invoke(app, ["run", "--resume", str(folder), "-q"], env={"NO_COLOR": "1"})
    assert done.exit_code == 0, done.output
    for name in DATA_FILES:
        assert (folder / name).read_bytes() == (expected / name).read_bytes(), name
    assert tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))["engine"] == {"name": "event"}


# --------------------------------------------------------------------------- experiments

EXPERIMENT = """
[experiment]
name = "engines"
base = "court-blacklist"
replicates = 2
seed = 11
outcomes = ["overall.ever_listed", "overall.backlog_end"]

[experiment.overrides]
"population.size" = 300
"population.days" = 10
"behaviours.debt_default.rate.adults" = 0.002
{engine}
[parameters."appeal.capacity_per_million"]
values = [0, 1000]
"""


def _experiment(folder: Path, engine_line: str = "", name: str = "e.toml") -> Path:
    path = folder / name
    path.write_text(EXPERIMENT.format(engine=engine_line), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    """Folders of one small experiment run by each engine: name -> (folder, catalog)."""
    root = tmp_path_factory.mktemp("experiments")
    reference = _experiment(root, '"engine.name" = "reference"', "reference.toml")  # named: whatever the default
    event = _experiment(root, '"engine.name" = "event"', "event.toml")
    return {
        "reference": (root / "reference", ex.run_experiment(reference, root / "reference", ex.SerialExecutor())),
        "event": (root / "event", ex.run_experiment(event, root / "event", ex.SerialExecutor())),
        "files": (reference, event),
    }


def test_an_experiments_catalog_and_folder_record_its_engine(experiments):
    for name, expected in (("reference", REFERENCE), ("event", EVENT)):
        folder, catalog = experiments[name]
        assert set(catalog["status"]) == {"complete"} and (catalog["engine"] == name).all()
        assert json.loads((folder / "experiment.json").read_text())["engine"] == expected
        run = folder / "runs" / catalog["run_id"].iloc[0]
        assert json.loads((run / "summary.json").read_text())["engine"] == expected


def test_the_fingerprint_includes_the_engine_and_a_folder_refuses_the_other(experiments, tmp_path):
    reference, event = (ex.load_experiment(f) for f in experiments["files"])
    assert reference.fingerprint != event.fingerprint
    folder, _ = experiments["reference"]
    before = sorted(p.name for p in (folder / "catalog").iterdir())
    grown = _write(tmp_path / "grown.toml", experiments["files"][1].read_text(encoding="utf-8").replace("replicates = 2", "replicates = 3"))
    for other in (experiments["files"][1], grown):  # resumed, or grown, with the other engine
        with pytest.raises(ex.ExperimentError) as caught:
            ex.run_experiment(other, folder, ex.SerialExecutor())
        text = str(caught.value)
        assert "folder made by another engine" in text and "'reference' engine" in text and "'event' engine" in text
        assert "never mixes engines" in text
    assert sorted(p.name for p in (folder / "catalog").iterdir()) == before  # nothing run, nothing written


def test_an_experiment_cannot_vary_the_engine(tmp_path):
    text = EXPERIMENT.format(engine="") + '[parameters."engine.name"]\nvalues = ["reference", "event"]\n'
    with pytest.raises(ex.ExperimentError) as caught:
        ex.load_experiment(_write(tmp_path / "vary.toml", text))
    assert "parameters.engine.name: an experiment runs one engine" in str(caught.value)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_comparing_experiments_of_two_engines_says_so(experiments, tmp_path):
    from credsim.experiments.compare import compare_folders

    same = compare_folders(experiments["event"][0], experiments["event"][0])
    assert set(same["method"]) == {"paired over 2 common seed(s)"}
    frame = compare_folders(experiments["reference"][0], experiments["event"][0])
    assert set(frame["method"]) == {"paired over 2 common seed(s); engines reference and event: not common random numbers"}
    done = CliRunner().invoke(app, ["compare", str(experiments["reference"][0]), str(experiments["event"][0]), "--csv", str(tmp_path / "c.csv")],
                              env={"NO_COLOR": "1", "COLUMNS": "200"})  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "warning: reference was made by the reference engine and event by the event engine" in done.output
    assert pd.read_csv(tmp_path / "c.csv")["method"].str.contains("not common random numbers").all()


# --------------------------------------------------------------------------- comparisons


def test_compare_of_two_engines_runs_warns_and_of_one_does_not(ran, tmp_path):
    root = ran["root"]
    runner = CliRunner()
    env = {"NO_COLOR": "1", "COLUMNS": "200"}
    mixed = runner.invoke(app, ["compare", str(root / "reference"), str(root / "event"), "--csv", str(tmp_path / "m.csv")], env=env)
    assert mixed.exit_code == 0, mixed.output
    warnings = [line for line in mixed.output.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: reference was made by the reference engine and event by the event engine: the same seed gives the "
                        "same population but not common random numbers, so each difference includes the sampling noise of two "
                        "random-number schemes, not only the effect of the settings"]  # fmt: skip
    alike = runner.invoke(app, ["compare", str(root / "event"), str(root / "event-again"), "--csv", str(tmp_path / "a.csv")], env=env)
    assert alike.exit_code == 0, alike.output
    assert "warning" not in alike.output and "common random numbers" not in alike.output


def test_a_summary_without_an_engine_was_made_by_the_reference_engine():
    old, event = {"overall": {}}, {"engine": EVENT}
    assert engines_warning(old, {"engine": REFERENCE}) is None
    assert "A was made by the reference engine and B by the event engine" in engines_warning(old, event)


def test_the_report_shows_the_engine_and_a_comparison_of_two_engines_says_so(ran, tmp_path):
    root = ran["root"]
    page = build_report(root / "event").read_text(encoding="utf-8")
    assert f"<dt>engine</dt><dd>event ({EVENT['random_numbers']})</dd>" in page
    both = build_comparison(root / "reference", root / "event", tmp_path / "both.html").read_text(encoding="utf-8")
    assert "Run reference was made by the reference engine and run event by the event engine" in both
    alike = build_comparison(root / "event", root / "event-again", tmp_path / "alike.html").read_text(encoding="utf-8")
    assert "not common random numbers" not in alike


def test_decomposing_across_engines_names_the_engine_change_and_warns(ran, tmp_path):
    root = ran["root"]
    runner = CliRunner()
    done = runner.invoke(app, ["compare", str(root / "reference.toml"), str(root / "event.toml"), "--decompose", "-n", "300", "-d", "5",
                               "--out", str(tmp_path / "d")], env={"NO_COLOR": "1", "COLUMNS": "200"})  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "warning: A names the reference engine and B the event engine" in done.output
    saved = json.loads((tmp_path / "d" / "decomposition.json").read_text())
    assert [c["name"] for c in saved["changes"]] == ["engine"]
    report = (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    assert "the engine&#x27;s share is the sampling noise of two random-number schemes" in report
