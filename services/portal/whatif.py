"""The what-if page: a rep (or someone the ledger lets see the rep) picks open opportunities or types a deal,
changes amount and close date, and sees the exact change in pay (:func:`attain.whatif.estimate`, the
calculator's own core over the rep's records in the read model).

``GET /reps/{rep}/what-if`` shows the form; ``POST`` (with the session's CSRF token) renders the estimate on
the same page, or the form again with a 400 and what is wrong. It works without scripts.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from sqlalchemy import Engine, text

from attain.contracts.crm_changes import change_from_avro, normalise, parse_json
from attain.core.crediting import MAX_CREDIT_AMOUNT
from attain.core.hypothetical import measures_paid
from attain.core.plans import Measure, PlanBook
from attain.core.records import CrmChange
from attain.format import money
from attain.whatif import Estimate, Hypothesis, WhatIfError, estimate
from services.portal.auth import Session
from services.portal.delta import signed_money
from services.portal.i18n import Translate
from services.portal.ledger_client import Refused
from services.portal.readmodel import open_opportunities

NEW = "new"  # the form key of the deal the rep types
CURRENCY = re.compile(r"[A-Z]{3}")
MOST = f"{MAX_CREDIT_AMOUNT:,}"  # the largest amount Attain credits, as the form error shows it


@dataclass
class Row:
    """One deal of the form: an open opportunity (``key`` its record id) or the typed one (``key`` "new")."""

    key: str
    name: str
    amount: str
    currency: str
    close_date: str
    measure: str
    measures: list[Measure]
    picked: bool = False


@dataclass
class Parsed:
    hypotheses: list[Hypothesis] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def network(book: PlanBook, rep_id: str) -> list[str]:
    """The participant and everyone under them at any time (a manager is credited on the team's records), from
    the book's manager -> reports index (:attr:`PlanBook.reports`, built once per book)."""
    found, known, frontier = [rep_id], {rep_id}, [rep_id]
    while frontier:
        for person in book.reports.get(frontier.pop(), ()):
            if person not in known:
                known.add(person)
                found.append(person)
                frontier.append(person)
    return found


def changes_naming(engine: Engine, people: Sequence[str]) -> list[CrmChange]:
    """Every change of every record that names one of ``people`` (``portal.changes``), in version order."""
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT c.change FROM portal.changes c WHERE c.record_id IN "
            "(SELECT record_id FROM portal.changes WHERE people && CAST(:p AS text[]))"), {"p": list(people)})
        changes = [change_from_avro(normalise(parse_json(row.change), "portal", 0)) for row in rows]
    return sorted(changes, key=lambda change: change.version)


def rows_of(book: PlanBook, rep_id: str, opportunities: Sequence[Mapping[str, Any]], changes: Sequence[CrmChange],
            today: date, form: Mapping[str, str] | None = None, picked: Collection[str] = ()) -> list[Row]:
    """The form's deals: each open opportunity a measure the rep is paid on counts, then the typed deal; values
    from the submitted ``form`` when there is one, else the opportunity's own."""
    paid = measures_paid(book, rep_id)
    kinds = {change.record_id: change.object_type for change in changes}
    rows = []
    for opportunity in opportunities:
        key = str(opportunity["record_id"])
        measures = [m for m in paid if m.object_type == kinds.get(key, "Opportunity")]
        if measures:
            rows.append(Row(key, str(opportunity["name"]), _text(opportunity.get("amount")),
                            _text(opportunity.get("currency")), _text(opportunity.get("close_date"))[:10]
                            or today.isoformat(), measures[0].name, measures))
    plan = book.plan_on(rep_id, today) or book.plan_for(rep_id)
    if paid:
        rows.append(Row(NEW, "", "", plan.currency if plan else "", today.isoformat(), paid[0].name, paid))
    for row in rows:
        row.picked = row.key in picked
        if form is not None:
            row.name = form.get(f"name_{row.key}", row.name) if row.key == NEW else row.name
            row.amount, row.currency = form.get(f"amount_{row.key}", row.amount), form.get(
                f"currency_{row.key}", row.currency)
            row.close_date, row.measure = form.get(f"close_{row.key}", row.close_date), form.get(
                f"measure_{row.key}", row.measure)
    return rows


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse(book: PlanBook, rep_id: str, rows: Sequence[Row], _: Translate) -> Parsed:
    """The picked rows as hypotheses, or what is wrong with each, in the reader's language."""
    parsed = Parsed()
    for row in rows:
        if not row.picked:
            continue
        deal = row.name.strip() or (_("the typed deal") if row.key == NEW else row.key)
        measure = next((m for m in row.measures if m.name == row.measure), None)
        if measure is None:
            parsed.errors.append(_("%(deal)s: choose what it counts for", deal=deal))
            continue
        try:
            day = date.fromisoformat(row.close_date.strip())
        except ValueError:
            parsed.errors.append(_("%(deal)s: the close date %(value)s is not a date (YYYY-MM-DD)",
                                   deal=deal, value=row.close_date))
            continue
        amount, currency = None, row.currency.strip().upper()
        if measure.kind == "sum":
            problem, amount = _amount(row.amount, deal, _)
            plan = book.plan_on(rep_id, day) or book.plan_for(rep_id)
            if problem is None and (not CURRENCY.fullmatch(currency) or plan is None
                                    or not book.fx.has_path(currency, plan.currency)):
                problem = _("%(deal)s: unknown currency %(currency)s (the plan book has no rate for it)",
                            deal=deal, currency=row.currency)
            if problem is not None:
                parsed.errors.append(problem)
                continue
        parsed.hypotheses.append(Hypothesis(measure.name, day, amount, currency,
                                            "" if row.key == NEW else row.key, row.name.strip()))
    if not parsed.hypotheses and not parsed.errors:
        parsed.errors.append(_("Pick an open opportunity or type a deal."))
    return parsed


