"""Database adapter: migrations and the one reconciling transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.pool import NullPool

from attain.contracts.dead_letters import ErrorCode, Refused
from attain.contracts.earnings import EarningsSnapshot
from attain.core.money import MoneyError, minor_unit, parse_decimal
from attain.core.reconcile import deltas
from attain.ledger.entries import DRAW_ENTRY_KINDS, DRAW_KIND, Entry, booking_kind, draw_parts
from attain.ledger.periods import PeriodState, posting_period
from attain.platform.tracing import traced_engine
from services.ledger import ledger_events
from services.ledger import lineage as lineages
from services.ledger.audit import append_audit
from services.ledger.entry_store import insert_unless_booked, reconciled
from services.ledger.provenance import record_changes
from services.ledger.schema import entries, periods, plan_versions, snapshot_heads
from services.ledger.scopes import ScopeBy, accrual_period, scopes_for

MIGRATIONS = Path(__file__).with_name("migrations")


# A PostgreSQL advisory lock key held while migrating ("attain-m" as a 64-bit integer), so two migration
# runs at once (a Job retried, an upgrade started twice) take turns: the second finds the schema at head.
MIGRATION_LOCK = int.from_bytes(b"attain-m", "big") - 2**63


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the schema to the newest revision (the prestart step), or up to an older ``revision`` (the
    upgrade test builds the previous release's schema so), under :data:`MIGRATION_LOCK`."""
    _alembic_locked(database_url, lambda config: command.upgrade(config, revision))


def downgrade(database_url: str, revision: str) -> None:
    """Take the schema back to ``revision`` (an older release's head) under :data:`MIGRATION_LOCK`: what a
    rollback runs with the newer image, before the older one starts (docs/operations.md, "Upgrade and
    rollback"). Each step's ``downgrade`` says what it drops; a revision this tree does not know fails."""
    _alembic_locked(database_url, lambda config: command.downgrade(config, revision))


def _alembic_locked(database_url: str, run: Callable[[Config], None]) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()  # the lock is the session's: it outlasts the transaction
            try:
                config.attributes["connection"] = connection  # migrations/env.py runs on it
                run(config)
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def make_engine(database_url: str) -> Engine:
    # hide_parameters: an error's text (logged, dead-lettered) never carries the statement's values (amounts, ids)
    return traced_engine(  # a span per statement when tracing is on (attain/platform/tracing.py)
        create_engine(database_url, pool_pre_ping=True, pool_size=2, max_overflow=2, hide_parameters=True))


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    stale: int
    entries: int
    quarantined: int = 0  # snapshots of a lineage the ledger has not adopted: held, not booked


def apply_snapshots(engine: Engine, snapshots: Sequence[EarningsSnapshot | Mapping[str, Any]],
                    scope_by: ScopeBy = "plan") -> ApplyResult:
    """Append the delta entries of ``snapshots`` in one transaction.

    ``scope_by`` says whose periods an entry falls in: the snapshot's plan family
    (``plan``) or the rep's region from ``participants`` (``region``).

    A snapshot whose version is not newer than the applied head of its
    (rep, period) adds nothing, so replays and duplicates are no-ops; the
    idempotency key makes a double insert impossible even so.

    Only snapshots of the adopted lineage are booked; the others are held in
    ``quarantined_snapshots`` (see :mod:`services.ledger.lineage`).

    A mapping (written by hand: tests, benchmarks) is read with :meth:`EarningsSnapshot.from_partial`.
    """
    typed = [s if isinstance(s, EarningsSnapshot) else EarningsSnapshot.from_partial(s) for s in snapshots]
    with engine.begin() as connection:
        booked, held = lineages.sort_by_lineage(connection, typed)
        result = _book(connection, booked, scope_by, held)
    lineages.count_quarantined(held)
    return result


