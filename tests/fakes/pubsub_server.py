"""A fake Salesforce Pub/Sub API (``eventbus.v1.PubSub``) from the same .proto, plus its OAuth endpoint.

It keeps an append-only event log per topic with 8-byte replay ids, honours flow control
(never sends more events than requested), checks the ``accesstoken`` metadata, answers an
unknown or expired replay id with INVALID_ARGUMENT and Salesforce's ``error-code`` trailer,
and can expire the current token after N events. It runs on its own event loop in a thread,
so a test can drive it while the subscriber runs in-process or as a separate process.

The OAuth endpoint's app also serves the REST API's SOQL ``queryAll`` over ``FakeOAuth.records``
(the two query shapes the reconciler sends: ``WHERE Id IN (...)`` and a ``SystemModstamp``
window), paged by ``page_size`` with ``nextRecordsUrl`` like the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
import jwt
from aiohttp import web

from services.ingest.salesforce.proto import pubsub_api_pb2 as pb
from services.ingest.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc
from tests.fakes.cdc_events import SCHEMAS, schema_json

AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_ERROR = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


@dataclass
class StoredEvent:
    replay_id: bytes
    schema_id: str
    payload: bytes


@dataclass
class Topic:
    events: list[StoredEvent] = field(default_factory=list)
    earliest_retained: int = 0  # events before this index are past retention


class FakePubSub(pb_grpc.PubSubServicer):
    def __init__(self, max_batch: int = 100, batch_pause_s: float = 0.0) -> None:
        self.topics: dict[str, Topic] = {}
        self.batch_pause_s = batch_pause_s  # a pause after each batch: a stream that lasts
        self.valid_tokens: set[str] = set()
        self.max_batch = max_batch
        self.requests: list[pb.FetchRequest] = []
        self.subscribes: list[pb.FetchRequest] = []
        self.over_delivery = 0  # events sent beyond what was requested (must stay 0)
        self.delivered = 0
        self.expire_token_at: int | None = None
        self.schema_calls = 0
        self._changed: asyncio.Condition | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- test controls (thread-safe: they run on the server's loop) ---
    def append(self, topic: str, schema_id: str, payloads: Sequence[bytes]) -> list[bytes]:
        return self._call(self._append, topic, schema_id, list(payloads))

    def expire_retention(self, topic: str, before_index: int) -> None:
        self._call(self._set_retention, topic, before_index)

    def _call(self, function: Any, *args: Any) -> Any:
        assert self.loop is not None
        async def run() -> Any:
            return await function(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    async def _append(self, topic: str, schema_id: str, payloads: list[bytes]) -> list[bytes]:
        stored = self.topics.setdefault(topic, Topic())
        ids = []
        for payload in payloads:
            replay_id = (len(stored.events) + 1).to_bytes(8, "big")
            stored.events.append(StoredEvent(replay_id, schema_id, payload))
            ids.append(replay_id)
        await self._notify()
        return ids

    async def _set_retention(self, topic: str, before_index: int) -> None:
        self.topics.setdefault(topic, Topic()).earliest_retained = before_index

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # --- the service ---
    async def _authenticate(self, context: grpc.aio.ServicerContext) -> None:
        token = dict(context.invocation_metadata() or ()).get("accesstoken")
        if token not in self.valid_tokens:
            context.set_trailing_metadata((("error-code", AUTH_ERROR),))
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "access token missing, invalid or expired")

    async def GetSchema(self, request: pb.SchemaRequest, context: grpc.aio.ServicerContext) -> pb.SchemaInfo:
        await self._authenticate(context)
        self.schema_calls += 1
        if request.schema_id not in SCHEMAS:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no schema {request.schema_id}")
        return pb.SchemaInfo(schema_json=schema_json(request.schema_id), schema_id=request.schema_id)

    async def GetTopic(self, request: pb.TopicRequest, context: grpc.aio.ServicerContext) -> pb.TopicInfo:
        await self._authenticate(context)
        return pb.TopicInfo(topic_name=request.topic_name, can_subscribe=True, schema_id=next(iter(SCHEMAS)))

    async def Subscribe(self, request_iterator: AsyncIterator[pb.FetchRequest],
                        context: grpc.aio.ServicerContext) -> AsyncIterator[pb.FetchResponse]:
        await self._authenticate(context)
        await context.send_initial_metadata(())  # like the real endpoint: headers as soon as the stream is up
        token = dict(context.invocation_metadata() or ()).get("accesstoken")
        first = await request_iterator.__anext__()
        self.subscribes.append(first)
        self.requests.append(first)
        topic = self.topics.setdefault(first.topic_name, Topic())
        position = await self._start(first, topic, context)
        credit = [first.num_requested]
        assert self._changed is not None
        changed = self._changed

        async def read_requests() -> None:
            async for more in request_iterator:
                self.requests.append(more)
                credit[0] += more.num_requested
                async with changed:
                    changed.notify_all()

        reader = asyncio.create_task(read_requests())
        try:
            while True:
                async with changed:
                    await changed.wait_for(lambda p=position: credit[0] > 0 and p < len(topic.events))
                if token not in self.valid_tokens:
                    context.set_trailing_metadata((("error-code", AUTH_ERROR),))
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "access token expired")
                count = min(credit[0], self.max_batch, len(topic.events) - position)
                if self.expire_token_at is not None:
                    count = max(1, min(count, self.expire_token_at - self.delivered))
                batch = topic.events[position:position + count]
                position += count
                credit[0] -= count
                self.over_delivery += max(0, -credit[0])
                self.delivered += count
                if self.expire_token_at is not None and self.delivered >= self.expire_token_at:
                    self.valid_tokens.clear()
                    self.expire_token_at = None
                yield pb.FetchResponse(
                    events=[pb.ConsumerEvent(event=pb.ProducerEvent(id=str(uuid.uuid4()), schema_id=e.schema_id,
                                                                    payload=e.payload), replay_id=e.replay_id)
                            for e in batch],
                    latest_replay_id=batch[-1].replay_id, rpc_id=str(uuid.uuid4()),
                    pending_num_requested=credit[0])
                if self.batch_pause_s:
                    await asyncio.sleep(self.batch_pause_s)
        finally:
            reader.cancel()

    async def _start(self, first: pb.FetchRequest, topic: Topic, context: grpc.aio.ServicerContext) -> int:
        if first.replay_preset == pb.EARLIEST:
            return topic.earliest_retained
        if first.replay_preset == pb.LATEST:
            return len(topic.events)
        index = int.from_bytes(first.replay_id, "big") if len(first.replay_id) == 8 else -1
        if index < topic.earliest_retained or index > len(topic.events):
            context.set_trailing_metadata((("error-code", REPLAY_ERROR),))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"The Replay ID validation failed. rpcId: {uuid.uuid4()}")
        return index  # resume after the event with this replay id

    # --- lifecycle ---
    async def start(self) -> int:
        self._changed = asyncio.Condition()
        self.loop = asyncio.get_running_loop()
        self.server = grpc.aio.server()
        pb_grpc.add_PubSubServicer_to_server(self, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return port


class FakeOAuth:
    """``POST /services/oauth2/token``: JWT bearer (RS256 assertion checked with the public key)
    and client credentials; each token issued becomes valid at the fake Pub/Sub API."""

    def __init__(self, pubsub: FakePubSub, public_key: str, client_id: str, username: str, secret: str) -> None:
        self.pubsub = pubsub
        self.public_key = public_key
        self.client_id = client_id
        self.username = username
        self.secret = secret
        self.issued: list[str] = []
        self.url = ""
        self.unavailable_for = 0  # answer this many token requests with 503 (a login outage)
        # REST: object -> record id -> row (Id, IsDeleted, SystemModstamp, LastModifiedById and fields)
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.queries: list[str] = []
        self.page_size = 2000
        self._cursors: dict[str, list[dict[str, Any]]] = {}

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if self.unavailable_for > 0:
            self.unavailable_for -= 1
            return web.json_response({"error": "temporarily_unavailable"}, status=503)
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(str(form.get("assertion")), self.public_key, algorithms=["RS256"],
                                    audience=self.url)
            except jwt.PyJWTError as error:
                return web.json_response({"error": "invalid_grant", "error_description": str(error)}, status=400)
            if (claims.get("iss"), claims.get("sub")) != (self.client_id, self.username):
                return web.json_response({"error": "invalid_grant", "error_description": "user"}, status=400)
        elif form.get("grant_type") == "client_credentials":
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.secret):
                return web.json_response({"error": "invalid_client", "error_description": "bad secret"}, status=400)
        else:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = f"00DFAKE!{uuid.uuid4().hex}"
        self.issued.append(token)
        self.pubsub.valid_tokens.add(token)
        return web.json_response({"access_token": token, "instance_url": self.url,
                                  "id": f"{self.url}/id/00DFAKE000000001/005FAKE000000001",
                                  "token_type": "Bearer"})

    async def query_all(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.pubsub.valid_tokens:
            return web.json_response([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired"}], status=401)
        soql = request.query.get("q", "")
        self.queries.append(soql)
        match = re.fullmatch(r"SELECT (.+?) FROM (\w+) WHERE (.+)", soql)
        if match is None:
            return web.json_response([{"errorCode": "MALFORMED_QUERY", "message": soql}], status=400)
        select = [name.strip() for name in match.group(1).split(",")]
        rows = list(self.records.get(match.group(2), {}).values())
        ids = re.fullmatch(r"Id IN \((.*)\)", match.group(3))
        window = re.fullmatch(r"SystemModstamp >= (\S+) AND SystemModstamp <= (\S+)", match.group(3))
        if ids is not None:
            wanted = {part.strip().strip("'") for part in ids.group(1).split(",")}
            rows = [row for row in rows if row["Id"] in wanted]
        elif window is not None:
            since, until = (_instant(text) for text in window.groups())
            rows = [row for row in rows if since <= _instant(row["SystemModstamp"]) <= until]
        else:
            return web.json_response([{"errorCode": "MALFORMED_QUERY", "message": soql}], status=400)
        found = [{"attributes": {"type": match.group(2)}, **{name: row.get(name) for name in select}}
                 for row in rows]
        return self._page(found, request.match_info["version"])

    async def more(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.pubsub.valid_tokens:
            return web.json_response([{"errorCode": "INVALID_SESSION_ID"}], status=401)
        return self._page(self._cursors.pop(request.match_info["cursor"]), request.match_info["version"])

    def _page(self, rows: list[dict[str, Any]], version: str) -> web.Response:
        body: dict[str, Any] = {"totalSize": len(rows), "done": len(rows) <= self.page_size,
                                "records": rows[:self.page_size]}
        if not body["done"]:
            cursor = uuid.uuid4().hex
            self._cursors[cursor] = rows[self.page_size:]
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}"
        return web.json_response(body)

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/services/oauth2/token", self.token)
        app.router.add_get("/services/data/{version}/queryAll", self.query_all)
        app.router.add_get("/services/data/{version}/query/{cursor}", self.more)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return port


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeSalesforce:
    """Both fakes on one background event loop: ``with FakeSalesforce(...) as sf: sf.target, sf.login_url``."""

    def __init__(self, public_key: str, client_id: str = "attain-test-client", username: str = "int@example.com",
                 secret: str = "s3cret", max_batch: int = 100, batch_pause_s: float = 0.0) -> None:
        self.pubsub = FakePubSub(max_batch, batch_pause_s)
        self.oauth = FakeOAuth(self.pubsub, public_key, client_id, username, secret)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-salesforce", daemon=True)

    def __enter__(self) -> FakeSalesforce:
        self._thread.start()
        async def start() -> tuple[int, int]:
            return await self.pubsub.start(), await self.oauth.start()
        grpc_port, _ = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        self.target = f"127.0.0.1:{grpc_port}"
        self.login_url = self.oauth.url
        return self

    def __exit__(self, *_: Any) -> None:
        async def stop() -> None:
            await self.pubsub.server.stop(0)
            await self.oauth.runner.cleanup()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
