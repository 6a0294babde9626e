"""Plan-engine benchmark: from-scratch recompute of a quarter and single-change latency, one core.

    python bench/engine.py [--participants 1200] [--credits 1000000]

A tiered AE plan (marginal tiers, a kicker, a gate, a cap) for every participant;
credits spread evenly over them and over the quarter. Prints the figures that
docs/benchmarks.md records.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attain.core.crediting import Credit  # noqa: E402
from attain.core.earnings import compute_period_earnings  # noqa: E402
from attain.core.plan_parser import parse_plan_book  # noqa: E402
from attain.core.records import ChangeVersion  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=1200)
    parser.add_argument("--credits", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=2000)
    args = parser.parse_args()
    reps = [f"rep-{n:05d}" for n in range(args.participants)]
    book = parse_plan_book({"plans": [PLAN], "participants": [{"id": r, "plan": "ae", "quota": "40000000"}
                                                               for r in reps]})
    rng = random.Random(1)
    credits: dict[str, list[Credit]] = {rep: [] for rep in reps}
    for number in range(args.credits):
        rep = reps[number % len(reps)]
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(90))
        attributes = (("contract_years", str(rng.choice((1, 1, 2, 3)))),)
        credits[rep].append(Credit(f"006{number:09d}", rep, "closed_won_amount", day,
                                   Decimal(rng.randrange(50_000, 2_500_000)), "INR", ChangeVersion(1),
                                   attributes=attributes))
    started = time.perf_counter()
    total = sum((compute_period_earnings(book, rep, "2026-Q1", credits[rep]).total_earned  # type: ignore[union-attr]
                 for rep in reps), Decimal(0))
    recompute_seconds = time.perf_counter() - started
    print(f"recompute: {args.participants} participants, {args.credits} credits, one quarter: "
          f"{recompute_seconds:.1f} s (total earned {total} INR)")

    rep = reps[0]
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


if __name__ == "__main__":
    main()
