"""Crediting, FX, proration, clawbacks, draws and YTD: worked examples computed by hand."""

from datetime import date
from decimal import Decimal

import pytest

from attain.core.earnings import compute_period_earnings
from tests.unit.plan_helpers import book, credits_of, earned, record, roles_and_bookings, won

ORG = roles_and_bookings(when="{stage: Closed Won}", window_days=90, sdr_field="SDR__c") + """fx_rates:
  - {base: USD, quote: INR, date: 2026-01-01, rate: 83}
  - {base: USD, quote: INR, date: 2026-02-01, rate: 84}
deal_currencies: [USD, INR]
plans:
  - id: ae
    currency: INR
    assign: {role: AE}
    components:
      - {id: commission, measure: bookings, roles: [split], rate: 0.1}
  - id: sdr
    currency: INR
    assign: {role: SDR}
    components:
      - {id: sourced, measure: bookings, roles: [sdr], rate: 0.02}
  - id: mgr
    currency: INR
    assign: {role: Manager}
    target_incentive: 100000
    components:
      - id: override
        measure: bookings
        roles: [manager]
        tiers:
          table:
            - {from: 0, to: 1, rate: 0.01}
            - {from: 1, rate: 0.02}
participants:
  - {id: a1, role: AE, quota: 1000}
  - id: a2
    role: AE
    quota: 1000
    managers:
      - {id: m1, to: 2026-02-14}
      - {id: m2, from: 2026-02-15}
  - {id: s1, role: SDR}
  - {id: m1, role: Manager, quota: 10000}
  - {id: m2, role: Manager, quota: 10000}
"""


def deal(record_id, version=1, **fields):
    return record(record_id, "Opportunity", version, **fields)


def test_overlay_splits_may_exceed_100_percent_and_each_member_gets_its_share():
    org = book(ORG)
    credits = credits_of(org, deal("A", stage="Closed Won", amount="1000", currency="INR", close_date="2026-01-10",
                                   owner_id="a1", splits=[{"rep_id": "a1", "percent": 100},
                                                          {"rep_id": "a2", "percent": 50}]))
    shares = {(c.rep_id, c.role): c.amount for c in credits}
    assert shares[("a1", "split")] == Decimal("1000") and shares[("a2", "split")] == Decimal("500")
    assert earned(org, "a2", "2026-Q1", [c for c in credits if c.rep_id == "a2"]) == {"commission": Decimal("50.00")}


def test_sourcing_sdr_is_credited_from_a_configurable_field():
    org = book(ORG)
    credits = credits_of(org, deal("A", stage="Closed Won", amount="1000", currency="INR", close_date="2026-01-10",
                                   owner_id="a1", SDR__c="s1"))
    assert [(c.rep_id, c.role) for c in credits] == [("a1", "split"), ("s1", "sdr")]
    assert earned(org, "s1", "2026-Q1", [c for c in credits if c.rep_id == "s1"]) == {"sourced": Decimal("20.00")}


def test_manager_credit_follows_the_hierarchy_in_force_on_the_credit_date():
    org = book(ORG)
    before = credits_of(org, deal("A", stage="Closed Won", amount="1000", currency="INR", close_date="2026-02-14",
                                  owner_id="a2"))
    after = credits_of(org, deal("B", stage="Closed Won", amount="1000", currency="INR", close_date="2026-02-15",
                                 owner_id="a2"))
    assert [c.rep_id for c in before if c.role == "manager"] == ["m1"]
    assert [c.rep_id for c in after if c.role == "manager"] == ["m2"]


def test_manager_override_tiered_on_team_attainment():
    org = book(ORG)
    team = [won(f"d{n}", "m1", "6000", "2026-01-10") for n in (1, 2)]
    team = [c.__class__(**{**c.__dict__, "measure": "bookings", "role": "manager"}) for c in team]
    # team credited 12,000 on quota 10,000: 10,000 x 1% + 2,000 x 2% = 140
    assert earned(org, "m1", "2026-Q1", team) == {"override": Decimal("140.00")}


def test_fx_converts_each_deal_at_the_rate_of_its_credit_date_and_records_it():
    org = book(ORG)
    credits = [*credits_of(org, deal("A", stage="Closed Won", amount="1000", currency="USD",
                                     close_date="2026-01-15", owner_id="a1")),
               *credits_of(org, deal("B", stage="Closed Won", amount="1000", currency="USD",
                                     close_date="2026-02-15", owner_id="a1"))]
    result = compute_period_earnings(org, "a1", "2026-Q1", credits)
    (commission,) = result.components
    assert commission.credited_value == Decimal("167000")  # 1,000 x 83 + 1,000 x 84
    assert [(line.fx_rate, line.fx_date) for line in commission.lines] == [
        (Decimal("83"), date(2026, 1, 1)), (Decimal("84"), date(2026, 2, 1))]
    assert commission.earned_amount == Decimal("16700.00")


