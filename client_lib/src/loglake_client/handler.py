"""KinesisHandler: a ``logging.Handler`` that turns log records into loglake events."""

from __future__ import annotations

import logging
import threading
from typing import Any

from loglake_client import _lifecycle
from loglake_client._encoding import utc_timestamp
from loglake_client.logger import KinesisLogger

#: Loggers whose records are never sent: the AWS SDK and HTTP stack the worker itself uses (sending them would
#: log the sending, which logs the sending, ...), and this package.
IGNORED_LOGGERS: tuple[str, ...] = ("botocore", "boto3", "urllib3", "s3transfer", "loglake_client")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and becomes an event field.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class KinesisHandler(logging.Handler):
    """Send log records to a loglake delivery stream through a :class:`KinesisLogger`.

    Each record becomes an event with ``message`` (the formatted message text), ``logger``, ``level``,
    ``timestamp`` (when the record was created), ``exception`` (formatted traceback, when there is one),
    ``stack_info`` (when asked for), and every field given with ``extra=``. Records from botocore, boto3,
    urllib3, s3transfer and loglake_client, and any record emitted by the logger's own worker thread, are
    dropped, so sending never logs itself into a loop.

    Parameters
    ----------
    stream_name:
        The delivery stream; a :class:`KinesisLogger` is created (and owned: closed with the handler) with it
        and ``logger_options``. Ignored when ``logger`` is given.
    logger:
        An existing :class:`KinesisLogger` to share; it is not closed with the handler.
    level:
        The handler's level.
    **logger_options:
        Passed to :class:`KinesisLogger` (``service_name``, ``client``, ``flush_interval``, ...).

    Examples
    --------
    With :func:`logging.config.dictConfig`::

        logging.config.dictConfig({
            "version": 1,
            "handlers": {"lake": {"class": "loglake_client.KinesisHandler",
                                  "stream_name": "loglake-access-logs", "service_name": "shop"}},
            "root": {"handlers": ["lake"], "level": "INFO"},
        })
        logging.getLogger("shop").info("paid", extra={"order_id": "o-1", "amount_cents": 1250})
    """

    def __init__(
        self,
        stream_name: str | None = None,
        *,
        logger: KinesisLogger | None = None,
        level: int | str = logging.NOTSET,
        **logger_options: Any,
    ) -> None:
        super().__init__(level)
        if logger is None:
            if not stream_name:
                from loglake_client._errors import ConfigurationError

                raise ConfigurationError("KinesisHandler needs stream_name (or an existing logger=KinesisLogger)")
            logger = KinesisLogger(stream_name, **logger_options)
            self._owns_logger = True
        else:
            self._owns_logger = False
        self.kinesis_logger = logger
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        for prefix in IGNORED_LOGGERS:
            if name == prefix or name.startswith(prefix + "."):
                return False
        if record.thread in _lifecycle.worker_idents:
            return False
        if name == "py.warnings" and "DeliveryWarning" in str(record.msg):
            return False  # our own delivery warnings, captured by logging.captureWarnings
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record as an event; never raises, never prints a traceback."""
        if getattr(self._local, "busy", False):
            return  # formatting the record logged something: do not recurse
        self._local.busy = True
        try:
            self.kinesis_logger._log(record.levelname, self.to_event(record), {}, owned=True)
        except Exception:
            pass
        finally:
            self._local.busy = False

    def to_event(self, record: logging.LogRecord) -> dict[str, Any]:
        """The event a record becomes (also useful to check what will be sent)."""
        event: dict[str, Any] = {
            "timestamp": utc_timestamp(record.created),
            "message": _message(record),
            "logger": record.name,
        }
        if record.exc_info and record.exc_info[0] is not None:
            formatter = self.formatter or logging.Formatter()
            event["exception"] = record.exc_text or formatter.formatException(record.exc_info)
            event["exception_type"] = record.exc_info[0].__name__
        elif record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack_info"] = record.stack_info
        attrs = record.__dict__
        for key in attrs.keys() - _STANDARD_ATTRS:  # the extra= fields, found by one C-level set difference
            if not key.startswith("_"):
                event.setdefault(key, attrs[key])
        return event

    def flush(self) -> None:
        """Send what is queued (bounded by the logger's ``shutdown_timeout``)."""
        self.kinesis_logger.flush(timeout=self.kinesis_logger.shutdown_timeout)

    def close(self) -> None:
        """Close the logger if this handler created it; called by ``logging.shutdown()`` at exit."""
        try:
            if self._owns_logger:
                self.kinesis_logger.close()
            else:
                self.flush()
        finally:
            super().close()


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a format string that does not match its arguments: keep both, unmerged
        return f"{record.msg!s} {record.args!r}"
