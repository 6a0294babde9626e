"""Plan-engine benchmark: a from-scratch recompute of a quarter from its CRM events, and the
latency of a single change in stage 2, one core.

    python bench/engine.py [--participants 1200] [--deals 100000] [--changes 2000] [--out docs/benchmarks.md]

A tiered AE plan (marginal tiers, a kicker, a gate, a cap) for every participant. The recompute
is the batch one (``attain.core.recompute.recompute``, what ``attain recompute`` and the ledger
check run): a generated event log (``attain.sample.opportunity_events``: each deal created, updated,
about half won) is decoded as the calculator decodes ``crm.changes`` (timed apart), then admitted,
credited and rated. Writes the ``bench:engine`` block of docs/benchmarks.md (``--out ''``: print only).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blocks import markdown_table, write_block  # noqa: E402

from attain.contracts.crm_changes import (  # noqa: E402
    change_from_avro,  # noqa: E402
    normalise,
    parse_json,
)
from attain.core.crediting import Credit  # noqa: E402
from attain.core.plan_parser import parse_plan_book  # noqa: E402
from attain.core.recompute import admit_changes, admitted_credits_by_rep, recompute  # noqa: E402
from attain.core.records import ChangeVersion  # noqa: E402
from attain.sample import opportunity_events  # noqa: E402
from services.calculator.convert import credit_to_json  # noqa: E402
from services.calculator.earnings_stage import apply_rep_messages  # noqa: E402
from services.calculator.month_cache import MonthCredits, RecordCredits  # noqa: E402

PLAN = {
    "id": "ae", "currency": "INR", "period": "quarter", "target_incentive": "900000",
    "components": [{
        "id": "commission", "measure": "closed_won_amount", "gate": {"min_attainment": "0.2"},
        "cap": {"of_target": "3"},
        "kickers": [{"label": "multi-year", "when": {"contract_years": {"gte": 2}}, "multiplier": "1.2"}],
        "tiers": {"method": "marginal", "table": [{"from": 0, "to": "0.5", "rate": "0.03"},
                                                  {"from": "0.5", "to": 1, "rate": "0.05"},
                                                  {"from": 1, "rate": "0.08"}]},
    }],
}


def decoded(events: list[dict]) -> list:
    """The events as the calculator sees them: ingest's normalisation, then the Avro record decoded."""
    return [change_from_avro(normalise(parse_json(json.dumps(event)), "bench", 0)) for event in events]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=1200)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md")
    args = parser.parse_args()
    reps = [f"rep-{n:05d}" for n in range(args.participants)]
    book = parse_plan_book({"plans": [PLAN], "participants": [{"id": r, "plan": "ae", "quota": "40000000"}
                                                               for r in reps]})
    events = opportunity_events(reps, args.deals, seed=1, prefix="006B")
    started = time.perf_counter()
    changes = decoded(events)
    decode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    results = recompute(book, changes)
    recompute_seconds = time.perf_counter() - started
    total = sum((r.total_earned for r in results.values()), Decimal(0))
    credits_by_rep = admitted_credits_by_rep(admit_changes(book, changes).values())
    credit_count = sum(len(c) for c in credits_by_rep.values())
    print(f"recompute from events: {args.participants} participants, {len(events):,} events "
          f"({args.deals:,} deals, {credit_count:,} credits), one quarter: decode {decode_seconds:.1f} s, "
          f"recompute {recompute_seconds:.1f} s (total earned {total} INR)")

    rng = random.Random(1)
    rep = max(credits_by_rep, key=lambda r: len(credits_by_rep[r]))
    credits: dict[str, list[Credit]] = {rep: list(credits_by_rep[rep])}
    months: dict[str, MonthCredits] = {}
    for credit in credits[rep]:
        months.setdefault(credit.credit_date.isoformat()[:7], MonthCredits())[credit.record_id] = RecordCredits(
            (credit_to_json(credit),), (credit,))
    latencies = []
    for change in range(args.changes):
        # one CRM update: a deal of the rep gets a new amount; the month maps the stage returns are
        # stored, as the calculator stores them, so the rep keeps the same number of credits
        deal = rng.choice(credits[rep])
        changed = replace(deal, amount=Decimal(rng.randrange(50_000, 2_500_000)), version=ChangeVersion(2 + change))
        day = changed.credit_date.isoformat()
        message = {"rep_id": rep, "triggers": [], "upserts": [
            {"record_id": changed.record_id, "credits": [credit_to_json(changed)], "days": [day]}]}
        started = time.perf_counter()
        update = apply_rep_messages(rep, [message], book, change, lambda name: months.get(name), lambda period: None)
        latencies.append(time.perf_counter() - started)
        months.update(update.months)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"single change (stage 2, one deal updated, a rep with {len(credits[rep])} credits, months in memory): "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    if str(args.out) not in ("", "."):
        write_block("engine", markdown_table(("measure", "size", "result"), [
            ("decode the event log (ingest normalisation + Avro record to CrmChange)",
             f"{len(events):,} events", f"{decode_seconds:.1f} s"),
            ("from-scratch recompute of Q1 2026 from those changes (`recompute`: admit, credit, rate)",
             f"{args.participants:,} participants, {args.deals:,} deals, {credit_count:,} credits",
             f"{recompute_seconds:.1f} s ({len(events) / recompute_seconds:,.0f} events/s)"),
            ("single change, stage 2 (`apply_rep_messages`), months in memory",
             f"{args.changes:,} changes to a rep with {len(credits[rep]):,} credits",
             f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"),
        ]), document=args.out)


if __name__ == "__main__":
    main()
