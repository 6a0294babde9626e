"""The examples in the pure ledger rules' docstrings run and hold."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["attain.ledger.statements"])
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result
