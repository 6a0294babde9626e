"""Lineage in PostgreSQL: book the adopted lineage, quarantine the others, adopt a rebuilt one on request.

The rules are in :mod:`attain.ledger.lineage`; this module applies them inside
the reconciling transaction (``apply_snapshots``) and for the operator commands
(``attain ledger lineage``, ``attain ledger adopt-lineage``). Every adoption is
audited in the hash-chained audit log, in the transaction that makes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from attain.contracts.earnings import EarningsSnapshot
from attain.ledger.entries import Entry
from attain.ledger.lineage import LEGACY, Decision, Difference, check_adoption, compare, decide
from attain.ledger.periods import PeriodState, posting_period
from services.ledger import metrics
from services.ledger.audit import append_audit
from services.ledger.entry_store import insert_entries, reconciled
from services.ledger.schema import entries, ledger_lineages, periods, quarantined_snapshots, snapshot_heads
from services.ledger.scopes import ScopeBy, accrual_period, scopes_for

log = logging.getLogger("attain.ledger")

LINEAGE_LOCK = 0x4C494E45  # "LINE": pg_advisory_xact_lock key of lineage adoption


def lineage_of(snapshot: EarningsSnapshot) -> str:
    return snapshot.lineage or LEGACY


def adopted_lineage(connection: Connection, lock: str | None = None) -> str | None:
    query = select(ledger_lineages.c.lineage).where(ledger_lineages.c.state == "adopted")
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update()
    return connection.execute(query).scalar_one_or_none()


def _has_history(connection: Connection) -> bool:
    return bool(connection.execute(select(exists().where(reconciled()))).scalar())


def sort_by_lineage(connection: Connection, snapshots: Sequence[EarningsSnapshot]
                    ) -> tuple[list[EarningsSnapshot], int]:
    """(snapshots to book, how many were quarantined) in ``connection``'s transaction.

    The adopted lineage's row is share-locked, so an adoption waits for batches in
    flight and no batch books under a lineage that was just retired. A ledger that
    has adopted none adopts the first lineage it sees (audited).
    """
    adopted = adopted_lineage(connection, lock="share")
    if adopted is None and any(lineage_of(s) != LEGACY for s in snapshots):
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LINEAGE_LOCK})
        adopted = adopted_lineage(connection, lock="share")
        if adopted is None:
            first = next(lineage_of(s) for s in snapshots if lineage_of(s) != LEGACY)
            _adopt_first(connection, first)
            adopted = first
    book: list[EarningsSnapshot] = []
    held: list[EarningsSnapshot] = []
    for snapshot in snapshots:
        (held if decide(adopted, lineage_of(snapshot)) is Decision.QUARANTINE else book).append(snapshot)
    if held:
        _quarantine(connection, held)
        log.warning("snapshots of a lineage the ledger has not adopted were quarantined, not booked",
                    extra={"adopted": adopted, "lineages": sorted({lineage_of(s) for s in held}),
                           "count": len(held),
                           "recover": "attain ledger lineage; attain ledger adopt-lineage (docs/ledger.md)"})
    return book, len(held)


def count_quarantined(held: int) -> None:
    """Count quarantined snapshots once their transaction committed."""
    if held:
        metrics.SNAPSHOTS_QUARANTINED.inc(held)


def _adopt_first(connection: Connection, lineage: str) -> None:
    history = _has_history(connection)
    connection.execute(insert(ledger_lineages).values(lineage=lineage, state="adopted", adopted_by="ledger"))
    reason = ("the ledger held earnings booked before lineages existed (earnings v1)" if history
              else "the first lineage of a ledger without history")
    append_audit(connection, "ledger", "lineage.adopt", f"lineage/{lineage}",
                 {"lineage": lineage, "previous": None, "reason": reason, "automatic": True})
    log.info("lineage adopted", extra={"lineage": lineage, "reason": reason})


_QUARANTINE = text("""
    INSERT INTO quarantined_snapshots (lineage, rep_id, period, snapshot_version, snapshot, received)
    SELECT * FROM unnest(CAST(:lineage AS text[]), CAST(:rep_id AS text[]), CAST(:period AS text[]),
                         CAST(:snapshot_version AS bigint[]), CAST(:snapshot AS jsonb[]), CAST(:received AS int[]))
    ON CONFLICT (lineage, rep_id, period) DO UPDATE SET
        received = quarantined_snapshots.received + excluded.received,
        last_seen = now(),
        resolution = NULL,
        snapshot = CASE WHEN excluded.snapshot_version > quarantined_snapshots.snapshot_version
                        THEN excluded.snapshot ELSE quarantined_snapshots.snapshot END,
        snapshot_version = GREATEST(excluded.snapshot_version, quarantined_snapshots.snapshot_version)
