"""The worked examples in the core's docstrings are tests too."""

import doctest
import importlib
import pkgutil

import pytest

import attain.core

MODULES = [m.name for m in pkgutil.iter_modules(attain.core.__path__, "attain.core.")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


def test_core_imports_no_io_frameworks():
    """The core stays pure: no Kafka, SQL, HTTP or faust imports."""
    forbidden = ("confluent_kafka", "faust", "sqlalchemy", "psycopg", "aiohttp", "grpc", "httpx")
    for name in MODULES:
        source = importlib.import_module(name).__loader__.get_source(name)  # type: ignore[union-attr]
        for package in forbidden:
            assert f"import {package}" not in source and f"from {package}" not in source, (name, package)
