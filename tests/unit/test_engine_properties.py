"""Invariants of the plan engine, as hypothesis properties."""

import dataclasses
import json
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from attain.core.components import rate_credit
from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings, compute_period_earnings
from attain.core.fx import FxError
from attain.core.money import round_money
from attain.core.recompute import recompute
from attain.core.reconcile import deltas
from attain.core.records import ChangeVersion
from attain.core.tiers import Tier, marginal, retroactive
from services.calculator.credit_stage import credit_touched, merge_changes
from services.calculator.earnings_stage import apply_rep_messages, group_by_rep
from services.calculator.month_cache import month_from_wire, month_to_wire
from tests.unit.calculator_harness import Calculator, opp
from tests.unit.plan_helpers import book, roles_and_bookings, won

amounts = st.decimals(min_value=0, max_value=10_000_000, places=2)
rates = st.decimals(min_value=0, max_value=1, places=4)


@st.composite
def tier_tables(draw):
    bounds = sorted(set(draw(st.lists(st.decimals(min_value="0.01", max_value=3, places=2), max_size=4))))
    lowers = [Decimal(0), *bounds]
    uppers = [*bounds, None]
    return [Tier(low, high, draw(rates)) for low, high in zip(lowers, uppers, strict=True)]


@given(tier_tables(), amounts, amounts, st.decimals(min_value=1, max_value=10_000_000, places=0))
def test_marginal_tiers_never_pay_less_for_more(tiers, a, b, quota):
    low, high = sorted((a, b))
    assert marginal(tiers, low, quota).earned <= marginal(tiers, high, quota).earned


@given(tier_tables(), amounts, st.decimals(min_value=1, max_value=10_000_000, places=0))
def test_marginal_slices_add_up_to_the_credited_value(tiers, value, quota):
    result = marginal(tiers, value, quota)
    assert sum((credited for _, credited, _ in result.slices), Decimal(0)) == value
    assert retroactive(tiers, value, quota).tier == result.tier


CAPPED = """
plans:
  - id: ae
    currency: JPY
    target_incentive: 500000
    cap: {amount: 700000}
    components:
      - {id: flat, measure: closed_won_amount, rate: 0.07, cap: {amount: 400000, per_deal: 90000}}
      - id: tiers
        measure: closed_won_amount
        cap: {of_target: 1.2}
        tiers: {table: [{from: 0, to: 1, rate: 0.02}, {from: 1, rate: 0.05}]}
participants:
  - {id: r1, plan: ae, quota: 20000000}
"""
deals = st.lists(st.tuples(st.decimals(min_value=-500_000, max_value=5_000_000, places=0),
                           st.integers(0, 89)), max_size=30)


def as_credits(items):
    return [won(f"d{n}", "r1", str(amount), (date(2026, 1, 1) + timedelta(days=day)).isoformat(), "JPY")
            for n, (amount, day) in enumerate(items)]


@settings(max_examples=60, deadline=None)
@given(deals)
def test_earned_amounts_never_exceed_their_caps_and_the_total_is_the_sum_of_components(items):
    result = compute_period_earnings(book(CAPPED), "r1", "2026-Q1", as_credits(items))
    by_id = {c.component_id: c.earned_amount for c in result.components}
    assert by_id["flat"] <= 400000
    assert by_id["tiers"] <= Decimal("1.2") * 500000
    assert result.total_earned <= 700000
    # and from below: flat pays 7% of each deal (at most 90,000 a deal) up to 400,000; the tiers pay
    # at least 2% of the sum up to 120% of target; the plan cap is 700,000 (- 2: JPY rounding)
    flat_floor = min(Decimal(400000), sum((min(Decimal("0.07") * a, Decimal(90000)) for a, _ in items), Decimal(0)))
    tiers_floor = min(Decimal("1.2") * 500000, Decimal("0.02") * sum((a for a, _ in items), Decimal(0)))
    assert result.total_earned >= min(Decimal(700000), flat_floor + tiers_floor) - 2
    assert result.total_earned == sum(c.earned_amount for c in result.components)


