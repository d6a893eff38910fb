"""Does a change of the engine keep every result? Runs every built-in scenario with this
working tree and with an earlier commit, and compares their output tables column by column.

    .venv/bin/python benchmarks/same_results.py 3dd893e                  # 300,000 people, 200 days
    .venv/bin/python benchmarks/same_results.py HEAD~3 --people 50000 --days 120

A change made for speed must leave the daily, episode and region tables identical (the
fast path test compares two paths of one version; this compares two versions). The earlier
commit is checked out in a temporary `git worktree`; both run in fresh processes with this
environment's packages, one scenario at a time. Exits 1 when any table differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from credsim.scenario.load import builtin_names

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("daily", "episodes", "regions")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", help="the earlier version: a commit, tag or branch")
    parser.add_argument("--people", type=_whole(1), default=300_000)
    parser.add_argument("--days", type=_whole(1), default=200)
    parser.add_argument("--seed", type=_whole(0), default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="credsim-same-") as scratch:
        earlier = Path(scratch) / "earlier"
        added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(earlier), args.commit],
                               capture_output=True, text=True)
        if added.returncode != 0:
            parser.error(f"commit {args.commit!r}: git cannot check it out ({added.stderr.strip() or 'exit ' + str(added.returncode)})")
        try:
            differ = 0
            for name in builtin_names():
                failed = [f"{side} failed: {error}" for side, tree in (("now", ROOT), ("earlier", earlier))
                          if (error := _run(tree, name, Path(scratch) / side / name, args))]
                found = failed or _compare(Path(scratch) / "now" / name, Path(scratch) / "earlier" / name)
                differ += bool(found)
                print(f"{name:16s} {'identical' if not found else 'DIFFERENT: ' + '; '.join(found)}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(earlier)], check=True)
    print(f"{differ} of {len(builtin_names())} scenarios differ" if differ else "every table identical")
    return 1 if differ else 0


def _whole(least: int):
    """An argparse type: a whole number of at least ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is below {least}")
        return value

    return parse


def _run(tree: Path, name: str, out: Path, args: argparse.Namespace) -> str:
    """Run scenario ``name`` from ``tree`` into ``out``: '' when it ran, else why not."""
    command = [
        sys.executable, "-c", "from credsim.cli import main; main()", "run", name,
        "-n", str(args.people), "-d", str(args.days), "--seed", str(args.seed),
        "--quiet", "--checkpoint-every", "0", "--out", str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run(command, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return "" if done.returncode == 0 else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def _compare(now: Path, earlier: Path) -> list[str]:
    found = []
    for table in TABLES:
        a, b = pq.read_table(now / f"{table}.parquet"), pq.read_table(earlier / f"{table}.parquet")
        if a.column_names != b.column_names or a.num_rows != b.num_rows:
            found.append(f"{table}: {a.num_rows} rows of {len(a.column_names)} columns against {b.num_rows} of {len(b.column_names)}")
            continue
        columns = [c for c in a.column_names if not a.column(c).equals(b.column(c))]
        if columns:
            found.append(f"{table}: {', '.join(columns[:6])}{' ...' if len(columns) > 6 else ''}")
    return found


if __name__ == "__main__":
    sys.exit(main())
