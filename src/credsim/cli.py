"""The ``credsim`` command: a thin adaptor over the library (no model logic here).

Every error credsim raises on purpose is printed as one message and exits with status 2.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from credsim import __version__, checkpoint
from credsim.calibration import CALIBRATIONS, HISTORIES, fit
from credsim.compare import compare_experiments, compare_summaries, to_csv
from credsim.errors import CredsimError
from credsim.report import build_report
from credsim.experiments.cli import register as register_experiments
from credsim.report.cli import register as register_report
from credsim.web.cli import register as register_web
from credsim.resources import check_disk, check_memory
from credsim.results import read_summary, write_run
from credsim.scenario import DEFAULT_SCENARIO, builtin_names, describe_builtins, load_scenario, with_overrides
from credsim.simulate import simulate

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
    target = out_dir or Path("runs") / f"{resolved.meta.name}-seed{seed}"
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
    try:
        if quiet:
            result = go()
        else:
            out.print(f"credsim {__version__}: [bold]{resolved.meta.name}[/], {size:,} people, {horizon:,} days, seed {seed}")
            with Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            ) as bar:
                task = bar.add_task("days", total=horizon)
                result = go(progress=lambda done, total: bar.update(task, completed=done))
        written = write_run(result, target)
    except (CredsimError, OSError) as error:
        _fail(_write_failure(error, target))
    checkpoint.discard(target)  # the outputs are complete: the checkpoint has done its job
    try:
        report = build_report(written)  # a view of the saved outputs, outside the manifest
    except (CredsimError, OSError) as error:
        _fail(CredsimError(f"the run is complete in {written}, but its report could not be built: {error}; try `credsim report {written}`"))
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
    out.print(f"{file}: valid scenario {scenario.meta.name!r} ({scenario.population.size:,} people, {scenario.population.days} days)")


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

    Two experiment folders (from `credsim experiment`) are compared by their replicates:
    the mean and 95% interval of each outcome for each parameter set."""
    if decompose:
        _compare_decomposed(run_a, run_b, population, days, seed, by, replicates, permutations, csv_path, out_dir)
        return
    experiments = [(Path(x) / "catalog").is_dir() for x in (run_a, run_b)]
    if any(experiments):
        if not all(experiments):
            _fail(CredsimError("compare: give two run folders (or scenarios), or two experiment folders, not one of each"))
        _compare_experiments(run_a, run_b, csv_path)
        return
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
        _write_text_atomic(folder / "decomposition.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        _write_text_atomic(folder / "decomposition.csv", to_csv(result))
        if csv_path is not None:
            _write_text_atomic(csv_path, to_csv(result))
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
    last: list = []

    def run_one(resolved, run_seed):
        with Progress(TextColumn(f"run {len(last) + 1}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("days", total=resolved.population.days)
            result = simulate(resolved, run_seed, progress=lambda done, total: bar.update(task, completed=done))
        last[:] = [result]
        return result

    def show(step) -> None:
        errors = step.errors(targets)
        out.print(f"run {len(last) and len(fitted_steps) + 1}: " + ", ".join(f"{k} = {v:.4g} ({errors[k]:+.2%})" for k, v in step.results.items()))
        fitted_steps.append(step)

    fitted_steps: list = []
    result = fit(base, targets, seed=seed, iterations=iterations, tolerance=tolerance, run=run_one, on_iteration=show)
    table = Table(title=f"calibration of {scenario} ({'converged' if result.converged else 'not converged'})", header_style="bold")
    for column in ("target", "published", "simulated", "error", "parameter", "fitted value"):
        table.add_column(column, justify="left" if column in ("target", "parameter") else "right")
    rows = result.table()
    for row in rows:
        table.add_row(row["target"], f"{row['published']:.4g}", f"{row['simulated']:.4g}", f"{row['relative_error']:+.2%}", row["parameter"], f"{row['fitted_value']:.4g}")
    out.print(table)
    history = HISTORIES[scenario](last[0]) if scenario in HISTORIES else []
    if history:
        past = Table(title="the last run against every published date (scaled to the whole country)", header_style="bold")
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
        "targets": rows,
        "iterations": [{"parameters": it.parameters, "results": it.results} for it in result.iterations],
        "history": history,
    }
    _write_text_atomic(target_dir / "calibration.json", json.dumps(record, indent=2) + "\n")
    _write_text_atomic(target_dir / "calibration.csv", _rows_csv(rows))
    out.print(f"wrote {target_dir}")


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
    err.print(f"running {resolved.meta.name}: {resolved.population.size:,} people, {resolved.population.days} days, seed {seed}")
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
    table = Table(title=f"{summary['scenario']}: {summary['population']:,} people, {summary['days']} days, seed {summary['seed']}", header_style="bold")
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
