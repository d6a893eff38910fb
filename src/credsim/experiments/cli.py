"""The experiment commands -- ``experiment``, ``sensitivity``, ``runs`` -- as a thin adaptor.

``register(app)`` adds them to credsim's typer app. As elsewhere in the command line, an
error credsim raises on purpose prints one message and exits with status 2; an experiment
whose runs all ran but some failed exits with status 1 (the failures are in the catalog).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from credsim.errors import CredsimError
from credsim.experiments.catalog import CATALOG, COMPLETE
from credsim.experiments.spec import Experiment, load_experiment
from credsim.results.outputs import write_file

# pandas, SciPy, SALib and Dask are imported inside the commands that use them, so that
# registering these commands costs `credsim --help` nothing

out = Console()
err = Console(stderr=True)

MAX_TABLE_ROWS = 200

Workers = Annotated[Optional[int], typer.Option("--workers", "-w", min=1, help="N worker processes on this machine (a process pool; with --executor dask, a Dask LocalCluster of N) [default: one per core].")]
Scheduler = Annotated[Optional[str], typer.Option("--scheduler", help="A Dask scheduler to run on: tcp://HOST:PORT (needs pip install -e '.[dask]').")]
ExecutorKind = Annotated[
    Optional[str], typer.Option("--executor", help="local (a process pool), dask (a Dask LocalCluster; needs the dask extra) or serial (this process) [default: local].")
]
Independent = Annotated[bool, typer.Option("--independent-seeds", help="Give every parameter point its own seeds instead of common random numbers (replicate r of every point sharing one seed).")]
OutDir = Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder [default: runs/EXPERIMENT-NAME].")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _fail(error: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def experiment(
    file: Annotated[Path, typer.Argument(help="An experiment file (TOML).")],
    out_dir: OutDir = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    executor: ExecutorKind = None,
    independent_seeds: Independent = False,
    reference: Annotated[Optional[str], typer.Option("--reference", help="The point to take differences from: its 12-digit point key (see `credsim runs`) [default: the first].")] = None,
    quiet: Quiet = False,
) -> None:
    """Run an experiment: every parameter set and replicate, resuming what is done; print each
    point's mean, and its difference from the reference point with a paired interval."""
    from credsim.experiments.compare import differences
    from credsim.experiments.replicates import summarize_replicates
    from credsim.experiments.runner import run_experiment

    spec, target = _load(file, out_dir, independent_seeds)
    catalog = _run(spec, target, workers, scheduler, executor, quiet, run_experiment)
    if spec.sampling.method == "grid" or spec.replicates > 1:
        summary = summarize_replicates(catalog)
        if len(summary) <= MAX_TABLE_ROWS:
            out.print(_replicates_table(spec, summary))
    try:
        diffs = differences(catalog, reference)
    except CredsimError as error:
        _fail(error)
    if 0 < len(diffs) <= MAX_TABLE_ROWS * len(spec.outcomes):
        out.print(_differences_pivot(spec, catalog, diffs))
    _page(target)
    _finish(catalog, target)


