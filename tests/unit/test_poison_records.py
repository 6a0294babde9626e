"""No record can stop the pipeline: poison values are refused with a reason, the rest keeps flowing,
and the streaming stages agree with the batch recompute on what was refused and held."""

import json
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from attain.core.admission import admit
from attain.core.crediting import MAX_CREDIT_AMOUNT, CreditingError, credits_for
from attain.core.plan_parser import PlanError, parse_plan_book
from attain.core.recompute import admit_changes, recompute
from attain.core.records import ChangeVersion, CrmChange
from attain.planfiles import load_text
from attain.simulate import explain, holds, simulate
from services.calculator.credit_stage import credit_touched, merge_changes
from services.calculator.earnings_stage import apply_rep_messages
from tests.unit.calculator_harness import Calculator, opp
from tests.unit.plan_helpers import book, roles_and_bookings

POLICY = roles_and_bookings(credit_to="[split, manager]", window_days=60) + """  net_bookings:
    object: Opportunity
    sum: amount
    currency_field: currency
    date_field: close_date
    when: {stage: Closed}
    allow_negative: true
fx_rates:
  - {base: USD, quote: INR, date: 2026-01-01, rate: 83.25}
plans:
  - id: ae
    currency: INR
    assign: {role: AE}
    components:
      - {id: commission, measure: bookings, roles: [split],
         tiers: {method: retroactive, table: [{from: 0, to: 1, rate: 0.05}, {from: 1, rate: 0.08}]}}
      - {id: net, measure: net_bookings, rate: 0.01}
  - id: lead
    currency: INR
    assign: {role: Manager}
    components:
      - {id: override, measure: bookings, roles: [manager], rate: 0.01}
participants:
  - {id: r1, role: AE, quota: 5000, manager: m1}
  - {id: r2, role: AE, quota: 5000, manager: m1}
  - {id: m1, role: Manager}
"""

WON = {"owner_id": "r1", "is_won": True, "close_date": "2026-02-10", "currency": "INR"}


def change(event_id, record_id, ts, **fields):
    """A change whose field values are JSON text as ingest writes them (numbers as decimal text)."""
    return CrmChange(event_id, record_id, "Opportunity", "UPDATE", ChangeVersion(ts, 0, 0, event_id),
                     {k: _json(v) for k, v in fields.items()})


class Raw(str):
    """JSON text written as is (a number no Decimal holds, which only a producer other than ingest sends)."""


def _json(value):
    if isinstance(value, Decimal | Raw):
        return str(value)
    return json.dumps(value, default=str)


def totals(changes, plan_book):
    return {key: e.total_earned for key, e in recompute(plan_book, changes).items() if e.total_earned}


@pytest.mark.parametrize("amount, code", [
    (Decimal("1e26"), "out_of_bounds"), ("1e26", "out_of_bounds"), (Decimal("1e999999999"), "out_of_bounds"),
    (Decimal("-1e999999999"), "out_of_bounds"), (Decimal("-5"), "negative_amount"), ("-5.00", "negative_amount"),
    ("lots", "uncreditable"), (Raw("1e9999999999999999999999"), "uncreditable"),
])
def test_a_poison_amount_is_refused_and_the_record_held_until_a_correction(amount, code):
    plan_book = book(POLICY)
    calc = Calculator(plan_book)
    good = change("e1", "006P", 1, **WON, amount="1000")
    poison = change("e2", "006P", 2, amount=amount)
    fixed = change("e3", "006P", 3, amount="3000")
    calc.feed([good])
    calc.feed([poison])  # must not raise, in stage 1 or 2
    assert [(r.event_id, r.code) for r in calc.refused] == [("e2", code)]
    assert "held at its last valid value" in calc.refused[0].describe()
    assert calc.totals() == totals([good, poison], plan_book) == {("r1", "2026-Q1"): Decimal("50.00"),
                                                                  ("m1", "2026-Q1"): Decimal("10.00")}
    calc.feed([fixed])  # a later correcting event makes the record flow again
    assert calc.totals() == totals([good, poison, fixed], plan_book) == {("r1", "2026-Q1"): Decimal("150.00"),
                                                                         ("m1", "2026-Q1"): Decimal("30.00")}


