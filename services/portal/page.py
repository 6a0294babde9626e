"""What the rep home shows, worked out from the read model, the ledger's lines and the pure core."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from attain.contracts.earnings import EarningsSnapshot
from attain.core.earnings import component_of, compute_period_earnings
from attain.core.plans import Component, PlanBook
from attain.core.recompute import admit_changes, admitted_credits_by_rep
from attain.core.records import CrmChange
from attain.core.tiers import next_tier
from attain.format import count, grouped, money, percent
from attain.ledger.periods import period_sort_key
from attain.ledger.statements import build_statement
from services.portal.delta import delta_text
from services.portal.i18n import Translate
from services.portal.readmodel import Delta

GAUGE_TOP = Decimal("1.5")
CENT = Decimal("0.01")  # a gauge's full width: 150% attainment


@dataclass
class Measure:
    component_id: str
    credited: str
    quota: str | None
    attainment: str | None
    gauge: int  # 0..100, the bar's width in percent of GAUGE_TOP
    earned: str
    next_tier: str | None = None  # "₹1,80,000.00 more reaches tier 2"
    bonuses: list[str] = field(default_factory=list)
    spiff: str | None = None  # the SPIFF's dates


@dataclass
class Deal:
    record_id: str
    name: str
    credits: list[str]  # "commission 35,64,000.00" per component it credits (money and counts are not added up)
    trace: list[str]


def _component(book: PlanBook | None, snapshot: EarningsSnapshot, component_id: str) -> Component | None:
    if book is None:
        return None
    return component_of(book, snapshot.rep_id, snapshot.plan_id, snapshot.plan_version, component_id)


def credit_text(value: Decimal, locale: str) -> str:
    """Credit as a reader reads it: grouped, at most two decimals (rounded up, so "more credit" is enough),
    none when whole (a count, or whole money)."""
    return count(value.quantize(CENT, rounding=ROUND_CEILING) if value != value.quantize(CENT) else value, locale)


def measures(book: PlanBook | None, snapshot: EarningsSnapshot, locale: str, _: Translate) -> list[Measure]:
    found = []
    for c in snapshot.components:
        if c.kind:  # draws are not measures
            continue
        ratio = Decimal(c.attainment_ratio) if c.attainment_ratio else None
        gauge = int(min(ratio, GAUGE_TOP) / GAUGE_TOP * 100) if ratio is not None and ratio > 0 else 0
        measure = Measure(c.component_id, grouped(c.credited_value, locale), c.quota and grouped(c.quota, locale),
                          percent(ratio, locale) if ratio is not None else None, gauge,
                          money(Decimal(c.earned_amount), snapshot.currency, locale))
        component = _component(book, snapshot, c.component_id)
        quota, credited = (Decimal(c.quota) if c.quota else None), Decimal(c.credited_value)
        if component is not None and quota and component.rate.tiers and component.rate.basis == "attainment":
            step = next_tier(component.rate.tiers, credited, quota)
            if step.following is not None and step.credit_needed is not None:
                measure.next_tier = _("%(amount)s more credit reaches tier %(tier)s",
                                      amount=credit_text(step.credit_needed, locale), tier=step.number + 1)
            else:
                measure.next_tier = _("top tier reached")
        for bonus in component.bonuses if component is not None and quota else ():
            assert quota is not None
            missing = bonus.attainment * quota - credited
            measure.bonuses.append(_("bonus at %(level)s: reached", level=percent(bonus.attainment, locale))
                                   if missing <= 0 else
                                   _("bonus at %(level)s: %(amount)s more credit",
                                     level=percent(bonus.attainment, locale), amount=credit_text(missing, locale)))
        if component is not None and component.window is not None:
            measure.spiff = _("SPIFF from %(start)s to %(end)s", start=component.window[0].isoformat(),
                              end=component.window[1].isoformat())
        found.append(measure)
    return found


def deals(book: PlanBook | None, changes: Sequence[CrmChange], rep_id: str, period: str, names: dict[str, str],
          locale: str) -> list[Deal]:
    """Each deal's credit this period and the core's trace of it (the same core as the calculator)."""
    if book is None:
        return []
    credits = admitted_credits_by_rep(admit_changes(book, changes).values())
    earnings = compute_period_earnings(book, rep_id, period, credits.get(rep_id, []))
    if earnings is None:
        return []
    by_record: dict[str, list[Any]] = defaultdict(list)
    for component in earnings.components:
        for line in component.lines:
            by_record[line.record_id].append((component, line))
    found = []
    for record_id, lines in sorted(by_record.items()):
        credits: dict[str, Decimal] = defaultdict(Decimal)
        for component, line in lines:
            credits[component.component_id] += line.value
        trace = [f"{component.component_id}: {grouped(line.describe(), locale)}" for component, line in lines]
        found.append(Deal(record_id, names.get(record_id, record_id),
                          [f"{name} {credit_text(value, locale)}" for name, value in credits.items()], trace))
    return found


def money_summary(rep_id: str, period: str, entries: Sequence[dict[str, Any]], locale: str) -> list[dict[str, str]]:
    """Per currency: earned in the period, paid, and still pending (the ledger's statement, pure)."""
    statement = build_statement(rep_id, period, entries)
    summary = []
    for section in statement["currencies"]:
        currency = section["currency"]
        paid = -sum((Decimal(line["amount"]) for line in section["payments"]), Decimal(0))
        summary.append({"currency": currency, "earned": money(Decimal(section["earned_total"]), currency, locale),
                        "paid": money(paid, currency, locale),
                        "pending": money(Decimal(section["closing_balance"]), currency, locale)})
    return summary


def total_of(snapshot: EarningsSnapshot, locale: str) -> str:
    return money(Decimal(snapshot.total_earned), snapshot.currency, locale)


def periods(snapshots: Sequence[EarningsSnapshot]) -> list[EarningsSnapshot]:
    return sorted(snapshots, key=lambda s: period_sort_key(s.period), reverse=True)


def delta_view(delta: Delta, locale: str, _: Translate) -> dict[str, Any]:
    return {"text": delta_text(delta.amount, delta.currency, delta.deal, delta.tier_from, delta.tier_to, locale, _),
            "total": money(delta.total, delta.currency, locale), "computed_at": delta.computed_at,
            "version": delta.snapshot_version, "period": delta.period, "ingested_at": delta.ingested_at}


def opportunity_view(opportunity: dict[str, Any], locale: str) -> dict[str, Any]:
    """An open opportunity with its amount in its currency, as the reader reads amounts."""
    amount, currency = opportunity.get("amount"), opportunity.get("currency")
    try:
        shown = money(Decimal(str(amount)), str(currency), locale) if amount is not None and currency else ""
    except (ArithmeticError, ValueError):
        shown = f"{amount} {currency or ''}".strip()
    return {**opportunity, "amount": shown}


def when(ms: int) -> str:
    """Epoch milliseconds as UTC text (the page shows it in the reader's own clock when scripts run)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def lines_of(entries: Sequence[dict[str, Any]], period: str, locale: str) -> list[dict[str, Any]]:
    """The ledger's entries of the period, each disputable."""
    return [{"entry_id": e["entry_id"], "kind": e["kind"], "component_id": e["component_id"],
             "amount": money(Decimal(str(e["amount"])), e["currency"], locale)}
            for e in entries if e["period"] == period]
