"""Ledger entries as values: each kind's constructor owns its idempotency key and its input hash.

An entry is appended once per idempotency key (a unique column). The key says *which* booking
an entry is; :attr:`Entry.input_hash` says *what* it books: a SHA-256 over a canonical encoding
of the fields that define it (see :func:`input_hash`). A second booking under a used key is a
retry when the hashes match and a conflict when they differ (:func:`check_reuse`); the first
booking always stands.

The rules over entries live here too, pure: which kinds reconciliation owns, which a person may
post, and what a period pays (:func:`payable_parts`). ``services/ledger`` stores and serves them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from attain.ledger.periods import period_sort_key

# Entries that carry computed earnings: what a snapshot is reconciled against. Draws the system books
# (from a snapshot's draw component or at period close, ``created_by`` empty) are computed too: see
# :func:`is_reconciled`.
RECONCILED_KINDS = ("earned", "adjustment")
DRAW_KIND = "draw"  # an advance or guarantee top-up paid out (positive; negative when later earnings lower it)
DRAW_RECOVERY_KIND = "draw_recovery"  # earnings held back to repay a recoverable draw (negative)
DRAW_ENTRY_KINDS = (DRAW_KIND, DRAW_RECOVERY_KIND)
RECOVERABLE = "recoverable draw"  # how a recoverable draw's entries begin their explanation
# Not "earned" or "adjustment": those carry computed earnings, which reconciliation owns. A person's
# entry stays on top of the computed ones; the next snapshot does not undo it.
MANUAL_KINDS = ("manual", "reversal", "clawback", "draw", "draw_recovery")
PAYMENT_KIND = "payment"

# The stored fields an input hash covers, in this order: the fields that define what an entry books. Not
# covered: who booked it (``created_by``: a retry by another admin with the same inputs is the same entry),
# where it came from (``source_event_ids``: provenance, not value) and its ``explanation``: prose about the
# defining fields (a snapshot version, amounts, a person's reason), whose wording may change from one
# release to the next; a retry that says it otherwise books the same, and the first booking's text stands.
HASHED_FIELDS = ("kind", "rep_id", "scope", "period", "corrects_period", "plan_id", "plan_version",
                 "component_id", "amount", "currency", "snapshot_version")
# What hashes stored before the explanation was left out cover (the same, then the explanation): a
# stored hash of either form is accepted (:func:`same_inputs`), so no stored row needs rewriting.
EARLIER_HASHED_FIELDS = (*HASHED_FIELDS, "explanation")


class IdempotencyConflict(ValueError):
    """An idempotency key already booked an entry with different inputs; the first booking stands."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} already booked an entry with different inputs; "
                         "the first one stands: use a new key for a different entry")
        self.key = key


def is_reconciled(entry: Mapping[str, Any]) -> bool:
    """Whether ``entry`` carries computed earnings (a snapshot is reconciled against it): an ``earned``
    or ``adjustment`` entry, or a draw the system booked; never a draw a person posted.

    >>> is_reconciled({"kind": "draw"}), is_reconciled({"kind": "draw", "created_by": "admin-1"})
    (True, False)
    """
    kind = entry["kind"]
    return kind in RECONCILED_KINDS or (kind in DRAW_ENTRY_KINDS and not entry.get("created_by"))


def is_recoverable(entry: Mapping[str, Any]) -> bool:
    """Whether ``entry`` moves a rep's outstanding draw (what is still to be recovered): a recovery, a
    recoverable draw's top-up, or a draw a person posted (an advance). A non-recoverable draw is the rep's.

    >>> is_recoverable({"kind": "draw", "explanation": "draw (not recoverable) paid as of snapshot v3"})
    False
    >>> is_recoverable({"kind": "draw", "explanation": "recoverable draw paid as of snapshot v3"})
    True
    """
    if entry["kind"] == DRAW_RECOVERY_KIND:
        return True
    return entry["kind"] == DRAW_KIND and (bool(entry.get("created_by"))
                                           or str(entry.get("explanation") or "").startswith(RECOVERABLE))


def draw_parts(component_id: str, amount: Decimal, draw_kind: str | None) -> dict[tuple[str, str], Decimal]:
    """A snapshot component as (component, entry kind) -> cumulative amount: earnings are ``earned``; a
    draw's top-up is ``draw`` and a recoverable draw's recovery (a negative amount) ``draw_recovery``.

    >>> draw_parts("draw", Decimal(-500), "recoverable_draw")
    {('draw', 'draw'): Decimal('0'), ('draw', 'draw_recovery'): Decimal('-500')}
    >>> draw_parts("commission", Decimal(70), None)
    {('commission', 'earned'): Decimal('70')}
    """
    if draw_kind is None:
        return {(component_id, "earned"): amount}
    return {(component_id, DRAW_KIND): max(amount, Decimal(0)),
            (component_id, DRAW_RECOVERY_KIND): min(amount, Decimal(0))}


