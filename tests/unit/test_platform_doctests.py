"""The examples in the platform plumbing's docstrings run and hold."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["attain.platform.faults", "attain.contracts.wire"])
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result
