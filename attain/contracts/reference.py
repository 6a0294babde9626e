"""The reference data contract: versions of the plan book on ``reference.versions`` and the audit record of
each publication on ``reference.publications`` (schemas/reference.versions, schemas/reference.publications).

A version is the plan book's files (plans, org and hierarchy, quotas, FX rates: whatever the book's YAML
holds), identified by the SHA-256 of their names and texts, so the same files always give the same id and
publishing them again changes nothing. The current version is the one named by the last publication;
rolling back is publishing an earlier version again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from attain.contracts.wire import to_millis

PUBLICATIONS_KEY = b"book"


class Action(StrEnum):
    PUBLISH = "PUBLISH"
    ROLLBACK = "ROLLBACK"


def content_hash(files: Mapping[str, str]) -> str:
    """SHA-256 (hex) over the files in name order: each name, NUL, text, NUL.

    >>> content_hash({"b.yaml": "x", "a.yaml": "y"}) == content_hash({"a.yaml": "y", "b.yaml": "x"})
    True
    >>> content_hash({"a.yaml": "y"}) == content_hash({"a.yaml": "y "})
    False
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def version_id_of(hash_hex: str) -> str:
    return f"rv-{hash_hex[:16]}"


@dataclass(frozen=True)
class ReferenceVersion:
    """One immutable version of the plan book's files."""

    version_id: str
    content_hash: str
    files: tuple[tuple[str, str], ...]  # (name, text) in name order
    created_at: datetime
    created_by: str
    source: str = ""

    @classmethod
    def of_files(cls, files: Mapping[str, str], created_by: str, created_at: datetime | None = None,
                 source: str = "") -> ReferenceVersion:
        """The version these files are.

        >>> v = ReferenceVersion.of_files({"p.yaml": "plans: []"}, "admin", datetime(2026, 1, 1, tzinfo=UTC))
        >>> v.version_id == "rv-" + v.content_hash[:16], v.files
        (True, (('p.yaml', 'plans: []'),))
        """
        hash_hex = content_hash(files)
        at = created_at or datetime.now(UTC)
        return cls(version_id_of(hash_hex), hash_hex, tuple(sorted(files.items())),
                   at.replace(microsecond=at.microsecond // 1000 * 1000), created_by, source)  # Avro keeps ms

    @property
    def file_map(self) -> dict[str, str]:
        return dict(self.files)

    def verify(self) -> None:
        """Raise ``ValueError`` when the files do not match the id and hash (a corrupt or forged record)."""
        actual = content_hash(self.file_map)
        if actual != self.content_hash or version_id_of(actual) != self.version_id:
            raise ValueError(f"reference version {self.version_id}: its files hash to {actual}, "
                             f"not {self.content_hash}")

    def to_avro(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "content_hash": self.content_hash,
                "files": [{"name": name, "text": text} for name, text in self.files],
                "created_at": to_millis(self.created_at), "created_by": self.created_by, "source": self.source}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> ReferenceVersion:
        return cls(record["version_id"], record["content_hash"],
                   tuple((item["name"], item["text"]) for item in record["files"]),
                   _as_datetime(record["created_at"]), record["created_by"], record.get("source", ""))


@dataclass(frozen=True)
class Publication:
    """The audit record of one publication: ``version_id`` became current."""

    version_id: str
    content_hash: str
    action: Action
    previous_version_id: str | None
    published_at: datetime
    published_by: str
    reason: str = ""

    def to_avro(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "content_hash": self.content_hash, "action": self.action.value,
                "previous_version_id": self.previous_version_id, "published_at": to_millis(self.published_at),
                "published_by": self.published_by, "reason": self.reason}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Publication:
        return cls(record["version_id"], record["content_hash"], Action(record["action"]),
                   record.get("previous_version_id"), _as_datetime(record["published_at"]),
                   record["published_by"], record.get("reason", ""))


def _as_datetime(value: datetime | int) -> datetime:
    return datetime.fromtimestamp(to_millis(value) / 1000, UTC)