def booking_kind(kind: str) -> str:
    """The part of a component a reconciled entry of ``kind`` books: ``earned`` (adjustments too) or a draw kind."""
    return kind if kind in DRAW_ENTRY_KINDS else "earned"


def amount_text(amount: Decimal) -> str:
    """The canonical text of an amount: the same for every representation of the same number.

    >>> amount_text(Decimal("10.0")), amount_text(Decimal("10.000000")), amount_text(Decimal("-0.00"))
    ('10', '10', '0')
    >>> amount_text(Decimal("1E+3")), amount_text(Decimal("-12.50"))
    ('1000', '-12.5')
    """
    if amount == 0:
        return "0"
    return format(amount.normalize(), "f")


def input_hash(fields: Mapping[str, Any], names: tuple[str, ...] = HASHED_FIELDS) -> str:
    """SHA-256 (hex) over the :data:`HASHED_FIELDS` (or ``names``) of ``fields``, as a JSON array in that order: amounts
    as :func:`amount_text`, versions as integers, a missing scope as the plan (as the ledger reads
    scopes), empty text as null.

    >>> a = input_hash({"kind": "manual", "rep_id": "r1", "amount": Decimal("10.0"), "currency": "EUR"})
    >>> a == input_hash({"kind": "manual", "rep_id": "r1", "amount": Decimal("10.00"), "currency": "EUR"})
    True
    >>> a == input_hash({"kind": "manual", "rep_id": "r1", "amount": Decimal("10.01"), "currency": "EUR"})
    False
    """
    canonical: list[Any] = []
    for name in names:
        value = fields.get(name)
        if name == "scope" and not value:
            value = fields.get("plan_id")
        if name == "amount":
            value = amount_text(value if isinstance(value, Decimal) else Decimal(str(value or 0)))
        elif name in ("plan_version", "snapshot_version"):
            value = int(value or 0)
        else:
            value = str(value) if value else None
        canonical.append(value)
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode("ascii")).hexdigest()


def stored_hash(row: Mapping[str, Any]) -> str:
    """The input hash of a stored entry: its own, or for a row written before hashes were stored
    (``input_hash`` NULL) the hash of its stored fields, so the comparison is a field comparison."""
    stored = row.get("input_hash")
    return str(stored) if stored else input_hash(row)


def same_inputs(existing: Mapping[str, Any], new: Entry) -> bool:
    """Whether ``existing`` (a stored entry under ``new``'s key) books the same inputs as ``new``: its stored
    hash is ``new``'s, or the hash of ``new`` as stored before the explanation was left out
    (:data:`EARLIER_HASHED_FIELDS`); a row without a stored hash is compared field by field."""
    stored = stored_hash(existing)
    return stored == new.input_hash or stored == input_hash(
        {name: getattr(new, name) for name in EARLIER_HASHED_FIELDS}, EARLIER_HASHED_FIELDS)


def check_reuse(existing: Mapping[str, Any], new: Entry) -> None:
    """Raise :class:`IdempotencyConflict` unless ``existing`` (a stored entry under ``new``'s key)
    books the same inputs as ``new``."""
    if not same_inputs(existing, new):
        raise IdempotencyConflict(new.idempotency_key)


