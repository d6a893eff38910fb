"""Every built-in scenario loads, runs, and shows the feature that defines it."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import credsim
from credsim.scenario import builtin_names, builtin_path

SCENARIOS = ("baseline", "beijing-2020", "city", "court-blacklist", "reform", "reform-plus", "rongcheng", "sesame", "xinjiang")


def test_the_seven_scenarios_and_the_default_exist():
    assert set(SCENARIOS) <= set(builtin_names())


@functools.cache
def run(name: str, size: int, days: int, seed: int = 11):
    scenario = credsim.load_scenario(name, [f"population.size={size}", f"population.days={days}"])
    return credsim.simulate(scenario, seed)


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_runs_30_days_at_10000(name):
    result = run(name, 10_000, 30)
    assert result.summary["population"] == 10_000
    assert result.daily.num_rows == 30 * len(result.scenario.population.groups)
    listed = result.daily["listed"].to_numpy()
    assert (listed >= 0).all() and (listed <= 10_000).all()


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_cites_its_sources(name):
    text = builtin_path(name).read_text(encoding="utf-8")
    scenario = credsim.load_scenario(name)
    assert scenario.meta.sources, "meta.sources must not be empty"
    assert scenario.meta.description
    if name != "city" and name != "baseline":
        assert "docs/sources.md#" in text, "a scenario of a real system cites the published figures it uses"
    assert "assumption" in text, "what is not sourced is marked as an assumption"


def test_baseline_lists_nobody_and_sanctions_nobody():
    summary = run("baseline", 20_000, 365).summary
    for group in summary["by_group"].values():
        assert group["ever_listed"] == 0
        assert group["detained_rate"] == 0
        assert group["blocked_per_1000_per_year"] == 0


def test_reform_has_no_unjust_listings_where_beijing_has_them():
    beijing = run("beijing-2020", 20_000, 365).summary
    reform = run("reform", 20_000, 365).summary
    assert beijing["overall"]["unjust_share"] > 0  # the feature reform removes is there to remove
    assert reform["overall"]["unjust_share"] == 0
    assert reform["overall"]["appeals_upheld"] > beijing["overall"]["appeals_upheld"]


def test_xinjiang_minority_listed_more_and_detained():
    summary = run("xinjiang", 20_000, 365).summary
    minority = summary["by_group"]["minority"]
    assert minority["disparate_impact"] > 1
    assert minority["detained_rate"] > 0
    assert summary["by_group"]["majority"]["detained_rate"] < minority["detained_rate"]
    assert minority["chilling_index"] > summary["by_group"]["majority"]["chilling_index"]


def test_court_blacklist_lists_only_by_judgment_and_blocks_travel():
    result = run("court-blacklist", 20_000, 730)
    assert result.scenario.listing.threshold == result.scenario.score.min  # the score lists nobody
    assert result.summary["overall"]["ever_listed"] > 0
    assert result.summary["overall"]["blocked_per_1000_per_year"] > 0
    daily = result.daily
    assert daily["blocked_rail"].to_numpy().sum() > 0 and daily["blocked_flight"].to_numpy().sum() > 0
    # a two-year term: nobody leaves by term before 730 days
    assert (result.episodes.filter(result.episodes["exit"].to_numpy(zero_copy_only=False) == "term").num_rows) == 0


def test_sesame_is_a_private_score_without_state_sanctions():
    result = run("sesame", 10_000, 120)
    scores = result.state.score
    assert scores.min() >= 350 and scores.max() <= 950
    assert result.summary["overall"]["blocked_per_1000_per_year"] == 0
    assert result.summary["overall"]["detained_rate"] == 0
    assert result.scenario.score.deltas["video_games"] == 0  # the misreported rule is not applied


def test_rongcheng_grades_partition_everyone():
    result = run("rongcheng", 10_000, 60)
    grades = [c for c in result.daily.column_names if c.startswith("grade_")]
    assert grades == ["grade_AAA", "grade_AA", "grade_A", "grade_B", "grade_C", "grade_D"]
    total = sum(result.daily[c].to_numpy() for c in grades)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def _named(field: str, table: dict) -> bool:
    """A field is named by meta.changes when it is a key, or a key is a table containing it."""
    return any(field == key or field.startswith(key + ".") for key in table)


@pytest.mark.parametrize("name", [n for n in builtin_names() if credsim.load_scenario(n) and "extends" in builtin_path(n).read_text(encoding="utf-8")])
def test_each_extending_scenario_says_what_it_changes_and_why(name):
    """Every field in which a built-in scenario differs from its parent, resolved, is named in
    its [meta.changes] table with a reason; and every key there is a field or table of the schema."""
    import tomllib

    from credsim.decompose import differing_fields
    from credsim.scenario.load import _check_path

    raw = tomllib.loads(builtin_path(name).read_text(encoding="utf-8"))
    parent = raw["meta"]["extends"]
    scenario, base = credsim.load_scenario(name), credsim.load_scenario(parent)
    table = scenario.meta.changes
    assert table == raw["meta"].get("changes", {}), "meta.changes is the file's own, not inherited"
    unnamed = [f for f in differing_fields(base, scenario) if not _named(f, table)]
    assert not unnamed, f"{name} changes {unnamed} from {parent} without saying why in [meta.changes]"
    for key, reason in table.items():
        whole_timeline = key == "timeline"  # the timeline's entries, named as one change
        assert whole_timeline or _check_path(key.split(".")) is None, f"{name}: meta.changes names {key!r}, not a field of the schema"
        assert len(reason) >= 10, f"{name}: meta.changes.{key} needs a reason"


def test_reform_is_beijing_2020_plus_due_process_only():
    """reform changes exactly four mechanisms of beijing-2020; the opacity cut, the shorter
    term and the association switch are reform-plus's, on top of reform."""
    from credsim.decompose import differing_fields, group_changes

    beijing, reform, plus = (credsim.load_scenario(n) for n in ("beijing-2020", "reform", "reform-plus"))
    names = [c.name for c in group_changes(differing_fields(beijing, reform), beijing, reform)]
    assert names == ["forgiveness", "protected-penalties", "notice-and-objection", "appeal"]
    names = [c.name for c in group_changes(differing_fields(reform, plus), reform, plus)]
    assert names == ["association", "listing-term", "opacity"]


