"""Deterministic sample CRM activity for the demo, tests and benchmarks.

A quarter of opportunity changes for the reps of a plan book: each deal is
created, updated, and about half are won. Same seed, same events.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

QUARTER_START = date(2026, 1, 1)


def opportunity_events(
    rep_ids: Sequence[str], deals: int, seed: int = 7, prefix: str = "006D"
) -> list[dict[str, Any]]:
    """Canonical change events (ingest's JSON format) for ``deals`` opportunities."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for number in range(deals):
        record_id = f"{prefix}{number:08d}"
        owner = rng.choice(rep_ids)
        created = datetime.combine(QUARTER_START, datetime.min.time(), UTC) + timedelta(
            minutes=rng.randrange(0, 80 * 24 * 60)
        )
        amount = rng.randrange(50_000, 2_500_000)
        steps: list[tuple[str, dict[str, Any]]] = [
            ("CREATE", {"owner_id": owner, "amount": str(amount), "stage": "prospecting",
                        "is_won": False, "currency": "INR", "name": f"Deal {number}"}),
            ("UPDATE", {"amount": f"{amount * rng.choice((90, 100, 110)) // 100}.50",
                        "stage": "negotiation"}),
        ]
        if rng.random() < 0.55:
            close_day = (created + timedelta(days=rng.randrange(1, 10))).date()
            steps.append(("UPDATE", {"stage": "closed_won", "is_won": True,
                                     "close_date": close_day.isoformat()}))
        for sequence, (change_type, fields) in enumerate(steps):
            events.append({
                "event_id": f"{record_id}-{sequence}",
                "record_id": record_id,
                "object_type": "Opportunity",
                "change_type": change_type,
                "commit_timestamp": (created + timedelta(hours=sequence)).isoformat(),
                "commit_number": sequence,
                "fields": fields,
            })
    events.sort(key=lambda event: event["commit_timestamp"])
    return events


def org_events(
    owners: Mapping[str, str], sdrs: Sequence[str], overlays: Sequence[str], deals: int, seed: int = 7
) -> list[dict[str, Any]]:
    """A quarter of activity for a richer org: ``owners`` maps each AE to the currency it sells in.

    Opportunities carry product family, deal type, contract length, the sourcing
    SDR (``SDR__c``), a qualified date, and sometimes an overlay split to a
    solution engineer; a few won deals are cancelled later. SDRs hold demos and
    meetings (``Event`` records).
    """
    rng = random.Random(seed)
    reps = sorted(owners)
    events: list[dict[str, Any]] = []
    start = datetime.combine(QUARTER_START, datetime.min.time(), UTC)
    for number in range(deals):
        record_id = f"006R{number:08d}"
        owner = rng.choice(reps)
        currency = owners[owner]
        created = start + timedelta(minutes=rng.randrange(0, 80 * 24 * 60))
        amount = Decimal(rng.randrange(5_000, 250_000)) * _SCALE[currency]
        fields: dict[str, Any] = {
            "owner_id": owner, "amount": str(amount), "currency": currency, "stage": "Prospecting",
            "is_won": False, "name": f"Deal {number}", "product_family": rng.choice(("Core", "Analytics", "Core")),
            "deal_type": rng.choice(("New", "New", "Upsell", "Renewal")), "contract_years": rng.choice((1, 1, 2, 3)),
        }
        if sdrs and rng.random() < 0.6:
            fields["SDR__c"] = rng.choice(list(sdrs))
        steps: list[tuple[str, dict[str, Any]]] = [("CREATE", fields)]
        qualified = (created + timedelta(days=rng.randrange(0, 5))).date()
        steps.append(("UPDATE", {"stage": "Qualified", "qualified_date": qualified.isoformat()}))
        if overlays and rng.random() < 0.2:
            splits = [{"rep_id": owner, "percent": 100}, {"rep_id": rng.choice(list(overlays)), "percent": 50}]
            steps.append(("UPDATE", {"splits": json.dumps(splits)}))
        if rng.random() < 0.55:
            close_day = qualified + timedelta(days=rng.randrange(1, 10))
            steps.append(("UPDATE", {"stage": "Closed Won", "is_won": True, "close_date": close_day.isoformat()}))
            if rng.random() < 0.05:
                cancelled = close_day + timedelta(days=rng.randrange(5, 120))
                steps.append(("UPDATE", {"cancelled_on": cancelled.isoformat()}))
        events.extend(_event(record_id, "Opportunity", created, sequence, change_type, step_fields)
                      for sequence, (change_type, step_fields) in enumerate(steps))
    for number in range(deals):
        if not sdrs:
            break
        when = start + timedelta(minutes=rng.randrange(0, 88 * 24 * 60))
        fields = {"owner_id": rng.choice(list(sdrs)), "type": rng.choice(("Demo", "Meeting")),
                  "status": rng.choice(("Held", "Held", "No-show")), "created_date": when.date().isoformat(),
                  "activity_date": (when + timedelta(days=2)).date().isoformat()}
        events.append(_event(f"00UR{number:08d}", "Event", when, 0, "CREATE", fields))
    events.sort(key=lambda event: event["commit_timestamp"])
    return events


_SCALE = {"INR": Decimal(80), "SGD": Decimal(1), "AUD": Decimal(1), "JPY": Decimal(150), "IDR": Decimal(15000),
          "USD": Decimal(1)}


def _event(
    record_id: str, object_type: str, created: datetime, sequence: int, change_type: str, fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": f"{record_id}-{sequence}",
        "record_id": record_id,
        "object_type": object_type,
        "change_type": change_type,
        "commit_timestamp": (created + timedelta(hours=sequence)).isoformat(),
        "commit_number": sequence,
        "fields": fields,
    }


def events_for_book(book: Any, deals: int, seed: int = 7) -> list[dict[str, Any]]:
    """:func:`org_events` for a plan book: AEs sell in their plan's currency (every participant when no
    one has a role), SDRs source and hold demos, SEs are overlay splits."""
    day = QUARTER_START

    def with_role(role: str) -> list[str]:
        return sorted(r for r, p in book.participants.items() if p.attributes.get("role") == role)

    sellers = with_role("AE") or sorted(book.participants)
    owners = {rep: plan.currency for rep in sellers if (plan := book.plan_on(rep, day) or book.plan_for(rep))}
    return org_events(owners, with_role("SDR"), with_role("SE"), deals, seed)


QUARTER_END = date(2026, 3, 31)


def sample_quarter(book: Any, seed: int = 14) -> list[dict[str, Any]]:
    """The sample org's quarter (``examples/apac/events.jsonl``): a believable team, same seed, same events.

    Each seller (AE, and CSM on renewals and upsells) is given an attainment drawn around 100%
    (sd 22%, kept within 45%..175%) and wins deals of 5%..14% of their quarter's quota, in their
    plan's currency and while they are employed, until they reach it; about as many deals are
    lost or still open. SDRs of the seller's region (India or APAC) source 60% of the deals and
    hold demos or meetings each month; a third of APAC deals carry a 50% overlay split to the SE;
    a few won deals are cancelled within the quarter (the 90-day clawback).
    """
    rng = random.Random(seed)
    start = datetime.combine(QUARTER_START, datetime.min.time(), UTC)
    events: list[dict[str, Any]] = []

    def with_role(*roles: str) -> list[str]:
        return sorted(r for r, p in book.participants.items() if p.attributes.get("role") in roles)

    def india(rep_id: str) -> bool:
        return str(book.participants[rep_id].attributes.get("region", "")).startswith("IN-")

    number = 0
    for seller in with_role("AE", "CSM"):
        person = book.participants[seller]
        plan = book.plan_on(seller, max(QUARTER_START, person.start)) or book.plan_for(seller)
        first = max(QUARTER_START, person.start)
        days = (QUARTER_END - first).days
        target = _quarter_quota(person, plan.period_type) * Decimal(days + 1) / 90
        target *= Decimal(str(round(min(1.75, max(0.45, rng.gauss(1.0, 0.22))), 3)))
        step = _step(target)
        sdrs = [s for s in with_role("SDR") if india(s) == india(seller)]
        won = Decimal(0)
        while won < target:
            amount = (target * Decimal(rng.uniform(0.05, 0.14)) / step).to_integral_value() * step
            for outcome in ("won", rng.choice(("lost", "open", "lost", "none"))):
                if outcome == "none":
                    continue
                close = first + timedelta(days=rng.randrange(0, days + 1))
                kind = (rng.choice(("Renewal", "Upsell")) if person.attributes.get("role") == "CSM"
                         else rng.choice(("New", "New", "New", "Upsell", "Renewal")))
                fields: dict[str, Any] = {
                    "owner_id": seller, "amount": str(amount), "currency": plan.currency, "stage": "Prospecting",
                    "is_won": False, "name": f"Deal {number}", "deal_type": kind,
                    "product_family": rng.choice(("Core", "Core", "Analytics")),
                    "contract_years": rng.choice((1, 1, 1, 2, 3)),
                }
                if sdrs and rng.random() < 0.6:
                    fields["SDR__c"] = rng.choice(sdrs)
                qualified = max(QUARTER_START, close - timedelta(days=rng.randrange(3, 30)))
                created = max(start, datetime.combine(qualified, datetime.min.time(), UTC)
                              - timedelta(days=rng.randrange(0, 6))) + timedelta(minutes=rng.randrange(9 * 60, 18 * 60))
                steps: list[tuple[datetime, dict[str, Any]]] = [
                    (created, fields),
                    (created + timedelta(hours=1), {"stage": "Qualified", "qualified_date": qualified.isoformat()})]
                overlays = with_role("SE")
                if overlays and not india(seller) and rng.random() < 0.35:
                    splits = [{"rep_id": seller, "percent": 100}, {"rep_id": overlays[0], "percent": 50}]
                    steps.append((created + timedelta(hours=2), {"splits": json.dumps(splits)}))
                closed_at = max(created + timedelta(hours=3), datetime.combine(close, datetime.min.time(), UTC)
                                + timedelta(hours=17))
                if outcome == "won":
                    steps.append((closed_at, {"stage": "Closed Won", "is_won": True,
                                              "close_date": close.isoformat()}))
                    cancelled = close + timedelta(days=rng.randrange(5, 40))
                    if rng.random() < 0.04 and cancelled <= QUARTER_END:
                        steps.append((closed_at + timedelta(days=(cancelled - close).days),
                                      {"cancelled_on": cancelled.isoformat()}))
                elif outcome == "lost":
                    steps.append((closed_at, {"stage": "Closed Lost", "close_date": close.isoformat()}))
                events.extend(_event(f"006R{number:08d}", "Opportunity", when - timedelta(hours=sequence), sequence,
                                     "UPDATE" if sequence else "CREATE", step_fields)
                              for sequence, (when, step_fields) in enumerate(steps))
                number += 1
            won += amount
    for sdr in with_role("SDR"):
        kind = "Demo" if india(sdr) else "Meeting"
        for month in (1, 2, 3):
            for _ in range(rng.randrange(8, 15)):
                held = date(2026, month, rng.randrange(1, 29))
                when = datetime.combine(held, datetime.min.time(), UTC) + timedelta(hours=rng.randrange(9, 18))
                fields = {"owner_id": sdr, "type": kind, "status": "Held" if rng.random() < 0.8 else "No-show",
                          "created_date": (held - timedelta(days=2)).isoformat(), "activity_date": held.isoformat()}
                events.append(_event(f"00UR{number:08d}", "Event", when, 0, "CREATE", fields))
                number += 1
    events.sort(key=lambda event: (event["commit_timestamp"], event["event_id"]))
    return events


def _quarter_quota(person: Any, period_type: str) -> Decimal:
    """The seller's default quota over 2026-Q1 (a half-year plan's share of its half)."""
    if period_type == "month":
        return sum((person.quota("default", f"2026-0{m}") or Decimal(0) for m in (1, 2, 3)), Decimal(0))
    if period_type == "half":
        return (person.quota("default", "2026-H1") or Decimal(0)) / 2
    return person.quota("default", "2026-Q1") or Decimal(0)


def _step(target: Decimal) -> Decimal:
    """A round unit for deal amounts: a thousandth of the target, down to a power of ten."""
    return Decimal(10) ** max(0, len(str(int(target))) - 4)


def demo_events(plans: Path, book: Any, deals: int) -> list[dict[str, Any]]:
    """What ``attain run`` replays: the plan folder's own sample quarter (``events.jsonl``, the file
    ``attain simulate`` reads, so both show the same numbers), else ``deals`` generated opportunities."""
    sample = plans / "events.jsonl" if plans.is_dir() else plans.with_name("events.jsonl")
    if sample.is_file():
        return [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    return events_for_book(book, deals)
