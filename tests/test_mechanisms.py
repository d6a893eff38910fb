"""summary.json's mechanisms: what each mechanism changed, never a count that grows merely
because days pass; the CLI warns of a mechanism switched on that did nothing."""

from __future__ import annotations

import numpy as np
import pytest

import credsim
from credsim.mechanisms import inactive

SMALL = ["population.size=3000", "population.days=60"]
ACTS_ON_PEOPLE = (
    "protected_penalties", "forgiveness", "guilt_by_association", "notice", "listing_threshold", "listing_immediate",
    "objection", "appeal", "travel_ban", "employment", "internet", "schooling", "shaming", "detention", "green_channel",
    "poverty_feedback", "deterrence", "chilling",
)


@pytest.fixture(scope="module")
def city():
    return credsim.simulate(credsim.load_scenario("city", SMALL), seed=2)


def test_every_entry_is_read_off_the_run(city):
    m, daily = city.summary["mechanisms"], city.daily.to_pydict()
    total = lambda *names: sum(sum(daily[n]) for n in names)  # noqa: E731
    assert m["detention"]["activity"] == total("detentions")
    assert m["green_channel"]["activity"] == total("green_days")
    assert m["travel_ban"]["activity"] == total("blocked_flight", "blocked_rail")
    assert m["listing_threshold"]["activity"] + m["listing_immediate"]["activity"] == total(
        "listings_wrongful", "listings_unjust", "listings_rules")
    events = sum(m[f"behaviour:{b}"]["activity"] for b in city.scenario.behaviours)
    assert events > 0 and m["cameras"]["activity"] == total("camera_detections")
    # Intensity moved: the regional table's day-to-day changes, from the initial intensities.
    regions = city.regions.to_pandas().pivot(index="day", columns="region", values="camera_intensity").to_numpy()
    moved = np.abs(np.diff(np.vstack([city.world.initial_intensity, regions]), axis=0)).sum()
    assert m["adaptive_surveillance"]["activity"] == pytest.approx(moved)
    for entry in m.values():
        assert set(entry) == {"enabled", "activity", "unit"} and entry["activity"] >= 0


def test_nothing_counts_merely_because_time_passes():
    """The baseline (no system) over a year: whatever is left switched on acts on nobody, so
    none of the mechanisms that act on people shows any activity, however long the run."""
    run = credsim.simulate(credsim.load_scenario("baseline", ["population.size=2000", "population.days=200"]), seed=1)
    m = run.summary["mechanisms"]
    for name in ACTS_ON_PEOPLE:
        assert m[name]["activity"] == 0, name
    assert m["adaptive_surveillance"]["activity"] == 0  # no cameras, or nothing to move them


def test_a_mechanism_on_but_untriggered_is_reported_inactive():
    """The green channel at the top of the scale pays nobody; with it off it is not listed."""
    top = credsim.simulate(credsim.load_scenario("city", [*SMALL, "sanctions.green_channel.threshold=1300"]), seed=2)
    m = top.summary["mechanisms"]["green_channel"]
    assert m["enabled"] and m["activity"] == 0
    assert "green_channel" in inactive(top.summary["mechanisms"])
    off = credsim.simulate(credsim.load_scenario("city", [*SMALL, "sanctions.green_channel.enabled=false"]), seed=2)
    assert not off.summary["mechanisms"]["green_channel"]["enabled"]
    assert "green_channel" not in inactive(off.summary["mechanisms"])


def test_run_warns_once_of_inactive_mechanisms_and_noise(credsim_cli, tmp_path):
    proc = credsim_cli("run", "city", "-n", "2000", "-d", "60", "-q", "--set", "sanctions.green_channel.threshold=1300",
                       "-o", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stderr.split())
    assert text.count("switched on but inactive") == 1 and "green_channel" in text
    assert "within noise" in text
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "Mechanisms and noise" in page and "INACTIVE: on, did nothing" in page and "(within noise)" in page
