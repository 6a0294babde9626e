"""The measures and crediting roles every plan book starts with (a book may redefine them).

Field names follow the canonical CRM record ingest produces (``owner_id``,
``amount``, ``close_date``, ``is_won``...).
"""

from __future__ import annotations

from attain.core.filters import compile_filter
from attain.core.plans import CreditRole, Measure

BUILTIN_ROLES: dict[str, CreditRole] = {
    "owner": CreditRole("owner", "field", field="owner_id"),
    "sdr": CreditRole("sdr", "field", field="sdr_id"),
    "split": CreditRole("split", "splits", field="splits", of="owner_id"),
    "manager": CreditRole("manager", "managers", of="owner", levels=1),
}

_WON = compile_filter({"is_won": True}, "builtin", [])

BUILTIN_MEASURES: dict[str, Measure] = {
    "closed_won_amount": Measure("closed_won_amount", "Opportunity", "sum", "close_date", _WON, "amount", "currency"),
    "closed_won_acv": Measure("closed_won_acv", "Opportunity", "sum", "close_date", _WON, "acv", "currency"),
    "closed_won_count": Measure("closed_won_count", "Opportunity", "count", "close_date", _WON),
    "qualified_pipeline": Measure(
        "qualified_pipeline", "Opportunity", "sum", "qualified_date",
        compile_filter({"qualified_date": {"exists": True}}, "builtin", []), "amount", "currency"),
    "demos_booked": Measure(
        "demos_booked", "Event", "count", "created_date", compile_filter({"type": "Demo"}, "builtin", [])),
    "demos_held": Measure(
        "demos_held", "Event", "count", "activity_date",
        compile_filter({"type": "Demo", "status": "Held"}, "builtin", [])),
    "meetings_held": Measure(
        "meetings_held", "Event", "count", "activity_date", compile_filter({"status": "Held"}, "builtin", [])),
    "sqls": Measure("sqls", "Lead", "count", "sql_date", compile_filter({"sql_date": {"exists": True}}, "builtin", [])),
}
