"""A milestone as one sentence in the reader's language: the Babel catalogues beside this module (en, fr),
amounts through attain/format.py (the reader's grouping and currency sign), percentages with one decimal.

>>> from decimal import Decimal
>>> from attain.core.milestones import approved
>>> sentence(approved("r1", "2026-Q1", "ae", "EUR", Decimal("1234.5")), "fr")
'Votre paiement de 1\u202f234,50\xa0€ pour 2026-Q1 a été approuvé.'
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from attain import format as fmt
from attain.core.milestones import DISPUTE_ANSWERED, EARNED, STATEMENT_CHANGED, TIER, Milestone

LOCALES = Path(__file__).parent / "locale"
DOMAIN = "notifications"
FALLBACK = "en"


@cache
def catalogue(language: str) -> Catalog:
    """The catalogue of ``language`` (``fr`` for ``fr-CA``), English when none is shipped."""
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        path = LOCALES / FALLBACK / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        return read_po(source)


def text(msgid: str, locale: str) -> str:
    language = Locale.parse(locale.replace("-", "_")).language
    message = catalogue(language).get(msgid) or catalogue(FALLBACK).get(msgid)
    if message is None or not message.string:
        raise KeyError(f"no message {msgid!r} in the notification catalogues")
    return str(message.string)


def sentence(milestone: Milestone, locale: str = FALLBACK) -> str:
    """What the rep reads, in ``locale``."""
    money = lambda value: fmt.money(value, milestone.currency, locale) if milestone.currency else ""  # noqa: E731
    attainment = milestone.fields.get("attainment")
    values = {
        "period": milestone.period, "component": milestone.component_id, "label": milestone.label or "",
        "amount": money(milestone.amount), "delta": money(abs(milestone.delta)), "deals": ", ".join(milestone.deals),
        "threshold": fmt.percent(milestone.threshold, locale) if milestone.threshold is not None else "",
        "attainment": fmt.percent(Decimal(attainment), locale) if attainment else "",
    }
    msgid = milestone.kind
    if msgid == EARNED and milestone.deals:
        msgid = "earned.deals"
    if msgid in (DISPUTE_ANSWERED, STATEMENT_CHANGED):
        msgid, values = _ledger(milestone, locale, values)
    if msgid == TIER and not milestone.label:
        values["label"] = values["threshold"]
    return text(msgid, locale).format(**values)


def _ledger(milestone: Milestone, locale: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The message and values of a fact from the ledger: a dispute's answer, an issued statement's change."""
    delta = milestone.delta
    signed = ("+" if delta > 0 else "-" if delta < 0 else "") + values["delta"]
    values = {**values, "signed": signed, "dispute": milestone.fields.get("dispute_id", "")}
    if milestone.kind == DISPUTE_ANSWERED:
        status = milestone.fields.get("status", "")
        return (f"{DISPUTE_ANSWERED}.adjusted" if status == "adjusted" and delta else DISPUTE_ANSWERED), values
    cause = milestone.fields.get("cause", "")
    try:
        values["cause"] = text(f"cause.{cause}", locale)
    except KeyError:
        values["cause"] = cause
    return (f"{STATEMENT_CHANGED}.deals" if milestone.deals else STATEMENT_CHANGED), values
