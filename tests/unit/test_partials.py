"""Per-month partial results (attain.core.partials): a period computed from its months' summed lines
equals the period computed from every credit, for random plans and credits of the kinds the plan
language has (clawbacks reversing what was paid, year to date and annual or half-year quotas on a
fiscal calendar included); and the sums stay exact and written alike however lines come and go."""

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from attain.core.components import rate_credit
from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings, compute_period_earnings
from attain.core.fx import FxError
from attain.core.partials import LineTotals, aggregable, combined, exact_sum, total_of
from attain.core.periods import months_of, period_bounds
from attain.core.records import ChangeVersion
from attain.core.trace import CreditLine
from tests.unit.plan_helpers import book
from tests.unit.test_engine_properties import _outcome  # the result, or the FX error it raised

COMPONENTS = {
    "flat": "{id: flat, measure: closed_won_amount, rate: %(rate)s}",
    "count": "{id: count, measure: closed_won_count, per_unit: %(unit)s}",
    "marginal": "{id: marginal, measure: closed_won_amount, tiers: {method: marginal, table: "
                "[{from: 0, to: %(bound)s, rate: %(rate)s}, {from: %(bound)s, rate: 0.09}]}}",
    "retro_gate_bonus_cap": "{id: retro, measure: closed_won_amount, gate: {min_attainment: %(gate)s}, "
                            "cap: {amount: %(cap)s}, bonuses: [{attainment: 1, amount: 700}, "
                            "{attainment: 0.5, of_target: 0.1}], tiers: {method: retroactive, table: "
                            "[{from: 0, to: %(bound)s, rate: 0.02}, {from: %(bound)s, rate: %(rate)s}]}}",
    "gated_flat": "{id: gated, measure: closed_won_amount, rate: %(rate)s, gate: {min_attainment: %(gate)s},"
                  " cap: {of_target: 1.5}}",
    "kicked_filtered": "{id: kicked, measure: closed_won_amount, rate: %(rate)s, where: {product: [A, B]}, "
                       "kickers: [{label: multi-year, when: {contract_years: {gte: 2}}, multiplier: 1.25}]}",
    "spiff_window": "{id: spiff, measure: closed_won_count, per_unit: 100, where: {product: A}, "
                    "window: {from: 2026-02-10, to: 2026-03-05}}",
    "per_deal_cap": "{id: per_deal, measure: closed_won_amount, rate: %(rate)s, cap: {per_deal: 900}}",
    "deal_size": "{id: by_size, measure: closed_won_amount, tiers: {basis: deal_size, method: retroactive, "
                 "table: [{from: 0, to: 50000, rate: 0.01}, {from: 50000, rate: 0.02}]}}",
    "ytd": "{id: ytd, measure: closed_won_amount, rate: %(rate)s, ytd: true}",
    "ytd_tiers": "{id: ytd_tiers, measure: closed_won_amount, ytd: true, quota: stretch, tiers: {table: "
                 "[{from: 0, to: 1, rate: 0.01}, {from: 1, rate: %(rate)s}]}}",
    "annual": "{id: annual, measure: closed_won_amount, quota_period: year, tiers: {method: marginal, table: "
              "[{from: 0, to: %(bound)s, rate: 0.02}, {from: %(bound)s, rate: %(rate)s}]}}",
    "half_gated": "{id: half, measure: closed_won_amount, quota_period: half, gate: {min_attainment: %(gate)s}, "
                  "tiers: {method: retroactive, table: [{from: 0, rate: %(rate)s}]}}",
}
FISCAL_PERIODS = ("FY2026-Q4", "FY2027-Q1", "FY2027-Q2")  # a fiscal year from February: 2025-11..2026-01, ...