@settings(max_examples=60, deadline=None)
@given(deals, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_credit_order_or_duplicates(items, rng):
    capped = book(CAPPED)
    changes = [opp(f"e{n}v{ts}", f"d{n}", ts, owner_id="r1", amount=amount * ts, currency="JPY", is_won=True,
                   close_date=(date(2026, 1, 1) + timedelta(days=day)).isoformat())
               for n, (amount, day) in enumerate(items) for ts in (1, 2)]  # version 2 must win in any order
    shuffled = changes + changes[: len(changes) // 2]  # duplicates kept: the calculator must absorb them
    rng.shuffle(shuffled)
    calc = Calculator(capped)
    while shuffled:  # in batches: a duplicate often arrives after its record was credited
        size = rng.randint(1, 4)
        calc.feed(shuffled[:size])
        shuffled = shuffled[size:]
    assert calc.totals() == {key: e.total_earned for key, e in recompute(capped, changes).items() if e.total_earned}


@given(st.lists(st.dictionaries(st.sampled_from(["flat", "tiers", "spiff"]),
                                st.decimals(min_value=-1000, max_value=1000, places=3)), max_size=40))
def test_deltas_of_rounded_cumulatives_never_drift(increments):
    """The ledger's rule (reconcile.deltas, as services/ledger/db.py posts it) keeps the posted sums
    equal to each snapshot's rounded cumulative amounts, component by component."""
    posted: dict[str, Decimal] = {}
    cumulative: dict[str, Decimal] = {}
    for increment in increments:
        for component, amount in increment.items():
            cumulative[component] = cumulative.get(component, Decimal(0)) + amount
        snapshot = {c: round_money(amount, "INR") for c, amount in cumulative.items()}
        for component, delta in deltas(snapshot, posted).items():
            assert delta != 0
            assert delta == round_money(delta, "INR")
            posted[component] = posted.get(component, Decimal(0)) + delta
        assert {c: a for c, a in posted.items() if a} == {c: a for c, a in snapshot.items() if a}


RICH = roles_and_bookings(credit_to="[split, sdr, manager]", window_days=60) + """fx_rates:
  - {base: USD, quote: INR, date: 2026-01-01, rate: 83.25}
  - {base: USD, quote: INR, date: 2026-03-01, rate: 84.1}
plans:
  - id: ae
    currency: INR
    assign: {role: AE}
    draw: {amount: 100, recoverable: true}
    components:
      - {id: commission, measure: bookings, roles: [split],
         tiers: {method: retroactive, table: [{from: 0, to: 1, rate: 0.05}, {from: 1, rate: 0.08}]}}
      - {id: ytd, measure: bookings, roles: [split], ytd: true, rate: 0.01}
  - id: lead
    currency: INR
    assign: {role: Manager}
    components:
      - {id: override, measure: bookings, roles: [manager], rate: 0.01}
      - {id: sourced, measure: bookings, roles: [sdr], per_unit: 0.02}
      - {id: team_cut, measure: bookings, roles: [manager], of_team_earnings: {rate: 0.1, components: [commission]}}
participants:
  - {id: r1, role: AE, quota: 5000, manager: m1}
  - {id: r2, role: AE, quota: 5000, managers: [{id: m1, to: 2026-02-28}, {id: m2, from: 2026-03-01}]}
  - {id: m1, role: Manager}
  - {id: m2, role: Manager}
"""


rich_changes = st.builds(
    lambda i, record, ts, fields: opp(f"e{i}", record, ts, **fields),
    st.integers(0, 100_000),
    st.sampled_from(["A", "B", "C"]),
    st.integers(0, 30),
    st.fixed_dictionaries({}, optional={
        "owner_id": st.sampled_from(["r1", "r2", "m1", "outsider"]),
        "sdr_id": st.sampled_from(["m1", "m2"]),
        "amount": st.decimals(0, 9_000, places=2),
        "currency": st.sampled_from(["INR", "USD"]),
        "is_won": st.booleans(),
        "close_date": st.sampled_from(["2026-01-15", "2026-02-28", "2026-03-31", "2026-04-01", "2026-05-20"]),
        "cancelled_on": st.sampled_from(["2026-02-10", "2026-04-15", "2026-09-01"]),
        "splits": st.sampled_from([[], [{"rep_id": "r1", "percent": 100}, {"rep_id": "r2", "percent": 40}]]),
    }),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(rich_changes, max_size=18, unique_by=lambda c: c.event_id), st.data())
def test_incremental_path_equals_recompute_with_splits_fx_hierarchy_clawbacks_draws_and_ytd(changes, data):
    rich = book(RICH)
    calc = Calculator(rich)
    order = data.draw(st.permutations(changes + changes[: len(changes) // 3]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
        if end > start:
            calc.feed(order[start:end])
    expected = {key: e.total_earned for key, e in recompute(rich, changes).items() if e.total_earned}
    event(f"reps paid: {len({rep for rep, _ in expected})}")
    assert calc.totals() == expected




RATED = """
fx_rates:
  - {base: USD, quote: INR, date: 2026-01-01, rate: 83.25}
  - {base: USD, quote: INR, date: 2026-03-01, rate: 84.1}
  - {base: USD, quote: SGD, date: 2026-01-01, rate: 1.35}
plans:
  - id: ae
    currency: INR
    period: quarter
    components:
      - {id: commission, measure: closed_won_amount, gate: {min_attainment: 0.1}, cap: {amount: 90000},
         kickers: [{label: multi-year, when: {contract_years: {gte: 2}}, multiplier: 1.2}],
         tiers: {method: marginal, table: [{from: 0, to: 0.5, rate: 0.03}, {from: 0.5, rate: 0.06}]},
         bonuses: [{attainment: 1, amount: 500}]}
      - {id: by_size, measure: closed_won_amount, where: {product: [A, B]}, cap: {per_deal: 800},
         tiers: {basis: deal_size, method: retroactive,
                 table: [{from: 0, to: 50000, rate: 0.01}, {from: 50000, rate: 0.02}]}}
      - {id: spiff, measure: closed_won_count, per_unit: 100, window: {from: 2026-02-01, to: 2026-02-28},
         where: {product: A}}
      - {id: ytd, measure: closed_won_amount, rate: 0.001, ytd: true, cap: {per_deal: 50}}
  - id: sg
    currency: SGD
    period: month
    components:
      - {id: commission, measure: closed_won_amount, rate: 0.02,
         kickers: [{label: strategic, when: {product: B}, multiplier: 1.5}]}
participants:
  - {id: r1, plan: ae, quota: 400000}
  - {id: r2, plan: sg, quota: 3000}
"""

rated_credits = st.lists(st.builds(
    lambda number, rep, count, day, amount, currency, years, product: Credit(
        f"006{number}", rep, "closed_won_count" if count else "closed_won_amount",
        date(2025, 12, 1) + timedelta(days=day), Decimal(1) if count else amount, "" if count else currency,
        ChangeVersion(1), attributes=(("contract_years", str(years)), ("product", product))),
    st.integers(0, 40), st.sampled_from(["r1", "r2"]), st.booleans(), st.integers(0, 240),
    st.decimals(-5_000, 150_000, places=2), st.sampled_from(["INR", "USD", "SGD"]), st.integers(1, 4),
    st.sampled_from(["A", "B", "C"]),
), max_size=30)


def _outcome(compute):
    try:
        return compute()
    except FxError as error:
        return f"FxError: {error}"


@settings(max_examples=120, deadline=None)
@given(rated_credits)
def test_earnings_from_credits_rated_once_equal_earnings_rated_afresh(credits):
    """Lines taken from :func:`rate_credit` give the very same earnings, lines and steps (or the same FX error)."""
    plan_book = book(RATED)

    def rated(plan):
        return [rate_credit(plan, plan_book.fx, credit) for credit in credits]

    for rep_id in ("r1", "r2"):
        for period in ("2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2025-12", "2026-02", "2026-03", "2026-07"):
            afresh = _outcome(lambda r=rep_id, p=period: compute_period_earnings(plan_book, r, p, credits))
            once = _outcome(lambda r=rep_id, p=period: compute_period_earnings(plan_book, r, p, credits, rated))
            assert once == afresh
            if isinstance(afresh, PeriodEarnings):
                event("earnings" if afresh.total_earned else "nothing earned")
            else:
                event("an FX error" if afresh else "no plan")


class Stage2:
    """Stage 2 alone. ``resident`` keeps the parsed month maps between calls, as the calculator's
    tables do in memory (so each record's ratings are reused); otherwise each month goes through
    JSON, so every call rates every credit afresh."""

    def __init__(self, resident):
        self.resident, self.months, self.published = resident, {}, {}

    def load(self, rep_id, month):
        stored = self.months.get((rep_id, month))
        if stored is None or self.resident:
            return stored
        return month_from_wire(json.loads(json.dumps(stored)))

    def apply(self, rep_id, messages, plan_book, clock):
        update = apply_rep_messages(rep_id, messages, plan_book, clock,
                                    lambda month: self.load(rep_id, month), lambda period: None)
        for month, credits in update.months.items():
            if not credits:
                self.months.pop((rep_id, month), None)
            else:
                self.months[(rep_id, month)] = credits if self.resident else month_to_wire(credits)
        for snapshot in update.snapshots:
            self.published[(rep_id, snapshot.earnings.period)] = snapshot.earnings


@settings(max_examples=80, deadline=None)
@given(st.lists(rich_changes, min_size=1, max_size=18, unique_by=lambda c: c.event_id), st.data())
def test_kept_ratings_never_go_stale_across_changes_plan_books_and_fx_tables(changes, data):
    """Any sequence of batches, each applied under three books in turn (other plans and FX rates;
    the same plans with another FX table): keeping ratings between calls publishes exactly what
    rating afresh does."""
    first = book(RICH)
    other = book(RICH.replace("rate: 84.1", "rate: 90.5").replace("rate: 0.05", "rate: 0.06"))
    books = [first, other, dataclasses.replace(first, fx=other.fx)]
    resident, afresh = Stage2(resident=True), Stage2(resident=False)
    records = {}
    cuts = sorted(data.draw(st.lists(st.integers(0, len(changes)), max_size=5)))
    for start, end in zip([0, *cuts], [*cuts, len(changes)], strict=True):
        touched = merge_changes(records.get, [(c, 0) for c in changes[start:end]])
        records.update(touched)
        messages = json.loads(json.dumps(list(credit_touched(touched, first).messages_by_rep.values())))
        for plan_book in data.draw(st.permutations(books)):  # a batch applied again is harmless: last wins
            for rep_id, rep_messages in group_by_rep(messages).items():
                resident.apply(rep_id, rep_messages, plan_book, 0)
                afresh.apply(rep_id, rep_messages, plan_book, 0)
            assert resident.published == afresh.published
    event(f"periods published: {len(afresh.published)}")


DAY_MS = 86_400_000
JAN_1_2026_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
clawback_changes = st.builds(
    lambda i, record, day, fields: opp(f"e{i}", record, JAN_1_2026_MS + day * DAY_MS + i, **fields),
    st.integers(0, 100_000),
    st.sampled_from(["A", "B"]),
    st.integers(0, 130),  # committed Jan..mid-May 2026: a deal lost in a later quarter is clawed back there
    st.fixed_dictionaries({"is_won": st.booleans(), "owner_id": st.sampled_from(["r1", "r2"]),
                           "close_date": st.sampled_from(["2026-01-15", "2026-02-28", "2026-03-31", "2026-04-01"]),
                           "amount": st.decimals(0, 9_000, places=2)},
                          optional={
        "currency": st.sampled_from(["INR", "USD"]),
        "splits": st.sampled_from([[], [{"rep_id": "r1", "percent": 100}, {"rep_id": "r2", "percent": 40}]]),
    }),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(clawback_changes, min_size=2, max_size=14, unique_by=lambda c: c.event_id), st.data())
def test_clawbacks_by_stage_change_are_order_independent_and_incremental_equals_recompute(changes, data):
    """Won flags turning false (and back) in later quarters: the reversals at the original periods'
    effective rates come out the same in any order, batch or streaming."""
    rich = book(RICH)
    expected = {key: e.total_earned for key, e in recompute(rich, changes).items() if e.total_earned}
    order = data.draw(st.permutations(changes + changes[: len(changes) // 3]))
    assert {key: e.total_earned for key, e in recompute(rich, order).items() if e.total_earned} == expected
    calc = Calculator(rich)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
        if end > start:
            calc.feed(order[start:end])
    reversals = sum(1 for e in recompute(rich, changes).values() for c in e.components for line in c.lines
                    if line.reverses is not None and line.credit_date.month > line.reverses.month)
    event(f"reversals in a later month: {min(reversals, 3)}")
    assert calc.totals() == expected


# The same book with the commission rates, a quota, a manager, a split role and the FX rate of March changed:
# crediting (who is credited, in which role) and earning both move.
RICH_CHANGED = (RICH.replace("rate: 0.05}", "rate: 0.045}").replace("rate: 0.08}", "rate: 0.1}")
                .replace("{id: r1, role: AE, quota: 5000, manager: m1}", "{id: r1, role: AE, quota: 4000, manager: m2}")
                .replace("roles: [sdr], per_unit: 0.02", "roles: [sdr], per_unit: 0.03")
                .replace("rate: 84.1", "rate: 85.0"))


@settings(max_examples=60, deadline=None)
@given(st.lists(rich_changes, max_size=14, unique_by=lambda c: c.event_id), st.data())
def test_live_plan_changes_switching_the_book_mid_stream_equals_a_recompute_under_the_new_book(changes, data):
    """Events under the first book, the book switched and the state recomputed (either stage first), more
    events under the new book: the same earnings as a batch recompute of all events under the new book; and
    switching back gives the recompute under the first book again (a rollback)."""
    first, changed = book(RICH), book(RICH_CHANGED)
    assert first != changed
    calc = Calculator(first, recover_every=data.draw(st.sampled_from([0, 1])))
    cut = data.draw(st.integers(0, len(changes)))
    calc.feed_batches(changes[:cut], [])
    calc.switch_book(changed, rescore_first=data.draw(st.booleans()))
    calc.feed_batches(changes[cut:], sorted(data.draw(st.lists(st.integers(0, len(changes) - cut), max_size=2))))
    expected = {key: e.total_earned for key, e in recompute(changed, changes).items() if e.total_earned}
    assert calc.totals() == expected
    before = len(calc.snapshots)
    calc.switch_book(first, rescore_first=data.draw(st.booleans()))
    assert calc.totals() == {key: e.total_earned for key, e in recompute(first, changes).items() if e.total_earned}
    event(f"rollback snapshots: {'some' if len(calc.snapshots) > before else 'none'}")


TWO_PLANS = """
plans:
  - {id: ae, currency: INR, components: [{id: commission, measure: closed_won_amount, rate: 0.05}]}
  - {id: se, currency: INR, components: [{id: commission, measure: closed_won_amount, rate: 0.02}]}
participants:
  - {id: r1, plan: ae, quota: 1000}
  - {id: r2, plan: se, quota: 1000}
"""


def test_a_rescore_publishes_only_the_periods_whose_earnings_the_new_book_changes():
    """r1 (plan ae) sold 1,000 INR in January, r2 (plan se) 2,000 in April; ae's rate goes from 5% to 6%:
    r1's 2026-Q1 is published again at 60.00 (was 50.00), r2's 2026-Q2 (40.00) is not published again; the
    same book again publishes nothing."""
    calc = Calculator(book(TWO_PLANS))
    calc.feed([opp("a", "A", 1, owner_id="r1", amount=Decimal(1000), is_won=True, close_date="2026-01-15"),
               opp("b", "B", 2, owner_id="r2", amount=Decimal(2000), is_won=True, close_date="2026-04-01")])
    assert calc.totals() == {("r1", "2026-Q1"): Decimal("50.00"), ("r2", "2026-Q2"): Decimal("40.00")}
    count = len(calc.snapshots)
    calc.switch_book(book(TWO_PLANS.replace("rate: 0.05", "rate: 0.06")))
    assert [(s.earnings.rep_id, s.earnings.period, s.earnings.total_earned) for s in calc.snapshots[count:]] == [
        ("r1", "2026-Q1", Decimal("60.00"))]
    count = len(calc.snapshots)
    calc.switch_book(calc.book)  # the same book again: nothing moves
    assert len(calc.snapshots) == count
