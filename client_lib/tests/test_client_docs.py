"""The examples in the public docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "loglake_client._encoding",
    "loglake_client._packing",
    "loglake_client._retry",
    "loglake_client._spool",
    "loglake_client._stats",
    "loglake_client.logger",
    "loglake_client.testing",
    "loglake_client.middleware._common",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
