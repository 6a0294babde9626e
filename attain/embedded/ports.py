"""Network helpers shared by the embedded servers: free ports and Kafka readiness probing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

LOCALHOST = "127.0.0.1"


class BrokerExitedError(RuntimeError):
    """The broker process died before it became ready (bad config, port already taken, missing binary)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The OS picks the port (bind to 0), so parallel test runs do not collide on a
    fixed number. There is an unavoidable window between closing the probe socket
    and the server binding it; callers retry start-up if the server dies early.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free ports (sockets held open together so they cannot repeat)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOCALHOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _metadata_error(bootstrap: str, probe_timeout: float) -> str | None:
    """Ask the broker for cluster metadata once; return why it failed, or None on success.

    A metadata response listing at least one broker is what every Kafka client
    needs before producing or consuming, so it is the readiness signal we use
    rather than a bare TCP connect (the socket opens before the broker is usable).
    """
    # log_level 0 silences librdkafka's "connection refused" spam while we poll.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=probe_timeout)
    except KafkaException as exc:
        return str(exc)
    if not metadata.brokers:
        return "metadata response listed no brokers"
    return None


def wait_for_kafka(
    bootstrap: str,
    timeout: float,
    *,
    is_alive: Callable[[], bool] | None = None,
) -> None:
    """Block until a Kafka client can fetch metadata from ``bootstrap``.

    Raises TimeoutError naming the address and the last client error so a slow or
    broken broker is diagnosable from the test output alone. ``is_alive`` lets the
    caller abort immediately when the server process has already exited instead
    of waiting out the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        if is_alive is not None and not is_alive():
            raise BrokerExitedError(f"Kafka broker process for {bootstrap} exited before it became ready")
        remaining = deadline - time.monotonic()
        error = _metadata_error(bootstrap, probe_timeout=max(0.2, min(2.0, remaining)))
        if error is None:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"Kafka broker at {bootstrap} did not answer a metadata request within {timeout:.1f}s "
                f"(last error: {error})"
            )
        time.sleep(0.1)