""")


def _quarantine(connection: Connection, held: list[EarningsSnapshot]) -> None:
    newest: dict[tuple[str, str, str], EarningsSnapshot] = {}
    received: dict[tuple[str, str, str], int] = {}
    for snapshot in held:
        key = (lineage_of(snapshot), snapshot.rep_id, snapshot.period)
        received[key] = received.get(key, 0) + 1
        if key not in newest or newest[key].snapshot_version < snapshot.snapshot_version:
            newest[key] = snapshot
    keys = sorted(newest)
    connection.execute(_QUARANTINE, {
        "lineage": [k[0] for k in keys], "rep_id": [k[1] for k in keys], "period": [k[2] for k in keys],
        "snapshot_version": [newest[k].snapshot_version for k in keys],
        "snapshot": [json.dumps(newest[k].to_avro()) for k in keys],
        "received": [received[k] for k in keys],
    })


@dataclass(frozen=True)
class QuarantinedLineage:
    lineage: str
    keys: int  # (rep, period) pairs held
    received: int
    first_seen: Any
    last_seen: Any


def status(engine: Engine) -> dict[str, Any]:
    """What operators (and a starting calculator) need: the adopted lineage, whether the ledger holds
    history, and the lineages waiting in quarantine."""
    with engine.connect() as connection:
        adopted = adopted_lineage(connection)
        history = _has_history(connection)
        pending = [
            QuarantinedLineage(row[0], row[1], row[2], row[3], row[4])
            for row in connection.execute(
                select(quarantined_snapshots.c.lineage, func.count(), func.sum(quarantined_snapshots.c.received),
                       func.min(quarantined_snapshots.c.first_seen), func.max(quarantined_snapshots.c.last_seen))
                .where(quarantined_snapshots.c.resolution.is_(None))
                .group_by(quarantined_snapshots.c.lineage).order_by(quarantined_snapshots.c.lineage))
        ]
    return {"adopted": adopted, "history": history, "quarantined": [
        {"lineage": p.lineage, "keys": p.keys, "received": int(p.received),
         "first_seen": p.first_seen.isoformat(), "last_seen": p.last_seen.isoformat()} for p in pending]}


@dataclass
class Adoption:
    lineage: str
    previous: str | None
    compared: int  # (rep, period) pairs compared
    differences: list[Difference] = field(default_factory=list)
    adopted: bool = False
    adjustments: int = 0


def _rebuilt(connection: Connection, lineage: str) -> dict[tuple[str, str], EarningsSnapshot]:
    """The newest quarantined snapshot of each (rep, period) of ``lineage`` not resolved yet."""
    return {(row.rep_id, row.period): EarningsSnapshot.from_avro(row.snapshot) for row in connection.execute(
        select(quarantined_snapshots.c.rep_id, quarantined_snapshots.c.period, quarantined_snapshots.c.snapshot)
        .where(quarantined_snapshots.c.lineage == lineage, quarantined_snapshots.c.resolution.is_(None)))}


def _booked(connection: Connection) -> tuple[dict[tuple[str, str], dict[str, Decimal]], dict[tuple[str, str], Any]]:
    """Computed earnings booked per (rep, accrual period, component), and one entry's plan/currency per key."""
    accrual = accrual_period()
    booked: dict[tuple[str, str], dict[str, Decimal]] = {}
    about: dict[tuple[str, str], Any] = {}
    for row in connection.execute(
        select(entries.c.rep_id, accrual, entries.c.component_id, func.sum(entries.c.amount),
               func.max(entries.c.plan_id), func.max(entries.c.plan_version), func.max(entries.c.currency))
        .where(reconciled())
        .group_by(entries.c.rep_id, accrual, entries.c.component_id)
    ):
        booked.setdefault((row[0], row[1]), {})[row[2]] = row[3]
        about[(row[0], row[1])] = {"plan_id": row[4], "plan_version": row[5], "currency": row[6]}
    return booked, about


def _compare(connection: Connection, lineage: str, lock: str | None = None
             ) -> tuple[Adoption, dict[tuple[str, str], EarningsSnapshot], dict[tuple[str, str], Any]]:
    previous = adopted_lineage(connection, lock=lock)
    rebuilt = _rebuilt(connection, lineage)
    booked, about = _booked(connection)
    found = compare({key: s.earned_by_component() for key, s in rebuilt.items()}, booked)
    return Adoption(lineage, previous, len(set(rebuilt) | set(booked)), found), rebuilt, about


def pending_lineages(engine: Engine) -> list[str]:
    return [q["lineage"] for q in status(engine)["quarantined"]]


