"""Kafka TLS and SASL settings: what each client is given, what is refused, and that every client gets it.

The broker side (a real SASL_SSL listener) is tests/integration/test_kafka_security.py.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import faust
import pytest
from confluent_kafka import Consumer, Producer
from pydantic import ValidationError

from attain.platform.kafka import admin_client, client_config, consumer_config, producer_config
from attain.platform.settings import KafkaSettings
from attain.platform.streams import UnsupportedSecurityError, broker_credentials
from tests.tls_support import make_tls_files

REPO = Path(__file__).resolve().parents[2]
OIDC = {"sasl_mechanism": "OAUTHBEARER", "sasl_oauthbearer_token_endpoint_url": "https://idp.example/token",
        "sasl_oauthbearer_client_id": "attain-ledger", "sasl_oauthbearer_client_secret": "s3cret"}


def test_plaintext_is_the_default_and_adds_no_credentials() -> None:
    config = client_config(KafkaSettings(bootstrap="b:9092"))

    assert config["security.protocol"] == "plaintext"
    assert not [key for key in config if key.startswith(("ssl.", "sasl."))]
    assert broker_credentials(KafkaSettings()) is None


def test_scram_over_tls_reaches_every_confluent_client_with_the_password_from_a_mounted_file(
        tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("from-the-secret\n")
    settings = KafkaSettings(bootstrap="b:9093", security_protocol="SASL_SSL", ssl_ca_location=tmp_path / "password",
                             sasl_username="attain-ingest", sasl_password_file=password)
    wanted = {"security.protocol": "sasl_ssl", "ssl.ca.location": str(password), "sasl.mechanism": "SCRAM-SHA-512",
              "sasl.username": "attain-ingest", "sasl.password": "from-the-secret"}

    for config in (client_config(settings), producer_config(settings), consumer_config(settings, "g")):
        assert {key: config.get(key) for key in wanted} == wanted


def test_oauthbearer_maps_to_librdkafka_oidc_client_credentials() -> None:
    settings = KafkaSettings(bootstrap="127.0.0.1:9", security_protocol="SASL_SSL", sasl_oauthbearer_scope="kafka",
                             **OIDC)
    config = client_config(settings)

    assert {key: value for key, value in config.items() if key.startswith("sasl.")} == {
        "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
        "sasl.oauthbearer.client.id": "attain-ledger", "sasl.oauthbearer.client.secret": "s3cret",
        "sasl.oauthbearer.scope": "kafka"}
    # librdkafka takes them (it refuses an unknown key, or oidc without its HTTP client, when a client is made)
    Producer(producer_config(settings))
    Consumer(consumer_config(settings, "g")).close()
    admin_client(settings)


def test_the_stream_app_refuses_oauthbearer_instead_of_connecting_without_it() -> None:
    with pytest.raises(UnsupportedSecurityError, match="OAUTHBEARER is supported by Attain's confluent-kafka"):
        broker_credentials(KafkaSettings(security_protocol="SASL_SSL", **OIDC))


def test_the_calculator_stops_at_start_up_on_oauthbearer() -> None:
    env = {**os.environ, "ATTAIN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "ATTAIN_KAFKA_BOOTSTRAP": "127.0.0.1:9",
           **{f"ATTAIN_KAFKA_{key.upper()}": value for key, value in OIDC.items()}}

    result = subprocess.run([sys.executable, "-m", "services.calculator"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "refusing to start" in result.stdout + result.stderr
    assert "OAUTHBEARER" in result.stdout + result.stderr


def test_faust_gets_scram_with_a_tls_context_that_trusts_the_ca_and_checks_host_names(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    credentials = broker_credentials(KafkaSettings(
        security_protocol="SASL_SSL", ssl_ca_location=tls.ca, sasl_mechanism="SCRAM-SHA-256",
        sasl_username="attain-calculator", sasl_password="pw"))

    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password, credentials.mechanism.value, credentials.protocol.value) \
        == ("attain-calculator", "pw", "SCRAM-SHA-256", "SASL_SSL")
    context = credentials.ssl_context
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "attain test CA"),),)]


def test_mutual_tls_gives_both_clients_the_client_certificate(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)  # its keystore holds a key and certificate chain, as a client's would
    settings = KafkaSettings(security_protocol="SSL", ssl_ca_location=tls.ca,
                             ssl_certificate_location=tls.keystore, ssl_key_location=tls.keystore)

    config = client_config(settings)
    credentials = broker_credentials(settings)

    assert (config["ssl.certificate.location"], config["ssl.key.location"]) == (str(tls.keystore),) * 2
    assert "ssl.key.password" not in config and "sasl.mechanism" not in config
    assert isinstance(credentials, faust.SSLCredentials)
    other_key = make_tls_files(tmp_path / "other").keystore
    with pytest.raises(ssl.SSLError):  # the context checks what it loads: a key that is not the certificate's
        broker_credentials(settings.model_copy(update={"ssl_key_location": other_key}))


def test_tls_without_sasl_gives_faust_ssl_credentials() -> None:
    credentials = broker_credentials(KafkaSettings(security_protocol="SSL"))

    assert isinstance(credentials, faust.SSLCredentials) and credentials.protocol.value == "SSL"


@pytest.mark.parametrize(("settings", "problem"), [
    ({"security_protocol": "SASL_SSL"}, "needs ATTAIN_KAFKA_SASL_USERNAME"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": "p",
      "sasl_password_file": __file__}, "one of ATTAIN_KAFKA_SASL_PASSWORD"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"}, "_TOKEN_ENDPOINT_URL"),
    ({"security_protocol": "SSL", "ssl_certificate_location": __file__}, "go together"),
    ({"security_protocol": "SSL", "ssl_ca_location": "/nowhere/ca.pem"}, "ATTAIN_KAFKA_SSL_CA_LOCATION=/nowhere"),
    ({"security_protocol": "TLS"}, "security_protocol"),
    ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
])
def test_incomplete_or_unknown_security_settings_are_refused(settings: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        KafkaSettings(**settings)


def test_settings_come_from_attain_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTAIN_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ATTAIN_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("ATTAIN_KAFKA_SASL_USERNAME", "attain-notifier")
    monkeypatch.setenv("ATTAIN_KAFKA_SASL_PASSWORD", "pw")

    config = client_config("b:9092")  # a bare bootstrap (a --bootstrap flag): the rest from the environment

    assert (config["bootstrap.servers"], config["security.protocol"], config["sasl.mechanism"],
            config["sasl.username"], config["sasl.password"]) == ("b:9092", "sasl_plaintext", "PLAIN",
                                                                  "attain-notifier", "pw")


# Every Kafka client the services make, and how: a constructor call whose first argument is built by
# one of the shared config functions. The embedded brokers' own readiness probe (attain/embedded) talks
# only to brokers it started itself, on PLAINTEXT, and examples/ is a customer's code without Attain.
CLIENT = re.compile(r"\b(Producer|Consumer|AdminClient)\(")
SHARED = re.compile(r"\b(Producer|Consumer|AdminClient)\(\s*(client_config|producer_config|consumer_config)\(")


def test_no_kafka_client_is_built_without_the_shared_config() -> None:
    unshared = []
    for path in sorted([*REPO.glob("attain/**/*.py"), *REPO.glob("services/**/*.py"), *REPO.glob("cli/**/*.py")]):
        if path.is_relative_to(REPO / "attain" / "embedded"):
            continue
        text = path.read_text()
        for match in CLIENT.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            if text[match.start() - 6:match.start()] == "class ":
                continue
            if not SHARED.match(text, match.start()):
                unshared.append(f"{path.relative_to(REPO)}:{line}: {text.splitlines()[line - 1].strip()}")
    # The two places that take an already shared config: AsyncProducer(config) is handed producer_config's
    # result by each caller (checked below), and admin_client wraps client_config.
    allowed = {"attain/platform/kafka.py"}
    assert [entry for entry in unshared if entry.split(":")[0] not in allowed] == []
    kafka_py = (REPO / "attain/platform/kafka.py").read_text()
    assert [line.strip() for line in kafka_py.splitlines() if CLIENT.search(line) and "def " not in line] == [
        'return AdminClient(client_config(settings, **overrides))',
        "self._producer = Producer(config)",
        "old, self._producer = self._producer, Producer(self._config)",
    ]
    for path in [*REPO.glob("services/**/*.py"), *REPO.glob("attain/**/*.py")]:
        for call in re.findall(r"AsyncProducer\(([^,]+),", path.read_text()):
            assert call.startswith("producer_config("), f"{path}: AsyncProducer({call}, ...)"
