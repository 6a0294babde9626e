"""Never-silent statements (attain/ledger/statement_changes.py): what changed since the rep last looked, per
component, each line with its cause."""

from __future__ import annotations

from decimal import Decimal as D

from attain.ledger.statement_changes import Seen, cause_of, changes_since, seen_of


def row(entry_id, amount, kind="earned", period="2026-Q1", component="commission", corrects=None, deals=(),
        plan_version=1, created_by=None, key="", currency="EUR"):
    return {"entry_id": entry_id, "period": period, "corrects_period": corrects, "component_id": component,
            "kind": kind, "amount": amount, "currency": currency, "plan_version": plan_version,
            "created_by": created_by, "explanation": "why", "deals": list(deals), "idempotency_key": key}


FIRST = [row(1, "100.00", deals=("006A",)), row(2, "20.00", component="spiff", deals=("006A",)),
         row(3, "50.00", period="2026-Q2", deals=("006Z",))]


def test_what_the_rep_saw_is_the_periods_figures_lines_and_newest_entry():
    seen = seen_of("2026-Q1", FIRST)
    assert seen == Seen(2, {("EUR", "commission"): D("100.00"), ("EUR", "spiff"): D("20.00")},
                        {"commission": 1, "spiff": 1}, frozenset({1, 2}))  # 3 is another period's
    assert changes_since(seen, "2026-Q1", FIRST) == []  # nothing new: nothing to show


def test_a_crm_edit_after_the_view_shows_before_after_and_the_deal():
    now = [*FIRST, row(4, "-30.00", deals=("006A",))]
    (change,) = changes_since(seen_of("2026-Q1", FIRST), "2026-Q1", now)
    assert (change.component_id, change.before, change.after, change.delta) == (
        "commission", D("100.00"), D("70.00"), D("-30.00"))
    assert [(line.entry_id, line.cause, line.deals) for line in change.lines] == [(4, "crm", ("006A",))]


def test_a_prior_period_adjustment_counts_in_the_period_it_corrects_not_where_it_is_posted():
    now = [*FIRST, row(4, "15.00", kind="adjustment", period="2026-Q2", corrects="2026-Q1", deals=("006B",))]
    (q1,) = changes_since(seen_of("2026-Q1", FIRST), "2026-Q1", now)
    assert (q1.after, q1.lines[0].cause) == (D("115.00"), "crm")
    assert changes_since(seen_of("2026-Q2", FIRST), "2026-Q2", now) == []


def test_each_cause_plan_recompute_manual_clawback_dispute_and_payments_left_out():
    now = [*FIRST,
           row(4, "5.00", plan_version=2),  # no deal behind it, a newer plan version
           row(5, "1.00"),  # no deal, the same plan version: an FX rate or a recompute
           row(6, "7.00", kind="manual", created_by="admin-1"),
           row(7, "-9.00", kind="clawback", created_by="admin-1"),
           row(8, "3.00", kind="manual", created_by="admin-2", key="dispute:12"),
           row(9, "-100.00", kind="payment", created_by="fin-1")]
    (change,) = changes_since(seen_of("2026-Q1", FIRST), "2026-Q1", now)
    assert [(line.entry_id, line.cause) for line in change.lines] == [
        (4, "plan"), (5, "recompute"), (6, "adjustment"), (7, "clawback"), (8, "dispute_resolution")]
    assert change.after == D("107.00") and change.lines[2].by == "admin-1"


def test_a_component_new_since_the_view_starts_from_zero_and_a_rebooking_that_nets_to_zero_is_still_shown():
    now = [*FIRST, row(4, "10.00", component="bonus", deals=("006C",)), row(5, "-20.00", component="spiff",
                                                                             kind="reversal", created_by="a"),
           row(6, "20.00", component="spiff", deals=("006A",))]
    bonus, spiff = changes_since(seen_of("2026-Q1", FIRST), "2026-Q1", now)
    assert (bonus.component_id, bonus.before, bonus.after) == ("bonus", D("0"), D("10.00"))
    assert (spiff.before, spiff.after, [line.cause for line in spiff.lines]) == (
        D("20.00"), D("20.00"), ["reversal", "crm"])


def test_a_cause_without_a_seen_plan_version_is_never_called_a_plan_change():
    assert cause_of(row(1, "1.00", plan_version=9), None) == "recompute"


def test_a_line_committed_after_the_view_under_a_lower_id_is_still_a_change():
    # the worker's booking took id 4, a manual entry took 5 and committed first; the rep looked between the two
    viewed = [*FIRST, row(5, "7.00", kind="manual", created_by="admin-1")]
    now = [*viewed, row(4, "-30.00", deals=("006A",))]
    (change,) = changes_since(seen_of("2026-Q1", viewed), "2026-Q1", now)
    assert (change.before, change.after, change.unexplained) == (D("107.00"), D("77.00"), D("0"))
    assert [(line.entry_id, line.cause) for line in change.lines] == [(4, "crm")]
    assert changes_since(seen_of("2026-Q1", now), "2026-Q1", now) == []  # seen now


def test_a_mark_kept_before_the_ids_were_still_shows_a_late_line_as_an_unexplained_difference():
    legacy = Seen(5, {("EUR", "commission"): D("107.00"), ("EUR", "spiff"): D("20.00")}, {"commission": 1})
    now = [*FIRST, row(5, "7.00", kind="manual", created_by="admin-1"), row(4, "-30.00", deals=("006A",)),
           row(6, "1.00", component="spiff")]
    commission, spiff = changes_since(legacy, "2026-Q1", now)
    assert (commission.before, commission.after, commission.lines, commission.unexplained) == (
        D("107.00"), D("77.00"), (), D("-30.00"))
    assert (spiff.after, [line.entry_id for line in spiff.lines], spiff.unexplained) == (D("21.00"), [6], D("0"))
