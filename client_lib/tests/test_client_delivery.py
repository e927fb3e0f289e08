"""Retries: only failed records are resent, transient errors are retried within a budget, others are not."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loglake_client import DeliveryWarning, KinesisLogger, RetryPolicy
from loglake_client._retry import is_retryable
from loglake_client.testing import FakeFirehose, client_error, decode_ndjson


def three_services(log: KinesisLogger, per_service: int = 2) -> None:
    for i in range(per_service):
        for svc in ("a", "b", "c"):
            log.info(service_name=svc, i=i)


def test_after_a_partial_failure_only_the_failed_record_is_resent(
    make_logger: Callable[..., KinesisLogger],
) -> None:
    def fault(index: int, datas: list[bytes]) -> Any:
        return [None, "ServiceUnavailableException", None] if index == 0 else None

    fake = FakeFirehose(fault=fault)
    log = make_logger(fake, flush_interval=3600)
    three_services(log)
    assert log.flush()
    assert len(fake.calls) == 2
    first, second = fake.calls
    assert len(first) == 3 and second == [first[1]]  # accepted records are never sent again
    assert Counter(fake.accepted) == Counter(first)
    s = log.stats
    assert (s.sent, s.retried, s.failed, s.api_calls, s.records) == (6, 2, 0, 2, 3)


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException", "Rate exceeded"),
        client_error("ServiceUnavailableException", "Slow down", 503),
        client_error("SomethingNew", "bad gateway", 502),
        ReadTimeoutError(endpoint_url="https://firehose.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://firehose.us-east-1.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://firehose.us-east-1.amazonaws.com"),
        ConnectionResetError("reset by peer"),
        TimeoutError("timed out"),
    ],
    ids=lambda e: type(e).__name__ + (":" + e.response["Error"]["Code"] if hasattr(e, "operation_name") else ""),
)
def test_transient_errors_are_retried_until_the_call_succeeds(
    make_logger: Callable[..., KinesisLogger], error: Exception
) -> None:
    fake = FakeFirehose(fault=lambda index, datas: error if index < 2 else None)
    log = make_logger(fake)
    three_services(log)
    assert log.flush()
    assert len(fake.calls) == 3 and fake.calls[0] == fake.calls[2]  # a call that raised is resent whole
    s = log.stats
    assert (s.sent, s.retried, s.failed) == (6, 12, 0)


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException", "InvalidArgumentException"])
def test_errors_retrying_cannot_fix_are_not_retried(make_logger: Callable[..., KinesisLogger], code: str) -> None:
    fake = FakeFirehose(fault=lambda index, datas: client_error(code))
    log = make_logger(fake)
    three_services(log)
    with pytest.warns(DeliveryWarning, match=f"6 event.*lost.*no spool_dir.*{code}"):
        assert log.flush() is False
    assert len(fake.calls) == 1
    assert (log.stats.failed, log.stats.retried) == (6, 0)


@pytest.mark.filterwarnings("ignore::loglake_client.DeliveryWarning")
def test_retries_stop_at_the_budget_and_an_outage_then_costs_one_attempt_per_batch(
    make_logger: Callable[..., KinesisLogger],
) -> None:
    down = True
    fake = FakeFirehose(fault=lambda index, datas: client_error("ThrottlingException") if down else None)
    log = make_logger(fake, retry=RetryPolicy(base_delay=0.001, max_delay=0.002, budget=0.05))
    log.info(i=1)
    with pytest.warns(DeliveryWarning, match="1 event.*lost.*gave up after"):
        assert log.flush() is False
    calls_for_first = len(fake.calls)
    assert calls_for_first > 2  # retried within the budget
    log.info(i=2)
    assert log.flush() is False
    assert len(fake.calls) == calls_for_first + 1  # degraded: one attempt, no backoff piling up the queue
    down = False
    log.info(i=3)
    assert log.flush() is True
    log.info(i=4)
    assert log.flush() is True
    assert [e["i"] for e in fake.events()] == [3, 4]
    assert log.stats.failed == 2


def test_backoff_uses_full_jitter_within_an_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(7)
    for retry, cap in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (30, 1.0), (500, 1.0)]:
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > 0.8 * cap and min(delays) < 0.2 * cap  # spread over the whole range


def test_retryable_classification() -> None:
    assert is_retryable(client_error("ThrottlingException"))
    assert is_retryable(client_error("Whatever", status=429))
    assert not is_retryable(client_error("ValidationException"))
    assert not is_retryable(ValueError("a bug"))
    assert is_retryable(ConnectionRefusedError())


def test_a_stuck_firehose_call_does_not_hold_up_the_caller(make_logger: Callable[..., KinesisLogger]) -> None:
    import threading

    entered, release = threading.Event(), threading.Event()

    def stuck(index: int, datas: list[bytes]) -> None:
        entered.set()
        release.wait(10)

    fake = FakeFirehose(fault=stuck)
    log = make_logger(fake, flush_interval=0.0, max_batch_events=1)
    log.info(i=0)
    assert entered.wait(10)  # the worker now sits in a network call that does not return
    for i in range(1, 20):
        log.info(i=i)  # each returns at once: nothing in the request path waits for the network
    assert log.stats.queued == 20 and len(fake.calls) == 1
    release.set()
    assert log.flush(timeout=20)
    assert sorted(e["i"] for e in fake.events()) == list(range(20))


# --------------------------------------------------------------------------- properties

FAULTS = ["ok", "ok", "throttle", "partial", "timeout", "unavailable"]


def faulty(plan: list[str]) -> Callable[[int, list[bytes]], Any]:
    def fault(index: int, datas: list[bytes]) -> Any:
        kind = plan[index % len(plan)]
        if kind == "throttle":
            return client_error("ThrottlingException")
        if kind == "timeout":
            return ReadTimeoutError(endpoint_url="https://firehose")
        if kind == "unavailable":
            return client_error("ServiceUnavailableException", status=503)
        if kind == "partial":
            return ["ServiceUnavailableException" if i % 2 == 0 else None for i in range(len(datas))]
        return None

    return fault


event_specs = st.lists(
    st.tuples(st.sampled_from(["api", "web", "jobs"]), st.integers(min_value=0, max_value=3000)),
    min_size=1,
    max_size=120,
)
logger_options = st.fixed_dictionaries(
    {
        "max_batch_events": st.integers(min_value=1, max_value=50),
        "max_record_bytes": st.sampled_from([4096, 9000, 1000 * 1024]),
        "aggregate": st.booleans(),
    }
)


def run_events(log: KinesisLogger, spec: list[tuple[str, int]]) -> None:
    for i, (svc, pad) in enumerate(spec):
        log.info(service_name=svc, id=i, pad="x" * pad)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=event_specs, options=logger_options)
def test_without_failures_every_event_arrives_exactly_once_within_the_limits(
    spec: list[tuple[str, int]], options: dict[str, Any]
) -> None:
    fake = FakeFirehose()
    with KinesisLogger("s", client=fake, handle_sigterm=False, flush_interval=3600, **options) as log:
        run_events(log, spec)
        assert log.flush()
    assert fake.violations == []
    events = fake.events()
    assert Counter(e["id"] for e in events) == Counter(range(len(spec)))
    for data in fake.accepted:
        assert len({e["service_name"] for e in decode_ndjson([data])}) == 1
    assert log.stats.sent == len(spec) and log.stats.api_calls == len(fake.calls)


@pytest.mark.filterwarnings("ignore::loglake_client.DeliveryWarning")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=event_specs, options=logger_options, plan=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=8))
def test_with_failures_every_event_arrives_at_least_once_or_is_counted(
    spec: list[tuple[str, int]], options: dict[str, Any], plan: list[str]
) -> None:
    fake = FakeFirehose(fault=faulty(plan))
    policy = RetryPolicy(base_delay=0.0005, max_delay=0.001, max_attempts=4)
    with KinesisLogger("s", client=fake, handle_sigterm=False, flush_interval=3600, retry=policy, **options) as log:
        run_events(log, spec)
        log.flush()
    assert fake.violations == []
    arrived = {e["id"] for e in fake.events()}
    s = log.stats
    assert s.queued == len(spec) and s.dropped == 0
    assert s.sent + s.failed + s.spooled == s.queued
    assert len(set(range(len(spec))) - arrived) <= s.failed + s.spooled
    assert len(fake.events()) == s.sent  # the counter matches what Firehose accepted


def test_warnings_are_rate_limited_and_carry_the_count_since_the_last_one() -> None:
    from loglake_client._delivery import Warner

    now = [0.0]
    warner = Warner(interval=30.0, clock=lambda: now[0])
    with pytest.warns(DeliveryWarning) as caught:
        warner.note("failed", 2, "{n} event(s) lost")
        warner.note("failed", 3, "{n} event(s) lost")  # within 30 s: held back, counted
        warner.note("other", 1, "{n} other")
        now[0] = 31.0
        warner.note("failed", 1, "{n} event(s) lost")
    assert [str(w.message) for w in caught] == [
        "loglake-client: 2 event(s) lost",
        "loglake-client: 1 other",
        "loglake-client: 4 event(s) lost",
    ]


def test_warnings_turned_into_errors_do_not_break_delivery(make_logger: Callable[..., KinesisLogger]) -> None:
    import warnings

    fake = FakeFirehose(fault=lambda index, datas: client_error("AccessDeniedException") if index == 0 else None)
    log = make_logger(fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log.info(i=1)
        assert log.flush() is False
        log.info(i=2)
        assert log.flush() is True
    assert [e["i"] for e in fake.events()] == [2]


@pytest.mark.filterwarnings("ignore::loglake_client.DeliveryWarning")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=event_specs, options=logger_options, plan=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=8))
def test_with_failures_and_a_spool_every_event_is_delivered_or_on_disk(
    spec: list[tuple[str, int]], options: dict[str, Any], plan: list[str]
) -> None:
    import tempfile
    from pathlib import Path

    from loglake_client._spool import read_entries

    fake = FakeFirehose(fault=faulty(plan))
    policy = RetryPolicy(base_delay=0.0005, max_delay=0.001, max_attempts=3)
    with tempfile.TemporaryDirectory() as spool_dir:
        with KinesisLogger(
            "s",
            client=fake,
            handle_sigterm=False,
            flush_interval=3600,
            retry=policy,
            spool_dir=spool_dir,
            **options,
        ) as log:
            run_events(log, spec)
            log.flush()
        on_disk = decode_ndjson(
            [p for seg in Path(spool_dir).glob("*.seg") for _, _, p in read_entries(seg.read_bytes())]
        )
    s = log.stats
    assert fake.violations == [] and s.failed == 0
    arrived = {e["id"] for e in fake.events()}
    spooled = {e["id"] for e in on_disk}
    assert arrived | spooled == set(range(len(spec)))  # nothing lost: sent, or waiting in the spool
    assert s.sent + s.replayed + s.spooled >= len(spec)