# ---- descriptions true of the runs: summary.json's mechanisms (docs/metrics.md, Mechanisms)


def active(summary: dict, *names: str) -> list[str]:
    """Of ``names``, those not both switched on and active in the run (empty: all are)."""
    m = summary["mechanisms"]
    return [n for n in names if not (m[n]["enabled"] and m[n]["activity"] > 0)]


SYSTEM = tuple(  # every mechanism of the model (the behaviours aside)
    "records cameras false_matches informants malicious_reports record_errors informant_reward protected_penalties "
    "forgiveness guilt_by_association notice listing_threshold listing_immediate objection appeal travel_ban employment "
    "internet schooling shaming detention green_channel poverty_feedback deterrence chilling adaptive_surveillance".split()
)


def test_city_switches_every_mechanism_on_and_most_act_at_20000():
    """At 20,000 people over a year, every mechanism is on, and all act but detention and appeal,
    which need more people (the slow test below checks those at 200,000)."""
    summary = run("city", 20_000, 365).summary
    assert set(SYSTEM) <= set(summary["mechanisms"])
    assert all(summary["mechanisms"][n]["enabled"] for n in SYSTEM)
    assert active(summary, *(n for n in SYSTEM if n not in ("detention", "appeal"))) == []


@pytest.mark.slow
def test_city_every_mechanism_acts_within_a_year_at_200000():
    summary = run("city", 200_000, 365, seed=1).summary
    assert active(summary, *SYSTEM) == []


def test_sesame_pays_green_channel_perks_and_withdraws_them_within_a_year():
    summary = run("sesame", 20_000, 365).summary
    assert active(summary, "green_channel", "listing_threshold", "employment", "appeal", "guilt_by_association") == []
    for name in ("cameras", "informants", "travel_ban", "detention", "chilling"):
        assert not summary["mechanisms"][name]["enabled"], name  # "no state sanctions"


def test_beijing_2020_and_xinjiang_show_what_they_describe():
    beijing = run("beijing-2020", 20_000, 365).summary
    assert active(beijing, "travel_ban", "employment", "internet", "schooling", "shaming", "guilt_by_association") == []
    xinjiang = run("xinjiang", 20_000, 365).summary
    assert active(xinjiang, "protected_penalties", "detention", "false_matches", "informant_reward") == []


def test_reform_drops_what_it_says_it_drops():
    """reform is beijing-2020 plus due process: no protected-behaviour penalties, forgiveness and
    appeals at work; guilt by association stays as in beijing-2020 (reform-plus switches it off)."""
    m = run("reform", 20_000, 365).summary["mechanisms"]
    assert not m["protected_penalties"]["enabled"]
    assert m["forgiveness"]["enabled"] and m["forgiveness"]["activity"] > 0
    assert m["appeal"]["activity"] > 0
    assert m["guilt_by_association"]["enabled"]
    assert not credsim.load_scenario("reform-plus").score.association.enabled
