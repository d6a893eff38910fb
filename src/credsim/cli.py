"""The ``credsim`` command: a thin adaptor over the library (no model logic here).

Every error credsim raises on purpose is printed as one message and exits with status 2.
"""

from __future__ import annotations

import csv
import errno
import io
import itertools
import json
import os
import re
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from credsim import __version__, checkpoint, compilation
from credsim.calibration import CALIBRATIONS, HISTORIES, fit
from credsim.compare import compare_summaries, to_csv
from credsim.errors import CredsimError
from credsim.report import build_report
from credsim.report.headline import days_text
from credsim.experiments.cli import register as register_experiments
from credsim.report.cli import register as register_report
from credsim.web.cli import register as register_web
from credsim.noise import run_warnings
from credsim.resources import check_disk, check_memory, out_of_memory_message
from credsim.results import read_summary, write_run
from credsim.results.manifest import MANIFEST
from credsim.results.outputs import check_file, write_file
from credsim.scenario import DEFAULT_SCENARIO, builtin_names, describe_builtins, load_scenario, with_overrides
from credsim.calibration_time import FIT_DATES, HELD_OUT, fit_over_time
from credsim.simulate import simulate
from credsim.stages import Stages

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Run a social credit system on a synthetic population and measure what it does.",
)
out = Console()
err = Console(stderr=True)

HEADLINES = (
    ("ever_listed", "ever listed", "pct"),
    ("listed_rate", "listed at end", "pct"),
    ("wrongful_share", "wrongful", "pct"),
    ("unjust_share", "unjust", "pct"),
    ("detained_rate", "detained", "pct"),
    ("disparate_impact", "disparate impact", "ratio"),
    ("median_days_listed", "median days listed", "days"),
    ("blocked_per_1000_per_year", "blocked /1000/yr", "num"),
    ("chilling_index", "chilling", "pct"),
    ("deterrence", "deterrence", "pct"),
)


