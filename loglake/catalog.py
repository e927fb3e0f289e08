"""The catalog port: partitions registered by the same calls in Athena (AWS) and DuckDB (embedded).

A table sees only registered partitions, in both worlds. DDL is built here with safe quoting: identifiers
must be plain names and are back-quoted; values and locations are validated and single-quoted with quotes
doubled, so nothing read from a key or a record reaches SQL unchecked.
"""

from __future__ import annotations

import glob as globlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlparse

import orjson

from loglake.errors import CatalogError
from loglake.partitions import Partition, validate_value
from loglake.schema import PARTITION_KEYS

#: Athena's limit on the length of a query string, in bytes.
MAX_QUERY_BYTES: Final = 262_144
_IDENT_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_LOCATION_RE: Final = re.compile(r"(s3|file)://[^'\\\x00-\x1f]+/")

PartitionLocation = tuple[Partition, str]


def quote_identifier(name: str) -> str:
    if not _IDENT_RE.fullmatch(name):
        raise CatalogError(f"{name[:80]!r} is not a valid identifier (letters, digits, underscore)")
    return f"`{name}`"


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def check_location(location: str) -> str:
    if not _LOCATION_RE.fullmatch(location):
        raise CatalogError(f"location {location[:200]!r} must be an s3:// or file:// folder ending in '/'")
    return location


def partition_clause(partition: Partition) -> str:
    parts = ", ".join(
        f"{quote_identifier(k)} = {quote_literal(validate_value(k, v))}"
        for k, v in zip(partition.keys, partition.values, strict=True)
    )
    return f"PARTITION ({parts})"


def render_add_partitions(
    database: str, items: Sequence[PartitionLocation], *, max_bytes: int = MAX_QUERY_BYTES
) -> list[str]:
    """``ALTER TABLE … ADD IF NOT EXISTS PARTITION (…) LOCATION '…' …`` statements, each under ``max_bytes``.

    All items must belong to one table.
    """
    if not items:
        return []
    tables = {p.table for p, _ in items}
    if len(tables) != 1:
        raise CatalogError(f"one statement covers one table, got {sorted(tables)}")
    head = f"ALTER TABLE {quote_identifier(database)}.{quote_identifier(items[0][0].table)} ADD IF NOT EXISTS"
    statements: list[str] = []
    current: list[str] = []
    size = len(head.encode())
    for partition, location in items:
        clause = f"\n  {partition_clause(partition)} LOCATION {quote_literal(check_location(location))}"
        n = len(clause.encode())
        if size + n > max_bytes and current:
            statements.append(head + "".join(current))
            current, size = [], len(head.encode())
        if len(head.encode()) + n > max_bytes:
            raise CatalogError("a single partition clause exceeds the query size limit")
        current.append(clause)
        size += n
    statements.append(head + "".join(current))
    return statements


def render_set_location(database: str, partition: Partition, location: str) -> str:
    return (
        f"ALTER TABLE {quote_identifier(database)}.{quote_identifier(partition.table)} "
        f"{partition_clause(partition)} SET LOCATION {quote_literal(check_location(location))}"
    )


class Catalog(Protocol):
    """What the autoloader and the compactor need from a catalog."""

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        """Register partitions (``ADD IF NOT EXISTS`` semantics); returns the number of statements run."""
        ...

    def set_partition_location(self, partition: Partition, location: str) -> None: ...

    def partitions(self, table: str) -> dict[Partition, str]: ...


# --------------------------------------------------------------------------- Athena


