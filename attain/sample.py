"""Deterministic sample CRM activity for the demo, tests and benchmarks.

A quarter of opportunity changes for the reps of a plan book: each deal is
created, updated, and about half are won. Same seed, same events.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
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
