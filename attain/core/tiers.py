"""Tiered rate tables: marginal (each slice at its own rate) or retroactive (all at the reached rate).

Tier bounds are in the table's basis (an attainment ratio, or a deal amount);
``scale`` turns a bound into credited value (the quota for attainment tiers,
1 for deal-size tiers). A rate multiplies credited value: a commission rate on
money, or an amount per unit on counts. Accelerators and decelerators are tiers
whose rate is above or below the one before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Tier:
    lower: Decimal
    upper: Decimal | None  # None: open-ended
    rate: Decimal
    label: str = ""

    @property
    def name(self) -> str:
        upper = "+" if self.upper is None else f"-{self.upper}"
        return self.label or f"{self.lower}{upper}"


@dataclass(frozen=True)
class TierResult:
    earned: Decimal
    tier: Tier | None
    slices: tuple[tuple[Tier, Decimal, Decimal], ...]  # tier, credited value in it, earned in it


def tier_reached(tiers: Sequence[Tier], basis_value: Decimal) -> Tier | None:
    """The tier whose range holds ``basis_value`` (lower bound inclusive).

    >>> tiers = [Tier(Decimal(0), Decimal(1), Decimal("0.05")), Tier(Decimal(1), None, Decimal("0.08"))]
    >>> tier_reached(tiers, Decimal("1")).rate
    Decimal('0.08')
    """
    reached = None
    for tier in tiers:
        if basis_value >= tier.lower:
            reached = tier
    return reached


def retroactive(tiers: Sequence[Tier], value: Decimal, scale: Decimal) -> TierResult:
    """The whole value at the rate of the tier its basis (value / scale) reached.

    Worked example: quota 1,000, tiers 0-100% at 5% and 100%+ at 8%; credited
    1,000 reaches the second tier, so 1,000 x 8% = 80.

    >>> tiers = [Tier(Decimal(0), Decimal(1), Decimal("0.05")), Tier(Decimal(1), None, Decimal("0.08"))]
    >>> retroactive(tiers, Decimal(1000), Decimal(1000)).earned
    Decimal('80.00')
    """
    if value < 0:  # a net clawback: the whole negative value at the first tier's rate, as marginal does
        first = tiers[0]
        return TierResult(value * first.rate, first, ((first, value, value * first.rate),))
    basis = value / scale if scale else Decimal(0)
    tier = tier_reached(tiers, basis)
    if tier is None:
        return TierResult(Decimal(0), None, ())
    earned = value * tier.rate
    return TierResult(earned, tier, ((tier, value, earned),))


def marginal(tiers: Sequence[Tier], value: Decimal, scale: Decimal) -> TierResult:
    """Each slice of value at the rate of the tier it falls in.

    Worked example: quota 1,000, tiers 0-100% at 5% and 100%+ at 8%; credited
    1,200 earns 1,000 x 5% + 200 x 8% = 66.

    >>> tiers = [Tier(Decimal(0), Decimal(1), Decimal("0.05")), Tier(Decimal(1), None, Decimal("0.08"))]
    >>> marginal(tiers, Decimal(1200), Decimal(1000)).earned
    Decimal('66.00')
    """
    if value < 0:  # a net clawback: the whole negative value at the first tier's rate
        first = tiers[0]
        return TierResult(value * first.rate, first, ((first, value, value * first.rate),))
    earned = Decimal(0)
    slices = []
    for tier in tiers:
        low = tier.lower * scale
        high = value if tier.upper is None else min(value, tier.upper * scale)
        in_tier = high - low
        if in_tier > 0:
            earned += in_tier * tier.rate
            slices.append((tier, in_tier, in_tier * tier.rate))
    reached = tier_reached(tiers, value / scale) if scale else None
    return TierResult(earned, reached, tuple(slices))


@dataclass(frozen=True)
class NextTier:
    """Where a credited value stands in an attainment-tier table, and what reaches the next tier."""

    number: int  # the tier reached, counted from 1 (0: below the first tier)
    reached: Tier | None
    following: Tier | None  # the next tier up; None once the open-ended top tier is reached
    credit_needed: Decimal | None  # credit still needed to reach ``following`` (None when there is none)


def next_tier(tiers: Sequence[Tier], credited: Decimal, scale: Decimal) -> NextTier:
    """The tier ``credited`` reaches and exactly how much more credit reaches the next one.

    Bounds are in the table's basis and ``scale`` turns them into credited value (the quota for attainment
    tiers), as in :func:`marginal`. Worked example: quota 1,000, tiers 0-100% and 100%-150% and 150%+;
    credited 820 is in tier 1 and 180 more reaches tier 2 (at 1,000); credited 1,000 is in tier 2 and 500
    more reaches tier 3.

    >>> tiers = [Tier(Decimal(0), Decimal(1), Decimal("0.05")), Tier(Decimal(1), Decimal("1.5"), Decimal("0.08")),
    ...          Tier(Decimal("1.5"), None, Decimal("0.1"))]
    >>> result = next_tier(tiers, Decimal(820), Decimal(1000))
    >>> result.number, result.credit_needed
    (1, Decimal('180'))
    >>> next_tier(tiers, Decimal(1000), Decimal(1000)).credit_needed
    Decimal('500.0')
    >>> next_tier(tiers, Decimal(1600), Decimal(1000)).following is None
    True
    """
    if not scale:  # no quota: nothing to measure the bounds in
        return NextTier(0, None, None, None)
    basis = credited / scale
    number = 0
    for index, tier in enumerate(tiers, start=1):
        if basis >= tier.lower:
            number = index
    reached = tiers[number - 1] if number else None
    following = tiers[number] if number < len(tiers) else None
    needed = None if following is None else max(Decimal(0), following.lower * scale - credited)
    return NextTier(number, reached, following, needed)


def tier_problems(tiers: Sequence[Tier]) -> list[str]:
    """Overlaps, gaps and unbounded middles in a table, as messages.

    >>> tier_problems([Tier(Decimal(0), Decimal("1.0"), Decimal(1)), Tier(Decimal("0.9"), None, Decimal(2))])
    ['tier 2 starts at 0.9 but tier 1 ends at 1.0: tiers overlap']
    """
    problems = []
    for index, (before, after) in enumerate(zip(tiers, tiers[1:], strict=False), start=1):
        if before.upper is None:
            problems.append(f"tier {index} is open-ended but tier {index + 1} follows it")
        elif after.lower < before.upper:
            problems.append(f"tier {index + 1} starts at {after.lower} but tier {index} ends at {before.upper}: "
                            "tiers overlap")
        elif after.lower > before.upper:
            problems.append(f"tier {index + 1} starts at {after.lower} but tier {index} ends at {before.upper}: "
                            "values in between have no rate")
    for index, tier in enumerate(tiers, start=1):
        if tier.upper is not None and tier.upper <= tier.lower:
            problems.append(f"tier {index} ends at {tier.upper}, not above its start {tier.lower}")
    return problems
