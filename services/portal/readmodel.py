"""The portal's read model: projections of ``crm.changes`` and ``earnings`` into PostgreSQL (schema ``portal``).

Tables, each a map keyed by what identifies its row, so replaying any message changes nothing:

- ``portal.changes``: every CRM change by event id (its canonical JSON as text, numbers exact) with the
  participants it names; the rep pages re-run the pure core over a rep's records for the deal list and its
  explanation trace;
- ``portal.opportunities``: each CRM record's newest state (owner, name, amount, currency, close date, stage,
  won/lost), merged field by field in version order;
- ``portal.snapshots``: the newest earnings snapshot per (rep, period); an older or equal version is ignored;
- ``portal.deltas``: one row per snapshot version that moved a rep's pay: the amount, the deal behind it and
  the tier change (what the live feed shows).

The schema is created at start-up by idempotent DDL (:data:`SCHEMA`, version :data:`SCHEMA_VERSION` in
``portal.schema_version``); docs/portal.md says why it lives beside the ledger's tables and not in them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import Connection

from attain.contracts.crm_changes import change_from_avro, change_to_canonical_json, normalise, parse_json
from attain.contracts.earnings import EarningsSnapshot
from attain.core.earnings import component_of
from attain.core.plans import PlanBook
from attain.core.records import CrmChange
from attain.core.tiers import next_tier

SCHEMA_VERSION = 1
SCHEMA = """
CREATE SCHEMA IF NOT EXISTS portal;
CREATE TABLE IF NOT EXISTS portal.schema_version (version integer PRIMARY KEY);
CREATE TABLE IF NOT EXISTS portal.changes (
  event_id text PRIMARY KEY, record_id text NOT NULL, people text[] NOT NULL, change text NOT NULL);
