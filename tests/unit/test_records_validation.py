"""Validation: the transformer's fast checks agree with the schema; the schema fixes it relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.errors import RecordError
from loglake.fastpath import ESSENTIAL_FIELDS, essentials, format_ms
from loglake.schema import FIELDS_BY_NAME, format_timestamp, normalize, parse_timestamp

ARRIVAL = 1_795_341_600_000


def _iso(ms: int, sep: str = "T", suffix: str = "Z", digits: int = 3) -> str:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    frac = f".{dt.microsecond // 1000:03d}"[: digits + 1] if digits else ""
    return dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + suffix


_ms = st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)
_timestamps = st.one_of(
    _ms.map(_iso),
    _ms.map(lambda ms: _iso(ms, suffix="+00:00")),
    _ms.map(lambda ms: _iso(ms, sep=" ")),
    _ms.map(lambda ms: _iso(ms, digits=0)),
    _ms,
    _ms.map(lambda ms: ms // 1000),
    _ms.map(str),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.booleans(),
    st.just("2026-11-22T10:00:60.000Z"),
    st.just("2026-02-30T10:00:00.000Z"),
    st.just("２０２６-11-22T10:00:00.000Z"),
)
_anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_events = st.fixed_dictionaries(
    {},
    optional={
        "service_name": st.sampled_from(["shop", "", "bad name!", "x" * 65, "a.b-c_d"]) | _anything,
        "timestamp": _timestamps | _anything,
        "status_code": st.integers(min_value=-5, max_value=1005)
        | st.sampled_from(["200", " 404 ", "abc", "2e2"])
        | _anything,
        "latency_ms": st.floats(allow_nan=True, allow_infinity=True)
        | st.integers(-3, 10**6)
        | st.sampled_from(["12.5", "NaN", "-1"])
        | _anything,
        "request_id": st.text(max_size=140) | _anything,
        "path": st.text(max_size=30) | st.just("/" + "p" * 2100) | _anything,
        "ip_address": st.text(max_size=50) | _anything,
        "bytes_sent": _anything,
        "user_agent": _anything,
    },
)


def _schema_values(event: dict, arrival: int | None, default: str | None) -> tuple:
    rec = normalize({k: event[k] for k in ESSENTIAL_FIELDS if k in event}, arrival_ms=arrival, default_service=default)
    return tuple(rec.get(k) for k in ESSENTIAL_FIELDS)


@given(_events, st.sampled_from([ARRIVAL, None]), st.sampled_from(["web", None]))
@settings(max_examples=1500)
def test_essentials_agree_with_the_schema(event: dict, arrival: int | None, default: str | None) -> None:
    try:
        expected = _schema_values(event, arrival, default)
    except RecordError as exc:
        with pytest.raises(RecordError) as caught:
            essentials(event, arrival, default)
        assert str(caught.value) == str(exc)  # the same reason a person reads
        return
    assert essentials(event, arrival, default) == expected


@given(_ms)
@settings(max_examples=500)
def test_iso_timestamps_parse_to_the_exact_millisecond(ms: int) -> None:
    assert parse_timestamp(_iso(ms)) == ms  # float seconds * 1000 used to lose one ms in ~0.6 % of values
    assert format_ms(ms) == format_timestamp(ms) == _iso(ms)


def test_numeric_timestamps_by_magnitude() -> None:
    assert parse_timestamp(1_795_341_600) == ARRIVAL  # seconds
    assert parse_timestamp(ARRIVAL) == ARRIVAL  # milliseconds
    assert parse_timestamp(ARRIVAL * 1000 + 999) == ARRIVAL  # microseconds
    assert parse_timestamp(1_795_341_600.123) == ARRIVAL + 123  # float seconds, nearest ms


def test_oversized_extra_stays_a_json_object_and_says_what_was_cut() -> None:
    limit = FIELDS_BY_NAME["extra"].max_length
    rec = normalize({"timestamp": ARRIVAL, "service_name": "a", "blob": "x" * 100_000, "keep": 1, "ua": "é" * 10})
    extra = orjson.loads(rec["extra"])  # valid JSON
    assert len(rec["extra"]) <= limit
    assert extra["keep"] == 1 and extra["ua"] == "é" * 10 and extra["blob"].endswith("…[truncated]")
    assert extra["_loglake"]["truncated"] == ["extra"]


def test_extra_of_many_small_keys_is_cut_as_text() -> None:
    rec = normalize({"timestamp": ARRIVAL, "service_name": "a", **{f"k{i}": i for i in range(5000)}})
    extra = orjson.loads(rec["extra"])
    assert set(extra) == {"_loglake", "extra_cut"} and len(rec["extra"]) <= FIELDS_BY_NAME["extra"].max_length


def test_truncated_fields_are_named_with_a_marker() -> None:
    rec = normalize({"timestamp": ARRIVAL, "service_name": "a", "user_agent": "u" * 5000, "path": "/" + "p" * 3000})
    assert (
        rec["user_agent"].endswith("…[truncated]") and len(rec["user_agent"]) == FIELDS_BY_NAME["user_agent"].max_length
    )
    assert len(rec["path"]) == FIELDS_BY_NAME["path"].max_length
    assert orjson.loads(rec["extra"])["_loglake"]["truncated"] == ["path", "user_agent"]


def test_extra_too_deep_for_json_is_a_record_error() -> None:
    deep: dict = {}
    node = deep
    for _ in range(300):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(RecordError, match="cannot be stored as JSON"):
        normalize({"timestamp": ARRIVAL, "service_name": "a", "deep": deep})


def test_lossless_coercion_only() -> None:
    rec = normalize({"timestamp": ARRIVAL, "service_name": "a", "status_code": "200", "latency_ms": "12.5"})
    assert rec["status_code"] == 200 and rec["latency_ms"] == 12.5
    with pytest.raises(RecordError, match="status_code 'abc' is not an integer"):
        normalize({"timestamp": ARRIVAL, "service_name": "a", "status_code": "abc"})
    with pytest.raises(RecordError, match=r"status_code 200\.5 is not an integer"):
        normalize({"timestamp": ARRIVAL, "service_name": "a", "status_code": 200.5})
