"""Property tests: whatever the bytes, every recordId is answered exactly once and nothing raises."""

from __future__ import annotations

import base64
import gzip
import io
import json
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake import linehead, quarantine
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


def test_a_first_line_that_looks_like_gzip_does_not_take_its_neighbours() -> None:
    # Found by the property above: a record whose first bytes are the gzip magic number but which is not gzip.
    record = b"\x1f\x8b not gzip at all\n" + _line({**VALID, "request_id": "keep-me"})
    (answer,) = _transformer().transform(_event([record]))["records"]
    rows = [orjson.loads(x) for x in base64.b64decode(answer["data"]).splitlines()]
    assert any(r.get("request_id") == "keep-me" for r in rows)
    (marker,) = [r[quarantine.MARKER] for r in rows if quarantine.MARKER in r]
    assert "gzip" in marker["reason"]


# --------------------------------------------------------------------------- fast paths = general path

_LINE = '{ip} - {user} [{day:02d}/{mon}/{year}:10:{mm:02d}:07 {off}] "{req}" {status} {size} "{ref}" "{ua}"'


def _mostly(usual: list[Any], odd: list[Any]) -> st.SearchStrategy[Any]:
    """Usual values four times as often as odd ones: most lines and events take the fast paths."""
    return st.sampled_from(usual) | st.sampled_from(usual) | st.sampled_from(usual) | st.sampled_from(odd)


_log_lines = st.builds(
    lambda **kw: _LINE.format(**kw).encode(),
    ip=_mostly(["203.0.113.9", "2001:db8::1", "host.example:80 10.0.0.1"], ["h" * 50, "alice@example.com"]),
    user=_mostly(["-", "frank"], ["bob@example.com"]),
    day=st.integers(1, 28) | st.just(31),
    mon=_mostly(["May", "Feb"], ["Foo", "may"]),
    year=_mostly([2015, 2026], [1999, 2100]),
    mm=st.integers(0, 59) | st.just(60),
    off=_mostly(["+0000", "-0530"], ["+00:00", "+2400"]),
    req=_mostly(
        ["GET /a?token=x HTTP/1.1", "GET /u/alice@example.com HTTP/1.1", "POST /x HTTP/2"],
        ["-", "x", 'GET /q\\"x HTTP/1.0', "GET /u"],
    ),
    status=_mostly(["200", "304", "404", "503"], ["-", "099", "٢٠٠", "٥٠٣"]),
    size=_mostly(["512", "-", "0"], ["9" * 700, "9" * 5000]),
    ref=_mostly(["-", "https://r.example/?card=4111111111111111"], [""]),
    ua=_mostly(["curl/8", "Mozilla/5.0 (X11)"], ["-"]),
)


def _reshaped(line: bytes, shape: str, edge: bytes, tail: bytes) -> bytes:
    """A log line cut to the common format, given a tail (as Nginx appends fields), and edges to strip."""
    if shape == "common":
        line = line[: line.rindex(b' "', 0, line.rindex(b' "'))]
    elif shape == "tail":
        line += tail
    return edge + line + edge


_odd_log_lines = st.builds(
    _reshaped,
    _log_lines,
    st.sampled_from(["combined", "combined", "common", "tail"]),
    # ASCII whitespace (stripped from the bytes) and what only text stripping removes
    st.sampled_from([b"", b"", b" ", b"\t\r", "\u00a0".encode(), "\u2028".encode(), b"\x1c", b"\x0b"]),
    st.sampled_from([b' "-" rt=0.042', b"\tx", b' "1.2.3.4, 10.0.0.1"', 'é \\"q\\"'.encode()]),
)
_unusual_log_lines = st.builds(
    lambda line, at, insert: line[:at] + insert + line[at:],
    _log_lines,
    st.integers(0, 120),
    st.sampled_from([b"\xff", "é".encode(), "\u00a0".encode(), b'"', b'\\"', b"]", b" ", b"\t", b"\x00", b":"]),
)
_canonical = st.fixed_dictionaries(
    {
        "timestamp": st.sampled_from(["2026-11-22T10:00:00.000Z", "2026-11-22T10:00:59.999Z"]),
        "service_name": _mostly(["shop", "checkout"], ["", "bad name"]),
        "request_id": st.text(max_size=12),
    },
    optional={
        "status_code": _mostly([200, 204, 302, 404, 503], [99, 1000, "200"]),
        "latency_ms": _mostly([1.5, 12.0, 999.9, 1000.0, 4000.0], [12, -1.0]),
        "path": _mostly(["/api/v1/products/123", "/u/alice@example.com", "/a?token=x"], ["", "/" + "p" * 2100]),
        "ip_address": _mostly(["198.51.100.7", "2001:db8::1"], ["not an ip", "1" * 46]),
        "user_id": _mostly(["u-1"], ["", 42]),
        "query_params": st.sampled_from(["page=2&token=abc", "q=a@b.co"]),
        "customer_email": _mostly(["carol@example.com"], [""]),
        "request_body": st.just("{}"),
        "extra": st.sampled_from([{"a": 1}, '{"b": 2}']),
    },
).map(_line)


