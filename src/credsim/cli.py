"""The ``credsim`` command: a thin adaptor over the library (no model logic here).

Every error credsim raises on purpose is printed as one message and exits with status 2.
"""

from __future__ import annotations

import errno
import itertools
import re
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from credsim import __version__, checkpoint, compilation
from credsim.errors import CredsimError
from credsim.report import build_report
from credsim.report.headline import days_text
from credsim.calibration_cli import register as register_calibration
from credsim.compare_cli import register as register_compare
from credsim.experiments.cli import register as register_experiments
from credsim.report.cli import register as register_report
from credsim.web.cli import register as register_web
from credsim.noise import run_warnings
from credsim.resources import check_disk, check_memory, out_of_memory_message
from credsim.results import write_run
from credsim.results.manifest import MANIFEST
from credsim.scenario import DEFAULT_SCENARIO, describe_builtins, load_scenario
from credsim.scenario.schema import ENGINE_NAMES
from credsim.simulate import simulate
from credsim.stages import Stages
from credsim.terminal import err, fail, folder_problem, out, shown

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Run a social credit system on a synthetic population and measure what it does.",
)

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
    engine: Annotated[Optional[str], typer.Option("--engine", help="The engine that runs the days: reference or event (overrides engine.name; see docs/performance.md).")] = None,
    ctx: typer.Context = None,
) -> None:
    """Run a scenario and write its outputs."""
    overrides = list(settings or [])
    if engine is not None:
        if resume_dir is not None:
            fail(CredsimError("--engine and --resume: a resumed run keeps the engine it started with (its checkpoint's scenario names it)"))
        if engine not in ENGINE_NAMES:
            fail(CredsimError(f"--engine {engine!r}: no such engine; the engines are {', '.join(ENGINE_NAMES)}"))
        overrides.append(f"engine.name={engine}")
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
        fail(error)
    if resume_dir is not None:
        target = out_dir
    elif out_dir is None:
        target = fresh_folder(default_out_dir(resolved.meta.name, seed))
    else:
        target = out_dir
    problem = folder_problem(target)  # first: a name the file system cannot take is one line, not an OSError below
    if problem:
        fail(CredsimError(f"--out {shown(target)}: {problem}"))
    refusal = replacement_refusal(target, overwrite) if out_dir is not None and resume_dir is None else None
    if refusal:
        fail(CredsimError(refusal))
    if checkpoint_every is None and resume_dir is not None:
        checkpoint_every = plan.every  # None: by the clock
    try:
        # a resumed run writes its next checkpoint over its own last one: that space is its
        reusable = _file_size(plan.folder / checkpoint.FILE) if resume_dir is not None else 0
        check_disk(resolved, target, checkpoints=checkpoint_every != 0, reusable=reusable)
    except CredsimError as error:
        fail(error)
    if resume_dir is not None:
        go = partial(checkpoint.resume, plan.folder, checkpoint_every=checkpoint_every)
    else:
        folder = target / checkpoint.FOLDER if checkpoint_every != 0 else None
        go = partial(simulate, resolved, seed, checkpoint_dir=folder, checkpoint_every=checkpoint_every)

    size, horizon = resolved.population.size, resolved.population.days
    if not quiet:
        out.print(f"credsim {__version__}: [bold]{escape(resolved.meta.name)}[/], {size:,} people, {days_text(horizon)}, seed {seed}, "
                  f"{resolved.engine.name} engine, into {escape(str(target))}", highlight=False)
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
        fail(failure)
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
        fail(error)
    out.print(
        f"{escape(file)}: valid scenario {escape(repr(scenario.meta.name))} ({scenario.population.size:,} people, {days_text(scenario.population.days)}, "
        f"{scenario.engine.name} engine)",
        highlight=False,
    )


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
    except (CredsimError, OSError, ValueError):  # no checkpoint, or a path that cannot hold one
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
        return None  # absent (created), or a file (folder_problem says so)
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


register_compare(app)
register_calibration(app)
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
