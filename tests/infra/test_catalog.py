"""The Glue table is the schema; the workgroup enforces limits; the named queries count right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from infra_helpers import logical_id_of

from loglake.schema import PARTITION_KEYS, TABLE_NAME, duckdb_columns, glue_columns, glue_partition_keys
from stacks.constructs.named_queries import STANDARD_QUERIES


def test_glue_columns_are_generated_from_the_schema(synth: Any) -> None:
    table = synth.one("AWS::Glue::Table")["Properties"]["TableInput"]
    assert table["Name"] == TABLE_NAME
    assert table["StorageDescriptor"]["Columns"] == glue_columns()
    assert table["PartitionKeys"] == glue_partition_keys()
    assert [k["Name"] for k in table["PartitionKeys"]] == list(PARTITION_KEYS)
    assert "service_name" not in [c["Name"] for c in table["StorageDescriptor"]["Columns"]]


def test_table_reads_parquet_under_tables_access_logs(synth: Any) -> None:
    props = synth.one("AWS::Glue::Table")["Properties"]
    table = props["TableInput"]
    assert props["DatabaseName"] == synth.config.database
    assert table["TableType"] == "EXTERNAL_TABLE"
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    parts = sd["Location"]["Fn::Join"][1]
    assert parts[0] == "s3://" and parts[-1] == f"/tables/{TABLE_NAME}/"
    lake = next(k for k, b in synth.resources("AWS::S3::Bucket").items() if "BucketName" in b["Properties"])
    assert logical_id_of(parts[1]) == lake
    database = synth.one("AWS::Glue::Database")["Properties"]["DatabaseInput"]
    assert database["Name"] == synth.config.database


def test_workgroup_enforces_encrypted_results_and_a_scan_cutoff(synth: Any) -> None:
    wg = synth.one("AWS::Athena::WorkGroup")["Properties"]
    assert wg["Name"] == synth.config.workgroup
    conf = wg["WorkGroupConfiguration"]
    assert conf["EnforceWorkGroupConfiguration"] is True
    assert conf["BytesScannedCutoffPerQuery"] == round(synth.config.athena.bytes_scanned_cutoff_gb * 1024**3)
    assert conf["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    results = conf["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert "Fn::GetAtt" in results["EncryptionConfiguration"]["KmsKey"]
    results_bucket = next(k for k, b in synth.resources("AWS::S3::Bucket").items() if "athena-results/" in str(b))
    assert logical_id_of(results["OutputLocation"]["Fn::Join"][1][1]) == results_bucket


def test_the_standard_analyses_are_saved_in_the_workgroup(synth: Any) -> None:
    queries = synth.resources("AWS::Athena::NamedQuery")
    names = sorted(q["Properties"]["Name"] for q in queries.values())
    assert names == sorted(f"{synth.config.name}: {q.name}" for q in STANDARD_QUERIES)
    assert len(names) == 5
    for query in queries.values():
        props = query["Properties"]
        assert props["Database"] == synth.config.database
        assert props["WorkGroup"] == synth.config.workgroup
        sql = props["QueryString"]
        assert f'FROM "{synth.config.database}"."{TABLE_NAME}"' in sql
        assert "1.0 / COALESCE(NULLIF(sample_rate, 0), 1.0) AS weight" in sql
        # Only partition keys in the window predicate, so Athena prunes partitions.
        assert "concat(year, '-', month, '-', day, 'T', hour)" in sql


# --------------------------------------------------------------------------- the SQL, run


@pytest.fixture(scope="module")
def lake() -> duckdb.DuckDBPyConnection:
    """A DuckDB stand-in for Athena: the schema's columns, a few Trino functions, and known rows.

    DuckDB has no ``date_format`` or weighted ``approx_percentile``: the two macros map them onto DuckDB
    (the percentile shim ignores the weight); everything else runs as written for Athena.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE MACRO date_format(ts, fmt) AS strftime(ts, fmt)")
    con.execute("CREATE MACRO approx_percentile(x, w, p) AS quantile_cont(x, p)")
    con.execute("CREATE SCHEMA loglake")
    columns = {**duckdb_columns(), **{k: "VARCHAR" for k in PARTITION_KEYS}}
    ddl = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
    con.execute(f"CREATE TABLE loglake.{TABLE_NAME} ({ddl})")
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)

    def add(when: datetime, service: str, status: int, latency: float, rate: float, ip: str, path: str) -> None:
        part = {"service_name": service, "year": f"{when:%Y}", "month": f"{when:%m}", "day": f"{when:%d}"}
        part["hour"] = f"{when:%H}"
        row = {
            "timestamp": when,
            "method": "GET",
            "path": path,
            "status_code": status,
            "latency_ms": latency,
            "ip_address": ip,
            "request_id": f"r{con.execute('SELECT count(*) FROM loglake.access_logs').fetchone()[0]}",  # type: ignore[index]
            "sample_rate": rate,
            **part,
        }
        names = ", ".join(f'"{k}"' for k in row)
        con.execute(
            f"INSERT INTO loglake.{TABLE_NAME} ({names}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )

    # shop, this minute: 4 kept rows at rate 0.5 stand for 8 requests, 2 of them 5xx.
    add(now, "shop", 200, 40, 0.5, "10.0.0.1", "/cart")
    add(now, "shop", 200, 60, 0.5, "10.0.0.1", "/cart")
    add(now, "shop", 503, 2500, 0.5, "10.0.0.2", "/pay")
    add(now, "shop", 404, 20, 0.5, "10.0.0.1", "/nope")
    # search: 60 kept rows at rate 0.1 stand for 600 requests on one path.
    for i in range(60):
        add(now, "search", 200, 10 + i, 0.1, "10.0.1.1", "/q")
    # Three days ago: outside every query's 24 h window.
    add(now - timedelta(days=3), "shop", 500, 9000, 1.0, "10.9.9.9", "/old")
    return con


def _run(con: duckdb.DuckDBPyConnection, key: str, slow_ms: float = 1000) -> list[dict[str, Any]]:
    (query,) = [q for q in STANDARD_QUERIES if q.key == key]
    return con.sql(query.render(database="loglake", slow_ms=slow_ms)).to_arrow_table().to_pylist()


def test_error_rate_is_upscaled_by_sample_rate(lake: duckdb.DuckDBPyConnection) -> None:
    rows = {r["service_name"]: r for r in _run(lake, "ErrorRate")}
    assert rows["shop"]["requests"] == 8 and rows["shop"]["errors_5xx"] == 2
    assert rows["shop"]["error_rate_percent"] == 25.0
    assert rows["search"]["requests"] == 600 and rows["search"]["error_rate_percent"] == 0


def test_status_mix_is_upscaled_and_sums_to_100(lake: duckdb.DuckDBPyConnection) -> None:
    rows = [r for r in _run(lake, "StatusMix") if r["service_name"] == "shop"]
    assert {r["status_class"]: (r["requests"], r["percent"]) for r in rows} == {
        "2xx": (4, 50.0),
        "4xx": (2, 25.0),
        "5xx": (2, 25.0),
    }


def test_top_ips_count_upscaled_requests(lake: duckdb.DuckDBPyConnection) -> None:
    rows = _run(lake, "TopIps")
    assert (rows[0]["service_name"], rows[0]["ip_address"], rows[0]["requests"]) == (
        "search",
        "10.0.1.1",
        600,
    )
    shop = {r["ip_address"]: r for r in rows if r["service_name"] == "shop"}
    assert shop["10.0.0.1"]["requests"] == 6 and round(shop["10.0.0.1"]["error_percent"], 2) == 33.33
    assert "10.9.9.9" not in {r["ip_address"] for r in rows}


def test_p99_per_endpoint_needs_enough_requests(lake: duckdb.DuckDBPyConnection) -> None:
    rows = _run(lake, "P99Latency")
    assert [(r["service_name"], r["path"], r["requests"]) for r in rows] == [("search", "/q", 600)]
    assert 60 < rows[0]["p99_ms"] <= 69


def test_slow_requests_use_the_threshold_and_the_window(lake: duckdb.DuckDBPyConnection) -> None:
    rows = _run(lake, "SlowRequests", slow_ms=1000)
    assert [(r["path"], r["latency_ms"], r["stands_for_requests"]) for r in rows] == [("/pay", 2500, 2.0)]
