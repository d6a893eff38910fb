"""The ``credsim`` command: a thin adaptor over the library (no model logic here).

Every error credsim raises on purpose is printed as one message and exits with status 2.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from credsim import __version__, checkpoint, compilation
from credsim.calibration import CALIBRATIONS, HISTORIES, fit
from credsim.compare import compare_experiments, compare_summaries, to_csv
from credsim.errors import CredsimError
from credsim.report import build_report
from credsim.report.headline import days_text
from credsim.experiments.cli import register as register_experiments
from credsim.report.cli import register as register_report
from credsim.web.cli import register as register_web
from credsim.resources import check_disk, check_memory
from credsim.results import read_summary, write_run
from credsim.results.manifest import MANIFEST
from credsim.scenario import DEFAULT_SCENARIO, builtin_names, describe_builtins, load_scenario
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
        target = fresh_folder(Path("runs") / f"{resolved.meta.name}-seed{seed}")
    else:
        target = out_dir
        refusal = replacement_refusal(target, overwrite)
        if refusal:
            _fail(CredsimError(refusal))
    problem = _unwritable(target)
    if problem:
        _fail(CredsimError(f"--out {target}: {problem}"))
    if checkpoint_every is None and resume_dir is not None:
        checkpoint_every = plan.every  # None: by the clock
    try:
        check_disk(resolved, target, checkpoints=checkpoint_every != 0)
    except CredsimError as error:
        _fail(error)
    if resume_dir is not None:
        go = partial(checkpoint.resume, plan.folder, checkpoint_every=checkpoint_every)
    else:
        folder = target / checkpoint.FOLDER if checkpoint_every != 0 else None
        go = partial(simulate, resolved, seed, checkpoint_dir=folder, checkpoint_every=checkpoint_every)

    size, horizon = resolved.population.size, resolved.population.days
    if not quiet:
        out.print(f"credsim {__version__}: [bold]{resolved.meta.name}[/], {size:,} people, {days_text(horizon)}, seed {seed}, "
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
        except (CredsimError, OSError) as error:
            failure = _write_failure(error, target)
        else:
            checkpoint.discard(target)  # the outputs are complete: the checkpoint has done its job
            stages.start("writing the report")
            try:
                report = build_report(written)  # a view of the saved outputs, outside the manifest
            except (CredsimError, OSError) as error:
                failure = CredsimError(f"the run is complete in {written}, but its report could not be built: {error}; "
                                       f"try `credsim report {written}`")
    if failure is not None:
        _fail(failure)
    if not quiet:
        out.print(_headline_table(result.summary))
    out.print(f"wrote {written} (open {report.name} in a browser)")


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
    out.print(f"{file}: valid scenario {scenario.meta.name!r} ({scenario.population.size:,} people, {days_text(scenario.population.days)})")


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="A run folder, or a scenario name or file to run.")],
    run_b: Annotated[str, typer.Argument(help="A run folder, or a scenario name or file to run.")],
    population: Annotated[Optional[int], typer.Option("--population", "-n", help="People, for scenarios run here.")] = None,
    days: Annotated[Optional[int], typer.Option("--days", "-d", help="Days, for scenarios run here.")] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed, the same for both scenarios run here.")] = 0,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Where to write the table [default: compare-A-B.csv].")] = None,
) -> None:
    """Put two runs side by side: every metric per group, and the difference.

    Two experiment folders (from `credsim experiment`) are compared by their replicates:
    the mean and 95% interval of each outcome for each parameter set."""
    experiments = [(Path(x) / "catalog").is_dir() for x in (run_a, run_b)]
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
    table = Table(title=f"{label_a} vs {label_b}", header_style="bold")
    for column in ("group", "metric", label_a, label_b, "difference"):
        table.add_column(column, justify="left" if column in ("group", "metric") else "right")
    for row in rows:
        table.add_row(row["group"], row["metric"], *(_plain(row[k]) for k in ("a", "b", "difference")))
    out.print(table)
    target = csv_path or Path(f"compare-{label_a}-{label_b}.csv")
    _write_text_atomic(target, to_csv(rows, label_a, label_b))
    out.print(f"wrote {target}")


def _compare_experiments(dir_a: str, dir_b: str, csv_path: Path | None) -> None:
    from credsim.experiments import summarize_replicates

    try:
        frames = [summarize_replicates(d) for d in (dir_a, dir_b)]
    except (CredsimError, OSError, ValueError) as error:
        _fail(CredsimError(f"compare: {error}"))
    rows = compare_experiments(*frames)
    label_a, label_b = (Path(x).name or x for x in (dir_a, dir_b))
    table = Table(title=f"{label_a} vs {label_b}: means over replicates, with 95% intervals", header_style="bold")
    for column in ("parameters", "outcome", label_a, label_b, "difference"):
        table.add_column(column, justify="left" if column in ("parameters", "outcome") else "right")

    def cell(mean, ci) -> str:
        if mean is None:
            return "-"
        low, high = ci
        return f"{mean:.4g}" + (f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else "")

    for row in rows:
        table.add_row(row["parameters"], row["outcome"], cell(row["mean_a"], row["ci_a"]), cell(row["mean_b"], row["ci_b"]), _plain(row["difference"]))
    out.print(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["parameters", "outcome", f"{label_a}_mean", f"{label_a}_ci_low", f"{label_a}_ci_high", f"{label_b}_mean", f"{label_b}_ci_low", f"{label_b}_ci_high", "difference"])
    for row in rows:
        writer.writerow([row["parameters"], row["outcome"], row["mean_a"], *row["ci_a"], row["mean_b"], *row["ci_b"], row["difference"]])
    target = csv_path or Path(f"compare-{label_a}-{label_b}.csv")
    _write_text_atomic(target, buffer.getvalue())
    out.print(f"wrote {target}")


@app.command()
def calibrate(
    scenario: Annotated[str, typer.Argument(help=f"The scenario to calibrate: {', '.join(CALIBRATIONS)}.")],
    population: Annotated[int, typer.Option("--population", "-n", min=1000, help="People in each calibration run.")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0)] = 0,
    iterations: Annotated[int, typer.Option("--iterations", min=1, max=50, help="At most this many runs.")] = 6,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Stop when every relative error is within this.")] = 0.01,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for calibration.json and .csv.")] = None,
) -> None:
    """Fit a scenario's free parameters to published aggregate figures."""
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
        _fail(CredsimError(f"--out {target_dir}: {problem}"))
    out.print(f"calibrating [bold]{scenario}[/] at {population:,} people, {base.population.days:,} days, seed {seed}")
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
    target_dir.mkdir(parents=True, exist_ok=True)
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
    _write_text_atomic(target_dir / "calibration.json", json.dumps(record, indent=2) + "\n")
    _write_text_atomic(target_dir / "calibration.csv", _rows_csv(rows))
    out.print(f"wrote {target_dir}")


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
    if path.is_dir() and source not in builtin_names():
        if population is not None or days is not None:
            err.print(f"note: {source} is a finished run; --population and --days do not apply to it")
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
    err.print(f"running {resolved.meta.name}: {resolved.population.size:,} people, {days_text(resolved.population.days)}, seed {seed}")
    return simulate(resolved, seed).summary


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


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


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


def _unwritable(target: Path) -> str | None:
    existing = target
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} exists and is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing}"
    return None


def _headline_table(summary: dict) -> Table:
    groups = list(summary["by_group"])
    table = Table(title=f"{summary['scenario']}: {summary['population']:,} people, {days_text(summary['days'])}, seed {summary['seed']}", header_style="bold")
    table.add_column("")
    for name in [*groups, "overall"]:
        table.add_column(name, justify="right")
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
        err.print(f"error: {error}")
        sys.exit(2)
