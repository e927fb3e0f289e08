"""KinesisLogger: queue events in the request path, send them in batches from one daemon thread."""

from __future__ import annotations

import json
import queue
import threading
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# PutRecordBatch limits (Firehose API reference).
MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
# Firehose bills ingestion per record rounded up to 5 KB; pack events until a record is near a multiple.
BILLING_INCREMENT = 5 * 1024


class LoglakeClientError(Exception):
    """Base class of loglake-client errors."""


class DeliveryWarning(UserWarning):
    """Events could not be delivered (after retries) or were dropped."""


_FLUSH = object()
_END = object()


def _utc_now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class KinesisLogger:
    """Send structured events to a Firehose delivery stream without blocking the caller.

    Parameters
    ----------
    stream_name:
        The delivery stream's name.
    service_name:
        Added to every event that does not carry one.
    client:
        A boto3 Firehose client (or anything with ``put_record_batch``); created lazily if omitted.

    Example
    -------
    >>> log = KinesisLogger("my-stream", client=FakeFirehose())  # doctest: +SKIP
    >>> log.info({"path": "/", "status_code": 200})  # doctest: +SKIP
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
        max_queue_events: int = 10_000,
    ) -> None:
        self.stream_name = stream_name
        self.service_name = service_name
        self._client = client
        self._region_name = region_name
        self.flush_interval = flush_interval
        self.max_batch_events = max_batch_events
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue_events)
        self._closed = False
        self.stats = {"queued": 0, "sent": 0, "failed": 0, "dropped": 0, "api_calls": 0}
        self._worker = threading.Thread(target=self._run, name="loglake-client", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ request path
    def log(self, level: str, event: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Queue one event at ``level``; never raises, never touches the network."""
        if self._closed:
            return
        out = dict(event or {})
        out.update(fields)
        out.setdefault("timestamp", _utc_now_iso())
        out["level"] = level
        if self.service_name and "service_name" not in out:
            out["service_name"] = self.service_name
        try:
            self._queue.put_nowait(out)
            self.stats["queued"] += 1
        except queue.Full:
            self.stats["dropped"] += 1

    def debug(self, event: Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.log("DEBUG", event, **fields)

    def info(self, event: Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.log("INFO", event, **fields)

    def warning(self, event: Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.log("WARNING", event, **fields)

    def error(self, event: Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.log("ERROR", event, **fields)

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything queued so far; True if it was sent within ``timeout``."""
        if self._closed:
            return True
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        return done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush and stop the worker; idempotent."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._queue.put(_END)
        self._worker.join(timeout)

    def __enter__(self) -> KinesisLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ worker
    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("firehose", region_name=self._region_name)
        return self._client

    def _run(self) -> None:
        batch: list[dict[str, Any]] = []
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                item = None
            if item is _END:
                self._send(batch)
                return
            if isinstance(item, tuple) and item and item[0] is _FLUSH:
                self._send(batch)
                batch = []
                item[1].set()
                continue
            if item is not None:
                batch.append(item)
            if item is None or len(batch) >= self.max_batch_events:
                self._send(batch)
                batch = []

    def _pack(self, events: list[dict[str, Any]]) -> list[bytes]:
        """Pack events as NDJSON into records of at most ``MAX_RECORD_BYTES``, one service per record."""
        records: list[bytes] = []
        open_by_service: dict[Any, bytearray] = {}
        for event in events:
            line = json.dumps(event, default=str, separators=(",", ":")).encode() + b"\n"
            if len(line) > MAX_RECORD_BYTES:
                self.stats["dropped"] += 1
                warnings.warn(f"event of {len(line)} bytes exceeds the record limit; dropped", DeliveryWarning)
                continue
            key = event.get("service_name")
            buf = open_by_service.get(key)
            if buf is not None and len(buf) + len(line) > MAX_RECORD_BYTES:
                records.append(bytes(buf))
                buf = None
            if buf is None:
                buf = open_by_service[key] = bytearray()
            buf += line
        records.extend(bytes(b) for b in open_by_service.values() if b)
        return records

    def _send(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        records = self._pack(events)
        calls: list[list[bytes]] = [[]]
        size = 0
        for rec in records:
            if len(calls[-1]) >= MAX_RECORDS_PER_CALL or size + len(rec) > MAX_BYTES_PER_CALL:
                calls.append([])
                size = 0
            calls[-1].append(rec)
            size += len(rec)
        for call in calls:
            try:
                resp = self.client.put_record_batch(
                    DeliveryStreamName=self.stream_name, Records=[{"Data": r} for r in call]
                )
                self.stats["api_calls"] += 1
            except Exception as exc:  # delivery trouble never reaches the app
                self.stats["failed"] += sum(r.count(b"\n") for r in call)
                warnings.warn(f"PutRecordBatch failed: {exc}", DeliveryWarning)
                continue
            for rec, answer in zip(call, resp.get("RequestResponses", []), strict=False):
                n = rec.count(b"\n")
                if "ErrorCode" in answer:
                    self.stats["failed"] += n
                else:
                    self.stats["sent"] += n
