"""Milestones: what is worth telling a rep, found by comparing two standings of one (rep, period).

Pure: no I/O, Decimal amounts, the same answer for the same input. The notifier (services/notifier)
reads snapshots, keeps the standing it last saw per (rep, period), and records each milestone once
under its :attr:`Milestone.key`; this module only says which milestones a change from ``before`` to
``after`` makes.

Kinds and keys (``rep|period|kind|...``):

- ``earned``: the period's total earned changed; one per snapshot version (``rep|period|earned|v7``), with the
  deals (CRM records) behind the change.
- ``attainment``: a component's attainment reached a threshold (``rep|period|attainment|quota|1.00``).
- ``tier``: a component's attainment entered a tier of its rate table (``rep|period|tier|quota|1.00``,
  the tier's lower bound).
- ``unlocked``: a component without a quota (a bonus or a SPIFF) earned for the first time
  (``rep|period|unlocked|spiff``).
- ``clawback``: a component's earned amount went down (a reversal), one per snapshot version
  (``rep|period|clawback|commission|v9``).
- ``approved``: the ledger approved the period's payout to the rep; one per payout scope and currency, like
  ``paid`` (``rep|period|approved|scope|CUR``).

From the ledger's facts (topic ``ledger.events``, :class:`LedgerFact`, :func:`from_ledger`):

- ``statement_ready``: the period's statement in a payout scope was issued (the period locked)
  (``rep|period|statement_ready|scope``).
- ``paid``: finance marked the period paid; one per payout scope and currency (``rep|period|paid|scope|CUR``).
- ``dispute_answered``: a dispute the rep raised got its n-th answer (``rep|period|dispute_answered|42|1``).
- ``statement_changed``: an issued statement changed (a prior-period adjustment), with its cause; one per
  payout scope, currency and change: a snapshot version or a posted entry
  (``rep|period|statement_changed|scope|EUR|v9``, ``...|scope|EUR|e120``).

A crossing key names no occurrence: once 100% was reached in a period, falling below it after a clawback
and reaching it again is the same milestone, told once (the rep was told; telling again would read as new
money). Only ``earned`` and ``clawback`` name the snapshot version, since each such change is news.

>>> from decimal import Decimal as D
>>> before = Standing("r1", "2026-Q1", "EUR", 3, D("700"), (ComponentStanding("commission", D("700"), D("0.70")),))
>>> after = Standing("r1", "2026-Q1", "EUR", 4, D("800"), (ComponentStanding("commission", D("800"), D("0.80")),),
...                  ("006A",))
>>> [m.key for m in detect(before, after)], detect(after, after)
(['r1|2026-Q1|earned|v4', 'r1|2026-Q1|attainment|commission|0.75'], [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from attain.core.tiers import Tier

EARNED = "earned"
ATTAINMENT = "attainment"
TIER = "tier"
UNLOCKED = "unlocked"
CLAWBACK = "clawback"
APPROVED = "approved"
STATEMENT_READY = "statement_ready"
PAID = "paid"
DISPUTE_ANSWERED = "dispute_answered"
STATEMENT_CHANGED = "statement_changed"
LEDGER_KINDS = (STATEMENT_READY, PAID, DISPUTE_ANSWERED, STATEMENT_CHANGED)
KINDS = (EARNED, ATTAINMENT, TIER, UNLOCKED, CLAWBACK, APPROVED, *LEDGER_KINDS)
DEFAULT_THRESHOLDS = (Decimal("0.50"), Decimal("0.75"), Decimal("1.00"), Decimal("1.25"))
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ComponentStanding:
    component_id: str
    earned: Decimal
    attainment: Decimal | None = None  # None: no quota (a bonus, a SPIFF, a draw)


@dataclass(frozen=True, slots=True)
class Standing:
    """One (rep, period) as of one snapshot version."""

    rep_id: str
    period: str
    currency: str
    version: int
    total: Decimal
    components: tuple[ComponentStanding, ...] = ()
    deals: tuple[str, ...] = ()  # the CRM records whose changes made this version

    def component(self, component_id: str) -> ComponentStanding | None:
        return next((c for c in self.components if c.component_id == component_id), None)


@dataclass(frozen=True, slots=True)
class Milestone:
    """One thing to tell a rep; ``key`` is its identity everywhere (record, deliveries, idempotency id)."""

    key: str
    kind: str
    rep_id: str
    period: str
    currency: str
    amount: Decimal  # the kind's amount: total earned, the component's earned, the payout
    delta: Decimal = ZERO  # the change that made it (earned, clawback)
    component_id: str = ""
    threshold: Decimal | None = None  # attainment threshold, or the tier's lower bound
    label: str = ""  # the tier's label
    deals: tuple[str, ...] = ()
    version: int = 0
    fields: Mapping[str, str] = field(default_factory=dict)

    def structured(self) -> dict[str, str]:
        """Every field as text (decimals exact), for the record, webhooks and the gRPC message."""
        data = {"key": self.key, "kind": self.kind, "rep_id": self.rep_id, "period": self.period,
                "currency": self.currency, "amount": str(self.amount), "delta": str(self.delta),
                "component_id": self.component_id, "threshold": "" if self.threshold is None else str(self.threshold),
                "label": self.label, "deals": ",".join(self.deals), "version": str(self.version)}
        return {**data, **self.fields}


def milestone_key(rep_id: str, period: str, kind: str, *parts: str) -> str:
    """``rep|period|kind|part...``; a ``|`` inside a part is escaped so two keys never collide."""
    return joined_key(rep_id, period, kind, *parts)


def joined_key(*parts: str) -> str:
    """``part|part|...`` with ``\\`` and ``|`` escaped inside each part: distinct parts, distinct keys."""
    return "|".join(p.replace("\\", "\\\\").replace("|", "\\|") for p in parts)


def _crossed(before: Decimal | None, after: Decimal | None, level: Decimal) -> bool:
    """Reached ``level`` going up: below it before (nothing counts as below), at or above it now."""
    return after is not None and after >= level and (before is None or before < level)


def detect(before: Standing | None, after: Standing, thresholds: Sequence[Decimal] = DEFAULT_THRESHOLDS,
           tiers: Mapping[str, Sequence[Tier]] | None = None) -> list[Milestone]:
    """The milestones of going from ``before`` (None: nothing seen yet) to ``after``.

    A version not newer than ``before``'s is a replay or a stale copy: no milestone.
    ``tiers``: per component, the attainment tiers of its rate (deal-size tiers are not crossings).
    """
    if before is not None and after.version <= before.version:
        return []
    rep, period, cur = after.rep_id, after.period, after.currency
    found: list[Milestone] = []
    previous_total = ZERO if before is None else before.total
    if after.total != previous_total:
        found.append(Milestone(milestone_key(rep, period, EARNED, f"v{after.version}"), EARNED, rep, period, cur,
                               after.total, after.total - previous_total, deals=after.deals, version=after.version))
    for component in after.components:
        old = before.component(component.component_id) if before is not None else None
        was = old.attainment if old is not None else None
        earned_before = old.earned if old is not None else ZERO
        cid = component.component_id
        for level in sorted(thresholds):
            if _crossed(was, component.attainment, level):
                found.append(Milestone(milestone_key(rep, period, ATTAINMENT, cid, str(level)), ATTAINMENT, rep,
                                       period, cur, component.earned, component_id=cid, threshold=level,
                                       deals=after.deals, version=after.version,
                                       fields={"attainment": str(component.attainment)}))
        for tier in (tiers or {}).get(cid, ()):
            if tier.lower > ZERO and _crossed(was, component.attainment, tier.lower):
                found.append(Milestone(milestone_key(rep, period, TIER, cid, str(tier.lower)), TIER, rep, period,
                                       cur, component.earned, component_id=cid, threshold=tier.lower,
                                       label=tier.label, deals=after.deals, version=after.version,
                                       fields={"attainment": str(component.attainment), "rate": str(tier.rate)}))
        if component.attainment is None and earned_before <= ZERO < component.earned:
            found.append(Milestone(milestone_key(rep, period, UNLOCKED, cid), UNLOCKED, rep, period, cur,
                                   component.earned, component.earned, cid, deals=after.deals,
                                   version=after.version))
        if old is not None and component.earned < old.earned:
            found.append(Milestone(milestone_key(rep, period, CLAWBACK, cid, f"v{after.version}"), CLAWBACK, rep,
                                   period, cur, component.earned, component.earned - old.earned, cid,
                                   deals=after.deals, version=after.version))
    return found


def approved(rep_id: str, period: str, scope: str, currency: str, amount: Decimal, approved_by: str = "",
             payout_id: str = "") -> Milestone:
    """The ledger approved ``period``'s payout of ``amount`` to ``rep_id`` in payout ``scope`` (one per scope and
    currency: a payout line). Each scope's period is approved on its own, and the notifier records a key once:
    without the scope in the key, a rep paid under two scopes (moved region, a plan changed mid-period) was told
    of the first approval only.

    >>> approved("r1", "2026-Q1", "ae", "EUR", Decimal("5"), "fin-1", "ae/2026-Q1/r1/EUR").key
    'r1|2026-Q1|approved|ae|EUR'
    """
    return Milestone(milestone_key(rep_id, period, APPROVED, scope, currency), APPROVED, rep_id, period, currency,
                     amount, fields={"approved_by": approved_by, "scope": scope, "payout_id": payout_id})


@dataclass(frozen=True, slots=True)
class LedgerFact:
    """A fact the ledger made true about a rep's pay (a ``ledger.events`` message, as the core sees it).

    ``details`` per kind: ``dispute_answered``: ``dispute_id``, ``answer`` (1 for the first answer),
    ``status``; ``statement_changed``: ``change`` (``v<snapshot version>`` or ``e<entry id>``), ``cause``,
    ``deals`` (comma-separated CRM record ids).
    """

    kind: str
    rep_id: str
    period: str
    currency: str = ""
    amount: Decimal | None = None
    actor_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


def _needed(fact: LedgerFact, *names: str) -> list[str]:
    missing = [name for name in names if not fact.details.get(name)]
    if missing:
        raise ValueError(f"a {fact.kind} fact of {fact.rep_id} {fact.period} needs {', '.join(missing)} in its details")
    return [fact.details[name] for name in names]


def from_ledger(fact: LedgerFact, scope: str) -> Milestone:
    """The milestone of one ledger fact of payout ``scope`` (its event's); ValueError for a fact that cannot
    make one (an unknown kind, a missing detail), which the notifier dead-letters.

    A rep paid under two scopes gets a statement, a payment and changed statements in each for the same period
    and currency: their keys name the scope, or the notifier, which records a key once, would drop the second.

    >>> from_ledger(LedgerFact(DISPUTE_ANSWERED, "r1", "2026-Q1", "EUR", Decimal("5"),
    ...                        details={"dispute_id": "42", "answer": "1", "status": "adjusted"}), "ae").key
    'r1|2026-Q1|dispute_answered|42|1'
    >>> from_ledger(LedgerFact(PAID, "r1", "2026-Q1", "EUR", Decimal("5")), "ae").key
    'r1|2026-Q1|paid|ae|EUR'
    """
    rep, period = fact.rep_id, fact.period
    amount = fact.amount if fact.amount is not None else ZERO
    deals = tuple(d for d in fact.details.get("deals", "").split(",") if d)
    fields = {**fact.details, "actor_id": fact.actor_id}
    delta = ZERO
    if fact.kind == STATEMENT_READY:
        key = milestone_key(rep, period, STATEMENT_READY, scope)
    elif fact.kind == PAID:
        if not fact.currency or fact.amount is None:
            raise ValueError(f"a paid fact of {rep} {period} needs its currency and amount")
        key = milestone_key(rep, period, PAID, scope, fact.currency)
    elif fact.kind == DISPUTE_ANSWERED:
        key = milestone_key(rep, period, DISPUTE_ANSWERED, *_needed(fact, "dispute_id", "answer"))
        delta = amount
    elif fact.kind == STATEMENT_CHANGED:
        (change,) = _needed(fact, "change")
        key = milestone_key(rep, period, STATEMENT_CHANGED, scope, fact.currency, change)
        delta = amount
    else:
        raise ValueError(f"no milestone for a ledger fact of kind {fact.kind!r}; known: {LEDGER_KINDS}")
    return Milestone(key, fact.kind, rep, period, fact.currency, amount, delta, deals=deals, fields=fields)
