"""Never-silent statements on a real PostgreSQL: the rep views a period, a CRM edit changes an issued figure,
the next view shows before → after with the deal as the cause and the line to dispute, and the ledger holds
one ``statement_changed`` fact for it (written once through the outbox, though the snapshot came twice); a line
committed after a view under a lower entry id than one shown is still a change on the next."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, text

from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot, SourceChange
from attain.core.records import ChangeVersion, CrmChange
from attain.ledger.statement_changes import seen_of
from services.ledger.db import apply_snapshots
from services.ledger.disputes import raise_dispute
from services.ledger.period_service import lock_period
from services.ledger.postings import post_manual_entry
from services.ledger.queries import entries_of
from services.ledger.schema import ledger_events, outbox
from services.portal.i18n import translator
from services.portal.readmodel import apply_changes, ensure_schema
from services.portal.seen import change_view, changes_for_view, ensure_seen, last_seen, record_seen


def crm_edit(event_id: str, record_id: str, rep: str, amount: str) -> CrmChange:
    at = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)
    fields = {"owner_id": rep, "amount": amount, "currency": "EUR", "close_date": "2026-02-10", "is_won": True}
    return CrmChange(event_id, record_id, "Opportunity", "UPDATE", ChangeVersion(at, 0, 0, event_id),
                     {name: json.dumps(value) for name, value in fields.items()})


def snapshot(rep: str, plan: str, version: int, earned: str, event_id: str, deal: str) -> EarningsSnapshot:
    return EarningsSnapshot(rep, "2026-Q1", plan, 1, "EUR", version, 0,
                            (ComponentEarnings("commission", earned, None, None, earned, 1),), earned,
                            (event_id,), None, "", (SourceChange(event_id, deal),))


def test_a_crm_edit_to_a_figure_the_rep_saw_is_shown_with_its_deal_and_told_once(engine):
    ensure_schema(engine)
    ensure_seen(engine)
    plan, rep = f"ns-{uuid.uuid4().hex[:6]}", f"ns-{uuid.uuid4().hex[:6]}"
    with engine.begin() as connection:
        apply_changes(connection, [crm_edit("e1", "006NS1", rep, "1000.00")], None)
    apply_snapshots(engine, [snapshot(rep, plan, 1, "100.00", "e1", "006NS1")])
    lock_period(engine, plan, "2026-Q1", "prep-1")  # the statement is issued

    assert changes_for_view(engine, rep, "2026-Q1", entries_of(engine, rep, None), rep) == []  # first visit
    with engine.begin() as connection:  # the deal's amount is edited at the CRM
        apply_changes(connection, [crm_edit("e2", "006NS1", rep, "800.00")], None)
    for _ in range(2):  # the calculator's snapshot, delivered twice
        apply_snapshots(engine, [snapshot(rep, plan, 2, "80.00", "e2", "006NS1")])

    rows = entries_of(engine, rep, None)
    assert changes_for_view(engine, rep, "2026-Q1", rows, "mgr-1") != []  # a manager's look leaves it for the rep
    (change,) = changes_for_view(engine, rep, "2026-Q1", rows, rep)
    assert (change.component_id, change.before, change.after) == ("commission", Decimal("100.00"), Decimal("80.00"))
    (line,) = change.lines
    assert (line.cause, line.deals, line.amount, line.kind) == ("crm", ("006NS1",), Decimal("-20.00"), "adjustment")
    shown = change_view(change, "en", translator("en"))
    assert (shown["before"], shown["after"], shown["delta"]) == ("€100.00", "€80.00", "-€20.00")
    assert shown["lines"] == [{"entry_id": line.entry_id, "amount": "-€20.00", "cause": "CRM change on 006NS1"}]
    assert change_view(change, "fr", translator("fr"))["lines"][0]["cause"] == "modification CRM sur 006NS1"
    assert changes_for_view(engine, rep, "2026-Q1", rows, rep) == []  # seen now: the next visit shows nothing
    assert raise_dispute(engine, line.entry_id, rep, "the deal was not reduced") > 0  # the line is disputable

    with engine.connect() as connection:
        facts = connection.execute(select(ledger_events.c.event_id, ledger_events.c.kind)
                                   .where(ledger_events.c.rep_id == rep).order_by(ledger_events.c.event_id)).all()
        sent = connection.execute(select(outbox.c.payload).where(outbox.c.message_key == rep)).scalars().all()
    assert [kind for _, kind in facts] == ["statement_changed", "statement_ready"]
    assert len(sent) == 2  # one outbox row per fact


def test_a_manual_entry_committed_after_the_workers_later_booking_is_still_shown(engine):
    ensure_schema(engine)
    ensure_seen(engine)
    plan, rep = f"ns-{uuid.uuid4().hex[:6]}", f"ns-{uuid.uuid4().hex[:6]}"
    apply_snapshots(engine, [snapshot(rep, plan, 1, "100.00", "l1", "006NS2")])
    assert changes_for_view(engine, rep, "2026-Q1", entries_of(engine, rep, None), rep) == []  # first visit

    with engine.begin() as late:  # a person's entry takes its id, then the worker books and commits first
        late_id = post_manual_entry(late, actor_id="admin-1", rep_id=rep, scope=plan, period="2026-Q1",
                                    component_id="commission", kind="manual", amount="7.00", currency="EUR",
                                    reason="spiff owed", idempotency_key=f"late-{rep}")
        apply_snapshots(engine, [snapshot(rep, plan, 2, "70.00", "l2", "006NS2")])
        (booked,) = changes_for_view(engine, rep, "2026-Q1", entries_of(engine, rep, None), rep)
        assert [line.entry_id > late_id for line in booked.lines] == [True] and booked.after == Decimal("70.00")

    (change,) = changes_for_view(engine, rep, "2026-Q1", entries_of(engine, rep, None), rep)
    assert (change.before, change.after, change.unexplained) == (Decimal("70.00"), Decimal("77.00"), Decimal(0))
    assert [(line.entry_id, line.cause) for line in change.lines] == [(late_id, "adjustment")]


def test_a_mark_kept_before_the_ids_were_is_read_then_upgraded_and_an_older_view_never_replaces_a_newer(engine):
    ensure_schema(engine)
    ensure_seen(engine)
    plan, rep = f"ns-{uuid.uuid4().hex[:6]}", f"ns-{uuid.uuid4().hex[:6]}"
    apply_snapshots(engine, [snapshot(rep, plan, 1, "100.00", "o1", "006NS3")])
    (first,) = entries_of(engine, rep, None)
    with engine.begin() as connection:  # the table as it was, and a mark the portal kept then
        connection.execute(text("ALTER TABLE portal.seen DROP COLUMN entry_ids"))
        connection.execute(text("INSERT INTO portal.seen (rep_id, period, entry_id, figures, plan_versions) VALUES "
                                "(:rep, '2026-Q1', :id, '{\"EUR|commission\": \"100.00\"}', '{\"commission\": 1}')"),
                           {"rep": rep, "id": first["entry_id"]})
    ensure_seen(engine)  # the upgrade adds the column; the old mark has no ids and still works
    old = last_seen(engine, rep, "2026-Q1")
    assert old is not None and (old.entry_id, old.entry_ids) == (first["entry_id"], None)
    apply_snapshots(engine, [snapshot(rep, plan, 2, "90.00", "o2", "006NS3")])
    rows = entries_of(engine, rep, None)
    (change,) = changes_for_view(engine, rep, "2026-Q1", rows, rep)
    assert (change.before, change.after, change.unexplained) == (Decimal("100.00"), Decimal("90.00"), Decimal(0))
    upgraded = last_seen(engine, rep, "2026-Q1")
    assert upgraded is not None and upgraded.entry_ids == {row["entry_id"] for row in rows}

    record_seen(engine, rep, "2026-Q1", seen_of("2026-Q1", rows[:1]))  # an older tab's view, finishing late
    assert last_seen(engine, rep, "2026-Q1") == upgraded
    with engine.begin() as connection:  # a replica without the column moves the mark: its ids are not trusted
        connection.execute(text("UPDATE portal.seen SET entry_id = entry_id + 1 WHERE rep_id = :rep"), {"rep": rep})
    moved = last_seen(engine, rep, "2026-Q1")
    assert moved is not None and moved.entry_ids is None
