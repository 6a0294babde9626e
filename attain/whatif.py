"""The what-if estimator: the exact change in a rep's pay if some deals closed (pure, no I/O).

A hypothesis closes an existing CRM record (an open opportunity, as won) or adds a new one (typed by the rep:
a deal, a meeting, an SQL...) counting for a measure the rep's plan pays on. Each becomes the change event a
CRM would send, validated by the ``crm.changes`` contract exactly as ingest validates it
(:func:`attain.contracts.crm_changes.normalise`), and the rep's records are recomputed with and without them by
the calculator's own functions (:func:`attain.core.recompute.admit_changes`,
:func:`attain.core.earnings.compute_period_earnings`), period by period where the new credits land
(:func:`attain.core.earnings.periods_to_publish`, as the calculator picks the periods it publishes). So the
estimate is what the calculator would publish if the same change arrived after the records given: the
property ``tests/unit/test_whatif.py`` checks, and the e2e test ``tests/e2e/portal/test_whatif.py`` closes the deal
for real and compares. docs/portal.md, "What-if", says what it does not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from attain.contracts.crm_changes import InvalidEvent, change_from_avro, normalise
from attain.core.earnings import ComponentEarnings, PeriodEarnings, compute_period_earnings, periods_to_publish
from attain.core.hypothetical import HypotheticalError, record_fields
from attain.core.plans import PlanBook
from attain.core.recompute import admit_changes, admitted_credits_by_rep
from attain.core.records import CrmChange

SOURCE = "whatif"  # the source a hypothetical event names (it is never published)
ZERO = Decimal(0)


class WhatIfError(ValueError):
    """A hypothesis that cannot be estimated; the message says which and why."""


@dataclass(frozen=True)
class Hypothesis:
    """A record closing on ``close_date``: an existing one (``record_id``) closed as won, or a new one."""

    measure: str
    close_date: date
    amount: Decimal | None = None  # the value of a sum measure (a count ignores it)
    currency: str = ""
    record_id: str = ""  # empty: a new record
    name: str = ""


@dataclass(frozen=True)
class Earned:
    """Earned before and after the hypotheses (a period's total, or one component's), and the difference:
    exact amounts at the currency's minor unit, as the calculator publishes them."""

    before: Decimal
    after: Decimal

    @property
    def difference(self) -> Decimal:
        return self.after - self.before


@dataclass(frozen=True)
class ComponentChange(Earned):
    component_id: str
    tier_before: str | None
    tier_after: str | None


@dataclass(frozen=True)
class PeriodChange(Earned):
    """A period the hypotheses move: earned per component, and the core's trace of them."""

    period: str
    currency: str
    components: tuple[ComponentChange, ...]
    lines: tuple[str, ...]  # the credit lines of the hypothetical records, as the explanation trace reads
    steps: tuple[str, ...]  # the calculation steps of the components they moved


@dataclass(frozen=True)
class Estimate:
    rep_id: str
    events: tuple[CrmChange, ...]  # the change events the hypotheses are, as ingest would accept them
    periods: tuple[PeriodChange, ...]