@st.composite
def plan_books(draw):
    """A book of two versions of a quarterly INR plan (the second from mid-February, so a month is
    cut between them, with another target and its own components), a monthly SGD plan and a quarterly
    plan on a fiscal year from February (year to date and annual quotas start then), each with a random
    choice of components."""
    values = {
        "rate": draw(st.sampled_from(["0.03", "0.045", "0.0725", "0.1"])),
        "unit": draw(st.sampled_from(["50", "125.5", "0"])),
        "bound": draw(st.sampled_from(["0.5", "1", "1.25"])),
        "gate": draw(st.sampled_from(["0.1", "0.6", "1.1"])),
        "cap": draw(st.sampled_from(["1000", "25000", "900000"])),
    }
    def components():
        names = draw(st.lists(st.sampled_from(sorted(COMPONENTS)), min_size=1, max_size=5, unique=True))
        return "\n".join(f"      - {COMPONENTS[name] % values}" for name in names)
    extras = draw(st.sampled_from(["", "    cap: {amount: 30000}\n", "    draw: {amount: 2000, recoverable: true}\n",
                                   "    draw: {amount: 1500, recoverable: false}\n"]))
    return book(f"""fx_rates:
  - {{base: USD, quote: INR, date: 2026-01-01, rate: 83.25}}
  - {{base: USD, quote: INR, date: 2026-02-20, rate: 84.1}}
  - {{base: USD, quote: SGD, date: 2026-01-01, rate: 1.35}}
  - {{base: INR, quote: SGD, date: 2026-01-01, rate: 0.0161}}
plans:
  - id: ae
    currency: INR
    period: quarter
    target_incentive: 30000
    effective_to: 2026-02-14
{extras}    components:
{components()}
  - id: ae
    version: 2
    currency: INR
    period: quarter
    target_incentive: 36000
    effective_from: 2026-02-15
{extras}    components:
{components()}
  - id: sg
    currency: SGD
    period: month
    target_incentive: 900
    components:
{components()}
  - id: fy
    currency: INR
    period: quarter
    fiscal_year_start: 2
    target_incentive: 20000
{extras}    components:
{components()}
participants:
  - {{id: r1, plan: ae, quota: 400000, quotas: {{stretch: 900000}}, start: 2026-01-20}}
  - {{id: r2, plan: sg, quota: 3000, quotas: {{stretch: 9000}}}}
  - {{id: r3, plan: fy, quota: 1200000, quotas: {{stretch: 800000}}}}
""")


def _credit(number, rep, count, day, amount, currency, years, product, kind, back):
    """A credit, a clawback rated where it lands, or a clawback reversing what was paid ``back`` days
    earlier (a deal whose stage moved off won: ``reverse_paid``, priced at that period's effective rate)."""
    on = date(2025, 12, 20) + timedelta(days=day)
    return Credit(f"006{number}", rep, "closed_won_count" if count else "closed_won_amount", on,
                  Decimal(1) if count else amount, "" if count else currency, ChangeVersion(1),
                  kind="credit" if kind == "credit" else "clawback",
                  attributes=(("contract_years", str(years)), ("product", product)),
                  reverses=on - timedelta(days=back) if kind == "reverse_paid" else None)


credit_lists = st.lists(st.builds(
    _credit, st.integers(0, 25), st.sampled_from(["r1", "r2", "r3"]), st.booleans(), st.integers(0, 200),
    st.decimals(-5_000, 150_000, places=2), st.sampled_from(["INR", "USD", "SGD"]), st.integers(1, 4),
    st.sampled_from(["A", "B", "C"]), st.sampled_from(["credit", "credit", "clawback", "reverse_paid"]),
    st.integers(1, 150),
), max_size=30)


def month_partials(plan_book, credits, ghosts):
    """A ``summed`` for compute_period_earnings built as the calculator keeps it: per month and component,
    each record's lines summed, the ``ghosts`` added and then taken away again (subtract old, add new)."""
    def totals(plan, index, items):
        lines = [rate_credit(plan, plan_book.fx, credit).lines[index] for credit in items]
        lines = [line for line in lines if line is not None]
        if any(isinstance(line, FxError) for line in lines):
            return None
        by_record = {}
        for line in lines:
            by_record.setdefault(line.record_id, []).append(line)
        return total_of(LineTotals.of(group) for group in by_record.values())

    def summed(plan, index, first, last):
        parts = []
        for month in sorted({c.credit_date.isoformat()[:7] for c in credits}):
            month_first, month_last = period_bounds(month)
            low, high = max(first, month_first), min(last, month_last)
            if low > high:
                continue
            inside = [c for c in credits if low <= c.credit_date <= high]
            ghosts_inside = [dataclasses.replace(g, credit_date=low) for g in ghosts]
            kept, ghost = totals(plan, index, inside), totals(plan, index, ghosts_inside)
            if kept is None:
                return None
            parts.append(kept if ghost is None else kept + ghost - ghost)
        return combined(parts)

    return summed


