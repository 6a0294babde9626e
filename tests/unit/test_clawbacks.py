"""Clawbacks as comp teams write them: a won deal that stops qualifying, reversed at what it was paid.

Every number is worked out by hand in the comments.
"""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from attain.core.admission import admit
from attain.core.recompute import recompute
from attain.core.records import ChangeVersion, CrmChange
from attain.simulate import simulate
from cli.main import main
from tests.unit.calculator_harness import Calculator
from tests.unit.plan_helpers import book

TIERED = """
measures:
  bookings: {object: Opportunity, sum: amount, currency_field: currency, date_field: close_date,
             when: {is_won: true}, clawback: {window_days: 120}}
fx_rates: [{base: USD, quote: INR, date: 2026-01-01, rate: 80}, {base: USD, quote: INR, date: 2026-04-01, rate: 90}]
deal_currencies: [USD, INR]
plans:
  - id: ae
    currency: INR
    components:
      - id: commission
        measure: bookings
        tiers: {method: marginal, table: [{from: 0, to: 0.5, rate: 0.05}, {from: 0.5, rate: 0.10}]}
      - {id: capped, measure: bookings, rate: 0.1, cap: {amount: 50000}}
participants:
  - {id: r1, plan: ae, quota: 1000000}
"""


def change(record_id, day, **fields):
    """A change committed at noon UTC on ``day`` (its commit date is the day a clawback lands on)."""
    at = int(datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp() * 1000)
    event_id = f"{record_id}-{day}"
    return CrmChange(event_id, record_id, "Opportunity", "UPDATE", ChangeVersion(at, 0, 0, event_id),
                     {name: json.dumps(value) for name, value in fields.items()})


def won(record_id, amount, day, currency="INR"):
    return change(record_id, day, owner_id="r1", amount=amount, currency=currency, close_date=day, is_won=True)


Q1_DEALS = [won("A", 200000, "2026-02-10"), won("B", 800000, "2026-03-05")]


def components(results, period):
    return {c.component_id: c.earned_amount for c in results[("r1", period)].components}


def test_a_won_deal_turned_lost_keeps_its_quarter_and_is_reversed_at_the_effective_rate_where_it_turned():
    org = book(TIERED)
    before = recompute(org, Q1_DEALS)
    after = recompute(org, [*Q1_DEALS, change("A", "2026-04-15", is_won=False, stage="Closed Lost")])
    # Q1: 1,000,000 credited on a 1,000,000 quota. Marginal tiers: 500,000 x 5% + 500,000 x 10% = 75,000,
    # effective rate 0.075. Capped: 1,000,000 x 10% = 100,000, capped at 50,000, effective rate 0.05.
    assert components(before, "2026-Q1") == {"commission": Decimal("75000.00"), "capped": Decimal("50000.00")}
    assert components(after, "2026-Q1") == components(before, "2026-Q1")  # the paid quarter is not rewritten
    # Q2 (the quarter of the change): deal A's 200,000 at the rates Q1 paid, not at Q2's first tier (5%),
    # nor Q1's marginal top tier (10%): -200,000 x 0.075 = -15,000 and -200,000 x 0.05 = -10,000.
    assert components(after, "2026-Q2") == {"commission": Decimal("-15000.00"), "capped": Decimal("-10000.00")}
    commission = after[("r1", "2026-Q2")].components[0]
    assert commission.credited_value == 0 and commission.attainment_ratio == 0  # Q2's attainment is its own
    assert any("clawback of A (credited 2026-02-10, reversed 2026-04-15): 2026-Q1 credited 1000000, "
               "earned 75000" in step and "effective rate" in step and "= -15000" in step
               for step in commission.steps), commission.steps


def test_a_usd_deal_is_reversed_at_the_fx_rate_of_its_original_credit_date():
    org = book(TIERED)
    deals = [won("U", 5000, "2026-02-10", currency="USD"), won("B", 600000, "2026-03-05")]
    results = recompute(org, [*deals, change("U", "2026-04-20", is_won=False)])
    # Q1: 5,000 USD x 80 = 400,000 INR + 600,000 = 1,000,000: commission 75,000, effective rate 0.075.
    # The reversal converts at Q1's rate (80), not April's (90): -400,000 x 0.075 = -30,000;
    # capped: 50,000 / 1,000,000 = 0.05, -400,000 x 0.05 = -20,000.
    assert components(results, "2026-Q2") == {"commission": Decimal("-30000.00"), "capped": Decimal("-20000.00")}
    line = next(line for line in results[("r1", "2026-Q2")].components[0].lines if line.record_id == "U")
    assert (line.fx_rate, line.fx_date, line.earned) == (Decimal(80), date(2026, 1, 1), Decimal("-30000.000"))


def test_a_change_beyond_the_window_keeps_the_credit_and_a_deal_won_again_is_not_clawed_back():
    org = book(TIERED)
    late = admit(None, [won("A", 200000, "2026-02-10"), change("A", "2026-06-15", is_won=False)], org)
    assert [(c.kind, c.credit_date) for c in late.credits] == [("credit", date(2026, 2, 10))]  # 125 days: kept
    again = admit(None, [won("A", 200000, "2026-02-10"), change("A", "2026-04-15", is_won=False),
                         change("A", "2026-04-20", is_won=True)], org)
    assert [(c.kind, c.credit_date) for c in again.credits] == [("credit", date(2026, 2, 10))]


