"""Declared input of the ledger's HTTP API: every path, query and body value has a type and bounds here.

The handlers in :mod:`services.ledger.api` name these types in their signatures;
aiohttp-pydantic validates each request against them before a handler runs and
builds the OpenAPI document (``docs/openapi/ledger.json``) from the same types.

Bodies are strict: a boolean is a JSON boolean (``"false"`` is refused), an id a
JSON integer, unknown fields are refused. Path and query values arrive as text, so
their numbers are parsed from digits, then bounded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from attain.core.money import MINOR_UNITS
from services.ledger.postings import MANUAL_KINDS

# PostgreSQL bigint: ids of entries and disputes.
BIGINT_MAX = 2**63 - 1

# A ledger period: a quarter (2026-Q1, or fiscal FY2027-Q1) or a month (2026-03), the names attain.ledger.periods moves
# through open -> locked -> approved -> paid.
LEDGER_PERIOD = r"^([0-9]{4}-(Q[1-4]|0[1-9]|1[0-2])|FY[0-9]{4}-Q[1-4])$"  # ASCII digits only
# A period scope is a plan family (plan id) or a region: a letter or digit, then letters, digits, . _ : -
SCOPE = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# A rep or component id as the CRM and the plans spell it: no whitespace, no slash, no control character.
IDENTIFIER = r"^[^\s/\\\x00-\x1f\x7f]{1,255}$"
# Money as exact decimal text, bounded to the ledger's NUMERIC(24,6): up to 18 digits before the point, 6 after.
MONEY_TEXT = r"^-?[0-9]{1,18}(\.[0-9]{1,6})?$"

LedgerPeriod = Annotated[str, StringConstraints(pattern=LEDGER_PERIOD, max_length=9), Field(examples=["2026-Q1"])]
Scope = Annotated[str, StringConstraints(pattern=SCOPE, max_length=128), Field(examples=["ae"])]
RepId = Annotated[str, StringConstraints(pattern=IDENTIFIER, max_length=255), Field(examples=["alice"])]
ComponentId = Annotated[str, StringConstraints(pattern=IDENTIFIER, max_length=255)]
EntityId = Annotated[int, Field(ge=1, le=BIGINT_MAX, examples=[1])]
MoneyText = Annotated[str, StringConstraints(pattern=MONEY_TEXT, max_length=26), Field(examples=["150.25"])]
Comment = Annotated[str, StringConstraints(max_length=4000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"\S")]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Currency = Literal[tuple(sorted(MINOR_UNITS))]  # type: ignore[valid-type]  # ISO 4217, attain.core.money
ManualKind = Literal[MANUAL_KINDS]  # type: ignore[valid-type]
RowLimit = Annotated[int, Field(ge=1, le=1000, examples=[100])]
PayoutFormat = Literal["csv", "xlsx", "json"]


class Body(BaseModel):
    """Strict JSON: no coercion ("false" is not a boolean, "7" not an id) and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Decision(Body):
    """An approval or rejection of the next step of a locked period."""

    approve: bool = Field(description="true approves the step, false rejects it (a JSON boolean)")
    comment: Comment = Field("", description="why; a rejection needs one")


class ManualEntry(Body):
    """An entry a person posts into an open period; audited."""

    rep_id: RepId
    scope: Scope
    period: LedgerPeriod
    amount: MoneyText = Field(description="exact decimal text, at most the currency's minor unit of decimals")
    currency: Currency
    idempotency_key: IdempotencyKey = Field(description="a retry with the same key posts nothing new")
    reason: Reason
    component_id: ComponentId = "manual"
    kind: ManualKind = "manual"


class NewDispute(Body):
    """A rep questions one of their entries."""

    entry_id: EntityId
    comment: Reason


class Resolution(Body):
    """An admin resolves a dispute: with an adjustment (posted as a manual entry) or none (a rejection)."""

    comment: Reason
    adjustment: MoneyText | None = None
    scope: Scope | None = Field(None, description="scope of the open period the adjustment goes to")
    period: LedgerPeriod | None = Field(None, description="open period the adjustment goes to; default the entry's")


class AccessRecord(Body):
    """A service acting for the caller records the caller's read of a rep's pay (a live stream)."""

    what: Literal["stream.open"] = Field(description="what was read: stream.open, a live stream of the rep's pay")
    door: Literal["notifier", "portal"] = Field("notifier", description="the service the read was made at")


class Problem(BaseModel):
    """Every refusal: the reason, and for invalid input where and what."""

    error: str
    details: list[dict[str, object]] | None = None
