"""Earnings: a rep's credits for a period through the plan, cumulatively.

Values are computed from the whole set of credits each time (never by adding
to a running sum), so the same credits always give the same earnings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from attain.core.crediting import Credit
from attain.core.money import round_money
from attain.core.plans import Participant, Plan, period_of

ATTAINMENT_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True)
class ComponentEarnings:
    component_id: str
    credited_value: Decimal
    quota: Decimal | None
    attainment_ratio: Decimal | None
    earned_amount: Decimal
    source_record_count: int


@dataclass(frozen=True)
class PeriodEarnings:
    rep_id: str
    period: str
    plan_id: str
    plan_version: int
    currency: str
    components: tuple[ComponentEarnings, ...]

    @property
    def total_earned(self) -> Decimal:
        return sum((c.earned_amount for c in self.components), Decimal(0))


def compute_period_earnings(
    plan: Plan, participant: Participant, period: str, credits: Iterable[Credit]
) -> PeriodEarnings:
    """Earnings of ``participant`` in ``period`` from the credits dated in it.

    Worked example: rate 5%, quota 1,000,000 INR, won deals 300,000.10 and
    450,000.00 in Q1 -> credited 750,000.10, attainment 0.7500,
    earned round(37,500.005) = 37,500.01 INR.
    """
    in_period = [
        credit for credit in credits if period_of(credit.credit_date, plan.period_type) == period
    ]
    components = []
    for component in plan.components:
        matching = [credit for credit in in_period if credit.measure == component.measure]
        credited = sum((credit.amount for credit in matching), Decimal(0))
        attainment = (credited / participant.quota).quantize(ATTAINMENT_QUANTUM, ROUND_HALF_UP)
        components.append(
            ComponentEarnings(
                component_id=component.component_id,
                credited_value=credited,
                quota=participant.quota,
                attainment_ratio=attainment,
                earned_amount=round_money(credited * component.rate, plan.currency),
                source_record_count=len(matching),
            )
        )
    return PeriodEarnings(
        participant.rep_id, period, plan.plan_id, plan.version, plan.currency, tuple(components)
    )
