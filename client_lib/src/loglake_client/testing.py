"""Test doubles: an in-memory Firehose client that can be told to fail, throttle or be slow.

Use it in application tests instead of mocking boto3::

    fake = FakeFirehose()
    log = KinesisLogger("stream", client=fake)
    ...
    log.flush()
    assert fake.events()[0]["path"] == "/"
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from loglake_client._packing import MAX_BYTES_PER_CALL, MAX_RECORD_BYTES, MAX_RECORDS_PER_CALL

#: What a fault hook may return for one call: ``None`` (all accepted), an exception to raise, or one entry per
#: record: ``None`` (accepted) or an error code (that record fails).
FaultResult = BaseException | Sequence[str | None] | None


def client_error(code: str, message: str = "", status: int = 400) -> Exception:
    """A botocore ``ClientError`` as boto3 raises it for ``PutRecordBatch``.

    Examples
    --------
    >>> client_error("ThrottlingException", "Rate exceeded").response["Error"]["Code"]
    'ThrottlingException'
    """
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutRecordBatch",
    )


def decode_ndjson(records: Sequence[bytes]) -> list[dict[str, Any]]:
    """Decode records exactly as the pipeline's transformer does: split on ``\\n``, skip empty lines, parse.

    Examples
    --------
    >>> decode_ndjson([b'{"a":1}\\n{"a":2}\\n'])
    [{'a': 1}, {'a': 2}]
    """
    return [json.loads(line) for data in records for line in data.split(b"\n") if line.strip()]


class FakeFirehose:
    """An in-memory ``put_record_batch`` with Firehose's answers and limits.

    Parameters
    ----------
    fault:
        Called as ``fault(call_index, datas)`` for every call; see :data:`FaultResult`.
    latency:
        Seconds each call takes (a real sleep in the calling thread, i.e. the logger's worker).
    enforce_limits:
        Reject calls beyond PutRecordBatch's limits with ``InvalidArgumentException``, as Firehose does, and
        remember them in ``violations``.

    Attributes
    ----------
    calls:
        Every call's record payloads, in order, failed ones included.
    accepted:
        Payloads of the records that were accepted, in order.
    violations:
        Descriptions of calls that broke an API limit.

    Examples
    --------
    >>> fake = FakeFirehose(fault=lambda i, datas: ["ServiceUnavailableException", None])
    >>> r = fake.put_record_batch(DeliveryStreamName="s", Records=[{"Data": b"a\\n"}, {"Data": b"b\\n"}])
    >>> r["FailedPutCount"], fake.accepted
    (1, [b'b\\n'])
    """

    def __init__(
        self,
        *,
        fault: Callable[[int, list[bytes]], FaultResult] | None = None,
        latency: float = 0.0,
        enforce_limits: bool = True,
    ) -> None:
        self.fault = fault
        self.latency = latency
        self.enforce_limits = enforce_limits
        self.calls: list[list[bytes]] = []
        self.accepted: list[bytes] = []
        self.violations: list[str] = []
        self.stream_names: set[str] = set()
        self._cond = threading.Condition()
        self._accepted_events = 0
        self._seq = 0

    def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        """Answer like ``boto3.client("firehose").put_record_batch``."""
        datas = [bytes(r["Data"]) for r in Records]
        with self._cond:
            index = len(self.calls)
            self.calls.append(datas)
            self.stream_names.add(DeliveryStreamName)
        if self.latency:
            time.sleep(self.latency)
        problem = self._limit_problem(datas)
        if problem:
            with self._cond:
                self.violations.append(problem)
            if self.enforce_limits:
                raise client_error("InvalidArgumentException", problem)
        outcome = self.fault(index, datas) if self.fault else None
        if isinstance(outcome, BaseException):
            raise outcome
        codes = list(outcome) if outcome is not None else [None] * len(datas)
        codes += [None] * (len(datas) - len(codes))
        answers: list[dict[str, str]] = []
        with self._cond:
            for data, code in zip(datas, codes, strict=False):
                if code:
                    answers.append({"ErrorCode": code, "ErrorMessage": f"{code} (injected)"})
                else:
                    self._seq += 1
                    answers.append({"RecordId": f"rec-{self._seq:08d}"})
                    self.accepted.append(data)
                    self._accepted_events += data.count(b"\n")
            self._cond.notify_all()
        failed = sum(1 for c in codes if c)
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": answers}

    @staticmethod
    def _limit_problem(datas: list[bytes]) -> str | None:
        if not datas:
            return "Records must contain at least 1 record"
        if len(datas) > MAX_RECORDS_PER_CALL:
            return f"{len(datas)} records in one call (limit {MAX_RECORDS_PER_CALL})"
        total = sum(len(d) for d in datas)
        if total > MAX_BYTES_PER_CALL:
            return f"{total} bytes in one call (limit {MAX_BYTES_PER_CALL})"
        biggest = max(len(d) for d in datas)
        if biggest > MAX_RECORD_BYTES:
            return f"a record of {biggest} bytes (limit {MAX_RECORD_BYTES})"
        return None

    def events(self) -> list[dict[str, Any]]:
        """Every accepted event, decoded the way the transformer decodes records."""
        with self._cond:
            records = list(self.accepted)
        return decode_ndjson(records)

    def wait_for_events(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` events were accepted; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._accepted_events >= count, timeout)
