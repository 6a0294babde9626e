"""The ``notifications`` and ``notifications.preferences`` contracts (schemas/notifications*): the notifier's
durable record of milestones (and of the last standing it saw per rep and period), and people's preferences.

>>> from decimal import Decimal as D
>>> from attain.core.milestones import approved
>>> record = NotificationRecord.of(approved("r1", "2026-Q1", "ae", "EUR", D("10.50"), "boss"), "approved",
...                                recorded_at=1)
>>> NotificationRecord.from_avro(record.to_avro()) == record, record.milestone().amount, record.fields["approved_by"]
(True, Decimal('10.50'), 'boss')
>>> seen = Standing("r1", "2026-Q1", "EUR", 4, D("800"), (ComponentStanding("commission", D("800"), D("0.8")),))
>>> NotificationRecord.standing(seen).to_standing() == seen
True
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.contracts.wire import to_millis
from attain.core.milestones import ComponentStanding, Milestone, Standing
from attain.notify.preferences import Preferences, PushSubscription

PENDING = "pending"
DELIVERED = "delivered"
STANDING = "standing"


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    key: str
    kind: str
    rep_id: str
    period: str
    status: str
    fields: Mapping[str, str]
    sentence: str = ""
    channels: tuple[str, ...] = ()
    recorded_at: int = field(default_factory=lambda: int(time.time() * 1000))

    @classmethod
    def of(cls, milestone: Milestone, sentence: str, status: str = PENDING, channels: tuple[str, ...] = (),
           recorded_at: int | None = None) -> NotificationRecord:
        return cls(milestone.key, milestone.kind, milestone.rep_id, milestone.period, status,
                   milestone.structured(), sentence, channels,
                   int(time.time() * 1000) if recorded_at is None else recorded_at)

    def milestone(self) -> Milestone:
        """The milestone this record holds (its structured fields back to values)."""
        data = dict(self.fields)
        known = {"key", "kind", "rep_id", "period", "currency", "amount", "delta", "component_id", "threshold",
                 "label", "deals", "version"}
        return Milestone(self.key, self.kind, self.rep_id, self.period, data.get("currency", ""),
                         Decimal(data.get("amount") or 0), Decimal(data.get("delta") or 0),
                         data.get("component_id", ""),
                         Decimal(data["threshold"]) if data.get("threshold") else None, data.get("label", ""),
                         tuple(d for d in data.get("deals", "").split(",") if d), int(data.get("version") or 0),
                         {k: v for k, v in data.items() if k not in known})

    @classmethod
    def standing(cls, standing: Standing) -> NotificationRecord:
        data = {"currency": standing.currency, "version": str(standing.version), "total": str(standing.total)}
        for c in standing.components:
            data[f"earned:{c.component_id}"] = str(c.earned)
            if c.attainment is not None:
                data[f"attainment:{c.component_id}"] = str(c.attainment)
        return cls(standing_key(standing.rep_id, standing.period), STANDING, standing.rep_id, standing.period,
                   STANDING, data)

    def to_standing(self) -> Standing:
        data = self.fields
        components = tuple(
            ComponentStanding(name.split(":", 1)[1], Decimal(value),
                              Decimal(data[f"attainment:{name.split(':', 1)[1]}"])
                              if f"attainment:{name.split(':', 1)[1]}" in data else None)
            for name, value in sorted(data.items()) if name.startswith("earned:"))
        return Standing(self.rep_id, self.period, data["currency"], int(data["version"]), Decimal(data["total"]),
                        components)

    def to_avro(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "rep_id": self.rep_id, "period": self.period,
                "status": self.status, "fields": dict(self.fields), "sentence": self.sentence,
                "channels": list(self.channels), "recorded_at": self.recorded_at}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> NotificationRecord:
        return cls(record["key"], record["kind"], record["rep_id"], record["period"], record["status"],
                   dict(record["fields"]), record.get("sentence", ""), tuple(record.get("channels") or ()),
                   to_millis(record["recorded_at"]))


def standing_key(rep_id: str, period: str) -> str:
    return f"standing|{rep_id}|{period}"


def preferences_to_avro(preferences: Preferences, updated_by: str = "") -> dict[str, Any]:
    return {"person_id": preferences.person_id, "channels": list(preferences.channels), "locale": preferences.locale,
            "time_zone": preferences.time_zone, "quiet_start": preferences.quiet_start,
            "quiet_end": preferences.quiet_end, "digest": preferences.digest, "digest_at": preferences.digest_at,
            "email": preferences.email, "slack_webhook": preferences.slack_webhook,
            "teams_webhook": preferences.teams_webhook,
            "push": [{"endpoint": p.endpoint, "p256dh": p.p256dh, "auth": p.auth} for p in preferences.push],
            "updated_at": int(time.time() * 1000), "updated_by": updated_by}


def preferences_from_avro(record: Mapping[str, Any]) -> Preferences:
    return Preferences(record["person_id"], tuple(record["channels"]), record.get("locale", "en"),
                       record.get("time_zone", "UTC"), record.get("quiet_start", ""), record.get("quiet_end", ""),
                       record.get("digest", "none"), record.get("digest_at", "08:00"), record.get("email", ""),
                       record.get("slack_webhook", ""), record.get("teams_webhook", ""),
                       tuple(PushSubscription(p["endpoint"], p["p256dh"], p["auth"]) for p in record.get("push", ())))
