"""Reference data on the broker: publish a version of the plan book, and read which version is current.

``reference.versions`` (one partition, compacted) keeps each version under its id; ``reference.publications``
(one partition, never compacted or expired) keeps one audit record per publication, the last naming the current
version. A version is written and flushed before its publication, so a reader that sees a publication finds
its version. The contract: :mod:`attain.contracts.reference`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Producer

from attain.contracts.reference import PUBLICATIONS_KEY, Action, Publication, ReferenceVersion
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import ensure_topic_specs, producer_config, provide_topics, topic_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings

log = logging.getLogger("attain.reference")


@dataclass(frozen=True)
class ReferenceTopics:
    """The two topics' names (tests use their own, so they do not change another test's current version)."""

    versions: str = topics.REFERENCE_VERSIONS
    publications: str = topics.REFERENCE_PUBLICATIONS


DEFAULT_TOPICS = ReferenceTopics()


def topics_from_env(environ: Mapping[str, str] | None = None) -> ReferenceTopics:
    """The reference topics a service reads: ``ATTAIN_REFERENCE_VERSIONS_TOPIC`` and
    ``ATTAIN_REFERENCE_PUBLICATIONS_TOPIC`` (default ``reference.versions``, ``reference.publications``).

    >>> topics_from_env({"ATTAIN_REFERENCE_PUBLICATIONS_TOPIC": "t.pub"})
    ReferenceTopics(versions='reference.versions', publications='t.pub')
    """
    env = os.environ if environ is None else environ
    return ReferenceTopics(env.get("ATTAIN_REFERENCE_VERSIONS_TOPIC") or DEFAULT_TOPICS.versions,
                           env.get("ATTAIN_REFERENCE_PUBLICATIONS_TOPIC") or DEFAULT_TOPICS.publications)


@dataclass
class ReferenceState:
    """What the reference topics hold: every version by id, and every publication in order."""

    versions: dict[str, ReferenceVersion] = field(default_factory=dict)
    publications: list[Publication] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # key of a version record that failed -> why

    @property
    def current(self) -> ReferenceVersion | None:
        """The version the last publication names (``None`` before the first publication)."""
        if not self.publications:
            return None
        last = self.publications[-1]
        version = self.versions.get(last.version_id)
        if version is None or version.content_hash != last.content_hash:
            raise LookupError(f"publication of {last.version_id} at {last.published_at:%Y-%m-%dT%H:%M:%SZ}: "
                              "its version is missing from reference.versions or differs from it")
        return version


def ensure_reference_topics(kafka: KafkaSettings, names: ReferenceTopics = DEFAULT_TOPICS,
                            timeout: float = 30) -> None:
    if not kafka.create_topics:  # declared resources (deploy/k8s/base/topics.yaml): only checked
        provide_topics(kafka, [names.versions, names.publications], timeout=timeout)
        return
    limits = topic_config(kafka)
    ensure_topic_specs(kafka, [
        (names.versions, 1, {**limits, "cleanup.policy": "compact"}),
        (names.publications, 1, {**limits, "cleanup.policy": "delete", "retention.ms": "-1"}),
    ], timeout)


def read_state(kafka: KafkaSettings, names: ReferenceTopics = DEFAULT_TOPICS, timeout: float = 30
               ) -> ReferenceState:
    """Both reference topics, to their ends. A record that does not decode or verify is logged and skipped
    (it cannot be a version anyone published through :func:`publish`)."""
    state = ReferenceState()
    versions, publications = contract(topics.REFERENCE_VERSIONS), contract(topics.REFERENCE_PUBLICATIONS)
    for message in read_until_idle(kafka, names.versions, idle_seconds=0, timeout=timeout,
                                   group="attain-reference"):
        try:
            version = ReferenceVersion.from_avro(versions.decode(message.value() or b""))
            version.verify()
        except ValueError as error:
            log.error("unreadable reference version skipped", extra={"offset": message.offset(), "error": str(error)})
            state.rejected[(message.key() or b"").decode("utf-8", "replace")] = str(error)
            continue
        state.versions[version.version_id] = version
        state.rejected.pop(version.version_id, None)
    for message in read_until_idle(kafka, names.publications, idle_seconds=0,
                                   timeout=timeout, group="attain-reference"):
        try:
            state.publications.append(Publication.from_avro(publications.decode(message.value() or b"")))
        except ValueError as error:
            log.error("unreadable publication skipped", extra={"offset": message.offset(), "error": str(error)})
    return state


def publish(kafka: KafkaSettings, version: ReferenceVersion, user: str, reason: str = "",
            names: ReferenceTopics = DEFAULT_TOPICS, timeout: float = 30) -> Publication | None:
    """Make ``version`` current: write it (unless the topic has it), then its publication record.

    Returns the publication, or ``None`` when ``version`` is current already (nothing is written). A version
    published before is made current again as a ``ROLLBACK``; its first ``created_at``/``created_by`` stay.
    """
    ensure_reference_topics(kafka, names, timeout)
    state = read_state(kafka, names, timeout)
    current = state.current
    if current is not None and current.version_id == version.version_id:
        return None
    producer = Producer(producer_config(kafka))
    known = state.versions.get(version.version_id)
    if known is None:
        producer.produce(names.versions, key=version.version_id.encode(),
                         value=contract(topics.REFERENCE_VERSIONS).encode(version.to_avro()))
        if producer.flush(timeout) != 0:
            raise RuntimeError(f"could not write reference version {version.version_id} within {timeout}s")
    publication = Publication(version.version_id, version.content_hash,
                              Action.PUBLISH if known is None else Action.ROLLBACK,
                              current.version_id if current else None, datetime.now(UTC), user, reason)
    producer.produce(names.publications, key=PUBLICATIONS_KEY,
                     value=contract(topics.REFERENCE_PUBLICATIONS).encode(publication.to_avro()))
    if producer.flush(timeout) != 0:
        raise RuntimeError(f"could not write the publication of {version.version_id} within {timeout}s")
    return publication