def _fail(error: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _version(value: bool) -> None:
    if value:
        out.print(f"credsim {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = None,
) -> None:
    """credsim: synthetic people only; it scores no one real."""


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario name or a TOML file.")] = DEFAULT_SCENARIO,
    population: Annotated[Optional[int], typer.Option("--population", "-n", help="People (overrides population.size).")] = None,
    days: Annotated[Optional[int], typer.Option("--days", "-d", help="Days (overrides population.days).")] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Random seed: the run is fully determined by scenario and seed.")] = 0,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder [default: runs/SCENARIO-seedS].")] = None,
    settings: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: --set listing.min_days=365 (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
    checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", min=0, help="Save a checkpoint in OUT/.checkpoint every K days; 0: never (default: by the clock, about once a minute, at most 5% of the run's time; runs under a minute are not saved).")] = None,
    resume_dir: Annotated[Optional[Path], typer.Option("--resume", help="Continue the run in this output folder from its last checkpoint.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run already in --out (only a folder holding a credsim run, i.e. its manifest.json).")] = False,
    ctx: typer.Context = None,
) -> None:
    """Run a scenario and write its outputs."""
    overrides = list(settings or [])
    if population is not None:
        overrides.append(f"population.size={population}")
    if days is not None:
        overrides.append(f"population.days={days}")
    try:
        if resume_dir is not None:
            plan = _resume_plan(ctx, resume_dir)
            resolved, seed = plan.scenario, plan.seed
            out_dir = plan.folder.parent if plan.folder.name == checkpoint.FOLDER else resume_dir
        else:
            resolved = load_scenario(scenario, overrides)
        check_memory(resolved)
    except CredsimError as error:
        _fail(error)
    if resume_dir is not None:
        target = out_dir
    elif out_dir is None:
        target = fresh_folder(default_out_dir(resolved.meta.name, seed))
    else:
        target = out_dir
    problem = _unwritable(target)  # first: a name the file system cannot take is one line, not an OSError below
    if problem:
        _fail(CredsimError(f"--out {_shown(target)}: {problem}"))
    refusal = replacement_refusal(target, overwrite) if out_dir is not None and resume_dir is None else None
    if refusal:
        _fail(CredsimError(refusal))
    if checkpoint_every is None and resume_dir is not None:
        checkpoint_every = plan.every  # None: by the clock
    try:
        # a resumed run writes its next checkpoint over its own last one: that space is its
        reusable = _file_size(plan.folder / checkpoint.FILE) if resume_dir is not None else 0
        check_disk(resolved, target, checkpoints=checkpoint_every != 0, reusable=reusable)
    except CredsimError as error:
        _fail(error)
    if resume_dir is not None:
        go = partial(checkpoint.resume, plan.folder, checkpoint_every=checkpoint_every)
    else:
        folder = target / checkpoint.FOLDER if checkpoint_every != 0 else None
        go = partial(simulate, resolved, seed, checkpoint_dir=folder, checkpoint_every=checkpoint_every)

    size, horizon = resolved.population.size, resolved.population.days
    if not quiet:
        out.print(f"credsim {__version__}: [bold]{escape(resolved.meta.name)}[/], {size:,} people, {days_text(horizon)}, seed {seed}, "
                  f"into {escape(str(target))}", highlight=False)
    failure = None
    with Stages(err, enabled=not quiet) as stages:
        try:
            if compilation.cached() is False:
                stages.start("compiling the model (first run only: numba caches it for later runs)")
                compilation.compile_for(resolved)
            stages.start("building the population" if resume_dir is None else "reading the checkpoint")

            def on_day(done: int, total: int) -> None:
                if stages.stage != "simulating":
                    stages.start("simulating", total=total, completed=done)
                stages.advance_to(done)

            result = go(progress=on_day)
            stages.start("writing the outputs")
            written = write_run(result, target)
        except MemoryError:  # the estimate is checked first; a run that still runs out ends here
            failure = CredsimError(out_of_memory_message(resolved))
        except (CredsimError, OSError) as error:
            failure = _write_failure(error, target)
        else:
            checkpoint.discard(target)  # the outputs are complete: the checkpoint has done its job
            stages.start("writing the report")
            try:
                report = build_report(written)  # a view of the saved outputs, added to the manifest
            except (CredsimError, OSError) as error:
                failure = CredsimError(f"the run is complete in {written}, but its report could not be built: {error}; "
                                       f"try `credsim report {written}`")
    if failure is not None:
        _fail(failure)
    if not quiet:
        out.print(_headline_table(result.summary))
    for line in run_warnings(result.summary):  # brief, once: on stderr, even when quiet
        err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    out.print(f"wrote {escape(str(written))} (open {report.name} in a browser)", highlight=False, soft_wrap=True)


@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("name")
    table.add_column("description")
    for name, description in describe_builtins():
        table.add_row(name + (" (default)" if name == DEFAULT_SCENARIO else ""), description)
    out.print(table)


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="A scenario file (or built-in name) to check.")],
    settings: Annotated[Optional[list[str]], typer.Option("--set", help="Overrides to check with it.")] = None,
) -> None:
    """Check a scenario file and say what is wrong with it."""
    try:
        scenario = load_scenario(file, list(settings or []))
    except CredsimError as error:
        _fail(error)
    out.print(
        f"{escape(file)}: valid scenario {escape(repr(scenario.meta.name))} ({scenario.population.size:,} people, {days_text(scenario.population.days)})",
        highlight=False,
    )


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="A run folder, or a scenario name or file to run.")],
    run_b: Annotated[str, typer.Argument(help="A run folder, or a scenario name or file to run.")],
    population: Annotated[Optional[int], typer.Option("--population", "-n", help="People, for scenarios run here.")] = None,
    days: Annotated[Optional[int], typer.Option("--days", "-d", help="Days, for scenarios run here.")] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed, the same for both scenarios run here.")] = 0,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Where to write the table [default: compare-A-B.csv].")] = None,
    decompose: Annotated[bool, typer.Option("--decompose", help="Say which changes from A to B cause each difference (Shapley values over runs with common seeds).")] = False,
    by: Annotated[str, typer.Option("--by", help="With --decompose: one change per 'mechanism' (the map in docs/scenarios.md) or per 'field'.")] = "mechanism",
    replicates: Annotated[int, typer.Option("--replicates", "-r", min=1, max=100, help="With --decompose: seeds SEED..SEED+R-1, for 95% intervals.")] = 1,
    permutations: Annotated[int, typer.Option("--permutations", min=1, max=10_000, help="With --decompose and more than 8 changes: random orders sampled.")] = 64,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="With --decompose: folder for the decomposition, the two end runs and the report [default: compare-A-B].")] = None,
) -> None:
    """Put two runs side by side: every metric per group, and the difference.

    With --decompose, both are (re-)run here and every field that differs between them is
    grouped into named changes; each headline metric's difference is shared among the
    changes by Shapley values over runs of every combination of them, with common seeds.

    Two experiment folders (from `credsim experiment`) are compared point by point: B - A
    with a 95% interval, paired over the seeds they share (unpaired, and saying so, if none)."""
    try:
        label_a, label_b = (Path(x).name or x for x in (run_a, run_b))
        check_file(csv_path or Path(f"compare-{label_a}-{label_b}.csv"), "the comparison table")  # before any work
        experiments = [(Path(x) / "catalog").is_dir() for x in (run_a, run_b)]
    except (CredsimError, OSError, ValueError) as error:
        _fail(error if isinstance(error, CredsimError) else CredsimError(f"compare: {error}"))
    if decompose:
        _compare_decomposed(run_a, run_b, population, days, seed, by, replicates, permutations, csv_path, out_dir)
        return
    if any(experiments):
        if not all(experiments):
            _fail(CredsimError("compare: give two run folders (or scenarios), or two experiment folders, not one of each"))
        _compare_experiments(run_a, run_b, csv_path)
        return
    for source in (run_a, run_b):  # both checked before anything runs: a typo is not found after a long run
        missing = _missing_source(source)
        if missing:
            _fail(missing)
    summaries = []
    for source in (run_a, run_b):
        try:
            summaries.append(_summary_of(source, population, days, seed))
        except CredsimError as error:
            _fail(error)
    rows = compare_summaries(*summaries)
    label_a, label_b = (Path(x).name or x for x in (run_a, run_b))
    table = Table(title=escape(f"{label_a} vs {label_b}"), header_style="bold")
    for column in ("group", "metric", label_a, label_b, "difference"):
        table.add_column(escape(column), justify="left" if column in ("group", "metric") else "right")
    for row in rows:
        table.add_row(escape(row["group"]), row["metric"], *(_plain(row[k]) for k in ("a", "b", "difference")))
    out.print(table)
    target = csv_path or Path(f"compare-{label_a}-{label_b}.csv")
    _write_text_atomic(target, to_csv(rows, label_a, label_b), "the comparison table")
    out.print(f"wrote {escape(str(target))}", highlight=False, soft_wrap=True)


