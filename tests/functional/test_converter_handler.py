"""The converter Lambda handler with real-shaped S3/SQS/EventBridge events: every failure path, redelivery,
the event-time window, metrics — on a local lake, and on S3 through moto."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import orjson
import pyarrow as pa
import pytest
from moto import mock_aws

from loglake.local.runtime import LambdaContext
from loglake.parquet import read_parquet
from loglake.schema import normalize, to_json_line
from tests.conftest import load_event

T10 = 1_795_341_600_000  # 2026-11-22T10:00:00Z
KEY = "raw/2026/11/22/10/loglake-access-logs-1-2026-11-22-10-05-00-1f2e3d4c-0000-1111-2222-333344445555.gz"


def ndjson(n: int, *, start: int = T10, service: str = "shop", tag: str = "r") -> bytes:
    return b"".join(
        to_json_line(
            normalize(
                {
                    "request_id": f"{tag}{i}",
                    "timestamp": start + i * 1000,
                    "service_name": service,
                    "status_code": 200 + i % 3,
                    "latency_ms": i / 3,
                }
            )
        )
        for i in range(n)
    )


def put(lake: Path, key: str, data: bytes) -> None:
    path = lake / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def tree(lake: Path, prefix: str) -> dict[str, bytes]:
    base = lake / prefix
    return {p.relative_to(lake).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def metrics(lake: Path) -> list[dict[str, Any]]:
    path = lake / "_metrics" / "emf.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def quarantine(lake: Path, key: str) -> list[dict[str, Any]]:
    path = lake / "quarantine" / "converter" / (key.split("/", 1)[1] + ".ndjson")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def invoke(handler, event: dict[str, Any]) -> dict[str, Any]:
    return handler("converter").handler(event, LambdaContext("converter"))


def test_a_batch_where_each_failure_stays_with_its_own_object(lake: Path, handler, sqs_s3_event) -> None:
    good = "raw/2026/11/22/10/good object.gz"  # a space: URL-encoded as '+' in the notification
    not_gzip = "raw/2026/11/22/10/plain.json"
    truncated = "raw/2026/11/22/10/truncated.gz"
    empty = "raw/2026/11/22/10/empty.gz"
    bad_lines = "raw/2026/11/22/10/bad-lines.gz"
    missing = "raw/2026/11/22/10/missing.gz"
    put(lake, good, gzip.compress(ndjson(20)))
    put(lake, not_gzip, ndjson(3))
    whole = gzip.compress(ndjson(400, tag="t"))
    put(lake, truncated, whole[: len(whole) // 2])
    put(lake, empty, b"")
    marker = orjson.dumps({"_loglake_quarantine": {"stage": "transformer", "reason": "not JSON", "raw": "Hello"}})
    put(lake, bad_lines, gzip.compress(ndjson(2) + b"{oops\n" + marker + b"\n" + b'{"service_name":"shop"}\n'))

    event = sqs_s3_event([good, not_gzip, truncated, empty, bad_lines, missing])
    test_event = copy.deepcopy(event["Records"][0]) | {"messageId": "msg-test"}
    test_event["body"] = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "lake-bucket"})
    event["Records"].append(test_event)

    response = invoke(handler, event)
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-5"}]}  # only the missing object retries

    shop = tree(lake, "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10")
    ids = [i for data in shop.values() for i in read_parquet(data).column("request_id").to_pylist()]
    rows = len(ids)
    recovered = sum(1 for i in ids if i.startswith("t"))
    assert 0 < recovered < 400 and ids.count("r0") == 2 and rows == 20 + recovered + 2
    entries = quarantine(lake, truncated)
    assert "truncated" in entries[0]["reason"] and entries[0]["object_copy"].endswith("truncated.gz")
    assert len(entries) <= 2  # the object-level reason, and the partial last line if the cut fell inside one
    assert (lake / entries[0]["object_copy"]).read_bytes() == whole[: len(whole) // 2]  # nothing lost

    (entry,) = quarantine(lake, not_gzip)
    assert "not gzip" in entry["reason"] and (lake / entry["object_copy"]).read_bytes() == ndjson(3)

    reasons = [(e["line"], e["stage"], e["reason"][:22]) for e in quarantine(lake, bad_lines)]
    assert reasons == [
        (3, "converter", "line is not valid JSON"),
        (4, "transformer", "not JSON"),
        (5, "converter", "timestamp is missing; "),
    ]
    assert not (lake / "quarantine" / "converter" / "2026/11/22/10/good object.gz.ndjson").exists()

    (doc,) = metrics(lake)
    assert doc["stage"] == "converter" and doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["stage"]]
    assert doc["RowsWritten"] == rows and doc["RowsIn"] == doc["RowsWritten"] + doc["RowsQuarantined"]
    assert doc["ObjectsSkipped"] == 1 and doc["ObjectsQuarantined"] == 2 and doc["FailedItems"] == 1
    assert doc["BytesOut"] == sum(len(d) for d in tree(lake, "tables").values())
    assert doc["BytesIn"] == sum(len((lake / k).read_bytes()) for k in (good, not_gzip, truncated, empty, bad_lines))


def test_redelivery_three_times_rewrites_identical_objects(lake: Path, handler, sqs_s3_event) -> None:
    data = ndjson(300, start=T10 + 3_500_000) + b"garbage\n"  # spans hours 10 and 11, one bad line
    put(lake, KEY, gzip.compress(data))
    snapshots = []
    for _ in range(3):
        assert invoke(handler, sqs_s3_event([KEY])) == {"batchItemFailures": []}
        files = tree(lake, "tables") | tree(lake, "quarantine")
        snapshots.append({k: hashlib.sha256(v).hexdigest() for k, v in files.items()})
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert len([k for k in snapshots[0] if k.startswith("tables/")]) == 2
    docs = metrics(lake)
    assert [d["RowsWritten"] for d in docs] == [300] * 3 and [d["RowsQuarantined"] for d in docs] == [1] * 3


def test_direct_s3_and_eventbridge_events(lake: Path, handler) -> None:
    put(lake, KEY, gzip.compress(ndjson(5)))
    direct = load_event("s3Event.json")
    direct["Records"][0]["s3"]["object"]["key"] = KEY
    assert invoke(handler, direct) == {"batchItemFailures": []}
    bridge = load_event("s3EventBridgeNotificationObjectCreatedEvent.json")
    bridge["detail"]["object"]["key"] = KEY
    assert invoke(handler, bridge) == {"batchItemFailures": []}
    assert [d["RowsWritten"] for d in metrics(lake)] == [5, 5]
    outside = copy.deepcopy(bridge)
    outside["detail"]["object"]["key"] = "tables/not-raw.parquet"
    invoke(handler, outside)
    assert metrics(lake)[-1]["ObjectsSkipped"] == 1
    missing = copy.deepcopy(direct)
    missing["Records"][0]["s3"]["object"]["key"] = "raw/2026/11/22/10/gone.gz"
    with pytest.raises(Exception, match=r"gone\.gz"):  # a direct event fails the invocation: Lambda retries it
        invoke(handler, missing)


def test_events_outside_the_window_go_to_the_arrival_hour(
    lake: Path, handler, sqs_s3_event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGLAKE_EVENT_MAX_AGE_HOURS", "24")
    monkeypatch.setenv("LOGLAKE_EVENT_MAX_FUTURE_MINUTES", "30")
    day = 24 * 3_600_000
    data = ndjson(2, tag="now") + ndjson(2, start=T10 - 3 * day, tag="old") + ndjson(2, start=T10 + day, tag="skew")
    data += ndjson(1, start=T10 - day + 600_000, tag="edge")  # 23h50 before arrival: inside the window
    put(lake, KEY, gzip.compress(data))
    invoke(handler, sqs_s3_event([KEY]))
    hours = {k.split("/")[5] + "/" + k.split("/")[6]: read_parquet(v) for k, v in tree(lake, "tables").items()}
    assert set(hours) == {"day=22/hour=10", "day=21/hour=10"}
    arrival = hours["day=22/hour=10"].to_pylist()
    notes = {r["request_id"]: orjson.loads(r["extra"] or "{}").get("_loglake") for r in arrival}
    assert notes == {
        "now0": None,
        "now1": None,
        "old0": {"out_of_window": "late", "partitioned_by": "arrival_hour"},
        "old1": {"out_of_window": "late", "partitioned_by": "arrival_hour"},
        "skew0": {"out_of_window": "early", "partitioned_by": "arrival_hour"},
        "skew1": {"out_of_window": "early", "partitioned_by": "arrival_hour"},
    }
    ts = hours["day=22/hour=10"].column("timestamp").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts) and T10 - 3 * day in ts  # timestamps are kept as sent
    assert metrics(lake)[-1]["RowsOutOfWindow"] == 4


def test_the_converter_on_s3(handler, sqs_s3_event, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOGLAKE_LAKE_URI", "s3://lake-bucket")
    monkeypatch.setenv("LOGLAKE_METRICS_PATH", str(tmp_path / "emf.ndjson"))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake-bucket")
        s3.put_object(Bucket="lake-bucket", Key=KEY, Body=gzip.compress(ndjson(50) + b"nope\n"))
        s3.put_object(Bucket="lake-bucket", Key="raw/2026/11/22/10/text.log", Body=b"hello")
        response = invoke(handler, sqs_s3_event([KEY, "raw/2026/11/22/10/text.log"]))
        assert response == {"batchItemFailures": []}
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake-bucket")["Contents"])
        parquet = [k for k in keys if k.startswith("tables/")]
        stem_hash = hashlib.sha256(KEY.encode()).hexdigest()[:12]
        assert len(parquet) == 1 and parquet[0].endswith(f"-{stem_hash}.parquet")
        body = s3.get_object(Bucket="lake-bucket", Key=parquet[0])["Body"].read()
        assert read_parquet(body).num_rows == 50
        assert "quarantine/converter/2026/11/22/10/text.log" in keys  # the verbatim copy
        assert "quarantine/converter/2026/11/22/10/text.log.ndjson" in keys
