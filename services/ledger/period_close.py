"""Period close: the draw a period without credits pays, booked when the period is locked.

The calculator publishes a (rep, period) only when a credit in it changes, so a rep on a plan with a
draw who credits nothing in a period gets no snapshot, and no draw, from it. Locking the period closes
its books, so that is when the ledger pays them: for every participant of the plan book on a plan
with a draw, in the scope being locked, whose period has no snapshot (or one that earned nothing,
which means no credit), the core's :func:`attain.core.earnings.closing_draw` gives the amount (the
prorated guarantee) and it is booked as a ``draw`` entry under the ``draw`` component, as the
calculator would have booked it. It is computed earnings (reconciled like a snapshot's draw): a
snapshot that arrives later for the period is reconciled against it, so a credit found afterwards
replaces the guarantee with the top-up it leaves, as a prior-period adjustment.

The plan book is the current published version on the reference topics when they have one
(:func:`current_plan_book`, the ledger service's lock: the version the calculator uses, so a published
plan change reaches the closing draws too), else the file the ledger is given (``ATTAIN_LEDGER_PLANS_FILE``,
or ``attain ledger period lock --plans``), the same files the calculator reads. Without either, no draw is
paid at close (the lock says so in its audit record).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, func, select, tuple_

from attain.core.earnings import RECOVERABLE_DRAW, PeriodEarnings, closing_draw
from attain.core.plans import PlanBook
from attain.ledger.entries import Entry
from attain.platform.reference import ReferenceTopics, read_state, topics_from_env
from attain.platform.settings import KafkaSettings
from services.ledger.db import reconciled
from services.ledger.entry_store import insert_unless_booked
from services.ledger.schema import entries, snapshot_heads
from services.ledger.scopes import ScopeBy, accrual_period, scopes_for

log = logging.getLogger("attain.ledger")


def plan_book(path: str | Path | None) -> PlanBook | None:
    """The plan book in ``path`` (a file or folder of plan files); None when no path is set."""
    if not path:
        return None
    from attain.planfiles import load_book

    return load_book([Path(path)])


def current_plan_book(path: str | Path | None, kafka: KafkaSettings, names: ReferenceTopics | None = None,
                      timeout: float = 15) -> PlanBook | None:
    """The current published version of the plan book (``names``: default from the environment,
    :func:`attain.platform.reference.topics_from_env`), else :func:`plan_book` of ``path``. Raises when the
    reference topics cannot be read or the current version does not load: a lock never pays draws from a
    book other than the one in force."""
    from attain.planfiles import load_book_texts

    current = read_state(kafka, names or topics_from_env(), timeout).current
    if current is None:
        return plan_book(path)
    log.info("period close uses the published plan book version", extra={"reference_version": current.version_id})
    return load_book_texts(current.file_map)


def due_closing_draws(book: PlanBook, period: str) -> list[PeriodEarnings]:
    """The closing draw of every participant on a plan with a draw in ``period``, in participant order
    (the callers leave out the reps whose earnings settled the draw)."""
    draws = (closing_draw(book, rep_id, period) for rep_id in sorted(book.participants))
    return [draw for draw in draws if draw is not None]


def book_closing_draws(connection: Connection, book: PlanBook, scope: str, period: str,
                       scope_by: ScopeBy) -> list[Entry]:
    """Book the draws ``period`` pays in ``scope`` to reps without credits in it; returns what was booked.

    Idempotent: each entry's key names the rep, the period and the snapshot version it follows
    (``draw:REP:PERIOD:draw:close@N``, N 0 without a snapshot), so a close retried (or a period
    rejected and locked again) books nothing twice, and only what is not posted yet is booked.
    """
    draws = due_closing_draws(book, period)
    scope_of = scopes_for(connection, {(d.rep_id, d.plan_id) for d in draws}, scope_by)
    draws = [d for d in draws if scope_of[(d.rep_id, d.plan_id)] == scope]
    if not draws:
        return []
    reps = [(d.rep_id, period) for d in draws]
    heads = {row.rep_id: (row.snapshot_version, row.total_earned) for row in connection.execute(
        select(snapshot_heads.c.rep_id, snapshot_heads.c.snapshot_version, snapshot_heads.c.total_earned)
        .where(tuple_(snapshot_heads.c.rep_id, snapshot_heads.c.period).in_(reps)))}
    accrual = accrual_period()
    posted = {row[0]: row[1] for row in connection.execute(
        select(entries.c.rep_id, func.sum(entries.c.amount))
        .where(tuple_(entries.c.rep_id, accrual).in_(reps), reconciled()).group_by(entries.c.rep_id))}
    booked = []
    for draw in draws:
        version, total = heads.get(draw.rep_id, (0, Decimal(0)))
        amount = draw.total_earned - posted.get(draw.rep_id, Decimal(0))
        if total != 0 or amount == 0:  # earned something: the calculator's snapshot settled the draw
            continue
        booked.append(Entry.draw(
            rep_id=draw.rep_id, period=period, posting=period, plan_id=draw.plan_id, plan_version=draw.plan_version,
            scope=scope, amount=amount, currency=draw.currency, snapshot_version=version, at_close=True,
            recoverable=draw.components[0].kind == RECOVERABLE_DRAW))
    insert_unless_booked(connection, booked)
    return booked
