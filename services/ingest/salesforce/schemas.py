"""Event schemas by schema id, fetched once with ``GetSchema`` and kept for the process's life."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc

from services.ingest import metrics
from services.ingest.salesforce.auth import AccessToken
from services.ingest.salesforce.changes import EventSchema
from services.ingest.salesforce.proto import pubsub_api_pb2 as pb
from services.ingest.salesforce.proto.pubsub_api_pb2_grpc import PubSubStub

log = logging.getLogger("attain.ingest.salesforce")


class UnknownSchema(LookupError):
    """Salesforce does not know the schema id an event names (or it is not Avro)."""


class SchemaCache:
    def __init__(self, stub: PubSubStub, token: Callable[[], Awaitable[AccessToken]]) -> None:
        self._stub = stub
        self._token = token
        self._schemas: dict[str, EventSchema] = {}

    async def get(self, schema_id: str) -> EventSchema:
        schema = self._schemas.get(schema_id)
        if schema is not None:
            return schema
        metrics.SCHEMA_FETCHES.inc()
        token = await self._token()
        try:
            info = await self._stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=token.metadata())
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise UnknownSchema(f"GetSchema({schema_id!r}): {error.code().name}: {error.details()}") from None
            raise  # auth and transport errors: the subscriber reconnects
        try:
            schema = EventSchema.from_json(schema_id, info.schema_json)
        except Exception as error:
            raise UnknownSchema(f"schema {schema_id!r} is not a usable Avro schema: {error}") from None
        self._schemas[schema_id] = schema
        log.info("salesforce schema loaded", extra={"schema_id": schema_id})
        return schema