def test_a_deal_lost_in_the_quarter_it_was_won_simply_does_not_count_there():
    org = book(TIERED)
    results = recompute(org, [*Q1_DEALS, change("A", "2026-03-25", is_won=False)])
    # Q1 is still open: nothing was paid on A, so it neither counts towards attainment nor is reversed.
    # B alone: 500,000 x 5% + 300,000 x 10% = 55,000; capped: 800,000 x 10% = 80,000 -> 50,000.
    assert components(results, "2026-Q1") == {"commission": Decimal("55000.00"), "capped": Decimal("50000.00")}
    assert ("r1", "2026-Q2") not in results


def test_a_close_date_moved_with_the_loss_does_not_move_the_original_credit():
    org = book(TIERED)
    lost = admit(None, [won("A", 200000, "2026-02-10"),
                        change("A", "2026-04-15", is_won=False, close_date="2026-04-15", amount=0)], org)
    # Salesforce often resets CloseDate (and the amount) on a loss: the credit is what the deal was when won.
    assert [(c.kind, c.credit_date, c.amount, c.reverses) for c in lost.credits] == [
        ("credit", date(2026, 2, 10), Decimal(200000), None),
        ("clawback", date(2026, 4, 15), Decimal(-200000), date(2026, 2, 10))]


def test_the_order_changes_arrive_in_does_not_change_the_clawback():
    org = book(TIERED)
    changes = [won("A", 200000, "2026-02-10"), change("A", "2026-04-15", is_won=False),
               change("A", "2026-04-16", stage="Closed Lost")]
    forward = admit(None, changes, org)
    backward = admit(None, list(reversed(changes)), org)
    assert forward.credits == backward.credits and len(forward.credits) == 2


def test_the_streaming_calculator_republishes_a_reversal_when_its_original_quarter_changes():
    """A Q1 deal arriving after a Q1 deal was lost in Q2 moves Q1's effective rate, so Q2's reversal too."""
    org = book(TIERED)
    lost = change("A", "2026-04-15", is_won=False)
    late = won("C", 100000, "2026-03-20")  # committed 2026-03-20 but delivered after the loss
    calc = Calculator(org)
    for batch in ([Q1_DEALS[0]], [Q1_DEALS[1]], [lost], [late]):
        calc.feed(batch)
    # Q1 now credits 1,100,000: 25,000 + 600,000 x 10% = 85,000 (rate 85/1,100) and capped 50,000 (rate 5/110);
    # A's reversal: -200,000 x 85,000 / 1,100,000 = -15,454.545.. and -200,000 x 50,000 / 1,100,000 = -9,090.909..,
    # each component rounded once (half-up): -15,454.55 - 9,090.91 = -24,545.46.
    assert calc.totals() == {("r1", "2026-Q1"): Decimal("135000.00"), ("r1", "2026-Q2"): Decimal("-24545.46")}
    assert calc.totals() == {key: e.total_earned for key, e in recompute(org, [*Q1_DEALS, lost, late]).items()}


def test_plans_validate_warns_when_a_won_deal_turned_lost_would_vanish_without_a_clawback(tmp_path, capsys):
    plans = tmp_path / "plans.yaml"
    plans.write_text("""measures:
  bookings: {object: Opportunity, sum: amount, when: {stage: Closed Won}}
  kept: {object: Opportunity, sum: amount, when: {is_won: true}, clawback: {window_days: 90}}
plans:
  - id: ae
    currency: INR
    components:
      - {id: c, measure: bookings, rate: 0.05}
      - {id: d, measure: kept, rate: 0.01}
      - {id: e, measure: closed_won_count, per_unit: 10}
participants:
  - {id: r1, plan: ae, quota: 1000}
""")
    with pytest.raises(SystemExit) as exit_code:
        main(["plans", "validate", str(plans)])
    assert exit_code.value.code == 0  # a warning, not an error
    out = capsys.readouterr().out.splitlines()
    warned = [line for line in out if "warning:" in line]
    assert [line.split(": warning:")[0] for line in warned] == [
        f"{plans}:2: measures.bookings",
        f"{plans}:10: plans[0].components[2].measure"]  # the built-in closed_won_count, where a plan pays on it
    assert "stage changes so it stops matching" in warned[0] and "clawback: {window_days: 90}" in warned[0]


def test_simulate_shows_the_reversal_in_the_quarter_of_the_loss_and_leaves_the_earlier_quarter_alone():
    org = book(TIERED)
    changes = [*Q1_DEALS, change("A", "2026-04-15", is_won=False, stage="Closed Lost")]
    q1, q2 = (simulate(org, changes, period) for period in ("2026-Q1", "2026-Q2"))
    assert [c.earned_amount for c in q1[0].components] == [Decimal("75000.00"), Decimal("50000.00")]
    assert [c.earned_amount for c in q2[0].components] == [Decimal("-15000.00"), Decimal("-10000.00")]


def test_the_streaming_calculator_reads_a_fiscal_quarter_whole_for_a_reversals_effective_rate():
    """On a fiscal year from February, FY2027-Q1 runs February to April: a reversal of its deal A prices at
    the rate of both its deals (the stage reads April too, not the calendar quarter's January to March)."""
    org = book(TIERED.replace("    currency: INR\n", "    currency: INR\n    fiscal_year_start: 2\n", 1))
    deals = [won("A", 200000, "2026-02-10"), won("B", 800000, "2026-04-05")]
    lost = change("A", "2026-05-15", is_won=False)
    calc = Calculator(org)
    for batch in ([deals[0]], [deals[1]], [lost]):
        calc.feed(batch)
    # as in Q1 above: effective rates 0.075 and 0.05, so -15,000 - 10,000 (not 5% of A alone: -10,000 - 20,000)
    assert calc.totals() == {("r1", "FY2027-Q1"): Decimal("125000.00"), ("r1", "FY2027-Q2"): Decimal("-25000.00")}
    assert calc.totals() == {key: e.total_earned for key, e in recompute(org, [*deals, lost]).items()}
