"""Table layouts: how a table's partition values are spelled in object keys, described once.

A :class:`TableLayout` maps an object key to its :class:`~loglake.partitions.Partition` (whole path segments,
exact names), formats a partition back into its folder, and generates Athena partition-projection table
properties from the same description. Two kinds of layout:

- Hive, the default: one ``name=value`` segment per partition column, e.g. the access-log table's
  ``service_name={service_name}/year={year}/month={month}/day={day}/hour={hour}/``;
- a template for tables laid out otherwise, e.g. an audit log under ``{account_id}/{date}/``. A template
  segment is a literal (matched exactly), or one ``{column}`` placeholder with optional literal text around it
  (``dt={date}``, ``v{version}``).

Every value read from a key passes the strict rule of :func:`loglake.partitions.validate_value` (1-64 letters,
digits, ``.``, ``_``, ``-``, starting with a letter or digit) and then its column's own rule (a listed value,
an integer in range with fixed digits, a date in the column's format), so nothing else can reach SQL.

Tables are configured by ``LOGLAKE_TABLES`` (see :meth:`TableLayouts.from_config`); the access-log table is
always present with its Hive layout unless configured otherwise.

Example
-------
>>> layout = TableLayout.from_config("audit_log", {"layout": "{account_id}/{date}/",
...     "columns": {"date": {"type": "date", "format": "yyyy-MM-dd"}}})
>>> p = layout.parse("tables/audit_log/123456789012/2026-11-22/events.parquet")
>>> p.spec
{'account_id': '123456789012', 'date': '2026-11-22'}
>>> layout.prefix(p)
'tables/audit_log/123456789012/2026-11-22/'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from loglake.errors import ConfigError, PartitionKeyError
from loglake.partition_columns import ACCESS_LOG_COLUMNS, KNOWN_COLUMNS, Column
from loglake.partitions import TABLES_PREFIX, Partition
from loglake.schema import PARTITION_KEYS, TABLE_NAME

__all__ = [
    "ACCESS_LOG_COLUMNS",
    "DEFAULT_SUFFIXES",
    "Column",
    "KeyVerdict",
    "Segment",
    "TableLayout",
    "TableLayouts",
    "parse_template",
    "projection_properties",
]

_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LITERAL_RE: Final = re.compile(r"[A-Za-z0-9_.=\-]*")
_PLACEHOLDER_RE: Final = re.compile(r"\{([^{}]*)\}")
#: Data files of a table unless its configuration says otherwise.
DEFAULT_SUFFIXES: Final = (".parquet",)
_TABLE_KEYS: Final = frozenset({"layout", "columns", "suffixes", "projection"})


@dataclass(frozen=True, slots=True)
class Segment:
    """One path segment of a layout: ``prefix{column}suffix``, or a fixed literal when ``column`` is empty."""

    prefix: str
    column: str = ""
    suffix: str = ""

    def render(self, values: Mapping[str, str]) -> str:
        return f"{self.prefix}{values[self.column]}{self.suffix}" if self.column else self.prefix

    def template(self) -> str:
        return f"{self.prefix}${{{self.column}}}{self.suffix}" if self.column else self.prefix

    def match(self, segment: str) -> str | None:
        """The value this segment holds, or None if it does not have this segment's shape."""
        if not self.column:
            return "" if segment == self.prefix else None
        if (
            len(segment) > len(self.prefix) + len(self.suffix)
            and segment.startswith(self.prefix)
            and segment.endswith(self.suffix)
        ):
            return segment[len(self.prefix) : len(segment) - len(self.suffix)]
        return None


