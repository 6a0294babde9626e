"""The what-if estimator (attain/whatif.py): worked examples computed by hand, and the property that an
estimate equals the batch recompute of the same records with the same change event added; the portal's
what-if form (services/portal/whatif.py): the people whose records count, and its errors in both languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attain.contracts.crm_changes import change_from_avro, normalise
from attain.core.plans import END_OF_TIME, Participant, PlanBook
from attain.core.recompute import recompute
from attain.core.records import CrmChange
from attain.whatif import Hypothesis, WhatIfError, estimate
from services.portal.i18n import translator
from services.portal.whatif import network, parse, rows_of
from tests.unit.plan_helpers import book

BOOK = book("""
fx_rates:
  - {base: USD, quote: INR, date: 2026-01-01, rate: "83.20"}
  - {base: USD, quote: INR, date: 2026-02-01, rate: "83.65"}
plans:
  - id: ae
    currency: INR
    period: quarter
    components:
      - id: commission
        measure: closed_won_amount
        tiers:
          method: marginal
          table:
            - {from: 0, to: 1, rate: "0.05"}
            - {from: 1, rate: "0.08"}
  - id: sdr
    currency: INR
    period: month
    components:
      - {id: meetings, measure: meetings_held, rate: "500"}
      - {id: sqls, measure: sqls, rate: "1000"}
participants:
  - {id: r1, name: Rep One, plan: ae, quota: "1000000"}
  - {id: r2, name: Rep Two, plan: ae, quota: "1000000"}
  - {id: s1, name: SDR One, plan: sdr}
