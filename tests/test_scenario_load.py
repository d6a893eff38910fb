"""Loading scenarios: every bad input is a ScenarioError naming the source, the field, what
was expected and what was found; `extends` and `--set` do what they say; built-ins round-trip."""

from __future__ import annotations

import copy
import tomllib

import pytest
import tomli_w

import credsim
from credsim import ScenarioError, load_scenario
from credsim.scenario import builtin_names, dump_dict, to_toml


def write(path, data: dict) -> str:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def error_of(source, overrides=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(source, overrides)
    return info.value


# ---------------------------------------------------------------- bad files


def test_city_itself_is_valid(city, tmp_path):
    # the broken files below are edits of this one: it must be fine unedited
    scenario = load_scenario(write(tmp_path / "city-copy.toml", city))
    assert scenario == load_scenario("city")


def test_bad_file_is_reported_with_file_field_expected_and_found(bad_file):
    path, fragments = bad_file
    error = error_of(path)
    message = str(error)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"
    assert "Traceback" not in message
    assert isinstance(error, credsim.CredsimError)


def test_bad_file_given_as_str_path_is_reported_the_same(bad_file):
    path, fragments = bad_file
    message = str(error_of(str(path)))
    assert str(path) in message and all(f in message for f in fragments)


def test_several_problems_are_all_listed(city, tmp_path):
    data = copy.deepcopy(city)
    data["listing"]["min_days"] = "a year"
    data["appeal"]["uphold_wrongful"] = 2.0
    message = str(error_of(write(tmp_path / "two.toml", data)))
    assert "listing.min_days" in message and "appeal.uphold_wrongful" in message


def test_unknown_key_error_says_which_keys_are_expected(city, tmp_path):
    data = copy.deepcopy(city)
    data["appeal"]["capacity_per_milion"] = data["appeal"].pop("capacity_per_million")
    message = str(error_of(write(tmp_path / "typo.toml", data)))
    assert "capacity_per_million" in message.replace("capacity_per_milion", "")


@pytest.mark.parametrize(
    "section, key, value",
    [("listing", "threshold", True), ("listing", "min_days", "365"), ("listing", "enabled", "yes")],
    ids=["bool-for-float", "string-for-int", "string-for-bool"],
)
def test_wrong_scalar_type_is_not_coerced(city, tmp_path, section, key, value):
    data = copy.deepcopy(city)
    data[section][key] = value
    message = str(error_of(write(tmp_path / "coerce.toml", data)))
    assert f"{section}.{key}" in message


def test_no_such_file_is_named(tmp_path):
    missing = tmp_path / "nowhere.toml"
    assert str(missing) in str(error_of(missing))


def test_unknown_builtin_name_lists_the_builtins():
    message = str(error_of("no-such-city"))
    assert "no-such-city" in message
    assert "city" in message.replace("no-such-city", "")
    for name in builtin_names():
        assert name in message


# ---------------------------------------------------------------- extends


def test_cyclic_extends_is_an_error_naming_both_files(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('[meta]\nname = "a"\nextends = "b.toml"\n', encoding="utf-8")
    b.write_text('[meta]\nname = "b"\nextends = "a.toml"\n', encoding="utf-8")
    message = str(error_of(a))
    assert "extends" in message and "cycle" in message
    assert str(a) in message and "b.toml" in message


def test_self_extends_is_a_cycle(tmp_path):
    a = tmp_path / "self.toml"
    a.write_text('[meta]\nname = "a"\nextends = "self.toml"\n', encoding="utf-8")
    assert "cycle" in str(error_of(a))


def test_extends_builtin_overrides_one_field_and_keeps_the_rest(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text('[meta]\nextends = "city"\n\n[listing]\nmin_days = 123\n', encoding="utf-8")
    got = load_scenario(child)
    base = load_scenario("city")
    assert got.listing.min_days == 123 and base.listing.min_days != 123
    expected = dump_dict(base)
    expected["listing"]["min_days"] = 123
    assert dump_dict(got) == expected


def test_extends_relative_path_resolves_beside_the_file(tmp_path, monkeypatch, city):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    write(folder / "parent.toml", city)
    (folder / "kid.toml").write_text(
        '[meta]\nname = "kid"\nextends = "parent.toml"\n\n[score.deltas]\nalcohol = -7\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)  # not the folder of the files
    got = load_scenario(folder / "kid.toml")
    assert got.meta.name == "kid"
    assert got.score.deltas["alcohol"] == -7
    assert got.score.deltas["debt_default"] == city["score"]["deltas"]["debt_default"]  # merged, not replaced


def test_extends_of_a_bad_parent_names_the_parent(tmp_path, city):
    data = copy.deepcopy(city)
    data["listing"]["threshold"] = "low"
    write(tmp_path / "parent.toml", data)
    (tmp_path / "kid.toml").write_text('[meta]\nname = "kid"\nextends = "parent.toml"\n', encoding="utf-8")
    message = str(error_of(tmp_path / "kid.toml"))
    assert "listing.threshold" in message and "'low'" in message


def test_extends_unknown_builtin_is_an_error(tmp_path):
    (tmp_path / "kid.toml").write_text('[meta]\nname = "kid"\nextends = "atlantis"\n', encoding="utf-8")
    assert "atlantis" in str(error_of(tmp_path / "kid.toml"))


# ---------------------------------------------------------------- --set


def test_set_nonexistent_path():
    message = str(error_of("city", ["nonsense.key=1"]))
    assert "--set" in message and "nonsense.key" in message and "no such field" in message


def test_set_nonexistent_nested_path_lists_the_fields():
    message = str(error_of("city", ["listing.min_dayz=3"]))
    assert "listing.min_dayz" in message and "min_days" in message.replace("min_dayz", "")


def test_set_wrong_type():
    message = str(error_of("city", ["listing.min_days=abc"]))
    assert "'city' (with listing.min_days=abc)" in message and "--set" not in message  # named by what was given
    assert "integer" in message and "'abc'" in message


def test_set_out_of_range():
    message = str(error_of("city", ["appeal.uphold_wrongful=1.5"]))
    assert "appeal.uphold_wrongful" in message and "1.5" in message


def test_set_without_equals():
    message = str(error_of("city", ["listing.min_days"]))
    assert "--set" in message and "listing.min_days" in message and "KEY=VALUE" in message


def test_set_below_a_value():
    message = str(error_of("city", ["listing.min_days.x=1"]))
    assert "listing.min_days.x" in message and "not a table" in message


def test_set_nan():
    message = str(error_of("city", ["score.forgiveness=nan"]))
    assert "score.forgiveness" in message and "finite" in message


def test_set_scalar_and_string_values_apply():
    got = load_scenario("city", ["listing.min_days=30", "meta.name=test-run", "listing.enabled=false"])
    assert got.listing.min_days == 30 and got.meta.name == "test-run" and got.listing.enabled is False


def test_set_as_mapping_applies():
    got = load_scenario("city", {"listing.min_days": 31, "population.size": 500})
    assert got.listing.min_days == 31 and got.population.size == 500


def test_set_on_dict_table_key_works():
    got = load_scenario("city", ["observation.cameras.watch.minority=3"])
    base = load_scenario("city")
    assert got.observation.cameras.watch["minority"] == 3.0
    assert got.observation.cameras.watch["majority"] == base.observation.cameras.watch["majority"]


def test_set_unknown_key_in_keyed_table_is_checked_against_names():
    message = str(error_of("city", ["score.deltas.jaywalking=-3"]))
    assert "score.deltas" in message and "'jaywalking'" in message


@pytest.mark.parametrize(
    "override, get",
    [
        ("population.groups.minority.income_median=0.5", lambda s: s.population.groups["minority"].income_median),
        ("behaviours.fraud.p_records=0.75", lambda s: s.behaviours["fraud"].p_records),
        ("behaviours.religious_practice.rate.minority=0.05", lambda s: s.behaviours["religious_practice"].rate["minority"]),
    ],
    ids=["group-field", "behaviour-field", "behaviour-rate"],
)
def test_set_through_a_table_of_sections(override, get):
    got = load_scenario("city", [override])
    assert get(got) == float(override.split("=")[1])


def test_set_through_a_table_of_sections_checks_the_field():
    message = str(error_of("city", ["behaviours.fraud.p_recrods=0.5"]))
    assert "behaviours.fraud.p_recrods" in message and "p_records" in message.replace("p_recrods", "")


def test_later_set_wins():
    assert load_scenario("city", ["listing.min_days=5", "listing.min_days=6"]).listing.min_days == 6


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_round_trips_through_to_toml(name, tmp_path):
    scenario = load_scenario(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(scenario), encoding="utf-8")
    again = load_scenario(path)
    assert again == scenario
    assert "extends" not in tomllib.loads(to_toml(scenario))["meta"]


def test_overridden_scenario_round_trips(tmp_path):
    scenario = load_scenario("city", ["observation.cameras.watch.minority=3", "population.size=777"])
    path = tmp_path / "rt.toml"
    path.write_text(to_toml(scenario), encoding="utf-8")
    assert load_scenario(path) == scenario


def test_city_is_builtin_and_the_default():
    assert "city" in builtin_names()
    assert load_scenario() == load_scenario("city")
