"""The transformer Lambda called with real-shaped Firehose events: the contract, quarantine, metrics, keys."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from loglake import quarantine
from loglake.errors import ConfigError
from loglake.fastpath import format_ms
from loglake.metrics import MetricsSink
from loglake.settings import Settings
from loglake.transform import MAX_RESPONSE_BYTES, Transformer, resolve_hash_key
from tests.conftest import decoded_records, load_event

NOW_ISO = "2026-11-22T10:00:00.000Z"


def lines(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def metrics_docs(lake: Path) -> list[dict[str, Any]]:
    path = lake / "_metrics" / "emf.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def totals(lake: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for doc in metrics_docs(lake):
        if "_aws" in doc and "route" not in doc:
            for name in ("Requests", "Kept", "SampledOut", "Quarantined", "ControlMessages", "ProcessingFailed"):
                if name in doc:
                    out[name] = out.get(name, 0) + int(doc[name])
    return out


@pytest.fixture
def transform(lake: Path, handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    monkeypatch.setenv("LOGLAKE_HASH_KEY", "functional-test-key-0123456789")
    monkeypatch.setenv("LOGLAKE_DEFAULT_SERVICE", "web")
    module = handler("transformer")
    return lambda event: module.handler(event, None)


# --------------------------------------------------------------------------- the shared real events


@pytest.mark.parametrize("name", ["kinesisFirehosePutEvent.json", "kinesisFirehoseKinesisEvent.json"])
def test_real_firehose_events_answer_every_record_once(transform: Callable[..., Any], lake: Path, name: str) -> None:
    event = load_event(name)
    response = transform(event)
    answers = {rid: (result, data) for rid, result, data in decoded_records(response)}
    assert list(answers) == [r["recordId"] for r in event["records"]]
    # record1 is "Hello World": not JSON, not a log line -> quarantined with its reason, never ProcessingFailed
    result, data = answers["record1"]
    (marker,) = lines(data)
    entry = marker[quarantine.MARKER]
    assert result == "Ok" and entry["raw"] == "Hello World" and "neither JSON" in entry["reason"]
    assert entry["stage"] == "transformer" and entry["record_id"] == "record1"
    # record2 is {"Hello": "World"}: an app event with no HTTP fields -> kept, filled and marked
    result, data = answers["record2"]
    (row,) = lines(data)
    assert result == "Ok" and row["service_name"] == "web" and row["sample_rate"] == 1.0
    assert json.loads(row["extra"]) == {"Hello": "World", "_loglake": {"filled": ["service_name", "timestamp"]}}
    arrival = event["records"][1]["approximateArrivalTimestamp"]  # the fill: the record's arrival time
    assert row["timestamp"] == format_ms(arrival)
    assert totals(lake) == {"Requests": 1, "Kept": 1, "SampledOut": 0, "Quarantined": 1}


def test_kinesis_sourced_records_carry_their_shard_position_into_quarantine(transform: Callable[..., Any]) -> None:
    response = transform(load_event("kinesisFirehoseKinesisEvent.json"))
    (_, _, data), _ = decoded_records(response)
    entry = lines(data)[0][quarantine.MARKER]
    assert entry["shardId"] == "shardId-000000000000" and entry["sequenceNumber"].startswith("4954698668")


def test_cloudwatch_logs_payload_through_firehose(
    transform: Callable[..., Any], firehose_event: Callable[..., Any], lake: Path
) -> None:
    sample = base64.b64decode(load_event("cloudWatchLogEvent.json")["awslogs"]["data"])
    control = gzip.compress(orjson.dumps({"messageType": "CONTROL_MESSAGE", "logEvents": []}))
    app = gzip.compress(
        orjson.dumps(
            {
                "messageType": "DATA_MESSAGE",
                "logGroup": "/aws/lambda/checkout",
                "logStream": "s",
                "logEvents": [
                    {
                        "id": "1",
                        "timestamp": 1795341600000,
                        "message": '{"service_name": "checkout", "status_code": 503}',
                    },
                ],
            }
        )
    )
    response = transform(firehose_event([sample, control, app]))
    (_, res0, d0), (_, res1, _), (_, res2, d2) = decoded_records(response)
    assert res0 == "Ok" and [m[quarantine.MARKER]["raw"] for m in lines(d0)] == [
        "[ERROR] First test message",
        "[ERROR] Second test message",
    ]
    assert res1 == "Dropped"  # a control message only
    (row,) = lines(d2)
    assert res2 == "Ok" and row["service_name"] == "checkout" and row["timestamp"] == "2026-11-22T10:00:00.000Z"
    assert json.loads(row["extra"])["log_group"] == "/aws/lambda/checkout"
    assert totals(lake)["ControlMessages"] == 1


# --------------------------------------------------------------------------- the contract


def test_ndjson_record_mixed_valid_and_invalid_events(
    transform: Callable[..., Any], firehose_event: Callable[..., Any], lake: Path
) -> None:
    good = {"timestamp": NOW_ISO, "service_name": "shop", "status_code": 500, "path": "/a", "request_id": "r1"}
    record = b"\n".join(
        [
            orjson.dumps(good),
            orjson.dumps({**good, "status_code": "abc"}),
            b"{not json",
            orjson.dumps({**good, "request_id": "r2", "status_code": 404}),
        ]
    )
    ((_, result, data),) = decoded_records(transform(firehose_event([record])))
    out = lines(data)
    rows = [x for x in out if quarantine.MARKER not in x]
    markers = [x[quarantine.MARKER] for x in out if quarantine.MARKER in x]
    assert result == "Ok" and [r["request_id"] for r in rows] == ["r1", "r2"]
    assert markers[0]["reason"] == "status_code 'abc' is not an integer"
    assert markers[1]["reason"].startswith("invalid JSON") and markers[1]["raw"] == "{not json"
    t = totals(lake)
    assert (t["Kept"], t["Quarantined"], t["SampledOut"]) == (2, 2, 0)


def test_sizes_beyond_int64_are_quarantined_by_the_transformer(
    transform: Callable[..., Any], firehose_event: Callable[..., Any], lake: Path
) -> None:
    """bytes_sent is an INT64 column: a larger size is refused here, with its reason, and its neighbours kept."""
    good = {
        "timestamp": NOW_ISO,
        "service_name": "shop",
        "status_code": 500,
        "request_id": "r1",
        "bytes_sent": 2**63 - 1,
    }
    record = b"\n".join([orjson.dumps(good), json.dumps({**good, "request_id": "r2", "bytes_sent": 2**70}).encode()])
    ((_, result, data),) = decoded_records(transform(firehose_event([record])))
    out = lines(data)
    rows = [x for x in out if quarantine.MARKER not in x]
    markers = [x[quarantine.MARKER] for x in out if quarantine.MARKER in x]
    assert result == "Ok" and [(r["request_id"], r["bytes_sent"]) for r in rows] == [("r1", 2**63 - 1)]
    assert markers[0]["reason"] == f"bytes_sent {2**70} is outside the allowed range [0, 9223372036854775807]"


def test_all_sampled_out_record_is_dropped(
    transform: Callable[..., Any],
    firehose_event: Callable[..., Any],
    lake: Path,
    monkeypatch: pytest.MonkeyPatch,
    handler: Callable[[str], ModuleType],
) -> None:
    monkeypatch.setenv("LOGLAKE_SAMPLING", '{"default": {"rate": 0.0}}')
    module = handler("transformer")
    events = [
        {"timestamp": NOW_ISO, "service_name": "shop", "status_code": 200, "request_id": f"r{i}"} for i in range(20)
    ]
    record = b"\n".join(orjson.dumps(e) for e in events)
    ((_, result, data),) = decoded_records(module.handler(firehose_event([record]), None))
    assert result == "Dropped" and data == b""
    assert totals(lake)["SampledOut"] == 20


def test_kept_rows_are_scrubbed_and_carry_their_sample_rate(
    transform: Callable[..., Any], firehose_event: Callable[..., Any]
) -> None:
    event = {
        "timestamp": NOW_ISO,
        "service_name": "shop",
        "status_code": 500,
        "path": "/users/alice@example.com/orders",
        "query_params": "token=s3cr3t&page=2",
        "referer": "https://x.example/?card=4111111111111111",
        "user_id": "alice",
        "request_body": '{"password": "hunter2"}',
        "sample_rate": 0.5,  # sampled by the client already: the rates multiply
    }
    ((_, _, data),) = decoded_records(transform(firehose_event([event])))
    (row,) = lines(data)
    text = json.dumps(row)
    for secret in ("alice@example.com", "s3cr3t", "4111111111111111", "hunter2"):
        assert secret not in text
    assert row["user_id"].startswith("user:") and row["path"].startswith("/users/email:")
    assert row["query_params"] == "token=[REDACTED]&page=2" and row["sample_rate"] == 0.5
    assert json.loads(row["extra"])["_loglake"] == {"dropped": ["request_body"]}


def test_quarantined_raw_content_and_reason_are_scrubbed(
    transform: Callable[..., Any], firehose_event: Callable[..., Any]
) -> None:
    bad = {
        "timestamp": NOW_ISO,
        "status_code": "alice@example.com",
        "user_id": "bob",
        "password": "hunter2",
        "body": "x",
    }
    jwt = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    broken = b'{"email": "carol@example.com", "card": "4111 1111 1111 1111", "jwt": "' + jwt + b'"'
    response = transform(firehose_event([bad, broken]))
    text = b"".join(d for _, _, d in decoded_records(response)).decode()
    for secret in ("alice@example.com", "hunter2", "carol@example.com", "4111 1111 1111 1111", "c2lnbmF0dXJl", '"bob"'):
        assert secret not in text
    entry = lines(decoded_records(response).__next__()[2])[0][quarantine.MARKER]
    assert entry["reason"].startswith("status_code 'email:") and "not an integer" in entry["reason"]
    assert "body" not in json.loads(entry["raw"])


def test_invalid_base64_record_is_quarantined_not_failed(transform: Callable[..., Any]) -> None:
    event = {"records": [{"recordId": "x", "approximateArrivalTimestamp": 1795341600000, "data": "not base64!"}]}
    ((rid, result, data),) = decoded_records(transform(event))
    assert rid == "x" and result == "Ok"
    assert lines(data)[0][quarantine.MARKER]["reason"] == "the record's data is not valid base64"


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        ("eyJzdGF0dXNfY29kZSI6IDUwMH0=", b'{"status_code": 500}'),  # canonical: the fast codec's answer
        ("eyJzdGF0dXNfY29kZSI6IDUwMH1=", b'{"status_code": 500}'),  # padding bits set: the standard library's
        (b"eyJzdGF0dXNfY29kZSI6IDUwMH0=", b'{"status_code": 500}'),
    ],
)
def test_base64_is_read_as_the_standard_library_reads_it(
    transform: Callable[..., Any], data: str | bytes, decoded: bytes
) -> None:
    assert base64.b64decode(data, validate=True) == decoded
    event = {"records": [{"recordId": "x", "approximateArrivalTimestamp": 1795341600000, "data": data}]}
    ((rid, result, out),) = decoded_records(transform(event))
    assert rid == "x" and result == "Ok"
    assert lines(out)[0]["status_code"] == 500


@pytest.mark.parametrize("data", ["eyJzdGF0dXNfY29kZSI6IDUwMH0", "eyJzdGF0dXNf\nY29kZSI6IDUwMH0=", "éyJz"])
def test_base64_the_standard_library_refuses_is_quarantined(transform: Callable[..., Any], data: str) -> None:
    event = {"records": [{"recordId": "x", "approximateArrivalTimestamp": 1795341600000, "data": data}]}
    ((rid, result, out),) = decoded_records(transform(event))
    assert rid == "x" and result == "Ok"
    assert lines(out)[0][quarantine.MARKER]["reason"] == "the record's data is not valid base64"


def test_a_bug_in_one_event_quarantines_only_that_event(
    lake: Path, firehose_event: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Transformer(Settings(lake.as_uri()), hash_key=b"k" * 16, sink=MetricsSink(stream=io.StringIO()))
    real = t.scrubber.scrub_event

    def flaky(event: dict[str, Any], **kw: Any) -> dict[str, Any]:
        if event.get("request_id") == "boom":
            raise ZeroDivisionError("a bug")
        return real(event, **kw)

    monkeypatch.setattr(t.scrubber, "scrub_event", flaky)
    # Common events take a one-pass row that never calls scrub_event: "boom" must take the general path.
    real_row = t._kept_row
    monkeypatch.setattr(t, "_kept_row", lambda e, *a: None if e.get("request_id") == "boom" else real_row(e, *a))
    events = [
        {"timestamp": NOW_ISO, "service_name": "s", "status_code": 500, "request_id": r} for r in ("a", "boom", "b")
    ]
    ((_, result, data),) = decoded_records(t.transform(firehose_event([b"\n".join(map(orjson.dumps, events))])))
    out = lines(data)
    assert result == "Ok" and [x.get("request_id") for x in out if quarantine.MARKER not in x] == ["a", "b"]
    (marker,) = [x[quarantine.MARKER] for x in out if quarantine.MARKER in x]
    assert "internal error" in marker["reason"] and "ZeroDivisionError" in marker["reason"]


def test_a_bug_in_a_whole_record_fails_only_that_record(
    lake: Path, firehose_event: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Transformer(Settings(lake.as_uri()), hash_key=b"k" * 16, sink=MetricsSink(stream=io.StringIO()))
    import loglake.transform as tmod

    real = tmod.decode_record
    monkeypatch.setattr(
        tmod, "decode_record", lambda data: (_ for _ in ()).throw(MemoryError()) if b"boom" in data else real(data)
    )
    response = t.transform(firehose_event([{"a": 1}, b"boom", {"b": 2}]))
    assert [r["result"] for r in response["records"]] == ["Ok", "ProcessingFailed", "Ok"]
    assert response["records"][1]["data"] == base64.b64encode(b"boom").decode()  # original, for the error prefix


def test_response_stays_under_firehose_6mb(lake: Path, firehose_event: Callable[..., Any]) -> None:
    t = Transformer(Settings(lake.as_uri()), hash_key=b"k" * 16, sink=MetricsSink(stream=io.StringIO()))
    # Access-log lines grow ~2x as JSON rows: 3.5 MB of 5xx lines cannot come back whole.
    line = b'203.0.113.9 - - [22/Nov/2026:10:00:00 +0000] "GET /x HTTP/1.1" 500 1 "-" "agent"'
    record = b"\n".join([line] * 11_000)
    response = t.transform(firehose_event([record] * 4))
    size = sum(len(r["data"]) for r in response["records"])
    assert size <= MAX_RESPONSE_BYTES
    results = [r["result"] for r in response["records"]]
    assert "ProcessingFailed" in results and "Ok" in results and len(results) == 4


def test_metrics_and_ip_lines_go_to_the_metrics_file(
    transform: Callable[..., Any], firehose_event: Callable[..., Any], lake: Path
) -> None:
    events = [
        {
            "timestamp": NOW_ISO,
            "service_name": "shop",
            "status_code": s,
            "latency_ms": 10.0 * i,
            "path": f"/p/{i}",
            "ip_address": "203.0.113.9",
            "request_id": f"r{i}",
        }
        for i, s in enumerate([200, 200, 404, 503, 200])
    ]
    transform(firehose_event([b"\n".join(map(orjson.dumps, events))]))
    docs = metrics_docs(lake)
    main = [d for d in docs if "_aws" in d and "route" not in d]
    route = [d for d in docs if "route" in d]
    ips = [d for d in docs if d.get("loglake_event") == "ip_requests"]
    assert sum(d["Requests"] for d in main) == 5 and sum(d["Errors5xx"] for d in main) == 1
    assert [r["route"] for r in route] == ["/p/{id}"] and len(route[0]["RouteLatency"]) == 5
    assert ips == [
        {
            "loglake_event": "ip_requests",
            "service_name": "shop",
            "minute": "2026-11-22T10:00Z",
            "ip_address": "203.0.113.9",
            "requests": 5,
        }
    ]


def test_ip_truncation_per_service(
    lake: Path,
    handler: Callable[[str], ModuleType],
    firehose_event: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOGLAKE_HASH_KEY", "k" * 16)
    monkeypatch.setenv("LOGLAKE_SAMPLING", '{"services": {"eu": {"truncate_ip": true}}}')
    module = handler("transformer")
    events = [
        {"timestamp": NOW_ISO, "service_name": svc, "status_code": 500, "ip_address": "198.51.100.23"}
        for svc in ("eu", "us")
    ]
    ((_, _, data),) = decoded_records(module.handler(firehose_event([b"\n".join(map(orjson.dumps, events))]), None))
    assert [r["ip_address"] for r in lines(data)] == ["198.51.100.0", "198.51.100.23"]
    ips = {(d["service_name"], d["ip_address"]) for d in metrics_docs(lake) if d.get("loglake_event")}
    assert ips == {("eu", "198.51.100.0"), ("us", "198.51.100.23")}


def test_oversized_fields_are_cut_after_scrubbing(
    transform: Callable[..., Any], firehose_event: Callable[..., Any]
) -> None:
    # An e-mail straddling the path limit must not survive half-cut.
    path = "/" + "a" * 2030 + "/alice.smith@example.com/rest"
    ua = "x" * 5000
    ((_, _, data),) = decoded_records(
        transform(firehose_event([{"timestamp": NOW_ISO, "status_code": 500, "path": path, "user_agent": ua}]))
    )
    (row,) = lines(data)
    assert "alice" not in row["path"] and "example.com" not in row["path"] and row["path"].endswith("…[truncated]")
    assert len(row["user_agent"]) == 1024
    assert json.loads(row["extra"])["_loglake"]["truncated"] == ["path", "user_agent"]


# --------------------------------------------------------------------------- the hash key


def test_missing_key_in_aws_is_a_loud_startup_error(
    handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGLAKE_LAKE_URI", "s3://lake-bucket")
    module = handler("transformer")
    with pytest.raises(ConfigError, match="no hash key"):
        module.handler({"records": []}, None)


@mock_aws
def test_key_from_secrets_manager_through_powertools(
    monkeypatch: pytest.MonkeyPatch, handler: Callable[[str], ModuleType], firehose_event: Callable[..., Any]
) -> None:
    boto3.client("secretsmanager").create_secret(
        Name="loglake/hash-key", SecretString="0123456789abcdef0123456789abcdef"
    )
    monkeypatch.setenv("LOGLAKE_LAKE_URI", "s3://lake-bucket")
    monkeypatch.setenv("LOGLAKE_HASH_KEY_SECRET", "loglake/hash-key")
    settings = Settings.from_env()
    assert resolve_hash_key(settings) == b"0123456789abcdef0123456789abcdef"
    module = handler("transformer")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # EMF goes to stdout in AWS
    ((_, result, data),) = decoded_records(
        module.handler(firehose_event([{"user_id": "u1", "status_code": 500}]), None)
    )
    expected = Transformer(settings, hash_key=b"0123456789abcdef0123456789abcdef").scrubber.hash("user", "u1")
    assert result == "Ok" and lines(data)[0]["user_id"] == expected


@mock_aws
def test_key_from_ssm_parameter() -> None:
    boto3.client("ssm").put_parameter(
        Name="/loglake/hash-key", Value="fedcba9876543210fedcba9876543210", Type="SecureString"
    )
    settings = Settings("s3://lake-bucket", hash_key_secret="ssm:/loglake/hash-key")
    assert resolve_hash_key(settings) == b"fedcba9876543210fedcba9876543210"


@mock_aws
@pytest.mark.parametrize(("name", "match"), [("missing", "cannot read the hash key"), ("short", "shorter than")])
def test_unreadable_or_weak_secret_fails_at_start(name: str, match: str) -> None:
    boto3.client("secretsmanager").create_secret(Name="short", SecretString="abc")
    with pytest.raises(ConfigError, match=match):
        resolve_hash_key(Settings("s3://lake-bucket", hash_key_secret=name))


def test_local_lake_creates_its_own_key_once(tmp_path: Path) -> None:
    settings = Settings((tmp_path / "lake").as_uri())
    first = resolve_hash_key(settings)
    assert len(first) == 64 and resolve_hash_key(settings) == first
    assert (tmp_path / "lake" / "_meta" / "hash.key").stat().st_mode & 0o777 == 0o600


def test_settings_errors_fail_at_cold_start(
    handler: Callable[[str], ModuleType], lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGLAKE_HASH_KEY", "k" * 16)
    monkeypatch.setenv("LOGLAKE_SCRUB", '{"patterns": [{"name": "x", "regex": "("}]}')
    module = handler("transformer")
    with pytest.raises(ConfigError, match="does not compile"):
        module.handler({"records": []}, None)


def test_client_packed_records_of_1000_kib_are_read_whole(
    transform: Callable[..., Any], firehose_event: Callable[..., Any], lake: Path
) -> None:
    # KinesisLogger packs NDJSON events per service into records of up to 1,000 KiB (Firehose's record limit).
    event = {
        "timestamp": NOW_ISO,
        "service_name": "shop",
        "status_code": 200,
        "latency_ms": 3.5,
        "path": "/p",
        "user_agent": "okhttp/4.12.0",
        "note": "x" * 200,
    }
    packed: list[bytes] = []
    size = 0
    while size < 1000 * 1024 - 600:
        line = orjson.dumps({**event, "request_id": f"req-{len(packed)}"})
        packed.append(line)
        size += len(line) + 1
    record = b"\n".join(packed) + b"\n"
    assert len(record) <= 1000 * 1024
    ((_, result, data),) = decoded_records(transform(firehose_event([record])))
    t = totals(lake)
    assert t["Requests"] == len(packed) and t["Kept"] + t["SampledOut"] == len(packed)
    assert result == "Ok" and len(lines(data)) == t["Kept"] > 0
    assert {row["request_id"] for row in lines(data)} <= {f"req-{i}" for i in range(len(packed))}


def test_missing_arrival_time_falls_back_to_the_invocation_time(lake: Path) -> None:
    t = Transformer(
        Settings(lake.as_uri()),
        hash_key=b"k" * 16,
        sink=MetricsSink(stream=io.StringIO()),
        clock=lambda: 1_795_341_600.0,
    )
    record = {"recordId": "a", "data": base64.b64encode(b'{"status_code": 500}').decode()}
    (answer,) = t.transform({"records": [record]})["records"]
    (row,) = lines(base64.b64decode(answer["data"]))
    assert row["timestamp"] == "2026-11-22T10:00:00.000Z"


def test_the_cyclic_collector_is_paused_for_a_batch_and_resumed_after(
    lake: Path, firehose_event: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    t = Transformer(Settings(lake.as_uri()), hash_key=b"k" * 16, sink=MetricsSink(stream=io.StringIO()))
    seen: list[bool] = []
    real = t._transform
    monkeypatch.setattr(t, "_transform", lambda event: seen.append(gc.isenabled()) or real(event))
    assert gc.isenabled()
    t.transform(firehose_event([{"a": 1}]))
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(t, "_transform", lambda event: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(MemoryError):
        t.transform(firehose_event([{"a": 1}]))
    assert gc.isenabled()  # resumed whatever happens
    gc.disable()
    try:
        t = Transformer(Settings(lake.as_uri()), hash_key=b"k" * 16, sink=MetricsSink(stream=io.StringIO()))
        t.transform(firehose_event([{"a": 1}]))
        assert not gc.isenabled()  # an application that turned it off keeps it off
    finally:
        gc.enable()
