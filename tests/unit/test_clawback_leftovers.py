"""Review leftovers of clawbacks (issue 14): a reversed deal leaves year-to-date attainment, and a reversal
takes back what was paid whatever the plan cap or the draw of the period it lands in.

Every number is worked out by hand in the comments (docs/plans.md shows the same examples).
"""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from attain.core.recompute import recompute
from tests.unit.calculator_harness import Calculator
from tests.unit.plan_helpers import book
from tests.unit.test_clawbacks import change, won

D = Decimal

MEASURE = """
measures:
  bookings: {object: Opportunity, sum: amount, currency_field: currency, date_field: close_date,
             when: {is_won: true}, clawback: {window_days: 200}}
"""

ANNUAL = MEASURE + """
plans:
  - id: ae
    currency: INR
    components:
      - id: annual
        measure: bookings
        quota_period: year
        tiers: {method: marginal, table: [{from: 0, to: 1, rate: 0.05}, {from: 1, rate: 0.10}]}
participants:
  - {id: r1, plan: ae, quotas: {default: {"2026": 1000000}}}
"""

YEAR = [won("A", 300000, "2026-02-10"), won("B", 500000, "2026-03-05"), change("A", "2026-04-15", is_won=False),
        won("C", 100000, "2026-05-10"), won("D", 300000, "2026-08-10")]


def paid(results, period):
    return {c.component_id: c.earned_amount for c in results[("r1", period)].components}


def test_a_deal_reversed_in_a_quarter_counts_in_no_year_to_date_attainment_from_that_quarter_on():
    results = recompute(book(ANNUAL), YEAR)
    # Q1: A 300,000 + B 500,000 = 800,000 of 1,000,000 (80%) at 5% = 40,000; effective rate 0.05.
    assert paid(results, "2026-Q1") == {"annual": Decimal("40000.00")}
    # Q2: A is reversed at what it was paid, -300,000 x 0.05 = -15,000. To date without A: B + C = 600,000
    # (60%) -> 30,000; Q1 to date without A: 500,000 -> 25,000; true-up 5,000. Q2 pays 5,000 - 15,000.
    assert paid(results, "2026-Q2") == {"annual": Decimal("-10000.00")}
    q3 = results[("r1", "2026-Q3")].components[0]
    # Q3: to date without A: 900,000 (90%) -> 45,000; Q2 to date 30,000: true-up 15,000. Counting A (the bug)
    # gave 1,200,000 (120%): 50,000 + 20,000 = 70,000, minus 45,000 = 25,000, and attainment 1.2.
    assert (q3.earned_amount, q3.attainment_ratio, q3.credited_value) == (
        Decimal("15000.00"), Decimal("0.9000"), Decimal("900000.00"))
    assert any("credited 900000 without A (reversed by 2026-09-30)" in step for step in q3.steps), q3.steps
    # the year pays 40,000 - 10,000 + 15,000 = 45,000: the year's earnings without A (900,000 x 5%)
    assert sum(paid(results, p)["annual"] for p in ("2026-Q1", "2026-Q2", "2026-Q3")) == Decimal("45000.00")


def test_the_streaming_calculator_leaves_a_reversed_deal_out_of_year_to_date_as_the_recompute_does():
    org = book(ANNUAL)
    calc = Calculator(org)
    for batch in ([YEAR[0], YEAR[1]], [YEAR[3]], [YEAR[4]], [YEAR[2]]):  # the loss arrives last
        calc.feed(batch)
    expected = {key: e.total_earned for key, e in recompute(org, YEAR).items()}
    assert expected[("r1", "2026-Q3")] == Decimal("15000.00")
    assert calc.totals() == expected


CAPPED = MEASURE + """
plans:
  - id: ae
    currency: INR
    cap: {amount: 50000}
    components:
      - {id: commission, measure: bookings, rate: 0.1}
participants:
  - {id: r1, plan: ae}
"""

CAP_DEALS = [won("A", 200000, "2026-02-10"), won("B", 200000, "2026-03-05"), change("A", "2026-04-15", is_won=False),
             won("C", 700000, "2026-05-10")]


def test_the_plan_cap_of_the_period_a_reversal_lands_in_does_not_absorb_it():
    org = book(CAPPED)
    results = recompute(org, CAP_DEALS)
    # Q1: 400,000 x 10% = 40,000, under the 50,000 cap; effective rate 0.10.
    assert paid(results, "2026-Q1") == {"commission": Decimal("40000.00")}
    # Q2: C earns 70,000, capped at 50,000 (-20,000); A's reversal -200,000 x 0.10 = -20,000 comes after the cap:
    # Q2 pays 30,000. Folding the reversal in first (the bug) gave 70,000 - 20,000 = 50,000, under the cap: 50,000.
    assert paid(results, "2026-Q2") == {"commission": Decimal("50000.00"), "plan_cap": Decimal("-20000.00")}
    assert results[("r1", "2026-Q2")].total_earned == Decimal("30000.00")
    calc = Calculator(org)
    for batch in ([CAP_DEALS[0], CAP_DEALS[1]], [CAP_DEALS[3]], [CAP_DEALS[2]]):
        calc.feed(batch)
    assert calc.totals() == {key: e.total_earned for key, e in results.items()}