def _book(connection: Connection, snapshots: Sequence[EarningsSnapshot], scope_by: ScopeBy, held: int
          ) -> ApplyResult:
    newest = _newest_per_key(snapshots)
    keys = list(newest)
    heads = {
        (row.rep_id, row.period): row.snapshot_version
        for row in connection.execute(
            select(snapshot_heads.c.rep_id, snapshot_heads.c.period, snapshot_heads.c.snapshot_version)
            .where(tuple_(snapshot_heads.c.rep_id, snapshot_heads.c.period).in_(keys))
            .with_for_update()
        )
    }
    fresh = [s for key, s in newest.items() if heads.get(key, -1) < s.snapshot_version]
    if not fresh:
        return ApplyResult(0, len(snapshots), 0, held)
    posted = _posted_earnings(connection, [s.key for s in fresh])
    scopes = scopes_for(connection, {(s.rep_id, s.plan_id) for s in fresh}, scope_by)
    scope_of = {s.key: scopes[(s.rep_id, s.plan_id)] for s in fresh}
    posting = _posting_periods(connection, {(scope_of[s.key], s.period) for s in fresh})
    new_entries = []
    for snapshot in fresh:
        scope = scope_of[snapshot.key]
        new_entries += _entries_for(snapshot, posted.get(snapshot.key, {}),
                                    scope, posting[(scope, snapshot.period)])
    insert_unless_booked(connection, new_entries)
    ledger_events.statements_changed(connection, new_entries, fresh)
    record_changes(connection, fresh)
    _upsert_heads(connection, fresh)
    _audit_new_plan_versions(connection, fresh)
    return ApplyResult(len(fresh), len(snapshots) - len(fresh), len(new_entries), held)


_UPSERT_HEADS = text("""
    INSERT INTO snapshot_heads (rep_id, period, snapshot_version, total_earned, currency)
    SELECT * FROM unnest(CAST(:rep_id AS text[]), CAST(:period AS text[]), CAST(:snapshot_version AS bigint[]),
                         CAST(:total_earned AS numeric[]), CAST(:currency AS text[]))
    ON CONFLICT (rep_id, period) DO UPDATE SET snapshot_version = excluded.snapshot_version,
        total_earned = excluded.total_earned, currency = excluded.currency, updated_at = now()
""")


def _upsert_heads(connection: Connection, fresh: list[EarningsSnapshot]) -> None:
    connection.execute(_UPSERT_HEADS, {
        "rep_id": [s.rep_id for s in fresh],
        "period": [s.period for s in fresh],
        "snapshot_version": [s.snapshot_version for s in fresh],
        "total_earned": [Decimal(s.total_earned) for s in fresh],
        "currency": [s.currency for s in fresh],
    })


def _audit_new_plan_versions(connection: Connection, fresh: list[EarningsSnapshot]) -> None:
    """A plan version the ledger books earnings under for the first time is a plan change: audit it."""
    seen = sorted({(s.plan_id, s.plan_version) for s in fresh})
    new = connection.execute(
        insert(plan_versions).values([{"plan_id": plan_id, "plan_version": version} for plan_id, version in seen])
        .on_conflict_do_nothing().returning(plan_versions.c.plan_id, plan_versions.c.plan_version)
    ).all()
    for plan_id, version in sorted(new):
        append_audit(connection, "ledger", "plan.version_applied", f"plan/{plan_id}/v{version}",
                     {"plan_id": plan_id, "plan_version": version})


Posted = dict[tuple[str, str], Decimal]  # (component, booking kind: earned or a draw kind) -> amount


def _posted_earnings(connection: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Posted]:
    accrual = accrual_period()
    posted: dict[tuple[str, str], Posted] = {}
    for row in connection.execute(
        select(entries.c.rep_id, accrual, entries.c.component_id, entries.c.kind, func.sum(entries.c.amount))
        .where(tuple_(entries.c.rep_id, accrual).in_(keys), reconciled())
        .group_by(entries.c.rep_id, accrual, entries.c.component_id, entries.c.kind)
    ):
        part = posted.setdefault((row[0], row[1]), {})
        key = (row[2], booking_kind(row[3]))
        part[key] = part.get(key, Decimal(0)) + row[4]
    return posted


