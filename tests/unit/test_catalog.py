"""DDL rendering with safe quoting, chunking under Athena's limit, and the DuckDB catalog's views."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loglake.catalog as catalog_module
from loglake.catalog import (
    MAX_QUERY_BYTES,
    DuckDBCatalog,
    check_location,
    chunk_add_partitions,
    local_catalog_path,
    open_catalog,
    quote_identifier,
    quote_literal,
    render_add_partitions,
    render_set_location,
)
from loglake.errors import CatalogError, PartitionKeyError
from loglake.layout import TableLayout
from loglake.partitions import VALUE_RE, Partition
from loglake.settings import Settings


def part(service: str = "shop", hour: str = "10") -> Partition:
    return Partition("access_logs", (service, "2026", "11", "22", hour))


def loc(p: Partition, root: str = "s3://lake/") -> str:
    return root + p.prefix


def test_render_add_partitions_exact_sql() -> None:
    a, b = part("api", "09"), part("shop", "10")
    assert render_add_partitions("loglake", [(a, loc(a)), (b, loc(b))]) == [
        "ALTER TABLE `loglake`.`access_logs` ADD IF NOT EXISTS\n"
        "  PARTITION (`service_name` = 'api', `year` = '2026', `month` = '11', `day` = '22', `hour` = '09') "
        "LOCATION 's3://lake/tables/access_logs/service_name=api/year=2026/month=11/day=22/hour=09/'\n"
        "  PARTITION (`service_name` = 'shop', `year` = '2026', `month` = '11', `day` = '22', `hour` = '10') "
        "LOCATION 's3://lake/tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/'"
    ]
    assert render_add_partitions("loglake", []) == []


def test_render_set_location_exact_sql() -> None:
    p = part()
    assert render_set_location("loglake", p, "s3://lake/compacted/x/") == (
        "ALTER TABLE `loglake`.`access_logs` PARTITION (`service_name` = 'shop', `year` = '2026', "
        "`month` = '11', `day` = '22', `hour` = '10') SET LOCATION 's3://lake/compacted/x/'"
    )


@pytest.mark.parametrize(
    "name", ["access-logs", "a`b", "a b", "1abc", "", "x;drop", "ta\u00efble", "a" * 256, "a/*", "a--"]
)
def test_quote_identifier_refuses_anything_but_plain_names(name: str) -> None:
    with pytest.raises(CatalogError, match="not a valid identifier"):
        quote_identifier(name)


@pytest.mark.parametrize(
    "location",
    [
        "s3://lake/it's/",
        "s3://lake/a\\b/",
        "s3://lake/a\nb/",
        "s3://lake/no-slash",
        "http://lake/x/",
        "s3:///",
        "s3://lake/x'; DROP TABLE t; --/",
    ],
)
def test_check_location_refuses_quotes_backslashes_and_non_folders(location: str) -> None:
    with pytest.raises(CatalogError, match="must be an s3:// or file:// folder"):
        check_location(location)


def test_render_refuses_bad_database_mixed_tables_and_forged_partitions() -> None:
    p = part()
    with pytest.raises(CatalogError, match="not a valid identifier"):
        render_add_partitions("db`; DROP", [(p, loc(p))])
    other = Partition("other", ("shop", "2026", "11", "22", "10"))
    with pytest.raises(CatalogError, match="one statement covers one table"):
        render_add_partitions("loglake", [(p, loc(p)), (other, loc(other))])
    forged = object.__new__(Partition)  # bypasses __post_init__, as a bug elsewhere might
    object.__setattr__(forged, "table", "access_logs")
    object.__setattr__(forged, "values", ("x'; DROP TABLE t; --", "2026", "11", "22", "10"))
    object.__setattr__(forged, "keys", p.keys)
    with pytest.raises(PartitionKeyError, match="not allowed"):
        render_add_partitions("loglake", [(forged, "s3://lake/x/")])


def test_quote_literal_doubles_quotes() -> None:
    assert quote_literal("a'b''c") == "'a''b''''c'"


def test_chunking_splits_under_the_limit_and_keeps_every_partition_once() -> None:
    items = [(part(f"svc{i:04d}"), loc(part(f"svc{i:04d}"))) for i in range(3000)]
    chunks = chunk_add_partitions("loglake", items)
    assert len(chunks) > 1
    assert all(len(sql.encode()) <= MAX_QUERY_BYTES for sql, _ in chunks)
    assert [x for _, covered in chunks for x in covered] == items
    assert render_add_partitions("loglake", items) == [sql for sql, _ in chunks]
    with pytest.raises(CatalogError, match="alone exceeds"):
        render_add_partitions("loglake", items[:1], max_bytes=100)


@settings(max_examples=100, deadline=None)
@given(
    services=st.lists(st.from_regex(VALUE_RE, fullmatch=True), min_size=1, max_size=40, unique=True),
    max_bytes=st.integers(400, 5000),
)
def test_chunks_cover_items_in_order_and_respect_any_limit(services: list[str], max_bytes: int) -> None:
    items = [(part(s), loc(part(s))) for s in services]
    chunks = chunk_add_partitions("loglake", items, max_bytes=max_bytes)
    assert [x for _, covered in chunks for x in covered] == items
    for sql, covered in chunks:
        assert len(sql.encode()) <= max_bytes
        assert sql.count("PARTITION (") == len(covered)
        # every quote in the statement delimits a literal: values and locations hold none of their own
        assert re.fullmatch(r"(?:[^']*'[^']*')*[^']*", sql)


# --------------------------------------------------------------------------- DuckDB


def write_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_duckdb_catalog_registers_idempotently_and_switches_location(tmp_path: Path) -> None:
    catalog = DuckDBCatalog(tmp_path / "c.duckdb")
    a, b = part("api"), part("shop")
    items = [(a, loc(a, tmp_path.as_uri() + "/")), (b, loc(b, tmp_path.as_uri() + "/"))]
    assert catalog.add_partitions(items) == 1
    assert catalog.add_partitions(items) == 1
    assert catalog.add_partitions([]) == 0
    assert catalog.partitions("access_logs") == dict(items)
    catalog.set_partition_location(a, tmp_path.as_uri() + "/compacted/")
    assert catalog.partitions("access_logs")[a] == tmp_path.as_uri() + "/compacted/"
    assert catalog.tables() == ["access_logs"]
    with pytest.raises(CatalogError):
        catalog.add_partitions([(a, "file:///no-trailing-slash")])
    with pytest.raises(CatalogError, match="not registered"):
        catalog.set_partition_location(part("never"), tmp_path.as_uri() + "/x/")
    assert part("never") not in catalog.partitions("access_logs")


def test_duckdb_view_reads_only_registered_hive_partitions(tmp_path: Path) -> None:
    root = tmp_path.as_uri() + "/"
    a, b = part("api"), part("shop")
    write_parquet(tmp_path / a.prefix / "f.parquet", [{"status_code": 200}, {"status_code": 500}])
    write_parquet(tmp_path / b.prefix / "f.parquet", [{"status_code": 404}])
    catalog = DuckDBCatalog(tmp_path / "c.duckdb")
    catalog.add_partitions([(a, loc(a, root))])
    con = catalog.query_connection(["access_logs"])
    assert con.execute("SELECT service_name, hour, count(*) FROM access_logs GROUP BY ALL").fetchall() == [
        ("api", "10", 2)
    ]
    catalog.add_partitions([(b, loc(b, root))])
    con = catalog.query_connection()
    assert con.execute("SELECT count(*) FROM access_logs WHERE service_name = 'shop'").fetchone() == (1,)


def test_duckdb_view_of_a_template_table_takes_values_from_the_catalog(tmp_path: Path) -> None:
    layout = TableLayout.from_config(
        "audit_log",
        {"layout": "{account_id}/{date}/", "columns": {"date": {"type": "date", "format": "yyyy-MM-dd"}}},
    )
    catalog = DuckDBCatalog(tmp_path / "c.duckdb")
    for account, day, n in (("111", "2026-11-21", 2), ("222", "2026-11-22", 3)):
        p = layout.partition({"account_id": account, "date": day})
        # the file also holds a column named like a partition column: the catalog's value wins, as in Athena
        write_parquet(tmp_path / layout.prefix(p) / "e.parquet", [{"event": i, "account_id": "x"} for i in range(n)])
        catalog.add_partitions([(p, tmp_path.as_uri() + "/" + layout.prefix(p))])
    unregistered = layout.partition({"account_id": "333", "date": "2026-11-22"})
    write_parquet(tmp_path / layout.prefix(unregistered) / "e.parquet", [{"event": 9, "account_id": "333"}])
    con = catalog.query_connection(["audit_log"])
    rows = con.execute("SELECT account_id, date, count(*) FROM audit_log GROUP BY ALL ORDER BY 1").fetchall()
    assert rows == [("111", "2026-11-21", 2), ("222", "2026-11-22", 3)]
    assert [c[0] for c in con.execute("DESCRIBE audit_log").fetchall()] == ["event", "account_id", "date"]


def test_empty_access_log_view_has_the_schema(tmp_path: Path) -> None:
    con = DuckDBCatalog(tmp_path / "c.duckdb").query_connection(["access_logs"])
    assert con.execute("SELECT count(*) FROM access_logs").fetchone() == (0,)
    assert "hour" in [c[0] for c in con.execute("DESCRIBE access_logs").fetchall()]


def test_open_catalog_picks_the_world_from_settings(tmp_path: Path) -> None:
    lake = tmp_path.as_uri()
    assert isinstance(open_catalog(Settings(lake)), DuckDBCatalog)
    assert local_catalog_path(lake) == tmp_path / "_catalog" / "catalog.duckdb"
    athena = open_catalog(Settings("s3://lake", database="logs", athena_workgroup="wg"))
    assert (athena.database, athena.workgroup) == ("logs", "wg")  # type: ignore[attr-defined]
    assert athena._client is None  # type: ignore[attr-defined]  # no AWS client before the first statement
    with pytest.raises(CatalogError, match="not 'athena'"):
        open_catalog(Settings("s3://lake", catalog="glue"))


def test_docstring_examples() -> None:
    assert doctest.testmod(catalog_module).failed == 0


def test_a_damaged_catalog_file_is_a_catalog_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    path.write_bytes(b"not a database")
    catalog = DuckDBCatalog(path)  # opening is lazy: a cold start does not crash
    p = part()
    with pytest.raises(CatalogError, match="move it away"):
        catalog.add_partitions([(p, loc(p))])
