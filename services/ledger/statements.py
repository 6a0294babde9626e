"""Statements from the database: JSON for the API, PDF for the rep to download."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fpdf import FPDF
from sqlalchemy import Engine, select

from attain.core.money import round_money
from attain.format import amount, reader_locale
from attain.ledger.statements import build_statement
from services.ledger.provenance import changes_of_each
from services.ledger.schema import entries


def statement(engine: Engine, rep_id: str, period: str) -> dict[str, Any]:
    """The rep's statement for ``period``; each of the period's lines names the CRM changes behind it."""
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(
            select(entries).where(entries.c.rep_id == rep_id).order_by(entries.c.entry_id)).mappings()]
        shown = [row for row in rows if row["period"] == period and row["source_event_ids"]]
        for row, changes in zip(shown, changes_of_each(connection, [row["source_event_ids"] for row in shown]),
                                strict=True):
            row["changes"] = changes
    for row in rows:
        row["amount"] = round_money(row["amount"], row["currency"])
    return build_statement(rep_id, period, rows)


class _Statement(FPDF):
    """The PDF being drawn, with the currency of the section being drawn and the reader's locale."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale
        self.currency = ""


def statement_pdf(document: dict[str, Any], locale: str | None = None) -> bytes:
    """The statement as a PDF; amounts at the section currency's minor unit, grouped for ``locale``
    (default ``$ATTAIN_LOCALE``, else en: attain.format)."""
    pdf = _Statement(reader_locale(locale))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    title = _latin1(f"Statement: {document['rep_id']}, {document['period']}")
    pdf.cell(0, 10, title[:80], new_x="LMARGIN", new_y="NEXT")
    for section in document["currencies"]:
        currency = pdf.currency = section["currency"]
        _row(pdf, f"Opening balance ({currency})", section["opening_balance"], bold=True)
        for component in section["components"]:
            _row(pdf, f"Earned: {component['component_id']}", component["total"], bold=True)
            for line in component["entries"]:
                _row(pdf, f"    #{line['entry_id']} {line['explanation']}", line["amount"])
                _deals(pdf, line)
        for title, key in (("Adjustments", "adjustments"), ("Draws", "draws")):
            if section[key]:
                _row(pdf, title, "", bold=True)
            for line in section[key]:
                corrects = f" (corrects {line['corrects_period']})" if line["corrects_period"] else ""
                _row(pdf, f"    #{line['entry_id']} {line['kind']}{corrects}: {line['explanation']}", line["amount"])
        if section["draws"] or section["draw_balance"] != "0":
            _row(pdf, f"    Draw paid this period ({currency})", section["draw_paid"])
            _row(pdf, f"    Draw recovered this period ({currency})", section["draw_recovered"])
            _row(pdf, f"    Draw outstanding to recover ({currency})", section["draw_balance"])
        _row(pdf, f"Total payable ({currency})", section["total_payable"], bold=True)
        for line in section["payments"]:
            _row(pdf, f"    Paid: {line['explanation']}", line["amount"])
        _row(pdf, f"Closing balance ({currency})", section["closing_balance"], bold=True)
        pdf.ln(4)
    return bytes(pdf.output())


def _deals(pdf: _Statement, line: dict[str, Any]) -> None:
    """Under a line, the deals whose CRM changes made it, and who changed each (where the CRM said)."""
    deals = [change["record_id"] + (f" by {change['commit_user']}" if change["commit_user"] else "")
             for change in line.get("changes", ()) if change["record_id"]]
    if deals:
        _row(pdf, f"        deals: {', '.join(dict.fromkeys(deals))}", "")


def _row(pdf: _Statement, label: str, value: str, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 10)
    pdf.cell(150, 6, _latin1(label)[:95])
    shown = amount(Decimal(str(value)), pdf.currency, pdf.locale) if value not in ("", None) else ""
    pdf.cell(0, 6, shown, align="R", new_x="LMARGIN", new_y="NEXT")


def _latin1(text: str) -> str:
    """What the PDF core fonts can draw: latin-1, anything else as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")
