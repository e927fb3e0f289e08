"""S3 object notifications in the shapes Lambda receives them: through SQS, direct from S3, or EventBridge.

:func:`batch_items` turns any of them into :class:`BatchItem` s, one per SQS message (or one for a direct
event), so that a handler can process items independently and answer SQS with a partial batch response.
``s3:TestEvent`` messages become items with no objects. Keys of S3 notifications are URL-encoded (``+`` for
a space) and are decoded here; EventBridge carries keys as they are.
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


def _from_s3_records(records: list[Any]) -> list[ObjectRef]:
    out = []
    for rec in records:
        if not str(rec.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
            continue
        s3 = rec["s3"]
        obj = s3["object"]
        out.append(ObjectRef(s3["bucket"]["name"], unquote_plus(obj["key"]), obj.get("size")))
    return out


def _from_eventbridge(event: Mapping[str, Any]) -> list[ObjectRef]:
    detail = event["detail"]
    return [ObjectRef(detail["bucket"]["name"], detail["object"]["key"], detail["object"].get("size"))]


def _objects_of(payload: Mapping[str, Any]) -> list[ObjectRef]:
    if payload.get("Event") == "s3:TestEvent":
        return []
    if "Records" in payload:
        return _from_s3_records(payload["Records"])
    if payload.get("detail-type") == "Object Created":
        return _from_eventbridge(payload)
    if payload.get("source") == "aws.s3":
        return []  # another EventBridge S3 event type (deleted, restored…): nothing to do
    raise ValueError("not an S3 notification (no Records, no EventBridge 'Object Created')")


def batch_items(event: Mapping[str, Any]) -> list[BatchItem]:
    """Split a Lambda event carrying S3 notifications into independently retryable items."""
    records = event.get("Records")
    if records and records[0].get("eventSource") == "aws:sqs":
        items = []
        for message in records:
            item = BatchItem(message.get("messageId"))
            try:
                body = orjson.loads(message["body"])
                item.objects = _objects_of(body)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                item.error = f"SQS message is not an S3 notification: {exc}"
            items.append(item)
        return items
    item = BatchItem(None)
    try:
        item.objects = _objects_of(event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        item.error = f"event is not an S3 notification: {exc}"
    return [item]


def batch_response(failed_item_ids: list[str]) -> dict[str, Any]:
    """The SQS partial batch response (``ReportBatchItemFailures``)."""
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed_item_ids]}
