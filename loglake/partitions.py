"""Partitions: record → partition values, and object key ↔ partition values with strict validation.

The lake's table layout is Hive style, one whole path segment per key::

    tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/part-….parquet

Matching is by whole segments and exact names. Values must match :data:`VALUE_RE` (letters, digits, ``.``,
``_``, ``-``; at most 64 characters), so no value read from a key can carry quotes, slashes or SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from loglake.errors import PartitionKeyError
from loglake.schema import PARTITION_KEYS, TABLE_NAME, datetime_from_ms, ms_from_datetime

TABLES_PREFIX: Final = "tables/"
#: A safe partition value: what a value may hold before it is ever put in a key or an SQL statement.
VALUE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FORMATS: Final = {"year": (4, 1970, 2999), "month": (2, 1, 12), "day": (2, 1, 31), "hour": (2, 0, 23)}


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One partition of a table: its name and its values, in key order."""

    table: str
    values: tuple[str, ...]
    keys: tuple[str, ...] = PARTITION_KEYS

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.table):
            raise PartitionKeyError(f"table name {self.table!r} is not a valid identifier")
        if len(self.values) != len(self.keys):
            raise PartitionKeyError(f"{self.table}: expected {len(self.keys)} partition values, got {self.values}")
        for key, value in zip(self.keys, self.values, strict=True):
            validate_value(key, value)

    @property
    def spec(self) -> dict[str, str]:
        return dict(zip(self.keys, self.values, strict=True))

    @property
    def prefix(self) -> str:
        """``tables/<table>/k=v/…/`` — the partition's folder relative to the lake root."""
        return table_prefix(self.table) + "".join(f"{k}={v}/" for k, v in zip(self.keys, self.values, strict=True))


def table_prefix(table: str = TABLE_NAME) -> str:
    return f"{TABLES_PREFIX}{table}/"


def validate_value(key: str, value: str) -> str:
    """Return ``value`` if it is a valid value of partition key ``key``, else raise PartitionKeyError."""
    if not isinstance(value, str) or not VALUE_RE.fullmatch(value):
        raise PartitionKeyError(
            f"partition value {key}={str(value)[:80]!r} is not allowed: values are 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    fmt = _FORMATS.get(key)
    if fmt is not None:
        width, lo, hi = fmt
        if len(value) != width or not value.isdigit() or not lo <= int(value) <= hi:
            raise PartitionKeyError(f"partition value {key}={value!r} must be {width} digits in [{lo}, {hi}]")
    return value


def partition_for(service_name: str, timestamp_ms: int, table: str = TABLE_NAME) -> Partition:
    """The partition a record with this service and event time belongs to (event hour, UTC)."""
    t = datetime_from_ms(timestamp_ms)
    return Partition(table, (service_name, f"{t.year:04d}", f"{t.month:02d}", f"{t.day:02d}", f"{t.hour:02d}"))


def hour_start_ms(partition: Partition) -> int:
    """Start of the partition's event hour, epoch ms."""
    s = partition.spec
    t = datetime(int(s["year"]), int(s["month"]), int(s["day"]), int(s["hour"]), tzinfo=UTC)
    return ms_from_datetime(t)


def parse_key(key: str, *, table: str | None = None, keys: tuple[str, ...] = PARTITION_KEYS) -> Partition:
    """Map an object key under ``tables/`` to its partition.

    The key must be ``tables/<table>/<k1>=<v1>/…/<kn>=<vn>/`` followed by at least one more segment (the
    file, possibly inside sub-folders such as a compaction generation). Raises :class:`PartitionKeyError`
    with the reason otherwise.

    >>> parse_key("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/p.parquet").values
    ('shop', '2026', '11', '22', '10')
    """
    segments = key.split("/")
    if len(segments) < 3 + len(keys) or segments[0] + "/" != TABLES_PREFIX:
        raise PartitionKeyError(
            f"key {key[:200]!r} is not under {TABLES_PREFIX}<table>/ with {len(keys)} partition segments"
        )
    found_table = segments[1]
    if table is not None and found_table != table:
        raise PartitionKeyError(f"key {key[:200]!r} belongs to table {found_table!r}, not {table!r}")
    values = []
    for expected, segment in zip(keys, segments[2 : 2 + len(keys)], strict=True):
        name, sep, value = segment.partition("=")
        if not sep or name != expected:
            raise PartitionKeyError(f"key {key[:200]!r}: expected a segment {expected}=…, found {segment[:80]!r}")
        values.append(value)
    if not segments[-1]:
        raise PartitionKeyError(f"key {key[:200]!r} is a folder, not a data file")
    return Partition(found_table, tuple(values), keys)