def test_a_record_out_of_its_dates_or_with_absurd_splits_is_refused_with_the_field_named():
    plan_book = book(POLICY)
    for fields, expected in [
        ({"close_date": "9999-12-31"}, "close_date: 9999-12-31 is outside"),
        ({"close_date": "0001-01-01"}, "close_date: 0001-01-01 is outside"),
        ({"cancelled_on": "9999-12-31"}, "cancelled_on: 9999-12-31 is outside"),
        ({"splits": json.dumps([{"rep_id": "r1", "percent": "1e999999999"}])}, "Overflow"),
        ({"splits": json.dumps([{"rep_id": "r1", "percent": "1e20"}])}, "beyond"),
    ]:
        result = admit(None, [change("e1", "006D", 1, **{**WON, "amount": "10", **fields})], plan_book)
        assert result.held and result.credits == [] and expected in result.refused[0].reason, (fields, result)


def test_negative_amounts_are_a_policy_of_the_measure():
    plan_book = book(POLICY)
    refund = change("e1", "006N", 1, owner_id="r2", stage="Closed", close_date="2026-02-01", amount="-2000")
    assert [(c.measure, c.amount) for c in credits_for(admit(None, [refund], plan_book).state, plan_book)] == [
        ("net_bookings", Decimal("-2000"))]
    both = change("e2", "006N", 2, is_won=True)  # now bookings (no negatives) matches too: refused, held
    result = admit(admit(None, [refund], plan_book).state, [both], plan_book)
    assert result.held and result.refused[0].code == "negative_amount"
    assert "allow_negative: true" in result.refused[0].reason
    assert [c.amount for c in result.credits] == [Decimal("-2000")]  # the last valid credits stay
    assert totals([refund, both], plan_book) == {("r2", "2026-Q1"): Decimal("-20.00")}


def test_allow_negative_must_be_a_boolean():
    with pytest.raises(PlanError, match="allow_negative"):
        parse_plan_book(load_text(POLICY.replace("allow_negative: true", "allow_negative: maybe")).data)


def test_the_explanation_trace_says_a_record_is_held():
    plan_book = book(POLICY)
    changes = [change("e1", "006T", 1, **WON, amount="1000"), change("e2", "006T", 2, amount="-7"),
               change("e3", "006U", 3, **WON, amount="-1")]  # refused from its first change: credits nothing
    (result,) = [r for r in simulate(plan_book, changes, "2026-Q1") if r.rep_id == "r1"]
    text = explain(result, None, holds(plan_book, changes, "r1"))
    assert "held: 006T held at its last valid value: change e2 refused (negative_amount)" in text
    assert "held: 006U held at its last valid value: change e3 refused (negative_amount)" in text
    assert result.total_earned == Decimal("50.00")
    assert holds(plan_book, changes, "r2") == []


def test_stage_two_turns_a_failure_into_an_exception_the_worker_can_dead_letter_not_a_wrong_total():
    """Stage 1 never lets an unratable credit through; a forged one still only raises for its own rep."""
    plan_book = book(POLICY)
    message = {"rep_id": "r1", "triggers": [["e1", 0]], "upserts": [{"record_id": "006F", "days": ["2026-02-10"],
               "credits": [{"record_id": "006F", "rep_id": "r1", "measure": "bookings", "credit_date": "2026-02-10",
                            "amount": "1E+30", "currency": "INR", "version": [1, 0, 0, "e1"], "role": "split",
                            "share": "1", "kind": "credit", "attributes": [], "via": ""}]}]}
    with pytest.raises(ArithmeticError):
        apply_rep_messages("r1", [message], plan_book, 1, lambda month: None, lambda period: None)


# --- properties --------------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False)
                | st.text(max_size=8))
any_json = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
poison = st.sampled_from([Decimal("1e26"), Decimal("1e999999999"), Decimal("-1e999999999"), Decimal("-5"), 10**30,
                          "1e26", "-3", "NaN", "Infinity", "0001-01-01", "9999-12-31", "\ud800", "", [], {},
                          Raw("1e9999999999999999999999"), Raw("-1E-999999999")])