""")
NOW = 1_790_000_000_000  # 2026-09-21, after every change below


def event(record_id: str, at: str, change_type: str = "UPDATE", object_type: str = "Opportunity",
          number: int = 0, **fields: Any) -> CrmChange:
    """A change event as a CRM sends it and ingest accepts it."""
    item = {"event_id": f"{record_id}-{number}", "record_id": record_id, "object_type": object_type,
            "change_type": change_type, "commit_timestamp": at, "fields": fields}
    return change_from_avro(normalise(item, "test", 0))


def opportunity(record_id: str, owner: str, amount: str, close: str, won: bool = False) -> CrmChange:
    return event(record_id, "2026-01-05T10:00:00Z", "CREATE", owner_id=owner, name=f"Deal {record_id}",
                 amount=Decimal(amount), currency="INR", close_date=close, is_won=won,
                 stage="Closed Won" if won else "Negotiation")


def test_closing_an_open_opportunity_across_a_tier_boundary() -> None:
    records = [opportunity("006A", "r1", "800000", "2026-01-15", won=True),
               opportunity("006B", "r1", "300000", "2026-03-20")]
    result = estimate(BOOK, records, "r1", [Hypothesis("closed_won_amount", date(2026, 2, 10), Decimal("300000"),
                                                        "INR", record_id="006B")], NOW)
    [q1] = result.periods
    # before: 800,000 x 5% = 40,000; after: 1,100,000 = 1,000,000 x 5% + 100,000 x 8% = 50,000 + 8,000
    assert (q1.period, q1.before, q1.after, q1.difference) == ("2026-Q1", Decimal("40000.00"),
                                                               Decimal("58000.00"), Decimal("18000.00"))
    [commission] = q1.components
    assert (commission.tier_before, commission.tier_after) == ("0-1", "1+")
    assert q1.lines == ("commission: 006B owner 2026-02-10: 300000 INR = 300000",)
    assert "commission: tier 1+ (marginal): 100000 x 0.08 = 8000.00" in q1.steps
    [closing] = result.events  # the change a CRM sends: the open record, now won, with its amount and date
    assert (closing.record_id, closing.change_type, dict(closing.fields)) == ("006B", "UPDATE", {
        "is_won": "true", "close_date": '"2026-02-10"', "amount": "300000", "currency": '"INR"'})


def test_activity_and_count_measures_an_sdr_is_paid_on() -> None:
    held = event("00UA", "2026-03-02T09:00:00Z", "CREATE", "Event", owner_id="s1", status="Held",
                 activity_date="2026-03-02")
    result = estimate(BOOK, [held], "s1", [
        Hypothesis("meetings_held", date(2026, 3, 5), name="Discovery call, Globex"),
        Hypothesis("sqls", date(2026, 3, 9), name="Initech lead")], NOW)
    [march] = result.periods
    # one meeting held before (500); one more meeting (500) and one SQL (1,000) after
    assert (march.period, march.before, march.after) == ("2026-03", Decimal("500.00"), Decimal("2000.00"))
    assert {c.component_id: c.difference for c in march.components} == {"meetings": Decimal("500.00"),
                                                                        "sqls": Decimal("1000.00")}
    assert [e.object_type for e in result.events] == ["Event", "Lead"]
    assert result.events[1].fields["sql_date"] == '"2026-03-09"' and result.events[1].fields["owner_id"] == '"s1"'


def test_a_close_date_moved_into_the_next_quarter_moves_the_pay_with_it() -> None:
    records = [opportunity("006C", "r2", "200000", "2026-03-30", won=True)]
    result = estimate(BOOK, records, "r2", [Hypothesis("closed_won_amount", date(2026, 4, 2), Decimal("200000"),
                                                        "INR", record_id="006C")], NOW)
    # 200,000 x 5% = 10,000 leaves Q1 and lands in Q2
    assert [(p.period, p.before, p.after) for p in result.periods] == [
        ("2026-Q1", Decimal("10000.00"), Decimal("0.00")), ("2026-Q2", Decimal("0.00"), Decimal("10000.00"))]


def test_a_typed_deal_in_another_currency_uses_the_plan_books_rate_of_its_date() -> None:
    result = estimate(BOOK, [], "r1", [Hypothesis("closed_won_amount", date(2026, 2, 14), Decimal("10000"), "USD",
                                                  name="Wayne Enterprises")], NOW)
    [q1] = result.periods
    # 10,000 USD x 83.65 (the rate of 1 Feb) = 836,500 INR, x 5% = 41,825.00
    assert q1.after == Decimal("41825.00") and q1.difference == Decimal("41825.00")
    assert q1.lines == ("commission: whatif-1 owner 2026-02-14: 10000 USD x 83.65 (rate of 2026-02-01) = 836500.00",)


@pytest.mark.parametrize(("amount", "currency", "why"), [
    (Decimal("-5"), "INR", "negative"), (Decimal("1e30"), "INR", "beyond"), (Decimal("100"), "XYZ", "no FX rate")])
def test_a_deal_the_calculator_would_refuse_is_an_error_that_says_why(amount: Decimal, currency: str,
                                                                      why: str) -> None:
    with pytest.raises(WhatIfError, match=why):
        estimate(BOOK, [], "r1", [Hypothesis("closed_won_amount", date(2026, 2, 1), amount, currency, name="X")], NOW)


def test_a_measure_the_plan_does_not_pay_on_and_an_unknown_record_are_errors() -> None:
    with pytest.raises(WhatIfError, match="not a measure r1's plan pays on"):
        estimate(BOOK, [], "r1", [Hypothesis("sqls", date(2026, 2, 1))], NOW)
    with pytest.raises(WhatIfError, match="no CRM record 006Z"):
        estimate(BOOK, [], "r1", [Hypothesis("closed_won_amount", date(2026, 2, 1), Decimal(1), "INR", "006Z")], NOW)
    with pytest.raises(WhatIfError, match="pick an open opportunity"):
        estimate(BOOK, [], "r1", [], NOW)


EXISTING = [opportunity("006P", "r1", "450000.50", "2026-02-03", won=True),
            opportunity("006Q", "r1", "1", "2026-05-01"),
            event("006R", "2026-01-06T10:00:00Z", "CREATE", owner_id="r1", amount=Decimal("90000"), currency="USD",
                  close_date="2026-08-19", is_won=True)]


@settings(max_examples=60, deadline=None)
@given(amount=st.decimals(min_value=0, max_value=Decimal("3000000"), places=2),
       day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
       currency=st.sampled_from(["INR", "USD"]), existing=st.booleans())
def test_an_estimate_is_the_recompute_of_the_records_with_the_same_event(amount: Decimal, day: date,
                                                                         currency: str, existing: bool) -> None:
    record_id = "006Q" if existing else "whatif-1"
    result = estimate(BOOK, EXISTING, "r1", [Hypothesis("closed_won_amount", day, amount, currency,
                                                        record_id if existing else "")], NOW)
    # the same deal closing for real: the CRM sends the change (with more fields than the estimate writes)
    closing = event(record_id, "2026-09-21T12:00:00Z", "UPDATE" if existing else "CREATE", number=1,
                    owner_id="r1", amount=amount, currency=currency, close_date=day.isoformat(), is_won=True,
                    stage="Closed Won", name="the same deal")
    before, after = recompute(BOOK, EXISTING), recompute(BOOK, [*EXISTING, closing])
    assert result.periods, "closing a won deal always moves some period"
    for period in result.periods:
        earned = (before.get(("r1", period.period)), after.get(("r1", period.period)))
        assert period.before == (earned[0].total_earned if earned[0] else 0)
        assert period.after == (earned[1].total_earned if earned[1] else 0)
    moved = {key[1] for key in set(before) | set(after)
             if key[0] == "r1" and (before.get(key) and before[key].total_earned) !=
             (after.get(key) and after[key].total_earned)}
    assert moved <= {p.period for p in result.periods}  # no period the change moves is missing


MANAGED = book("""
plans:
  - id: ae
    currency: INR
    period: quarter
    components: [{id: commission, measure: closed_won_amount, rate: "0.05"}]
