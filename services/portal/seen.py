"""Never-silent statements in the portal: what the rep last saw of each period (``portal.seen``), and what
changed since, line by line with its cause (the pure diff: :mod:`attain.ledger.statement_changes`).

Only the rep's own visits move their ``seen`` row (a manager or an admin opening the page sees the same diff
and leaves it for the rep). The deals behind a line are named from the read model (``portal.changes``: the
CRM record of each event id the entry names).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from attain.format import money
from attain.ledger.statement_changes import ComponentChange, LineChange, Seen, changes_since, in_period, seen_of
from services.portal.i18n import Translate
from services.portal.readmodel import run_ddl

SCHEMA = """
CREATE TABLE IF NOT EXISTS portal.seen (
  rep_id text NOT NULL, period text NOT NULL, entry_id bigint NOT NULL, figures jsonb NOT NULL,
  plan_versions jsonb NOT NULL, seen_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (rep_id, period));
ALTER TABLE portal.seen ADD COLUMN IF NOT EXISTS entry_ids bigint[]
"""
# entry_ids: the lines shown (Seen.entry_ids). NULL on a row kept before the column was, or written since by a
# replica that does not know it; entry_id (the newest shown) is still kept for such a replica.


def ensure_seen(engine: Engine) -> None:
    """Create ``portal.seen`` (idempotent; the read model's schema must exist: readmodel.ensure_schema)."""
    run_ddl(engine, SCHEMA)


def with_deals(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (ledger entries) each with ``deals``: the CRM records behind its event ids, in order."""
    wanted = sorted({str(e) for row in rows for e in row.get("source_event_ids") or ()})
    records: dict[str, str] = {}
    if wanted:
        with engine.connect() as connection:
            records = dict(connection.execute(text(
                "SELECT event_id, record_id FROM portal.changes WHERE event_id = ANY(:ids)"), {"ids": wanted}).all())
    return [{**row, "deals": list(dict.fromkeys(records[str(e)] for e in row.get("source_event_ids") or ()
                                                if str(e) in records))} for row in rows]


def last_seen(engine: Engine, rep_id: str, period: str) -> Seen | None:
    """The rep's mark for ``period``. Its ids are trusted only when their newest is the row's ``entry_id``:
    a replica that does not know the column (a rolling upgrade) updates the figures and not the ids, and the
    mark is then read as one without ids (Seen)."""
    with engine.connect() as connection:
        row = connection.execute(text(
            "SELECT entry_id, figures, plan_versions, entry_ids FROM portal.seen WHERE rep_id = :rep AND "
            "period = :period"), {"rep": rep_id, "period": period}).first()
    if row is None:
        return None
    figures = {tuple(key.split("|", 1)): Decimal(value) for key, value in row.figures.items()}
    ids = frozenset(int(i) for i in row.entry_ids) if row.entry_ids is not None else None
    return Seen(int(row.entry_id), {(c, k): v for (c, k), v in figures.items()},
                {k: int(v) for k, v in row.plan_versions.items()},
                ids if ids is not None and max(ids, default=row.entry_id) == row.entry_id else None)


def record_seen(engine: Engine, rep_id: str, period: str, seen: Seen) -> None:
    """Keep ``seen`` as what the rep saw of ``period``. A view that shows only lines the mark already has, and
    fewer of them, is an older one finishing late (two tabs) and does not replace it; ids, not the newest id,
    decide, since a lower id can commit after a higher one."""
    with engine.begin() as connection:
        connection.execute(text("""
            INSERT INTO portal.seen (rep_id, period, entry_id, figures, plan_versions, entry_ids)
            VALUES (:rep, :period, :entry_id, CAST(:figures AS jsonb), CAST(:versions AS jsonb), :ids)
            ON CONFLICT (rep_id, period) DO UPDATE SET entry_id = excluded.entry_id, figures = excluded.figures,
                plan_versions = excluded.plan_versions, entry_ids = excluded.entry_ids, seen_at = now()
            WHERE portal.seen.entry_ids IS NULL OR NOT excluded.entry_ids <@ portal.seen.entry_ids
                OR cardinality(excluded.entry_ids) = cardinality(portal.seen.entry_ids)"""), {
            "rep": rep_id, "period": period, "entry_id": seen.entry_id,
            "figures": json.dumps({f"{c}|{k}": str(v) for (c, k), v in seen.figures.items()}),
            "versions": json.dumps(dict(seen.plan_versions)), "ids": sorted(seen.entry_ids or ())})


def changes_for_view(engine: Engine, rep_id: str, period: str, rows: Sequence[Mapping[str, Any]],
                     viewer: str) -> list[ComponentChange]:
    """What changed in ``period`` since the rep last looked (nothing on a first visit); the rep's own view
    then becomes the base of the next one."""
    lines = with_deals(engine, [row for row in rows if in_period(row, period)])
    before = last_seen(engine, rep_id, period)
    changes = changes_since(before, period, lines) if before is not None else []
    if viewer == rep_id:
        record_seen(engine, rep_id, period, seen_of(period, lines))
    return changes


def change_view(change: ComponentChange, locale: str, _: Translate) -> dict[str, Any]:
    """One changed component as the page shows it: before → after, each line with its cause, and the part of
    the change no line explains (empty when there is none)."""
    def shown(value: Decimal, sign: bool = False) -> str:
        text = money(value, change.currency, locale)
        return f"+{text}" if sign and value > 0 else text
    return {"component_id": change.component_id, "before": shown(change.before), "after": shown(change.after),
            "delta": shown(change.delta, sign=True),
            "unexplained": shown(change.unexplained, sign=True) if change.unexplained else "",
            "lines": [{"entry_id": line.entry_id, "amount": shown(line.amount, sign=True),
                       "cause": cause_text(line, _)} for line in change.lines]}


def cause_text(line: LineChange, _: Translate) -> str:
    """Why the line is there, in the reader's language."""
    if line.cause == "crm":
        return _("CRM change on %(deals)s", deals=", ".join(line.deals))
    if line.cause == "plan":
        return _("plan version %(version)s", version=line.plan_version)
    if line.cause == "recompute":
        return _("recalculation (exchange rate or reference data)")
    if line.cause == "dispute_resolution":
        return _("dispute resolution by %(by)s", by=line.by)
    if line.cause in ("adjustment", "clawback", "reversal", "draw", "draw_recovery"):
        return _("%(kind)s by %(by)s: %(why)s", kind=line.kind, by=line.by, why=line.explanation)
    return line.kind
