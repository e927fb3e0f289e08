"""The catalog port: partitions registered by the same calls in Athena (AWS) and DuckDB (embedded).

A table sees only registered partitions, in both worlds. DDL is built here with safe quoting: identifiers
must be plain names and are back-quoted; values and locations are validated and single-quoted with quotes
doubled, so nothing read from a key or a record reaches SQL unchecked.
"""

from __future__ import annotations

import contextlib
import glob as globlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlparse

import orjson

from loglake.errors import CatalogError, PartitionKeyError
from loglake.partitions import Partition, validate_value
from loglake.schema import PARTITION_KEYS

#: Athena's limit on the length of a query string, in bytes.
MAX_QUERY_BYTES: Final = 262_144
_IDENT_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_LOCATION_RE: Final = re.compile(r"(s3|file)://[^'\\\x00-\x1f]+/")

PartitionLocation = tuple[Partition, str]
logger = logging.getLogger(__name__)


def quote_identifier(name: str) -> str:
    """Back-quote a plain name (letters, digits, underscore; not starting with a digit) for DDL.

    >>> quote_identifier("access_logs")
    '`access_logs`'
    """
    if not isinstance(name, str) or not _IDENT_RE.fullmatch(name):
        raise CatalogError(f"{str(name)[:80]!r} is not a valid identifier (letters, digits, underscore)")
    return f"`{name}`"


def quote_literal(value: str) -> str:
    """Single-quote a string literal, doubling quotes (DuckDB's and Presto's rule).

    DDL sent to Athena never relies on this escaping: partition values and locations are validated first
    (:func:`loglake.partitions.validate_value`, :func:`check_location`) and hold no quote or backslash.

    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


def check_location(location: str) -> str:
    """Return ``location`` if it is an ``s3://`` or ``file://`` folder with no quote, backslash or control."""
    if not isinstance(location, str) or not _LOCATION_RE.fullmatch(location):
        raise CatalogError(f"location {str(location)[:200]!r} must be an s3:// or file:// folder ending in '/'")
    return location


def partition_clause(partition: Partition) -> str:
    """``PARTITION (`k` = 'v', …)`` with every name and value checked."""
    parts = ", ".join(
        f"{quote_identifier(k)} = {quote_literal(validate_value(k, v))}"
        for k, v in zip(partition.keys, partition.values, strict=True)
    )
    return f"PARTITION ({parts})"


def chunk_add_partitions(
    database: str, items: Sequence[PartitionLocation], *, max_bytes: int = MAX_QUERY_BYTES
) -> list[tuple[str, list[PartitionLocation]]]:
    """Like :func:`render_add_partitions`, with the partitions each statement covers."""
    if not items:
        return []
    tables = {p.table for p, _ in items}
    if len(tables) != 1:
        raise CatalogError(f"one statement covers one table, got {sorted(tables)}")
    head = f"ALTER TABLE {quote_identifier(database)}.{quote_identifier(items[0][0].table)} ADD IF NOT EXISTS"
    head_size = len(head.encode())
    chunks: list[tuple[str, list[PartitionLocation]]] = []
    clauses: list[str] = []
    covered: list[PartitionLocation] = []
    size = head_size
    for partition, location in items:
        clause = f"\n  {partition_clause(partition)} LOCATION {quote_literal(check_location(location))}"
        n = len(clause.encode())
        if head_size + n > max_bytes:
            raise CatalogError(
                f"the clause for {partition.spec} alone exceeds the {max_bytes}-byte query limit; shorten its location"
            )
        if size + n > max_bytes:
            chunks.append((head + "".join(clauses), covered))
            clauses, covered, size = [], [], head_size
        clauses.append(clause)
        covered.append((partition, location))
        size += n
    chunks.append((head + "".join(clauses), covered))
    return chunks


def render_add_partitions(
    database: str, items: Sequence[PartitionLocation], *, max_bytes: int = MAX_QUERY_BYTES
) -> list[str]:
    """``ALTER TABLE … ADD IF NOT EXISTS PARTITION (…) LOCATION '…' …`` statements, each at most ``max_bytes``.

    All items must belong to one table. Names are back-quoted identifiers; values and locations are checked
    and single-quoted. One statement unless the clauses exceed Athena's 262,144-byte query limit.

    Example
    -------
    >>> p = Partition("access_logs", ("shop", "2026", "11", "22", "10"))
    >>> print(render_add_partitions("loglake", [(p, "s3://lake/" + p.prefix)])[0])
    ALTER TABLE `loglake`.`access_logs` ADD IF NOT EXISTS
      PARTITION (`service_name` = 'shop', `year` = '2026', `month` = '11', `day` = '22', `hour` = '10') \
LOCATION 's3://lake/tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/'
    """
    return [sql for sql, _ in chunk_add_partitions(database, items, max_bytes=max_bytes)]