def test_a_deal_moving_back_out_of_closed_won_stops_counting_without_a_clawback_rule():
    org = book(ORG.replace("    clawback: {cancel_field: cancelled_on, window_days: 90}\n", ""))
    won_then_reopened = [deal("A", 1, stage="Closed Won", amount="1000", currency="INR", close_date="2026-01-10",
                              owner_id="a1"),
                         deal("A", 2, stage="Negotiation")]
    assert credits_of(org, *won_then_reopened) == []


def test_cancellation_within_the_window_is_clawed_back_in_the_period_it_happens():
    org = book(ORG)
    credits = credits_of(org, deal("A", stage="Closed Won", amount="1000", currency="INR", close_date="2026-03-20",
                                   owner_id="a1", cancelled_on="2026-04-10"))
    mine = [c for c in credits if c.rep_id == "a1"]
    assert earned(org, "a1", "2026-Q1", mine) == {"commission": Decimal("100.00")}  # closed period unchanged
    assert earned(org, "a1", "2026-Q2", mine) == {"commission": Decimal("-100.00")}


def test_cancellation_after_the_window_claws_nothing_back():
    org = book(ORG)
    credits = credits_of(org, deal("A", stage="Closed Won", amount="1000", currency="INR", close_date="2026-01-01",
                                   owner_id="a1", cancelled_on="2026-04-02"))  # 91 days later
    assert [c.kind for c in credits if c.rep_id == "a1"] == ["credit"]


PRORATION = """
plans:
  - id: ae
    version: 1
    currency: INR
    target_incentive: 90000
    effective_from: 2026-01-01
    components:
      - {id: c, measure: closed_won_amount, rate: 0.05, cap: {of_target: 1}}
  - id: ae
    version: 2
    currency: INR
    target_incentive: 90000
    effective_from: 2026-03-01
    components:
      - {id: c, measure: closed_won_amount, rate: 0.06}
participants:
  - {id: joiner, plan: ae, start: 2026-02-15, quota: 900000}
"""


def test_mid_period_joiner_has_quota_and_target_prorated_by_calendar_days():
    org = book(PRORATION)
    result = compute_period_earnings(org, "joiner", "2026-Q1", [won("a", "joiner", "2000000", "2026-02-20")])
    first, second = result.components
    # Q1 2026 has 90 days; v1 covers 15-28 Feb = 14 days, v2 covers March = 31 days
    assert first.component_id == "ae@v1:c" and second.component_id == "ae@v2:c"
    assert first.quota == Decimal(900000) * 14 / 90
    # 2,000,000 x 5% = 100,000, capped at 1 x target 90,000 x 14/90 = 14,000
    assert first.earned_amount == Decimal("14000.00")
    assert second.earned_amount == Decimal("0.00")  # the deal is dated in v1's days


def test_plan_version_change_mid_period_rates_each_deal_under_the_version_of_its_date():
    org = book(PRORATION)
    credits = [won("a", "joiner", "1000", "2026-02-20"), won("b", "joiner", "1000", "2026-03-05")]
    assert earned(org, "joiner", "2026-Q1", credits) == {"ae@v1:c": Decimal("50.00"), "ae@v2:c": Decimal("60.00")}


DRAWS = """
plans:
  - id: recoverable
    currency: INR
    draw: {amount: 1000, recoverable: true}
    components: [{id: c, measure: closed_won_amount, rate: 0.1}]
  - id: guaranteed
    currency: INR
    draw: {amount: 1000}
    components: [{id: c, measure: closed_won_amount, rate: 0.1}]
participants:
  - {id: r, plan: recoverable}
  - {id: g, plan: guaranteed}
"""


def test_non_recoverable_draw_tops_up_to_the_guarantee():
    assert earned(book(DRAWS), "g", "2026-Q1", [won("a", "g", "3000", "2026-01-10")]) == {
        "c": Decimal("300.00"), "draw": Decimal("700.00")}


def test_recoverable_draw_is_won_back_from_later_earnings_of_the_year():
    credits = [won("a", "r", "3000", "2026-01-10"), won("b", "r", "15000", "2026-04-10")]
    org = book(DRAWS)
    assert earned(org, "r", "2026-Q1", credits) == {"c": Decimal("300.00"), "draw": Decimal("700.00")}
    # Q2 earns 1,500: 500 above the guarantee recovers 500 of the 700 outstanding
    assert earned(org, "r", "2026-Q2", credits) == {"c": Decimal("1500.00"), "draw": Decimal("-500.00")}


