"""Each handler called directly, as Lambda would, with the real event payloads and only LOGLAKE_LAKE_URI set."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from loglake.catalog import DuckDBCatalog, local_catalog_path
from loglake.partitions import Partition
from loglake.quarantine import MARKER
from tests.conftest import decoded_records, load_event

RAW_KEY = "raw/2026/11/22/10/loglake-access-logs-1-2026-11-22-10-00-00-abc.gz"


def _event(**fields: object) -> dict:
    return {"timestamp": "2026-11-22T10:15:00.000Z", "service_name": "shop", "status_code": 500, **fields}


def test_transformer_answers_the_real_direct_put_event(lake: Path, handler) -> None:
    event = load_event("kinesisFirehosePutEvent.json")
    response = handler("transformer").handler(event, None)
    answers = {rid: (result, data) for rid, result, data in decoded_records(response)}
    assert list(answers) == ["record1", "record2"]  # every recordId exactly once, in order
    # "Hello World" is not JSON: it travels on as a quarantine marker with a readable reason.
    result, data = answers["record1"]
    marker = orjson.loads(data)[MARKER]
    assert result == "Ok" and marker["raw"] == "Hello World"
    assert "neither JSON nor an Apache/Nginx access-log line" in marker["reason"]
    # {"Hello": "World"} is a valid structured event: service and time are filled, the rest kept in extra.
    result, data = answers["record2"]
    rec = orjson.loads(data)
    assert result == "Ok" and rec["service_name"] == "unknown" and json.loads(rec["extra"])["Hello"] == "World"


def test_transformer_accepts_kinesis_sourced_events(lake: Path, handler) -> None:
    event = load_event("kinesisFirehoseKinesisEvent.json")
    response = handler("transformer").handler(event, None)
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert {r["result"] for r in response["records"]} <= {"Ok", "Dropped"}


def test_transformer_scrubs_and_samples(lake: Path, handler, firehose_event) -> None:
    events = [
        _event(request_id="r1", user_id="alice", query_params="token=s3cret&page=2"),
        _event(request_id="r2", status_code=200, latency_ms=5),  # sampled out unless its hash says keep
    ]
    response = handler("transformer").handler(firehose_event([b"\n".join(orjson.dumps(e) for e in events)]), None)
    ((_, result, data),) = decoded_records(response)
    rows = [orjson.loads(line) for line in data.splitlines()]
    assert result == "Ok"
    first = rows[0]
    assert first["query_params"] == "token=[REDACTED]&page=2"
    assert first["user_id"].startswith("user:") and "alice" not in data.decode()
    assert first["sample_rate"] == 1.0


def test_converter_ignores_the_real_notification_for_a_non_raw_key(lake: Path, handler) -> None:
    for name in (
        "s3SqsEvent.json",
        "s3Event.json",
        "s3EventDecodedKey.json",
        "s3EventBridgeNotificationObjectCreatedEvent.json",
    ):
        response = handler("converter").handler(load_event(name), None)
        assert response == {"batchItemFailures": []}, name
    assert not (lake / "tables").exists()


def test_converter_writes_partitioned_parquet_and_quarantines_bad_lines(lake: Path, handler, sqs_s3_event) -> None:
    lines = [orjson.dumps(_event(request_id=f"r{i}")) for i in range(3)]
    lines.append(b'{"timestamp": "2026-11-22T11:00:00Z", "service_name": "shop", "status_code": "abc"}')
    lines.append(b"not json at all")
    (lake / RAW_KEY).parent.mkdir(parents=True)
    (lake / RAW_KEY).write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))

    response = handler("converter").handler(sqs_s3_event([RAW_KEY]), None)

    assert response == {"batchItemFailures": []}
    files = list((lake / "tables/access_logs").rglob("*.parquet"))
    assert [f.relative_to(lake / "tables/access_logs").parts[:5] for f in files] == [
        ("service_name=shop", "year=2026", "month=11", "day=22", "hour=10")
    ]
    assert pq.read_table(files[0]).num_rows == 3
    quarantined = [json.loads(x) for x in next((lake / "quarantine").rglob("*.ndjson")).read_text().splitlines()]
    reasons = sorted(q["reason"] for q in quarantined)
    assert reasons[0].startswith("line is not valid JSON") and "status_code 'abc' is not an integer" in reasons[1]


def test_converter_fails_only_the_unreadable_message(lake: Path, handler, sqs_s3_event) -> None:
    event = sqs_s3_event(["raw/2026/11/22/10/missing.gz"])
    event["Records"].append(event["Records"][0] | {"messageId": "poison", "body": "{not json"})
    response = handler("converter").handler(event, None)
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["msg-0", "poison"]


def test_autoloader_registers_partitions_once(lake: Path, handler, sqs_s3_event) -> None:
    keys = [
        "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/part-a.parquet",
        "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/part-b.parquet",
        "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=11/part-a.parquet",
        "tables/access_logs/service_name=sh'op;DROP/year=2026/month=11/day=22/hour=11/part-a.parquet",
        "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=11/.tmp-123",
    ]
    module = handler("autoloader")
    assert module.handler(sqs_s3_event(keys), None) == {"batchItemFailures": []}
    assert module.handler(sqs_s3_event(keys), None) == {"batchItemFailures": []}  # redelivery: harmless
    partitions = DuckDBCatalog(local_catalog_path(lake.as_uri())).partitions("access_logs")
    assert sorted(partitions) == [
        Partition("access_logs", ("shop", "2026", "11", "22", "10")),
        Partition("access_logs", ("shop", "2026", "11", "22", "11")),
    ]
    assert all(loc.startswith(lake.as_uri()) and loc.endswith("/") for loc in partitions.values())
