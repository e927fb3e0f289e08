"""NDJSON lines read typed (the seven fields by msgspec, the rest skipped) give exactly the general path's answer.

Each case runs one Firehose event through two transformers alike but for that road, and compares the whole
response and every metric document byte for byte.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake import transform as transform_module
from loglake.fastpath import decode_essentials
from loglake.metrics import MetricsSink
from loglake.settings import Settings
from loglake.transform import Transformer

TS = "2026-11-22T10:00:00.123Z"
SAMPLING = {"default": {"rate": 0.5}, "services": {"shop": {"rate": 0.3, "truncate_ip": True, "slow_ms": 800}}}


class GeneralOnly(Transformer):
    """The transformer with the typed road closed: every line is decoded whole."""

    def _events(self, *args: Any, typed: bool = True, **kwargs: Any) -> None:
        super()._events(*args, typed=False, **kwargs)


class Counting(Transformer):
    """The transformer, counting the lines its typed road reads."""

    typed_lines = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        real = decode_essentials

        def counting(line: bytes) -> Any:
            type(self).typed_lines += 1
            return real(line)

        self._patch = mock.patch.object(transform_module, "_decode_essentials", counting)


def _answer(cls: type[Transformer], records: list[bytes]) -> tuple[Any, str]:
    stream = io.StringIO()
    t = cls(
        Settings("file:///tmp/loglake-typed-lake", default_service="web", sampling=SAMPLING),
        hash_key=b"typed-lines-key-0123456789",
        sink=MetricsSink(stream=stream),
        clock=lambda: 1_795_341_600.0,
    )
    event = {
        "records": [
            {
                "recordId": f"r{i}",
                "approximateArrivalTimestamp": 1_795_341_600_000,
                "data": base64.b64encode(d).decode(),
            }
            for i, d in enumerate(records)
        ]
    }
    return t.transform(event), stream.getvalue()


def same_answer(*records: bytes) -> Any:
    typed = _answer(Transformer, list(records))
    assert typed == _answer(GeneralOnly, list(records))
    return typed[0]


def line(**fields: Any) -> bytes:
    return json.dumps({"timestamp": TS, "service_name": "shop", **fields}, separators=(",", ":")).encode()


def ndjson(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


# --------------------------------------------------------------------------- which lines are read typed


def test_canonical_lines_are_read_typed_and_others_are_not() -> None:
    flat = line(status_code=200, latency_ms=12.5, request_id="r1", path="/a", ip_address="10.0.0.1", method="GET")
    assert decode_essentials(flat).status_code == 200
    with pytest.raises(msgspec.ValidationError):
        decode_essentials(line(status_code=True))  # a boolean is not a status, as orjson's reader would say
    with pytest.raises(msgspec.ValidationError):
        decode_essentials(line(status_code=200.0))
    with pytest.raises(msgspec.ValidationError):
        decode_essentials(line(request_id="r" * 1000))
    with pytest.raises(msgspec.ValidationError):
        decode_essentials(b'{"service_name":"shop"}')  # no timestamp: the general path fills it
    assert decode_essentials(line(latency_ms=7)).latency_ms == 7.0  # as essentials() makes it


def test_the_typed_road_is_taken_for_flat_ascii_lines_only() -> None:
    records = [
        ndjson(line(status_code=200, request_id=f"r{i}"), line(status_code=200, request_id=f"s{i}")) for i in range(5)
    ]
    sink = MetricsSink(stream=io.StringIO())
    t = Counting(Settings("file:///tmp/x", default_service="web"), hash_key=b"k" * 16, sink=sink)
    Counting.typed_lines = 0
    with t._patch:
        t.transform({"records": [{"recordId": "a", "data": base64.b64encode(r).decode()} for r in records]})
    assert Counting.typed_lines == 10
    deep = line(x=1).replace(b":1}", b":" + b"[" * 201 + b"]" * 201 + b"}")
    odd = ndjson(line(user_agent="Mozilla é").replace(b"\\u00e9", "é".encode()), deep, b' {"a":1}')
    Counting.typed_lines = 0
    with t._patch:
        t.transform({"records": [{"recordId": "a", "data": base64.b64encode(odd).decode()}]})
    assert Counting.typed_lines == 0


# --------------------------------------------------------------------------- the same answers


def test_sampled_out_kept_and_quarantined_lines_answer_as_the_general_path() -> None:
    lines = [
        line(status_code=s, latency_ms=float(i), request_id=f"req-{i}", path=f"/p/{i}", ip_address="203.0.113.9")
        for i, s in enumerate([200, 204, 301, 404, 500, 200, 200, 200, 200, 200] * 4)
    ]
    answer = same_answer(ndjson(*lines), ndjson(*lines[:3]), ndjson(*lines[5:]))
    results = {r["result"] for r in answer["records"]}
    assert "Ok" in results


@pytest.mark.parametrize(
    "odd",
    [
        b'"x":1e400',  # orjson refuses a number beyond a double; msgspec skips it unread
        b'"x":-1' + b"0" * 400,
        b'"x":"\\ud800"',  # a lone surrogate
        b'"x":"\xff\xfe"',  # invalid UTF-8
        b'"x":"caf\xc3\xa9"',  # valid UTF-8, not ASCII
        b'"x":' + b"[" * 300 + b"]" * 300,  # deeper than orjson writes
        b'"x":' + b"[" * 1100 + b"]" * 1100,  # deeper than orjson reads
        b'"x":' + b'{"a":' * 150 + b"1" + b"}" * 150,
        # deeper than orjson writes, and refused by orjson: the standard library reads it, orjson cannot write it
        b'"x":' + b"[" * 300 + b"]" * 300 + b',"y":1e400',
        b'"x":' + b"[" * 300 + b"]" * 300 + b',"y":"\xff"',
        b'"status_code":200,"status_code":"500"',  # duplicate keys: the last one counts
        b'"status_code":"500","status_code":200',
        b'"status\\u005fcode":500',  # an escaped key
        b'"status_code":true',
        b'"status_code":2e2',
        b'"status_code":99999999999999999999999',
        b'"latency_ms":7',
        b'"latency_ms":1e400',
        b'"latency_ms":18446744073709551617',
        b'"latency_ms":18446744073709551617,"y":1e400',  # the standard library keeps it as text
        b'"latency_ms":-0.0',
        b'"latency_ms":-1',
        b'"latency_ms":null,"path":null,"ip_address":null,"request_id":null',
        b'"service_name":"no such service!"',
        b'"service_name":"brand-new-service"',
        b'"timestamp":"2026-11-22T10:00:00Z"',
        b'"timestamp":1795341600123',
        b'"ip_address":"not an ip"',
        b'"ip_address":"2001:db8::1"',
        b'"x":1,',  # trailing comma
        b'"x":NaN',
    ],
)
@pytest.mark.parametrize("status", [200, 503])
def test_odd_lines_answer_as_the_general_path(odd: bytes, status: int) -> None:
    for i in range(6):  # some of these are sampled out, some kept
        head = b'{"timestamp":"%s","service_name":"shop","status_code":%d,"request_id":"id-%d",' % (
            TS.encode(),
            status,
            i,
        )
        bad = head + odd + b"}"
        same_answer(ndjson(line(request_id=f"a{i}"), bad, line(request_id=f"b{i}")), ndjson(bad, b"  ", bad))


def test_a_failure_on_the_typed_road_takes_the_line_to_the_general_path() -> None:
    lines = ndjson(*(line(status_code=200, request_id=f"r{i}", ip_address="203.0.113.9") for i in range(20)))
    with mock.patch.object(transform_module, "truncate_ip", side_effect=ValueError("boom")):
        answer = same_answer(lines)
    assert all(r["result"] == "Ok" for r in answer["records"])  # every event quarantined, as the general path does


# --------------------------------------------------------------------------- generated lines

_ALPHABET = st.characters(codec="ascii", exclude_categories=("Cs",)) | st.sampled_from(["é", "\x00", "\u2028"])
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=90, max_value=1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=5000),
    st.text(_ALPHABET, max_size=12),
    st.sampled_from([TS, "2026-11-22T10:00:00.123+00:00", "shop", "web", "Bad Name", "/p/1", "10.0.0.1"]),
)
_json = st.recursive(_values, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3))
_fields = st.dictionaries(
    st.sampled_from(
        ["status_code", "latency_ms", "request_id", "path", "ip_address", "service_name", "timestamp", "user_id", "x"]
    ),
    _json,
    max_size=6,
)
_raw_tails = st.sampled_from([b"", b',"y":1e999', b',"y":"\xff"', b',"y":"\\udc00"', b',"status_code":201', b" "])


@given(st.lists(st.tuples(_fields, _raw_tails, st.booleans()), min_size=1, max_size=12))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_lines_answer_as_the_general_path(items: list[tuple[dict[str, Any], bytes, bool]]) -> None:
    out = []
    for i, (fields, tail, canonical) in enumerate(items):
        base = {"timestamp": TS, "service_name": "shop", "status_code": 200, "request_id": f"g{i}"} if canonical else {}
        text = json.dumps({**base, **fields}, separators=(",", ":"), ensure_ascii=False).encode()
        out.append(text[:-1] + tail + b"}" if len(text) > 2 else b"{" + tail.lstrip(b",") + b"}")
    same_answer(ndjson(*out), ndjson(*out[::-1]))