def _general_path(t: Transformer, event: dict[str, Any]) -> dict[str, Any]:
    """The transformer with its fast paths turned off: every record through decode_record(), every event
    through essentials(), scrub_event() and normalize()."""
    import loglake.transform as tmod

    t._kept_row = lambda *args: None  # type: ignore[method-assign]
    t._line_service = None  # no one-line path
    with (
        mock.patch.object(tmod, "_second_ms", {}),  # the inline check of canonical events never matches
        mock.patch.object(tmod, "is_ndjson", lambda data: False),  # NDJSON decoded whole, first
    ):
        return t.transform(event)


_odd_lines = st.sampled_from(
    [
        b"[1, 2]",
        b'[{"a": 1}, 3, {"b": 2}]',
        b"{bad",
        b"not a log line",
        b"  ",
        b"",
        b'"text"',
        b'{"a": NaN}',
        b"[ERROR] x",
    ]
)
_mixed = st.one_of(
    # NDJSON as clients pack it (two objects first), with odd lines among the events
    st.tuples(
        _canonical, _canonical, st.lists(_canonical | _odd_lines | _log_lines | st.binary(max_size=20), max_size=6)
    ).map(lambda t: b"\n".join([t[0], t[1], *t[2]])),
    st.binary(max_size=80),
    st.lists(_events.map(_line) | st.binary(max_size=30) | _canonical, max_size=6).map(b"\n".join),
    _log_lines,
    _odd_log_lines,
    _unusual_log_lines,
    st.lists(_log_lines | _canonical, min_size=2, max_size=3).map(b"\n".join),
    st.lists(_canonical, max_size=6).map(b"\n".join),
)


_SAMPLINGS = st.sampled_from(
    [
        {},
        {"default": {"rate": 0.5, "truncate_ip": True}},
        {"services": {"shop": {"rate": 0.0}}},
        {"default": {"rate": 0.0}},
        {"default": {"rate": 1.0}},
    ]
)


def _assert_fast_equals_general(payloads: list[bytes], sampling: dict[str, Any]) -> None:
    event = _event(payloads)
    outputs = []
    for fast in (True, False):
        stream = io.StringIO()
        t = Transformer(
            Settings("file:///tmp/loglake-prop-lake", default_service="web", sampling=sampling),
            hash_key=b"k" * 16,
            sink=MetricsSink(stream=stream),
            clock=lambda: 1_795_341_700.0,
        )
        response = t.transform(event) if fast else _general_path(t, event)
        outputs.append((response, stream.getvalue()))
    assert outputs[0] == outputs[1]


@given(st.lists(_mixed, max_size=8), _SAMPLINGS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_fast_paths_answer_exactly_as_the_general_path(payloads: list[bytes], sampling: dict[str, Any]) -> None:
    _assert_fast_equals_general(payloads, sampling)


@pytest.mark.parametrize("implementation", ["native", "python"])
@given(lines=st.lists(_log_lines | _odd_log_lines | _unusual_log_lines, min_size=1, max_size=12), sampling=_SAMPLINGS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_one_line_records_answer_exactly_as_the_general_path(
    implementation: str, lines: list[bytes], sampling: dict[str, Any]
) -> None:
    # Records of one access-log line each, as log agents send them: the answers, the quarantine markers and the
    # metrics (IP lines included) of the one-line path are those of the general path, byte for byte, whichever
    # implementation reads the lines' heads (loglake.linehead).
    assert linehead.NATIVE, "loglake._linehead is not built: run `pip install -e .` with a C compiler"
    head = linehead.head if implementation == "native" else linehead.py_head
    with mock.patch.object(linehead, "head", head):
        _assert_fast_equals_general(lines, sampling)
