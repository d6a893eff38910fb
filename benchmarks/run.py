"""credsim's benchmark suite: one command, a table, a JSON file.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/run.py                      # every suite
    .venv/bin/python benchmarks/run.py --suite peer --repeats 3

Suites:
- throughput: the default scenario (city) and beijing-2020 at 1 M, 10 M and 21.5 M people
  for 365 days;
- scaling: city at 100 k, 300 k, 1 M and 3 M people for 365 days (throughput adds 10 M and
  21.5 M), and 1 M people for 30 to 730 days;
- peer: the reference model (benchmarks/README.md) in Mesa and in credsim, 10 k and 100 k
  people, 365 days, with the ratio of throughputs and a check that both list the same
  fraction of each group (a two-proportion z-test: |z| < 3);
- big: city at 100 M people for 30 days.

Each measurement runs in a fresh process (benchmarks/measure.py) so that its peak memory is
its own. Throughput is person-days per second of the simulated days (building the
population is timed separately); memory is peak resident memory above the baseline after
imports, per person. Figures are medians over --repeats runs (runs of 10 M people or more
are made once: each takes minutes). Timings are never asserted in tests: this command
reports them, docs/performance.md records them with the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
REFERENCE = str(HERE / "reference.toml")
SUITES = {
    "throughput": [("credsim", s, n, 365) for s in ("city", "beijing-2020") for n in (1_000_000, 10_000_000, 21_500_000)],
    "scaling": [("credsim", "city", n, 365) for n in (100_000, 300_000, 1_000_000, 3_000_000)]
    + [("credsim", "city", 1_000_000, d) for d in (30, 90, 730)],
    "peer": [(engine, REFERENCE, n, 365) for n in (10_000, 100_000) for engine in ("credsim", "mesa")],
    "big": [("credsim", "city", 100_000_000, 30)],
    # the two engines side by side, interleaved run by run (on a shared machine absolute
    # times move with load; their ratio much less)
    "engines": [(e, s, n, d) for s, n, d in ((REFERENCE, 100_000, 365), (REFERENCE, 1_000_000, 365), ("city", 1_000_000, 365),
                                             ("city", 10_000_000, 365), ("beijing-2020", 21_500_000, 365))
                for e in ("credsim-reference", "credsim-event")],
}
CORES = None  # --cores: run each measurement on this many cores (taskset, NUMBA_NUM_THREADS)
console = Console()


def measure(engine: str, scenario: str, n: int, days: int, seed: int) -> dict:
    command = [sys.executable, str(HERE / "measure.py"), engine, scenario, str(n), str(days), str(seed)]
    env = dict(os.environ)
    if CORES:
        command = ["taskset", "-c", f"0-{CORES - 1}", *command]
        env["NUMBA_NUM_THREADS"] = str(CORES)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


ONCE_FROM = 10_000_000  # people: measured once, whatever --repeats says


def run_case(engine: str, scenario: str, n: int, days: int, repeats: int) -> dict:
    repeats = 1 if n >= ONCE_FROM else repeats
    return summarize(engine, scenario, n, days, [measure(engine, scenario, n, days, seed) for seed in range(repeats)])


def run_pair(cases: list[tuple[str, str, int, int]], repeats: int) -> list[dict]:
    """Cases that differ only in engine, measured interleaved: each seed runs every engine in
    turn, so that a change of load falls on all of them."""
    repeats = 1 if cases[0][2] >= ONCE_FROM else repeats
    runs = {case: [] for case in cases}
    for seed in range(repeats):
        for case in cases:
            runs[case].append(measure(case[0], case[1], case[2], case[3], seed))
    return [summarize(*case, runs[case]) for case in cases]


def summarize(engine: str, scenario: str, n: int, days: int, runs: list[dict]) -> dict:
    failed = [r for r in runs if "error" in r]
    if failed:
        return {"engine": engine, "scenario": Path(scenario).stem, "people": n, "days": days, "error": failed[0]["error"]}
    simulate_s = statistics.median(r["simulate_s"] for r in runs)
    row = {
        "engine": engine,
        "scenario": Path(scenario).stem,
        "people": n,
        "days": days,
        "repeats": len(runs),
        "cores": CORES or os.cpu_count(),
        "build_s": statistics.median(r["build_s"] for r in runs),
        "simulate_s": simulate_s,
        "person_days_per_s": n * days / simulate_s,
        "person_days_per_cpu_s": n * days / statistics.median(r["simulate_cpu_s"] for r in runs),
        "bytes_per_person": statistics.median(r["peak_bytes"] for r in runs) / n,
        "listed": runs[0]["listed"],
        "runs": runs,
    }
    if "events" in runs[0]:  # the floors: events a day, and the time of a day per event
        row["events_per_day"] = statistics.median(r["events"] for r in runs) / days
        row["ns_per_event"] = 1e9 * simulate_s / max(statistics.median(r["events"] for r in runs), 1.0)
    return row


def peer_checks(rows: list[dict]) -> list[dict]:
    checks = []
    for n in sorted({r["people"] for r in rows if r["scenario"] == "reference"}):
        pair = {r["engine"]: r for r in rows if r["scenario"] == "reference" and r["people"] == n and "error" not in r}
        if "credsim" not in pair or "mesa" not in pair:
            continue
        ours, theirs = pair["credsim"], pair["mesa"]
        check = {
            "people": n,
            "speedup": ours["person_days_per_s"] / theirs["person_days_per_s"],
            "speedup_cpu": ours["person_days_per_cpu_s"] / theirs["person_days_per_cpu_s"],
        }
        sizes = {"group0": 0.9 * n, "group1": 0.1 * n}
        for group, size in sizes.items():
            p1, p2 = ours["listed"][group], theirs["listed"][group]
            pooled = (p1 + p2) / 2
            se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * 2 / size)
            check[f"{group}_credsim"], check[f"{group}_mesa"], check[f"{group}_z"] = p1, p2, (p1 - p2) / se
        check["same_within_sampling_error"] = all(abs(check[f"{g}_z"]) < 3 for g in sizes)
        checks.append(check)
    return checks


def engine_ratios(rows: list[dict]) -> list[dict]:
    """The event engine's throughput over the reference engine's, case by case."""
    out = []
    for row in rows:
        if row.get("engine") != "credsim-event" or "error" in row:
            continue
        other = next((r for r in rows if r.get("engine") == "credsim-reference" and r["scenario"] == row["scenario"]
                      and r["people"] == row["people"] and r["days"] == row["days"] and "error" not in r), None)
        if other:
            out.append({"scenario": row["scenario"], "people": row["people"], "ratio": row["person_days_per_s"] / other["person_days_per_s"]})
    return out


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 2**30, 1), "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=[*SUITES, "all"], action="append", help="repeatable [default: all]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=None, help="run each measurement on this many cores (taskset; NUMBA_NUM_THREADS)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file [default: benchmarks/results/DATE-HHMM.json]")
    args = parser.parse_args()
    if args.cores is not None and not 1 <= args.cores <= (os.cpu_count() or 1):
        parser.error(f"--cores {args.cores}: expected a number of cores from 1 to {os.cpu_count()}")
    global CORES
    CORES = args.cores
    chosen = [s for s in (args.suite or []) if s != "all"] or list(SUITES)
    out = args.out or HERE / "results" / f"{dt.datetime.now():%Y-%m-%d-%H%M}.json"
    problem = _unwritable(out)
    if problem:  # say so now, not after the suite has run for half an hour
        parser.error(f"--out {out}: {problem}")

    rows = []
    table = Table(title="credsim benchmarks", header_style="bold")
    for column in ("suite", "engine", "scenario", "people", "days", "build s", "simulate s", "person-days/s", "bytes/person"):
        table.add_column(column, justify="left" if column in ("suite", "engine", "scenario") else "right")
    for suite in chosen:
        cases = SUITES[suite]
        groups = [cases[k : k + 2] for k in range(0, len(cases), 2)] if suite == "engines" else [[case] for case in cases]
        for group in groups:
            engine, scenario, n, days = group[0]
            console.print(f"[dim]{suite}: {', '.join(c[0] for c in group)} {Path(scenario).stem} {n:,} x {days} days ...[/]")
            done = run_pair(group, args.repeats) if len(group) > 1 else [run_case(*group[0], args.repeats)]
            for row in done:
                row = {"suite": suite, **row}
                rows.append(row)
                if "error" in row:
                    table.add_row(suite, row["engine"], row["scenario"], f"{n:,}", str(days), "", "", "failed: " + row["error"][:40], "")
                else:
                    table.add_row(suite, row["engine"], row["scenario"], f"{n:,}", str(days), f"{row['build_s']:.2f}", f"{row['simulate_s']:.2f}",
                                  f"{row['person_days_per_s']:.3g}", f"{row['bytes_per_person']:.0f}")
    console.print(table)
    checks = peer_checks(rows)
    for check in checks:
        console.print(
            f"peer at {check['people']:,}: credsim is {check['speedup']:.0f}x Mesa; listed fraction group1 "
            f"{check['group1_credsim']:.4f} vs {check['group1_mesa']:.4f} (z = {check['group1_z']:+.2f}), group0 "
            f"{check['group0_credsim']:.5f} vs {check['group0_mesa']:.5f} (z = {check['group0_z']:+.2f}): "
            + ("same within sampling error" if check["same_within_sampling_error"] else "DIFFERENT")
        )
    staging = out.with_name(f".{out.name}.partial")  # a file already there stays whole until replaced
    for ratio in engine_ratios(rows):
        console.print(f"engines on {ratio['scenario']} at {ratio['people']:,}: event / reference throughput {ratio['ratio']:.2f}")
    staging.write_text(json.dumps({"machine": machine(), "repeats": args.repeats, "cores": CORES, "rows": rows, "peer": checks,
                                   "engines": engine_ratios(rows)}, indent=2) + "\n")
    os.replace(staging, out)
    console.print(f"wrote {out}")


def _unwritable(path: Path) -> str | None:
    """Why the results could not be written to ``path``, or None (its folder is made now)."""
    if path.is_dir():
        return "is a folder; give a file name"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot make the folder {path.parent}: {error.strerror or error}"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"cannot write in {path.parent}"
    return None


if __name__ == "__main__":
    main()
