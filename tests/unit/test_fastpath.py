"""The transformer's fast paths agree with the general ones: same values, same lines, same refusals."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.errors import RecordError
from loglake.fastpath import _timestamp_ms, format_ms, row_builder
from loglake.formats.combined import _parse_clf_time, parse_clf_time
from loglake.schema import normalize, parse_timestamp
from loglake.scrub import Scrubber

ARRIVAL = 1_795_341_600_000


def _iso(ms: int) -> str:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# --------------------------------------------------------------------------- timestamps

_ms = st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)


@given(_ms, st.integers(0, 999), st.sampled_from(["", "Z", "0Z", "z", "+00:00", " ", "٣Z", "12Z", "1234Z", "ZZ"]))
@settings(max_examples=500)
def test_timestamps_sharing_a_cached_second_parse_as_the_schema_does(ms: int, other: int, tail: str) -> None:
    canonical = _iso(ms)
    assert _timestamp_ms(canonical) == parse_timestamp(canonical)  # caches the second
    same_second = canonical[:20] + f"{other:03d}Z"
    assert _timestamp_ms(same_second) == parse_timestamp(same_second)
    # Same first 20 characters, any other tail: the cache must not answer for text the schema reads otherwise.
    odd = canonical[:20] + tail
    try:
        expected: int | None = parse_timestamp(odd)
    except RecordError:
        expected = None
    assert _timestamp_ms(odd) == expected


@given(_ms)
@settings(max_examples=300)
def test_format_ms_is_the_schema_text(ms: int) -> None:
    assert format_ms(ms) == _iso(ms)
    assert format_ms(ms) == format_ms(ms)  # from the cache, the second time


@given(
    st.integers(1, 31),
    st.sampled_from(["Jan", "Feb", "May", "Dec", "jun", "Foo"]),
    st.integers(1999, 2101),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["+0000", "-0530", "+0200", "+00:00", "+2400"]),
)
@settings(max_examples=400)
def test_clf_time_cache_changes_nothing(d: int, mon: str, y: int, h: int, mi: int, s: int, off: str) -> None:
    text = f"{d:02d}/{mon}/{y}:{h:02d}:{mi:02d}:{s:02d} {off}"
    try:
        expected: int | str = _parse_clf_time(text)
    except RecordError as exc:
        expected = str(exc)
    for _ in range(2):  # uncached, then cached
        try:
            got: int | str = parse_clf_time(text)
        except RecordError as exc:
            got = str(exc)
        assert got == expected


# --------------------------------------------------------------------------- kept rows

_secrets = st.sampled_from(
    [
        "alice@example.com",
        "bob%40example.org",
        "token=abc123",
        "4111 1111 1111 1111",
        "Bearer mF_9.B5f-4.1JqM",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.Zm9vYmFyYmF6cXV4MTIzNDU2",
    ]
)
_text = st.one_of(
    st.text(alphabet=string.printable, max_size=20),
    st.text(max_size=12),
    _secrets,
    _secrets.map(lambda s: f"/api/v1/users/{s}/x?q={s}#f={s}"),
    st.just("x" * 3000),
    st.just("/api/v1/products/123?page=2&password=x"),
)
_any = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    _text,
    st.lists(_text | st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "token", "email", "body", "k@x.co"]), _text | st.integers(), max_size=2),
)
_fields = {
    "request_id": _text,
    "trace_id": _text,
    "timestamp": st.just("2026-11-22T10:00:00.000Z"),
    "service_name": st.sampled_from(["shop", "", "bad name", "web"]),
    "method": st.sampled_from(["GET", "POST", "x" * 20]) | _text,
    "path": _text,
    "query_params": _text,
    "referer": _text,
    "user_agent": _text,
    "user_id": _text | st.integers(),
    "ip_address": st.sampled_from(["203.0.113.9", "2001:db8::1", "10.0.0.1, 10.0.0.2", "not an ip"]) | _text,
    "level": _text,
    "status_code": st.integers(-2, 1001),
    "latency_ms": st.floats(min_value=-1) | st.sampled_from([float("nan"), float("inf")]) | st.integers(-1, 10**6),
    "bytes_sent": st.integers(-1, 2**65),
    "sample_rate": st.floats(-0.5, 1.5) | st.integers(0, 2),
    "extra": _any,
    "_loglake": _any,
    "customer_email": _text,
    "body": _text,
    "password": _text,
    "note": _any,
}
_usual = {k: v for k, v in _fields.items() if k not in ("timestamp", "extra", "_loglake", "note")}
_kept_events = st.one_of(
    # Values of the fields' usual types (the one-pass row's business, which may still decline), ...
    st.fixed_dictionaries({"timestamp": _fields["timestamp"]}, optional=_usual),
    # ... and of any type.
    st.fixed_dictionaries(
        {"timestamp": _fields["timestamp"]}, optional={k: v | _any for k, v in _fields.items() if k != "timestamp"}
    ),
).flatmap(lambda e: st.permutations(list(e.items())).map(dict))


def _general_line(scrubber: Scrubber, event: dict[str, Any], rate: float, truncate: bool, default: str) -> Any:
    """The general path of a kept event, as the transformer takes it (``Transformer._kept_line``)."""
    try:
        scrubbed = scrubber.scrub_event(event, truncate_ip=truncate)
        scrubbed["timestamp"] = ARRIVAL
        rec = normalize(scrubbed, arrival_ms=ARRIVAL, default_service=default)
        prior = rec.get("sample_rate")
        rec["sample_rate"] = rate * prior if prior else rate
        rec["timestamp"] = format_ms(rec["timestamp"])
        return orjson.dumps(rec) + b"\n"
    except Exception as exc:
        return type(exc)


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(b"fastpath-test-key")


@given(_kept_events, st.sampled_from([1.0, 0.1]), st.booleans(), st.sampled_from(["web", "bad name"]))
@settings(max_examples=1500, deadline=None)
def test_kept_row_is_the_general_line_or_declines(
    scrubber: Scrubber, event: dict[str, Any], rate: float, truncate: bool, default: str
) -> None:
    row = row_builder(scrubber, default)(event, ARRIVAL, rate, truncate)
    if row is not None:
        assert row == _general_line(scrubber, event, rate, truncate, default)
    else:  # declining is always safe, but the common shape must not decline
        usual = {"timestamp", "request_id", "method", "path", "status_code", "latency_ms", "bytes_sent", "user_agent"}
        assert not (
            set(event) <= usual
            and all(type(event[k]) is str and len(event[k]) < 16 for k in ("request_id", "method") if k in event)
            and not any("@" in str(v) or "%40" in str(v) for v in event.values())
            and type(event.get("status_code", 0)) is int
            and 0 <= event.get("status_code", 0) <= 999
            and type(event.get("latency_ms", 0.0)) is float
            and 0 <= event.get("latency_ms", 0.0) < float("inf")
            and type(event.get("bytes_sent", 0)) is int
            and 0 <= event.get("bytes_sent", 0) < 2**63
            and all(type(event[k]) is str and len(event[k]) < 100 for k in ("path", "user_agent") if k in event)
            and default == "web"
        ), event


def test_kept_row_covers_common_events(scrubber: Scrubber) -> None:
    event = {
        "request_id": "r-1",
        "timestamp": "2026-11-22T10:00:00.000Z",
        "service_name": "shop",
        "method": "GET",
        "path": "/api/v1/users/alice@example.com/orders",
        "query_params": "page=2&token=abc",
        "status_code": 200,
        "latency_ms": 12.5,
        "bytes_sent": 512,
        "ip_address": "203.0.113.9",
        "user_agent": "curl/8",
        "user_id": "u-1",
        "customer_email": "bob@example.com",
        "request_body": "{}",
    }
    row = row_builder(scrubber, "web")
    for e in (event, {k: v for k, v in event.items() if k != "service_name"}):  # filled from the default
        line = row(e, ARRIVAL, 0.1, True)
        assert line is not None and line == _general_line(scrubber, e, 0.1, True, "web")
        assert b"alice@" not in line and b"abc" not in line and b"bob@" not in line and b'"request_body"' not in line
