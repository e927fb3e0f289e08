"""The worker thread's half of :class:`~loglake_client.KinesisLogger`: wait for a batch, send it, replay."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Any

from loglake_client import _lifecycle
from loglake_client._delivery import Sender, Warner
from loglake_client._packing import MAX_BYTES_PER_CALL, Record, pack_records
from loglake_client._spool import Spool
from loglake_client._stats import Counters

Item = tuple[Hashable, bytes, float]  # (service, encoded line, monotonic time queued)


class WorkerMixin:
    """Methods that run on the worker thread; the state they share is set up by ``KinesisLogger``."""

    _lock: threading.Lock
    _not_full: threading.Condition
    _wake: threading.Event
    _stopped: threading.Event
    _items: deque[Item]
    _qbytes: int
    _blocked: int
    _done: int
    _flush_waiters: list[tuple[int, threading.Event]]
    _closing: bool
    _c: Counters
    _sender: Sender
    _warner: Warner
    _reported: dict[str, int]
    _full_drops: int
    _spool: Spool | None
    _client: Any
    region_name: str | None
    flush_interval: float
    max_batch_events: int
    max_record_bytes: int
    aggregate: bool

    def _get_client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"total_max_attempts": 1, "mode": "standard"},
                user_agent_extra="loglake-client",
            )
            self._client = boto3.session.Session().client("firehose", region_name=self.region_name, config=config)
        return self._client

    def _pack(self, items: list[Item]) -> list[Record]:
        return pack_records(
            ((k, line) for k, line, _ in items),
            max_record_bytes=self.max_record_bytes,
            aggregate=self.aggregate,
        )

    def _run(self) -> None:
        _lifecycle.worker_idents.add(threading.get_ident())
        replay = None
        try:
            while True:
                batch, closing = self._next_batch(idle_work=self._sender.replay_wanted or replay is not None)
                if batch:
                    try:
                        self._sender.send(self._pack(batch))
                    except Exception as exc:  # a bug here must not kill the worker or lose the count
                        self._c.failed += len(batch)
                        self._warner.note("bug", len(batch), "{n} event(s) lost to an internal error: " + repr(exc))
                    self._finish(len(batch))
                elif closing:
                    break
                elif self._sender.replay_wanted or replay is not None:
                    if replay is None:
                        self._sender.replay_wanted = False
                        replay = self._sender.replay()
                    if next(replay, StopIteration) is StopIteration:
                        replay = None
                self._report()
        finally:
            if replay is not None:
                replay.close()
            self._report()
            if self._spool is not None:
                self._spool.close()
            self._stopped.set()

    def _next_batch(self, *, idle_work: bool) -> tuple[list[Item], bool]:
        """Wait until a batch is due and take it: (events, whether the logger is closing)."""
        while True:
            self._wake.clear()
            with self._lock:
                n = len(self._items)
                timeout: float | None = None
                if n:
                    due = self._items[0][2] + self.flush_interval
                    now = time.monotonic()
                    if (
                        self._closing
                        or self._flush_waiters
                        or n >= self.max_batch_events
                        or self._qbytes >= MAX_BYTES_PER_CALL
                        or now >= due
                    ):
                        return self._take(), self._closing
                    timeout = due - now
                else:
                    self._release_flushers()
                    if self._closing:
                        return [], True
                if idle_work:
                    return [], False  # no batch is due: time for one replay step
            self._wake.wait(timeout if timeout is not None else 60.0)

    def _take(self) -> list[Item]:
        batch: list[Item] = []
        size = 0
        items = self._items
        while items and len(batch) < self.max_batch_events:
            n = len(items[0][1])
            if batch and size + n > MAX_BYTES_PER_CALL:
                break
            batch.append(items.popleft())
            size += n
        self._qbytes -= size
        if self._blocked:
            self._not_full.notify_all()
        return batch

    def _finish(self, count: int) -> None:
        with self._lock:
            self._done += count
            self._release_flushers()

    def _release_flushers(self) -> None:
        if self._flush_waiters:
            keep = []
            for target, event in self._flush_waiters:
                if target <= self._done:
                    event.set()
                else:
                    keep.append((target, event))
            self._flush_waiters = keep

    def _report(self) -> None:
        """Warn (rate-limited) about events dropped in the request path since the last report."""
        for kind, current, text in (
            ("full", self._full_drops, "{n} event(s) dropped: the queue was full"),
            (
                "oversize",
                self._c.oversize,
                "{n} event(s) rejected: too large for a record even after cutting",
            ),
        ):
            delta = current - self._reported[kind]
            if delta > 0:
                self._reported[kind] = current
                self._warner.note(kind, delta, text)
