"""Partitions: record → partition values, and object key ↔ partition values with strict validation.

The lake's table layout is Hive style, one whole path segment per key::

    tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/part-….parquet

Matching is by whole segments and exact names. Values must match :data:`VALUE_RE` (letters, digits, ``.``,
``_``, ``-``; at most 64 characters, starting with a letter or digit), so no value read from a key can carry
quotes, slashes, spaces, ``=``, backslashes, comment markers, non-ASCII letters or SQL. Tables laid out
otherwise (a template such as ``{account_id}/{date}/``) are described in :mod:`loglake.layout`, which also
adds each column's own rule (listed values, integer ranges with fixed digits, date formats).
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
    """One partition of a table: its name and its values, in key order; every value is checked.

    Example
    -------
    >>> p = Partition("access_logs", ("shop", "2026", "11", "22", "10"))
    >>> p.spec["hour"], p.prefix
    ('10', 'tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/')
    """

    table: str
    values: tuple[str, ...]
    keys: tuple[str, ...] = PARTITION_KEYS

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.table):
            raise PartitionKeyError(f"table name {str(self.table)[:80]!r} is not a valid identifier")
        if len(self.values) != len(self.keys):
            raise PartitionKeyError(
                f"{self.table}: expected {len(self.keys)} partition values, got {str(self.values)[:200]}"
            )
        for key, value in zip(self.keys, self.values, strict=True):
            validate_value(key, value)

    @property
    def spec(self) -> dict[str, str]:
        return dict(zip(self.keys, self.values, strict=True))

    @property
    def prefix(self) -> str:
        """``tables/<table>/k=v/…/`` — the partition's folder in the Hive layout, relative to the lake root.

        Tables with another layout get their folder from :meth:`loglake.layout.TableLayout.prefix`.
        """
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
    """Map an object key under ``tables/`` to its partition in the Hive layout with partition keys ``keys``.

    The key must be ``tables/<table>/<k1>=<v1>/…/<kn>=<vn>/`` followed by at least one more segment (the
    file, possibly inside sub-folders such as a compaction generation; a sub-folder that looks like one more
    ``name=value`` level is refused). Segments match by whole segment and exact name. Raises
    :class:`PartitionKeyError` with the reason otherwise. Tables laid out otherwise are parsed by
    :class:`loglake.layout.TableLayout`, which this function uses.

    >>> parse_key("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/p.parquet").values
    ('shop', '2026', '11', '22', '10')
    """
    from loglake.layout import TableLayout  # the layout module builds on this one

    segments = key.split("/")
    if len(segments) < 3 or segments[0] + "/" != TABLES_PREFIX:
        raise PartitionKeyError(
            f"key {key[:200]!r} is not under {TABLES_PREFIX}<table>/ with {len(keys)} partition segments"
        )
    found_table = segments[1]
    if table is not None and found_table != table:
        raise PartitionKeyError(f"key {key[:200]!r} belongs to table {found_table[:80]!r}, not {table!r}")
    if not _NAME_RE.fullmatch(found_table):
        raise PartitionKeyError(f"key {key[:200]!r}: table name {found_table[:80]!r} is not a valid identifier")
    return TableLayout.hive(found_table, keys).parse(key)
