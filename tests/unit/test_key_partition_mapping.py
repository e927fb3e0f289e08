"""Record → partition, and object key ↔ partition, strictly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loglake.errors import PartitionKeyError
from loglake.partitions import VALUE_RE, Partition, parse_key, partition_for

KEY = "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=09/part-x.parquet"


def test_partition_of_a_record_is_its_event_hour_in_utc() -> None:
    p = partition_for("shop", 1_795_341_600_000 - 1)  # 2026-11-22T09:59:59.999Z
    assert p.values == ("shop", "2026", "11", "22", "09")
    assert p.prefix == "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=09/"


def test_key_maps_to_partition() -> None:
    assert parse_key(KEY) == Partition("access_logs", ("shop", "2026", "11", "22", "09"))


@pytest.mark.parametrize(
    "key",
    [
        "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=09/",  # folder, no file
        "tables/access_logs/service_name=shop/year=2026/month=11/day=22/part.parquet",  # missing hour
        "tables/access_logs/year=2026/service_name=shop/month=11/day=22/hour=09/p.parquet",  # order
        "tables/access_logs/service_name=sh'op/year=2026/month=11/day=22/hour=09/p.parquet",  # quote
        "tables/access_logs/service_name=shop/year=2026/month=13/day=22/hour=09/p.parquet",  # month 13
        "tables/access_logs/xservice_name=shop/year=2026/month=11/day=22/hour=09/p.parquet",  # name
        "raw/2026/11/22/09/file.gz",
    ],
)
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(PartitionKeyError):
        parse_key(key)


@given(
    st.from_regex(VALUE_RE, fullmatch=True),
    st.integers(2000, 2099),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
)
def test_values_key_values_is_identity(service: str, year: int, month: int, day: int, hour: int) -> None:
    p = Partition("access_logs", (service, f"{year:04d}", f"{month:02d}", f"{day:02d}", f"{hour:02d}"))
    assert parse_key(p.prefix + "part-0.parquet") == p