def render_set_location(database: str, partition: Partition, location: str) -> str:
    """``ALTER TABLE … PARTITION (…) SET LOCATION '…'`` — one atomic switch of a partition's folder."""
    return (
        f"ALTER TABLE {quote_identifier(database)}.{quote_identifier(partition.table)} "
        f"{partition_clause(partition)} SET LOCATION {quote_literal(check_location(location))}"
    )


class PartialCatalogError(CatalogError):
    """Some statements of a multi-statement registration failed.

    ``registered`` are the partitions that made it, ``statements`` the number of statements that succeeded.
    """

    def __init__(self, message: str, registered: Sequence[Partition], statements: int = 0) -> None:
        super().__init__(message)
        self.registered = list(registered)
        self.statements = statements


class Catalog(Protocol):
    """What the autoloader and the compactor need from a catalog."""

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        """Register partitions (``ADD IF NOT EXISTS`` semantics); returns the number of statements run.

        Raises :class:`CatalogError` when nothing may be assumed registered, :class:`PartialCatalogError` (with
        the partitions that were) when only some statements succeeded.
        """
        ...

    def set_partition_location(self, partition: Partition, location: str) -> None:
        """Point an existing partition at another folder, atomically."""
        ...

    def partitions(self, table: str) -> dict[Partition, str]:
        """Every registered partition of ``table`` and its location."""
        ...


# --------------------------------------------------------------------------- Athena

#: Error codes of a throttled or briefly unavailable call: retried with backoff, never fatal at once.
RETRYABLE_CODES: Final = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
#: Words in a FAILED query's reason that mean the statement itself was throttled (Glue behind Athena DDL).
_THROTTLED_REASON: Final = re.compile(r"rate exceeded|throttl|too many requests|slow down", re.IGNORECASE)