@settings(max_examples=100, deadline=None)
@given(plan_books(), credit_lists, credit_lists)
def test_a_period_from_its_months_partials_equals_the_period_from_its_credits(plan_book, credits, ghosts):
    summed = month_partials(plan_book, credits, ghosts)
    calendar = ("2026-Q1", "2026-Q2", "2026-01", "2026-02", "2026-03")
    for rep_id, periods in (("r1", calendar), ("r2", calendar), ("r3", FISCAL_PERIODS)):
        for period in periods:
            direct = _outcome(lambda r=rep_id, p=period: compute_period_earnings(plan_book, r, p, credits))
            partial = _outcome(lambda r=rep_id, p=period: compute_period_earnings(plan_book, r, p, credits,
                                                                                   summed=summed))
            if not isinstance(direct, PeriodEarnings):
                assert partial == direct
                event("an FX error" if direct else "no plan")
                continue
            assert dataclasses.replace(partial, components=()) == dataclasses.replace(direct, components=())
            assert len(partial.components) == len(direct.components)
            for mine, theirs in zip(partial.components, direct.components, strict=True):
                if mine.lines != theirs.lines:  # a component from totals lists no lines; all else is equal
                    assert mine.lines == ()
                    assert not any(line.reverses for line in theirs.lines)  # reversals: from the credits
                    event("from partials")
                elif any(line.reverses for line in theirs.lines):
                    event("reversals of what was paid: from the credits")
                assert mine == dataclasses.replace(theirs, lines=mine.lines), (mine, theirs)
            assert partial.total_earned == direct.total_earned


def _line(record_id, value, kind="credit", earned=None):
    return CreditLine(record_id, "owner", kind, date(2026, 1, 9), value, "INR", Decimal(1), None, Decimal(1), (),
                      value, earned)


def test_sums_are_exact_and_independent_of_grouping():
    """28 significant digits would round this sum; the partial's sums do not, in any grouping."""
    small, big = Decimal("0.01197604790419161676646706587"), Decimal("1000000.5")
    assert exact_sum([small, big, -big]) == small
    parts = [LineTotals.of([_line("a", small)]), LineTotals.of([_line("b", big)]), LineTotals.of([_line("c", -big)])]
    assert total_of(parts).credited == small
    assert (parts[0] + parts[1] + parts[2]).credited == small
    assert (total_of(parts) - parts[0]).credited == 0


def test_a_sum_that_lost_terms_is_written_as_a_fresh_sum_of_the_rest():
    inr, usd = _line("a", Decimal("100.00")), _line("b", Decimal("8325.0000"))
    left = LineTotals.of([inr, usd]) - LineTotals.of([usd])
    assert str(left.credited) == str(LineTotals.of([inr]).credited) == "100.00"
    assert str((left - LineTotals.of([inr])).credited) == str(LineTotals.of([]).credited) == "0"
    assert left.records == {"a": 1} and left.count == 1


def test_records_count_once_and_leave_when_their_last_line_does():
    first, second = _line("a", Decimal(5)), _line("a", Decimal(7), kind="clawback")
    both = LineTotals.of([first]) + LineTotals.of([second])
    assert (both.record_count, both.count, both.clawback) == (1, 2, Decimal(7))
    assert (both - LineTotals.of([first, second])).record_count == 0
    assert combined([LineTotals.of([first]), LineTotals.of([second])]).record_count == 1


def test_which_components_take_totals():
    plan_book = book(f"""plans:
  - id: ae
    currency: INR
    components:
      - {COMPONENTS["flat"] % {"rate": "0.05"}}
      - {COMPONENTS["marginal"] % {"rate": "0.05", "bound": "1"}}
      - {COMPONENTS["per_deal_cap"] % {"rate": "0.05"}}
      - {COMPONENTS["deal_size"]}
participants:
  - {{id: r1, plan: ae, quota: 1000}}
""")
    components = plan_book.plans_of("r1")[0].components
    assert [aggregable(c) for c in components] == [True, True, False, False]
    assert months_of("2026-Q1") == ["2026-01", "2026-02", "2026-03"]
