"""The record schema: one definition, lossless coercion, readable reasons."""

from __future__ import annotations

import math

import orjson
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loglake.errors import RecordError
from loglake.schema import (
    FIELD_NAMES,
    PARTITION_KEYS,
    STORED_FIELDS,
    TRUNCATION_MARKER,
    arrow_schema,
    athena_create_table_ddl,
    duckdb_columns,
    format_timestamp,
    glue_columns,
    glue_partition_keys,
    normalize,
    parse_timestamp,
)

BASE = {"timestamp": "2026-11-22T10:00:00.123Z", "service_name": "shop"}


def test_derived_views_share_one_field_list() -> None:
    stored = [f.name for f in STORED_FIELDS]
    assert [c["Name"] for c in glue_columns()] == stored
    assert arrow_schema().names == stored
    assert list(duckdb_columns()) == stored
    assert [k["Name"] for k in glue_partition_keys()] == list(PARTITION_KEYS)
    # service_name is a partition key, so it must not also be a stored column (Glue rejects duplicates).
    assert "service_name" in FIELD_NAMES and "service_name" not in stored


def test_arrow_types_are_explicit() -> None:
    schema = arrow_schema()
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("status_code").type == pa.int32()
    assert schema.field("bytes_sent").type == pa.int64()
    assert pa.types.is_dictionary(schema.field("method").type)


def test_athena_ddl_lists_every_column_and_partition_key() -> None:
    ddl = athena_create_table_ddl("loglake", "s3://bucket/tables/access_logs/")
    for col in glue_columns() + glue_partition_keys():
        assert f"`{col['Name']}` {col['Type']}" in ddl


def test_lossless_coercion() -> None:
    rec = normalize({**BASE, "status_code": "200", "latency_ms": "12.5", "bytes_sent": 10.0, "user_id": 42})
    assert rec["status_code"] == 200 and rec["latency_ms"] == 12.5 and rec["bytes_sent"] == 10
    assert rec["user_id"] == "42"
    assert rec["timestamp"] == parse_timestamp("2026-11-22T10:00:00.123Z")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"status_code": "abc"}, "status_code 'abc' is not an integer"),
        ({"status_code": 12.5}, "status_code 12.5 is not an integer"),
        ({"status_code": 7000}, "status_code 7000 is outside the allowed range"),
        ({"bytes_sent": 2**63}, "bytes_sent 9223372036854775808 is outside the allowed range"),
        ({"bytes_sent": "9" * 30}, "bytes_sent 9{30} is outside the allowed range"),
        (
            {"bytes_sent": "9" * 5000},
            r"bytes_sent of 5000 digits is outside the allowed range \[0, 9223372036854775807\]",
        ),
        ({"latency_ms": "fast"}, "latency_ms 'fast' is not a number"),
        ({"latency_ms": math.nan}, "latency_ms nan is not a finite number"),
        ({"timestamp": "yesterday"}, "timestamp 'yesterday' is not ISO-8601"),
        ({"service_name": "my service"}, "service_name 'my service' is not a valid name"),
        ({"path": {"a": 1}}, "path must be text, got dict"),
    ],
)
def test_invalid_values_give_readable_reasons(event: dict, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        normalize({**BASE, **event})


def test_unknown_fields_are_kept_in_extra() -> None:
    rec = normalize({**BASE, "name": "brian", "age": 12, "code": 200})
    assert orjson.loads(rec["extra"]) == {"age": 12, "code": 200, "name": "brian"}


def test_missing_timestamp_and_service_are_filled_and_marked() -> None:
    rec = normalize({"name": "brian"}, arrival_ms=1_795_341_600_000, default_service="apps")
    assert rec["timestamp"] == 1_795_341_600_000 and rec["service_name"] == "apps"
    assert orjson.loads(rec["extra"])["_loglake"]["filled"] == ["service_name", "timestamp"]


def test_missing_required_without_default_is_an_error() -> None:
    with pytest.raises(RecordError, match="timestamp is missing"):
        normalize({"service_name": "x"})


def test_oversized_fields_are_cut_with_a_marker() -> None:
    rec = normalize({**BASE, "user_agent": "x" * 5000})
    assert len(rec["user_agent"]) == 1024 and rec["user_agent"].endswith(TRUNCATION_MARKER)
    assert orjson.loads(rec["extra"])["_loglake"]["truncated"] == ["user_agent"]


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1_795_341_600, 1_795_341_600_000),  # seconds
        (1_795_341_600_123, 1_795_341_600_123),  # milliseconds
        (1_795_341_600_123_000, 1_795_341_600_123),  # microseconds
        ("1795341600123", 1_795_341_600_123),
        ("2026-11-22T10:00:00+01:00", 1_795_338_000_000),
        ("2026-11-22T10:00:00", 1_795_341_600_000),  # naive text is UTC
    ],
)
def test_timestamp_forms(value: object, ms: int) -> None:
    assert parse_timestamp(value) == ms


@given(st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999))
def test_timestamp_text_round_trips(ms: int) -> None:
    assert parse_timestamp(format_timestamp(ms)) == ms


@given(st.dictionaries(st.text(max_size=20), st.none() | st.booleans() | st.integers() | st.text(max_size=50)))
def test_normalize_raises_only_record_errors(event: dict) -> None:
    try:
        rec = normalize(event, arrival_ms=1_795_341_600_000, default_service="svc")
    except RecordError:
        return
    assert set(rec) <= set(FIELD_NAMES)
