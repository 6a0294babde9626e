"""The calculator's lineage: which state its snapshots come from, and the start-up check.

A lineage is ``<cluster id>/<crm.changes topic id>/<epoch>``. The epoch is created
when the calculator starts and finds no lineage of its own (its app id) for this
cluster, this ``crm.changes`` topic and this state changelog (``<app id>-records-changelog``,
created here so its topic id is known) on ``calculator.lineage``: its state is then
built from nothing (a first start, lost broker state, a new cluster, a re-created
topic, a deleted changelog). The record lives on the broker, beside the changelogs it stands for, so
it survives and vanishes with them; the topic keeps every record (no compaction,
no expiry) and the first record for an identity wins, so calculator instances
starting together agree on one epoch.

Before consuming, the calculator asks the ledger (``ATTAIN_CALCULATOR_LEDGER_URL``,
``GET /ops/lineage``) which lineage it books: when the ledger holds history under
another lineage, the calculator refuses to start (its snapshots would be
quarantined, or, without this check, would have been booked over that history)
unless started in rebuild mode (``ATTAIN_CALCULATOR_REBUILD=true``) for the
recovery in docs/ledger.md.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from confluent_kafka import Producer, TopicCollection
from confluent_kafka.admin import AdminClient

from attain.platform import topics
from attain.platform.kafka import admin_client, client_config, ensure_topic_specs, topic_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings

log = logging.getLogger("attain.calculator")

RECOVERY = ("attain ledger lineage (what is quarantined), then the recovery in docs/ledger.md (Lineage): "
            "start the calculator with ATTAIN_CALCULATOR_REBUILD=true, re-ingest the CRM changes if crm.changes "
            "lost them, and `attain ledger adopt-lineage --user YOU` once the rebuilt totals agree")


@dataclass(frozen=True)
class LineageRecord:
    app_id: str
    cluster_id: str
    topic_id: str
    epoch: str
    created_at: str = ""
    rebuild: bool = False
    state_topic_id: str = ""  # the id of the state changelog it stands for (see STATE_TABLE)

    @property
    def lineage(self) -> str:
        return f"{self.cluster_id}/{self.topic_id}/{self.epoch}"


def choose(records: Sequence[LineageRecord], app_id: str, cluster_id: str, topic_id: str, state_topic_id: str = ""
           ) -> LineageRecord | None:
    """The first record (in topic order) of this app for this cluster, topic and state changelog: the one every
    instance uses.

    >>> a = LineageRecord("calc", "k", "t", "e1", state_topic_id="s")
    >>> choose([LineageRecord("other", "k", "t", "e0", state_topic_id="s"), a,
    ...         LineageRecord("calc", "k", "t", "e2", state_topic_id="s")], "calc", "k", "t", "s").epoch
    'e1'
    >>> choose([a], "calc", "k", "new-topic-id", "s") is None, choose([a], "calc", "k", "t", "new-changelog") is None
    (True, True)
    """
    wanted = (app_id, cluster_id, topic_id, state_topic_id)
    return next((r for r in records if (r.app_id, r.cluster_id, r.topic_id, r.state_topic_id) == wanted), None)


@dataclass(frozen=True)
class StartCheck:
    start: bool
    message: str


def start_check(lineage: str, is_new: bool, ledger: dict[str, Any] | None, rebuild: bool) -> StartCheck:
    """May a calculator whose state has ``lineage`` start, given the ledger's ``/ops/lineage`` answer?

    >>> start_check("k/t/e2", True, {"adopted": "k/t/e1", "history": True}, False).start
    False
    >>> start_check("k/t/e2", True, {"adopted": "k/t/e1", "history": True}, True).start
    True
    >>> start_check("k/t/e1", False, {"adopted": "k/t/e1", "history": True}, False).start
    True
    >>> start_check("k/t/e1", True, {"adopted": None, "history": False}, False).start
    True
    >>> start_check("k/t/e1", True, None, False).message.startswith("not checked")
    True
    """
    state = "empty (no lineage of its own on this cluster and crm.changes topic)" if is_new else "intact"
    if ledger is None:
        return StartCheck(True, f"not checked against the ledger (ATTAIN_CALCULATOR_LEDGER_URL unset); state "
                                f"{state}, lineage {lineage}; the ledger quarantines snapshots of a lineage it "
                                "has not adopted")
    adopted = ledger.get("adopted")
    if adopted is None or adopted == lineage:
        legacy = " (the ledger holds history from before lineages)" if adopted is None and ledger.get("history") else ""
        return StartCheck(True, f"lineage {lineage}, state {state}; the ledger books "
                                f"{adopted or 'no lineage yet'}{legacy}")
    if rebuild:
        return StartCheck(True, f"REBUILD mode: state {state}, lineage {lineage}; the ledger books {adopted}, so "
                                "every snapshot of this lineage is quarantined until an operator adopts it: "
                                f"{RECOVERY}")
    return StartCheck(False, f"refusing to start: the calculator's state is {state} (lineage {lineage}) but the "
                             f"ledger holds history under lineage {adopted}; its snapshots would not match the "
                             f"booked money. To recover: {RECOVERY}")


# The state table whose changelog the lineage stands for (stage 1's, in services/calculator/app.py): created
# here before faust starts, so a record can name its topic id, and a deleted changelog is a new lineage.
STATE_TABLE = "records"


def state_topic(app_id: str) -> str:
    return f"{app_id}-{STATE_TABLE}-changelog"  # faust's name for the table's changelog


def topic_ids(admin: AdminClient, names: list[str], timeout: float = 30) -> list[str]:
    """Topic ids as UUIDs (the base64 form may contain "/", the lineage's separator)."""
    mask = (1 << 64) - 1
    described = admin.describe_topics(TopicCollection(names), request_timeout=timeout)
    ids = []
    for name in names:
        topic_id = described[name].result().topic_id
        ids.append(str(uuid.UUID(int=(topic_id.get_most_significant_bits() & mask) << 64
                                 | (topic_id.get_least_significant_bits() & mask))))
    return ids


def identity(admin: AdminClient, app_id: str, timeout: float = 30) -> tuple[str, str, str]:
    """(cluster id, topic id of crm.changes, topic id of the state changelog)."""
    cluster = admin.describe_cluster(request_timeout=timeout).result()
    changes_id, state_id = topic_ids(admin, [topics.CRM_CHANGES, state_topic(app_id)], timeout)
    return str(cluster.cluster_id or "").replace("/", "_"), changes_id, state_id


def read_records(kafka: KafkaSettings, timeout: float = 30) -> list[LineageRecord]:
    """Every record on ``calculator.lineage``, in order (its one partition, to its high watermark)."""
    records: list[LineageRecord] = []
    for message in read_until_idle(kafka, topics.CALCULATOR_LINEAGE, idle_seconds=0, timeout=timeout,
                                   partitions=[0], group="attain-lineage"):
        try:
            records.append(LineageRecord(**json.loads(message.value() or b"{}")))
        except (TypeError, ValueError):
            log.warning("unreadable record on calculator.lineage ignored", extra={"offset": message.offset()})
    return records


def ledger_status(url: str, wait_seconds: float) -> dict[str, Any]:
    """The ledger's ``/ops/lineage``, waiting up to ``wait_seconds`` for the ledger to answer."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            response = httpx.get(f"{url.rstrip('/')}/ops/lineage", timeout=5)
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer
        except httpx.HTTPError as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"calculator: the ledger at {url} did not answer /ops/lineage within "
                                 f"{wait_seconds}s ({error}); not starting without knowing its lineage") from error
            log.info("waiting for the ledger's lineage", extra={"url": url, "error": str(error)})
            time.sleep(1)


def establish(kafka: KafkaSettings, app_id: str, ledger_url: str | None, rebuild: bool,
              ledger_wait_seconds: float = 60, timeout: float = 30) -> str:
    """The lineage this calculator's snapshots carry; exits with the recovery steps when it must not start."""
    admin = admin_client(kafka)
    if kafka.create_topics:  # else declared resources, checked by the caller (services/calculator/app.py)
        ensure_topic_specs(kafka, [
            (topics.CALCULATOR_LINEAGE, 1, {"retention.ms": "-1", "cleanup.policy": "delete"}),
            # created here, before faust would, so its id is known: with faust's changelog settings
            (state_topic(app_id), kafka.partitions, {**topic_config(kafka), "cleanup.policy": "compact"})], timeout)
    cluster_id, topic_id, state_id = identity(admin, app_id, timeout)
    found = choose(read_records(kafka, timeout), app_id, cluster_id, topic_id, state_id)
    candidate = found or LineageRecord(app_id, cluster_id, topic_id, uuid.uuid4().hex,
                                       time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), rebuild, state_id)
    ledger = ledger_status(ledger_url, ledger_wait_seconds) if ledger_url else None
    check = start_check(candidate.lineage, found is None, ledger, rebuild)
    if not check.start:
        log.error(check.message, extra={"lineage": candidate.lineage})
        raise SystemExit(f"calculator: {check.message}")
    (log.warning if ledger is None or rebuild else log.info)(check.message, extra={"lineage": candidate.lineage})
    if found is not None:
        return found.lineage
    producer = Producer(client_config(kafka, **{"enable.idempotence": True}))
    producer.produce(topics.CALCULATOR_LINEAGE, key=app_id.encode(), value=json.dumps(asdict(candidate)).encode())
    if producer.flush(timeout) != 0:
        raise SystemExit("calculator: could not write its new lineage to calculator.lineage")
    chosen = choose(read_records(kafka, timeout), app_id, cluster_id, topic_id, state_id)
    if chosen is None:
        raise SystemExit("calculator: its new lineage record is not on calculator.lineage after writing it")
    log.warning("new lineage: the calculator's state starts from nothing", extra={"lineage": chosen.lineage})
    return chosen.lineage
