"""S3 object notifications in the shapes Lambda receives them: through SQS, direct from S3, or EventBridge.

:func:`batch_items` turns any of them into :class:`BatchItem` s, one per SQS message (or one for a direct
event), so that a handler can process items independently and answer SQS with a partial batch response.
``s3:TestEvent`` messages become items with no objects, and so do events other than ``ObjectCreated``.
Keys arrive URL-encoded (``+`` for a space, ``%3D`` for ``=``) and are decoded here — in S3 notifications
as documented, and in EventBridge events too (AWS's own consumers, e.g. OpenSearch Data Prepper, decode them;
a key of ours never holds a literal ``+`` or ``%``, so decoding cannot corrupt one). An SQS body may also be an
EventBridge event or an SNS envelope around a notification (S3 → SNS → SQS fan-out).

Example
-------
>>> body = '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "lake"},'
>>> body += ' "object": {"key": "tables/t/k%3Dv+w/f.parquet", "size": 3}}}]}'
>>> [item] = batch_items({"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": body}]})
>>> item.item_id, item.objects[0].key
('m1', 'tables/t/k=v w/f.parquet')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import orjson


@dataclass(frozen=True, slots=True)
class ObjectRef:
    bucket: str
    key: str
    size: int | None = None


@dataclass(slots=True)
class BatchItem:
    """One unit of retry: an SQS message (``item_id`` = its messageId) or a whole direct event."""

    item_id: str | None
    objects: list[ObjectRef] = field(default_factory=list)
    error: str | None = None  # set when the message itself cannot be understood


def _key(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"object key must be a string, got {type(value).__name__}")
    return unquote_plus(value) if "%" in value or "+" in value else value  # most keys need no decoding


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _from_s3_records(records: Any) -> list[ObjectRef]:
    if not isinstance(records, list):
        raise TypeError("Records must be a list")
    out = []
    for rec in records:
        if not str(rec.get("eventName", "ObjectCreated")).removeprefix("s3:").startswith("ObjectCreated"):
            continue
        s3 = rec["s3"]
        obj = s3["object"]
        out.append(ObjectRef(str(s3["bucket"]["name"]), _key(obj["key"]), _size(obj.get("size"))))
    return out


def _from_eventbridge(event: Mapping[str, Any]) -> list[ObjectRef]:
    detail = event["detail"]
    obj = detail["object"]
    return [ObjectRef(str(detail["bucket"]["name"]), _key(obj["key"]), _size(obj.get("size")))]


def _objects_of(payload: Any) -> list[ObjectRef]:
    if not isinstance(payload, Mapping):
        raise TypeError(f"expected a JSON object, got {type(payload).__name__}")
    if payload.get("Event") == "s3:TestEvent":
        return []
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return _objects_of(orjson.loads(payload["Message"]))  # S3 → SNS → SQS
    if "Records" in payload:
        return _from_s3_records(payload["Records"])
    if payload.get("source") == "aws.s3":
        if payload.get("detail-type") == "Object Created":
            return _from_eventbridge(payload)
        return []  # another EventBridge S3 event type (deleted, restored…): nothing to do
    raise ValueError("not an S3 notification (no Records, no EventBridge 'Object Created')")


_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError)


def _sqs_item(message: Any) -> BatchItem:
    message_id = message.get("messageId") if isinstance(message, Mapping) else None
    item = BatchItem(str(message_id) if message_id is not None else None)
    try:
        item.objects = _objects_of(orjson.loads(message["body"]))
    except _ERRORS as exc:
        item.error = f"SQS message is not an S3 notification: {type(exc).__name__}: {str(exc)[:200]}"
    return item


def batch_items(event: Mapping[str, Any]) -> list[BatchItem]:
    """Split a Lambda event carrying S3 notifications into independently retryable items.

    Never raises: a message that cannot be understood becomes an item with ``error`` set (the handler fails
    it, so that SQS retries it and then keeps it in the DLQ).
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    first = records[0] if isinstance(records, list) and records else None
    if isinstance(first, Mapping) and first.get("eventSource") == "aws:sqs":
        return [_sqs_item(message) for message in records or ()]
    item = BatchItem(None)
    try:
        item.objects = _objects_of(event)
    except _ERRORS as exc:
        item.error = f"event is not an S3 notification: {type(exc).__name__}: {str(exc)[:200]}"
    return [item]


def batch_response(failed_item_ids: list[str]) -> dict[str, Any]:
    """The SQS partial batch response (``ReportBatchItemFailures``).

    >>> batch_response(["m1"])
    {'batchItemFailures': [{'itemIdentifier': 'm1'}]}
    """
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed_item_ids]}
