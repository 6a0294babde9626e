"""Ledger entries as values: keys, input hashes, reuse of a key, and what a period pays (no database)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attain.ledger.entries import (
    EARLIER_HASHED_FIELDS,
    MANUAL_KINDS,
    Entry,
    EntryGroup,
    IdempotencyConflict,
    check_reuse,
    input_hash,
    is_reconciled,
    is_recoverable,
    payable_balance,
    payable_parts,
    reconciled_totals,
    stored_hash,
)

text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2,
                      allow_nan=False, allow_infinity=False)


@st.composite
def manual_entries(draw: st.DrawFn) -> Entry:
    return Entry.manual(key=f"manual:{draw(text)}", actor_id=draw(text), rep_id=draw(text), scope=draw(text),
                        period=draw(st.sampled_from(["2026-Q1", "2026-Q2", "2026-03"])), component_id=draw(text),
                        amount=draw(amounts), currency=draw(st.sampled_from(["EUR", "USD", "INR"])),
                        reason=draw(text), kind=draw(st.sampled_from(MANUAL_KINDS)))


# One way to change each input that defines a manual entry.
CHANGES = {
    "amount": lambda e: replace(e, amount=e.amount + Decimal("0.01")),
    "rep_id": lambda e: replace(e, rep_id=e.rep_id + "x"),
    "scope": lambda e: replace(e, scope=f"{e.scope}x"),
    "period": lambda e: replace(e, period="2027-Q4"),
    "component_id": lambda e: replace(e, component_id=e.component_id + "x"),
    "currency": lambda e: replace(e, currency="GBP" if e.currency != "GBP" else "EUR"),
    "kind": lambda e: replace(e, kind="clawback" if e.kind != "clawback" else "manual"),
}


@given(manual_entries(), st.sampled_from(sorted(CHANGES)))
def test_a_manual_entry_reposted_under_its_key_with_different_inputs_is_refused(entry: Entry, what: str) -> None:
    changed = CHANGES[what](entry)
    assert changed.idempotency_key == entry.idempotency_key
    with pytest.raises(IdempotencyConflict) as refused:
        check_reuse(entry.row(), changed)
    assert entry.idempotency_key in str(refused.value)
    assert refused.value.key == entry.idempotency_key


@given(manual_entries(), text)
def test_a_manual_entry_reposted_with_the_same_inputs_is_a_no_op(entry: Entry, other_actor: str) -> None:
    again = Entry.manual(key=entry.idempotency_key, actor_id=other_actor, rep_id=entry.rep_id,
                         scope=str(entry.scope), period=entry.period, component_id=entry.component_id,
                         amount=entry.amount, currency=entry.currency, reason=str(entry.explanation), kind=entry.kind)
    check_reuse(entry.row(), again)  # no conflict: who retries is not an input
    assert again.input_hash == entry.input_hash


@given(manual_entries())
def test_the_explanation_is_not_an_input_and_hashes_stored_with_it_are_still_accepted(entry: Entry) -> None:
    """The hash covers the fields that define what an entry books; its explanation is prose about them (a
    reason, a snapshot version) whose wording may change between releases. A row hashed when the
    explanation was still covered (EARLIER_HASHED_FIELDS) accepts a retry and still refuses other inputs."""
    reworded = replace(entry, explanation=f"{entry.explanation} (edited)")
    assert reworded.input_hash == entry.input_hash
    check_reuse(entry.row(), reworded)  # a retry: the first booking's text stands
    earlier = {**entry.row(), "input_hash": input_hash(entry.row(), EARLIER_HASHED_FIELDS)}
    assert earlier["input_hash"] != entry.input_hash
    check_reuse(earlier, entry)
    with pytest.raises(IdempotencyConflict):
        check_reuse(earlier, CHANGES["amount"](entry))


@given(manual_entries())
def test_a_row_stored_before_hashes_compares_by_its_stored_fields(entry: Entry) -> None:
    """Rows written before migration 0006 hold no hash: the hash of their stored fields stands in, with the
    amount as PostgreSQL returns it (six decimals)."""
    old_row = {**entry.row(), "input_hash": None, "amount": entry.amount.quantize(Decimal("0.000001"))}
    assert stored_hash(old_row) == entry.input_hash
    check_reuse(old_row, entry)
    with pytest.raises(IdempotencyConflict):
        check_reuse(old_row, CHANGES["amount"](entry))


@pytest.mark.parametrize("same", ["10", "10.0", "10.00", "10.000000", "1E+1", "0.1E+2"])
def test_the_hash_is_the_same_for_every_representation_of_an_amount(same: str) -> None:
    def hashed(amount: str) -> str:
        return input_hash({"kind": "manual", "rep_id": "r1", "amount": Decimal(amount), "currency": "EUR"})

    assert hashed(same) == hashed("10")
    assert hashed(same) != hashed("10.01")
    assert hashed(same) != hashed("-10")


def test_zero_and_negative_zero_hash_alike() -> None:
    base = {"kind": "manual", "rep_id": "r1", "currency": "EUR"}
    assert input_hash({**base, "amount": Decimal("-0.00")}) == input_hash({**base, "amount": Decimal(0)})


def test_each_constructor_keeps_the_key_format_existing_rows_dedupe_on() -> None:
    d = Decimal
    earned = Entry.earned_delta(rep_id="r1", period="2026-Q1", posting="2026-Q1", plan_id="p", plan_version=2,
                                scope="p", component_id="c", amount=d(5), currency="EUR", snapshot_version=7,
                                source_event_ids=["e1"])
    late = Entry.earned_delta(rep_id="r1", period="2026-Q1", posting="2026-Q2", plan_id="p", plan_version=2,
                              scope="p", component_id="c", amount=d(5), currency="EUR", snapshot_version=8)
    payment = Entry.payment(payout_id="p/2026-Q1/r1/EUR", rep_id="r1", scope="p", period="2026-Q1",
                            amount=d(40), currency="EUR", actor_id="payroll")
    recompute = Entry.recompute_adjustment(rep_id="r1", period="2026-Q1", posting="2026-Q1", plan_id="p",
                                           plan_version=2, scope="p", component_id="c", ledger_amount=d(10),
                                           expected_amount=d(12), currency="EUR", actor_id="a")
    lineage = Entry.lineage_adjustment(lineage="L2", previous="L1", rep_id="r1", period="2026-Q1",
                                       posting="2026-Q2", plan_id="p", plan_version=2, scope="p", component_id="c",
                                       booked=d(10), rebuilt=d(9), currency="EUR", actor_id="a")
    dispute = Entry.dispute_resolution(dispute_id=42, actor_id="a", rep_id="r1", scope="p", period="2026-Q1",
                                       component_id="c", amount=d(3), currency="EUR", comment="missed deal")
    assert (earned.kind, earned.idempotency_key, earned.corrects_period) == ("earned", "earned:r1:2026-Q1:c:7", None)
    assert (late.kind, late.idempotency_key, late.period, late.corrects_period) == (
        "adjustment", "adjustment:r1:2026-Q1:c:8", "2026-Q2", "2026-Q1")
    assert (payment.kind, payment.idempotency_key, payment.amount) == ("payment", "payment:p/2026-Q1/r1/EUR", d(-40))
    assert recompute.idempotency_key.startswith("recompute:r1:2026-Q1:c:") and recompute.amount == d(2)
    assert len(recompute.idempotency_key.rsplit(":", 1)[1]) == 16
    assert (lineage.idempotency_key, lineage.amount, lineage.corrects_period) == (
        "lineage:L2:r1:2026-Q1:c", d(-1), "2026-Q1")
    assert (dispute.kind, dispute.idempotency_key, dispute.explanation) == (
        "manual", "dispute:42", "dispute 42: missed deal")
    assert earned.row()["source_event_ids"] == ["e1"]


def test_a_recompute_of_other_amounts_gets_another_key() -> None:
    def adjustment(ledger: str) -> Entry:
        return Entry.recompute_adjustment(rep_id="r1", period="2026-Q1", posting="2026-Q1", plan_id="p",
                                          plan_version=1, scope="p", component_id="c", ledger_amount=Decimal(ledger),
                                          expected_amount=Decimal(12), currency="EUR", actor_id="a")

    assert adjustment("10").idempotency_key != adjustment("11").idempotency_key


def test_draws_and_recoveries_have_their_own_kind_key_and_explanation() -> None:
    common = {"rep_id": "r1", "period": "2026-Q1", "posting": "2026-Q1", "plan_id": "p", "plan_version": 2,
              "scope": "p", "currency": "EUR", "snapshot_version": 7}
    draw = Entry.draw(amount=Decimal(700), recoverable=True, **common)
    recovery = Entry.draw_recovery(amount=Decimal(-500), **common)
    kept = Entry.draw(amount=Decimal(300), recoverable=False, **common)
    closing = Entry.draw(amount=Decimal(1000), recoverable=True, at_close=True, **{**common, "snapshot_version": 0})
    assert (draw.kind, recovery.kind, closing.kind) == ("draw", "draw_recovery", "draw")
    assert [e.idempotency_key for e in (draw, recovery, closing)] == [
        "draw:r1:2026-Q1:draw:7", "draw_recovery:r1:2026-Q1:draw:7", "draw:r1:2026-Q1:draw:close@0"]
    assert draw.explanation == "recoverable draw paid as of snapshot v7"
    assert closing.explanation == "recoverable draw paid as of period close, without credits"
    assert [is_recoverable(e.row()) for e in (draw, recovery, kept, closing)] == [True, True, False, True]
    assert all(is_reconciled(e.row()) for e in (draw, recovery, kept, closing))
    late = Entry.draw_recovery(amount=Decimal(-5), **{**common, "posting": "2026-Q2"})
    assert (late.period, late.corrects_period) == ("2026-Q2", "2026-Q1")
    assert draw.input_hash != replace(draw, kind="draw_recovery").input_hash


def test_a_draw_a_person_posts_is_manual_and_not_reconciled() -> None:
    posted = Entry.manual(key="manual:d1", actor_id="a", rep_id="r1", scope="p", period="2026-Q1",
                          component_id="draw", amount=Decimal(500), currency="EUR", reason="advance", kind="draw")
    assert (posted.kind, is_reconciled(posted.row()), is_recoverable(posted.row())) == ("draw", False, True)


def test_only_manual_kinds_can_be_posted_by_hand() -> None:
    with pytest.raises(ValueError, match="cannot be posted by hand"):
        Entry.manual(key="k", actor_id="a", rep_id="r", scope="p", period="2026-Q1", component_id="c",
                     amount=Decimal(1), currency="EUR", reason="x", kind="earned")


def g(period: str, kind: str, amount: int, component: str = "commission", currency: str = "EUR",
      rep: str = "r1", count: int = 1) -> EntryGroup:
    return EntryGroup(rep, currency, period, component, kind, Decimal(amount), count)


def test_a_period_pays_its_entries_of_every_kind_plus_what_paid_periods_left_over() -> None:
    groups = [
        g("2026-Q1", "earned", 100), g("2026-Q1", "draw", 50, "draw"), g("2026-Q1", "payment", -170, "payment"),
        g("2026-Q2", "earned", 200, count=2), g("2026-Q2", "draw_recovery", -30, "draw"),
        g("2026-Q2", "adjustment", 5), g("2026-Q2", "manual", 7, "manual"),
        g("2025-Q4", "earned", 999),  # earlier but not paid: not carried
        g("2026-Q3", "earned", 1000),  # later: not yet
        g("2026-Q2", "earned", 60, currency="USD"),
    ]
    parts = payable_parts(groups, "2026-Q2", paid={"2026-Q1"})
    # 200 + 5 + 7 - 30 this period; Q1 left 100 + 50 - 170 = -20 over
    assert payable_balance(parts[("r1", "EUR")]) == (Decimal(162), 8)
    assert payable_balance(parts[("r1", "USD")]) == (Decimal(60), 1)


def test_earning_codes_split_a_period_and_carry_what_paid_periods_left() -> None:
    groups = [g("2026-Q1", "draw", 50, "draw"), g("2026-Q2", "earned", 200), g("2026-Q2", "draw_recovery", -30, "draw")]
    parts = payable_parts(groups, "2026-Q2", {"2026-Q1"}, lambda component, kind: kind.upper(), "CARRY")
    assert parts == {("r1", "EUR"): {"CARRY": (Decimal(50), 1), "EARNED": (Decimal(200), 1),
                                     "DRAW_RECOVERY": (Decimal(-30), 1)}}


def test_reconciled_totals_count_computed_earnings_in_the_period_they_correct() -> None:
    rows = [
        {"rep_id": "r1", "period": "2026-Q1", "kind": "earned", "amount": Decimal(100)},
        {"rep_id": "r1", "period": "2026-Q2", "corrects_period": "2026-Q1", "kind": "adjustment",
         "amount": Decimal(-15)},
        {"rep_id": "r1", "period": "2026-Q2", "kind": "earned", "amount": Decimal(40)},
        {"rep_id": "r1", "period": "2026-Q2", "kind": "draw", "amount": Decimal(500), "created_by": "admin-1"},
        {"rep_id": "r1", "period": "2026-Q2", "kind": "draw", "amount": Decimal(60)},  # booked from a snapshot
        {"rep_id": "r1", "period": "2026-Q3", "corrects_period": "2026-Q2", "kind": "draw_recovery",
         "amount": Decimal(-7)},
        {"rep_id": "r1", "period": "2026-Q2", "kind": "payment", "amount": Decimal(-40)},
    ]
    # a person's draw (created_by) is not computed earnings; the system's draws and recoveries are
    assert reconciled_totals(rows) == {("r1", "2026-Q1"): Decimal(85), ("r1", "2026-Q2"): Decimal(93)}