def parse_template(template: str) -> tuple[Segment, ...]:
    """``"{account_id}/dt={date}/"`` → its segments; raises :class:`ConfigError` on anything ambiguous."""
    parts = template.strip("/").split("/")
    if not template.strip("/"):
        raise ConfigError("a layout template needs at least one segment, e.g. '{account_id}/{date}/'")
    segments = []
    for part in parts:
        placeholders = _PLACEHOLDER_RE.findall(part)
        literal = _PLACEHOLDER_RE.split(part)
        if len(placeholders) > 1:
            raise ConfigError(f"layout segment {part!r} has several placeholders; put each column in its own segment")
        if not part or not all(_LITERAL_RE.fullmatch(t) for t in literal[::2]):
            raise ConfigError(
                f"layout segment {part!r} may only hold letters, digits, _ . = - and one {{column}} placeholder"
            )
        if placeholders:
            segments.append(Segment(literal[0], placeholders[0], literal[2]))
        else:
            segments.append(Segment(part))
    return tuple(segments)


@dataclass(frozen=True)
class TableLayout:
    """Where one table's partitions live under ``tables/<table>/`` and how their values are checked."""

    table: str
    segments: tuple[Segment, ...]
    columns: tuple[Column, ...]
    suffixes: tuple[str, ...] = DEFAULT_SUFFIXES
    projection: bool = False
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    _keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.table):
            raise ConfigError(f"table name {self.table!r} must be 1-64 of a-z, 0-9, _ (starting a-z)")
        named = [s.column for s in self.segments if s.column]
        if len(set(named)) != len(named):
            raise ConfigError(f"table {self.table}: a column appears twice in its layout")
        if named != [c.name for c in self.columns]:
            raise ConfigError(
                f"table {self.table}: layout columns {named} do not match the configured columns "
                f"{[c.name for c in self.columns]}"
            )
        if not named:
            raise ConfigError(f"table {self.table}: its layout has no {{column}} placeholder")
        if not self.suffixes or not all(isinstance(s, str) and s for s in self.suffixes):
            raise ConfigError(f"table {self.table}: suffixes must be a non-empty list such as ['.parquet']")
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})
        object.__setattr__(self, "_keys", tuple(c.name for c in self.columns))

    @property
    def keys(self) -> tuple[str, ...]:
        """The partition columns, in path order."""
        return self._keys

    @property
    def table_prefix(self) -> str:
        return f"{TABLES_PREFIX}{self.table}/"

    @property
    def is_hive(self) -> bool:
        return all(s.column and s.prefix == f"{s.column}=" and not s.suffix for s in self.segments)

    def template(self) -> str:
        """The layout with ``${column}`` placeholders, as Athena's ``storage.location.template`` wants it."""
        return "".join(s.template() + "/" for s in self.segments)

    def prefix(self, partition: Partition) -> str:
        """``tables/<table>/…/`` — the partition's folder relative to the lake root."""
        self.check(partition)
        spec = partition.spec
        return self.table_prefix + "".join(s.render(spec) + "/" for s in self.segments)

    def key_for(self, values: Mapping[str, str], filename: str) -> str:
        """The key of a file named ``filename`` in the partition with these values."""
        return self.prefix(self.partition(values)) + filename

    def partition(self, values: Mapping[str, str]) -> Partition:
        """A partition of this table from ``{column: value}``, every value checked."""
        missing = [k for k in self.keys if k not in values]
        if missing or len(values) != len(self.keys):
            raise PartitionKeyError(f"table {self.table}: expected values for {list(self.keys)}, got {list(values)}")
        return Partition(self.table, tuple(self._by_name[k].validate(values[k]) for k in self.keys), self.keys)

    def check(self, partition: Partition) -> Partition:
        """Return ``partition`` if it is a valid partition of this table, else raise PartitionKeyError."""
        if partition.table != self.table or partition.keys != self.keys:
            raise PartitionKeyError(f"{partition} is not a partition of {self.table} {list(self.keys)}")
        for k, v in zip(partition.keys, partition.values, strict=True):
            self._by_name[k].validate(v)
        return partition

    def parse(self, key: str) -> Partition:
        """Map an object key of this table to its partition, or raise :class:`PartitionKeyError` with the reason.

        The key is ``tables/<table>/<segments…>/[sub-folders/]<file>``. Sub-folders below the partition are
        allowed (a compaction generation, say) unless they look like one more ``name=value`` partition level.
        """
        segments = key.split("/")
        n = len(self.segments)
        if segments[:2] != [TABLES_PREFIX.rstrip("/"), self.table]:
            raise PartitionKeyError(f"key {key[:200]!r} is not under {self.table_prefix}")
        if len(segments) < 3 + n:
            raise PartitionKeyError(
                f"key {key[:200]!r} has {max(len(segments) - 3, 0)} folder segment(s) below {self.table_prefix}; "
                f"the layout {self.template()} needs {n}"
            )
        if not segments[-1]:
            raise PartitionKeyError(f"key {key[:200]!r} is a folder, not a data file")
        values: dict[str, str] = {}
        for spec, segment in zip(self.segments, segments[2 : 2 + n], strict=True):
            value = spec.match(segment)
            if value is None:
                want = spec.prefix if not spec.column else spec.template()
                raise PartitionKeyError(f"key {key[:200]!r}: expected a segment {want!r}, found {segment[:80]!r}")
            if spec.column:
                values[spec.column] = value
        for extra in segments[2 + n : -1]:
            if "=" in extra or not extra:
                raise PartitionKeyError(
                    f"key {key[:200]!r}: {extra[:80]!r} below the partition folder is not part of the layout "
                    f"{self.template()} (an extra partition level or an empty segment)"
                )
        return self.partition(values)

    def projection_properties(self, location: str) -> dict[str, str]:
        """Athena partition-projection table properties for this layout; ``location`` is the table's folder."""
        return projection_properties(self, location)

    def glue_partition_keys(self) -> list[dict[str, str]]:
        """Glue ``PartitionKeys`` of this layout: every partition column is a string."""
        return [{"Name": c.name, "Type": "string"} for c in self.columns]

    @classmethod
    def hive(cls, table: str, keys: tuple[str, ...] = PARTITION_KEYS, **kwargs: Any) -> TableLayout:
        """The Hive layout ``k1={k1}/k2={k2}/…``; columns known to the access-log table keep their rules."""
        columns = tuple(KNOWN_COLUMNS.get(k) or Column(k) for k in keys)
        return cls(table, tuple(Segment(f"{k}=", k) for k in keys), columns, **kwargs)

    @classmethod
    def from_config(cls, table: str, spec: Mapping[str, Any]) -> TableLayout:
        """One table of ``LOGLAKE_TABLES``; see :meth:`TableLayouts.from_config` for the format."""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"LOGLAKE_TABLES: table {table!r} must be described by an object, got {spec!r}")
        unknown = set(spec) - _TABLE_KEYS
        if unknown:
            raise ConfigError(
                f"LOGLAKE_TABLES: table {table!r} has unknown setting(s) {sorted(unknown)}; "
                f"allowed: {sorted(_TABLE_KEYS)}"
            )
        default = (
            cls.hive(TABLE_NAME) if table == TABLE_NAME else None
        )  # the access-log table: configure only what differs
        template = spec.get("layout")
        if template is None and default is None:
            raise ConfigError(
                f'LOGLAKE_TABLES: table {table!r} needs a "layout", e.g. "{{account_id}}/{{date}}/" '
                'or "hive" with "columns"'
            )
        col_specs = spec.get("columns") or {}
        if not isinstance(col_specs, Mapping):
            raise ConfigError(f"LOGLAKE_TABLES: table {table!r}: columns must be an object of column → settings")
        if template is None or template == "hive":
            if template == "hive":
                if not col_specs:
                    raise ConfigError(f"LOGLAKE_TABLES: hive table {table!r} needs its columns, in path order")
                segments = tuple(Segment(f"{k}=", k) for k in col_specs)
            else:
                assert default is not None
                segments = default.segments
        else:
            segments = parse_template(str(template))
        names = [s.column for s in segments if s.column]
        unknown_cols = set(col_specs) - set(names)
        if unknown_cols:
            raise ConfigError(f"LOGLAKE_TABLES: table {table!r}: columns {sorted(unknown_cols)} are not in its layout")
        base = {c.name: c for c in (default.columns if default else ())} | KNOWN_COLUMNS
        columns = tuple(
            Column.from_config(n, col_specs[n]) if n in col_specs else base.get(n) or Column(n) for n in names
        )
        suffixes = spec.get("suffixes", DEFAULT_SUFFIXES)
        if isinstance(suffixes, str):
            suffixes = [suffixes]
        return cls(table, segments, columns, tuple(suffixes), bool(spec.get("projection", False)))


