"""Milestones from the ledger's facts (``ledger.events``): their keys, their refusals, their sentences (en, fr),
and the contract's bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from attain.contracts.ledger_events import LedgerEvent
from attain.core.milestones import (
    DISPUTE_ANSWERED,
    PAID,
    STATEMENT_CHANGED,
    STATEMENT_READY,
    LedgerFact,
    from_ledger,
)
from attain.notify.messages import sentence
from attain.platform.avro import contract

AT = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


def test_each_ledger_fact_has_its_stable_key():
    assert from_ledger(LedgerFact(STATEMENT_READY, "r1", "2026-Q1"), "ae").key == "r1|2026-Q1|statement_ready|ae"
    assert from_ledger(LedgerFact(PAID, "r1", "2026-Q1", "INR", D("10")), "ae").key == "r1|2026-Q1|paid|ae|INR"
    answered = from_ledger(LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", "EUR", None,
                                      details={"dispute_id": "42", "answer": "2", "status": "rejected"}), "ae")
    assert answered.key == "r1|2026-Q1|dispute_answered|42|2" and answered.delta == 0
    changed = from_ledger(LedgerFact(STATEMENT_CHANGED, "r|1", "2026-Q1", "EUR", D("-12.50"), "",
                                     {"change": "v9", "cause": "crm", "deals": "006A,006B"}), "ae")
    assert changed.key == "r\\|1|2026-Q1|statement_changed|ae|EUR|v9"
    assert changed.delta == D("-12.50") and changed.deals == ("006A", "006B")
    assert changed.structured()["cause"] == "crm"


def test_a_rep_paid_under_two_scopes_gets_a_statement_and_a_payment_of_each():
    """The notifier records a key once: without the scope in the key, the second scope's were dropped."""
    for kind, currency, amount, details in ((STATEMENT_READY, "", None, {}), (PAID, "EUR", D("10"), {}),
                                            (STATEMENT_CHANGED, "EUR", D("-5"), {"change": "v9", "cause": "crm"})):
        events = [LedgerEvent.of(f"{kind}/{scope}", kind, "r1", scope, "2026-Q1", AT, currency, amount,
                                 details=details) for scope in ("ae", "se")]
        assert len({from_ledger(event.fact, event.scope).key for event in events}) == 2, kind


def test_the_same_fact_twice_is_the_same_milestone_and_a_second_answer_is_another():
    first = LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", details={"dispute_id": "7", "answer": "1"})
    again = LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", details={"dispute_id": "7", "answer": "1"})
    second = LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", details={"dispute_id": "7", "answer": "2"})
    assert from_ledger(first, "ae").key == from_ledger(again, "ae").key != from_ledger(second, "ae").key


@pytest.mark.parametrize(("fact", "says"), [
    (LedgerFact("refunded", "r1", "2026-Q1"), "kind 'refunded'"),
    (LedgerFact(PAID, "r1", "2026-Q1"), "currency and amount"),
    (LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", details={"dispute_id": "7"}), "needs answer"),
    (LedgerFact(STATEMENT_CHANGED, "r1", "2026-Q1", "EUR", D("1")), "needs change"),
])
def test_a_fact_that_makes_no_milestone_is_refused_naming_why(fact, says):
    with pytest.raises(ValueError, match=says):
        from_ledger(fact, "ae")


def test_sentences_in_english_and_french():
    ready = from_ledger(LedgerFact(STATEMENT_READY, "r1", "2026-Q1"), "ae")
    assert sentence(ready) == "Your statement for 2026-Q1 is ready."
    assert sentence(ready, "fr") == "Votre relevé pour 2026-Q1 est prêt."
    paid = from_ledger(LedgerFact(PAID, "r1", "2026-Q1", "EUR", D("1234.5")), "ae")
    assert sentence(paid) == "Your payout of €1,234.50 for 2026-Q1 was paid."
    assert sentence(paid, "fr") == "Votre paiement de 1\u202f234,50\xa0€ pour 2026-Q1 a été versé."
    adjusted = from_ledger(LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", "EUR", D("5"), "admin",
                                      {"dispute_id": "4", "answer": "1", "status": "adjusted"}), "ae")
    assert sentence(adjusted) == "Your dispute #4 on 2026-Q1 was answered with an adjustment of +€5.00."
    rejected = from_ledger(LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", "EUR", None, "admin",
                                      {"dispute_id": "4", "answer": "1", "status": "rejected"}), "ae")
    assert sentence(rejected, "fr") == "Votre contestation n° 4 sur 2026-Q1 a reçu une réponse."
    crm = from_ledger(LedgerFact(STATEMENT_CHANGED, "r1", "2026-Q1", "EUR", D("-50"), "",
                                 {"change": "v9", "cause": "crm", "deals": "006A"}), "ae")
    assert sentence(crm) == "Your issued statement for 2026-Q1 changed by -€50.00: a CRM change (deals 006A)."
    manual = from_ledger(LedgerFact(STATEMENT_CHANGED, "r1", "2026-Q1", "EUR", D("20"), "admin",
                                    {"change": "e12", "cause": "adjustment"}), "ae")
    assert sentence(manual, "fr") == "Votre relevé émis pour 2026-Q1 a changé de +20,00\xa0€ : un ajustement manuel."


def test_a_ledger_event_survives_avro_bytes_and_back_and_an_unknown_kind_is_refused():
    codec = contract("ledger.events")
    event = LedgerEvent.of("dispute_answered|42|1", DISPUTE_ANSWERED, "r1", "ae", "2026-Q1", AT, "EUR", D("-3.25"),
                        "admin", {"dispute_id": "42", "answer": "1", "status": "adjusted"})
    assert LedgerEvent.from_avro(codec.decode(codec.encode(event.to_avro()))) == event
    ready = LedgerEvent.of("statement_ready|ae|2026-Q1|r1", STATEMENT_READY, "r1", "ae", "2026-Q1", AT)
    assert LedgerEvent.from_avro(codec.decode(codec.encode(ready.to_avro()))) == ready
    with pytest.raises(ValueError, match="kind 'paidout'"):
        LedgerEvent.of("x", "paidout", "r1", "ae", "2026-Q1", AT)