class AthenaCatalog:
    """Runs DDL in an Athena workgroup and waits for a final state, retrying throttling with backoff."""

    def __init__(
        self,
        *,
        database: str,
        workgroup: str = "primary",
        output_location: str | None = None,
        client: Any = None,
        glue_client: Any = None,
        timeout_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.database = database
        self.workgroup = workgroup
        self.output_location = output_location
        self._client = client
        self._glue = glue_client
        self.timeout_s = timeout_s
        self.sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("athena")
        return self._client

    def execute(self, sql: str) -> str:
        """Run one statement to completion; raises CatalogError if it fails, is cancelled or times out."""
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output_location}
        qid = self._with_retries(lambda: self.client.start_query_execution(**kwargs))["QueryExecutionId"]
        delay, waited = 0.1, 0.0
        while True:
            status = self._with_retries(lambda: self.client.get_query_execution(QueryExecutionId=qid))
            state = status["QueryExecution"]["Status"]["State"]
            if state == "SUCCEEDED":
                return str(qid)
            if state in ("FAILED", "CANCELLED"):
                reason = status["QueryExecution"]["Status"].get("StateChangeReason", "no reason given")
                raise CatalogError(f"Athena query {qid} {state}: {reason}")
            if waited >= self.timeout_s:
                raise CatalogError(f"Athena query {qid} still {state} after {self.timeout_s:.0f} s")
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def _with_retries(self, call: Callable[[], Any], attempts: int = 6) -> Any:
        from botocore.exceptions import ClientError

        for attempt in range(attempts):
            try:
                return call()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("TooManyRequestsException", "ThrottlingException") or attempt == attempts - 1:
                    raise CatalogError(f"Athena call failed: {exc}") from exc
                self.sleep(min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        statements = render_add_partitions(self.database, items)
        for sql in statements:
            self.execute(sql)
        return len(statements)

    def set_partition_location(self, partition: Partition, location: str) -> None:
        self.execute(render_set_location(self.database, partition, location))

    def partitions(self, table: str) -> dict[Partition, str]:
        if self._glue is None:
            import boto3

            self._glue = boto3.client("glue")
        out: dict[Partition, str] = {}
        for page in self._glue.get_paginator("get_partitions").paginate(DatabaseName=self.database, TableName=table):
            for p in page["Partitions"]:
                out[Partition(table, tuple(p["Values"]))] = p["StorageDescriptor"]["Location"]
        return out


# --------------------------------------------------------------------------- DuckDB (embedded)


class DuckDBCatalog:
    """The embedded catalog: a DuckDB file that records partitions and serves queries over them.

    Each query connection gets one view per table that reads only the registered partitions' Parquet
    files (``<location>*.parquet``), with the Hive partition columns typed as strings.
    """

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._duckdb = duckdb
        with self._connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS loglake_partitions ("
                " table_name VARCHAR NOT NULL, spec VARCHAR NOT NULL, location VARCHAR NOT NULL,"
                " PRIMARY KEY (table_name, spec))"
            )

    def _connect(self, read_only: bool = False) -> Any:
        return self._duckdb.connect(str(self.path), read_only=read_only)

    @staticmethod
    def _spec(partition: Partition) -> str:
        return orjson.dumps(partition.spec).decode()

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        if not items:
            return 0
        rows = [(p.table, self._spec(p), check_location(loc)) for p, loc in items]
        with self._connect() as con:
            con.executemany("INSERT OR IGNORE INTO loglake_partitions VALUES (?, ?, ?)", rows)
        return 1

    def set_partition_location(self, partition: Partition, location: str) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE loglake_partitions SET location = ? WHERE table_name = ? AND spec = ?",
                [check_location(location), partition.table, self._spec(partition)],
            )

    def partitions(self, table: str) -> dict[Partition, str]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT spec, location FROM loglake_partitions WHERE table_name = ? ORDER BY spec", [table]
            ).fetchall()
        out = {}
        for spec, location in rows:
            values = orjson.loads(spec)
            out[Partition(table, tuple(values.values()), tuple(values.keys()))] = location
        return out

    def tables(self) -> list[str]:
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT table_name FROM loglake_partitions").fetchall()]

    def query_connection(self, tables: Iterable[str] | None = None) -> Any:
        """An in-memory DuckDB connection with a view per table over its registered partitions."""
        from loglake.schema import duckdb_columns

        con = self._duckdb.connect()
        for table in tables or self.tables():
            files: list[str] = []
            for location in self.partitions(table).values():
                folder = unquote(urlparse(location).path)
                files.extend(sorted(globlib.glob(globlib.escape(folder) + "*.parquet")))
            name = quote_identifier(table).replace("`", '"')
            if not files:
                cols = ", ".join(f'NULL::{t} AS "{c}"' for c, t in duckdb_columns().items())
                keys = ", ".join(f'NULL::VARCHAR AS "{k}"' for k in PARTITION_KEYS)
                con.execute(f"CREATE VIEW {name} AS SELECT {cols}, {keys} WHERE false")
                continue
            hive_types = "{" + ", ".join(f"'{k}': VARCHAR" for k in PARTITION_KEYS) + "}"
            file_list = "[" + ", ".join(quote_literal(f) for f in files) + "]"
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet({file_list}, hive_partitioning = true, "
                f"hive_types = {hive_types}, union_by_name = true)"
            )
        return con


def open_catalog(settings: Any) -> Catalog:
    """The catalog the settings name: Athena, or the lake's DuckDB file for a ``file://`` lake."""
    if settings.catalog_kind == "athena":
        return AthenaCatalog(
            database=settings.database,
            workgroup=settings.athena_workgroup,
            output_location=settings.athena_output,
        )
    if settings.catalog.startswith("duckdb:"):
        return DuckDBCatalog(unquote(urlparse(settings.catalog).path))
    if settings.is_local:
        return DuckDBCatalog(local_catalog_path(settings.lake_uri))
    raise CatalogError(f"LOGLAKE_CATALOG {settings.catalog!r} is not 'athena' or duckdb:///path")


def local_catalog_path(lake_uri: str) -> Path:
    """Where a ``file://`` lake keeps its DuckDB catalog."""
    return Path(unquote(urlparse(lake_uri).path)) / "_catalog" / "catalog.duckdb"
