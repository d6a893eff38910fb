"""Statistical agreement between two engines (or two variants of a scenario).

The engines draw their random numbers by different schemes, so they can only agree in
distribution. Each run is reduced to a vector of per-run statistics (:func:`statistics`);
two sets of runs, on disjoint seeds, are compared statistic by statistic with Welch's
two-sample t-test, and the family of K tests is held to a false-alarm rate of ``ALPHA``
(0.001) for the whole family by Holm's step-down procedure (:func:`compare`).

What one run gives, per group ``g`` (``name/g``):

- ``listed``, ``on_notice``, ``detained``: the daily level as a share of the group,
  averaged over the days, and over each quarter of them (``.../q1`` to ``.../q4``: the
  trajectory's shape, so that a level reached early or late is seen);
- ``score_mean``, ``score_p10``, ``score_p50``, ``score_p90``: averaged over the days
  (``.../avg``) and on the last day (``.../last``);
- ``risk_mean``: averaged over the days;
- ``income``: the group's mean income as a share of its mean base income (the income its
  people were drawn with), averaged over the days -- the share, because the level itself
  varies more between populations (seeds) than anything the days do to it;

and for the whole population: listing episodes by class (``episodes_class/wrongful``,
``unjust``, ``rules``) and by exit (``episodes_exit/term``, ``appeal``, ``censored``), and
true events and observations per behaviour (``events/b``, ``observations/b``).

A statistic equal to one constant in both sets (a mechanism that never acts) is reported
but not tested; both constant but different is a difference (p = 0).

Welch's t on per-run values: every statistic is a sum or an average over thousands of
person-days, and the two sets have the same number of runs, so under the null the
difference of means is close to normal and symmetric even where a count is skewed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from unittest import mock

import numpy as np
from scipy import stats as scipy_stats

import credsim

ALPHA = 0.001  # the false-alarm rate of the whole family of tests (Holm)

LEVELS = ("listed", "on_notice", "detained")
QUARTERS = 4
SCORES = ("score_mean", "score_p10", "score_p50", "score_p90")
MEANS = ("risk_mean",)
CLASSES = ("wrongful", "unjust", "rules")
EXITS = ("term", "appeal", "censored")


@dataclass(frozen=True)
class Sample:
    """Runs of one engine and scenario: ``values`` (runs, K), one row per seed."""

    engine: str
    scenario: str
    seeds: tuple[int, ...]
    names: tuple[str, ...]
    values: np.ndarray


@dataclass(frozen=True)
class Row:
    name: str
    mean_a: float
    mean_b: float
    se: float  # standard error of mean_b - mean_a
    t: float
    df: float
    p: float  # two-sided; nan when not tested
    tested: bool
    rejected: bool


@dataclass(frozen=True)
class Comparison:
    """The family of tests: ``rejected`` is the family's decision at ``alpha``."""

    rows: tuple[Row, ...]
    alpha: float

    @property
    def tested(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.tested)

    @property
    def rejected(self) -> bool:
        return any(r.rejected for r in self.rows)

    @property
    def min_p(self) -> float:
        return min((r.p for r in self.tested), default=float("nan"))

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def report(self, top: int = 8, everything: bool = False) -> str:
        """The family's decision and the ``top`` smallest p-values (``everything``: every
        statistic, the untested ones last), for a failing assertion or a reader."""
        k = len(self.tested)
        lines = [
            f"{'REJECTED' if self.rejected else 'not rejected'} at family alpha={self.alpha} "
            f"(Holm over K={k} tested statistics, {len(self.rows) - k} constant and not tested)"
        ]
        shown = sorted(self.tested, key=lambda r: r.p)
        for r in shown if everything else shown[:top]:
            mark = " *" if r.rejected else ""
            lines.append(f"  {r.name:40s} a={r.mean_a:.6g} b={r.mean_b:.6g} diff={r.mean_b - r.mean_a:+.4g} se={r.se:.3g} t={r.t:+.2f} p={r.p:.2e}{mark}")
        if everything:
            lines += [f"  {r.name:40s} a={r.mean_a:.6g} b={r.mean_b:.6g} (constant: not tested)" for r in self.rows if not r.tested]
        return "\n".join(lines)


def statistics(result, observations_by_behaviour: np.ndarray) -> dict[str, float]:
    """One run's statistics (see the module docstring)."""
    sc = result.scenario
    daily = result.daily
    groups = np.asarray(daily.column("group").to_pylist())
    out: dict[str, float] = {}
    for g in sc.group_names:
        mine = groups == g
        column = lambda name: daily.column(name).to_numpy()[mine].astype(np.float64)  # noqa: E731
        population = column("population")
        for name in LEVELS:
            share = column(name) / population
            out[f"{name}/{g}"] = float(share.mean())
            for q, part in enumerate(np.array_split(share, QUARTERS), start=1):
                out[f"{name}/q{q}/{g}"] = float(part.mean())
        for name in SCORES:
            values = column(name)
            out[f"{name}/avg/{g}"] = float(values.mean())
            out[f"{name}/last/{g}"] = float(values[-1])
        for name in MEANS:
            out[f"{name}/{g}"] = float(column(name).mean())
        k = sc.group_names.index(g)
        base = result.world.base_income_sum[k] / result.world.group_size[k]
        out[f"income/{g}"] = float(column("income_mean").mean() / base)
    episodes = result.episodes
    classes = np.asarray(episodes.column("class").to_pylist(), dtype=object)
    exits = np.asarray(episodes.column("exit").to_pylist(), dtype=object)
    for c in CLASSES:
        out[f"episodes_class/{c}"] = float(np.count_nonzero(classes == c))
    for e in EXITS:
        out[f"episodes_exit/{e}"] = float(np.count_nonzero(exits == e))
    mechanisms = result.summary["mechanisms"]
    for b, name in enumerate(sc.behaviours):
        out[f"events/{name}"] = float(mechanisms[f"behaviour:{name}"]["activity"])
        out[f"observations/{name}"] = float(observations_by_behaviour[b])
    return out