def sensitivity(
    file: Annotated[Path, typer.Argument(help="An experiment file with sampling.method sobol or morris.")],
    out_dir: OutDir = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    executor: ExecutorKind = None,
    independent_seeds: Independent = False,
    check_seed: Annotated[Optional[int], typer.Option("--check-seed", min=0, help="Also run the design from this second root seed (into OUT/check-seed-S) and report whether the parameters above the noise floor rank the same.")] = None,
    quiet: Quiet = False,
) -> None:
    """Run a Sobol' or Morris experiment and print its sensitivity indices (95% intervals)
    beside the noise floor measured from independent seeds."""
    from credsim.experiments.analysis import CSV_NAME, ranking_check, sensitivity as run_sensitivity
    from credsim.experiments.runner import load_catalog

    spec, target = _load(file, out_dir, independent_seeds)
    if spec.sampling.method not in ("sobol", "morris"):
        _fail(CredsimError(f"{file}: sensitivity needs sampling.method 'sobol' or 'morris'; found {spec.sampling.method!r}"))
    frame = _run(spec, target, workers, scheduler, executor, quiet, run_sensitivity)
    out.print(_indices_table(spec, frame))
    for outcome, reason in frame.attrs.get("skipped", {}).items():
        err.print(f"{outcome}: no indices; {reason}", highlight=False)
    for line in frame.attrs.get("warnings", []):
        err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)
    out.print(f"wrote {target / CSV_NAME} and {target / 'noise.csv'}")
    _page(target, frame)
    if check_seed is not None:
        other = spec.model_copy(update={"seed": check_seed})
        second = _run(other, target / f"check-seed-{check_seed}", workers, scheduler, executor, quiet, run_sensitivity)
        check = ranking_check(frame, second)
        table = Table(title=f"the parameters whose index is above 0 beyond its interval (and above the floor, with independent "
                            f"seeds), largest first: seed {spec.seed} against seed {check_seed}", header_style="bold")  # fmt: skip
        for column in check.columns:
            table.add_column(column, overflow="fold")
        for row in check.itertuples(index=False):
            table.add_row(row.outcome, f"{row.floor:.3g}", row.first or "(none)", row.second or "(none)", "same" if row.same else "DIFFERENT")
        out.print(table)
        if not check["same"].all():
            err.print("warning: the ranking depends on the seed for some outcome; use a larger n or more replicates", highlight=False)
    catalog = load_catalog(target)
    _finish(catalog, target)


def runs(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder.")],
    failed: Annotated[bool, typer.Option("--failed", help="Only the failed runs, with their errors.")] = False,
) -> None:
    """List an experiment's runs: id, status, parameters and outcomes."""
    from credsim.experiments.runner import load_catalog

    try:
        catalog = load_catalog(folder)
    except CredsimError as error:
        _fail(error)
    parameters = catalog.attrs.get("parameters", [])
    outcomes = catalog.attrs.get("outcomes", [])
    shown = catalog[catalog["status"] != COMPLETE] if failed else catalog
    table = Table(title=f"{catalog.attrs.get('experiment', folder.name)}: {_counts(catalog)}", header_style="bold")
    for column in ("run", "status", *parameters, *(["error"] if failed else outcomes)):
        table.add_column(column, justify="left" if column in ("run", "status", "error") else "right", overflow="fold")
    for _, row in shown.iterrows():
        cells = [row["run_id"], row["status"], *(_plain(row[p]) for p in parameters)]
        cells += [str(row["error"])] if failed else [_plain(row[o]) for o in outcomes]
        table.add_row(*map(escape, cells))
    out.print(table)


def compare_folders(dir_a: str, dir_b: str, csv_path: Path | None) -> None:
    """``credsim compare A B`` of two experiment folders: each common point's B - A, paired
    over common seeds where there are any; the table is printed and written as CSV."""
    from credsim.experiments.compare import compare_folders as compare

    try:
        frame = compare(dir_a, dir_b)
    except (CredsimError, OSError) as error:
        _fail(CredsimError(f"compare: {error}"))
    label_a, label_b = (Path(x).name or x for x in (dir_a, dir_b))
    out.print(differences_table(frame, f"{label_b} - {label_a}, per point", names=(label_a, label_b)))
    engines = frame.attrs.get("engines", (None, None))
    if None not in engines and engines[0] != engines[1]:
        err.print(f"warning: {label_a} was made by the {engines[0]} engine and {label_b} by the {engines[1]} engine: the same "
                  "seeds give the same populations but not common random numbers, so each difference includes the "
                  "sampling noise of two random-number schemes", highlight=False)  # fmt: skip
    if not frame["method"].str.startswith("paired").all():
        err.print("note: some points share no seeds (different root seeds or independent seeds): their differences "
                  "are unpaired, with Welch intervals, and carry all the seed noise", highlight=False)  # fmt: skip
    target = csv_path or Path(f"compare-{label_a}-{label_b}.csv")
    text = frame.rename(columns={"mean_a": f"{label_a}_mean", "mean_b": f"{label_b}_mean"}).to_csv(index=False)
    try:
        write_file(target, text, "the comparison table")
    except CredsimError as error:
        _fail(error)
    out.print(f"wrote {escape(str(target))}", highlight=False, soft_wrap=True)


