"""The report's "Mechanisms and noise" section: what each mechanism did in the run (summary.json's
``mechanisms``), and which headline figures are within noise (credsim.noise)."""

from __future__ import annotations

from credsim.noise import NOISY, SIGMAS, cells, within_noise
from credsim.report.panels import Table, number


def mechanisms_table(summary: dict) -> Table:
    rows = []
    for name, m in summary.get("mechanisms", {}).items():
        state = "off" if not m["enabled"] else ("active" if m["activity"] > 0 else "INACTIVE: on, did nothing")
        rows.append([name, state, number(m["activity"], "int" if float(m["activity"]).is_integer() else "num"), m["unit"]])
    return Table(["mechanism", "state", "activity", "unit"], rows,
                 "Activity counts what the mechanism changed in this run (docs/metrics.md, Mechanisms); 0 means it never acted.")


def noise_table(summary: dict) -> Table:
    rows = []
    for metric in NOISY:
        row = [metric.label]
        for _, cell in cells(summary):
            value, se = cell.get(metric.key), cell.get(metric.se)
            if value is None:
                row.append("")
                continue
            kind = "pct" if metric.null == 0 else "ratio"
            text = f"{number(value, kind)} ± {number(se, kind)}" if se is not None else number(value, kind)
            row.append(text + (" (within noise)" if within_noise(cell, metric) else ""))
        rows.append(row)
    names = [name for name, _ in cells(summary)]
    return Table(["figure ± standard error", *names], rows,
                 f"Within noise: within {SIGMAS:g} standard errors of no effect (0, or 1 for a ratio).")