def drawn(recoverable):
    return MEASURE + f"""
plans:
  - id: ae
    currency: INR
    draw: {{amount: 40000, recoverable: {str(recoverable).lower()}}}
    components:
      - {{id: commission, measure: bookings, rate: 0.1}}
participants:
  - {{id: r1, plan: ae}}
"""


DRAW_DEALS = [won("A", 200000, "2026-02-10"), won("B", 300000, "2026-03-05"), change("A", "2026-04-15", is_won=False),
              won("C", 100000, "2026-05-10"), won("E", 500000, "2026-08-10")]


def test_a_draw_guarantee_does_not_hide_a_reversal():
    kept = recompute(book(drawn(False)), DRAW_DEALS)
    # Q1: 500,000 x 10% = 50,000, above the 40,000 guarantee; effective rate 0.10.
    assert paid(kept, "2026-Q1") == {"commission": Decimal("50000.00")}
    # Q2: C earns 10,000: top-up to the guarantee 30,000; A's reversal -20,000 on top: Q2 pays 20,000.
    # The bug topped up to the guarantee from 10,000 - 20,000 = -10,000 (+50,000): 40,000, the reversal hidden.
    assert paid(kept, "2026-Q2") == {"commission": Decimal("-10000.00"), "draw": Decimal("30000.00")}
    assert kept[("r1", "2026-Q2")].total_earned == Decimal("20000.00")
    owed = recompute(book(drawn(True)), DRAW_DEALS)
    # recoverable: the same 30,000 top-up (30,000 outstanding, not 50,000); Q3's E earns 50,000, 10,000 above
    # the guarantee: recovered -10,000 (20,000 still outstanding).
    assert paid(owed, "2026-Q2") == {"commission": Decimal("-10000.00"), "draw": Decimal("30000.00")}
    assert paid(owed, "2026-Q3") == {"commission": Decimal("50000.00"), "draw": Decimal("-10000.00")}
    assert "outstanding after 20000.00" in owed[("r1", "2026-Q3")].components[-1].steps[0]


# -- the core's leftovers of cost: each is asked for once, not once per day, version or rep ------------------


def test_the_effective_rate_of_a_period_is_worked_out_once_for_all_the_days_its_reversed_deals_were_credited():
    from attain.core.clawbacks import reversals
    from attain.core.components import ComponentResult
    from attain.core.trace import CreditLine

    org = book(CAPPED)
    segment = org.segments("r1", "2026-Q2")[0]
    lines = tuple(CreditLine(r, "owner", "clawback", date(2026, 4, 15), D(-100000), "INR", D(1), None, D(1), (),
                             D(-100000), reverses=date(2026, 1, day)) for r, day in (("A", 10), ("B", 20), ("C", 30)))
    asked = []

    def original(period, at, index):
        asked.append(period)
        return ComponentResult(D(400000), None, None, D(40000), None, (), ())

    total, _, priced = reversals(org, "r1", "commission", segment, ComponentResult(D(0), None, None, D(0), None, (),
                                                                                  (), lines), original)
    # three deals of January (three days), one quarter: Q1's rate 40,000 / 400,000 = 0.1 asked for once
    assert asked == ["2026-Q1"] and total == D(-30000) and [p.earned for p in priced] == [D(-10000)] * 3


def test_when_a_deal_stopped_qualifying_is_read_in_one_pass_over_its_history():
    from attain.core.crediting import credits_for
    from attain.core.records import apply_change

    org = book(CAPPED)
    changes = [won("A", 200000, "2026-02-10")] + [
        change("A", f"2026-{3 + i // 28:02d}-{1 + i % 28:02d}", is_won=i % 2 == 0) for i in range(60)]
    state = None
    for each in changes:
        state = apply_change(state, each, org.clawback_fields)
    reads = []

    class Counted(tuple):
        def __iter__(self):
            reads.append(1)
            return super().__iter__()

    counted = replace(state, history=Counted(state.history))
    # the last change (2026-05-04, is_won false) is within the window: A is reversed on its day
    assert [(c.kind, c.credit_date) for c in credits_for(counted, org)] == [
        ("credit", date(2026, 2, 10)), ("clawback", date(2026, 5, 4))]
    assert len(state.history) > 60 and len(reads) <= 4  # was one read per version of is_won (60 and more)


def test_stage_two_works_out_the_reach_of_reversals_once_per_plan_book():
    from attain.core.clawbacks import reversal_reach

    org = book(CAPPED)
    calc = Calculator(org)
    calc.feed(CAP_DEALS)
    # kept on the book (a cached property) once the first rep asked: the longest reverse_paid window, 200 days
    assert vars(org)["reversal_reach"] == 200 == reversal_reach(org)
    assert reversal_reach(book(CAPPED.replace("clawback: {window_days: 200}", ""))) == 0
