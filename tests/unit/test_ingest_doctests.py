"""The worked examples in the pure ingest modules' docstrings are tests too."""

import doctest
import importlib

import pytest

MODULES = [
    "services.ingest.salesforce.bitmaps",
    "services.ingest.salesforce.mapping",
    "services.ingest.backfill",
    "services.ingest.signatures",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
