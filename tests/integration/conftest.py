"""Shared pytest configuration for integration tests that start real infrastructure."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``apache`` marker: tests that need a real Apache Kafka (enable with ATTAIN_TEST_KAFKA=apache)."""
    config.addinivalue_line(
        "markers",
        "apache: needs real Apache Kafka (JVM + Maven jars); runs only when ATTAIN_TEST_KAFKA=apache",
    )