@dataclass(frozen=True)
class Entry:
    """One ledger entry, before it is stored (no ``entry_id`` yet). Build it with a constructor."""

    kind: str
    rep_id: str
    period: str  # the period it is posted in
    component_id: str
    amount: Decimal
    currency: str
    idempotency_key: str
    plan_id: str = ""
    plan_version: int = 0
    scope: str | None = None
    snapshot_version: int = 0
    corrects_period: str | None = None  # set on prior-period adjustments: the period the amount belongs to
    explanation: str | None = None
    created_by: str | None = None
    source_event_ids: tuple[str, ...] = ()
    input_hash: str = field(init=False, default="", compare=False)  # set from the fields above

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_hash", input_hash({name: getattr(self, name) for name in HASHED_FIELDS}))

    def row(self) -> dict[str, Any]:
        """The entry as a ``ledger_entries`` row."""
        values = {name: getattr(self, name) for name in _COLUMNS}
        values["source_event_ids"] = list(self.source_event_ids)
        return values

    # -- the kinds --------------------------------------------------------------------------------

    @classmethod
    def earned_delta(cls, *, rep_id: str, period: str, posting: str, plan_id: str, plan_version: int, scope: str,
                     component_id: str, amount: Decimal, currency: str, snapshot_version: int,
                     source_event_ids: Iterable[str] = ()) -> Entry:
        """The change a snapshot of (rep, ``period``) makes to a component, posted in ``posting``: an
        ``earned`` entry, or an ``adjustment`` correcting ``period`` when that was closed."""
        late = posting != period
        kind = "adjustment" if late else "earned"
        return cls(
            kind=kind, rep_id=rep_id, period=posting, corrects_period=period if late else None,
            explanation=(f"prior-period adjustment: {period} was closed when snapshot "
                         f"v{snapshot_version} arrived") if late else None,
            plan_id=plan_id, scope=scope, plan_version=plan_version, component_id=component_id, amount=amount,
            currency=currency, snapshot_version=snapshot_version,
            idempotency_key=f"{kind}:{rep_id}:{period}:{component_id}:{snapshot_version}",
            source_event_ids=tuple(source_event_ids),
        )

    @classmethod
    def draw(cls, *, rep_id: str, period: str, posting: str, plan_id: str, plan_version: int, scope: str,
             amount: Decimal, currency: str, recoverable: bool, snapshot_version: int, at_close: bool = False,
             component_id: str = "draw", source_event_ids: Iterable[str] = ()) -> Entry:
        """A draw paid for ``period`` (an advance on a recoverable draw, a guarantee top-up otherwise), posted in
        ``posting``: the change snapshot ``snapshot_version``'s draw component makes to it, or ``at_close``
        the draw a period without credits pays when it is locked (after snapshot ``snapshot_version``, 0
        when it has none)."""
        return cls._computed_draw(DRAW_KIND, rep_id=rep_id, period=period, posting=posting, plan_id=plan_id,
                                  plan_version=plan_version, scope=scope, amount=amount, currency=currency,
                                  recoverable=recoverable, snapshot_version=snapshot_version, at_close=at_close,
                                  component_id=component_id, source_event_ids=source_event_ids)

    @classmethod
    def draw_recovery(cls, *, rep_id: str, period: str, posting: str, plan_id: str, plan_version: int, scope: str,
                      amount: Decimal, currency: str, snapshot_version: int, component_id: str = "draw",
                      source_event_ids: Iterable[str] = ()) -> Entry:
        """The change a snapshot makes to what ``period``'s earnings repay of a recoverable draw (negative:
        it reduces what the period pays)."""
        return cls._computed_draw(DRAW_RECOVERY_KIND, rep_id=rep_id, period=period, posting=posting,
                                  plan_id=plan_id, plan_version=plan_version, scope=scope, amount=amount,
                                  currency=currency, recoverable=True, snapshot_version=snapshot_version,
                                  at_close=False, component_id=component_id, source_event_ids=source_event_ids)

    @classmethod
    def _computed_draw(cls, kind: str, *, rep_id: str, period: str, posting: str, plan_id: str, plan_version: int,
                       scope: str, amount: Decimal, currency: str, recoverable: bool, snapshot_version: int,
                       at_close: bool, component_id: str, source_event_ids: Iterable[str]) -> Entry:
        what = RECOVERABLE if recoverable else "draw (not recoverable)"
        source = "period close, without credits" if at_close else f"snapshot v{snapshot_version}"
        late = f", for {period} (closed when it arrived)" if posting != period else ""
        action = "recovered from earnings" if kind == DRAW_RECOVERY_KIND else "paid"
        version = f"close@{snapshot_version}" if at_close else str(snapshot_version)
        return cls(
            kind=kind, rep_id=rep_id, period=posting, corrects_period=period if posting != period else None,
            explanation=f"{what} {action} as of {source}{late}", plan_id=plan_id, scope=scope,
            plan_version=plan_version, component_id=component_id, amount=amount, currency=currency,
            snapshot_version=snapshot_version, source_event_ids=tuple(source_event_ids),
            idempotency_key=f"{kind}:{rep_id}:{period}:{component_id}:{version}",
        )

    @classmethod
    def payment(cls, *, payout_id: str, rep_id: str, scope: str, period: str, amount: Decimal, currency: str,
                actor_id: str) -> Entry:
        """Payroll paid a payout line of ``amount``: the entry that brings the balance to zero."""
        return cls(kind=PAYMENT_KIND, rep_id=rep_id, period=period, scope=scope, component_id="payment",
                   amount=-amount, currency=currency, idempotency_key=f"payment:{payout_id}",
                   created_by=actor_id, explanation=f"paid by payroll as {payout_id}")

    @classmethod
    def recompute_adjustment(cls, *, rep_id: str, period: str, posting: str, plan_id: str, plan_version: int,
                             scope: str, component_id: str, ledger_amount: Decimal, expected_amount: Decimal,
                             currency: str, actor_id: str) -> Entry:
        """A batch recompute of ``period`` computes ``expected_amount`` where the ledger holds
        ``ledger_amount``: an adjustment of the difference. The key carries both amounts (a
        fingerprint), so a re-run over the same ledger state books nothing new."""
        fingerprint = hashlib.sha256(f"{ledger_amount}|{expected_amount}".encode()).hexdigest()[:16]
        return cls(
            kind="adjustment", rep_id=rep_id, period=posting, plan_id=plan_id, scope=scope,
            plan_version=plan_version, component_id=component_id, amount=expected_amount - ledger_amount,
            currency=currency, created_by=actor_id, corrects_period=period if posting != period else None,
            explanation=(f"recompute of {period}: ledger had {ledger_amount}, "
                         f"the plan engine computes {expected_amount}"),
            idempotency_key=f"recompute:{rep_id}:{period}:{component_id}:{fingerprint}",
        )

    @classmethod
    def recompute_draw(cls, *, kind: str, recoverable: bool, rep_id: str, period: str, posting: str, plan_id: str,
                       plan_version: int, scope: str, component_id: str, ledger_amount: Decimal,
                       expected_amount: Decimal, currency: str, actor_id: str) -> Entry:
        """A batch recompute of ``period`` corrects a draw's top-up (``kind`` ``draw``) or recovery
        (``draw_recovery``) from ``ledger_amount`` to ``expected_amount``: booked with the draw's own kind,
        as computed earnings (no ``created_by``: a draw a person posts is one they owe; the actor is in the
        explanation and the audit record), keyed like :meth:`recompute_adjustment`."""
        if kind not in DRAW_ENTRY_KINDS:
            raise ValueError(f"kind {kind!r} is not a draw kind: use one of {DRAW_ENTRY_KINDS}")
        fingerprint = hashlib.sha256(f"{ledger_amount}|{expected_amount}".encode()).hexdigest()[:16]
        what = RECOVERABLE if recoverable or kind == DRAW_RECOVERY_KIND else "draw (not recoverable)"
        action = "recovered from earnings" if kind == DRAW_RECOVERY_KIND else "paid"
        return cls(
            kind=kind, rep_id=rep_id, period=posting, plan_id=plan_id, scope=scope,
            plan_version=plan_version, component_id=component_id, amount=expected_amount - ledger_amount,
            currency=currency, corrects_period=period if posting != period else None,
            explanation=(f"{what} {action}, corrected by the recompute of {period} ({actor_id}): ledger had "
                         f"{ledger_amount}, the plan engine computes {expected_amount}"),
            idempotency_key=f"recompute:{kind}:{rep_id}:{period}:{component_id}:{fingerprint}",
        )

    @classmethod
    def lineage_adjustment(cls, *, lineage: str, previous: str | None, rep_id: str, period: str, posting: str,
                           plan_id: str, plan_version: int, scope: str, component_id: str, booked: Decimal,
                           rebuilt: Decimal, currency: str, actor_id: str) -> Entry:
        """Adopting ``lineage`` whose rebuilt state computes ``rebuilt`` where ``booked`` was booked."""
        return cls(
            kind="adjustment", rep_id=rep_id, period=posting, plan_id=plan_id, scope=scope,
            plan_version=plan_version, component_id=component_id, amount=rebuilt - booked, currency=currency,
            created_by=actor_id, corrects_period=period if posting != period else None,
            explanation=(f"lineage adoption: {period} booked {booked} under {previous or 'no lineage'}, "
                         f"the rebuilt state {lineage} computes {rebuilt}"),
            idempotency_key=f"lineage:{lineage}:{rep_id}:{period}:{component_id}",
        )

    @classmethod
    def manual(cls, *, key: str, actor_id: str, rep_id: str, scope: str, period: str, component_id: str,
               amount: Decimal, currency: str, reason: str, kind: str = "manual", plan_id: str = "") -> Entry:
        """An entry a person posts (one of :data:`MANUAL_KINDS`) under the key the caller chose,
        stored as given (the API prefixes its clients' keys with ``manual:``)."""
        if kind not in MANUAL_KINDS:
            raise ValueError(f"kind {kind!r} cannot be posted by hand: use one of {MANUAL_KINDS}")
        return cls(kind=kind, rep_id=rep_id, period=period, plan_id=plan_id, scope=scope,
                   component_id=component_id, amount=amount, currency=currency, idempotency_key=key,
                   created_by=actor_id, explanation=reason)

    @classmethod
    def dispute_resolution(cls, *, dispute_id: int, actor_id: str, rep_id: str, scope: str, period: str,
                           component_id: str, amount: Decimal, currency: str, comment: str) -> Entry:
        """An admin resolves dispute ``dispute_id`` with an adjustment of ``amount`` (a manual entry)."""
        return cls.manual(key=f"dispute:{dispute_id}", actor_id=actor_id, rep_id=rep_id, scope=scope,
                          period=period, component_id=component_id, amount=amount, currency=currency,
                          reason=f"dispute {dispute_id}: {comment}")