def differences_table(frame, title: str, names: tuple[str, str] = ("reference", "point")) -> Table:
    table = Table(title=f"{title}: difference [95% interval]", header_style="bold")
    for column in ("parameters", "outcome", *names, "difference", "method"):
        table.add_column(column, justify="right" if column in (*names, "difference") else "left", overflow="fold")
    for row in frame.itertuples(index=False):
        interval = "" if math.isnan(row.ci_low) else f" [{row.ci_low:.3g}, {row.ci_high:.3g}]"
        table.add_row(escape(row.parameters), row.outcome, _plain(row.mean_a), _plain(row.mean_b),
                      ("-" if math.isnan(row.difference) else f"{row.difference:.3g}") + interval, row.method)  # fmt: skip
    return table


def register(app: typer.Typer) -> None:
    """Add ``experiment``, ``sensitivity`` and ``runs`` to a typer app."""
    app.command("experiment")(experiment)
    app.command("sensitivity")(sensitivity)
    app.command("runs")(runs)


# ---------------------------------------------------------------------------- helpers


def _load(file: Path, out_dir: Path | None, independent_seeds: bool = False) -> tuple[Experiment, Path]:
    try:
        spec = load_experiment(file)
    except CredsimError as error:
        _fail(error)
    if independent_seeds:
        spec = spec.model_copy(update={"seeds": "independent"})
    # absolute here, so that no worker resolves it against its own working directory
    return spec, (out_dir or Path("runs") / spec.name).expanduser().resolve()


def _run(spec: Experiment, target: Path, workers, scheduler, kind, quiet, function):
    # No --executor: a local process pool (of --workers processes); Dask only when asked for.
    kind = kind or ("dask" if scheduler is not None else "local")
    if kind not in ("local", "dask", "serial"):
        _fail(CredsimError(f"--executor: expected local, dask or serial; found {kind!r}"))
    from credsim.experiments.executors import make_executor

    try:
        pool = make_executor(workers, scheduler, kind)
    except CredsimError as error:
        _fail(error)
    where = f"Dask scheduler {scheduler}" if scheduler else f"{kind} executor"
    bar = None if quiet else Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
    )  # fmt: skip
    state = {"task": None, "failed": 0}

    def progress(done: int, total: int, row) -> None:
        if row is not None and row["status"] != COMPLETE:
            state["failed"] += 1
        if bar is None:
            return
        if state["task"] is None:
            out.print(f"experiment [bold]{escape(spec.name)}[/]: {total:,} runs ({done:,} already complete) on the {where}")
            state["task"] = bar.add_task("runs", total=total, completed=done, failed=0)
        bar.update(state["task"], completed=done, failed=state["failed"])

    try:
        if bar is not None:
            bar.start()
        return function(spec, target, pool, progress=progress)
    except CredsimError as error:
        _fail(error)
    finally:
        if bar is not None:
            bar.stop()
        pool.shutdown()


def _page(target: Path, indices=None) -> None:
    from credsim.experiments.page import build_page

    try:
        out.print(f"wrote {build_page(target, indices)}")
    except (CredsimError, OSError) as error:  # the runs are safe; only the page is missing
        err.print(f"warning: no experiment.html: {escape(str(error))}", highlight=False)


