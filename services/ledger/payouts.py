"""Payout lines: computed when a period is approved, written with their outbox rows in that transaction,
published by :class:`OutboxRelay` with the period's control record, exported for payroll as CSV or XLSX.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from opentelemetry.trace import SpanKind
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from attain.contracts.payouts import EarningAmount, PayoutControl, PayoutLine
from attain.core.money import round_money
from attain.ledger import entries as entry_rules
from attain.ledger.entries import EntryGroup, payable_balance
from attain.ledger.payroll import EarningCodes, control_totals, split_by_code
from attain.platform import faults, topics, tracing
from attain.platform.avro import contract
from services.ledger import metrics
from services.ledger.schema import entries, outbox, participants, payout_lines, periods
from services.ledger.scopes import entry_scope

log = logging.getLogger("attain.ledger")
LINE_COLUMNS = ("payout_id", "rep_id", "period", "currency", "amount", "entry_count", "approved_at", "approved_by")
# v1's columns first, unchanged; then one row per earning code of the line (docs/payroll-contract.md)
EXPORT_COLUMNS = (*LINE_COLUMNS, "hr_id", "earning_code", "earning_amount", "earning_entry_count")


def payout_id(scope: str, period: str, rep_id: str, currency: str) -> str:
    """Stable across re-publication: payroll dedupes on it."""
    return f"{scope}/{period}/{rep_id}/{currency}"


def payable_balances(connection: Connection, scope: str, period: str
                     ) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """(rep, currency) -> (amount, entry count): the entries of ``period`` plus what earlier *paid*
    periods left over (a negative balance from an unrecovered draw carries forward)."""
    return {key: payable_balance(parts) for key, parts in payable_parts(connection, scope, period, None).items()}


def payable_parts(connection: Connection, scope: str, period: str, codes: EarningCodes | None
                  ) -> dict[tuple[str, str], dict[str, tuple[Decimal, int]]]:
    """(rep, currency) -> earning code -> (amount, entry count), over the entries :func:`payable_balances`
    sums: the period's entries under their component's or kind's code, what earlier paid periods left
    over under the ``kind:carried`` code (the rule: :func:`attain.ledger.entries.payable_parts`).
    With ``codes`` None every entry counts under one code ``*``."""
    paid = set(connection.execute(
        select(periods.c.period).where(periods.c.scope == scope, periods.c.state == "paid")).scalars())
    groups = (EntryGroup(*row) for row in connection.execute(
        select(entries.c.rep_id, entries.c.currency, entries.c.period, entries.c.component_id, entries.c.kind,
               func.sum(entries.c.amount), func.count())
        .where(entry_scope() == scope)
        .group_by(entries.c.rep_id, entries.c.currency, entries.c.period, entries.c.component_id, entries.c.kind)
    ))
    if codes is None:
        return entry_rules.payable_parts(groups, period, paid)
    return entry_rules.payable_parts(groups, period, paid, codes.code_for, codes.carried_code())


def control_id(scope: str, period: str) -> str:
    return f"{scope}/{period}/control"


def write_payout_lines(connection: Connection, scope: str, period: str, approved_by: str,
                       approved_at: datetime, codes: EarningCodes | None = None) -> list[PayoutLine]:
    """One line per rep and currency with a non-zero :func:`payable_balances` amount, split by earning
    code, with its outbox row; then the period's control record (topic ``payouts.control``) and its
    outbox row, after the lines', so the relay publishes it after them."""
    if codes is None:
        from services.ledger.config import LedgerSettings

        codes = LedgerSettings().codes
    approval = tracing.traceparent()  # the relay publishes the lines in the approval's trace
    hr_ids = {row.rep_id: row.hr_id for row in connection.execute(select(participants.c.rep_id, participants.c.hr_id))}
    lines = []
    for (rep_id, currency), parts in sorted(payable_parts(connection, scope, period, codes).items()):
        amount, split = split_by_code(parts, currency)
        if amount == 0:
            continue
        lines.append(PayoutLine(
            payout_id(scope, period, rep_id, currency), rep_id, period, currency, amount,
            sum(count for _, count in parts.values()), approved_at, approved_by, hr_ids.get(rep_id),
            tuple(EarningAmount(code, part, count) for code, part, count in split)))
    if lines:
        connection.execute(payout_lines.insert(), [line.to_row(scope) for line in lines])
        payouts = contract(topics.PAYOUTS)
        connection.execute(outbox.insert(), [
            {"topic": topics.PAYOUTS, "message_key": line.payout_id, "payload": payouts.encode(line.to_avro()),
             "trace_context": approval}
            for line in lines
        ])
    control = control_record(scope, period, lines, approved_at, approved_by)
    connection.execute(outbox.insert().values(  # a higher outbox_id than the lines': published after them
        topic=topics.PAYOUTS_CONTROL, message_key=control.control_id,
        payload=contract(topics.PAYOUTS_CONTROL).encode(control.to_avro()), trace_context=approval))
    return lines


def control_record(scope: str, period: str, lines: Sequence[PayoutLine], approved_at: datetime,
                   approved_by: str) -> PayoutControl:
    count, totals = control_totals((line.payout_id, line.currency, line.amount) for line in lines)
    return PayoutControl(control_id(scope, period), scope, period, count, tuple(totals), approved_at, approved_by)


