"""Decoding Firehose record bytes: JSON, NDJSON, arrays, CloudWatch Logs envelopes, and what is refused."""

from __future__ import annotations

import base64
import gzip
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.errors import RecordError
from loglake.formats.cloudwatch import gunzip
from loglake.formats.jsonlines import loads_lenient
from loglake.records import decode_record
from tests.conftest import load_event


def reasons(data: bytes) -> list[str]:
    return [reason for _, reason in decode_record(data).failures]


def test_one_json_object() -> None:
    d = decode_record(b'{"path": "/a", "status_code": 200}')
    assert [e for e, _ in d.events] == [{"path": "/a", "status_code": 200}]
    assert d.failures == []


def test_ndjson_keeps_each_line_and_its_raw_bytes() -> None:
    lines = [json.dumps({"n": i}).encode() for i in range(50)]
    d = decode_record(b"\n".join(lines) + b"\n")
    assert [e["n"] for e, _ in d.events] == list(range(50))
    assert [raw for _, raw in d.events] == lines


def test_ndjson_with_crlf_blank_lines_and_bom() -> None:
    d = decode_record(b'\xef\xbb\xbf{"a": 1}\r\n\r\n  {"a": 2}  \r\n')
    assert [e["a"] for e, _ in d.events] == [1, 2]


def test_pretty_printed_object_spanning_lines_is_one_event() -> None:
    d = decode_record(json.dumps({"a": 1, "b": {"c": 2}}, indent=2).encode())
    assert [e for e, _ in d.events] == [{"a": 1, "b": {"c": 2}}]


def test_array_of_objects_and_a_non_object_item() -> None:
    d = decode_record(b'[{"a": 1}, 2, {"a": 3}]')
    assert [e["a"] for e, _ in d.events] == [1, 3]
    assert d.failures == [(b"2", "an event must be a JSON object, got number")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"null", "an event must be a JSON object, got null"),
        (b'"text"', "an event must be a JSON object, got string"),
        (b"true", "an event must be a JSON object, got boolean"),
        (b"42", "an event must be a JSON object, got number"),
    ],
)
def test_json_scalars_are_refused_by_name(data: bytes, reason: str) -> None:
    assert reasons(data) == [reason]


def test_malformed_line_does_not_take_its_neighbours() -> None:
    d = decode_record(b'{"a": 1}\n{"a": \n{"a": 3}\nHello World\n')
    assert [e["a"] for e, _ in d.events] == [1, 3]
    assert [raw for raw, _ in d.failures] == [b'{"a":', b"Hello World"]
    assert d.failures[0][1].startswith("invalid JSON")
    assert "neither JSON nor an Apache/Nginx access-log line" in d.failures[1][1]


def test_text_starting_with_a_bracket_is_not_called_broken_json() -> None:
    (reason,) = reasons(b"[ERROR] disk full")
    assert reason.startswith("line is neither JSON (") and reason.endswith("nor an access-log line")


def test_empty_and_whitespace_records_decode_to_nothing() -> None:
    for data in (b"", b"\n", b"  \r\n \n"):
        d = decode_record(data)
        assert d.events == [] and d.failures == []


def test_nan_and_infinity_are_kept_as_text_so_the_schema_names_them() -> None:
    ((event, _),) = decode_record(b'{"latency_ms": NaN, "x": Infinity, "y": 1e400}').events
    assert event == {"latency_ms": "NaN", "x": "Infinity", "y": "1e400"}


def test_invalid_utf8_is_replaced_and_noted() -> None:
    ((event, _),) = decode_record(b'{"user_agent": "caf\xe9"}').events
    assert event["user_agent"] == "caf\ufffd"
    assert event["_loglake"]["replaced"].startswith("invalid UTF-8")


def test_lone_surrogates_are_refused_not_crashing_later() -> None:
    (reason,) = reasons(b'{"a": "\\ud800"}')
    assert reason.startswith("invalid JSON")


def test_deep_nesting_is_refused_with_a_reason() -> None:
    (reason,) = reasons(b"[" * 5000 + b"]" * 5000)
    assert "invalid JSON" in reason


def test_duplicate_keys_keep_the_last_value() -> None:
    ((event, _),) = decode_record(b'{"a": 1, "a": 2}').events
    assert event == {"a": 2}