valid = {
    "owner_id": st.sampled_from(["r1", "r2", "m1", "outsider"]),
    "amount": st.decimals(0, 9_000, places=2),
    "currency": st.sampled_from(["INR", "USD"]),
    "is_won": st.booleans(),
    "stage": st.just("Closed"),
    "close_date": st.sampled_from(["2026-01-15", "2026-02-28", "2026-03-31", "2026-04-01"]),
    "cancelled_on": st.sampled_from(["2026-02-10", "2026-04-15"]),
    "splits": st.sampled_from(["[]", '[{"rep_id": "r1", "percent": 100}, {"rep_id": "r2", "percent": 40}]']),
}
fields = st.fixed_dictionaries({}, optional={name: st.one_of(value, poison, any_json) for name, value in valid.items()})
changes = st.builds(lambda i, record, ts, values: change(f"e{i}", record, ts, **values),
                    st.integers(0, 10_000), st.sampled_from(["A", "B", "C"]), st.integers(0, 30), fields)


@settings(max_examples=150, deadline=None)
@given(st.lists(changes, max_size=16, unique_by=lambda c: c.event_id), st.data())
def test_any_json_in_any_field_is_credited_or_refused_with_a_reason_and_streaming_equals_recompute(items, data):
    plan_book = book(POLICY)
    ordered = items + data.draw(st.lists(st.sampled_from(items), max_size=3)) if items else items  # redeliveries
    calc = Calculator(plan_book)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ordered)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(ordered)], strict=True):
        if end > start:
            calc.feed(ordered[start:end])  # never raises, stage 1 or 2
    admitted = admit_changes(plan_book, ordered)
    batch_refused = Counter((r.record_id, r.event_id, r.code) for a in admitted.values() for r in a.refused)
    assert Counter((r.record_id, r.event_id, r.code) for r in calc.refused) == batch_refused
    assert all(r.reason and r.code for r in calc.refused)
    for record in admitted.values():  # what was taken can be credited, and is bounded
        if record.state is not None:
            assert credits_for(record.state, plan_book) == record.credits
        assert all(abs(c.amount) <= MAX_CREDIT_AMOUNT for c in record.credits)
    assert calc.totals() == totals(ordered, plan_book)
    event(f"refused: {min(len(calc.refused), 3)}+")


def test_stage_one_survives_a_core_failure_it_did_not_foresee(monkeypatch):
    """Last line of defence: an exception out of admission refuses that record's changes, keeps its state."""
    plan_book = book(POLICY)
    good = opp("e1", "006G", 1, **WON, amount="100")
    other = opp("e2", "006H", 1, **WON, amount="100")
    touched = merge_changes(lambda record_id: None, [(good, 0), (other, 0)])

    def explode(state, changes, the_book):
        if state.record_id == "006H":
            raise RuntimeError("boom")
        return admit(state, changes, the_book)

    monkeypatch.setattr("services.calculator.credit_stage.admit", explode)
    result = credit_touched(touched, plan_book)
    assert [(r.record_id, r.event_id, r.code, r.reason) for r, _ in result.rejected] == [
        ("006H", "e2", "error", "RuntimeError: boom")]
    assert list(result.messages_by_rep) == ["m1", "r1"]
    assert [u["record_id"] for u in result.messages_by_rep["r1"]["upserts"]] == ["006G"]


def test_crediting_error_codes_are_stable():
    assert CreditingError("x").code == "uncreditable"


def test_a_calculator_dead_letter_holds_the_change_as_ingest_takes_it_so_it_can_be_replayed():
    from attain.contracts.crm_changes import change_from_avro, change_to_canonical_json, normalise, parse_json

    original = change("e7", "006R", 1770800000000, **WON, amount="-500.00", notes="caf\u00e9 \"quoted\"")
    replayed = change_from_avro(normalise(parse_json(change_to_canonical_json(original)), "dlq-replay", 0))
    assert replayed == original


def test_admission_never_raises_even_when_the_refused_value_is_the_rep_field():
    plan_book = book(POLICY)
    bad = change("e1", "006Z", 1, stage="Closed", owner_id=Raw("1e9999999999999999999999"), close_date="2026-02-01",
                 amount="10")
    result = admit(None, [bad], plan_book)
    assert result.held and result.refused[0].code == "uncreditable" and result.refused[0].reps == ()
