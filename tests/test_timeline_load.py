"""Timelines in scenario files: steps, ramps, what may not change, same-day clashes, the
scenario checked as it stands on every change day, ``extends``, ``--set`` and the override
paths into entries (``timeline.0.day``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from credsim.errors import ScenarioError
from credsim.scenario import load_scenario, to_toml, validate_dict, with_overrides
from credsim.scenario import timeline

HEAD = '[meta]\nname = "t"\nextends = "beijing-2020"\n\n[population]\nsize = 1000\ndays = 300\n'


def _write(tmp_path: Path, body: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_a_step_changes_its_field_from_its_day(tmp_path):
    path = _write(tmp_path, '[[timeline]]\nday = 200\nset = { "appeal.capacity_per_million" = 5000.0 }\n')
    scenario = load_scenario(path)
    base = load_scenario("beijing-2020")
    assert scenario.appeal.capacity_per_million == base.appeal.capacity_per_million  # the base value
    [(change, after)] = timeline.regimes(scenario)
    assert change.day == 200 and change.entries == (0,) and not change.open
    assert after.appeal.capacity_per_million == 5000.0
    assert after.listing == scenario.listing and not after.timeline


def test_a_nested_set_table_means_the_same_dotted_paths(tmp_path):
    dotted = load_scenario(_write(tmp_path, '[[timeline]]\nday = 5\nset = { "appeal.capacity_per_million" = 50.0 }\n', "a.toml"))
    nested = load_scenario(_write(tmp_path, "[[timeline]]\nday = 5\nset.appeal.capacity_per_million = 50.0\n", "b.toml"))
    assert dotted.timeline == nested.timeline


def test_a_ramp_steps_every_step_days_and_rounds_whole_numbers(tmp_path):
    body = (
        "[[timeline]]\nfrom_day = 10\nto_day = 40\nstep_days = 7\n"
        'ramp = { "listing.min_days" = [100, 201], "appeal.capacity_per_million" = [10.0, 40.0] }\n'
    )
    changes = timeline.changes(load_scenario(_write(tmp_path, body)))
    assert [c.day for c in changes] == [10, 17, 24, 31, 38, 40]
    # min_days is a whole number: 100 + 101 * share, rounded to the nearest (halves up)
    expected = [100 + 101 * (d - 10) / 30 for d in (10, 17, 24, 31, 38, 40)]
    assert [c.values["listing.min_days"] for c in changes] == [int(x + 0.5) for x in expected]
    assert all(isinstance(c.values["listing.min_days"], int) for c in changes)
    assert [c.values["appeal.capacity_per_million"] for c in changes] == pytest.approx([10 + (d - 10) for d in (10, 17, 24, 31, 38, 40)])


def test_a_ramp_of_lists_moves_each_element(tmp_path):
    regions = load_scenario("beijing-2020").population.regions
    start, end = [1.0] + [0.0] * (regions - 1), [1.0] + [2.0] * (regions - 1)
    body = f'[[timeline]]\nfrom_day = 0\nto_day = 20\nstep_days = 10\nramp = {{ "surveillance.intensity" = [{start}, {end}] }}\n'
    changes = timeline.changes(load_scenario(_write(tmp_path, body)))
    assert [c.values["surveillance.intensity"][:2] for c in changes] == [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("population.size", "population"),
        ("population.groups.majority.share", "population"),
        ("score.grades.A", "columns of daily.parquet"),
        ("meta.name", "describe the whole run"),
        ("behaviours.arson.rate.majority", "cannot add one"),
        ("behaviours.debt_default.region_rate", "region multipliers bound its draws"),
    ],
)
def test_fields_that_cannot_change_are_refused_naming_file_and_entry(tmp_path, path, fragment):
    file = _write(tmp_path, f'[[timeline]]\nday = 3\nset = {{ "appeal.capacity_per_million" = 1.0 }}\n[[timeline]]\nday = 9\nset = {{ "{path}" = 1 }}\n')
    with pytest.raises(ScenarioError) as error:
        load_scenario(file)
    text = str(error.value)
    assert "t.toml" in text and f"timeline.1.set.{path}" in text and "cannot change during a run" in text and fragment in text


def test_an_unknown_field_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match=r"timeline\.0\.set\.appeal\.capacity: no such field"):
        load_scenario(_write(tmp_path, '[[timeline]]\nday = 3\nset = { "appeal.capacity" = 1.0 }\n'))


def test_one_field_changed_twice_on_one_day_is_refused(tmp_path):
    body = (
        '[[timeline]]\nday = 14\nset = { "appeal.capacity_per_million" = 1.0 }\n'
        '[[timeline]]\nfrom_day = 0\nto_day = 28\nramp = { "appeal.capacity_per_million" = [1.0, 2.0] }\n'
    )
    with pytest.raises(ScenarioError, match=r"timeline\.1: changes appeal\.capacity_per_million on day 14, as timeline\.0 does"):
        load_scenario(_write(tmp_path, body))


def test_the_scenario_is_checked_as_it_stands_on_each_change_day(tmp_path):
    # Each entry alone is a valid value; together, from day 20, threshold > exit_threshold.
    base = load_scenario("beijing-2020")
    body = (
        f'[[timeline]]\nday = 10\nset = {{ "listing.exit_threshold" = {base.listing.threshold + 1.0} }}\n'
        f'[[timeline]]\nday = 20\nset = {{ "listing.threshold" = {base.listing.threshold + 2.0} }}\n'
    )
    with pytest.raises(ScenarioError) as error:
        load_scenario(_write(tmp_path, body))
    assert "t.toml" in str(error.value) and "timeline.1 (day 20)" in str(error.value) and "exit_threshold" in str(error.value)
    with pytest.raises(ScenarioError, match=r"timeline\.0 \(day 10\).*appeal\.capacity_per_million.*>= 0"):
        load_scenario(_write(tmp_path, '[[timeline]]\nday = 10\nset = { "appeal.capacity_per_million" = -1.0 }\n'))


@pytest.mark.parametrize(
    "entry, message",
    [
        ("day = 3", "a step entry needs a day and a non-empty set"),
        ('day = 3\nfrom_day = 1\nto_day = 5\nramp = { "appeal.capacity_per_million" = [1.0, 2.0] }', "not both"),
        ('from_day = 5\nto_day = 5\nramp = { "appeal.capacity_per_million" = [1.0, 2.0] }', "must be after from_day"),
        ('from_day = 1\nto_day = 5\nramp = { "appeal.capacity_per_million" = [1.0] }', "expected [start, end]"),
        ('day = 3\napplies_to = "all"\nset = { "appeal.capacity_per_million" = 1.0 }', "applies_to"),
    ],
)
def test_malformed_entries_are_clear_errors(tmp_path, entry, message):
    with pytest.raises(ScenarioError) as error:
        load_scenario(_write(tmp_path, f"[[timeline]]\n{entry}\n"))
    assert message in str(error.value) and "timeline.0" in str(error.value)


def test_open_and_new_terms_on_one_day_are_refused(tmp_path):
    body = (
        '[[timeline]]\nday = 9\napplies_to = "open"\nset = { "appeal.capacity_per_million" = 1.0 }\n'
        '[[timeline]]\nday = 9\nset = { "listing.min_days" = 10 }\n'
    )
    with pytest.raises(ScenarioError, match="put them on different days"):
        load_scenario(_write(tmp_path, body))


def test_set_changes_base_values_and_leaves_the_timeline(tmp_path):
    path = _write(tmp_path, '[[timeline]]\nday = 200\nset = { "appeal.capacity_per_million" = 5000.0 }\n')
    scenario = load_scenario(path, ["appeal.capacity_per_million=77"])
    assert scenario.appeal.capacity_per_million == 77
    assert timeline.regimes(scenario)[0][1].appeal.capacity_per_million == 5000.0


def test_override_paths_address_an_entry(tmp_path):
    path = _write(tmp_path, '[[timeline]]\nday = 200\nset = { "appeal.capacity_per_million" = 5000.0 }\n')
    scenario = load_scenario(path, ["timeline.0.day=150", "timeline.0.set.appeal.capacity_per_million=900"])
    assert scenario.timeline[0].day == 150 and scenario.timeline[0].set == {"appeal.capacity_per_million": 900}
    moved = with_overrides(scenario, {"timeline.0.set.appeal.uphold_wrongful": 0.9, "timeline.0.applies_to": "open"})
    assert moved.timeline[0].set == {"appeal.capacity_per_million": 900, "appeal.uphold_wrongful": 0.9}
    assert moved.timeline[0].applies_to == "open"
    for bad, message in (
        ("timeline.1.day=3", "there is no entry 1"),
        ("timeline.x.day=3", "timeline.<entry number>"),
        ("timeline.0.days=3", "no such field of a timeline entry"),
        ("timeline.0.set.population.size=3", "cannot change during a run"),
    ):
        with pytest.raises(ScenarioError, match=message):
            load_scenario(path, [bad])


def test_experiments_accept_timeline_paths():
    from credsim.scenario.load import _check_path

    assert _check_path("timeline.0.set.appeal.capacity_per_million".split(".")) is None
    assert _check_path("timeline.0.day".split(".")) is None
    assert "cannot change" in _check_path("timeline.0.set.population.days".split("."))
    from credsim.experiments.spec import _field_type  # what an experiment samples for each path

    assert _field_type("timeline.0.day") == "int" and _field_type("timeline.0.applies_to") == "str"
    assert _field_type("timeline.0.set.appeal.capacity_per_million") == "float"
    assert _field_type("timeline.0.set.listing.min_days") == "int"
    assert _field_type("timeline.0.ramp.listing.min_days") == "other"


def test_extends_adds_the_childs_entries_after_the_parents(tmp_path):
    parent = _write(tmp_path, '[[timeline]]\nday = 200\nset = { "appeal.capacity_per_million" = 5000.0 }\n', "parent.toml")
    child = tmp_path / "child.toml"
    child.write_text(
        f'[meta]\nname = "c"\nextends = "{parent.name}"\n[[timeline]]\nday = 250\nset = {{ "appeal.capacity_per_million" = 1.0 }}\n',
        encoding="utf-8",
    )
    scenario = load_scenario(child)
    assert [e.day for e in scenario.timeline] == [200, 250]
    assert [c.day for c in timeline.changes(scenario)] == [200, 250]


def test_the_resolved_toml_keeps_the_timeline(tmp_path):
    body = (
        '[[timeline]]\nday = 200\nnote = "reform"\nset = { "appeal.capacity_per_million" = 5000.0 }\n'
        '[[timeline]]\nfrom_day = 0\nto_day = 30\napplies_to = "open"\nramp = { "listing.min_days" = [100, 200] }\n'
    )
    scenario = load_scenario(_write(tmp_path, body))
    text = to_toml(scenario)
    again = validate_dict(tomllib.loads(text), "again")
    assert again == scenario and to_toml(again) == text