def test_loads_lenient_never_raises() -> None:
    for data in (b"", b"\xff", b"{", b"[" * 3000, b'{"a": 1}'):
        value, problem = loads_lenient(data)
        assert (problem is None) != (value is None) or data == b"null"


# --------------------------------------------------------------------------- gzip and CloudWatch Logs


def test_gzip_ndjson_is_decompressed() -> None:
    d = decode_record(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    assert [e["a"] for e, _ in d.events] == [1, 2]


def test_cloudwatch_sample_envelope_is_recognised() -> None:
    data = base64.b64decode(load_event("cloudWatchLogEvent.json")["awslogs"]["data"])
    d = decode_record(data)
    assert d.cloudwatch and d.events == []
    # Its two messages are plain text ("[ERROR] First test message"): neither JSON nor access-log lines.
    assert [raw for raw, _ in d.failures] == [b"[ERROR] First test message", b"[ERROR] Second test message"]


def _envelope(log_events: list[dict[str, object]], kind: str = "DATA_MESSAGE") -> bytes:
    payload = {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": "/aws/lambda/shop",
        "logStream": "2026/11/22/[$LATEST]abc",
        "subscriptionFilters": ["loglake"],
        "logEvents": log_events,
    }
    return gzip.compress(orjson.dumps(payload))


def test_cloudwatch_messages_as_json_combined_and_lambda_text() -> None:
    data = _envelope(
        [
            {"id": "1", "timestamp": 1795341600000, "message": '{"path": "/a", "status_code": 200}'},
            {
                "id": "2",
                "timestamp": 1795341601000,
                "message": '127.0.0.1 - - [22/Nov/2026:10:00:01 +0000] "GET /b HTTP/1.1" 404 12 "-" "curl/8"',
            },
            {
                "id": "3",
                "timestamp": 1795341602000,
                "message": '2026-11-22T10:00:02.000Z\tc0ffee\tINFO\t{"path": "/c", "status_code": 500}',
            },
            {"id": "4", "timestamp": 1795341603000, "message": "just words"},
        ]
    )
    d = decode_record(data)
    paths = [e["path"] for e, _ in d.events]
    assert paths == ["/a", "/b", "/c"]
    first = d.events[0][0]
    assert first["timestamp"] == 1795341600000  # the log event's time fills a missing one
    assert first["log_group"] == "/aws/lambda/shop" and first["log_stream"].startswith("2026/11/22")
    assert d.events[1][0]["timestamp"] == 1795341601000  # the line's own time wins
    assert [raw for raw, _ in d.failures] == [b"just words"]


def test_cloudwatch_control_message_is_counted_and_dropped() -> None:
    d = decode_record(_envelope([], kind="CONTROL_MESSAGE"))
    assert d.control_messages == 1 and d.events == [] and d.failures == []


def test_cloudwatch_envelope_without_log_events_is_a_failure() -> None:
    (reason,) = reasons(gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": 3}'))
    assert "has no logEvents list" in reason


def test_corrupt_and_truncated_gzip_are_failures() -> None:
    good = gzip.compress(b'{"a": 1}')
    assert reasons(good[:-6])[0].startswith("gzip payload is truncated")
    assert reasons(good[:10] + b"\x00" * 20)[0].startswith("gzip payload cannot be decompressed")


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"0" * (2 * 1024 * 1024))
    with pytest.raises(RecordError, match="expands beyond"):
        gunzip(bomb, limit=1024 * 1024)


def test_concatenated_gzip_members_are_read_whole() -> None:
    data = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"a": 2}\n')
    assert [e["a"] for e, _ in decode_record(data).events] == [1, 2]


_ndjson_lines = st.lists(
    st.sampled_from([b'{"a": 1}', b'{"b": [1, {"c": 2}]}', b"{bad", b"  ", b"", b"[1, 2]", b'{"d": NaN}', b"{}"])
    | st.binary(max_size=12),
    min_size=1,
    max_size=8,
)


@given(_ndjson_lines)
@settings(max_examples=300)
def test_ndjson_shortcut_decodes_as_the_general_path(lines: list[bytes]) -> None:
    data = b'{"first": 1}\n{"second": 2}\n' + b"\n".join(lines)  # NDJSON: starts with '{', holds '}\n{'
    # A leading space takes decode_record past its NDJSON shortcut, down the general path to the same lines.
    assert decode_record(data) == decode_record(b" " + data)