class AthenaCatalog:
    """Runs DDL in an Athena workgroup and waits for a final state, retrying throttling with backoff.

    - API calls answered with a throttling or server error (:data:`RETRYABLE_CODES`) are retried up to
      ``call_attempts`` times with exponential backoff;
    - a statement that ends ``FAILED`` because it was throttled (Athena marks it ``Retryable``, or its reason
      says so) is run again, up to ``statement_attempts`` times — ``ADD IF NOT EXISTS`` is idempotent;
    - the state is polled with backoff (0.1 s doubling to 2 s) until ``timeout_s``; ``FAILED``, ``CANCELLED``
      and the timeout raise :class:`CatalogError` with the query id and reason.

    Clients are created lazily (no AWS call before the first statement); ``sleep`` and ``clock`` are injectable
    so that tests run without waiting.

    Example
    -------
    >>> catalog = AthenaCatalog(database="loglake", workgroup="loglake")  # no AWS call yet
    >>> catalog.add_partitions([])
    0
    """

    def __init__(
        self,
        *,
        database: str,
        workgroup: str = "primary",
        output_location: str | None = None,
        client: Any = None,
        glue_client: Any = None,
        timeout_s: float = 120.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        call_attempts: int = 6,
        statement_attempts: int = 3,
        max_query_bytes: int = MAX_QUERY_BYTES,
    ) -> None:
        quote_identifier(database)
        self.database = database
        self.workgroup = workgroup
        self.output_location = output_location
        self._client = client
        self._glue = glue_client
        self.timeout_s = timeout_s
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.call_attempts = call_attempts
        self.statement_attempts = statement_attempts
        self.max_query_bytes = max_query_bytes

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("athena")
        return self._client

    @property
    def glue(self) -> Any:
        if self._glue is None:
            import boto3

            self._glue = boto3.client("glue")
        return self._glue

    def execute(self, sql: str) -> str:
        """Run one statement to completion; raises CatalogError if it fails, is cancelled or times out."""
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output_location}
        for attempt in range(1, self.statement_attempts + 1):
            qid = self._with_retries(lambda: self.client.start_query_execution(**kwargs))["QueryExecutionId"]
            status = self._wait(qid)
            state = status["State"]
            if state == "SUCCEEDED":
                return str(qid)
            reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or "no reason"
            throttled = bool(status.get("AthenaError", {}).get("Retryable")) or bool(_THROTTLED_REASON.search(reason))
            if state == "FAILED" and throttled and attempt < self.statement_attempts:
                self.sleep(min(1.0 * 2 ** (attempt - 1), 10.0))
                continue
            raise CatalogError(
                f"Athena query {qid} in workgroup {self.workgroup} {state} (attempt {attempt}): {reason[:500]}"
            )
        raise AssertionError("unreachable")

    def _wait(self, qid: str) -> dict[str, Any]:
        """Poll until the query reaches a final state; its ``Status``."""
        start, delay, waited = self.clock(), 0.1, 0.0
        while True:
            execution = self._with_retries(lambda: self.client.get_query_execution(QueryExecutionId=qid))
            status: dict[str, Any] = execution["QueryExecution"]["Status"]
            if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return status
            if max(waited, self.clock() - start) >= self.timeout_s:
                raise CatalogError(
                    f"Athena query {qid} still {status['State']} after {self.timeout_s:.0f} s; it may yet finish "
                    "(the statement is idempotent and will be retried)"
                )
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(self.call_attempts):
            try:
                return call()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in RETRYABLE_CODES or attempt == self.call_attempts - 1:
                    raise CatalogError(f"Athena call failed ({code or 'error'}): {exc}") from exc
            except BotoCoreError as exc:  # connection trouble: as transient as throttling
                if attempt == self.call_attempts - 1:
                    raise CatalogError(f"Athena call failed: {exc}") from exc
            self.sleep(min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        registered: list[Partition] = []
        chunks = chunk_add_partitions(self.database, items, max_bytes=self.max_query_bytes)
        for done, (sql, covered) in enumerate(chunks):
            try:
                self.execute(sql)
            except CatalogError as exc:
                if not registered:
                    raise
                raise PartialCatalogError(
                    f"statement {done + 1} of {len(chunks)} failed: {exc}", registered, statements=done
                ) from exc
            registered.extend(p for p, _ in covered)
        return len(chunks)

    def set_partition_location(self, partition: Partition, location: str) -> None:
        self.execute(render_set_location(self.database, partition, location))

    def partitions(self, table: str) -> dict[Partition, str]:
        """Registered partitions from Glue (the table's partition keys first, then every page of partitions)."""
        quote_identifier(table)
        described = self._with_retries(lambda: self.glue.get_table(DatabaseName=self.database, Name=table))
        keys = tuple(k["Name"] for k in described["Table"].get("PartitionKeys", []))
        out: dict[Partition, str] = {}
        for page in self.glue.get_paginator("get_partitions").paginate(DatabaseName=self.database, TableName=table):
            for p in page["Partitions"]:
                try:
                    out[Partition(table, tuple(p["Values"]), keys)] = p["StorageDescriptor"]["Location"]
                except PartitionKeyError as exc:  # registered by someone else with values we would refuse
                    logger.warning("skipping Glue partition %s of %s: %s", p["Values"], table, exc)
        return out


# --------------------------------------------------------------------------- DuckDB (embedded)


class DuckDBCatalog:
    """The embedded catalog: a DuckDB file that records partitions and serves queries over them.

    Each query connection gets one view per table that reads only the registered partitions' Parquet
    files (``<location>*.parquet``), with the partition columns typed as strings.

    Example
    -------
    >>> import tempfile
    >>> catalog = DuckDBCatalog(tempfile.mkdtemp() + "/catalog.duckdb")
    >>> p = Partition("access_logs", ("shop", "2026", "11", "22", "10"))
    >>> catalog.add_partitions([(p, "file:///lake/" + p.prefix)]), catalog.partitions("access_logs")[p][:13]
    (1, 'file:///lake/')
    """

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = Path(path)
        self._duckdb = duckdb
        self._ready = False

    def _connect(self, read_only: bool = False) -> Any:
        return self._duckdb.connect(str(self.path), read_only=read_only)

    @contextlib.contextmanager
    def _session(self) -> Iterator[Any]:
        """A connection to the catalog file (created on first use); DuckDB's errors become CatalogError."""
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self._connect() as con:
                    con.execute(
                        "CREATE TABLE IF NOT EXISTS loglake_partitions ("
                        " table_name VARCHAR NOT NULL, spec VARCHAR NOT NULL, location VARCHAR NOT NULL,"
                        " PRIMARY KEY (table_name, spec))"
                    )
                self._ready = True
            with self._connect() as con:
                yield con
        except self._duckdb.Error as exc:
            raise CatalogError(
                f"the local catalog {self.path} failed: {exc}; if the file is damaged, move it away — the next "
                "objects register their partitions again"
            ) from exc

    @staticmethod
    def _spec(partition: Partition) -> str:
        return orjson.dumps(partition.spec).decode()

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        if not items:
            return 0
        rows = [(p.table, self._spec(p), check_location(loc)) for p, loc in items]
        with self._session() as con:
            con.executemany("INSERT OR IGNORE INTO loglake_partitions VALUES (?, ?, ?)", rows)
        return 1

    def set_partition_location(self, partition: Partition, location: str) -> None:
        """Point a registered partition at ``location``; like Athena's ``SET LOCATION``, refuses unknown ones."""
        with self._session() as con:
            updated = con.execute(
                "UPDATE loglake_partitions SET location = ? WHERE table_name = ? AND spec = ? RETURNING location",
                [check_location(location), partition.table, self._spec(partition)],
            ).fetchall()
        if not updated:
            raise CatalogError(
                f"partition {partition.spec} of {partition.table} is not registered, so its location cannot be "
                "switched; register it first (add_partitions), as Athena requires too"
            )

    def partitions(self, table: str) -> dict[Partition, str]:
        with self._session() as con:
            rows = con.execute(
                "SELECT spec, location FROM loglake_partitions WHERE table_name = ? ORDER BY spec", [table]
            ).fetchall()
        out = {}
        for spec, location in rows:
            values = orjson.loads(spec)
            out[Partition(table, tuple(values.values()), tuple(values.keys()))] = location
        return out

    def tables(self) -> list[str]:
        with self._session() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT table_name FROM loglake_partitions").fetchall()]

    def query_connection(self, tables: Iterable[str] | None = None) -> Any:
        """An in-memory DuckDB connection with a view per table over its registered partitions.

        Partition columns are strings. For a Hive layout (every location spells its ``k=v`` folders) DuckDB
        reads them from the path, so filters on them prune files; otherwise (a template layout such as
        ``{account_id}/{date}/``) each file is joined with the values registered for its partition, as Athena
        takes partition values from the catalog, not from the path.
        """
        from loglake.schema import TABLE_NAME, duckdb_columns

        con = self._duckdb.connect()
        for table in tables or self.tables():
            name = quote_identifier(table).replace("`", '"')
            registered = self.partitions(table)
            files: dict[str, Partition] = {}
            for partition, location in registered.items():
                folder = unquote(urlparse(location).path)
                for f in sorted(globlib.glob(globlib.escape(folder) + "*.parquet")):
                    files[f] = partition
            if not files:
                if table == TABLE_NAME:
                    cols = ", ".join(f'NULL::{t} AS "{c}"' for c, t in duckdb_columns().items())
                    keys = ", ".join(f'NULL::VARCHAR AS "{k}"' for k in PARTITION_KEYS)
                    con.execute(f"CREATE VIEW {name} AS SELECT {cols}, {keys} WHERE false")
                continue
            con.execute(f"CREATE VIEW {name} AS {self._view_sql(con, registered, files)}")
        return con

    @staticmethod
    def _view_sql(con: Any, registered: dict[Partition, str], files: dict[str, Partition]) -> str:
        keys = next(iter(registered)).keys
        file_list = "[" + ", ".join(quote_literal(f) for f in files) + "]"
        hive = all(
            all(f"/{k}={v}/" in unquote(urlparse(loc).path) for k, v in zip(p.keys, p.values, strict=True))
            for p, loc in registered.items()
        )
        if hive:
            hive_types = "{" + ", ".join(f"{quote_literal(k)}: VARCHAR" for k in keys) + "}"
            return (
                f"SELECT * FROM read_parquet({file_list}, hive_partitioning = true, "
                f"hive_types = {hive_types}, union_by_name = true)"
            )
        source = f"read_parquet({file_list}, hive_partitioning = false, union_by_name = true)"
        stored = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        quoted = [quote_identifier(k).replace("`", '"') for k in keys]
        cols = ", ".join(f'd."{c}"' for c in stored if c not in keys and '"' not in c)
        values = ", ".join("(" + ", ".join(quote_literal(x) for x in (f, *p.values)) + ")" for f, p in files.items())
        return (
            f"SELECT {cols}, {', '.join('p.' + q for q in quoted)} "
            f"FROM read_parquet({file_list}, hive_partitioning = false, union_by_name = true, filename = true) d "
            f"JOIN (VALUES {values}) p(loglake_file, {', '.join(quoted)}) ON d.filename = p.loglake_file"
        )


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
