"""Re-read records from Salesforce's REST API when the change stream lost detail.

Two causes: a gap event (``GAP_*``: Salesforce could not build the change event, the
header names the records) and a refused replay id (the outage outlasted the event
retention, so every change in between is unknown). Either way the records are fetched
as they are now with SOQL ``queryAll`` (deleted rows included) over the subscriber's
OAuth token, mapped with the same field mapping and published as ordinary changes:

- event id ``sf-reread:<record id>:<SystemModstamp ms>``: re-reading twice adds nothing;
- commit timestamp = ``SystemModstamp``, so a later stream change still wins field by field;
- ``UPDATE`` with every mapped field (null clears), ``DELETE`` for a deleted row;
- ``change_origin`` ``attain-reconcile:<reason>``, ``commit_user`` = ``LastModifiedById``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from services.ingest import metrics
from services.ingest.publisher import Incoming, Publisher
from services.ingest.salesforce.auth import TokenSource
from services.ingest.salesforce.changes import split_fields
from services.ingest.salesforce.mapping import FieldMapping, ObjectMapping, convert

log = logging.getLogger("attain.ingest.salesforce")
SYSTEM_FIELDS = ("Id", "IsDeleted", "SystemModstamp", "LastModifiedById")
IDS_PER_QUERY = 200
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{1,18}$")


class ReconcileError(RuntimeError):
    """The REST API refused a query; the message has its answer (never the token)."""


def channel_entities(channel: str, mapping: FieldMapping) -> list[str]:
    """The Salesforce objects a channel carries: ``/data/OpportunityChangeEvent`` -> Opportunity,
    ``/data/Thing__ChangeEvent`` -> Thing__c, ``/data/ChangeEvents`` -> every mapped object.

    >>> from services.ingest.salesforce.mapping import parse_mapping
    >>> mapping = parse_mapping({"objects": {"Opportunity": {}, "OpportunitySplit": {"splits_of": "Opportunity"}}})
    >>> [channel_entities(c, mapping) for c in ("/data/OpportunityChangeEvent", "/data/Deal__ChangeEvent",
    ...                                          "/data/ChangeEvents")]
    [['Opportunity'], ['Deal__c'], ['Opportunity', 'OpportunitySplit']]
    """
    name = channel.rsplit("/", 1)[-1]
    if name == "ChangeEvents":
        return sorted(mapping.objects)
    entity = name.removesuffix("ChangeEvent")
    return [entity + "c" if entity.endswith("__") else entity]


class Reconciler:
    def __init__(self, tokens: TokenSource, mapping: FieldMapping, publisher: Publisher, *,
                 api_version: str = "60.0", http: httpx.AsyncClient | None = None) -> None:
        self._tokens = tokens
        self._mapping = mapping
        self._publisher = publisher
        self._api_version = api_version
        self._http = http or httpx.AsyncClient(timeout=60)

    async def close(self) -> None:
        await self._http.aclose()

    async def split_parents(self, entity: str, split_ids: Iterable[str]) -> dict[str, str]:
        """The parent (opportunity) of each split id, deleted splits included."""
        splits = self._mapping.for_entity(entity).splits
        assert splits is not None
        rows = await self._rows_by_id(entity, ["Id", splits.parent], split_ids)
        return {str(row["Id"]): str(row[splits.parent]) for row in rows if row.get(splits.parent)}

    async def reread_ids(self, channel: str, entity: str, record_ids: Iterable[str], reason: str) -> Awaitable[Any]:
        """Fetch ``record_ids`` of ``entity`` and publish them; the awaitable completes when Kafka has them."""
        object_mapping = self._mapping.for_entity(entity)
        rows = await self._rows_by_id(entity, self._select(object_mapping), record_ids)
        return self._publish(channel, entity, object_mapping, rows, reason)

    async def reread_window(self, channel: str, entities: Iterable[str], since_ms: int, until_ms: int,
                            reason: str) -> Awaitable[Any]:
        """Fetch every record of ``entities`` modified in [since, until] and publish them."""
        since, until = _soql_datetime(since_ms), _soql_datetime(until_ms)
        done = []
        for entity in entities:
            object_mapping = self._mapping.for_entity(entity)
            rows = await self._query(f"SELECT {', '.join(self._select(object_mapping))} FROM {entity} "
                                     f"WHERE SystemModstamp >= {since} AND SystemModstamp <= {until}")
            done.append(self._publish(channel, entity, object_mapping, rows, reason))
        log.warning("salesforce records re-read after a lost replay position",
                    extra={"channel": channel, "since": since, "until": until, "reason": reason})
        return _all(done)

    def _select(self, object_mapping: ObjectMapping) -> list[str]:
        splits = object_mapping.splits
        if splits is not None:
            names = [splits.parent, splits.rep, splits.percent, splits.split_type]
        else:
            names = [name.rsplit(".", 1)[-1] for name in object_mapping.fields]  # REST flattens compound fields
        return list(dict.fromkeys([*SYSTEM_FIELDS, *names]))

    async def _rows_by_id(self, entity: str, select: list[str], record_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = sorted({record_id for record_id in record_ids if _SALESFORCE_ID.match(record_id)})
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ", ".join(f"'{record_id}'" for record_id in ids[start:start + IDS_PER_QUERY])
            rows += await self._query(f"SELECT {', '.join(select)} FROM {entity} WHERE Id IN ({chunk})")
        return rows

    async def _query(self, soql: str) -> list[dict[str, Any]]:
        """``queryAll`` (deleted rows too), every page; a refused token is refreshed once."""
        token = await self._tokens.token()
        path = f"/services/data/v{self._api_version}/queryAll?q={quote(soql)}"
        rows: list[dict[str, Any]] = []
        refreshed = False
        while path:
            response = await self._http.get(token.instance_url + path,
                                            headers={"Authorization": f"Bearer {token.token}"})
            if response.status_code == 401 and not refreshed:
                token, refreshed = await self._tokens.refresh(token), True
                continue
            if response.status_code != 200:
                raise ReconcileError(f"queryAll answered {response.status_code}: {response.text[:300]}")
            body = json.loads(response.text, parse_float=Decimal)  # money stays exact
            rows += body.get("records", [])
            path = "" if body.get("done", True) else str(body.get("nextRecordsUrl", ""))
        return rows

    def _publish(self, channel: str, entity: str, object_mapping: ObjectMapping, rows: list[dict[str, Any]],
                 reason: str) -> Awaitable[Any]:
        source = f"salesforce:{channel}"
        entries = [Incoming(item, json.dumps(row, default=str).encode(), f"{source}#reread:{row.get('Id')}")
                   for row in rows if (item := self._item(entity, object_mapping, row, reason)) is not None]
        metrics.REREAD_RECORDS.labels(channel, reason).inc(len(entries))
        _, acknowledged = self._publisher.submit(entries, source)
        return acknowledged

    def _item(self, entity: str, object_mapping: ObjectMapping, row: dict[str, Any],
              reason: str) -> dict[str, Any] | None:
        record_id, modstamp = str(row.get("Id") or ""), _millis(row.get("SystemModstamp"))
        deleted = bool(row.get("IsDeleted"))
        head = {"event_id": f"sf-reread:{record_id}:{modstamp}", "object_type": object_mapping.object_type,
                "commit_timestamp": modstamp, "change_origin": f"attain-reconcile:{reason}",
                **({"commit_user": str(row["LastModifiedById"])} if row.get("LastModifiedById") else {})}
        splits = object_mapping.splits
        if splits is not None:
            parent = row.get(splits.parent)
            if parent is None or (splits.split_types and str(row.get(splits.split_type)) not in splits.split_types):
                return None
            fields = split_fields(splits, record_id, None if deleted else row.get)
            return {**head, "record_id": str(parent), "change_type": "UPDATE", "fields": fields}
        if deleted:
            return {**head, "record_id": record_id, "change_type": "DELETE", "fields": {}}
        fields = {rule.target: convert(row.get(name.rsplit(".", 1)[-1]), rule, name)
                  for name, rule in object_mapping.fields.items()}
        return {**head, "record_id": record_id, "change_type": "UPDATE", "fields": fields}


async def _all(done: list[Awaitable[Any]]) -> None:
    for acknowledged in done:
        await acknowledged


def _soql_datetime(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(value: Any) -> int:
    """A REST datetime (``2026-01-15T10:00:00.000+0000``) as epoch milliseconds; 0 when missing."""
    if not value:
        return 0
    return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
