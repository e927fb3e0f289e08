"""An in-process delivery stream that keeps Firehose's contract.

- ``put_record_batch`` / ``put_record`` with the API's limits (500 records, 4 MiB per call, 1,000 KiB per
  record), answering in boto3's shape, with optional injected per-record failures (``FailedPutCount``);
- buffering by size and interval, then invocation of the transformer with a real-shaped data-transformation
  event (at most 6 MB per request), checking its answer: every ``recordId`` exactly once, a known result;
- the transformed data written as gzip NDJSON under ``raw/YYYY/MM/DD/HH/`` (arrival time, UTC) with
  Firehose's object naming, and ``ProcessingFailed`` records under ``errors/processing-failed/…`` in
  Firehose's error-record format.
"""

from __future__ import annotations

import base64
import gzip
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from botocore.exceptions import ClientError

from loglake.storage import Storage

logger = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL: Final = 500
MAX_BYTES_PER_CALL: Final = 4 * 1024 * 1024
MAX_RECORD_BYTES: Final = 1000 * 1024
MAX_INVOCATION_BYTES: Final = 6 * 1024 * 1024
VALID_RESULTS: Final = frozenset({"Ok", "Dropped", "ProcessingFailed"})

Processor = Callable[[dict[str, Any], Any], dict[str, Any]]


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class StreamStats:
    records_in: int = 0
    records_ok: int = 0
    records_dropped: int = 0
    records_failed: int = 0
    invocations: int = 0
    objects: list[str] = field(default_factory=list)
    error_objects: list[str] = field(default_factory=list)


@dataclass
class _Buffered:
    record_id: str
    data: bytes
    arrival_ms: int


