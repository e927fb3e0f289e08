"""The autoloader in the embedded runtime: the same handler, S3→SQS-shaped events, DuckDB as the catalog."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loglake.catalog import DuckDBCatalog, local_catalog_path
from loglake.local.runtime import METRICS_FILE, LocalPipeline
from loglake.partitions import Partition


def parquet(rows: list[dict]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out.getvalue()


def autoloader_metrics(lake: Path) -> dict[str, int]:
    sums: dict[str, int] = {}
    for line in (lake / METRICS_FILE).read_text().splitlines():
        doc = json.loads(line)
        if doc.get("stage") == "autoloader":
            for name in ("PartitionsAdded", "InvalidKeys", "IgnoredKeys", "CatalogStatements", "FailedItems"):
                sums[name] = sums.get(name, 0) + doc[name]
    return sums


def test_pipeline_registers_hive_and_template_partitions_and_refuses_hostile_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LOGLAKE_TABLES",
        json.dumps(
            {
                "audit_log": {
                    "layout": "{account_id}/{date}/",
                    "columns": {"date": {"type": "date", "format": "yyyy-MM-dd"}},
                }
            }
        ),
    )
    lake = tmp_path / "lake"
    with LocalPipeline(lake) as pipeline:
        put = pipeline.storage.put
        access = "tables/access_logs/service_name={}/year=2026/month=11/day=22/hour=10/part-{}.parquet"
        for n in range(12):  # 12 objects over 2 partitions: 2 SQS batches of 10 and 2
            put(access.format("shop" if n % 2 else "web", n), parquet([{"status_code": 200 + n}]))
        put("tables/audit_log/111122223333/2026-11-22/events.parquet", parquet([{"event": "login"}]))
        put("tables/audit_log/111122223333/2026-11-22/events-2.parquet", parquet([{"event": "logout"}]))
        put(access.format("evil'--", 0), parquet([{"status_code": 1}]))  # hostile value
        put("tables/audit_log/111122223333/22-11-2026/e.parquet", parquet([{"event": "x"}]))  # wrong date format
        put(access.format("shop", "x").replace("part-x.parquet", "_SUCCESS"), b"")
        pipeline.drain()
        assert pipeline.dead_letters["autoloader"] == 0

    catalog = DuckDBCatalog(local_catalog_path(lake.as_uri()))
    assert sorted(p.values[0] for p in catalog.partitions("access_logs")) == ["shop", "web"]
    audit = catalog.partitions("audit_log")
    assert audit == {
        Partition("audit_log", ("111122223333", "2026-11-22"), ("account_id", "date")): (
            f"{lake.as_uri()}/tables/audit_log/111122223333/2026-11-22/"
        )
    }
    con = catalog.query_connection()
    assert con.execute("SELECT count(*), sum(status_code) FROM access_logs").fetchone() == (12, 12 * 200 + 66)
    assert con.execute("SELECT account_id, date, count(*) FROM audit_log GROUP BY ALL").fetchall() == [
        ("111122223333", "2026-11-22", 2)
    ]
    sums = autoloader_metrics(lake)
    assert sums["PartitionsAdded"] == 3 and sums["InvalidKeys"] == 2 and sums["IgnoredKeys"] == 1
    # one statement per table per batch with new partitions: batch 1 (access_logs), then audit_log
    assert sums["CatalogStatements"] == 2 and sums["FailedItems"] == 0


def test_catalog_failures_are_retried_by_the_queue_and_dead_lettered_at_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    key = "tables/access_logs/service_name=web/year=2026/month=11/day=22/hour=10/p.parquet"
    with LocalPipeline(lake, max_receives=3) as pipeline:
        catalog_file = local_catalog_path(lake.as_uri())
        catalog_file.parent.mkdir(parents=True, exist_ok=True)
        catalog_file.write_bytes(b"this is not a DuckDB database")  # every registration fails
        pipeline.storage.put(key, parquet([{"status_code": 200}]))
        pipeline.drain()
        assert pipeline.dead_letters["autoloader"] == 1
    [dead] = (lake / "_dlq" / "autoloader").iterdir()
    letter = orjson.loads(dead.read_bytes())
    assert letter["receiveCount"] == 3 and "service_name%3Dweb" in letter["body"]
