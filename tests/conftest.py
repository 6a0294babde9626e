"""Real parts for integration and e2e tests: a Kafka broker and a PostgreSQL server.

Broker, by ``ATTAIN_TEST_KAFKA``: unset -> the embedded Tansu; ``apache`` -> a real
Apache Kafka 4.x (KRaft) from Maven Central jars; ``host:port`` -> that cluster.
Database, by ``ATTAIN_TEST_PG``: unset -> embedded PostgreSQL 18 in a temp dir;
``postgresql://...`` -> that server. Each test module gets its own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
# The embedded profile: services started by tests create the topics they use (a cluster declares them).
os.environ.setdefault("ATTAIN_KAFKA_CREATE_TOPICS", "true")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Scale pytest-timeout's per-test limit by ATTAIN_TEST_TIME_SCALE, as tests/polling.py does every wait."""
    from tests.polling import time_scale

    scale = time_scale()
    if scale != 1 and config.getoption("timeout", None) is None and config.getini("timeout"):
        config.option.timeout = float(config.getini("timeout")) * scale


def start_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    choice = os.environ.get("ATTAIN_TEST_KAFKA", "")
    if choice == "apache":
        from attain.embedded.apache_kafka import ApacheKafka

        with ApacheKafka(tmp_path_factory.mktemp("apache-kafka")) as kafka:
            yield kafka.bootstrap
    elif choice:
        yield choice
    else:
        from attain.embedded.tansu import TansuBroker

        with TansuBroker(tmp_path_factory.mktemp("tansu") / "tansu.log") as broker:
            yield broker.bootstrap


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_broker(tmp_path_factory)


@pytest.fixture(scope="module")
def pipeline_kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of the module's own (an address given by ATTAIN_TEST_KAFKA is shared).

    A whole pipeline reads ``crm.changes`` from the beginning, so on a shared broker
    it would first work through every event earlier test modules published (15,000
    and more) and its own events would wait behind them.
    """
    yield from start_broker(tmp_path_factory)


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLAlchemy URL (postgresql+psycopg) of a server's maintenance database."""
    external = os.environ.get("ATTAIN_TEST_PG")
    if external:
        yield make_url(external).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return
    from attain.embedded.postgres import EmbeddedPostgres

    with EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", delete_on_stop=True) as server:
        yield server.url


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test module (dropped afterwards)."""
    yield from fresh_database(postgres_server_url)


def fresh_database(postgres_server_url: str) -> Iterator[str]:
    name = f"attain_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(postgres_server_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)  # str() masks it
    yield url
    with psycopg.connect(_libpq(postgres_server_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Minter:
    """Tokens of the session's embedded issuer, signed in-process with its key files (fast)."""

    def __init__(self, issuer: object) -> None:
        self.issuer = issuer

    @property
    def settings(self) -> object:
        from attain.platform.identity import AuthSettings

        return AuthSettings(issuer=self.issuer.url, audience=self.issuer.audience, leeway_seconds=5)

    def token(self, subject: str, roles: tuple[str, ...] | list[str] = ("rep",),
              regions: tuple[str, ...] | list[str] = (), lifetime_seconds: int = 3600, **claims: object) -> str:
        from services.issuer.directory import mint_token

        return mint_token(self.issuer.data_dir, self.issuer.url, self.issuer.audience, subject, lifetime_seconds,
                          roles=list(roles), regions=list(regions), **claims)

    def bearer(self, subject: str, roles: tuple[str, ...] | list[str] = ("rep",),
               regions: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, roles, regions)}"}


@pytest.fixture(scope="session")
def session_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Attain's own OpenID Connect issuer as a real process, shared by the session's tests."""
    from attain.embedded.issuer import EmbeddedIssuer

    with EmbeddedIssuer(tmp_path_factory.mktemp("session-issuer")) as running:
        yield running


@pytest.fixture(scope="session")
def minter(session_issuer: object) -> Minter:
    return Minter(session_issuer)


# Modules under a folder that shares one stack (a package-scoped fixture) run one after another, wherever
# pytest-randomly's shuffle put the first of them: that shuffle runs before this hook (it wraps it), so the order
# stays reproducible from the seed, and the shared stack starts once instead of once per stretch of the package.
SHARED_STACK_PACKAGES = ("tests/e2e/portal/",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for package in SHARED_STACK_PACKAGES:
        inside = [item for item in items if item.nodeid.startswith(package)]
        if not inside or len(inside) == len(items):
            continue
        first = next(index for index, item in enumerate(items) if item.nodeid.startswith(package))
        outside = [item for item in items if not item.nodeid.startswith(package)]
        items[:] = outside[:first] + inside + outside[first:]
