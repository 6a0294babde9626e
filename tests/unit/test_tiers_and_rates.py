"""Rates, tiers, gates, bonuses, kickers and caps: worked examples computed by hand."""

from decimal import Decimal

from tests.unit.plan_helpers import book, earned, won

TIERED = """
plans:
  - id: ae
    currency: INR
    period: quarter
    target_incentive: 100000
    components:
      - id: marginal
        measure: closed_won_amount
        tiers:
          method: marginal
          table:
            - {from: 0, to: 1, rate: 0.05}
            - {from: 1, rate: 0.08}
      - id: retro
        measure: closed_won_amount
        tiers:
          method: retroactive
          table:
            - {from: 0, to: 1, rate: 0.05}
            - {from: 1, rate: 0.08}
participants:
  - {id: r1, plan: ae, quota: 1000000}
"""


def test_retroactive_tier_pays_whole_amount_at_reached_rate():
    # exactly at quota: the 100% tier is reached, so all 1,000,000 pays 8% = 80,000
    result = earned(book(TIERED), "r1", "2026-Q1", [won("a", "r1", "1000000", "2026-02-01")])
    assert result["retro"] == Decimal("80000.00")


def test_marginal_tier_pays_each_slice_at_its_own_rate():
    # 1,000,000 x 5% + 500,000 x 8% = 50,000 + 40,000
    result = earned(book(TIERED), "r1", "2026-Q1", [won("a", "r1", "1500000", "2026-02-01")])
    assert result["marginal"] == Decimal("90000.00")
    assert result["retro"] == Decimal("120000.00")  # 1,500,000 x 8%


def test_just_below_the_boundary_both_methods_pay_the_lower_rate():
    # 999,999.99 x 5% = 49,999.9995 -> 50,000.00 half-up
    result = earned(book(TIERED), "r1", "2026-Q1", [won("a", "r1", "999999.99", "2026-02-01")])
    assert result == {"marginal": Decimal("50000.00"), "retro": Decimal("50000.00")}


def test_tier_reached_and_slices_are_in_the_trace():
    from attain.core.earnings import compute_period_earnings

    result = compute_period_earnings(book(TIERED), "r1", "2026-Q1", [won("a", "r1", "1500000", "2026-02-01")])
    marginal = result.components[0]
    assert marginal.tier == "1+"
    assert "tier 0-1 (marginal): 1000000 x 0.05 = 50000.00" in marginal.steps
    assert "tier 1+ (marginal): 500000 x 0.08 = 40000.00" in marginal.steps


RULES = """
plans:
  - id: ae
    currency: INR
    target_incentive: 100000
    components:
      - id: gated
        measure: closed_won_amount
        rate: 0.05
        gate: {min_attainment: 0.5}
      - id: capped
        measure: closed_won_amount
        rate: 0.1
        cap: {of_target: 2}
      - id: per_deal_capped
        measure: closed_won_amount
        rate: 0.05
        cap: {per_deal: 20000}
      - id: bonus
        measure: closed_won_amount
        rate: 0
        bonuses:
          - {attainment: 1.0, amount: 5000}
          - {attainment: 1.5, of_target: 0.1}
      - id: kicked
        measure: closed_won_amount
        rate: 0.05
        kickers:
          - {label: multi-year, when: {contract_years: {gte: 2}}, multiplier: 1.2}
      - id: by_deal_size
        measure: closed_won_amount
        tiers:
          basis: deal_size
          method: retroactive
          table:
            - {from: 0, to: 500000, rate: 0.03}
            - {from: 500000, rate: 0.05}
participants:
  - {id: r1, plan: ae, quota: 1000000}
"""


def test_gate_pays_nothing_below_the_minimum_attainment():
    rules = book(RULES)
    assert earned(rules, "r1", "2026-Q1", [won("a", "r1", "499999", "2026-01-10")])["gated"] == Decimal("0.00")
    assert earned(rules, "r1", "2026-Q1", [won("a", "r1", "500000", "2026-01-10")])["gated"] == Decimal("25000.00")


def test_component_cap_as_a_multiple_of_target_incentive():
    # 3,000,000 x 10% = 300,000, capped at 2 x 100,000
    result = earned(book(RULES), "r1", "2026-Q1", [won("a", "r1", "3000000", "2026-01-10")])
    assert result["capped"] == Decimal("200000.00")


def test_per_deal_cap_limits_each_deal_separately():
    # 600,000 x 5% = 30,000 -> 20,000; 100,000 x 5% = 5,000
    credits = [won("a", "r1", "600000", "2026-01-10"), won("b", "r1", "100000", "2026-01-11")]
    assert earned(book(RULES), "r1", "2026-Q1", credits)["per_deal_capped"] == Decimal("25000.00")


