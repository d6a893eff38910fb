"""summary.json's ``mechanisms``: for each mechanism of the model, whether it is switched on
and what it changed in the run.

Each entry is ``{"enabled": bool, "activity": float, "unit": str}``. The activity counts what
the mechanism changed for people or the system -- events caught, listings caused, perks paid,
score points moved, expected events added or prevented -- never a figure that grows merely
because days pass: a mechanism whose trigger never fired has activity 0. Everything is read
off the run's daily tallies (credsim.engines.reference.phases.record) after the run; nothing here touches the
day's hot path. docs/metrics.md defines each entry.
"""

from __future__ import annotations

import numpy as np

from credsim.engines.reference.phases.record import Recorder
from credsim.world import World


def mechanisms(world: World, recorder: Recorder) -> dict[str, dict]:
    sc = world.scenario
    obs, sanctions, adaptation = sc.observation, sc.sanctions, sc.adaptation
    col = recorder.columns
    total = lambda *names: float(sum(col[n].sum() for n in names))  # noqa: E731
    out: dict[str, dict] = {}

    def put(name: str, enabled: bool, activity: float, unit: str) -> None:
        out[name] = {"enabled": bool(enabled), "activity": float(activity), "unit": unit}

    events = recorder.behaviour_columns["events"].sum(axis=0)
    observed = recorder.behaviour_columns["observations"].sum(axis=0)
    for b, name in enumerate(sc.behaviours):
        put(f"behaviour:{name}", (world.rate[b] > 0).any(), events[b], "events")

    put("records", (world.p_records > 0).any(), total("records_seen"), "true events recorded")
    put("cameras", (world.p_camera > 0).any(), total("camera_detections"), "true events caught by cameras")
    cams = obs.cameras
    put("false_matches", cams.enabled and cams.false_match_rate > 0, total("false_matches"), "false observations")
    put("informants", (world.p_inform > 0).any(), total("informant_reports"), "true events reported")
    malicious = obs.malicious
    put("malicious_reports", malicious.enabled and malicious.rate > 0, total("malicious_reports"), "false observations")
    errors = obs.record_errors
    put("record_errors", errors.enabled and errors.rate > 0, total("record_errors"), "false observations")

    score = sc.score
    reward = abs(score.informant_reward)
    paid = (world.p_inform > 0).any() or (malicious.enabled and malicious.rate > 0)
    put("informant_reward", reward > 0 and paid, reward * total("informant_reports", "malicious_reports"), "score points paid")
    # Penalties on protected behaviour (speech, worship): points the recorded score lost to them.
    speech = world.protected & (world.delta < 0)
    put("protected_penalties", speech.any(), float((observed * np.abs(world.delta) * speech).sum()), "score points taken")
    put("forgiveness", score.forgiveness > 0, _forgiven(world, recorder), "score points moved (net per group)")
    association = score.association
    put("guilt_by_association", association.enabled and association.penalty > 0, total("association_points"), "score points taken")

    listing = sc.listing
    put("notice", listing.enabled and listing.notice_days > 0, total("notices"), "notices served")
    put("listing_threshold", listing.enabled, total("listings_threshold"), "listings")
    put("listing_immediate", listing.enabled and bool(listing.immediate), total("listings_immediate"), "listings")
    appeal = sc.appeal
    put("objection", listing.enabled and listing.objection.enabled and appeal.enabled, total("objections_filed"), "objections filed")
    put("appeal", appeal.enabled, total("cases_upheld"), "cases upheld")

    put("travel_ban", sanctions.travel_ban.enabled, total("blocked_flight", "blocked_rail"), "purchases blocked")
    put("employment", sanctions.employment.enabled, total("income_cut"), "income-days lost")
    put("internet", sanctions.internet.enabled, total("internet_days"), "person-days")
    put("schooling", sanctions.schooling.enabled, total("schooling_days"), "dependent-days")
    put("shaming", sanctions.shaming.enabled, total("shaming_days"), "person-days")
    put("detention", sanctions.detention.enabled and bool(sanctions.detention.flagged), total("detentions"), "people detained")
    put("green_channel", sanctions.green_channel.enabled, total("green_days"), "person-days rewarded")

    put("poverty_feedback", (world.poverty_elasticity != 0).any(), total("poverty_events"), "expected events moved")
    on = adaptation.enabled
    deterrence, chilling = adaptation.deterrence, adaptation.chilling
    put("deterrence", on and deterrence.enabled and deterrence.strength > 0 and world.deterred.any(),
        _prevented(world, recorder, world.deterred, deterrence.strength), "expected events prevented (first order)")
    put("chilling", on and chilling.enabled and chilling.strength > 0 and world.protected.any(),
        _prevented(world, recorder, world.protected, chilling.strength * (1.0 + chilling.opacity)),
        "expected events prevented (first order)")
    cameras_on = (world.p_camera > 0).any() or (cams.enabled and cams.false_match_rate > 0)
    put("adaptive_surveillance", sc.surveillance.adaptive and cameras_on, _intensity_moved(world, recorder), "camera intensity moved")
    return out


def inactive(summary_mechanisms: dict[str, dict]) -> list[str]:
    """The mechanisms switched on that changed nothing in the run."""
    return [name for name, m in summary_mechanisms.items() if m["enabled"] and m["activity"] <= 0]


def _forgiven(world: World, recorder: Recorder) -> float:
    """Forgetting moves each group's mean by ``f * (initial - mean before)`` a day, which is
    ``f / (1 - f) * (initial - mean after)``: summed as absolute values over days and groups,
    times the group's size (clipping to [min, max] ignored). 0 while nobody's score moved."""
    f = world.scenario.score.forgiveness
    if f <= 0 or f >= 1:
        return 0.0
    gap = np.abs(world.scenario.score.initial - recorder.columns["score_mean"])
    return float((gap * world.group_size[None, :]).sum() * f / (1.0 - f))


def _prevented(world: World, recorder: Recorder, behaviours: np.ndarray, strength: float) -> float:
    """Expected events the response to perceived risk prevented, to first order:
    ``sum over days and groups of size * mean risk * strength * sum of the behaviours' rates``
    (1 - exp(-k r) <= k r, so an upper bound; propensity taken as independent of risk)."""
    rates = (world.rate * behaviours[:, None]).sum(axis=0)  # (G,)
    risk = recorder.columns["risk_mean"] * world.group_size[None, :]
    return float((risk * rates[None, :]).sum() * strength)


def _intensity_moved(world: World, recorder: Recorder) -> float:
    """Sum over days and regions of the absolute change of camera intensity."""
    intensity = recorder.region_columns["camera_intensity"]
    if len(intensity) == 0:
        return 0.0
    before = np.vstack([world.initial_intensity[None, :], intensity[:-1]])
    return float(np.abs(intensity - before).sum())