CREATE INDEX IF NOT EXISTS changes_people ON portal.changes USING gin (people);
CREATE TABLE IF NOT EXISTS portal.opportunities (
  record_id text PRIMARY KEY, owner_id text, versions jsonb NOT NULL, fields jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS opportunities_owner ON portal.opportunities (owner_id);
CREATE TABLE IF NOT EXISTS portal.snapshots (
  rep_id text NOT NULL, period text NOT NULL, snapshot_version bigint NOT NULL, snapshot jsonb NOT NULL,
  PRIMARY KEY (rep_id, period));
CREATE TABLE IF NOT EXISTS portal.deltas (
  rep_id text NOT NULL, period text NOT NULL, snapshot_version bigint NOT NULL, currency text NOT NULL,
  amount text NOT NULL, total text NOT NULL, deal text, tier_from integer, tier_to integer,
  computed_at bigint NOT NULL, PRIMARY KEY (rep_id, period, snapshot_version));
CREATE INDEX IF NOT EXISTS deltas_deal ON portal.deltas (deal);
"""
CLOSED_STAGES = ("closed won", "closed lost")
APPLICATION_NAME = "attain-portal"


def make_engine(database_url: str) -> Engine:
    """The portal's pool: one connection held by each of the two consumer threads (services/portal/live.py),
    three for the pages, two more at a peak; named ``attain-portal`` in ``pg_stat_activity``."""
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=2, hide_parameters=True,
                         connect_args={"application_name": APPLICATION_NAME})


def run_ddl(engine: Engine, script: str) -> Connection:
    """Run ``script``'s statements (idempotent DDL) under the portal's schema lock, in one transaction."""
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('attain-portal-schema'))"))
        for statement in filter(str.strip, script.split(";")):
            connection.execute(text(statement))
        return connection


def ensure_schema(engine: Engine) -> None:
    run_ddl(engine, SCHEMA)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO portal.schema_version VALUES (:v) ON CONFLICT DO NOTHING"),
                           {"v": SCHEMA_VERSION})


@dataclass(frozen=True)
class Delta:
    """A snapshot that moved a rep's pay: ``amount`` more (or less), on ``deal``, tier ``tier_from`` -> ``tier_to``."""

    rep_id: str
    period: str
    snapshot_version: int
    currency: str
    amount: Decimal
    total: Decimal
    deal: str | None
    tier_from: int | None
    tier_to: int | None
    computed_at: int  # epoch ms
    # When ingest accepted the earliest change behind the snapshot (epoch ms; the live feed's latency is measured
    # from it). Not kept in the table: a delta read back from it has None.
    ingested_at: int | None = None

    @classmethod
    def of_row(cls, row: Any) -> Delta:
        return cls(row.rep_id, row.period, row.snapshot_version, row.currency, Decimal(row.amount),
                   Decimal(row.total), row.deal, row.tier_from, row.tier_to, row.computed_at)


def people_of(change: CrmChange, book: PlanBook | None) -> list[str]:
    """The participants a change names in any field (owner, splits, SDR...), the owner without an org."""
    named = []
    for name, value in change.fields.items():
        if not value.startswith('"'):  # only a JSON string names anyone (most fields are numbers, dates, flags)
            continue
        try:
            decoded = json.loads(value)
        except ValueError:
            continue
        if isinstance(decoded, str) and (decoded in book.participants if book else name == "owner_id"):
            named.append(decoded)
    return sorted(set(named))


_EXACT = json.JSONDecoder(parse_float=str, parse_int=str)  # a field's numbers kept as written (one decoder, reused)


def _version(change: CrmChange) -> list[Any]:
    return change.version.to_list()


def json_rows(items: Iterable[dict[str, Any]]) -> dict[str, str]:
    """A batch's rows as the one parameter ``:rows`` of a statement reading them with ``json_to_recordset``.

    One JSON text, built by the json module's C encoder and parsed by PostgreSQL: every statement of a batch has
    the same text whatever the batch's size (SQLAlchemy and psycopg keep it prepared), and the rows cost no
    per-value adaptation in Python (a text array is escaped value by value, on the GIL the live feed shares).
    """
    return {"rows": json.dumps(list(items))}


def apply_changes(connection: Connection, changes: Iterable[CrmChange], book: PlanBook | None) -> int:
    """Project CRM changes; returns how many were new (a replayed change is a no-op).

    Three statements per batch, whatever its size (the new changes, their records locked, the records written),
    with the rows as one JSON parameter (:func:`json_rows`). Row by row, a batch of 500 changes took 1,500 round trips;
    as multi-row ``VALUES``, a statement of 4,000 parameters took longer to build than to run, on the GIL the live
    feed's consumer shares.
    """
    batch = list({change.event_id: change for change in changes}.values())
    if not batch:
        return 0
    inserted = set(connection.execute(text(
        "INSERT INTO portal.changes (event_id, record_id, people, change) SELECT * FROM json_to_recordset("
        "CAST(:rows AS json)) AS t(event_id text, record_id text, people text[], change text) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"), json_rows(
            {"event_id": change.event_id, "record_id": change.record_id, "people": people_of(change, book),
             "change": change_to_canonical_json(change).decode()} for change in batch)).scalars())
    fresh = [change for change in batch if change.event_id in inserted]
    if not fresh:
        return 0
    held: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        row.record_id: (dict(row.versions), dict(row.fields)) for row in connection.execute(text(
            "SELECT record_id, versions, fields FROM portal.opportunities WHERE record_id = ANY(:ids) "
            "ORDER BY record_id FOR UPDATE"), {"ids": sorted({change.record_id for change in fresh})})}
    for change in fresh:
        versions, fields = held.setdefault(change.record_id, ({}, {}))
        version = _version(change)
        for name, value in change.fields.items():  # field by field, the newest version wins (order free)
            if name not in versions or versions[name] <= version:
                versions[name], fields[name] = version, _EXACT.decode(value)
    records = sorted(held.items())
    connection.execute(text(
        "INSERT INTO portal.opportunities (record_id, owner_id, versions, fields) SELECT * FROM json_to_recordset("
        "CAST(:rows AS json)) AS t(record_id text, owner_id text, versions jsonb, fields jsonb) "
        "ON CONFLICT (record_id) DO UPDATE SET owner_id = excluded.owner_id, versions = excluded.versions, "
        "fields = excluded.fields, updated_at = now()"), json_rows(
            {"record_id": record_id, "versions": versions, "fields": fields,
             "owner_id": fields["owner_id"] if isinstance(fields.get("owner_id"), str) else None}
            for record_id, (versions, fields) in records))
    named = {record_id: str(fields["name"]) for record_id, (_, fields) in records if fields.get("name")}
    if named:  # a delta projected before its deal's change (another partition, an earlier batch) gets the name
        connection.execute(text(
            "UPDATE portal.deltas d SET deal = v.name FROM json_to_recordset(CAST(:rows AS json)) "
            "AS v(record_id text, name text) WHERE d.deal = v.record_id"),
            json_rows({"record_id": record_id, "name": name} for record_id, name in named.items()))
    return len(fresh)