def adopt(engine: Engine, lineage: str, actor_id: str, post_differences: bool = False, dry_run: bool = False,
          scope_by: ScopeBy = "plan") -> Adoption:
    """Compare the quarantined (rebuilt) lineage with the ledger and adopt it when the rules allow.

    Raises :class:`attain.ledger.lineage.LineageError` with the reason when they do not
    (differences without ``post_differences``). In one transaction: the differences as
    audited ``adjustment`` entries (when asked), the old lineage retired, the new one
    adopted, the snapshot heads moved to the rebuilt versions, the quarantine resolved.
    """
    if dry_run:
        with engine.connect() as connection:
            return _compare(connection, lineage)[0]
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LINEAGE_LOCK})
        result, rebuilt, about = _compare(connection, lineage, lock="update")
        previous, found = result.previous, result.differences
        check_adoption(previous, lineage, len(rebuilt), found, post_differences)
        if found:
            info = {key: {"plan_id": s.plan_id, "plan_version": s.plan_version, "currency": s.currency}
                    for key, s in rebuilt.items()}
            result.adjustments = _post_differences(connection, lineage, previous, found, {**about, **info},
                                                   actor_id, scope_by)
        if previous is not None:
            connection.execute(update(ledger_lineages).where(ledger_lineages.c.lineage == previous)
                               .values(state="retired", retired_at=func.now()))
        connection.execute(insert(ledger_lineages).values(lineage=lineage, state="adopted", adopted_by=actor_id)
                           .on_conflict_do_update(index_elements=["lineage"],
                                                  set_={"state": "adopted", "adopted_by": actor_id,
                                                        "adopted_at": func.now(), "retired_at": None}))
        # The new lineage's versions order its snapshots from now on: the heads restart from them.
        connection.execute(delete(snapshot_heads))
        if rebuilt:
            connection.execute(insert(snapshot_heads), [
                {"rep_id": rep_id, "period": period, "snapshot_version": s.snapshot_version,
                 "total_earned": Decimal(s.total_earned), "currency": s.currency}
                for (rep_id, period), s in sorted(rebuilt.items())])
        connection.execute(update(quarantined_snapshots).where(quarantined_snapshots.c.lineage == lineage)
                           .values(resolution="adopted"))
        append_audit(connection, actor_id, "lineage.adopt", f"lineage/{lineage}", {
            "lineage": lineage, "previous": previous, "automatic": False, "compared": result.compared,
            "rebuilt_keys": len(rebuilt), "post_differences": post_differences,
            "differences": [{"rep_id": d.rep_id, "period": d.period, "component_id": d.component_id,
                             "booked": str(d.booked), "rebuilt": str(d.rebuilt)} for d in found]})
        result.adopted = True
    return result


def _post_differences(connection: Connection, lineage: str, previous: str | None, found: list[Difference],
                      about: dict[tuple[str, str], Any], actor_id: str, scope_by: ScopeBy) -> int:
    scope_of = scopes_for(connection, {(d.rep_id, about[(d.rep_id, d.period)]["plan_id"]) for d in found}, scope_by)
    scopes = sorted(set(scope_of.values()))
    states: dict[str, dict[str, PeriodState]] = {scope: {} for scope in scopes}
    for row in connection.execute(select(periods).where(periods.c.scope.in_(scopes)).with_for_update(read=True)):
        states[row.scope][row.period] = PeriodState(row.state)
    rows = []
    for d in found:
        info = about[(d.rep_id, d.period)]
        scope = scope_of[(d.rep_id, info["plan_id"])]
        posting = posting_period(d.period, states[scope])
        rows.append(Entry.lineage_adjustment(
            lineage=lineage, previous=previous, rep_id=d.rep_id, period=d.period, posting=posting,
            plan_id=info["plan_id"], plan_version=info["plan_version"], scope=scope, component_id=d.component_id,
            booked=d.booked, rebuilt=d.rebuilt, currency=info["currency"], actor_id=actor_id))
    missing = sorted({(r.scope, r.period) for r in rows if r.period not in states[str(r.scope)]})
    if missing:
        connection.execute(insert(periods).on_conflict_do_nothing(),
                           [{"scope": scope, "period": period} for scope, period in missing])
    insert_entries(connection, rows)
    return len(rows)


def add_lineage_route(app: Any, engine: Engine) -> None:
    """``GET /ops/lineage`` on the operational port: read-only, no money, for a starting calculator
    (which cannot learn from a broker that lost its state whether the ledger holds history)."""
    import asyncio

    from aiohttp import web

    async def lineage_status(request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        return web.json_response(await loop.run_in_executor(None, status, engine))

    app.router.add_get("/ops/lineage", lineage_status)
