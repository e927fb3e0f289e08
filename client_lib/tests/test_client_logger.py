"""KinesisLogger's request path, batching, queue bounds, flush/close and counters."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from loglake_client import (
    TRUNCATION_MARKER,
    ConfigurationError,
    DeliveryWarning,
    KinesisLogger,
    LoglakeClientError,
    Stats,
)
from loglake_client.testing import FakeFirehose

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Gate:
    """A fault hook that holds every call until opened, and tells when a call is waiting."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, index: int, datas: list[bytes]) -> None:
        self.entered.set()
        assert self.opened.wait(10), "gate never opened"
        return None


def test_events_get_timestamp_level_and_service_and_the_callers_dict_is_untouched(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake, service_name="shop")
    event = {"path": "/cart", "status_code": 200}
    log.info(event, user_id="u-1")
    log.warning({"service_name": "billing", "timestamp": "2026-11-22T10:00:00.000Z"})
    log.log(40, "plain text")
    assert log.flush()
    assert event == {"path": "/cart", "status_code": 200}
    by_level = {e["level"]: e for e in fake.events()}
    assert by_level["INFO"]["path"] == "/cart" and by_level["INFO"]["user_id"] == "u-1"
    assert by_level["INFO"]["service_name"] == "shop"
    assert ISO_MS_Z.match(by_level["INFO"]["timestamp"])
    assert by_level["WARNING"]["service_name"] == "billing"  # the event's own service wins
    assert by_level["WARNING"]["timestamp"] == "2026-11-22T10:00:00.000Z"
    assert by_level["ERROR"]["message"] == "plain text"