_COLUMNS = tuple(f.name for f in fields(Entry))

# -- what a period pays -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryGroup:
    """Entries of one rep, currency, period, component and kind, summed (as the ledger's SQL groups them)."""

    rep_id: str
    currency: str
    period: str
    component_id: str
    kind: str
    amount: Decimal
    count: int


CodeFor = Callable[[str, str], str]  # (component_id, kind) -> earning code


def payable_parts(groups: Iterable[EntryGroup], period: str, paid: set[str],
                  code_for: CodeFor | None = None, carried_code: str = "*"
                  ) -> dict[tuple[str, str], dict[str, tuple[Decimal, int]]]:
    """(rep, currency) -> earning code -> (amount, entry count) that ``period`` pays.

    Every entry of ``period`` counts, whatever its kind (earned, adjustments, draws
    and recoveries, payments); so does what each earlier *paid* period left over (a
    negative balance from an unrecovered draw), under ``carried_code``. Later periods
    and earlier unpaid ones do not. With ``code_for`` None every entry counts under ``*``.

    >>> g = [EntryGroup("r1", "EUR", "2026-Q1", "draw", "draw", Decimal(-50), 1),
    ...      EntryGroup("r1", "EUR", "2026-Q2", "commission", "earned", Decimal(120), 2),
    ...      EntryGroup("r1", "EUR", "2026-Q3", "commission", "earned", Decimal(7), 1)]
    >>> payable_parts(g, "2026-Q2", {"2026-Q1"})
    {('r1', 'EUR'): {'*': (Decimal('70'), 3)}}
    """
    result: dict[tuple[str, str], dict[str, tuple[Decimal, int]]] = {}
    key = period_sort_key(period)
    for group in groups:
        if group.period == period:
            code = code_for(group.component_id, group.kind) if code_for else "*"
        elif group.period in paid and period_sort_key(group.period) < key:
            code = carried_code if code_for else "*"
        else:
            continue
        parts = result.setdefault((group.rep_id, group.currency), {})
        amount, count = parts.get(code, (Decimal(0), 0))
        parts[code] = (amount + group.amount, count + group.count)
    return result