def events_for(book: PlanBook, rep_id: str, hypotheses: Sequence[Hypothesis], changes: Sequence[CrmChange],
               at_ms: int) -> list[CrmChange]:
    """The change events of ``hypotheses``, committed at ``at_ms`` (each after every change of its record)."""
    latest: dict[str, int] = {}
    object_types: dict[str, str] = {}
    for change in changes:
        latest[change.record_id] = max(latest.get(change.record_id, -1), change.version.commit_timestamp_ms)
        object_types[change.record_id] = change.object_type
    events = []
    for number, hypothesis in enumerate(hypotheses, 1):
        existing = bool(hypothesis.record_id)
        record_id = hypothesis.record_id or f"whatif-{number}"
        what = hypothesis.name or record_id
        measure = book.measures.get(hypothesis.measure)
        try:
            if existing and record_id not in object_types:
                raise HypotheticalError(f"no CRM record {record_id} is known")
            if measure is not None and existing and object_types[record_id] != measure.object_type:
                raise HypotheticalError(f"{measure.name} counts {measure.object_type} records; {record_id} is "
                                        f"a {object_types[record_id]}")
            fields = record_fields(book, rep_id, hypothesis.measure, hypothesis.close_date, hypothesis.amount,
                                   hypothesis.currency, existing)
            if hypothesis.name and not existing:
                fields["name"] = hypothesis.name
            at = max(at_ms, latest.get(record_id, -1) + 1)
            latest[record_id] = at
            item: dict[str, Any] = {
                "event_id": f"{SOURCE}-{number}-{record_id}", "record_id": record_id,
                "object_type": measure.object_type if measure is not None else "",
                "change_type": "UPDATE" if existing else "CREATE", "commit_timestamp": at, "fields": fields}
            events.append(change_from_avro(normalise(item, SOURCE, at_ms)))
        except (HypotheticalError, InvalidEvent) as error:
            raise WhatIfError(f"{what}: {error}") from None
    return events


def estimate(book: PlanBook, changes: Sequence[CrmChange], rep_id: str, hypotheses: Sequence[Hypothesis],
             at_ms: int) -> Estimate:
    """What ``rep_id`` earns per period before and after the ``hypotheses`` (``changes``: every change of the
    records that can credit the rep, in the order the calculator took them)."""
    if not hypotheses:
        raise WhatIfError("pick an open opportunity or type a deal")
    events = events_for(book, rep_id, hypotheses, changes, at_ms)
    touched = {event.record_id for event in events}
    before = admit_changes(book, changes)
    moved = admit_changes(book, [c for c in [*changes, *events] if c.record_id in touched])
    ids = {event.event_id: hypothesis for event, hypothesis in zip(events, hypotheses, strict=True)}
    for record in moved.values():
        for refusal in record.refused:
            if refusal.event_id in ids:
                hypothesis = ids[refusal.event_id]
                raise WhatIfError(f"{hypothesis.name or refusal.record_id}: the calculator would refuse this "
                                  f"change ({refusal.code}): {refusal.reason}")
    credits_before = admitted_credits_by_rep(before.values()).get(rep_id, [])
    credits_after = admitted_credits_by_rep({**before, **moved}.values()).get(rep_id, [])
    changed = [c.credit_date for c in [*credits_before, *credits_after] if c.record_id in touched]
    credited = [c.credit_date for c in [*credits_before, *credits_after]]
    periods = []
    for period in periods_to_publish(book, rep_id, changed, credited):
        old = compute_period_earnings(book, rep_id, period, credits_before)
        new = compute_period_earnings(book, rep_id, period, credits_after)
        if old is not None and new is not None:
            periods.append(_compare(old, new, touched))
    return Estimate(rep_id, tuple(events), tuple(periods))


def _compare(old: PeriodEarnings, new: PeriodEarnings, touched: set[str]) -> PeriodChange:
    earlier = {c.component_id: c for c in old.components}
    components: list[ComponentChange] = []
    lines: list[str] = []
    steps: list[str] = []
    for component in new.components:
        previous = earlier.get(component.component_id)
        change = ComponentChange(before=previous.earned_amount if previous else ZERO, after=component.earned_amount,
                                 component_id=component.component_id, tier_before=previous.tier if previous else None,
                                 tier_after=component.tier)
        components.append(change)
        lines.extend(f"{component.component_id}: {line.describe()}" for line in component.lines
                     if line.record_id in touched)
        if _moved(previous, component):
            steps.extend(f"{component.component_id}: {step}" for step in component.steps)
    return PeriodChange(before=old.total_earned, after=new.total_earned, period=new.period, currency=new.currency,
                        components=tuple(components), lines=tuple(lines), steps=tuple(steps))


def _moved(previous: ComponentEarnings | None, component: ComponentEarnings) -> bool:
    return previous is None or (previous.credited_value, previous.earned_amount) != (
        component.credited_value, component.earned_amount)