def _differences_pivot(spec: Experiment, catalog, diffs) -> Table:
    """One row per point, one column per outcome: the difference from the reference and its interval."""
    reference = diffs["reference"].iloc[0]
    first = catalog[catalog["point"] == reference].iloc[0]
    parameters = catalog.attrs.get("parameters", [])
    named = ", ".join(f"{p} = {_plain(first[p])}" for p in parameters) or reference
    methods = " / ".join(dict.fromkeys(diffs["method"]))
    table = Table(title=f"{spec.name}: difference from the reference point ({named}) [95% interval], {methods}", header_style="bold")
    for column in (*parameters, *spec.outcomes):
        table.add_column(column, justify="right", overflow="fold")
    for point, group in diffs.groupby("point", sort=False):
        row = catalog[catalog["point"] == point].iloc[0]
        by_outcome = {r.outcome: r for r in group.itertuples(index=False)}
        cells = [_plain(row[p]) for p in parameters]
        for outcome in spec.outcomes:
            r = by_outcome.get(outcome)
            if r is None or math.isnan(r.difference):
                cells.append("-")
            else:
                cells.append(f"{r.difference:.3g}" + ("" if math.isnan(r.ci_low) else f" [{r.ci_low:.3g}, {r.ci_high:.3g}]"))
        table.add_row(*cells)
    return table


def _finish(catalog, target: Path) -> None:
    failed = int((catalog["status"] != COMPLETE).sum())
    out.print(f"{_counts(catalog)}; catalog: {target / CATALOG}/*.parquet")
    if failed:
        err.print(f"{failed} run(s) failed: credsim runs {target} --failed", highlight=False)
        raise typer.Exit(1)


def _counts(catalog) -> str:
    complete = int((catalog["status"] == COMPLETE).sum())
    return f"{len(catalog):,} runs, {complete:,} complete, {len(catalog) - complete:,} failed"


def _replicates_table(spec: Experiment, summary) -> Table:
    parameters = summary.attrs["parameters"]
    conf = round(100 * summary.attrs["confidence"])
    table = Table(title=f"{spec.name}: mean ± half-width of the {conf}% t interval, {spec.replicates} replicate(s) each",
                  header_style="bold")  # fmt: skip
    for column in (*parameters, *spec.outcomes):
        table.add_column(column, justify="right", overflow="fold")
    for _, group in summary.groupby("set_index", sort=True):
        first = group.iloc[0]
        cells = [_plain(first[p]) for p in parameters]
        by_outcome = {row["outcome"]: row for _, row in group.iterrows()}
        for outcome in spec.outcomes:
            row = by_outcome[outcome]
            cells.append(_mean_ci(row["mean"], row["ci_low"], row["ci_high"]))
        table.add_row(*cells)
    return table


def _indices_table(spec: Experiment, frame) -> Table:
    method = spec.sampling.method
    kinds = ("S1", "ST") if method == "sobol" else ("mu_star", "mu", "sigma")
    title = "Sobol' indices" if method == "sobol" else "Morris elementary effects"
    floors = frame.attrs.get("noise", {})
    table = Table(title=f"{spec.name}: {title}, value ± half-width of the 95% interval", header_style="bold",
                  caption=f"noise floor: the {'ST' if method == 'sobol' else 'mu_star'} seed noise alone would give an inert "
                          f"parameter with independent seeds ({spec.noise_replicates} runs at the centre)")  # fmt: skip
    for column in ("outcome", "parameter", *kinds, "noise floor"):
        table.add_column(column, justify="left" if column in ("outcome", "parameter") else "right", overflow="fold")
    for (outcome, parameter), group in frame.groupby(["outcome", "parameter"], sort=False):
        if "," in parameter:
            continue  # second-order pairs: in the CSV
        values = {row["index"]: row for _, row in group.iterrows()}
        cells = []
        for kind in kinds:
            row = values.get(kind)
            if row is None or math.isnan(row["value"]):
                cells.append("-")
            elif math.isnan(row["conf"]):
                cells.append(f"{row['value']:.3g}")
            else:
                cells.append(f"{row['value']:.3g} ± {row['conf']:.2g}")
        floor = floors.get(outcome, {}).get("floor", math.nan)
        cells.append("-" if math.isnan(floor) else f"{floor:.3g}")
        table.add_row(outcome, parameter, *cells)
    return table


def _mean_ci(mean: float, low: float, high: float) -> str:
    if mean is None or math.isnan(mean):
        return "-"
    if math.isnan(low):
        return f"{mean:.4g}"
    return f"{mean:.3g} ± {(high - low) / 2:.2g}"


def _plain(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
