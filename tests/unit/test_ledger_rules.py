"""Ledger rules without a database: period states, approvals with separation of duties, the hash chain."""

import doctest
import importlib
import pkgutil

import pytest

import attain.ledger
from attain.ledger.approvals import DEFAULT_CHAIN, Actor, ApprovalError, Decision, check_decision, next_step
from attain.ledger.audit_chain import GENESIS, chain_hash, verify_chain
from attain.ledger.periods import PeriodError, PeriodState, posting_period, transition

MODULES = [m.name for m in pkgutil.iter_modules(attain.ledger.__path__, "attain.ledger.")]


@pytest.mark.parametrize("name", MODULES)
def test_ledger_rule_docstring_examples_hold(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_a_period_walks_open_locked_approved_paid_and_nothing_else():
    state = PeriodState.OPEN
    for action, expected in (("lock", "locked"), ("approve", "approved"), ("pay", "paid")):
        state = transition(state, action)
        assert state == expected
    for action in ("lock", "reopen", "approve", "pay"):
        with pytest.raises(PeriodError, match="paid"):
            transition(state, action)


def test_a_rejected_locked_period_can_reopen_but_an_approved_one_cannot():
    assert transition(PeriodState.LOCKED, "reopen") == PeriodState.OPEN
    with pytest.raises(PeriodError):
        transition(PeriodState.APPROVED, "reopen")


def test_a_late_change_lands_in_the_first_open_period_after_the_locked_one():
    states = {"2026-Q1": PeriodState.LOCKED, "2026-Q2": PeriodState.APPROVED, "2025-Q4": PeriodState.OPEN}
    assert posting_period("2026-Q1", states) == "2026-Q3"
    assert posting_period("2026-03", {"2026-03": PeriodState.APPROVED}) == "2026-04"
    assert posting_period("2026-04", {"2026-03": PeriodState.APPROVED}) == "2026-04"


MANAGER = Actor("mia", frozenset({"manager"}))
ADMIN = Actor("ada", frozenset({"comp_admin"}))
FINANCE = Actor("fin", frozenset({"finance", "comp_admin"}))


def decide(decisions, actor, approve=True, comment="ok", payees=("r1", "r2"), prepared_by="prep"):
    step = check_decision(DEFAULT_CHAIN, decisions, actor, payees=set(payees), prepared_by=prepared_by,
                          approve=approve, comment=comment)
    return [*decisions, Decision(step, actor.user_id, approve)]


def test_the_chain_runs_manager_then_comp_admin_then_finance():
    decisions = decide([], MANAGER)
    with pytest.raises(ApprovalError, match="next step is comp_admin"):
        decide(decisions, Actor("x", frozenset({"finance"})))
    decisions = decide(decide(decisions, ADMIN), FINANCE)
    assert next_step(DEFAULT_CHAIN, decisions) is None
    assert [d.step for d in decisions] == ["manager", "comp_admin", "finance"]


def test_nobody_approves_their_own_pay():
    with pytest.raises(ApprovalError, match="paid by this payout"):
        decide([], Actor("r2", frozenset({"manager"})))


def test_nobody_approves_a_payout_they_prepared():
    with pytest.raises(ApprovalError, match="prepared"):
        decide([], MANAGER, prepared_by="mia")


def test_one_person_takes_one_step_of_a_round_even_with_both_roles():
    both = Actor("ada", frozenset({"comp_admin", "finance"}))
    decisions = decide(decide([], MANAGER), both)
    with pytest.raises(ApprovalError, match="already decided"):
        decide(decisions, both)


def test_a_rejection_needs_a_reason():
    with pytest.raises(ApprovalError, match="reason"):
        decide([], MANAGER, approve=False, comment="  ")
    assert decide([], MANAGER, approve=False, comment="quota wrong")[-1].approved is False


def chain(records):
    rows, previous = [], GENESIS
    for sequence, record in enumerate(records, 1):
        record_hash = chain_hash(previous, record)
        rows.append((sequence, record, previous, record_hash))
        previous = record_hash
    return rows


def test_an_intact_chain_verifies():
    assert verify_chain(chain([{"action": "lock"}, {"action": "approve", "amount": "10.00"}])) == []


def test_an_edited_record_breaks_the_chain_at_that_record():
    rows = chain([{"action": "lock"}, {"action": "approve", "amount": "10.00"}, {"action": "pay"}])
    sequence, record, previous, record_hash = rows[1]
    rows[1] = (sequence, {**record, "amount": "99.00"}, previous, record_hash)
    assert [(b.sequence, "edited" in b.reason) for b in verify_chain(rows)] == [(2, True)]


def test_a_deleted_record_breaks_the_chain():
    rows = chain([{"n": 1}, {"n": 2}, {"n": 3}])
    breaks = verify_chain([rows[0], rows[2]])
    assert {b.sequence for b in breaks} == {3} and any("missing" in b.reason for b in breaks)


def test_a_statement_groups_earnings_by_component_and_labels_adjustments_and_draws():
    from decimal import Decimal

    from attain.ledger.statements import build_statement

    def entry(entry_id, period, kind, amount, component="commission", corrects=None):
        return {"entry_id": entry_id, "period": period, "kind": kind, "amount": Decimal(amount), "currency": "INR",
                "component_id": component, "corrects_period": corrects, "plan_id": "ae", "plan_version": 2,
                "snapshot_version": 9}

    statement = build_statement("r1", "2026-Q2", [
        entry(1, "2026-Q1", "earned", "500.00"), entry(2, "2026-Q1", "payment", "-450.00"),
        entry(3, "2026-Q2", "earned", "300.00"), entry(4, "2026-Q2", "earned", "20.00", "spiff"),
        entry(5, "2026-Q2", "earned", "100.00"), entry(6, "2026-Q2", "adjustment", "-30.00", corrects="2026-Q1"),
        entry(7, "2026-Q2", "draw", "200.00", "draw"), entry(8, "2026-Q3", "earned", "999.00"),
    ])["currencies"][0]
    assert statement["opening_balance"] == "50.00"
    assert [(c["component_id"], c["total"], len(c["entries"])) for c in statement["components"]] == [
        ("commission", "400.00", 2), ("spiff", "20.00", 1)]
    assert statement["adjustments"][0]["corrects_period"] == "2026-Q1"
    assert statement["draws"][0]["amount"] == "200.00"
    assert statement["total_payable"] == "640.00"  # 50 + 420 - 30 + 200; Q3 is not in it
    assert "plan ae v2" in statement["components"][0]["entries"][0]["explanation"]


def test_the_chain_is_whatever_the_configuration_says():
    chain = ("finance",)
    step = check_decision(chain, [], FINANCE, payees={"r1"}, prepared_by="prep", approve=True, comment="")
    assert step == "finance" and next_step(chain, [Decision(step, FINANCE.user_id, True)]) is None
    with pytest.raises(ApprovalError, match="next step is finance"):
        check_decision(chain, [], MANAGER, payees={"r1"}, prepared_by="prep", approve=True, comment="")


def test_ledger_rules_import_no_io_frameworks():
    forbidden = ("confluent_kafka", "faust", "sqlalchemy", "psycopg", "aiohttp", "grpc", "httpx", "jwt", "fpdf")
    for name in MODULES:
        source = importlib.import_module(name).__loader__.get_source(name)
        for package in forbidden:
            assert f"import {package}" not in source and f"from {package}" not in source, (name, package)