def _posting_periods(connection: Connection, targets: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Per (scope, period) a snapshot is for: the period its entries go to (itself unless closed).

    The scopes' period rows are share-locked, so a period cannot be locked while
    this transaction posts into it; missing rows are created open.
    """
    scopes = sorted({scope for scope, _ in targets})
    states: dict[str, dict[str, PeriodState]] = {scope: {} for scope in scopes}
    for row in connection.execute(
        select(periods.c.scope, periods.c.period, periods.c.state)
        .where(periods.c.scope.in_(scopes)).with_for_update(read=True)
    ):
        states[row.scope][row.period] = PeriodState(row.state)
    result = {(scope, period): posting_period(period, states[scope]) for scope, period in targets}
    missing_rows = sorted({(scope, period) for (scope, _), period in result.items() if period not in states[scope]})
    if missing_rows:
        connection.execute(insert(periods).on_conflict_do_nothing(),
                           [{"scope": scope, "period": period} for scope, period in missing_rows])
    return result


def check_snapshot(snapshot: EarningsSnapshot) -> None:
    """Raise :class:`Refused` (``invalid_snapshot``) naming the field when a snapshot's money cannot be booked."""
    try:
        minor_unit(snapshot.currency)
        parse_decimal(snapshot.total_earned, f"{snapshot.rep_id}/{snapshot.period} total_earned")
        for component in snapshot.components:
            parse_decimal(component.earned_amount,
                          f"{snapshot.rep_id}/{snapshot.period} {component.component_id}.earned_amount")
    except MoneyError as error:
        raise Refused(str(error), ErrorCode.INVALID_SNAPSHOT) from None


def _newest_per_key(snapshots: Sequence[EarningsSnapshot]) -> dict[tuple[str, str], EarningsSnapshot]:
    newest: dict[tuple[str, str], EarningsSnapshot] = {}
    for snapshot in snapshots:
        key = snapshot.key
        if key not in newest or newest[key].snapshot_version < snapshot.snapshot_version:
            newest[key] = snapshot
    return newest


def _entries_for(snapshot: EarningsSnapshot, posted: Posted, scope: str, posting: str) -> list[Entry]:
    """Delta entries; for a closed period, prior-period adjustments posted in ``posting``. A draw
    component's deltas are ``draw`` entries (its top-ups) and ``draw_recovery`` entries (recoveries)."""
    wanted: Posted = {}
    recoverable: set[str] = set()
    for component in snapshot.components:
        wanted.update(draw_parts(component.component_id, Decimal(component.earned_amount), component.kind))
        if component.kind == "recoverable_draw":
            recoverable.add(component.component_id)
    common: dict[str, Any] = {
        "rep_id": snapshot.rep_id, "period": snapshot.period, "posting": posting, "plan_id": snapshot.plan_id,
        "plan_version": snapshot.plan_version, "scope": scope, "currency": snapshot.currency,
        "snapshot_version": snapshot.snapshot_version, "source_event_ids": snapshot.trigger_event_ids}
    result = []
    for (component_id, kind), amount in deltas(wanted, posted).items():
        if kind == DRAW_KIND:
            result.append(Entry.draw(component_id=component_id, amount=amount,
                                     recoverable=component_id in recoverable, **common))
        elif kind in DRAW_ENTRY_KINDS:
            result.append(Entry.draw_recovery(component_id=component_id, amount=amount, **common))
        else:
            result.append(Entry.earned_delta(component_id=component_id, amount=amount, **common))
    return result


def ledger_totals(engine: Engine) -> dict[tuple[str, str], Decimal]:
    """Computed earnings per (rep, period they were earned in), prior-period adjustments included:
    what a batch recompute must equal."""
    accrual = accrual_period()
    with engine.connect() as connection:
        return {
            (row[0], row[1]): row[2]
            for row in connection.execute(
                select(entries.c.rep_id, accrual, func.sum(entries.c.amount))
                .where(reconciled())
                .group_by(entries.c.rep_id, accrual)
            )
        }
