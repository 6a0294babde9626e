"""The worked examples in the core's docstrings are tests too."""

import doctest
import importlib
import pkgutil

import pytest

import attain.core

ALL_MODULES = [m.name for m in pkgutil.iter_modules(attain.core.__path__, "attain.core.")]
# Modules whose docstrings hold no worked example yet: they are not collected (a pass would be vacuous).
WITHOUT_EXAMPLES = {"attain.core.builtins", "attain.core.plans", "attain.core.recompute", "attain.core.timelines"}
MODULES = [name for name in ALL_MODULES if name not in WITHOUT_EXAMPLES]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no doctest example: add one, or list it in WITHOUT_EXAMPLES"
    assert result.failed == 0


def test_the_modules_left_out_exist_and_still_have_no_examples():
    """An example added to a left-out module is collected: take the module off WITHOUT_EXAMPLES."""
    assert set(ALL_MODULES) >= WITHOUT_EXAMPLES
    for name in WITHOUT_EXAMPLES:
        examples = [t for t in doctest.DocTestFinder().find(importlib.import_module(name)) if t.examples]
        assert not examples, f"{name} now has doctest examples: remove it from WITHOUT_EXAMPLES"


def test_core_imports_no_io_frameworks():
    """The core stays pure: no Kafka, SQL, HTTP or faust imports."""
    forbidden = ("confluent_kafka", "faust", "sqlalchemy", "psycopg", "aiohttp", "grpc", "httpx")
    for name in ALL_MODULES:  # the modules without examples too
        source = importlib.import_module(name).__loader__.get_source(name)  # type: ignore[union-attr]
        for package in forbidden:
            assert f"import {package}" not in source and f"from {package}" not in source, (name, package)