def test_threshold_bonuses_pay_once_each_threshold_is_reached():
    rules = book(RULES)
    assert earned(rules, "r1", "2026-Q1", [won("a", "r1", "999999", "2026-01-10")])["bonus"] == Decimal("0.00")
    assert earned(rules, "r1", "2026-Q1", [won("a", "r1", "1000000", "2026-01-10")])["bonus"] == Decimal("5000.00")
    # 5,000 + 10% of 100,000
    assert earned(rules, "r1", "2026-Q1", [won("a", "r1", "1500000", "2026-01-10")])["bonus"] == Decimal("15000.00")


def test_kicker_multiplies_the_credited_value_of_matching_deals():
    # (100,000 x 1.2 + 100,000) x 5% = 11,000
    credits = [won("a", "r1", "100000", "2026-01-10", contract_years=3), won("b", "r1", "100000", "2026-01-10")]
    assert earned(book(RULES), "r1", "2026-Q1", credits)["kicked"] == Decimal("11000.00")


def test_deal_size_tiers_rate_each_deal_by_its_own_size():
    # 400,000 x 3% + 600,000 x 5% = 12,000 + 30,000
    credits = [won("a", "r1", "400000", "2026-01-10"), won("b", "r1", "600000", "2026-01-10")]
    assert earned(book(RULES), "r1", "2026-Q1", credits)["by_deal_size"] == Decimal("42000.00")


def test_plan_cap_adds_a_negative_adjustment_so_the_total_stays_the_sum_of_components():
    capped = book("""
plans:
  - id: ae
    currency: INR
    target_incentive: 10000
    cap: {of_target: 1.5}
    components:
      - {id: a, measure: closed_won_amount, rate: 0.01}
      - {id: b, measure: closed_won_amount, rate: 0.01}
participants:
  - {id: r1, plan: ae, quota: 1000000}
""")
    # each component earns 10,000; the plan pays at most 15,000
    result = earned(capped, "r1", "2026-Q1", [won("a", "r1", "1000000", "2026-01-10")])
    assert result == {"a": Decimal("10000.00"), "b": Decimal("10000.00"), "plan_cap": Decimal("-5000.00")}


def test_per_unit_rate_on_a_count_measure():
    demos = book("""
plans:
  - id: sdr
    currency: SGD
    period: month
    components:
      - {id: demos, measure: demos_held, per_unit: 150}
participants:
  - {id: s1, plan: sdr}
""")
    from tests.unit.plan_helpers import credits_of, record

    held = [credits_of(demos, record(f"00U{n}", "Event", owner_id="s1", type="Demo", status="Held",
                                     activity_date="2026-02-0" + str(n)))
            for n in (1, 2, 3)]
    not_held = credits_of(demos, record("00U9", "Event", owner_id="s1", type="Demo", status="No-show",
                                        activity_date="2026-02-04"))
    assert not_held == []
    assert earned(demos, "s1", "2026-02", [c for cs in held for c in cs]) == {"demos": Decimal("450.00")}


def test_spiff_pays_only_inside_its_window_and_filter():
    spiff = book("""
plans:
  - id: ae
    currency: INR
    components:
      - id: analytics_spiff
        measure: closed_won_count
        per_unit: 10000
        window: {from: 2026-02-01, to: 2026-02-28}
        where: {product_family: Analytics}
participants:
  - {id: r1, plan: ae, quota: 1000000}
""")
    credits = [
        won("in", "r1", "1", "2026-02-10", product_family="Analytics"),
        won("early", "r1", "1", "2026-01-31", product_family="Analytics"),
        won("other", "r1", "1", "2026-02-10", product_family="Core"),
    ]
    credits = [c.__class__(**{**c.__dict__, "measure": "closed_won_count", "currency": ""}) for c in credits]
    assert earned(spiff, "r1", "2026-Q1", credits) == {"analytics_spiff": Decimal("10000.00")}


def test_half_even_rounding_when_the_plan_asks_for_it():
    even = book("""
plans:
  - {id: ae, currency: INR, rounding: half_even, components: [{id: c, measure: closed_won_amount, rate: 0.5}]}
participants:
  - {id: r1, plan: ae}
""")
    # 0.01 x 0.5 = 0.005 -> 0.00 half-even (it would be 0.01 half-up)
    assert earned(even, "r1", "2026-Q1", [won("a", "r1", "0.01", "2026-01-10")]) == {"c": Decimal("0.00")}
