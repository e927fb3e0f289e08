"""KinesisLogger: queue events in the request path, send them in batches from one daemon thread."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Hashable, Mapping
from typing import Any, Literal

from loglake_client import _lifecycle
from loglake_client._delivery import Sender, Warner
from loglake_client._encoding import _key, _text, encode_line, shrink, utc_timestamp
from loglake_client._errors import ConfigurationError
from loglake_client._packing import MAX_BYTES_PER_CALL, MAX_RECORD_BYTES
from loglake_client._retry import RetryPolicy
from loglake_client._spool import Spool
from loglake_client._stats import Counters, Stats
from loglake_client._worker import WorkerMixin

_LEVEL_NAMES = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def _level_name(level: str | int) -> str:
    if isinstance(level, int):
        return _LEVEL_NAMES.get(level) or logging.getLevelName(level)
    return str(level).upper()


class KinesisLogger(WorkerMixin):
    """Send structured events to a Firehose delivery stream without ever blocking on the network.

    ``info()`` and friends encode the event and put it on a bounded in-memory queue; one daemon thread packs
    queued events into Firehose records and sends them with ``PutRecordBatch``.

    Parameters
    ----------
    stream_name:
        The Firehose delivery stream.
    service_name:
        Added to every event that carries none. Records hold events of one service only.
    client:
        A boto3 Firehose client, or anything with a compatible ``put_record_batch``. When omitted, one is
        created on first use in the worker thread, with short timeouts and botocore's own retries off (this
        logger retries, within ``retry.budget``).
    region_name:
        Region of the client created when ``client`` is omitted.
    flush_interval:
        Seconds the oldest queued event may wait before a batch is cut.
    max_batch_events:
        Events per batch; a batch is cut when it is reached even before ``flush_interval``.
    aggregate:
        Pack several events per record (NDJSON) so that Firehose's 5 KB billing increment is not paid per
        event. With ``False`` every event is its own record.
    max_queue_events, max_queue_bytes:
        Bounds of the queue (events, and bytes of encoded events). Memory stays bounded whatever happens to
        the network.
    when_full:
        ``"drop"`` counts and drops an event that finds the queue full; ``"block"`` waits up to
        ``block_timeout`` seconds for room first.
    spool_dir:
        A directory where events that cannot be delivered (retry budget spent, or shutdown) are written, and
        from which they are resent, by this process once delivery works again or by the next one to use the
        directory. ``None``: such events are counted as ``failed``.
    spool_max_bytes:
        Size bound of ``spool_dir``; the oldest unsent segments are evicted beyond it.
    retry:
        Backoff and time budget of retries (:class:`RetryPolicy`).
    max_record_bytes:
        Largest record; an event whose encoded line is longer is cut at the documented field limits
        (:data:`loglake_client.FIELD_LIMITS`) or rejected.
    shutdown_timeout:
        Default timeout of ``close()``, used by the ``atexit`` hook and on SIGTERM.
    handle_sigterm:
        Install a SIGTERM handler that flushes before the process dies, if SIGTERM has no handler yet.
    warn_interval:
        Least seconds between two :class:`DeliveryWarning` of the same kind.

    Examples
    --------
    >>> from loglake_client.testing import FakeFirehose
    >>> fake = FakeFirehose()
    >>> with KinesisLogger("access-logs", service_name="shop", client=fake) as log:
    ...     log.info({"path": "/cart", "status_code": 200})
    ...     log.flush()
    True
    >>> [(e["path"], e["level"], e["service_name"]) for e in fake.events()]
    [('/cart', 'INFO', 'shop')]
    """

    def __init__(
        self,
        stream_name: str,
        *,
        service_name: str | None = None,
        client: Any = None,
        region_name: str | None = None,
        flush_interval: float = 1.0,
        max_batch_events: int = 1000,
        aggregate: bool = True,
        max_queue_events: int = 10_000,
        max_queue_bytes: int = 64 * 2**20,
        when_full: Literal["drop", "block"] = "drop",
        block_timeout: float = 0.5,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = 256 * 2**20,
        retry: RetryPolicy | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
        shutdown_timeout: float = 5.0,
        handle_sigterm: bool = True,
        warn_interval: float = 30.0,
    ) -> None:
        if not isinstance(stream_name, str) or not stream_name:
            raise ConfigurationError("stream_name must be the delivery stream's name, a non-empty string")
        if when_full not in ("drop", "block"):
            raise ConfigurationError(f"when_full must be 'drop' or 'block', not {when_full!r}")
        if not max_batch_events >= 1:
            raise ConfigurationError("max_batch_events must be >= 1")
        if max_queue_events < 1 or max_queue_bytes < max_record_bytes:
            raise ConfigurationError("max_queue_events must be >= 1 and max_queue_bytes >= max_record_bytes")
        if not 64 <= max_record_bytes <= MAX_RECORD_BYTES:
            raise ConfigurationError(f"max_record_bytes must be within 64..{MAX_RECORD_BYTES} (Firehose's limit)")
        if flush_interval < 0 or block_timeout < 0 or shutdown_timeout < 0:
            raise ConfigurationError("flush_interval, block_timeout and shutdown_timeout must be >= 0 seconds")
        self.stream_name = stream_name
        self.service_name = service_name
        self.region_name = region_name
        self.flush_interval = float(flush_interval)
        self.max_batch_events = int(max_batch_events)
        self.aggregate = aggregate
        self.max_queue_events = int(max_queue_events)
        self.max_queue_bytes = int(max_queue_bytes)
        self.when_full = when_full
        self.block_timeout = float(block_timeout)
        self.max_record_bytes = int(max_record_bytes)
        self.shutdown_timeout = float(shutdown_timeout)
        self.retry = retry or RetryPolicy()
        self._client = client
        self._owns_client = client is None
        self._spool = (
            Spool(spool_dir, max_bytes=spool_max_bytes, segment_bytes=min(8 * 2**20, spool_max_bytes))
            if spool_dir is not None
            else None
        )
        self._warn_interval = float(warn_interval)
        self._closed = False
        self._init_state(replay=True)
        _lifecycle.register(self)
        if handle_sigterm:
            _lifecycle.install_sigterm_handler()
        self._start_worker()

    def _init_state(self, *, replay: bool) -> None:
        """(Re)create everything a process owns alone: queue, locks, counters, worker (after fork too)."""
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        self._stopped = threading.Event()
        self._items: deque[tuple[Hashable, bytes, float]] = deque()
        self._qbytes = 0
        self._blocked = 0
        self._enqueued = 0  # events ever queued: the target of a flush
        self._done = 0  # events the worker has finished with (sent, failed or spooled)
        self._flush_waiters: list[tuple[int, threading.Event]] = []
        self._closing = False
        self._close_deadline: float | None = None
        self._close_send_deadline: float | None = None
        self._c = Counters()
        self._reported: dict[str, int] = {"full": 0, "oversize": 0}
        self._full_drops = 0
        self._worker: threading.Thread | None = None
        self._warner = Warner(self._warn_interval)
        self._sender = Sender(
            get_client=self._get_client,
            stream_name=self.stream_name,
            retry=self.retry,
            counters=self._c,
            spool=self._spool,
            warner=self._warner,
            deadline=self._send_deadline,
            interrupt=self._interrupt,
        )
        self._sender.replay_wanted = replay and self._spool is not None

    # ------------------------------------------------------------------ request path
    def log(self, level: str | int, event: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Queue one event at ``level``; never raises and never touches the network.

        The event is copied (the caller's mapping is not changed) and gets ``timestamp`` (UTC ISO-8601 with
        milliseconds and ``Z``) unless it has one, ``level``, and ``service_name`` unless it has one. Keyword
        ``fields`` are merged over ``event``. A non-mapping ``event`` becomes ``{"message": str(event)}``.

        Examples
        --------
        >>> log.log("info", {"path": "/"}, status_code=200)  # doctest: +SKIP
        """
        try:
            self._log(_level_name(level), event, fields)
        except Exception:  # a logging call must never break the request that makes it
            with contextlib.suppress(Exception):
                self._c.dropped += 1

    def debug(self, event: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Queue an event at level ``DEBUG`` (see :meth:`log`)."""
        self.log("DEBUG", event, **fields)

    def info(self, event: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Queue an event at level ``INFO`` (see :meth:`log`).

        Examples
        --------
        >>> log.info({"request_id": "r-1", "path": "/cart", "status_code": 200})  # doctest: +SKIP
        """
        self.log("INFO", event, **fields)

    def warning(self, event: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Queue an event at level ``WARNING`` (see :meth:`log`)."""
        self.log("WARNING", event, **fields)

    def error(self, event: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Queue an event at level ``ERROR`` (see :meth:`log`)."""
        self.log("ERROR", event, **fields)

    def critical(self, event: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Queue an event at level ``CRITICAL`` (see :meth:`log`)."""
        self.log("CRITICAL", event, **fields)

    def _log(self, level: str, event: Any, fields: dict[str, Any], *, owned: bool = False) -> None:
        """Queue one event; ``owned`` means ``event`` is a fresh dict of the caller's own (no copy needed)."""
        if self._closed:
            with self._lock:
                self._c.dropped += 1
            return
        if event is None:
            out: dict[str, Any] = {}
        elif owned:
            out = event
        elif isinstance(event, dict):
            out = event.copy()
        elif isinstance(event, Mapping):
            out = dict(event)
        else:
            out = {"message": event if isinstance(event, str) else _text(event)}
        if fields:
            out.update(fields)
        if "timestamp" not in out:
            out["timestamp"] = utc_timestamp()
        out["level"] = level
        service = out.get("service_name")
        if service is None and self.service_name is not None:
            out["service_name"] = service = self.service_name
        line = encode_line(out)
        truncated = False
        if len(line) > self.max_record_bytes:
            cut_line, _ = shrink(out, self.max_record_bytes)
            if cut_line is None:
                with self._lock:
                    self._c.oversize += 1
                    self._c.dropped += 1
                return
            line, truncated = cut_line, True
        key = service if service is None or isinstance(service, str) else _key(service)
        self._enqueue(key, line, truncated)

    def _enqueue(self, key: Hashable, line: bytes, truncated: bool) -> None:
        size = len(line)
        with self._lock:
            if self._worker is None and not self._closed:
                self._start_worker()  # first use in a forked child
            deadline = None
            while len(self._items) >= self.max_queue_events or self._qbytes + size > self.max_queue_bytes:
                if self._closed or self.when_full != "block":
                    self._drop_full()
                    return
                now = time.monotonic()
                deadline = now + self.block_timeout if deadline is None else deadline
                if now >= deadline:
                    self._drop_full()
                    return
                self._blocked += 1
                try:
                    self._not_full.wait(deadline - now)
                finally:
                    self._blocked -= 1
            if self._closed:
                self._c.dropped += 1
                return
            self._items.append((key, line, time.monotonic()))
            self._qbytes += size
            self._enqueued += 1
            self._c.queued += 1
            if truncated:
                self._c.truncated += 1
            n = len(self._items)
            wake = (
                n == 1
                or n == self.max_batch_events
                or (self._qbytes >= MAX_BYTES_PER_CALL and self._qbytes - size < MAX_BYTES_PER_CALL)
            )
        if wake:
            self._wake.set()

    def _drop_full(self) -> None:
        self._c.dropped += 1
        self._full_drops += 1

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send every event queued before this call; wait at most ``timeout`` seconds.

        Returns ``True`` when all of them were accepted by Firehose or written to the spool in time, ``False``
        when the timeout expired or some could not be delivered. Never raises.

        Examples
        --------
        >>> log.flush(timeout=2.0)  # doctest: +SKIP
        True
        """
        failed_before = self._c.failed
        with self._lock:
            target = self._enqueued
            if self._done >= target:
                return True
            if self._closed:
                return False  # closed with events left behind (stuck worker): they were spooled or counted
            worker = self._worker
            if worker is None or worker is threading.current_thread() or not worker.is_alive():
                return False
            done = threading.Event()
            self._flush_waiters.append((target, done))
        self._wake.set()
        ok = done.wait(timeout)
        if not ok:
            with self._lock, contextlib.suppress(ValueError):
                self._flush_waiters.remove((target, done))
        return ok and self._c.failed == failed_before

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (or spool it), stop the worker; idempotent, never raises.

        Waits at most ``timeout`` seconds (default ``shutdown_timeout``). Events still unsent then are spooled
        (with ``spool_dir``) or counted as failed. Events logged after ``close()`` are dropped silently.
        """
        deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else max(timeout, 0.0))
        self._begin_close(deadline)
        self._finish_close()

    def __enter__(self) -> KinesisLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> Stats:
        """A snapshot of the delivery counters (:class:`Stats`: attributes, a mapping, ``as_dict()``)."""
        return self._c.snapshot()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _begin_close(self, deadline: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closing = True
            self._close_deadline = deadline
            # Keep a little of the time for writing the spool, so nothing is cut off mid-write.
            reserve = 0.0 if self._spool is None else min(0.5, 0.2 * max(deadline - time.monotonic(), 0.0))
            self._close_send_deadline = deadline - reserve
            self._not_full.notify_all()
        self._wake.set()
        self._interrupt.set()

    def _finish_close(self) -> None:
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            remaining = (self._close_deadline or time.monotonic()) - time.monotonic()
            worker.join(max(remaining, 0.0) + 0.05)
        if worker is None or worker.is_alive():
            # No worker, or one stuck in a network call past the deadline: spool what it has not taken.
            with self._lock:
                items = list(self._items)
                self._items.clear()
                self._qbytes = 0
            if items:
                self._sender.give_up(self._pack(items), "the worker did not finish within the close timeout")
        if self._spool is not None and (worker is None or not worker.is_alive()):
            self._spool.close()
        _lifecycle.unregister(self)

    def _reinit_after_fork(self) -> None:
        """In a forked child: own queue and worker (started on first use).

        The parent's queued events stay the parent's to send: a child that sent them too would duplicate them.
        """
        spool = self._spool
        if spool is not None:
            spool.forget_after_fork()
        if self._owns_client:
            self._client = None  # a boto3 client's connection pool must not be shared across processes
        self._init_state(replay=False)

    # ------------------------------------------------------------------ worker
    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._run, name=f"loglake-client-{self.stream_name}", daemon=True)
        self._worker.start()

    def _send_deadline(self) -> float | None:
        return self._close_send_deadline
