"""Payout lines: computed when a period is approved, written with their outbox rows in that transaction,
published by :class:`OutboxRelay`, exported for payroll as CSV or XLSX.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from attain.core.money import round_money
from attain.ledger.periods import period_sort_key
from attain.platform import topics
from attain.platform.avro import contract
from services.ledger.db import entry_scope
from services.ledger.schema import entries, outbox, payout_lines, periods

log = logging.getLogger("attain.ledger")
EXPORT_COLUMNS = ("payout_id", "rep_id", "period", "currency", "amount", "entry_count", "approved_at", "approved_by")


def payout_id(scope: str, period: str, rep_id: str, currency: str) -> str:
    """Stable across re-publication: payroll dedupes on it."""
    return f"{scope}/{period}/{rep_id}/{currency}"


def payable_balances(connection: Connection, scope: str, period: str
                     ) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """(rep, currency) -> (amount, entry count): the entries of ``period`` plus what earlier *paid*
    periods left over (a negative balance from an unrecovered draw carries forward)."""
    paid = set(connection.execute(
        select(periods.c.period).where(periods.c.scope == scope, periods.c.state == "paid")).scalars())
    balances: dict[tuple[str, str], tuple[Decimal, int]] = defaultdict(lambda: (Decimal(0), 0))
    for row in connection.execute(
        select(entries.c.rep_id, entries.c.currency, entries.c.period, func.sum(entries.c.amount), func.count())
        .where(entry_scope() == scope).group_by(entries.c.rep_id, entries.c.currency, entries.c.period)
    ):
        if row[2] == period or (row[2] in paid and period_sort_key(row[2]) < period_sort_key(period)):
            amount, count = balances[(row[0], row[1])]
            balances[(row[0], row[1])] = (amount + row[3], count + row[4])
    return dict(balances)


def write_payout_lines(connection: Connection, scope: str, period: str, approved_by: str,
                       approved_at: datetime) -> list[dict[str, Any]]:
    """One line per rep and currency with a non-zero :func:`payable_balances` amount, and its outbox row."""
    lines = [
        {"payout_id": payout_id(scope, period, rep_id, currency), "scope": scope, "period": period,
         "rep_id": rep_id, "currency": currency, "amount": round_money(amount, currency),
         "entry_count": count, "approved_at": approved_at, "approved_by": approved_by}
        for (rep_id, currency), (amount, count) in sorted(payable_balances(connection, scope, period).items())
        if amount != 0
    ]
    if lines:
        connection.execute(payout_lines.insert(), lines)
        payouts = contract(topics.PAYOUTS)
        connection.execute(outbox.insert(), [
            {"topic": topics.PAYOUTS, "message_key": line["payout_id"], "payload": payouts.encode(to_avro(line))}
            for line in lines
        ])
    return lines


def to_avro(line: dict[str, Any]) -> dict[str, Any]:
    return {"payout_id": line["payout_id"], "rep_id": line["rep_id"], "period": line["period"],
            "currency": line["currency"], "amount": str(line["amount"]), "entry_count": line["entry_count"],
            "approved_at": line["approved_at"], "approved_by": line["approved_by"]}


def lines_of(engine: Engine, scope: str, period: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [{**row, "amount": round_money(row["amount"], row["currency"])} for row in connection.execute(
            select(payout_lines).where(payout_lines.c.scope == scope, payout_lines.c.period == period)
            .order_by(payout_lines.c.payout_id)).mappings()]


def export_csv(lines: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for line in lines:
        writer.writerow([_cell(line[column]) for column in EXPORT_COLUMNS])
    return buffer.getvalue()


def export_xlsx(lines: Sequence[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "payouts"
    sheet.append(list(EXPORT_COLUMNS))
    for line in lines:  # amounts as text: payroll must not see a float
        sheet.append([_cell(line[column]) if column != "entry_count" else line[column] for column in EXPORT_COLUMNS])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class OutboxRelay:
    """Publishes unsent outbox rows, then marks them sent.

    A crash between publication and the mark re-publishes the same rows with the
    same key and payout_id on restart: at least once on the wire, once in effect
    for a reader that dedupes on the id. Rows are claimed with SKIP LOCKED, so two
    relays never publish the same row concurrently.
    """

    def __init__(self, engine: Engine, producer: Producer, batch_size: int = 500,
                 pause_before_marking: float = 0.0) -> None:
        self._engine = engine
        self._producer = producer
        self._batch_size = batch_size
        self._pause_before_marking = pause_before_marking

    def run(self, stopping: threading.Event, interval: float) -> None:
        """Publish until ``stopping``; database or broker trouble is logged and retried next round."""
        while not stopping.is_set():
            try:
                published = self.publish_pending()
            except DBAPIError as error:
                log.warning("outbox relay: database unavailable; retrying", extra={"error": str(error.orig)})
                published = 0
            if published:
                log.info("outbox rows published", extra={"count": published})
            else:
                stopping.wait(interval)

    def publish_pending(self) -> int:
        with self._engine.begin() as connection:
            rows = connection.execute(
                select(outbox.c.outbox_id, outbox.c.topic, outbox.c.message_key, outbox.c.payload)
                .where(outbox.c.published_at.is_(None)).order_by(outbox.c.outbox_id)
                .limit(self._batch_size).with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            delivered = self.publish(rows)
            if self._pause_before_marking:  # fault injection: widen the publish-to-mark window for tests
                time.sleep(self._pause_before_marking)
            if delivered:
                connection.execute(outbox.update().where(outbox.c.outbox_id.in_(delivered))
                                   .values(published_at=func.now()))
        return len(delivered)

    def publish(self, rows: Sequence[Any]) -> list[int]:
        """Produce ``rows`` and wait; the ids the broker acknowledged."""
        delivered: list[int] = []
        failed: list[str] = []

        def report(outbox_id: int) -> Any:
            def on_delivery(error: KafkaError | None, _: Message) -> None:
                if error is None:
                    delivered.append(outbox_id)
                else:
                    failed.append(f"{outbox_id}: {error}")
            return on_delivery

        for row in rows:
            self._producer.produce(row.topic, key=row.message_key.encode(), value=bytes(row.payload),
                                   on_delivery=report(row.outbox_id))
        self._producer.flush(30)
        if failed:
            log.warning("outbox rows not acknowledged; they stay pending", extra={"errors": failed[:5]})
        return delivered
