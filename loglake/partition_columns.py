"""Partition columns: the rule each column's values follow, and its Athena partition-projection properties.

A column is a ``string`` (any value of the safe character set, or one of a configured list), an ``integer``
(a range, with a fixed number of digits when zero-padded) or a ``date`` (a single-segment format such as
``yyyy-MM-dd``). Every value first passes :func:`loglake.partitions.validate_value`, the rule for all values.

Example
-------
>>> hour = Column("hour", "integer", lo=0, hi=23, digits=2)
>>> hour.validate("07"), hour.projection()["projection.hour.range"]
('07', '0,23')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from loglake.errors import ConfigError, PartitionKeyError
from loglake.partitions import validate_value

_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Date-format tokens (Java DateTimeFormatter spelling, as Athena projection expects) → strftime.
_DATE_TOKENS: Final = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M"}
_DATE_UNITS: Final = {"mm": "MINUTES", "HH": "HOURS", "dd": "DAYS", "MM": "MONTHS", "yyyy": "YEARS"}
_DATE_FORMAT_RE: Final = re.compile(r"(?:yyyy|MM|dd|HH|mm|[-_.])+")
_RELATIVE_DATE_RE: Final = re.compile(r"NOW(?:[+-][0-9]{1,4}(?:YEARS|MONTHS|WEEKS|DAYS|HOURS|MINUTES))?")
_UNITS: Final = ("YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS", "MINUTES")
_COLUMN_KEYS: Final = frozenset({"type", "values", "range", "digits", "format", "interval", "unit"})


@dataclass(frozen=True, slots=True)
class Column:
    """One partition column and the rule its values follow.

    ``kind`` is ``string`` (any safe value, or one of ``values``), ``integer`` (``lo``..``hi``, written with
    exactly ``digits`` digits when set, else without leading zeros) or ``date`` (``date_format``, e.g.
    ``yyyy-MM-dd``). The other fields only feed partition projection.
    """

    name: str
    kind: str = "string"
    values: tuple[str, ...] = ()
    lo: int = 0
    hi: int = 0
    digits: int | None = None
    date_format: str = ""
    date_range: str = ""
    interval: int = 1
    unit: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ConfigError(f"partition column name {self.name!r} must be 1-64 of a-z, 0-9, _ (starting a-z)")
        if self.kind not in ("string", "integer", "date"):
            raise ConfigError(f"column {self.name}: type {self.kind!r} is not string, integer or date")
        for v in self.values:
            try:
                validate_value(self.name, v)
            except PartitionKeyError as exc:
                raise ConfigError(f"column {self.name}: listed value is not allowed: {exc}") from None
        if self.kind == "integer" and not 0 <= self.lo <= self.hi:
            raise ConfigError(f"column {self.name}: range must be two integers 0 <= lo <= hi, got {self.lo},{self.hi}")
        if self.kind == "date":
            if "/" in self.date_format:
                raise ConfigError(
                    f"column {self.name}: date format {self.date_format!r} spans several path segments; use one "
                    "column per segment (e.g. {year}/{month}/{day}) or a format such as yyyy-MM-dd"
                )
            if not _DATE_FORMAT_RE.fullmatch(self.date_format):
                raise ConfigError(
                    f"column {self.name}: date format {self.date_format!r} must combine yyyy, MM, dd, HH, mm "
                    "and the separators - _ ."
                )
            ends = self.date_range.split(",")
            if len(ends) != 2 or not all(_RELATIVE_DATE_RE.fullmatch(e) or self._parse_date(e) for e in ends):
                raise ConfigError(
                    f"column {self.name}: date range {self.date_range!r} must be 'start,end', each a date in the "
                    f"format {self.date_format} or NOW, NOW-3YEARS, NOW+1DAYS…"
                )
            if self.unit not in _UNITS:
                raise ConfigError(f"column {self.name}: interval unit {self.unit!r} is not one of {_UNITS}")

    @property
    def _strftime(self) -> str:
        return re.sub("yyyy|MM|dd|HH|mm", lambda m: _DATE_TOKENS[m.group(0)], self.date_format)

    def _parse_date(self, value: str) -> datetime | None:
        """The date ``value`` spells in this column's format (exactly, zero-padded), or None."""
        try:
            parsed = datetime.strptime(value, self._strftime)
        except ValueError:
            return None
        return parsed if parsed.strftime(self._strftime) == value else None

    def validate(self, value: str) -> str:
        """Return ``value`` if this column may hold it, else raise :class:`PartitionKeyError` saying why."""
        validate_value(self.name, value)
        if self.kind == "string":
            if self.values and value not in self.values:
                raise PartitionKeyError(f"partition value {self.name}={value!r} is not one of the configured values")
        elif self.kind == "integer":
            canonical = value.isdigit() and (len(value) == self.digits if self.digits else str(int(value)) == value)
            if not canonical or not self.lo <= int(value) <= self.hi:
                width = f"{self.digits} digits" if self.digits else "an integer without leading zeros"
                raise PartitionKeyError(
                    f"partition value {self.name}={value!r} must be {width} in [{self.lo}, {self.hi}]"
                )
        elif self._parse_date(value) is None:
            raise PartitionKeyError(
                f"partition value {self.name}={value!r} is not a date in the format {self.date_format}"
            )
        return value

    def projection(self) -> dict[str, str]:
        """This column's ``projection.<name>.*`` table properties."""
        p = f"projection.{self.name}."
        if self.kind == "string":
            if self.values:
                return {p + "type": "enum", p + "values": ",".join(self.values)}
            return {p + "type": "injected"}
        if self.kind == "integer":
            out = {p + "type": "integer", p + "range": f"{self.lo},{self.hi}"}
            if self.digits:
                out[p + "digits"] = str(self.digits)
            return out
        return {
            p + "type": "date",
            p + "format": self.date_format,
            p + "range": self.date_range,
            p + "interval": str(self.interval),
            p + "interval.unit": self.unit,
        }

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> Column:
        """A column from its ``LOGLAKE_TABLES`` description (see :meth:`TableLayouts.from_config`)."""
        if not isinstance(spec, Mapping):
            raise ConfigError(f'column {name}: expected an object such as {{"type": "string"}}, got {spec!r}')
        unknown = set(spec) - _COLUMN_KEYS
        if unknown:
            raise ConfigError(f"column {name}: unknown setting(s) {sorted(unknown)}; allowed: {sorted(_COLUMN_KEYS)}")
        kind = str(spec.get("type", "string"))
        try:
            if kind == "integer":
                lo, hi = _pair(spec.get("range"), name)
                digits = spec.get("digits")
                return cls(name, kind, lo=lo, hi=hi, digits=int(digits) if digits else None)
            if kind == "date":
                fmt = str(spec.get("format", ""))
                default_start = _format_default_start(fmt)
                return cls(
                    name,
                    kind,
                    date_format=fmt,
                    date_range=str(spec.get("range") or f"{default_start},NOW"),
                    interval=int(spec.get("interval", 1)),
                    unit=str(spec.get("unit") or _finest_unit(fmt)),
                )
            values = spec.get("values") or ()
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise ConfigError(f"column {name}: values must be a list of strings")
            return cls(name, kind, values=tuple(values))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"column {name}: invalid setting ({exc})") from None


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f'column {name}: an integer column needs "range": [lo, hi]')
    return int(value[0]), int(value[1])


def _finest_unit(fmt: str) -> str:
    for token in ("mm", "HH", "dd", "MM", "yyyy"):
        if token in fmt:
            return _DATE_UNITS[token]
    return "DAYS"


def _format_default_start(fmt: str) -> str:
    if not _DATE_FORMAT_RE.fullmatch(fmt or "-"):
        return "NOW-10YEARS"  # the format itself is rejected with a clear message in Column.__post_init__
    return datetime(2000, 1, 1, tzinfo=UTC).strftime(re.sub("yyyy|MM|dd|HH|mm", lambda m: _DATE_TOKENS[m[0]], fmt))


#: Column rules of the access-log table's Hive keys (timestamps are accepted in [2000, 2100), see schema).
ACCESS_LOG_COLUMNS: Final = (
    Column("service_name"),
    Column("year", "integer", lo=2000, hi=2099, digits=4),
    Column("month", "integer", lo=1, hi=12, digits=2),
    Column("day", "integer", lo=1, hi=31, digits=2),
    Column("hour", "integer", lo=0, hi=23, digits=2),
)
#: The access-log rules by column name: Hive tables with columns of these names inherit them.
KNOWN_COLUMNS: Final = {c.name: c for c in ACCESS_LOG_COLUMNS}
