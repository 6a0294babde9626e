"""The calculator's incremental path equals a from-scratch recompute, in any batching."""

import gc
import operator
from datetime import date
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attain.core.crediting import Credit
from attain.core.plan_parser import parse_plan_book
from attain.core.recompute import recompute
from attain.core.records import ChangeVersion
from services.calculator.config import CalculatorSettings, configure_gc
from services.calculator.convert import credit_to_json
from services.calculator.credit_stage import encode_credit_messages
from services.calculator.limits import MAX_VALUE_BYTES, ValueTooLarge
from services.calculator.month_cache import MonthCredits, RecordCredits, month_to_wire
from tests.unit.calculator_harness import Calculator, WholeMonthCalculator, opp, roundtrip

BOOK = parse_plan_book({
    "plans": [{"id": "ae", "currency": "INR", "period": "quarter",
               "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]}],
    "participants": [{"id": r, "plan": "ae", "quota": "1000"} for r in ("r1", "r2", "r3")],
})


def test_owner_change_moves_the_credit_to_the_new_owner():
    calc = Calculator(BOOK)
    calc.feed([opp("e1", "A", 1, owner_id="r1", amount=Decimal(500), is_won=True, close_date="2026-01-10")])
    assert calc.totals() == {("r1", "2026-Q1"): Decimal("50.00")}
    calc.feed([opp("e2", "A", 2, owner_id="r2")])
    assert calc.totals() == {("r2", "2026-Q1"): Decimal("50.00")}


def test_close_date_moving_to_the_next_quarter_moves_the_credit_and_zeroes_the_old_period():
    calc = Calculator(BOOK)
    calc.feed([opp("e1", "A", 1, owner_id="r1", amount=Decimal(500), is_won=True, close_date="2026-03-30")])
    calc.feed([opp("e2", "A", 2, close_date="2026-04-02")])
    assert calc.published[("r1", "2026-Q1")][1] == Decimal("0.00")
    assert calc.totals() == {("r1", "2026-Q2"): Decimal("50.00")}


def test_a_deal_that_leaves_closed_won_stops_counting():
    calc = Calculator(BOOK)
    calc.feed([opp("e1", "A", 1, owner_id="r1", amount=Decimal(500), is_won=True, close_date="2026-01-10")])
    calc.feed([opp("e2", "A", 2, is_won=False)])
    assert calc.totals() == {}


def test_replaying_a_batch_changes_no_total():
    calc = Calculator(BOOK)
    batch = [opp("e1", "A", 1, owner_id="r1", amount=Decimal(500), is_won=True, close_date="2026-01-10")]
    calc.feed(batch)
    before = calc.totals()
    calc.feed(batch)
    assert calc.totals() == before


change_strategy = st.builds(
    lambda i, record, ts, fields: opp(f"e{i}", record, ts, **fields),
    st.integers(0, 100_000),
    st.sampled_from(["A", "B", "C", "D"]),
    st.integers(0, 40),
    st.fixed_dictionaries({}, optional={
        "owner_id": st.sampled_from(["r1", "r2", "r3", "outsider"]),
        "amount": st.decimals(0, 10_000, places=2),
        "is_won": st.booleans(),
        "close_date": st.sampled_from(["2026-01-15", "2026-02-01", "2026-03-31", "2026-04-01"]),
    }),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(change_strategy, max_size=25, unique_by=lambda c: c.event_id), st.data())
def test_incremental_batches_equal_a_from_scratch_recompute(changes, data):
    calc = Calculator(BOOK)
    order = data.draw(st.permutations(changes + changes[: len(changes) // 3]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=5)))
    for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
        if end > start:
            calc.feed(order[start:end])
    expected = {key: e.total_earned for key, e in recompute(BOOK, changes).items() if e.total_earned}
    assert calc.totals() == expected


RATED_BOOK = parse_plan_book({
    "fx_rates": [{"base": "USD", "quote": "INR", "date": "2026-01-01", "rate": "83.25"}],
    "plans": [{"id": "ae", "currency": "INR", "period": "quarter", "components": [
        {"id": "commission", "measure": "closed_won_amount", "rate": "0.1",
         "kickers": [{"label": "multi-year", "when": {"contract_years": {"gte": 2}}, "multiplier": "1.2"}]},
        {"id": "count", "measure": "closed_won_count", "per_unit": "10"}]}],
    "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}],
})


def record_credits(record_id, day, amounts, reversed_day=None):
    """A record's credits to r1 on one day: several may tie in line order (same record, role, kind, date);
    with ``reversed_day``, clawbacks reversing what was paid on that January day."""
    reverses = None if reversed_day is None else date(2026, 1, reversed_day)
    return RecordCredits.from_wire(credit_to_json(Credit(
        record_id, "r1", measure, date(2026, 2, day), Decimal(amount), currency, ChangeVersion(1),
        kind="credit" if reverses is None else "clawback", reverses=reverses,
        attributes=(("contract_years", str(amount % 3)),))) for measure, amount, currency in amounts)


month_edits = st.lists(st.tuples(
    st.integers(0, 60), st.booleans(), st.integers(1, 3),
    st.lists(st.tuples(st.sampled_from(["closed_won_amount", "closed_won_count"]), st.integers(1, 9_000),
                       st.sampled_from(["INR", "USD"])), min_size=1, max_size=3),
    st.sampled_from([None, None, 5, 20]),
), min_size=1, max_size=40)


@settings(max_examples=120, deadline=None)
@given(st.lists(month_edits, min_size=1, max_size=6))
def test_a_months_sorted_view_patched_change_by_change_equals_one_built_afresh(batches):
    """Each batch edits a copy of the month, as stage 2 does: the view patched from the original's
    holds the very same credits and ratings, in the same order, its partial results and its index of
    reversals of what was paid, as one sorted from scratch."""
    plan, other_fx = RATED_BOOK.plans["ae"][0], RATED_BOOK.fx.__class__()
    month = MonthCredits()
    for batch in batches:
        month.sorted_rated(plan, RATED_BOOK.fx)
        month.sorted_view().totals_under(plan, RATED_BOOK.fx)  # kept, so the copy's view patches them
        month = MonthCredits(month)
        for number, remove, day, amounts, reversed_day in batch:
            if remove:
                month.pop(f"006{number}", None)
            else:
                month[f"006{number}"] = record_credits(f"006{number}", day, amounts, reversed_day)
        afresh = MonthCredits(dict(month))
        assert month.sorted_view().reversals == afresh.sorted_view().reversals  # the index of reversals too
        assert month.sorted_credits() == afresh.sorted_credits()
        assert all(map(operator.is_, month.sorted_credits(), afresh.sorted_credits()))
        for fx in (RATED_BOOK.fx, other_fx):
            kept, fresh = month.sorted_rated(plan, fx), afresh.sorted_rated(plan, fx)
            assert [item.credit for item in kept] == month.sorted_credits()
            assert all(map(operator.is_, (i.credit for i in kept), (i.credit for i in fresh)))
            assert kept == fresh
            assert month.sorted_view().totals_under(plan, fx) == afresh.sorted_view().totals_under(plan, fx)


@settings(max_examples=50, deadline=None)
@given(st.lists(change_strategy, max_size=25, unique_by=lambda c: c.event_id), st.data())
def test_per_record_state_publishes_the_same_snapshots_as_whole_month_values(changes, data):
    """Stage 2 keyed per (rep, month, record), its index rebuilt from the stored bytes before every batch
    and its credit messages split small, publishes what one stored value per (rep, month) did."""
    # a bound small enough to split most batches, above the largest head (up to 33 triggers naming their record)
    keyed, whole = Calculator(BOOK, recover_every=1, limit=2500), WholeMonthCalculator(BOOK)
    order = data.draw(st.permutations(changes + changes[: len(changes) // 3]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=5)))
    for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
        if end > start:
            keyed.feed(order[start:end])
            whole.feed(order[start:end])
    assert [(s.earnings, s.snapshot_version, s.triggers, s.earliest) for s in keyed.snapshots] == [
        (s.earnings, s.snapshot_version, s.triggers, s.earliest) for s in whole.snapshots]
    keyed.recover()
    assert {key: roundtrip(month_to_wire(month)) for key, month in keyed.index.months.items()} == {
        key: month for key, month in whole.months.items() if month}


def test_a_split_credit_message_keeps_every_upsert_in_order_under_the_bound():
    body = {"rep_id": "r1", "triggers": [["e1", 5]], "earliest": 5, "upserts": [
        {"record_id": f"006{n}", "credits": [], "days": ["2026-01-15"] * (n % 7)} for n in range(300)]}
    parts = encode_credit_messages(body, 1000)
    assert len(parts) > 5
    assert all(len(part) <= 1000 for part in parts)
    decoded = [orjson.loads(part) for part in parts]
    assert [u for part in decoded for u in part["upserts"]] == body["upserts"]
    assert all(part["triggers"] == [["e1", 5]] and part["earliest"] == 5 for part in decoded)
    with pytest.raises(ValueTooLarge, match="006299"):
        encode_credit_messages({**body, "upserts": [{"record_id": "006299", "credits": [], "days": ["x" * 2000]}]},
                               1000)


@pytest.fixture
def service_gc():
    """Garbage collection tuned as the calculator tunes it (configure_gc): the default walks 100,000 records'
    objects every few thousand allocations."""
    before = gc.get_threshold()
    configure_gc(CalculatorSettings())
    yield
    gc.set_threshold(*before)


def test_a_rep_with_100000_credits_in_a_month_stays_under_the_value_bound(service_gc):
    """The outside tester's burst: one rep-month grew past the broker's 1 MB limit. Here one batch
    credits a rep with 100,000 deals in a month (stage 1's message for it, split for the topic) and
    a second batch changes one of them: no stored value or message passes MAX_VALUE_BYTES, and the
    totals are right, also after the month index is rebuilt from the stored bytes."""
    deals = 100_000
    amounts = [Decimal(100 + n % 900) for n in range(deals)]

    def upsert(n, amount):
        credit = credit_to_json(Credit(f"006{n:07d}", "r1", "closed_won_amount", date(2026, 1, 1 + n % 28),
                                       amount, "INR", ChangeVersion(1, 0, 0, f"e{n}")))
        return {"record_id": credit["record_id"], "credits": [credit], "days": [credit["credit_date"]]}

    body = {"rep_id": "r1", "triggers": [[f"e{n}", n] for n in range(deals - 50, deals)], "earliest": 0,
            "upserts": [upsert(n, amount) for n, amount in enumerate(amounts)]}
    parts = encode_credit_messages(body)
    assert len(parts) > 1
    calc = Calculator(BOOK, recover_every=0)
    calc.feed_messages(parts)
    assert calc.totals() == {("r1", "2026-Q1"): (sum(amounts) * Decimal("0.1")).quantize(Decimal("0.01"))}
    assert len(calc.credits) == deals
    whole = len(orjson.dumps(month_to_wire(calc.index.get("r1", "2026-01"))))
    assert whole > 4 * 1024 * 1024  # what the one (rep, month) value used to be
    calc.recover()
    calc.feed([opp("e-last", "0060000000", 2, owner_id="r1", amount=Decimal(0), is_won=True,
                   close_date="2026-01-01")])
    assert 0 < calc.largest <= MAX_VALUE_BYTES
    assert calc.totals() == {("r1", "2026-Q1"): ((sum(amounts) - amounts[0]) * Decimal("0.1")).quantize(
        Decimal("0.01"))}
