"""Milestones at their boundaries (attain/core/milestones.py), their sentences (en, fr) and preferences' timing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from attain.contracts.payouts import PayoutLine
from attain.core.milestones import ComponentStanding, Standing, approved, detect, milestone_key
from attain.core.tiers import Tier
from attain.notify.messages import sentence
from attain.notify.preferences import Preferences, PreferencesError, deliver_at
from services.notifier.milestones import approval_of


def standing(version: int, attainment: str | None, earned: str, spiff: str = "0", deals: tuple[str, ...] = ()):
    quota = ComponentStanding("quota", D(earned), None if attainment is None else D(attainment))
    return Standing("r1", "2026-Q1", "EUR", version, D(earned) + D(spiff),
                    (quota, ComponentStanding("spiff", D(spiff))), deals)


def keys(found):
    return [m.key for m in found]


def test_a_threshold_exactly_hit_is_crossed_and_one_just_below_is_not():
    found = detect(standing(1, "0.4999", "100"), standing(2, "0.50", "200"))
    assert keys(found) == ["r1|2026-Q1|earned|v2", "r1|2026-Q1|attainment|quota|0.50"]
    assert [m.key for m in detect(standing(1, "0.40", "100"), standing(2, "0.4999", "199"))
            if m.kind == "attainment"] == []


def test_one_change_crossing_several_thresholds_names_each_and_the_deals():
    found = detect(None, standing(1, "1.10", "1100", deals=("006A", "006B")))
    assert keys(found)[1:] == [f"r1|2026-Q1|attainment|quota|{t}" for t in ("0.50", "0.75", "1.00")]
    assert found[0].deals == ("006A", "006B") and found[0].delta == D("1100")


def test_a_replay_of_the_same_or_an_older_snapshot_gives_no_milestone():
    seen = standing(5, "1.00", "1000")
    assert detect(seen, seen) == []
    assert detect(seen, standing(4, "1.30", "1300")) == []


def test_a_clawback_is_its_own_milestone_and_crossing_down_then_up_gives_the_same_key_again():
    up = detect(standing(1, "0.90", "900"), standing(2, "1.05", "1050"))
    down = detect(standing(2, "1.05", "1050"), standing(3, "0.95", "950"))
    again = detect(standing(3, "0.95", "950"), standing(4, "1.02", "1020"))
    assert "r1|2026-Q1|attainment|quota|1.00" in keys(up)
    assert keys(down) == ["r1|2026-Q1|earned|v3", "r1|2026-Q1|clawback|quota|v3"]
    assert down[1].delta == D("-100") and down[1].amount == D("950")
    # the recorder keeps one record per key: the second crossing of 100% is the same milestone, not a new one
    assert "r1|2026-Q1|attainment|quota|1.00" in keys(again)
    assert not any(m.kind == "clawback" for m in again)


def test_a_bonus_unlocks_once_and_a_tier_is_entered_at_its_lower_bound():
    tiers = {"quota": (Tier(D(0), D("1"), D("0.05")), Tier(D("1"), None, D("0.08"), "accelerator"))}
    first = detect(standing(1, "0.99", "990"), standing(2, "1.00", "1000", spiff="250"), tiers=tiers)
    assert "r1|2026-Q1|unlocked|spiff" in keys(first)
    assert [m.label for m in first if m.kind == "tier"] == ["accelerator"]
    later = detect(standing(2, "1.00", "1000", spiff="250"), standing(3, "1.10", "1100", spiff="300"), tiers=tiers)
    assert not any(m.kind in ("unlocked", "tier") for m in later)


def test_keys_escape_the_separator():
    assert milestone_key("a|b", "p", "earned", "v1") == "a\\|b|p|earned|v1"
    assert milestone_key("a|b", "p", "earned", "v1") != milestone_key("a", "b|p", "earned", "v1")


def test_sentences_in_english_and_french_with_the_readers_amounts():
    found = detect(standing(1, "0.70", "700"), standing(2, "0.80", "12345.5", deals=("006A",)))
    assert sentence(found[0]) == "Your earnings for 2026-Q1 changed by €11,645.50 to €12,345.50 (deals 006A)."
    assert sentence(found[1], "fr") == "Vous avez atteint 75,0\u00a0% de l’objectif sur quota pour 2026-Q1."
    assert sentence(approved("r1", "2026-Q1", "ae", "INR", D("1234567")), "en-IN") == \
        "Your payout of ₹12,34,567.00 for 2026-Q1 was approved."


def test_a_period_approved_under_two_scopes_is_two_approved_milestones_each_naming_its_payout_line():
    """The notifier records a key once: when the key named only the currency, the second scope's approval of one
    rep's period (a move between regions, a plan changed mid-period) was dropped. A plan id may hold a ``/``."""
    lines = [PayoutLine(f"{scope}/2026-Q1/r/1/EUR", "r/1", "2026-Q1", "EUR", D(amount), 1,
                        datetime(2026, 4, 1, tzinfo=UTC), "fin-1", None, ())
             for scope, amount in (("in", "100"), ("sg/ae", "40"))]
    assert [line.scope for line in lines] == ["in", "sg/ae"]
    found = [approval_of(line) for line in lines]  # what the notifier records, once per key
    assert keys(found) == ["r/1|2026-Q1|approved|in|EUR", "r/1|2026-Q1|approved|sg/ae|EUR"]
    assert [(m.amount, m.structured()["payout_id"]) for m in found] == [
        (D("100"), "in/2026-Q1/r/1/EUR"), (D("40"), "sg/ae/2026-Q1/r/1/EUR")]
    foreign = PayoutLine("P-77", "r1", "2026-Q1", "EUR", D("1"), 1, datetime(2026, 4, 1, tzinfo=UTC), "fin-1", None, ())
    assert foreign.scope == "P-77"  # not the ledger's id: the line is its own scope, still one key per line


def test_quiet_hours_in_the_persons_zone_and_the_daily_digest():
    paris = Preferences("r1", time_zone="Europe/Paris", quiet_start="22:00", quiet_end="07:00")
    noon = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert deliver_at(noon, paris) == noon
    assert deliver_at(datetime(2026, 12, 2, 5, 59, tzinfo=UTC), paris) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    assert deliver_at(datetime(2026, 12, 2, 6, 0, tzinfo=UTC), paris) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    digest = Preferences("r1", time_zone="Asia/Kolkata", digest="daily", digest_at="08:00")
    assert deliver_at(noon, digest) == datetime(2026, 12, 2, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize(("change", "field"), [
    ({"channels": ("fax",)}, "channels"), ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"), ({"digest": "hourly"}, "digest"),
    ({"channels": ("email",)}, "channels: email"), ({"quiet_start": "22:00"}, "quiet_start and quiet_end"),
])
def test_preferences_that_cannot_be_kept_name_their_field(change, field):
    with pytest.raises(PreferencesError, match=field):
        Preferences("r1", **change).check()