def tier_number(book: PlanBook | None, snapshot: EarningsSnapshot, component_id: str,
                ratio: str | None) -> int | None:
    """The attainment tier (from 1) a component's attainment reaches; None without attainment tiers."""
    if book is None or ratio is None:
        return None
    component = component_of(book, snapshot.rep_id, snapshot.plan_id, snapshot.plan_version, component_id)
    if component is None or not component.rate.tiers or component.rate.basis != "attainment":
        return None
    return next_tier(component.rate.tiers, Decimal(ratio), Decimal(1)).number


def _tiered(snapshot: EarningsSnapshot, before: EarningsSnapshot | None,
            book: PlanBook | None) -> tuple[int | None, str | None]:
    """The tier number and id of the tiered component the live feed names: one whose credit this snapshot
    moved, else the last (the newest plan version's, when a period spans versions)."""
    credited_before = {c.component_id: c.credited_value for c in before.components} if before else {}
    tiered = [(c.credited_value != credited_before.get(c.component_id), number, c.component_id)
              for c in snapshot.components
              if (number := tier_number(book, snapshot, c.component_id, c.attainment_ratio)) is not None]
    moved = [item for item in tiered if item[0]] or tiered
    return (moved[-1][1], moved[-1][2]) if moved else (None, None)


def apply_snapshots(connection: Connection, snapshots: Iterable[EarningsSnapshot],
                    book: PlanBook | None) -> list[Delta]:
    """Project snapshots (newest version per rep and period wins); the deltas of those that moved pay, in order.

    Four statements per batch, whatever its size: the rows held for the batch's reps and periods (locked), the
    names of the deals behind the deltas, the newest snapshot of each, the deltas. Several versions of one rep's
    period in a batch are compared in order, each with the one before it, so each still makes its own delta.
    """
    batch = list(snapshots)
    if not batch:
        return []
    keys = sorted({(snapshot.rep_id, snapshot.period) for snapshot in batch})
    held: dict[tuple[str, str], EarningsSnapshot] = {
        (row.rep_id, row.period): EarningsSnapshot.from_avro(row.snapshot) for row in connection.execute(text(
            "SELECT s.rep_id, s.period, s.snapshot FROM portal.snapshots s JOIN json_to_recordset(CAST(:rows AS json)) "
            "AS k(rep_id text, period text) USING (rep_id, period) ORDER BY s.rep_id, s.period FOR UPDATE OF s"),
            json_rows({"rep_id": rep_id, "period": period} for rep_id, period in keys))}
    newest: dict[tuple[str, str], EarningsSnapshot] = {}
    moved: list[tuple[EarningsSnapshot, Decimal, int | None, int | None]] = []
    for snapshot in batch:
        key = (snapshot.rep_id, snapshot.period)
        before = held.get(key)
        if before is not None and before.snapshot_version >= snapshot.snapshot_version:
            continue  # a replay or an older snapshot: already projected
        held[key] = newest[key] = snapshot
        amount = Decimal(snapshot.total_earned) - (Decimal(before.total_earned) if before else Decimal(0))
        tier_to, component_id = _tiered(snapshot, before, book)
        tier_from = (tier_number(book, before, component_id, next((c.attainment_ratio for c in before.components
                                                                   if c.component_id == component_id), None))
                     if before is not None and component_id else None)
        if amount != 0 or tier_from != tier_to:
            moved.append((snapshot, amount, tier_from, tier_to))
    if newest:
        connection.execute(text(
            "INSERT INTO portal.snapshots (rep_id, period, snapshot_version, snapshot) SELECT * FROM json_to_recordset("
            "CAST(:rows AS json)) AS t(rep_id text, period text, snapshot_version bigint, snapshot jsonb) "
            "ON CONFLICT (rep_id, period) DO UPDATE SET snapshot_version = excluded.snapshot_version, "
            "snapshot = excluded.snapshot WHERE portal.snapshots.snapshot_version < excluded.snapshot_version"),
            json_rows({"rep_id": s.rep_id, "period": s.period, "snapshot_version": s.snapshot_version,
                       "snapshot": s.to_avro()} for s in newest.values()))
    if not moved:
        return []
    names = deal_names(connection, {change.record_id for snapshot, *_ in moved for change in snapshot.changes})
    deltas = [Delta(snapshot.rep_id, snapshot.period, snapshot.snapshot_version, snapshot.currency, amount,
                    Decimal(snapshot.total_earned), deal_name(names, [change.record_id for change in snapshot.changes]),
                    tier_from, tier_to, snapshot.computed_at, snapshot.trigger_ingested_at)
              for snapshot, amount, tier_from, tier_to in moved]
    connection.execute(text(
        "INSERT INTO portal.deltas SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS t(rep_id text, "
        "period text, snapshot_version bigint, currency text, amount text, total text, deal text, tier_from integer, "
        "tier_to integer, computed_at bigint) ON CONFLICT DO NOTHING"), json_rows(
            {"rep_id": d.rep_id, "period": d.period, "snapshot_version": d.snapshot_version, "currency": d.currency,
             "amount": str(d.amount), "total": str(d.total), "deal": d.deal, "tier_from": d.tier_from,
             "tier_to": d.tier_to, "computed_at": d.computed_at} for d in deltas))
    return deltas


