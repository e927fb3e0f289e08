"""Partitions: strict values, Hive key parsing by whole segments, and the key ↔ values round trip."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loglake.partitions as partitions_module
from loglake.errors import PartitionKeyError
from loglake.partitions import (
    VALUE_RE,
    Partition,
    hour_start_ms,
    parse_key,
    partition_for,
    table_prefix,
    validate_value,
)

KEY = "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/part-0001.parquet"
SAFE_VALUES = st.from_regex(VALUE_RE, fullmatch=True)


def hive_key(service: str = "shop", year: str = "2026", month: str = "11", day: str = "22", hour: str = "10") -> str:
    return f"tables/access_logs/service_name={service}/year={year}/month={month}/day={day}/hour={hour}/f.parquet"


def test_parse_key_maps_segments_to_values_and_prefix() -> None:
    p = parse_key(KEY)
    assert p == Partition("access_logs", ("shop", "2026", "11", "22", "10"))
    assert p.spec == {"service_name": "shop", "year": "2026", "month": "11", "day": "22", "hour": "10"}
    assert p.prefix == "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/"
    assert KEY.startswith(p.prefix)


def test_parse_key_accepts_plain_sub_folders_below_the_partition() -> None:
    key = KEY.replace("part-0001", "compacted/gen-2/part-0001")
    assert parse_key(key) == parse_key(KEY)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        # missing segments
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/f.parquet", "4 folder segment.* needs 5"),
        ("tables/access_logs/f.parquet", "needs 5"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/", "folder"),
        # extra, reordered and renamed segments
        (KEY.replace("hour=10/", "hour=10/minute=05/"), "extra partition level"),
        (KEY.replace("service_name=shop/year=2026", "year=2026/service_name=shop"), "expected a segment"),
        (KEY.replace("service_name=", "service="), "expected a segment"),
        (KEY.replace("service_name=", "xservice_name="), "expected a segment"),
        (KEY.replace("service_name=shop", "service_name=shop/extra=1"), "expected a segment"),
        (KEY.replace("tables/", "table/"), "not under tables/"),
        ("tables//service_name=shop/year=2026/month=11/day=22/hour=10/f.parquet", "not a valid identifier"),
        # hostile values
        (hive_key(service="shop'; DROP TABLE access_logs; --"), "not allowed"),
        (hive_key(service='sh"op'), "not allowed"),
        (hive_key(service="shop--"), None),  # a valid value: dashes are allowed, only not first
        (hive_key(service="--shop"), "not allowed"),
        (hive_key(service="shop\\x"), "not allowed"),
        (hive_key(service="shop/*x*/"), "expected a segment"),
        (hive_key(service="shöp"), "not allowed"),
        (hive_key(service="a=b"), "not allowed"),
        (hive_key(service="sh op"), "not allowed"),
        (hive_key(service="shop\nx"), "not allowed"),
        (hive_key(service=""), "expected a segment"),
        (hive_key(service="x" * 65), "not allowed"),
        (hive_key(service="`shop`"), "not allowed"),
        # values valid as strings but not for their column
        (hive_key(hour="24"), "must be 2 digits"),
        (hive_key(hour="7"), "must be 2 digits"),
        (hive_key(month="00"), "must be 2 digits"),
        (hive_key(year="1999"), "must be 4 digits"),
        (hive_key(year="02026"), "must be 4 digits"),
        (hive_key(day="3a"), "must be 2 digits"),
    ],
)
def test_parse_key_refuses_hostile_and_malformed_keys_with_a_reason(key: str, reason: str | None) -> None:
    if reason is None:
        assert parse_key(key).values[0] == "shop--"
        return
    with pytest.raises(PartitionKeyError, match=reason):
        parse_key(key)


def test_parse_key_checks_the_expected_table_by_exact_name() -> None:
    with pytest.raises(PartitionKeyError, match="not 'other'"):
        parse_key(KEY, table="other")
    with pytest.raises(PartitionKeyError, match="belongs to table 'access_logs_old'"):
        parse_key(KEY.replace("access_logs", "access_logs_old"), table="access_logs")
    assert parse_key(KEY, table="access_logs").table == "access_logs"


def test_parse_key_with_other_hive_keys() -> None:
    p = parse_key("tables/events/region=eu-west-1/dt=2026-11-22/x.parquet", keys=("region", "dt"))
    assert p.spec == {"region": "eu-west-1", "dt": "2026-11-22"}
    assert p.prefix == "tables/events/region=eu-west-1/dt=2026-11-22/"


def test_validate_value_messages_say_what_is_allowed() -> None:
    with pytest.raises(PartitionKeyError, match="1-64 letters, digits"):
        validate_value("service_name", "a b")
    with pytest.raises(PartitionKeyError):
        validate_value("service_name", 5)  # type: ignore[arg-type]
    assert validate_value("service_name", "a.b_c-d") == "a.b_c-d"


def test_partition_refuses_wrong_arity_and_bad_table() -> None:
    with pytest.raises(PartitionKeyError, match="expected 5 partition values"):
        Partition("access_logs", ("shop",))
    with pytest.raises(PartitionKeyError, match="not a valid identifier"):
        Partition("Access-Logs", ("shop", "2026", "11", "22", "10"))


def test_partition_for_and_hour_start_agree() -> None:
    ts = 1_795_341_600_000 + 59 * 60_000 + 999  # 2026-11-22T10:59:59.999Z
    p = partition_for("shop", ts)
    assert p.values == ("shop", "2026", "11", "22", "10")
    assert hour_start_ms(p) == 1_795_341_600_000
    assert table_prefix() == "tables/access_logs/"


@settings(max_examples=150, deadline=None)
@given(
    service=SAFE_VALUES,
    year=st.integers(2000, 2099),
    month=st.integers(1, 12),
    day=st.integers(1, 31),
    hour=st.integers(0, 23),
    filename=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,40}\.parquet", fullmatch=True),
)
def test_values_to_key_to_values_is_the_identity(
    service: str, year: int, month: int, day: int, hour: int, filename: str
) -> None:
    p = Partition("access_logs", (service, f"{year:04d}", f"{month:02d}", f"{day:02d}", f"{hour:02d}"))
    assert parse_key(p.prefix + filename) == p


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=0, max_size=9))
def test_any_key_parses_to_safe_values_or_raises_partition_key_error(segments: list[str]) -> None:
    key = "tables/access_logs/" + "/".join(segments)
    try:
        p = parse_key(key)
    except PartitionKeyError:
        return
    assert all(VALUE_RE.fullmatch(v) for v in p.values)


def test_docstring_examples() -> None:
    assert doctest.testmod(partitions_module).failed == 0