def test_every_level_method(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    log = make_logger(fake)
    log.debug(n=1)
    log.info(n=2)
    log.warning(n=3)
    log.error(n=4)
    log.critical(n=5)
    log.log("info", n=6)
    log.log(10, n=7)
    assert log.flush()
    levels = {e["n"]: e["level"] for e in fake.events()}
    assert levels == {1: "DEBUG", 2: "INFO", 3: "WARNING", 4: "ERROR", 5: "CRITICAL", 6: "INFO", 7: "DEBUG"}
    assert all("service_name" not in e for e in fake.events())  # none given, none invented


def test_sending_happens_on_the_worker_thread_only(make_logger: Callable[..., KinesisLogger]) -> None:
    threads: list[int] = []

    class Recorder(FakeFirehose):
        def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
            threads.append(threading.get_ident())
            return super().put_record_batch(**kwargs)

    log = make_logger(Recorder(), flush_interval=0.0)
    for i in range(50):
        log.info(i=i)
    assert log.flush()
    assert threads and threading.get_ident() not in threads


def test_a_batch_is_cut_at_max_batch_events(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    log = make_logger(fake, flush_interval=3600, max_batch_events=100)
    for i in range(250):
        log.info(i=i)
    assert fake.wait_for_events(200, timeout=10)
    assert [sum(d.count(b"\n") for d in call) for call in fake.calls] == [100, 100]
    assert log.flush()
    assert [sum(d.count(b"\n") for d in call) for call in fake.calls] == [100, 100, 50]


def test_a_batch_is_cut_when_the_oldest_event_is_flush_interval_old(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake, flush_interval=0.3, max_batch_events=1000)
    for i in range(3):
        log.info(i=i)
    # No flush(): only the interval can cut this batch.
    assert fake.wait_for_events(3, timeout=10)
    assert len(fake.calls) == 1


def test_flush_times_out_without_hanging_and_succeeds_later(
    make_logger: Callable[..., KinesisLogger],
) -> None:
    gate = Gate()
    log = make_logger(FakeFirehose(fault=gate))
    log.info(i=1)
    assert log.flush(timeout=0.05) is False
    gate.opened.set()
    assert log.flush(timeout=10) is True
    assert log.stats.sent == 1


def test_flush_reports_failure_when_events_could_not_be_delivered(
    make_logger: Callable[..., KinesisLogger],
) -> None:
    from loglake_client.testing import client_error

    fake = FakeFirehose(fault=lambda i, d: client_error("ResourceNotFoundException", "no such stream"))
    log = make_logger(fake)
    log.info(i=1)
    with pytest.warns(DeliveryWarning, match="ResourceNotFoundException"):
        assert log.flush() is False
    assert log.stats.failed == 1


def test_close_is_idempotent_and_logging_after_close_is_silent(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake)
    log.info(i=1)
    log.close()
    log.close()
    assert log.closed and fake.events()[0]["i"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log.info(i=2)  # neither raises nor warns
        log.close()
    assert log.stats.dropped == 1 and log.flush() is True


def test_context_manager_sends_everything_on_exit(fake: FakeFirehose) -> None:
    with KinesisLogger("s", client=fake, handle_sigterm=False, flush_interval=3600) as log:
        for i in range(10):
            log.info(i=i)
    assert sorted(e["i"] for e in fake.events()) == list(range(10))
    assert log.stats.queued == log.stats.sent == 10


def test_full_queue_drops_counts_and_warns_without_blocking(
    make_logger: Callable[..., KinesisLogger],
) -> None:
    gate = Gate()
    fake = FakeFirehose(fault=gate)
    log = make_logger(fake, max_batch_events=1, max_queue_events=10)
    log.info(i=0)
    assert gate.entered.wait(10)  # the worker holds event 0 and is stuck in the network call
    for i in range(1, 16):
        log.info(i=i)
    assert log.stats.dropped == 5 and log.stats.queued == 11
    with pytest.warns(DeliveryWarning, match="5 event.*queue was full"):
        gate.opened.set()
        assert log.flush()
    assert sorted(e["i"] for e in fake.events()) == list(range(11))


def test_block_mode_waits_for_room_and_then_delivers(make_logger: Callable[..., KinesisLogger]) -> None:
    gate = Gate()
    fake = FakeFirehose(fault=gate)
    log = make_logger(fake, max_batch_events=1, max_queue_events=2, when_full="block", block_timeout=10)
    log.info(i=0)
    assert gate.entered.wait(10)
    log.info(i=1)
    log.info(i=2)
    producer = threading.Thread(target=log.info, kwargs={"i": 3})
    producer.start()
    gate.opened.set()
    producer.join(10)
    assert log.flush()
    assert sorted(e["i"] for e in fake.events()) == [0, 1, 2, 3]
    assert log.stats.dropped == 0


def test_block_mode_gives_up_after_block_timeout(make_logger: Callable[..., KinesisLogger]) -> None:
    gate = Gate()
    log = make_logger(
        FakeFirehose(fault=gate),
        max_batch_events=1,
        max_queue_events=1,
        when_full="block",
        block_timeout=0.02,
    )
    log.info(i=0)
    assert gate.entered.wait(10)
    log.info(i=1)
    log.info(i=2)  # waits up to 20 ms for room, then drops
    assert log.stats.dropped == 1
    with pytest.warns(DeliveryWarning, match="1 event.*queue was full"):
        gate.opened.set()
        assert log.flush()


def test_queue_is_bounded_in_bytes_too(make_logger: Callable[..., KinesisLogger]) -> None:
    gate = Gate()
    log = make_logger(FakeFirehose(fault=gate), max_batch_events=1, max_queue_bytes=20_000, max_record_bytes=10_000)
    log.info(i=0)
    assert gate.entered.wait(10)
    for i in range(5):
        log.info(i=i, pad="x" * 6_000)
    assert log.stats.queued == 1 + 3 and log.stats.dropped == 2
    with pytest.warns(DeliveryWarning, match="2 event.*queue was full"):
        gate.opened.set()
        assert log.flush()


def test_oversized_events_are_cut_or_rejected_and_never_hold_up_others(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake, max_record_bytes=8192)
    log.info(i=1)
    log.info(i=2, path="/" + "p" * 20_000)  # cut at the path limit (2,048 characters)
    log.info(i=3, **{f"f{j}": "z" * 20_000 for j in range(3)})  # too many big fields: rejected
    log.info(i=4)
    with pytest.warns(DeliveryWarning, match="1 event.*too large"):
        assert log.flush()
    events = {e["i"]: e for e in fake.events()}
    assert sorted(events) == [1, 2, 4]
    assert len(events[2]["path"]) == 2048 and events[2]["path"].endswith(TRUNCATION_MARKER)
    s = log.stats
    assert (s.truncated, s.oversize, s.dropped, s.sent) == (1, 1, 1, 3)


def test_stats_are_a_snapshot_readable_as_attributes_and_as_a_mapping(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake, service_name="shop")
    for i in range(20):
        log.info(i=i)
    assert log.flush()
    s = log.stats
    assert isinstance(s, Stats)
    assert s.sent == s["sent"] == s.as_dict()["sent"] == 20
    assert set(s) >= {
        "queued",
        "sent",
        "retried",
        "failed",
        "dropped",
        "spooled",
        "api_calls",
        "billed_bytes",
    }
    assert s.queued == s.sent + s.failed + s.spooled
    assert (s.api_calls, s.records) == (1, 1)
    assert s.billed_bytes == 5120 and 0 < s.payload_bytes <= 5120
    log.info(i=99)
    assert s.queued == 20  # a snapshot does not move


@pytest.mark.parametrize(
    "options",
    [
        {"when_full": "wait"},
        {"max_batch_events": 0},
        {"max_record_bytes": 2_000_000},
        {"flush_interval": -1},
        {"max_queue_events": 0},
    ],
)
def test_bad_configuration_fails_fast_with_a_clear_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        KinesisLogger("s", client=FakeFirehose(), handle_sigterm=False, **options)
    assert isinstance(info.value, LoglakeClientError) and isinstance(info.value, ValueError)
    assert str(info.value)


def test_a_logger_created_in_the_main_thread_installs_no_handler_when_sigterm_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal

    from loglake_client import _lifecycle

    def custom(signum: int, frame: Any) -> None:  # pragma: no cover - never signalled
        pass

    previous = signal.signal(signal.SIGTERM, custom)
    monkeypatch.setattr(_lifecycle, "_sigterm_installed", False)
    try:
        assert _lifecycle.install_sigterm_handler() is False
        assert signal.getsignal(signal.SIGTERM) is custom
    finally:
        signal.signal(signal.SIGTERM, previous)
