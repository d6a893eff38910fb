"""``credsim compare``: two runs, two scenarios or two experiment folders side by side, and
with ``--decompose`` which change between two scenarios makes each difference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from credsim.compare import compare_summaries, engines_warning, to_csv
from credsim.errors import CredsimError
from credsim.report.headline import days_text
from credsim.resources import check_memory
from credsim.results import read_summary
from credsim.results.outputs import check_file
from credsim.scenario import builtin_names, load_scenario, with_overrides
from credsim.simulate import simulate
from credsim.terminal import err, fail, out, plain, write_user_file


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
        fail(error if isinstance(error, CredsimError) else CredsimError(f"compare: {error}"))
    if decompose:
        _compare_decomposed(run_a, run_b, population, days, seed, by, replicates, permutations, csv_path, out_dir)
        return
    if any(experiments):
        if not all(experiments):
            fail(CredsimError("compare: give two run folders (or scenarios), or two experiment folders, not one of each"))
        _compare_experiments(run_a, run_b, csv_path)
        return
    for source in (run_a, run_b):  # both checked before anything runs: a typo is not found after a long run
        missing = _missing_source(source)
        if missing:
            fail(missing)
    summaries = []
    for source in (run_a, run_b):
        try:
            summaries.append(_summary_of(source, population, days, seed))
        except CredsimError as error:
            fail(error)
    rows = compare_summaries(*summaries)
    label_a, label_b = (Path(x).name or x for x in (run_a, run_b))
    table = Table(title=escape(f"{label_a} vs {label_b}"), header_style="bold")
    for column in ("group", "metric", label_a, label_b, "difference"):
        table.add_column(escape(column), justify="left" if column in ("group", "metric") else "right")
    for row in rows:
        table.add_row(escape(row["group"]), row["metric"], *(plain(row[k]) for k in ("a", "b", "difference")))
    out.print(table)
    warning = engines_warning(*summaries, label_a, label_b)
    if warning:
        err.print(f"warning: {escape(warning)}", highlight=False, soft_wrap=True)
    target = csv_path or Path(f"compare-{label_a}-{label_b}.csv")
    write_user_file(target, to_csv(rows, label_a, label_b), "the comparison table")
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
        if a.engine.name != b.engine.name:
            err.print(f"warning: A names the {a.engine.name} engine and B the {b.engine.name} engine: the 'engine' change's share is "
                      "the sampling noise of two random-number schemes, not an effect (each other change is measured "
                      "with common random numbers within one engine); name one engine in both to leave it out", highlight=False, soft_wrap=True)
        err.print(f"decomposing {label_a} -> {label_b}: {size:,} people, {length} days, seeds {seed}..{seed + replicates - 1}, the same seeds for every combination of changes")
        with Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("runs", total=None)
            result = decompose(a, b, seed, by=by, replicates=replicates, permutations=permutations, labels=(label_a, label_b),
                               on_run=lambda done, total: bar.update(task, completed=done, total=total))
    except CredsimError as error:
        fail(error)
    changes = Table(title=f"{len(result.changes)} changes from {label_a} to {label_b} (by {by})", header_style="bold")
    for column in ("change", "field", label_a, label_b):
        changes.add_column(column)
    for change in result.changes:
        for k, name in enumerate(change.fields):
            x, y = ("(not set)" if v is MISSING else plain(v) for v in result.fields[name])
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
        write_user_file(folder / "decomposition.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n", "the decomposition")
        write_user_file(folder / "decomposition.csv", to_csv(result), "the decomposition table")
        if csv_path is not None:
            write_user_file(csv_path, to_csv(result), "the decomposition table")
        build_comparison(folder / "a", folder / "b", folder / "report.html")
    except (CredsimError, OSError) as error:
        fail(CredsimError(f"compare: cannot write the decomposition: {error}"))
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


def register(app: typer.Typer) -> None:
    app.command()(compare)
