"""Fixtures shared by the integration tests (the real broker and database come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from services.ledger.db import make_engine, migrate
from tests.integration.ingest_support import ingest_issuer  # noqa: F401 - a fixture: Attain's issuer for ingest


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """The module's fresh database, migrated to the newest ledger schema."""
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
