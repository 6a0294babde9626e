"""The sample org reads like a real team's quarter, and `attain run` replays what `attain simulate` reads."""

from __future__ import annotations

import json
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from attain.core.periods import period_bounds
from attain.core.recompute import recompute
from attain.planfiles import load_book
from attain.sample import demo_events, sample_quarter
from attain.simulate import headline, read_changes

APAC = Path("examples/apac")
QUARTER_END = period_bounds("2026-Q1")[1]


@pytest.fixture(scope="module")
def book():
    return load_book([APAC])


def quarter_attainment(book) -> dict[str, Decimal]:
    """Each rep's attainment over the quarter, by the core's batch recompute: what `attain run`'s summary
    shows per period (attain.simulate.headline), summed over the rep's periods in 2026-Q1."""
    credited: dict[str, Decimal] = {}
    quota: dict[str, Decimal] = {}
    for (rep_id, period), result in recompute(book, read_changes(APAC / "events.jsonl")).items():
        value, of = headline(result)
        if of is None or period_bounds(period)[1] > QUARTER_END:
            continue  # no quota, or a half-year that is not over after one quarter
        credited[rep_id] = credited.get(rep_id, Decimal(0)) + value
        quota[rep_id] = quota.get(rep_id, Decimal(0)) + of
    return {rep_id: credited[rep_id] / quota[rep_id] for rep_id in quota}


def test_attainment_is_spread_like_a_real_teams(book):
    attainment = quarter_attainment(book)
    assert len(attainment) >= 14  # AEs, India SDRs (pipeline), the SE and the managers
    within = [rep for rep, ratio in attainment.items() if Decimal("0.5") <= ratio <= Decimal("1.5")]
    assert len(within) >= 0.7 * len(attainment), attainment
    assert Decimal("0.8") <= statistics.median(attainment.values()) <= Decimal("1.2"), attainment
    assert max(attainment.values()) <= 3, attainment


def test_pay_is_in_proportion_to_each_plans_target_incentive(book):
    """No one earns more than 2.5x their plan's target incentive for the period, and the SDRs in India
    (INR 60,000 a month) earn tens of thousands a month, not lakhs."""
    for (rep_id, period), result in recompute(book, read_changes(APAC / "events.jsonl")).items():
        plan = next(p for p in book.plans[result.plan_id] if p.version == result.plan_version)
        assert result.total_earned <= Decimal("2.5") * plan.target_incentive, (rep_id, period)
        if plan.plan_id == "sdr-india":
            assert Decimal(20_000) <= result.total_earned <= Decimal(150_000), (rep_id, period)


def test_make_run_replays_the_events_simulate_reads(book):
    file_events = [json.loads(line) for line in (APAC / "events.jsonl").read_text().splitlines()]
    assert demo_events(APAC, book, deals=400) == file_events


def test_the_committed_sample_quarter_is_the_generators(book):
    assert sample_quarter(book) == demo_events(APAC, book, deals=0)
