"""The converter's process set-up: Arrow's memory pools (see loglake.settings.CONVERTER_PROCESS_ENV)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pyarrow as pa
import pytest

from loglake.convert import use_system_allocator
from loglake.settings import CONVERTER_PROCESS_ENV


@pytest.fixture
def restore_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_the_process_environment_makes_arrows_cpp_default_pool_the_system_allocator() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | CONVERTER_PROCESS_ENV
    code = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "system"


def test_use_system_allocator_sets_the_pool_python_allocates_from(restore_pool: None) -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    use_system_allocator()
    assert pa.default_memory_pool().backend_name == "system"
    assert pa.array(["x"] * 10).nbytes > 0


@pytest.mark.parametrize(("env", "logged"), [({}, True), (CONVERTER_PROCESS_ENV, False)])
def test_a_process_started_without_the_environment_is_told_how_to_fix_it(
    restore_pool: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    logged: bool,
) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pa.set_memory_pool(pa.mimalloc_memory_pool())  # as if Arrow had loaded with its default
    with caplog.at_level(logging.INFO, logger="loglake.convert"):
        use_system_allocator()
    assert ("ARROW_DEFAULT_MEMORY_POOL=system" in caplog.text) is logged
