"""Fixtures for the loglake-client tests: fake AWS credentials, a fake Firehose, loggers closed after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loglake_client import KinesisLogger, RetryPolicy
from loglake_client.testing import FakeFirehose

#: Retries fast enough for tests: a few milliseconds of backoff, a budget of two seconds.
FAST_RETRY = RetryPolicy(base_delay=0.001, max_delay=0.004, budget=2.0)


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def fake() -> FakeFirehose:
    return FakeFirehose()


@pytest.fixture
def make_logger() -> Iterator[Callable[..., KinesisLogger]]:
    """Build loggers for a test (fast retries, no SIGTERM handler in the test runner); all closed after it."""
    made: list[KinesisLogger] = []

    def factory(client: Any = None, **options: Any) -> KinesisLogger:
        options.setdefault("retry", FAST_RETRY)
        options.setdefault("handle_sigterm", False)
        options.setdefault("warn_interval", 0.0)
        logger = KinesisLogger(options.pop("stream_name", "test-stream"), client=client, **options)
        made.append(logger)
        return logger

    yield factory
    for logger in made:
        logger.close(timeout=5.0)
