"""KinesisHandler: log records become events; the SDK's own records never loop back."""

from __future__ import annotations

import logging
import logging.config
import sys
import types
from collections.abc import Callable, Iterator

import pytest
from loglake_client import KinesisHandler, KinesisLogger
from loglake_client.testing import FakeFirehose


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("shop.checkout")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()


def test_records_become_events_with_message_logger_level_exception_and_extra(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose, app_logger: logging.Logger
) -> None:
    log = make_logger(fake, service_name="shop")
    app_logger.addHandler(KinesisHandler(logger=log))
    app_logger.info("paid %s cents", 1250, extra={"order_id": "o-1", "amount": 12.5})
    try:
        raise ValueError("card declined")
    except ValueError:
        app_logger.exception("payment failed")
    app_logger.warning("with stack", stack_info=True)
    assert log.flush()
    paid, failed, stacked = fake.events()
    assert paid["message"] == "paid 1250 cents" and paid["logger"] == "shop.checkout"
    assert paid["level"] == "INFO" and paid["service_name"] == "shop"
    assert paid["order_id"] == "o-1" and paid["amount"] == 12.5
    assert "args" not in paid and "msg" not in paid and "exc_info" not in paid
    assert paid["timestamp"].endswith("Z")
    assert failed["level"] == "ERROR" and failed["exception_type"] == "ValueError"
    assert "Traceback" in failed["exception"] and "card declined" in failed["exception"]
    assert "test_records_become_events" in stacked["stack_info"]


def test_sdk_and_own_records_are_dropped(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    log = make_logger(fake)
    handler = KinesisHandler(logger=log)
    for name in (
        "botocore.endpoint",
        "boto3.resources",
        "urllib3.connectionpool",
        "loglake_client",
        "s3transfer",
    ):
        handler.handle(logging.LogRecord(name, logging.ERROR, __file__, 1, "noise", (), None))
    handler.handle(logging.LogRecord("botocore_fan_app", logging.INFO, __file__, 1, "kept", (), None))
    assert log.flush()
    assert [e["message"] for e in fake.events()] == ["kept"]


def test_records_made_on_the_worker_thread_are_dropped(make_logger: Callable[..., KinesisLogger]) -> None:
    """Whatever the sending code logs (at any logger name) cannot feed back into the queue."""
    root_logger = logging.getLogger("loop.check")
    root_logger.setLevel(logging.DEBUG)

    class Chatty(FakeFirehose):
        def put_record_batch(self, **kwargs):  # type: ignore[no-untyped-def]
            root_logger.info("sending a batch")  # runs on the worker thread
            return super().put_record_batch(**kwargs)

    fake = Chatty()
    log = make_logger(fake)
    handler = KinesisHandler(logger=log)
    root_logger.addHandler(handler)
    try:
        root_logger.info("from the app")
        assert log.flush()
        assert log.flush()
    finally:
        root_logger.removeHandler(handler)
    assert [e["message"] for e in fake.events()] == ["from the app"]
    assert log.stats.queued == 1


def test_emit_never_raises_and_keeps_a_message_that_cannot_be_formatted(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake)
    handler = KinesisHandler(logger=log)
    handler.handle(logging.LogRecord("app", logging.INFO, __file__, 1, "two args %s %s", ("only one",), None))
    handler.handle(logging.LogRecord("app", logging.INFO, __file__, 1, "fine", (), None))
    assert log.flush()
    assert [e["message"] for e in fake.events()] == ["two args %s %s ('only one',)", "fine"]


def test_dict_config_builds_and_owns_its_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeFirehose()
    module = types.ModuleType("_loglake_dictconfig_target")
    module.CLIENT = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "lake": {
                    "class": "loglake_client.KinesisHandler",
                    "level": "INFO",
                    "stream_name": "access-logs",
                    "service_name": "shop",
                    "client": "ext://_loglake_dictconfig_target.CLIENT",
                    "handle_sigterm": False,
                }
            },
            "loggers": {"dictconfig.app": {"handlers": ["lake"], "level": "DEBUG", "propagate": False}},
        }
    )
    app = logging.getLogger("dictconfig.app")
    (handler,) = app.handlers
    try:
        app.debug("below the handler's level")
        app.info("configured", extra={"k": "v"})
    finally:
        app.removeHandler(handler)
        handler.close()  # owns its logger: closing sends and stops it
    assert handler.kinesis_logger.closed
    (event,) = fake.events()
    assert (event["message"], event["k"], event["service_name"]) == ("configured", "v", "shop")
    assert fake.stream_names == {"access-logs"}


def test_a_shared_logger_is_flushed_not_closed_by_the_handler(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake)
    handler = KinesisHandler(logger=log)
    handler.handle(logging.LogRecord("app", logging.INFO, __file__, 1, "m", (), None))
    handler.close()
    assert not log.closed and len(fake.events()) == 1