participants:
  - {id: boss, name: Boss, plan: ae, quota: "1"}
  - {id: lead, name: Lead, plan: ae, quota: "1", manager: boss}
  - {id: rep, name: Rep, plan: ae, quota: "1", manager: lead}
  - {id: elsewhere, name: Elsewhere, plan: ae, quota: "1"}
""")


def test_the_portal_reads_a_managers_whole_network_and_a_reps_own_records() -> None:
    assert network(MANAGED, "boss") == ["boss", "lead", "rep"] and network(MANAGED, "rep") == ["rep"]


class CountedPeople(dict[str, Participant]):
    """Participants that count the passes over them (the walk's cost, without timing anything)."""

    passes = 0

    def values(self) -> Any:
        self.passes += 1
        return super().values()


def test_a_large_networks_walk_reads_the_participants_once_per_book() -> None:
    # a VP over 100 managers of 50 reps each (and a past manager of rep 0 who moved under manager 1)
    people = CountedPeople({"vp": Participant("vp", "VP", {})})
    for m in range(100):
        people[f"m{m:03}"] = Participant(f"m{m:03}", "M", {}, managers=(("vp", date.min, END_OF_TIME),))
        for r in range(50):
            people[f"r{m:03}-{r:02}"] = Participant(f"r{m:03}-{r:02}", "R", {},
                                                    managers=((f"m{m:03}", date.min, END_OF_TIME),))
    people["r000-00"] = replace(people["r000-00"], managers=(("m000", date.min, date(2026, 1, 31)),
                                                             ("m001", date(2026, 2, 1), END_OF_TIME)))
    org = PlanBook({}, people, {}, {})
    found = network(org, "vp")
    assert len(found) == len(set(found)) == 5101 and found[:3] == ["vp", "m000", "m001"]
    assert found[-50:] == ["r001-49", *(f"r000-{r:02}" for r in range(1, 50))]  # depth first, as it always was
    assert network(org, "m001") == ["m001", "r000-00", *(f"r001-{r:02}" for r in range(50))]
    assert network(org, "r000-00") == ["r000-00"]
    assert people.passes == 1  # one index for the book, not one pass over everyone per person walked


@pytest.mark.parametrize(("amount", "currency", "close", "english", "french"), [
    ("-5", "INR", "2026-02-01", "X: the amount cannot be negative", "X : le montant ne peut pas être négatif"),
    ("1e30", "INR", "2026-02-01", "X: the amount is too large (at most 1,000,000,000,000,000)",
     "X : le montant est trop grand (au plus 1,000,000,000,000,000)"),
    ("NaN", "INR", "2026-02-01", "X: the amount NaN is not a number", "X : le montant NaN n’est pas un nombre"),
    ("10", "XYZ", "2026-02-01", "X: unknown currency XYZ (the plan book has no rate for it)",
     "X : devise inconnue XYZ (le référentiel des plans n’a pas de taux pour elle)"),
    ("10", "INR", "1 Feb", "X: the close date 1 Feb is not a date (YYYY-MM-DD)",
     "X : la date de clôture 1 Feb n’est pas une date (AAAA-MM-JJ)"),
])
def test_the_what_if_form_says_what_is_wrong_in_the_readers_language(amount: str, currency: str, close: str,
                                                                     english: str, french: str) -> None:
    form = {"name_new": "X", "amount_new": amount, "currency_new": currency, "close_new": close}
    rows = rows_of(BOOK, "r1", [], [], date(2026, 2, 1), form, ["new"])
    assert [parse(BOOK, "r1", rows, translator(language)).errors for language in ("en", "fr")] == [[english],
                                                                                                  [french]]


def test_the_what_if_form_offers_an_opportunity_the_measures_of_its_record_type() -> None:
    records = [opportunity("006B", "r1", "300000", "2026-03-20")]
    opportunities = [{"record_id": "006B", "name": "Deal 006B", "amount": "300000", "currency": "INR",
                      "close_date": "2026-03-20", "stage": "Negotiation"}]
    rows = rows_of(BOOK, "r1", opportunities, records, date(2026, 2, 1), None, ["006B"])
    assert [(r.key, r.amount, r.close_date, [m.name for m in r.measures]) for r in rows] == [
        ("006B", "300000", "2026-03-20", ["closed_won_amount"]), ("new", "", "2026-02-01", ["closed_won_amount"])]
    assert parse(BOOK, "r1", rows, translator("en")).hypotheses == [
        Hypothesis("closed_won_amount", date(2026, 3, 20), Decimal("300000"), "INR", "006B", "Deal 006B")]