def _compare_decomposed(run_a, run_b, population, days, seed, by, replicates, permutations, csv_path, out_dir) -> None:
    from credsim.decompose import MISSING, decompose, to_csv
    from credsim.report import build_comparison
    from credsim.results import write_run
    from credsim.shapley import EXACT_LIMIT

    label_a, label_b = (Path(x).name or x for x in (run_a, run_b))
    try:
        scenarios = [_scenario_of(source, "A" if k == 0 else "B") for k, source in enumerate((run_a, run_b))]
        size = population or scenarios[0].population.size
        length = days or scenarios[0].population.days
        if population is None or days is None:
            differ = [n for n, x, y in (("size", scenarios[0].population.size, scenarios[1].population.size), ("days", scenarios[0].population.days, scenarios[1].population.days)) if x != y]
            if differ:
                err.print(f"note: B is run at A's population {', '.join(differ)}; give --population and --days to choose")
        a, b = (with_overrides(s, {"population.size": size, "population.days": length}) for s in scenarios)
        check_memory(a)
        check_memory(b)
        err.print(f"decomposing {label_a} -> {label_b}: {size:,} people, {length} days, seeds {seed}..{seed + replicates - 1}, the same seeds for every combination of changes")
        with Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("runs", total=None)
            result = decompose(a, b, seed, by=by, replicates=replicates, permutations=permutations, labels=(label_a, label_b),
                               on_run=lambda done, total: bar.update(task, completed=done, total=total))
    except CredsimError as error:
        _fail(error)
    changes = Table(title=f"{len(result.changes)} changes from {label_a} to {label_b} (by {by})", header_style="bold")
    for column in ("change", "field", label_a, label_b):
        changes.add_column(column)
    for change in result.changes:
        for k, name in enumerate(change.fields):
            x, y = ("(not set)" if v is MISSING else _plain(v) for v in result.fields[name])
            changes.add_row(change.name if k == 0 else "", name, x, y)
    out.print(changes)
    if result.method == "exact":
        out.print(f"Shapley values, exact: all {result.coalitions_run} combinations of the changes were run.")
    else:
        out.print(f"Shapley values, estimated: more than {EXACT_LIMIT} changes, so {result.permutations} random orders were sampled "
                  f"({result.coalitions_run} combinations run); they add up to B - A exactly but each is an estimate.")
    undefined = []
    groups = list(dict.fromkeys(row.group for row in result.rows))
    spread = f" (mean of {replicates} seeds; ± half the 95% interval)" if replicates > 1 else " (one seed: no interval; see --replicates)"
    out.print(f"What made {label_b} - {label_a}: each change's share of B - A{spread}")
    for group in groups:
        table = Table(title=group, header_style="bold")
        for column in ("metric", "A", "B", "B - A", *(c.name for c in result.changes)):
            table.add_column(column, justify="left" if column == "metric" else "right", overflow="fold", no_wrap=column == "metric")
        for row in (r for r in result.rows if r.group == group):
            if row.contributions is None:
                cells = ["undefined"] * len(result.changes)
                undefined.append(f"{row.group} {row.metric}: undefined in {_where(row.undefined_in, result.coalitions_run)}")
            else:
                cells = [_short(x) + (f" ±{(hi - lo) / 2:.2g}" if row.intervals else "") for x, (lo, hi) in zip(row.contributions, row.intervals or [(0, 0)] * len(row.contributions))]
            table.add_row(row.metric, _short(row.a), _short(row.b), _short(row.total), *cells)
        out.print(table)
    for line in undefined:
        out.print(f"not attributed: {line} (a median never reached, or no one listed to take a share of)", highlight=False)
    folder = out_dir or Path(f"compare-{label_a}-{label_b}")
    try:
        write_run(result.ends[0], folder / "a")
        write_run(result.ends[1], folder / "b")
        _write_text_atomic(folder / "decomposition.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n", "the decomposition")
        _write_text_atomic(folder / "decomposition.csv", to_csv(result), "the decomposition table")
        if csv_path is not None:
            _write_text_atomic(csv_path, to_csv(result), "the decomposition table")
        build_comparison(folder / "a", folder / "b", folder / "report.html")
    except (CredsimError, OSError) as error:
        _fail(CredsimError(f"compare: cannot write the decomposition: {error}"))
    out.print(f"wrote {folder} (decomposition.json, decomposition.csv, the end runs a/ and b/ with seed {seed}, report.html)"
              + (f" and {csv_path}" if csv_path is not None else ""))


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _where(coalitions: list[str], run: int) -> str:
    if len(coalitions) >= run:
        return "every combination of the changes, A and B included"
    shown = ", ".join(coalitions[:4])
    return shown + (f" and {len(coalitions) - 4} more combinations" if len(coalitions) > 4 else "")