def _amount(typed: str, deal: str, _: Translate) -> tuple[str | None, Decimal | None]:
    """(what is wrong, None) or (None, the amount) of what the rep typed."""
    try:
        amount = Decimal(typed.strip().replace(" ", "").replace("_", ""))
    except InvalidOperation:
        return _("%(deal)s: the amount %(value)s is not a number", deal=deal, value=typed), None
    if not amount.is_finite():
        return _("%(deal)s: the amount %(value)s is not a number", deal=deal, value=typed), None
    if amount < 0:
        return _("%(deal)s: the amount cannot be negative", deal=deal), None
    if amount > MAX_CREDIT_AMOUNT:
        return _("%(deal)s: the amount is too large (at most %(most)s)", deal=deal,
                 most=MOST), None
    return None, amount


def result_view(result: Estimate, locale: str, _: Translate) -> list[dict[str, Any]]:
    """Per period: earned before and after, the difference, each component with its tier change, the trace."""
    periods = []
    for period in result.periods:
        components = [{"id": c.component_id, **_amounts(c.before, c.after, period.currency, locale),
                       "tier": _("tier %(before)s → %(after)s", before=c.tier_before, after=c.tier_after)
                       if c.tier_before != c.tier_after and c.tier_after is not None else (c.tier_after or "")}
                      for c in period.components]
        periods.append({"period": period.period, **_amounts(period.before, period.after, period.currency, locale),
                        "components": components, "lines": period.lines, "steps": period.steps})
    return periods


def _amounts(before: Decimal, after: Decimal, currency: str, locale: str) -> dict[str, Any]:
    """Before, after and the signed difference as the reader reads them, and as exact decimal text (raw_)."""
    return {"before": money(before, currency, locale), "after": money(after, currency, locale),
            "difference": signed_money(after - before, currency, locale), "up": after >= before,
            "raw_before": str(before), "raw_after": str(after), "raw_difference": str(after - before)}


def add_whatif_routes(app: web.Application, portal: Any, *, render: Callable[..., web.Response],
                      signed_in: Callable[[web.Request], Session],
                      checked_form: Callable[[web.Request, Session], Awaitable[Any]],
                      refused: Callable[[web.Request, Refused], Awaitable[web.Response]],
                      reader: Callable[[web.Request], tuple[str, str, Translate]]) -> None:
    """The what-if routes, with the portal's page helpers (web.py ``add_routes``)."""

    async def whatif(request: web.Request) -> web.Response:
        session = signed_in(request)
        form = await checked_form(request, session) if request.method == "POST" else None
        rep_id = request.match_info["rep_id"]
        try:  # the ledger decides (and logs) whether this person may see this rep, as for the rep page
            await portal.ledger.entries(session.token, rep_id)
        except Refused as error:
            return await refused(request, error)
        if portal.book is None:
            return render(request, "error.html", status=503, status_code=503)
        book: PlanBook = portal.book
        _language, locale, _ = reader(request)
        # the walk in the thread too: on a large org it is CPU work the event loop must not wait for
        changes = await asyncio.to_thread(lambda: changes_naming(portal.engine, network(book, rep_id)))
        opportunities = await asyncio.to_thread(open_opportunities, portal.engine, rep_id)
        rows = rows_of(book, rep_id, opportunities, changes, date.today(), form,
                       form.getall("pick", []) if form is not None else ())
        errors: list[str] = []
        periods: list[dict[str, Any]] = []
        if form is not None:
            parsed = parse(book, rep_id, rows, _)
            errors = parsed.errors
            if not errors:
                try:
                    result = await asyncio.to_thread(estimate, book, changes, rep_id, parsed.hypotheses,
                                                     int(time.time() * 1000))
                    periods = result_view(result, locale, _)
                except WhatIfError as error:
                    errors = [_("The estimate cannot be made: %(reason)s", reason=str(error))]
        return render(request, "whatif.html", status=400 if errors else 200, rep_id=rep_id, rows=rows,
                      errors=errors, periods=periods, posted=form is not None)

    app.router.add_route("GET", "/reps/{rep_id}/what-if", whatif)
    app.router.add_route("POST", "/reps/{rep_id}/what-if", whatif)