class DeliveryStream:
    """One delivery stream with a Lambda processor and an S3 destination."""

    def __init__(
        self,
        name: str,
        *,
        storage: Storage,
        processor: Processor,
        buffer_bytes: int = 1024 * 1024,
        buffer_seconds: float = 60.0,
        prefix: str = "raw/",
        error_prefix: str = "errors/",
        region: str = "us-east-1",
        clock: Callable[[], float] = time.time,
        processor_retries: int = 3,
    ) -> None:
        self.name = name
        self.storage = storage
        self.processor = processor
        self.buffer_bytes = buffer_bytes
        self.buffer_seconds = buffer_seconds
        self.prefix = prefix
        self.error_prefix = error_prefix
        self.arn = f"arn:aws:firehose:{region}:000000000000:deliverystream/{name}"
        self.region = region
        self.clock = clock
        self.processor_retries = processor_retries
        self.stats = StreamStats()
        self._buffer: list[_Buffered] = []
        self._buffered_bytes = 0
        self._seq = 0

    # ------------------------------------------------------------------ ingestion
    def accept(self, data: bytes) -> str:
        now_ms = int(self.clock() * 1000)
        self._seq += 1
        record_id = f"{self._seq:020d}"
        self._buffer.append(_Buffered(record_id, data, now_ms))
        self._buffered_bytes += len(data)
        self.stats.records_in += 1
        return record_id

    def maybe_deliver(self) -> None:
        """Deliver when the buffer is full or its oldest record has waited ``buffer_seconds``."""
        if not self._buffer:
            return
        age = self.clock() - self._buffer[0].arrival_ms / 1000
        if self._buffered_bytes >= self.buffer_bytes or age >= self.buffer_seconds:
            self.flush()

    def flush(self) -> None:
        """Deliver everything buffered now (as Firehose does when its buffer interval ends)."""
        while self._buffer:
            batch: list[_Buffered] = []
            size = 0
            # Base64 grows data by 4/3; keep each invocation request under 6 MB with room for the envelope.
            while self._buffer and (
                not batch or size + len(self._buffer[0].data) * 4 // 3 + 200 < MAX_INVOCATION_BYTES
            ):
                item = self._buffer.pop(0)
                batch.append(item)
                size += len(item.data) * 4 // 3 + 200
            self._buffered_bytes -= sum(len(b.data) for b in batch)
            self._deliver(batch)

    # ------------------------------------------------------------------ transformation and delivery
    def _invoke(self, batch: list[_Buffered]) -> dict[str, Any]:
        event = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self.arn,
            "region": self.region,
            "records": [
                {
                    "recordId": b.record_id,
                    "approximateArrivalTimestamp": b.arrival_ms,
                    "data": base64.b64encode(b.data).decode(),
                }
                for b in batch
            ],
        }
        self.stats.invocations += 1
        return self.processor(event, None)

    def _check_response(self, batch: list[_Buffered], response: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(response, dict) or not isinstance(response.get("records"), list):
            raise ValueError("the processor's response has no 'records' list")
        answers: dict[str, dict[str, Any]] = {}
        for answer in response["records"]:
            rid = answer.get("recordId")
            if rid in answers:
                raise ValueError(f"recordId {rid!r} answered twice")
            if answer.get("result") not in VALID_RESULTS:
                raise ValueError(f"recordId {rid!r} has result {answer.get('result')!r}")
            answers[rid] = answer
        expected = {b.record_id for b in batch}
        if set(answers) != expected:
            missing, extra = expected - set(answers), set(answers) - expected
            raise ValueError(
                f"processor answered {len(answers)} of {len(expected)} records "
                f"(missing {sorted(missing)[:3]}, unknown {sorted(extra)[:3]})"
            )
        if len(orjson.dumps(response)) > MAX_INVOCATION_BYTES:
            raise ValueError("the processor's response exceeds 6 MB")
        return answers

    def _deliver(self, batch: list[_Buffered]) -> None:
        answers: dict[str, dict[str, Any]] | None = None
        error = ""
        for attempt in range(1, self.processor_retries + 1):
            try:
                answers = self._check_response(batch, self._invoke(batch))
                break
            except Exception as exc:  # Firehose retries the invocation, then fails the records
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("processor attempt %d failed: %s", attempt, error)
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        ok_parts: list[bytes] = []
        failed: list[tuple[_Buffered, str, str]] = []
        for b in batch:
            answer = answers.get(b.record_id) if answers is not None else None
            if answer is None:
                failed.append((b, "Lambda.FunctionError", error or "processor failed"))
            elif answer["result"] == "Ok":
                try:
                    ok_parts.append(base64.b64decode(answer.get("data", ""), validate=True))
                    self.stats.records_ok += 1
                except (ValueError, TypeError):
                    failed.append((b, "Lambda.InvalidData", "the processor returned data that is not base64"))
            elif answer["result"] == "Dropped":
                self.stats.records_dropped += 1
            else:
                failed.append((b, "Lambda.ProcessingFailed", "the processor returned ProcessingFailed"))
        if ok_parts:
            key = self._object_key(self.prefix, now)
            self.storage.put(key, gzip.compress(b"".join(ok_parts), mtime=0))
            self.stats.objects.append(key)
        if failed:
            self.stats.records_failed += len(failed)
            lines = [
                orjson.dumps(
                    {
                        "attemptsMade": self.processor_retries if answers is None else 1,
                        "arrivalTimestamp": b.arrival_ms,
                        "errorCode": code,
                        "errorMessage": message,
                        "attemptEndingTimestamp": int(self.clock() * 1000),
                        "rawData": base64.b64encode(b.data).decode(),
                        "lambdaArn": "arn:aws:lambda:local:000000000000:function:transformer",
                    }
                )
                for b, code, message in failed
            ]
            key = self._object_key(self.error_prefix + "processing-failed/", now)
            self.storage.put(key, gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
            self.stats.error_objects.append(key)

    def _object_key(self, prefix: str, now: datetime) -> str:
        # Firehose's default naming: <prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>
        return f"{prefix}{now:%Y/%m/%d/%H}/{self.name}-1-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"


class LocalFirehose:
    """A boto3-Firehose-shaped client over local delivery streams (hand it to ``KinesisLogger``)."""

    def __init__(self, streams: dict[str, DeliveryStream], *, failure_rate: float = 0.0, seed: int = 0) -> None:
        self.streams = streams
        self.failure_rate = failure_rate
        self._rng = random.Random(seed)

    def _stream(self, name: str, operation: str) -> DeliveryStream:
        stream = self.streams.get(name)
        if stream is None:
            raise _client_error(
                "ResourceNotFoundException",
                f"Firehose {name} under account 000000000000 not found.",
                operation,
            )
        return stream

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        stream = self._stream(DeliveryStreamName, "PutRecordBatch")
        if not 1 <= len(Records) <= MAX_RECORDS_PER_CALL:
            raise _client_error(
                "InvalidArgumentException",
                f"Records must hold 1 to {MAX_RECORDS_PER_CALL} records, got {len(Records)}",
                "PutRecordBatch",
            )
        datas = [r["Data"] if isinstance(r["Data"], bytes) else str(r["Data"]).encode() for r in Records]
        if sum(map(len, datas)) > MAX_BYTES_PER_CALL:
            raise _client_error("InvalidArgumentException", "the request exceeds 4 MiB", "PutRecordBatch")
        for d in datas:
            if len(d) > MAX_RECORD_BYTES:
                raise _client_error(
                    "InvalidArgumentException",
                    f"a record of {len(d)} bytes exceeds 1,000 KiB",
                    "PutRecordBatch",
                )
        responses: list[dict[str, Any]] = []
        failed = 0
        for d in datas:
            if self.failure_rate and self._rng.random() < self.failure_rate:
                failed += 1
                responses.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
            else:
                responses.append({"RecordId": stream.accept(d)})
        stream.maybe_deliver()
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": responses}

    def put_record(self, DeliveryStreamName: str, Record: dict[str, Any]) -> dict[str, Any]:
        answer = self.put_record_batch(DeliveryStreamName, [Record])
        if answer["FailedPutCount"]:
            raise _client_error("ServiceUnavailableException", "Slow down.", "PutRecord")
        return {"RecordId": answer["RequestResponses"][0]["RecordId"], "Encrypted": False}

    def flush(self) -> None:
        for stream in self.streams.values():
            stream.flush()