def _scenario_of(source: str, which: str):
    """The scenario of a run folder (its scenario.toml, to be re-run), or a scenario name or file."""
    path = Path(source)
    if path.is_dir() and source not in builtin_names():
        toml = path / "scenario.toml"
        if not toml.is_file():
            raise CredsimError(f"{source}: a folder without scenario.toml; give a run folder, a scenario name or a scenario file")
        err.print(f"note: {which} = {source} is a run folder: its scenario.toml is run again here, at the size, days and seed given")
        return load_scenario(str(toml))
    return load_scenario(source)


def _compare_experiments(dir_a: str, dir_b: str, csv_path: Path | None) -> None:
    from credsim.experiments.cli import compare_folders

    compare_folders(dir_a, dir_b, csv_path)


@app.command()
def calibrate(
    scenario: Annotated[str, typer.Argument(help=f"The scenario to calibrate: {', '.join(CALIBRATIONS)}.")],
    population: Annotated[int, typer.Option("--population", "-n", min=1000, help="People in each calibration run.")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0)] = 0,
    iterations: Annotated[int, typer.Option("--iterations", min=1, max=50, help="At most this many runs.")] = 6,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Stop when every relative error is within this.")] = 0.01,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for calibration.json and .csv.")] = None,
    over_time: Annotated[bool, typer.Option("--over-time", help="court-blacklist: fit a piecewise-linear default rate and a constant one to every published date but 2018-12-31, and report the error on that held-out date (calibration-over-time.json).")] = False,
) -> None:
    """Fit a scenario's free parameters to published aggregate figures."""
    if over_time and scenario != "court-blacklist":
        _fail(CredsimError(f"calibrate --over-time: only court-blacklist has dated published figures; got {scenario!r}"))
    if scenario not in CALIBRATIONS:
        _fail(CredsimError(f"calibrate: no published targets for {scenario!r}; calibrations exist for: {', '.join(CALIBRATIONS)}"))
    try:
        base = load_scenario(scenario, [f"population.size={population}"])
        check_memory(base)
    except CredsimError as error:
        _fail(error)
    targets = CALIBRATIONS[scenario]()
    target_dir = out_dir or Path("runs") / f"calibrate-{scenario}"
    problem = _unwritable(target_dir)
    if problem:
        _fail(CredsimError(f"--out {_shown(target_dir)}: {problem}"))
    out.print(f"calibrating [bold]{scenario}[/] at {population:,} people, {base.population.days:,} days, seed {seed}")
    if over_time:
        _calibrate_over_time(base, population, seed, iterations, tolerance, target_dir)
        return
    histories: list = []  # each run's rows against every published date (small; the runs themselves are not kept)

    def run_one(resolved, run_seed):
        with Progress(TextColumn(f"run {len(histories) + 1}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("days", total=resolved.population.days)
            result = simulate(resolved, run_seed, progress=lambda done, total: bar.update(task, completed=done))
        histories.append(HISTORIES[scenario](result) if scenario in HISTORIES else [])
        return result

    def show(step) -> None:
        errors = step.errors(targets)
        out.print(f"run {len(histories)}: " + ", ".join(f"{k} = {v:.4g} ({errors[k]:+.2%})" for k, v in step.results.items()))

    result = fit(base, targets, seed=seed, iterations=iterations, tolerance=tolerance, run=run_one, on_iteration=show)
    best = result.iterations.index(result.best)
    runs = len(result.iterations)
    table = Table(title=f"calibration of {scenario} ({'converged' if result.converged else 'not converged'}): "
                        f"the best run, run {best + 1} of {runs}", header_style="bold")
    for column in ("target", "published", "simulated", "error"):
        table.add_column(column, justify="left" if column == "target" else "right")
    rows = result.table()
    for row in rows:
        table.add_row(row["target"], f"{row['published']:.4g}", f"{row['simulated']:.4g}", f"{row['relative_error']:+.2%}")
    out.print(table)
    out.print(f"fitted parameters (run {best + 1}):")
    for row in rows:  # one line each, never cut: names are dotted paths to use with --set
        out.print(f"  {row['parameter']} = {row['fitted_value']:.6g}", highlight=False, soft_wrap=True)
    history = histories[best]
    if history:
        past = Table(title=f"the same run (run {best + 1}) against every published date (scaled to the whole country)",
                     header_style="bold")
        for column in ("date", "figure", "published", "simulated", "error"):
            past.add_column(column, justify="left" if column in ("date", "figure") else "right")
        for row in history:
            past.add_row(row["date"], row["figure"], f"{row['published'] / 1e6:.2f} M", f"{row['simulated'] / 1e6:.2f} M", f"{row['relative_error']:+.1%}")
        out.print(past)
    record = {
        "credsim_version": __version__,
        "scenario": scenario,
        "population": population,
        "seed": seed,
        "converged": result.converged,
        "best_run": best + 1,
        "targets": rows,
        "iterations": [{"parameters": it.parameters, "results": it.results} for it in result.iterations],
        "history": history,
    }
    _write_text_atomic(target_dir / "calibration.json", json.dumps(record, indent=2) + "\n", "the calibration")
    _write_text_atomic(target_dir / "calibration.csv", _rows_csv(rows), "the calibration table")
    out.print(f"wrote {escape(str(target_dir))}", highlight=False, soft_wrap=True)


def _calibrate_over_time(base, population: int, seed: int, iterations: int, tolerance: float, target_dir: Path) -> None:
    """``calibrate --over-time``: both fits, then the held-out date's errors side by side."""
    def show(name: str, record: dict) -> None:
        out.print(f"{name}: fitting dates' people listed " + ", ".join(f"{e:+.1%}" for e in record["fit_errors"]))

    fits = fit_over_time(base, seed=seed, iterations=iterations, tolerance=tolerance, on_run=show)
    table = Table(title=f"held out: {HELD_OUT} (fitted to {', '.join(FIT_DATES)})", header_style="bold")
    for column in ("figure", "published", *(f.name for f in fits.values())):
        table.add_column(column, justify="left" if column == "figure" else "right")
    held = {key: f.held_out() for key, f in fits.items()}
    for k, row in enumerate(held["profile"]):
        table.add_row(row["figure"], f"{row['published'] / 1e6:.2f} M",
                      *(f"{held[key][k]['simulated'] / 1e6:.2f} M ({held[key][k]['relative_error']:+.1%})" for key in fits))
    out.print(table)
    record = {
        "credsim_version": __version__, "scenario": base.meta.name, "population": population, "seed": seed,
        "held_out": HELD_OUT, "fit_dates": list(FIT_DATES),
        "fits": {key: {"model": f.name, "knots": f.knots.tolist(), "purchase_rate": f.purchase_rate, "rail_share": f.rail_share,
                       "runs": f.runs, "held_out": f.held_out()} for key, f in fits.items()},
    }
    target_dir.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(target_dir / "calibration-over-time.json", json.dumps(record, indent=2) + "\n", "the calibration")
    out.print(f"wrote {escape(str(target_dir))}", highlight=False, soft_wrap=True)


def _missing_source(source: str) -> CredsimError | None:
    """An error for a compare argument that is neither a folder, a .toml file nor a built-in name."""
    path, builtins = Path(source), builtin_names()
    if path.exists() or source in builtins or path.suffix.lower() == ".toml":
        return None  # a .toml that is missing gets the scenario loader's own message
    return CredsimError(f"{source}: no such run folder, and not a built-in scenario; give a run folder, a scenario file "
                        f"(.toml) or a built-in scenario ({', '.join(builtins)})")


def _summary_of(source: str, population: int | None, days: int | None, seed: int) -> dict:
    """A run folder's summary, or a fresh run's. A bare built-in name is always the
    scenario, even where a folder of that name exists (write ./NAME for the folder)."""
    path = Path(source)
    if _is_dir(path) and source not in builtin_names():
        if population is not None or days is not None:
            err.print(f"note: {escape(source)} is a finished run; --population and --days do not apply to it", highlight=False)
        try:
            return read_summary(path)
        except FileNotFoundError as error:
            raise CredsimError(str(error)) from None
    overrides = []
    if population is not None:
        overrides.append(f"population.size={population}")
    if days is not None:
        overrides.append(f"population.days={days}")
    resolved = load_scenario(source, overrides)
    check_memory(resolved)
    err.print(f"running {escape(resolved.meta.name)}: {resolved.population.size:,} people, {days_text(resolved.population.days)}, seed {seed}", highlight=False)
    return simulate(resolved, seed).summary


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL: not a folder (the loader says what it is)
        return False


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _rows_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_text_atomic(path: Path, text: str, what: str) -> None:
    """Write a file the user asked for, or fail with one line (a device, a folder, a
    read-only place...: :func:`credsim.results.outputs.write_file`)."""
    try:
        write_file(path, text, what)
    except CredsimError as error:
        _fail(error)


def _resume_plan(ctx: typer.Context, folder: Path) -> checkpoint.Plan:
    """What ``--resume FOLDER`` continues; the scenario, seed and settings are the checkpoint's."""
    given = [
        flag
        for name, flag in (("scenario", "SCENARIO"), ("population", "--population"), ("days", "--days"), ("seed", "--seed"), ("settings", "--set"), ("out_dir", "--out"))
        # typer vendors its own click: compare the source's name, not click's enum
        if ctx is not None and getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")
    ]
    if given:
        raise CredsimError(f"--resume {folder}: the run's scenario, seed and settings come from its checkpoint; drop {', '.join(given)}")
    return checkpoint.read_plan(folder)


def _write_failure(error: Exception, target: Path) -> CredsimError:
    """One line for a run that could not write its checkpoint or outputs (disk full...)."""
    if isinstance(error, CredsimError):
        return error
    where = error.filename or target
    message = f"could not write {where}: {error.strerror or error}"
    if error.errno == errno.EROFS:  # no space to free: the place is the problem
        return CredsimError(f"{message}; the file system is read-only: choose another --out (a checkpoint, if any, is intact)")
    try:
        day = checkpoint.read_plan(target).day
        message += f"; the last checkpoint (day {day}) is intact: free some space and run credsim run --resume {target}"
    except CredsimError:
        message += f"; earlier complete outputs in {target}, if any, are intact"
    return CredsimError(message)


def fresh_folder(base: Path) -> Path:
    """``base`` when nothing is there yet, else the first free one of ``base-2``, ``base-3``, ...:
    a run into the default folder never lands on an earlier run."""
    if not base.exists():
        return base
    for number in itertools.count(2):
        candidate = base.with_name(f"{base.name}-{number}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def replacement_refusal(target: Path, overwrite: bool) -> str | None:
    """Why ``credsim run --out TARGET`` must not write there, or None. A new or empty folder is
    fine; a folder holding a credsim run (its manifest.json) only with --overwrite; any other
    non-empty folder never. (write_run itself still replaces: experiments rewrite damaged runs.)"""
    if not target.is_dir():
        return None  # absent (created), or a file (_unwritable says so)
    try:
        empty = not any(target.iterdir())
    except OSError as error:
        return f"--out {target}: cannot look inside it: {error.strerror or error}"
    if empty:
        return None
    if (target / MANIFEST).is_file():
        if overwrite:
            return None
        return f"--out {target}: already holds a credsim run; give another --out, or add --overwrite to replace that run"
    if (target / checkpoint.FOLDER).is_dir():
        return (f"--out {target}: holds an unfinished run's checkpoint; continue it with `credsim run --resume {target}`, "
                "or give another --out")
    return (f"--out {target}: is not empty and holds no credsim run (no {MANIFEST}); credsim writes only into a new "
            f"or empty folder{', and --overwrite replaces only a credsim run' if overwrite else ''}: give another --out")


def _shown(path: Path) -> str:
    text = str(path)
    return repr(text) if any(ord(c) < 32 or ord(c) == 127 for c in text) else text


# the default output folder: meta.name reduced to these characters, so that it stays one
# plain folder inside runs/ (no "..", "/", NUL, leading dot or terminal markup)
UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")


def default_out_dir(name: str, seed: int, root: Path = Path("runs")) -> Path:
    """``root/NAME-seedS``, NAME being ``name`` with every run of characters other than
    letters, digits, ``_``, ``.`` and ``-`` made one ``_``, and leading dots and dashes
    dropped (at most 80 characters; "scenario" if nothing is left): always a folder directly
    inside ``root``, whatever the scenario file calls itself."""
    stem = UNSAFE_NAME_CHARACTERS.sub("_", name).lstrip(".-")[:80].rstrip(".") or "scenario"
    return root / f"{stem}-seed{seed}"


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unwritable(target: Path) -> str | None:
    if any(ord(c) < 32 or ord(c) == 127 for c in str(target)):  # as for every file credsim writes
        return "the path holds a control character (or a NUL)"
    existing = target
    try:
        while not existing.exists():
            if existing.parent == existing:
                break
            existing = existing.parent
    except (OSError, ValueError) as error:  # a name too long, a NUL byte
        return f"not a folder that can be made: {getattr(error, 'strerror', None) or error}"
    if existing.exists() and not existing.is_dir():
        return f"{existing} exists and is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing}"
    return None


def _headline_table(summary: dict) -> Table:
    groups = list(summary["by_group"])
    table = Table(title=f"{escape(summary['scenario'])}: {summary['population']:,} people, {days_text(summary['days'])}, seed {summary['seed']}", header_style="bold")
    table.add_column("")
    for name in [*groups, "overall"]:
        table.add_column(escape(name), justify="right")
    for key, label, kind in HEADLINES:
        cells = [summary["by_group"][g] for g in groups] + [summary["overall"]]
        row = [_format(c.get(key), kind if c.get("episodes") or kind != "days" else "num") for c in cells]
        if key not in summary["overall"]:
            row[-1] = ""
        table.add_row(label, *row)
    return table


def _format(value: float | None, kind: str) -> str:
    if value is None:
        return "-" if kind != "days" else "not reached"
    if kind == "pct":
        return f"{100 * value:.2f}%"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "days":
        return f"{value:.0f}"
    return f"{value:.1f}"


register_report(app)
register_web(app)
register_experiments(app)


def main() -> None:
    try:
        app()
    except CredsimError as error:  # pragma: no cover - every command catches its own
        err.print(f"error: {escape(str(error))}")
        sys.exit(2)
    except MemoryError:  # pragma: no cover - run catches its own, with the estimate
        err.print("error: ran out of memory; run a smaller population (see credsim.resources)")
        sys.exit(2)