def projection_properties(layout: TableLayout, location: str) -> dict[str, str]:
    """Glue table parameters that turn on Athena partition projection for ``layout``.

    ``location`` is the table's folder (``s3://bucket/tables/<table>/``; a CDK token string is fine). Strings
    with listed values project as ``enum``, other strings as ``injected`` (queries must then filter them with
    ``=``), integers as ``integer`` with their range and digits, dates as ``date`` with format, range and
    interval.

    Example
    -------
    >>> props = projection_properties(TableLayout.hive("access_logs"), "s3://lake/tables/access_logs/")
    >>> props["projection.hour.range"], props["projection.service_name.type"]
    ('0,23', 'injected')
    >>> props["storage.location.template"]
    's3://lake/tables/access_logs/service_name=${service_name}/year=${year}/month=${month}/day=${day}/hour=${hour}/'
    """
    if not location.startswith("s3://") or not location.endswith("/") or "'" in location:
        raise ConfigError(f"projection location {location[:200]!r} must be an s3:// folder ending in '/'")
    out = {"projection.enabled": "true"}
    for column in layout.columns:
        out.update(column.projection())
    out["storage.location.template"] = location + layout.template()
    return out


@dataclass(frozen=True)
class KeyVerdict:
    """What a key is to the autoloader: a partition to register, a key to ignore, or an invalid key."""

    partition: Partition | None = None
    ignored: str | None = None
    invalid: str | None = None