def run(scenario, seed: int, engine: str) -> dict[str, float]:
    """One run's statistics. The per-behaviour observations are the run's recorder's
    (``behaviour_columns``), which a RunResult does not carry: the recorder is caught as
    :mod:`credsim.simulate` makes it."""
    module = sys.modules["credsim.simulate"]
    made = []

    class Caught(module.Recorder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    with mock.patch.object(module, "Recorder", Caught):
        result = credsim.simulate(scenario, seed, engine=engine)
    (recorder,) = made
    return statistics(result, recorder.behaviour_columns["observations"].sum(axis=0))


def sample(scenario, seeds: Iterable[int], engine: str) -> Sample:
    """Run ``scenario`` with ``engine`` once per seed."""
    seeds = tuple(int(s) for s in seeds)
    rows = [run(scenario, s, engine) for s in seeds]
    names = tuple(rows[0])
    return Sample(engine, scenario.meta.name, seeds, names, np.array([[r[n] for n in names] for r in rows]))


def compare(a: Sample, b: Sample, alpha: float = ALPHA) -> Comparison:
    """Welch's t-test per statistic, Holm's procedure over the tested ones at family
    false-alarm rate ``alpha``. The two samples must not share seeds (they would share
    their populations, and the test assumes independent runs)."""
    if a.names != b.names:
        raise ValueError("the two samples have different statistics")
    if set(a.seeds) & set(b.seeds):
        raise ValueError(f"the two samples share seeds {sorted(set(a.seeds) & set(b.seeds))}")
    x, y = a.values.T, b.values.T  # (K, runs)
    t, df, p = welch(x, y)
    se = np.sqrt(x.var(axis=1, ddof=1) / x.shape[1] + y.var(axis=1, ddof=1) / y.shape[1])
    rows = []
    for k, name in enumerate(a.names):
        untested = se[k] == 0 and x[k, 0] == y[k, 0]  # one constant in both: nothing to test
        rows.append(Row(name, float(x[k].mean()), float(y[k].mean()), float(se[k]), float(t[k]), float(df[k]),
                        float("nan") if untested else float(p[k]), not untested, False))
    return Comparison(tuple(_holm(rows, alpha)), alpha)


def welch(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's two-sample t-test along the last axis of ``x`` (..., n) and ``y`` (..., m):
    t (of mean y - mean x), its Welch-Satterthwaite degrees of freedom, and the two-sided
    p-value. Where both samples are constant, p is 0 if the constants differ (t = +-inf)
    and 1 if they are equal (t = 0, df = nan)."""
    n, m = x.shape[-1], y.shape[-1]
    vx, vy = x.var(axis=-1, ddof=1) / n, y.var(axis=-1, ddof=1) / m
    diff = y.mean(axis=-1) - x.mean(axis=-1)
    se2 = vx + vy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se2 > 0, diff / np.sqrt(se2), np.sign(diff) * np.inf)
        df = se2**2 / (vx**2 / (n - 1) + vy**2 / (m - 1))
    p = np.where(se2 > 0, 2 * scipy_stats.t.sf(np.abs(t), np.where(se2 > 0, df, 1.0)), np.where(diff != 0, 0.0, 1.0))
    return t, df, p


def _holm(rows: Sequence[Row], alpha: float) -> list[Row]:
    """Holm's step-down: the i-th smallest of m p-values is rejected if it and every smaller
    one are at most alpha / (m - i); the family rejects iff min p <= alpha / m."""
    tested = sorted((r for r in rows if r.tested), key=lambda r: r.p)
    m = len(tested)
    rejected = set()
    for i, r in enumerate(tested):
        if r.p > alpha / (m - i):
            break
        rejected.add(r.name)
    return [Row(**{**r.__dict__, "rejected": r.name in rejected}) for r in rows]


def main(argv: Sequence[str] | None = None) -> None:
    """Compare the reference engine on seeds 0..runs-1 with ``--engine`` (and ``--set``
    changes) on seeds 1000..1000+runs-1, and print the family's decision and each side's CPU
    seconds per run: ``python -m tests.engines.agreement city --engine event``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m tests.engines.agreement", description=main.__doc__)
    parser.add_argument("scenario")
    parser.add_argument("--engine", default="event", help="the other side's engine (default: event)")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="a change to the other side's scenario")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--all", action="store_true", help="print every statistic, not the 8 smallest p-values")
    args = parser.parse_args(argv)
    base = [f"population.size={args.size}", f"population.days={args.days}"]
    for engine in ("reference", args.engine):  # compiled and warm before the clock starts
        credsim.simulate(credsim.load_scenario(args.scenario, overrides=["population.size=500", "population.days=2"]), 0, engine=engine)
    sides = []
    for scenario, seeds, engine in (
        (credsim.load_scenario(args.scenario, overrides=base), range(args.runs), "reference"),
        (credsim.load_scenario(args.scenario, overrides=base + args.set), range(1000, 1000 + args.runs), args.engine),
    ):
        start = time.process_time()
        sides.append(sample(scenario, seeds, engine))
        changed = f" with {', '.join(args.set)}" if sides[1:] and args.set else ""
        print(f"{engine}{changed}: seeds {seeds.start}-{seeds.stop - 1}, {(time.process_time() - start) / args.runs:.3f} s CPU a run")
    print(compare(*sides).report(everything=args.all))


if __name__ == "__main__":
    main()
