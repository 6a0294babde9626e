"""Re-drive Salesforce dead letters: decode the kept Avro payload again with its schema (``GetSchema``)
and the *current* field mapping, e.g. after adding an object to the mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.ingest.salesforce.app import open_channel, token_source
from services.ingest.salesforce.changes import canonical_items
from services.ingest.salesforce.config import SalesforceSettings
from services.ingest.salesforce.mapping import load_mapping
from services.ingest.salesforce.proto.pubsub_api_pb2_grpc import PubSubStub
from services.ingest.salesforce.schemas import SchemaCache
from services.ingest.salesforce.subscriber import parse_dead_letter_position


async def redrive_items(
    dead_letters: Sequence[tuple[str, bytes]], settings: SalesforceSettings
) -> list[list[dict[str, Any]] | Exception]:
    """For each (source position, original payload): its canonical items, or why there are none."""
    mapping = load_mapping(settings.mapping_file)
    tokens = token_source(settings)
    channel = open_channel(settings)
    stub = PubSubStub(channel)
    schemas = SchemaCache(stub, tokens.token)
    outcomes: list[list[dict[str, Any]] | Exception] = []
    try:
        for source, payload in dead_letters:
            try:
                channel_name, replay_id, schema_id = parse_dead_letter_position(source)
                schema = await schemas.get(schema_id)
                outcomes.append(canonical_items(schema.decode_payload(payload), schema, mapping, channel_name,
                                                replay_id))
            except Exception as error:  # noqa: BLE001 - reported per letter, the others still go
                outcomes.append(error)
    finally:
        await channel.close()
        await tokens.close()
    return outcomes
