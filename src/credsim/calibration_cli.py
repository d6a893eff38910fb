"""``credsim calibrate``: fit a scenario to published aggregate figures, once or over time."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from credsim import __version__
from credsim.calibration import CALIBRATIONS, HISTORIES, fit
from credsim.calibration_time import FIT_DATES, HELD_OUT, fit_over_time
from credsim.errors import CredsimError
from credsim.scenario import load_scenario
from credsim.simulate import simulate
from credsim.resources import check_memory
from credsim.terminal import err, fail, folder_problem, out, shown, write_user_file


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
        fail(CredsimError(f"calibrate --over-time: only court-blacklist has dated published figures; got {scenario!r}"))
    if scenario not in CALIBRATIONS:
        fail(CredsimError(f"calibrate: no published targets for {scenario!r}; calibrations exist for: {', '.join(CALIBRATIONS)}"))
    try:
        base = load_scenario(scenario, [f"population.size={population}"])
        check_memory(base)
    except CredsimError as error:
        fail(error)
    targets = CALIBRATIONS[scenario]()
    target_dir = out_dir or Path("runs") / f"calibrate-{scenario}"
    problem = folder_problem(target_dir)
    if problem:
        fail(CredsimError(f"--out {shown(target_dir)}: {problem}"))
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
    write_user_file(target_dir / "calibration.json", json.dumps(record, indent=2) + "\n", "the calibration")
    write_user_file(target_dir / "calibration.csv", _rows_csv(rows), "the calibration table")
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
    write_user_file(target_dir / "calibration-over-time.json", json.dumps(record, indent=2) + "\n", "the calibration")
    out.print(f"wrote {escape(str(target_dir))}", highlight=False, soft_wrap=True)


def _rows_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def register(app: typer.Typer) -> None:
    app.command()(calibrate)