def payable_balance(parts: Mapping[str, tuple[Decimal, int]]) -> tuple[Decimal, int]:
    """The total of one (rep, currency)'s :func:`payable_parts`: (amount, entry count)."""
    return (sum((amount for amount, _ in parts.values()), Decimal(0)), sum(count for _, count in parts.values()))


def reconciled_totals(entries: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """Computed earnings per (rep, period earned in): the entries :func:`is_reconciled` takes, summed by
    the period they belong to (a prior-period adjustment's ``corrects_period``). A recompute must equal it.

    >>> reconciled_totals([{"rep_id": "r1", "period": "2026-Q2", "corrects_period": "2026-Q1", "kind": "adjustment",
    ...                     "amount": Decimal(5)},
    ...                    {"rep_id": "r1", "period": "2026-Q1", "kind": "earned", "amount": Decimal(10)},
    ...                    {"rep_id": "r1", "period": "2026-Q1", "kind": "manual", "amount": Decimal(99)}])
    {('r1', '2026-Q1'): Decimal('15')}
    """
    totals: dict[tuple[str, str], Decimal] = {}
    for entry in entries:
        if not is_reconciled(entry):
            continue
        key = (entry["rep_id"], entry.get("corrects_period") or entry["period"])
        totals[key] = totals.get(key, Decimal(0)) + Decimal(entry["amount"])
    return totals