class PayrollNotReady(ValueError):
    """An export asked for a period whose payouts do not exist yet, with why and what to do."""


def approved_lines(engine: Engine, scope: str, period: str) -> list[dict[str, Any]]:
    """The payout lines of an approved (or paid) period; :class:`PayrollNotReady` for any other period."""
    with engine.connect() as connection:
        state = connection.execute(
            select(periods.c.state).where(periods.c.scope == scope, periods.c.period == period)).scalar()
    if state is None:
        raise PayrollNotReady(f"period {scope}/{period} does not exist: nothing has been booked for it "
                              "(check the scope and period)")
    if state not in ("approved", "paid"):
        raise PayrollNotReady(f"period {scope}/{period} is {state}, not approved: payouts exist only once the "
                              "last approval step approves it (see `attain ledger period show`)")
    return lines_of(engine, scope, period)


def lines_of(engine: Engine, scope: str, period: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [{**row, "amount": round_money(row["amount"], row["currency"])} for row in connection.execute(
            select(payout_lines).where(payout_lines.c.scope == scope, payout_lines.c.period == period)
            .order_by(payout_lines.c.payout_id)).mappings()]


def export_rows(lines: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """One row per line and earning code (a line written before earning codes: one row, code empty)."""
    rows = []
    for line in lines:
        head = [line[column] for column in LINE_COLUMNS]
        for part in line["earnings"] or [{"earning_code": "", "amount": "", "entry_count": ""}]:
            rows.append([*head, line["hr_id"] or "", part["earning_code"], part["amount"], part["entry_count"]])
    return rows


def export_csv(lines: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in export_rows(lines):
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def export_xlsx(lines: Sequence[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "payouts"
    sheet.append(list(EXPORT_COLUMNS))
    counts = {EXPORT_COLUMNS.index("entry_count"), EXPORT_COLUMNS.index("earning_entry_count")}
    for row in export_rows(lines):  # amounts as text: payroll must not see a float
        sheet.append([value if index in counts else _cell(value) for index, value in enumerate(row)])
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

    def __init__(self, engine: Engine, producer: Producer, batch_size: int = 500) -> None:
        self._engine = engine
        self._producer = producer
        self._batch_size = batch_size

    def run(self, stopping: threading.Event, interval: float) -> None:
        """Publish until ``stopping``; database or broker trouble is logged and retried next round."""
        while not stopping.is_set():
            try:
                published = self.publish_pending()
            except DBAPIError as error:
                log.warning("outbox relay: database unavailable; retrying", extra={"error": str(error.orig)})
                published = 0
            self.measure_backlog()
            if published:
                log.info("outbox rows published", extra={"count": published})
            else:
                stopping.wait(interval)

    def measure_backlog(self) -> None:
        """Set the backlog gauges (``attain_ledger_outbox_backlog``, ``..._oldest_age_seconds``); a
        database that does not answer leaves them as they were (the relay's warning says why)."""
        try:
            with self._engine.connect() as connection:
                count, age = connection.execute(
                    select(func.count(), func.extract("epoch", func.now() - func.min(outbox.c.created_at)))
                    .where(outbox.c.published_at.is_(None))).one()
        except DBAPIError:
            return
        metrics.OUTBOX_BACKLOG.set(count)
        metrics.OUTBOX_OLDEST_AGE.set(float(age or 0))

    def publish_pending(self) -> int:
        with self._engine.begin() as connection:
            rows = connection.execute(
                select(outbox.c.outbox_id, outbox.c.topic, outbox.c.message_key, outbox.c.payload,
                       outbox.c.trace_context)
                .where(outbox.c.published_at.is_(None)).order_by(outbox.c.outbox_id)
                .limit(self._batch_size).with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            # one span per run of rows written in one trace (an approval's payout lines, a lock's statement
            # facts), its child; runs in outbox order, so each key's messages keep their order
            delivered = []
            for _, run in groupby(rows, key=lambda row: row.trace_context):
                written = list(run)
                with tracing.consumed("outbox publish", (tracing.headers_of(row.trace_context) for row in written),
                                      SpanKind.PRODUCER):
                    delivered += self.publish(written)
            faults.reached("ledger.after_outbox_publish")  # published, not yet marked sent
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

        topic_of = {row.outbox_id: (row.topic, row.message_key) for row in rows}
        for row in rows:
            self._producer.produce(row.topic, key=row.message_key.encode(), value=bytes(row.payload),
                                   headers=tracing.headers_of(row.trace_context), on_delivery=report(row.outbox_id))
        self._producer.flush(30)
        for outbox_id in delivered:
            topic, key = topic_of[outbox_id]
            metrics.OUTBOX_PUBLISHED.labels(topic).inc()
            if topic == topics.PAYOUTS:
                metrics.PAYOUT_LINES.labels(key.split("/", 2)[1]).inc()  # payout_id: scope/period/rep/currency
        if failed:
            log.warning("outbox rows not acknowledged; they stay pending", extra={"errors": failed[:5]})
        return delivered
