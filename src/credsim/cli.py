"""The ``credsim`` command: a thin adaptor over the library (no model logic here).

Every error credsim raises on purpose is printed as one message and exits with status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from credsim import __version__
from credsim.errors import CredsimError
from credsim.resources import check_memory
from credsim.results import write_run
from credsim.scenario import DEFAULT_SCENARIO, describe_builtins, load_scenario
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
    err.print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
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
) -> None:
    """Run a scenario and write its outputs."""
    overrides = list(settings or [])
    if population is not None:
        overrides.append(f"population.size={population}")
    if days is not None:
        overrides.append(f"population.days={days}")
    try:
        resolved = load_scenario(scenario, overrides)
        check_memory(resolved)
    except CredsimError as error:
        _fail(error)
    target = out_dir or Path("runs") / f"{resolved.meta.name}-seed{seed}"
    problem = _unwritable(target)
    if problem:
        _fail(CredsimError(f"--out {target}: {problem}"))

    size, horizon = resolved.population.size, resolved.population.days
    if quiet:
        result = simulate(resolved, seed)
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
            result = simulate(resolved, seed, progress=lambda done, total: bar.update(task, completed=done))
    written = write_run(result, target)
    if not quiet:
        out.print(_headline_table(result.summary))
    out.print(f"wrote {written}")


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
        row = [_format(summary["by_group"][g].get(key), kind) for g in groups]
        row.append(_format(summary["overall"].get(key), kind) if key in summary["overall"] else "")
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


def main() -> None:
    try:
        app()
    except CredsimError as error:  # pragma: no cover - every command catches its own
        err.print(f"error: {error}")
        sys.exit(2)
