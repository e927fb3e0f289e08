"""Events become one JSON line each, whatever the application puts in them."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import uuid
from decimal import Decimal
from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st
from loglake_client import FIELD_LIMITS, TRUNCATION_MARKER, encode_line
from loglake_client._encoding import shrink, utc_timestamp

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def decode(line: bytes) -> dict:
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return json.loads(line)


def test_timestamp_is_utc_iso_with_milliseconds_and_z() -> None:
    assert utc_timestamp(1795341600.0) == "2026-11-22T10:00:00.000Z"
    assert utc_timestamp(1795341600.999) == "2026-11-22T10:00:00.999Z"
    assert utc_timestamp(1795341601.5) == "2026-11-22T10:00:01.500Z"  # the cached prefix follows the second
    assert ISO_MS_Z.match(utc_timestamp())


class Colour(enum.Enum):
    RED = "red"


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    def __repr__(self) -> str:
        raise RuntimeError("nor a repr")


class Opaque:
    def __str__(self) -> str:
        return "opaque-thing"


def test_awkward_values_are_encoded_safely() -> None:
    event = {
        "at": dt.datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=dt.UTC),
        "naive": dt.datetime(2026, 11, 22, 10, 0),
        "day": dt.date(2026, 11, 22),
        "price": Decimal("12.50"),
        "nan_price": Decimal("NaN"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "raw": b"caf\xc3\xa9",
        "binary": b"\xff\x00",
        "tags": {"b", "a"},
        "mixed_set": frozenset({1, "x"}),
        "colour": Colour.RED,
        "path": PurePosixPath("/tmp/x"),
        "took": dt.timedelta(milliseconds=1500),
        "thing": Opaque(),
        "broken": Broken(),
        "nested": {"t": (1, 2), "d": dt.date(2026, 1, 1)},
    }
    out = decode(encode_line(event))
    assert out["at"] == "2026-11-22T10:00:00.123000+00:00"
    assert out["naive"] == "2026-11-22T10:00:00"
    assert out["day"] == "2026-11-22"
    assert out["price"] == "12.50"
    assert out["nan_price"] is None
    assert out["id"] == "12345678-1234-5678-1234-567812345678"
    assert out["raw"] == "café"
    assert out["binary"] == "base64:/wA="
    assert out["tags"] == ["a", "b"]
    assert sorted(map(str, out["mixed_set"])) == ["1", "x"]
    assert out["colour"] == "red"
    assert out["path"] == "/tmp/x"
    assert out["took"] == 1.5
    assert out["thing"] == "opaque-thing"
    assert out["broken"] == "<unrepresentable Broken>"
    assert out["nested"] == {"t": [1, 2], "d": "2026-01-01"}


def test_invalid_json_values_fall_back_without_losing_the_event() -> None:
    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    event = {
        "latency_ms": float("nan"),
        "inf": float("inf"),
        (1, 2): "tuple key",
        3: "int key",
        "cyclic": cyclic,
        "surrogate": "bad \ud800 text",
        "ok": "fine",
    }
    out = decode(encode_line(event))
    assert out["latency_ms"] is None and out["inf"] is None
    assert out["(1, 2)"] == "tuple key" and out["3"] == "int key"
    assert out["cyclic"] == {"name": "loop", "self": "<circular reference>"}
    assert out["surrogate"] == "bad ? text"
    assert out["ok"] == "fine"


def test_newlines_inside_values_never_split_the_line() -> None:
    line = encode_line({"message": "line one\nline two\r\n", "k\nk": "v"})
    assert line.count(b"\n") == 1
    assert decode(line)["message"] == "line one\nline two\r\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_any_event_encodes_to_exactly_one_parseable_line(event: dict) -> None:
    out = decode(encode_line(event))
    assert set(out) == set(event)


def test_shrink_cuts_schema_fields_to_their_limits_and_others_to_the_default() -> None:
    event = {
        "path": "/" + "p" * 10_000,
        "user_agent": "u" * 5_000,
        "status_code": 200,
        "payload": "x" * 100_000,
        "blob": {"k": "y" * 50_000},
    }
    line, cut = shrink(event, 60_000)
    assert line is not None and len(line) <= 60_000
    out = decode(line)
    assert sorted(cut) == ["blob", "path", "payload", "user_agent"]
    assert len(out["path"]) == FIELD_LIMITS["path"] and out["path"].endswith(TRUNCATION_MARKER)
    assert len(out["user_agent"]) == FIELD_LIMITS["user_agent"]
    assert len(out["payload"]) == 16_384 and out["blob"].endswith(TRUNCATION_MARKER)
    assert out["status_code"] == 200


def test_shrink_gives_up_when_too_many_fields_are_large() -> None:
    event = {f"f{i}": "z" * 20_000 for i in range(10)}
    line, cut = shrink(event, 100_000)
    assert line is None and len(cut) == 10