def test_ytd_component_pays_cumulative_attainment_minus_what_earlier_periods_paid():
    org = book("""
plans:
  - id: ae
    currency: INR
    components:
      - id: ytd
        measure: closed_won_amount
        ytd: true
        tiers:
          method: retroactive
          table: [{from: 0, to: 1, rate: 0.05}, {from: 1, rate: 0.1}]
participants:
  - {id: r1, plan: ae, quota: 1000}
""")
    credits = [won("a", "r1", "900", "2026-01-10"), won("b", "r1", "1300", "2026-04-10")]
    assert earned(org, "r1", "2026-Q1", credits) == {"ytd": Decimal("45.00")}  # 900 x 5%
    # YTD 2,200 on YTD quota 2,000 -> 110% -> 2,200 x 10% = 220, minus 45 already paid
    assert earned(org, "r1", "2026-Q2", credits) == {"ytd": Decimal("175.00")}


def test_plans_are_assigned_by_participant_attributes():
    org = book(ORG)
    assert org.plan_on("a1", date(2026, 1, 1)).plan_id == "ae"
    assert org.plan_on("s1", date(2026, 1, 1)).plan_id == "sdr"
    assert org.plan_on("m2", date(2026, 1, 1)).plan_id == "mgr"


@pytest.mark.parametrize("method, retro_reversal", [("reverse_paid", "-80.00"), ("rerate", "-50.00")])
def test_a_clawback_still_reverses_in_a_period_below_the_gate_and_in_retroactive_tiers(method, retro_reversal):
    org = book(f"""
measures:
  bookings:
    object: Opportunity
    sum: amount
    date_field: close_date
    when: {{is_won: true}}
    clawback: {{cancel_field: cancelled_on, window_days: 90, method: {method}}}
plans:
  - id: ae
    currency: INR
    components:
      - {{id: gated, measure: bookings, rate: 0.1, gate: {{min_attainment: 0.5}}}}
      - {{id: retro, measure: bookings, tiers: {{method: retroactive, table: [{{from: 0, to: 1, rate: 0.05}},
                                                                              {{from: 1, rate: 0.08}}]}}}}
participants:
  - {{id: r1, plan: ae, quota: 1000}}
""")
    credits = credits_of(org, deal("A", is_won=True, amount="1000", close_date="2026-03-20", owner_id="r1",
                                   cancelled_on="2026-04-10"))
    # Q1: 1,000 on quota 1,000 passes the gate (100) and reaches the 8% tier (80)
    assert earned(org, "r1", "2026-Q1", credits) == {"gated": Decimal("100.00"), "retro": Decimal("80.00")}
    # Q2 holds only the reversal, despite the gate. reverse_paid: what Q1 paid on the deal (100/1,000 and
    # 80/1,000 of its 1,000); rerate: -1,000 x 10%, and -1,000 x 5% (a negative period is at the first tier)
    assert earned(org, "r1", "2026-Q2", credits) == {"gated": Decimal("-100.00"), "retro": Decimal(retro_reversal)}


def test_manager_override_as_a_share_of_what_the_team_earned():
    org = book("""
roles:
  manager: {managers_of: owner}
measures:
  bookings: {object: Opportunity, sum: amount, date_field: close_date, when: {is_won: true},
             credit_to: [owner, manager]}
plans:
  - id: ae
    currency: INR
    assign: {role: AE}
    components:
      - {id: commission, measure: bookings, roles: [owner],
         tiers: {table: [{from: 0, to: 1, rate: 0.05}, {from: 1, rate: 0.1}]}}
  - id: mgr
    currency: INR
    assign: {role: Manager}
    components:
      - {id: override, measure: bookings, roles: [manager],
         of_team_earnings: {rate: 0.1, components: [commission]}}
participants:
  - {id: a1, role: AE, quota: 1000, manager: m}
  - {id: a2, role: AE, quota: 1000, manager: m}
  - {id: m, role: Manager}
""")
    credits = [*credits_of(org, deal("A", is_won=True, amount="1500", close_date="2026-01-10", owner_id="a1")),
               *credits_of(org, deal("B", is_won=True, amount="400", close_date="2026-02-10", owner_id="a2"))]
    # a1: 1,000 x 5% + 500 x 10% = 100; a2: 400 x 5% = 20; the manager gets 10% of 120
    assert earned(org, "m", "2026-Q1", [c for c in credits if c.rep_id == "m"]) == {"override": Decimal("12.00")}