def deal_names(connection: Connection, record_ids: Iterable[str]) -> dict[str, str]:
    """Each of these records the read model knows, with its name (its id when it has none)."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return {}
    return {row.record_id: str(row.name or row.record_id) for row in connection.execute(text(
        "SELECT record_id, fields->>'name' AS name FROM portal.opportunities WHERE record_id = ANY(:ids)"),
        {"ids": wanted})}


def deal_name(names: dict[str, str], record_ids: Sequence[str]) -> str | None:
    """The name of the first of ``record_ids`` in ``names`` (:func:`deal_names`); else the first id, if any."""
    return next((names[record_id] for record_id in record_ids if record_id in names),
                record_ids[0] if record_ids else None)


def snapshots_of(engine: Engine, rep_id: str) -> list[EarningsSnapshot]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT snapshot FROM portal.snapshots WHERE rep_id = :r"), {"r": rep_id})
        return [EarningsSnapshot.from_avro(row.snapshot) for row in rows]


def deltas_of(engine: Engine, rep_id: str, period: str, limit: int = 20) -> list[Delta]:
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT * FROM portal.deltas WHERE rep_id = :r AND period = :p ORDER BY snapshot_version DESC LIMIT :n"),
            {"r": rep_id, "p": period, "n": limit})
        return [Delta.of_row(row) for row in rows]


def changes_of(engine: Engine, rep_id: str) -> list[CrmChange]:
    """Every change of every record that names the rep, in version order (for the pure core)."""
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT c.change FROM portal.changes c WHERE c.record_id IN "
            "(SELECT record_id FROM portal.changes WHERE people @> ARRAY[CAST(:r AS text)])"), {"r": rep_id})
        changes = [change_from_avro(normalise(parse_json(row.change), "portal", 0)) for row in rows]
    return sorted(changes, key=_version)


def open_opportunities(engine: Engine, rep_id: str) -> list[dict[str, Any]]:
    """The rep's records not won or lost: name, amount, currency, close date, stage."""
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT record_id, fields FROM portal.opportunities WHERE owner_id = :r ORDER BY record_id"), {"r": rep_id})
        found = []
        for row in rows:
            fields = row.fields
            stage = str(fields.get("stage") or "")
            if fields.get("is_won") is True or fields.get("is_closed") is True or stage.lower() in CLOSED_STAGES:
                continue
            found.append({"record_id": row.record_id, "name": fields.get("name") or row.record_id,
                          "amount": fields.get("amount"), "currency": fields.get("currency"),
                          "close_date": fields.get("close_date"), "stage": stage})
        return found
