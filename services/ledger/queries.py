"""Reads the HTTP and gRPC APIs share: the facts authorisation needs, a rep's entries, the access log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Engine, exists, func, insert, literal, or_, select, true

from attain.ledger.access import PeriodFacts, Principal, RepFacts
from services.ledger.schema import access_log, entries, participants
from services.ledger.scopes import UNASSIGNED_REGION, entry_scope

MAX_MANAGER_LEVELS = 20  # a cycle in the org data cannot loop forever


def _chain(org: dict[str, tuple[str, str | None]], rep_id: str) -> tuple[str, ...]:
    managers: list[str] = []
    current = org.get(rep_id)
    while current is not None and current[1] is not None and len(managers) < MAX_MANAGER_LEVELS:
        if current[1] in managers or current[1] == rep_id:
            break
        managers.append(current[1])
        current = org.get(current[1])
    return tuple(managers)


def readable_by(who: Principal, rep_id: ColumnElement[str], region: ColumnElement[str | None]) -> ColumnElement[bool]:
    """:func:`attain.ledger.access.can_read_rep` as a SQL condition, for reads over many reps that filter and
    limit in the database instead of loading the whole org: ``rep_id`` is the rep's column, ``region`` their
    ``participants.region`` (outer-joined: a rep not in the org has no manager and is read by admins as region
    ``unassigned``, as :func:`period_facts` counts them). A manager's network is walked down as :func:`_chain`
    walks up, at most ``MAX_MANAGER_LEVELS`` deep."""
    allowed: list[ColumnElement[bool]] = [rep_id == who.user_id]
    if "manager" in who.roles:
        network = (select(participants.c.rep_id, literal(1).label("depth"))
                   .where(participants.c.manager_id == who.user_id).cte("network", recursive=True))
        below = participants.alias("below")
        network = network.union(select(below.c.rep_id, network.c.depth + 1)
                                .where(below.c.manager_id == network.c.rep_id, network.c.depth < MAX_MANAGER_LEVELS))
        allowed.append(rep_id.in_(select(network.c.rep_id)))
    if who.is_admin:
        placed = func.coalesce(region, UNASSIGNED_REGION)
        allowed.append(true() if "*" in who.regions else placed.in_(sorted(who.regions)))
    return or_(*allowed)


def rep_facts(engine: Engine, rep_id: str) -> RepFacts:
    """The rep's region and managers, nearest first, upward (a skip-level manager sees their network)."""
    org: dict[str, tuple[str, str | None]] = {}
    with engine.connect() as connection:
        wanted: str | None = rep_id
        while wanted is not None and wanted not in org and len(org) <= MAX_MANAGER_LEVELS:
            row = connection.execute(select(participants.c.region, participants.c.manager_id)
                                     .where(participants.c.rep_id == wanted)).first()
            if row is None:
                break
            org[wanted] = (row.region, row.manager_id)
            wanted = row.manager_id
    own = org.get(rep_id)
    managers = _chain(org, rep_id)
    return RepFacts(rep_id, own[0] if own else None, own[1] if own else None, managers)


def rep_known(engine: Engine, rep_id: str) -> bool:
    """Whether the ledger knows the rep: a row of the org, or pay booked (a rep of the CRM not placed yet)."""
    with engine.connect() as connection:
        return bool(connection.execute(select(exists().where(participants.c.rep_id == rep_id)
                                              | exists().where(entries.c.rep_id == rep_id))).scalar())


def period_facts(engine: Engine, scope: str | None, period: str, scope_by: str = "plan") -> PeriodFacts:
    """Whose pay the period holds (every scope of ``period`` when ``scope`` is None)."""
    query = select(entries.c.rep_id).where(entries.c.period == period).distinct()
    if scope is not None:
        query = query.where(entry_scope() == scope)
    with engine.connect() as connection:
        reps = set(connection.execute(query).scalars())
        org = {row.rep_id: (row.region, row.manager_id) for row in connection.execute(select(participants))}
    regions = {org[rep][0] if rep in org else UNASSIGNED_REGION for rep in reps}
    if scope is not None and scope_by == "region":
        regions.add(scope)
    managers = {manager for rep in reps for manager in _chain(org, rep)}
    return PeriodFacts(scope or "*", period, frozenset(regions), frozenset(managers), frozenset(reps))


def entries_of(engine: Engine, rep_id: str, period: str | None) -> list[dict[str, Any]]:
    served = [column for column in entries.c if column.name != "input_hash"]  # bookkeeping, not part of the answer
    query = select(*served).where(entries.c.rep_id == rep_id).order_by(entries.c.entry_id)
    if period:
        query = query.where(entries.c.period == period)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def entry_owner(engine: Engine, entry_id: int) -> str | None:
    with engine.connect() as connection:
        owner = connection.execute(select(entries.c.rep_id).where(entries.c.entry_id == entry_id)).scalar()
    return None if owner is None else str(owner)


def record_access(engine: Engine, actor_id: str, reads: Iterable[tuple[str, str | None]], action: str,
                  resource: str, door: str) -> None:
    """Append who read whose pay; ``reads`` are (rep id, the rep's region). No amounts, ever."""
    rows = [{"actor_id": actor_id, "rep_id": rep_id, "region": region, "action": action, "resource": resource,
             "door": door} for rep_id, region in reads]
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(access_log), rows)


def regions_of(engine: Engine, rep_ids: Iterable[str]) -> list[tuple[str, str | None]]:
    wanted = sorted(set(rep_ids))
    with engine.connect() as connection:
        found: dict[str, str] = dict(connection.execute(select(participants.c.rep_id, participants.c.region)
                                        .where(participants.c.rep_id.in_(wanted))).all())  # type: ignore[arg-type]
    return [(rep_id, found.get(rep_id)) for rep_id in wanted]


def access_rows(engine: Engine, regions: frozenset[str] | None, rep_id: str | None = None,
                actor_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest access-log rows first; only ``regions``' rows unless None (every region)."""
    query = select(access_log).order_by(access_log.c.access_id.desc()).limit(limit)
    if regions is not None:
        query = query.where(access_log.c.region.in_(sorted(regions)))
    if rep_id is not None:
        query = query.where(access_log.c.rep_id == rep_id)
    if actor_id is not None:
        query = query.where(access_log.c.actor_id == actor_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def every_rep_facts(engine: Engine) -> dict[str, RepFacts]:
    """Every participant's facts (region, direct manager, managers upward), for reads over the whole org."""
    with engine.connect() as connection:
        org = {row.rep_id: (row.region, row.manager_id) for row in connection.execute(select(participants))}
    return {rep_id: RepFacts(rep_id, region, manager_id, _chain(org, rep_id))
            for rep_id, (region, manager_id) in org.items()}
