"""S3 notifications in every shape Lambda receives them → independently retryable batch items."""

from __future__ import annotations

import doctest
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import loglake.events as events_module
from loglake.events import BatchItem, ObjectRef, batch_items, batch_response
from tests.conftest import load_event


def sqs(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "eventSource": "aws:sqs", "body": b if isinstance(b, str) else json.dumps(b)}
            for i, b in enumerate(bodies)
        ]
    }


def s3_body(key: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {"Records": [{"eventName": event_name, "s3": {"bucket": {"name": "lake"}, "object": {"key": key}}}]}


def test_real_sqs_event() -> None:
    [item] = batch_items(load_event("s3SqsEvent.json"))
    assert item == BatchItem("ca3e7a89-c358-40e5-8aa0-5da01403c267", [ObjectRef("xxx", "test.pdf", 104681)])


def test_real_direct_event_key_is_url_decoded() -> None:
    [item] = batch_items(load_event("s3EventDecodedKey.json"))
    assert item.item_id is None and item.error is None
    assert item.objects == [ObjectRef("sourcebucket", "Happy Face.jpg", 1024)]
    [plain] = batch_items(load_event("s3Event.json"))
    assert plain.objects and plain.error is None


def test_real_eventbridge_event() -> None:
    [item] = batch_items(load_event("s3EventBridgeNotificationObjectCreatedEvent.json"))
    assert item.objects == [ObjectRef("example-bucket", "IMG_m7fzo3.jpg", 184662)]


def test_keys_are_url_decoded_everywhere() -> None:
    encoded = "tables/access_logs/service_name%3Dshop/year%3D2026/a+b%2Bc.parquet"
    decoded = "tables/access_logs/service_name=shop/year=2026/a b+c.parquet"
    [via_sqs] = batch_items(sqs(s3_body(encoded)))
    assert via_sqs.objects[0].key == decoded
    eventbridge = load_event("s3EventBridgeNotificationObjectCreatedEvent.json")
    eventbridge["detail"]["object"]["key"] = encoded
    assert batch_items(eventbridge)[0].objects[0].key == decoded
    [via_sqs_eventbridge] = batch_items(sqs(eventbridge))
    assert via_sqs_eventbridge.objects[0].key == decoded


def test_test_events_and_other_event_types_carry_no_objects() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "lake"}
    deleted = s3_body("tables/x.parquet", "ObjectRemoved:Delete")
    eventbridge_deleted = {"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}}
    items = batch_items(sqs(test_event, deleted, eventbridge_deleted))
    assert [(i.item_id, i.objects, i.error) for i in items] == [("m0", [], None), ("m1", [], None), ("m2", [], None)]


def test_sns_envelope_inside_sqs() -> None:
    envelope = {"Type": "Notification", "Message": json.dumps(s3_body("tables/a.parquet"))}
    assert batch_items(sqs(envelope))[0].objects == [ObjectRef("lake", "tables/a.parquet")]


def test_bad_messages_become_items_with_errors_and_neighbours_survive() -> None:
    items = batch_items(
        sqs(
            "not json",
            s3_body("tables/good.parquet"),
            [1, 2],
            {"Records": [{"eventName": "ObjectCreated:Put"}]},
            {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": 7}}}]},
            {"hello": "world"},
        )
    )
    assert [i.item_id for i in items] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert items[1].objects == [ObjectRef("lake", "tables/good.parquet")] and items[1].error is None
    assert all(i.error and "not an S3 notification" in i.error for i in items[:1] + items[2:])
    [direct] = batch_items({"detail-type": "Scheduled Event"})
    assert direct.item_id is None and direct.error


def test_batch_response() -> None:
    assert batch_response([]) == {"batchItemFailures": []}
    assert batch_response(["a", "b"]) == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
SHAPED = st.fixed_dictionaries(
    {"Records": st.lists(st.fixed_dictionaries({"eventSource": st.just("aws:sqs")}, optional={"body": JSON}))}
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON, SHAPED, st.builds(lambda b: sqs(b), JSON)))
def test_any_event_gives_items_and_never_raises(event: Any) -> None:
    items = batch_items(event)
    assert items
    for item in items:
        assert (item.error is None) or not item.objects
        assert all(isinstance(o.key, str) for o in item.objects)


def test_docstring_examples() -> None:
    assert doctest.testmod(events_module).failed == 0