class TableLayouts:
    """The configured tables, by name; classifies keys under ``tables/``.

    Example
    -------
    >>> tables = TableLayouts.from_config({"audit_log": {"layout": "{account_id}/{date}/",
    ...     "columns": {"date": {"type": "date", "format": "yyyy-MM-dd"}}, "projection": True}})
    >>> key = "tables/access_logs/service_name=web/year=2026/month=11/day=22/hour=10/a.parquet"
    >>> tables.classify(key).partition.values
    ('web', '2026', '11', '22', '10')
    >>> tables.classify("tables/audit_log/123/2026-11-22/a.parquet").ignored
    'table audit_log uses partition projection'
    """

    #: How many partition folders :meth:`classify` remembers (the warm path: many files, few folders).
    FOLDER_CACHE_SIZE: Final = 4096

    def __init__(self, layouts: Mapping[str, TableLayout] | None = None) -> None:
        self._layouts = dict(layouts) if layouts is not None else {TABLE_NAME: TableLayout.hive(TABLE_NAME)}
        self._folders: dict[str, tuple[TableLayout, KeyVerdict]] = {}

    def __iter__(self) -> Iterator[TableLayout]:
        return iter(self._layouts.values())

    def __len__(self) -> int:
        return len(self._layouts)

    def __getitem__(self, table: str) -> TableLayout:
        try:
            return self._layouts[table]
        except KeyError:
            raise PartitionKeyError(
                f"no table {table[:80]!r} is configured (known: {sorted(self._layouts)}); add it to LOGLAKE_TABLES"
            ) from None

    def prefix(self, partition: Partition) -> str:
        """The folder of ``partition`` relative to the lake root, in its table's layout."""
        return self[partition.table].prefix(partition)

    def autoloaded(self) -> list[TableLayout]:
        """Tables whose partitions the autoloader registers (not partition projection)."""
        return [t for t in self if not t.projection]

    def notification_prefixes(self) -> list[str]:
        """The key prefixes whose ObjectCreated notifications the autoloader needs (one per autoloaded table)."""
        return [t.table_prefix for t in self.autoloaded()]

    def classify(self, key: str) -> KeyVerdict:
        """Decide what to do with ``key``; never raises for any string.

        Folders already seen to hold a valid partition are remembered, so the file name is all that is
        checked for the next object of the same partition.
        """
        folder, _, name = key.rpartition("/")
        if not name or "$folder$" in name:
            return KeyVerdict(ignored="folder marker")
        if name.startswith((".", "_")) or name.endswith((".tmp", ".temp", "~", ".crc")):
            return KeyVerdict(ignored="hidden or temporary file")
        cached = self._folders.get(folder)
        if cached is not None:
            layout, verdict = cached
            if name.endswith(layout.suffixes):
                return verdict
            return KeyVerdict(ignored=f"not a data file of {layout.table} ({', '.join(layout.suffixes)})")
        verdict = self._classify(key, name)
        if verdict.partition is not None:
            if len(self._folders) >= self.FOLDER_CACHE_SIZE:
                self._folders.clear()
            self._folders[folder] = (self._layouts[verdict.partition.table], verdict)
        return verdict

    def _classify(self, key: str, name: str) -> KeyVerdict:
        segments = key.split("/")
        if "$folder$" in key:
            return KeyVerdict(ignored="folder marker")
        if len(segments) < 3 or segments[0] + "/" != TABLES_PREFIX:
            return KeyVerdict(invalid=f"key {key[:200]!r} is not under {TABLES_PREFIX}<table>/")
        layout = self._layouts.get(segments[1])
        if layout is None:
            return KeyVerdict(
                invalid=f"key {key[:200]!r}: no table {segments[1][:80]!r} is configured "
                f"(known: {sorted(self._layouts)}); add it to LOGLAKE_TABLES"
            )
        if not name.endswith(layout.suffixes):
            return KeyVerdict(ignored=f"not a data file of {layout.table} ({', '.join(layout.suffixes)})")
        # Hidden folders (``_compacted/`` generations, ``.tmp`` work) are not partitions, at any depth: the
        # compactor registers its generations itself, with SET LOCATION.
        if any(s.startswith((".", "_")) for s in segments[2:-1]):
            return KeyVerdict(ignored="inside a hidden or temporary folder")
        if layout.projection:
            return KeyVerdict(ignored=f"table {layout.table} uses partition projection")
        try:
            return KeyVerdict(partition=layout.parse(key))
        except PartitionKeyError as exc:
            return KeyVerdict(invalid=str(exc))

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> TableLayouts:
        """Tables from the ``LOGLAKE_TABLES`` JSON object (table name → description).

        A description has ``layout`` (a template such as ``"{account_id}/{date}/"``, or ``"hive"``; the
        access-log table defaults to its Hive layout), ``columns`` (column → ``{"type": "string", "values":
        [...]}``, ``{"type": "integer", "range": [lo, hi], "digits": n}`` or ``{"type": "date", "format":
        "yyyy-MM-dd", "range": "2020-01-01,NOW", "interval": 1, "unit": "DAYS"}``; unlisted columns are
        strings), ``suffixes`` (data-file name endings, default ``[".parquet"]``) and ``projection`` (true:
        Athena partition projection; the autoloader ignores the table). The access-log table is always present.
        """
        layouts = {TABLE_NAME: TableLayout.hive(TABLE_NAME)}
        if config is None:
            return cls(layouts)
        if not isinstance(config, Mapping):
            raise ConfigError("LOGLAKE_TABLES must be a JSON object of table name → description")
        for table, spec in config.items():
            layouts[table] = TableLayout.from_config(table, spec)
        return cls(layouts)
