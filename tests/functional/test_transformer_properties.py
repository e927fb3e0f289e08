"""Property tests: whatever the bytes, every recordId is answered exactly once and nothing raises."""

from __future__ import annotations

import base64
import gzip
import io
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake import quarantine
from loglake.metrics import MetricsSink
from loglake.settings import Settings
from loglake.transform import Transformer

VALID = {"timestamp": "2026-11-22T10:00:00.000Z", "service_name": "shop", "status_code": 503, "path": "/a"}

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_field_values = st.one_of(
    st.sampled_from(["200", "abc", "NaN", "", "2026-11-22T10:00:00Z", "alice@example.com", "4111 1111 1111 1111"]),
    _json_values,
)
_events = st.dictionaries(
    st.sampled_from(
        [
            "timestamp",
            "service_name",
            "status_code",
            "latency_ms",
            "path",
            "user_id",
            "ip_address",
            "query_params",
            "request_id",
            "extra",
            "body",
            "password",
            "x",
        ]
    ),
    _field_values,
    max_size=8,
)


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, allow_nan=True).encode()  # NaN/Infinity literals on purpose


_records = st.one_of(
    st.binary(max_size=300),  # arbitrary bytes, invalid UTF-8 included
    st.just(b""),
    st.sampled_from(
        [
            b"null",
            b"[]",
            b"[1, 2]",
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b'{"a": 1, "a": 2}',
            b"[" * 2000 + b"]" * 2000,
            b'{"d": ' * 300 + b"1" + b"}" * 300,
        ]
    ),
    _events.map(_line),
    st.lists(_events.map(_line) | st.binary(max_size=40) | st.just(_line(VALID)), max_size=8).map(b"\n".join),
    st.lists(_events, max_size=4).map(lambda evs: json.dumps(evs).encode()),
    st.lists(_events.map(_line), max_size=4).map(lambda ls: gzip.compress(b"\n".join(ls))),
    st.binary(max_size=100).map(lambda b: b"\x1f\x8b" + b),  # "gzip" that is not
    st.integers(min_value=100_000, max_value=900_000).map(lambda n: _line({**VALID, "user_agent": "u" * n})),
)


def _event(payloads: list[bytes]) -> dict[str, Any]:
    return {
        "invocationId": "x",
        "records": [
            {
                "recordId": f"r{i}",
                "approximateArrivalTimestamp": 1_795_341_600_000 + i,
                "data": base64.b64encode(p).decode(),
            }
            for i, p in enumerate(payloads)
        ],
    }


def _transformer() -> Transformer:
    return Transformer(
        Settings("file:///tmp/loglake-prop-lake"), hash_key=b"k" * 16, sink=MetricsSink(stream=io.StringIO())
    )


@given(st.lists(_records, min_size=1, max_size=6))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_every_record_answered_exactly_once_for_any_bytes(payloads: list[bytes]) -> None:
    event = _event(payloads)
    stream = io.StringIO()
    t = _transformer()
    t.sink = MetricsSink(stream=stream)
    response = t.transform(event)
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    rows = markers = 0
    for answer in response["records"]:
        assert answer["result"] in ("Ok", "Dropped")  # never a function failure on bad input
        for line in base64.b64decode(answer["data"]).splitlines():
            value = orjson.loads(line)  # every output line is JSON: a row or a quarantine marker
            assert isinstance(value, dict)
            markers += quarantine.MARKER in value
            rows += quarantine.MARKER not in value
    # Nothing is lost without a trace: the metrics account for every row and every marker.
    docs = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    counted = {k: sum(d.get(k, 0) for d in docs if "_aws" in d and "route" not in d) for k in ("Kept", "Quarantined")}
    assert counted == {"Kept": rows, "Quarantined": markers}


@given(st.lists(_events.map(_line) | st.binary(max_size=60), max_size=10))
@settings(max_examples=150, deadline=None)
def test_valid_neighbours_survive_any_malformed_line(noise: list[bytes]) -> None:
    lines = [*noise[:5], _line({**VALID, "request_id": "keep-me"}), *noise[5:]]
    (answer,) = _transformer().transform(_event([b"\n".join(lines)]))["records"]
    rows = [orjson.loads(x) for x in base64.b64decode(answer["data"]).splitlines()]
    assert any(r.get("request_id") == "keep-me" for r in rows)
    for row in rows:
        if quarantine.MARKER in row:
            assert row[quarantine.MARKER]["reason"]  # every quarantined event says why
