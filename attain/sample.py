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
