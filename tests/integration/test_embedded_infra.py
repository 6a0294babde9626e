"""The embedded servers really start, serve a real client, and really stop.

Tansu and PostgreSQL always run. Apache Kafka needs a JVM and ~45 MB of jars
from Maven Central, so it runs only with ATTAIN_TEST_KAFKA=apache and is
otherwise reported as skipped (with the reason), never silently dropped.
"""

from __future__ import annotations

import os
import re
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]
import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # the typed home of NewTopic (admin re-exports it implicitly)
from sqlalchemy.engine import make_url

from attain.embedded.apache_kafka import ApacheKafka
from attain.embedded.ports import free_port, wait_for_kafka
from attain.embedded.postgres import PASSWORD_FILE, EmbeddedPostgres, has_exited
from attain.embedded.tansu import TansuBroker
from tests.polling import deadline_in

APACHE_ENABLED = os.environ.get("ATTAIN_TEST_KAFKA") == "apache"
APACHE_SKIP_REASON = (
    "Apache Kafka broker tests are opt-in: set ATTAIN_TEST_KAFKA=apache "
    "(needs Java 17+ and Maven; first run downloads the Kafka jars into .cache/)"
)


@pytest.fixture(scope="module")
def tansu_bootstrap() -> Iterator[str]:
    with TansuBroker() as broker:
        yield broker.bootstrap


@pytest.fixture(scope="module")
def apache_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not APACHE_ENABLED:
        pytest.skip(APACHE_SKIP_REASON)
    with ApacheKafka(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker.bootstrap


@pytest.fixture(params=["tansu", pytest.param("apache", marks=pytest.mark.apache)])
def bootstrap(request: pytest.FixtureRequest) -> str:
    """Run a broker test once per broker implementation."""
    value: str = request.getfixturevalue(f"{request.param}_bootstrap")
    return value


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    futures[topic].result(timeout=30)


def _consume_one(bootstrap: str, topic: str, timeout: float = 30.0) -> tuple[bytes | None, bytes | None]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Tansu holds a new group's first JoinGroup for about session.timeout.ms / 2
            # (librdkafka's default of 45 s means a 23 s wait); 6 s is Kafka's minimum.
            "session.timeout.ms": 6000,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = deadline_in(timeout)
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            return message.key(), message.value()
    finally:
        consumer.close()
    raise AssertionError(f"no message arrived on {topic} within {timeout}s")


def test_message_round_trips_through_broker(bootstrap: str) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    _create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=b"payee-42", value=b'{"amount": "12.50"}')
    assert producer.flush(15) == 0, "message was not delivered"

    assert _consume_one(bootstrap, topic) == (b"payee-42", b'{"amount": "12.50"}')


def test_tansu_stop_is_idempotent_and_frees_the_broker() -> None:
    broker = TansuBroker()
    bootstrap = broker.start()
    broker.stop()
    broker.stop()
    with pytest.raises(RuntimeError):
        _ = broker.bootstrap
    with pytest.raises(TimeoutError, match=re.escape(bootstrap)):
        wait_for_kafka(bootstrap, timeout=1.0)


def test_wait_for_kafka_times_out_with_address_in_message() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(TimeoutError, match=re.escape(address)):
        wait_for_kafka(address, timeout=1.0)


@pytest.mark.apache
@pytest.mark.skipif(not APACHE_ENABLED, reason=APACHE_SKIP_REASON)
def test_apache_kafka_restarts_on_existing_workdir(tmp_path: Path) -> None:
    topic = "survives-restart"
    with ApacheKafka(tmp_path) as first:
        _create_topic(first.bootstrap, topic)
    with ApacheKafka(tmp_path) as second:
        topics = AdminClient({"bootstrap.servers": second.bootstrap}).list_topics(timeout=10).topics
        assert topic in topics
    assert (tmp_path / "kafka.log").stat().st_size > 0


def _postmaster(data_dir: Path) -> psutil.Process:
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    return psutil.Process(pid)


def test_postgres_serves_sql_and_keeps_data_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    pg = EmbeddedPostgres(data_dir)
    url = pg.start()
    assert url.startswith("postgresql+psycopg://postgres:") and "@/attain?host=" in url
    with psycopg.connect(pg.conninfo) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        conn.execute("create table payout (id int primary key, amount numeric not null)")
        conn.execute("insert into payout values (1, 12.50)")
    postmaster = _postmaster(data_dir)
    pg.stop()
    assert has_exited(postmaster), "postgres still running after stop()"

    with EmbeddedPostgres(data_dir, delete_on_stop=True) as again:
        with psycopg.connect(again.conninfo) as conn:
            row = conn.execute("select id, amount::text from payout").fetchone()
        assert row == (1, "12.50")
    assert not data_dir.exists()


def test_postgres_asks_for_the_password_on_a_private_socket(tmp_path: Path) -> None:
    """pgserver's initdb trusts every local user; the wrapper turns that into password-only on a 0700 socket dir."""
    data_dir = tmp_path / "pg"
    with EmbeddedPostgres(data_dir, delete_on_stop=True) as pg:
        assert pg.socket_dir is not None
        assert stat.S_IMODE(pg.socket_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((data_dir / PASSWORD_FILE).stat().st_mode) == 0o600
        with psycopg.connect(pg.conninfo) as conn:  # the URL it hands out carries the password
            assert conn.execute("select current_user").fetchone() == ("postgres",)
        without = f"postgresql://postgres@/attain?host={pg.socket_dir}"
        wrong = f"postgresql://postgres:not-the-password@/attain?host={pg.socket_dir}"
        assert make_url(pg.url).password not in (None, "")
        with pytest.raises(psycopg.OperationalError, match="no password supplied|password authentication failed"):
            psycopg.connect(without, connect_timeout=5, passfile=str(tmp_path / "no-passfile")).close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong, connect_timeout=5).close()
        for line in (data_dir / "pg_hba.conf").read_text().splitlines():
            assert "trust" not in line.split("#")[0], line
