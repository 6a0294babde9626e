"""Where the topics' Avro schemas are found, and the error for bytes that are not a message of a topic's contract.

Shared by the single-object codec (``attain.platform.avro``) and the Confluent framing
(``attain.platform.registry``), which the codec uses.
"""

from __future__ import annotations

import os
from pathlib import Path


class SerdeError(ValueError):
    """Bytes that are not a message of the expected contract."""


def schemas_dir() -> Path:
    """The ``schemas/`` tree: ``ATTAIN_SCHEMAS_DIR`` if set, else the ``schemas`` folder beside the ``attain``
    package. That is the repository's top-level ``schemas/`` in a source checkout, and the copy an installed
    wheel puts beside ``attain/`` in site-packages (package data, see ``pyproject.toml``) otherwise."""
    override = os.environ.get("ATTAIN_SCHEMAS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "schemas"


def topic_folder(topic: str) -> Path:
    """The folder of ``topic``'s schema versions (``*.dlq`` topics share ``dlq``)."""
    return schemas_dir() / ("dlq" if topic.endswith(".dlq") else topic)
