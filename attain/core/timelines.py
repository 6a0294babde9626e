"""Which plan version applies to each participant on each day, and where two would collide."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from attain.core.plans import END_OF_TIME, Participant, Plan

Timeline = tuple[tuple[date, date, Plan], ...]


def build_timelines(
    plans: Mapping[str, Sequence[Plan]], participants: Mapping[str, Participant]
) -> tuple[dict[str, Timeline], list[tuple[str, date, list[str]]]]:
    """Per participant, the (from, to, plan version) ranges; plus (rep, first day, plan ids) conflicts.

    Explicit assignments (``plan:``/``plans:`` on the participant) win over
    ``assign`` rules; within the participant's start and end dates only.
    """
    timelines: dict[str, Timeline] = {}
    conflicts: list[tuple[str, date, list[str]]] = []
    for rep_id, participant in participants.items():
        ranges: list[tuple[date, date, Plan]] = []
        reported: set[tuple[str, ...]] = set()
        for start, end, candidates in _pieces(plans, participant):
            clash = tuple(sorted({p.plan_id for p in candidates}))
            if len(clash) > 1 and clash not in reported:
                reported.add(clash)
                conflicts.append((rep_id, start, list(clash)))
            if not candidates:
                continue
            plan = candidates[0]
            if ranges and ranges[-1][2] == plan and ranges[-1][1] + timedelta(days=1) == start:
                ranges[-1] = (ranges[-1][0], end, plan)
            else:
                ranges.append((start, end, plan))
        timelines[rep_id] = tuple(ranges)
    return timelines, conflicts


def _pieces(
    plans: Mapping[str, Sequence[Plan]], participant: Participant
) -> list[tuple[date, date, list[Plan]]]:
    versions = [plan for items in plans.values() for plan in items]
    cuts = {participant.start, _after(participant.end)}
    for plan in versions:
        cuts |= {plan.effective_from, _after(plan.effective_to)}
    for _, start, end in participant.assignments:
        cuts |= {start, _after(end)}
    points = sorted(day for day in cuts
                    if participant.start <= day <= participant.end and (day < END_OF_TIME or day == participant.start))
    pieces = []
    for start, following in zip(points, [*points[1:], None], strict=True):
        end = participant.end if following is None else following - timedelta(days=1)
        pieces.append((start, end, _plans_on(start, versions, participant)))
    return pieces


def _plans_on(day: date, versions: Sequence[Plan], participant: Participant) -> list[Plan]:
    def live(plan: Plan) -> bool:
        return plan.effective_from <= day <= plan.effective_to

    explicit = {plan_id for plan_id, start, end in participant.assignments if start <= day <= end}
    if participant.assignments:
        return [plan for plan in versions if plan.plan_id in explicit and live(plan)]
    return [plan for plan in versions
            if plan.assign is not None and live(plan) and plan.assign.matches(participant.attributes)]


def _after(day: date) -> date:
    return day if day == END_OF_TIME else day + timedelta(days=1)
