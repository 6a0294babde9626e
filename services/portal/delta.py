"""A change of pay as a sentence a rep reads: "+₹42,000.00 on Acme Corp, tier 2 → 3" (pure, no I/O)."""

from __future__ import annotations

from decimal import Decimal

from attain.format import money
from services.portal.i18n import Translate


def signed_money(amount: Decimal, currency: str, locale: str) -> str:
    """``amount`` with its sign always shown: +₹42,000.00, −₹1,200.00 (a true minus sign)."""
    text = money(abs(amount), currency, locale)
    return ("+" if amount >= 0 else "\u2212") + text


def delta_text(amount: Decimal, currency: str, deal: str | None, tier_from: int | None, tier_to: int | None,
               locale: str, _: Translate) -> str:
    """The delta and its cause, in the reader's language and locale.

    >>> from services.portal.i18n import translator
    >>> delta_text(Decimal(42000), "INR", "Acme Corp", 2, 3, "en-IN", translator("en"))
    '+₹42,000.00 on Acme Corp, tier 2 → 3'
    >>> delta_text(Decimal("-1200"), "INR", None, 1, 1, "en-IN", translator("fr"))
    '−₹1,200.00'
    """
    parts = [signed_money(amount, currency, locale)]
    if deal:
        parts = [_("%(amount)s on %(deal)s", amount=parts[0], deal=deal)]
    if tier_from is not None and tier_to is not None and tier_from != tier_to:
        parts.append(_("tier %(before)s → %(after)s", before=tier_from, after=tier_to))
    return ", ".join(parts)
