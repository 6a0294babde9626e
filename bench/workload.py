"""What the benchmark sends: a plan book of many reps and realistic CRM change events.

The sample events of :mod:`attain.sample` carry only the fields crediting reads.
Real change events carry more (who changed it, when, the next step...), so each
event here gets the audit and pipeline fields a Salesforce Opportunity change
typically has; the calculator keeps them in record state like any other field.
That brings an Avro ``crm.changes`` message to about 400 bytes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from attain.contracts.crm_changes import normalise, parse_json
from attain.platform import topics
from attain.platform.avro import contract
from attain.sample import opportunity_events

REGIONS = ("IN-North", "IN-South", "IN-East", "IN-West", "IN-Central")
NEXT_STEPS = (
    "Send revised pricing to procurement; confirm legal review",
    "Security questionnaire back; book the technical deep-dive",
    "Champion presents the business case to the CFO on Thursday",
)


def rep_ids(count: int) -> list[str]:
    return [f"rep-{number:04d}" for number in range(1, count + 1)]


def fresh_workdir(workdir: Path, reps: int) -> tuple[Path, list[str], Path]:
    """``workdir`` emptied (resolved), ``reps`` rep ids, and the path of a plan book of them written in it."""
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ids = rep_ids(reps)
    write_plan_book(workdir / "plans.yaml", ids)
    return workdir, ids, workdir / "plans.yaml"


def write_plan_book(path: Path, reps: Sequence[str]) -> None:
    """The demo's flat-rate plan with ``reps`` participants on it."""
    book = {
        "plans": [{"id": "ae-india", "version": 1, "currency": "INR", "period": "quarter",
                   "components": [{"id": "commission", "measure": "closed_won_amount",
                                   "rate": "0.05"}]}],
        "participants": [
            {"id": rep, "name": f"Bench Rep {index}", "region": REGIONS[index % len(REGIONS)],
             "plan": "ae-india", "quota": str(40_000_000 + 250_000 * (index % 40))}
            for index, rep in enumerate(reps)
        ],
    }
    path.write_text(yaml.safe_dump(book, sort_keys=False))


def change_events(reps: Sequence[str], count: int, prefix: str, seed: int) -> list[dict[str, Any]]:
    """Exactly ``count`` canonical events (ingest's JSON) for fresh opportunities."""
    deals = count * 10 // 23 + 10  # a deal has 2 or 3 events, 2.55 on average
    events = opportunity_events(reps, deals, seed=seed, prefix=prefix)
    while len(events) < count:
        deals *= 2
        events = opportunity_events(reps, deals, seed=seed, prefix=prefix)
    return [_with_audit_fields(event, number) for number, event in enumerate(events[:count])]


def _with_audit_fields(event: dict[str, Any], number: int) -> dict[str, Any]:
    committed = datetime.fromisoformat(event["commit_timestamp"])
    modified = (committed - timedelta(milliseconds=number % 997)).isoformat()
    fields = {
        **event["fields"],
        "last_modified_by_id": f"005D{number % 5000:014d}",
        "last_modified_date": modified,
        "account_id": f"001D{number % 20000:014d}",
        "probability": str(10 * (1 + number % 9)),
        "next_step": NEXT_STEPS[number % len(NEXT_STEPS)],
    }
    return {**event, "fields": fields,
            "transaction_key": f"{number:08x}-6f1c-4a8e-9c1d-{event['record_id'][-12:]:0>12}"}


def avro_changes(events: Sequence[dict[str, Any]], now_ms: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of each event as ingest would publish it on ``crm.changes``."""
    changes = contract(topics.CRM_CHANGES)
    messages = []
    for event in events:
        record = normalise(parse_json(json.dumps(event)), "bench", now_ms)
        messages.append((record["record_id"].encode(), changes.encode(record)))
    return messages


def http_bodies(events: Sequence[dict[str, Any]], batch: int) -> list[bytes]:
    """``POST /v1/events`` bodies of ``batch`` events each, serialised ahead of time."""
    return [json.dumps(events[start:start + batch]).encode()
            for start in range(0, len(events), batch)]


async def send_paced(bodies: Sequence[bytes], interval: float, send: Callable[[bytes], Awaitable[None]]) -> float:
    """Start ``send(body)`` for each body, ``interval`` seconds apart, then wait for all of them; returns the
    seconds from the first start to the last."""
    started = time.monotonic()
    sends = []
    for number, body in enumerate(bodies):
        await asyncio.sleep(max(0.0, started + number * interval - time.monotonic()))
        sends.append(asyncio.ensure_future(send(body)))
    window = time.monotonic() - started
    await asyncio.gather(*sends)
    return window
