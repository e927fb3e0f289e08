"""The embedded pipeline end to end with the compactor: Firehose → transformer → converter → autoloader → compactor,
the counts seen through the catalog unchanged by compaction, a poison message ending in the DLQ, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from loglake import cli
from loglake.catalog import DuckDBCatalog, local_catalog_path
from loglake.local.runtime import LocalPipeline
from loglake.schema import TABLE_NAME, format_timestamp

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
HOUR_AGO_3 = NOW.replace(minute=0) - timedelta(hours=3)


def events(n: int, start: datetime, service: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "request_id": f"{service}-{start:%H}-{i}",
                "timestamp": format_timestamp(int(start.timestamp() * 1000) + i * 997),
                "service_name": service,
                "status_code": 200,
                "latency_ms": 12.5,
                "path": f"/api/items/{i}",
            }
        )
        for i in range(n)
    ]


def count(lake: Path, where: str = "") -> int:
    catalog = DuckDBCatalog(local_catalog_path(lake.as_uri()))
    return catalog.query_connection([TABLE_NAME]).execute(f"SELECT count(*) FROM {TABLE_NAME} {where}").fetchone()[0]


def emf(lake: Path, stage: str) -> list[dict]:
    lines = (lake / "_metrics" / "emf.ndjson").read_bytes().splitlines()
    return [d for d in map(orjson.loads, lines) if d.get("stage") == stage]


def test_compaction_in_the_embedded_pipeline(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with LocalPipeline(lake, buffer_bytes=8 * 1024, sampling={"default": {"rate": 1.0}}) as pipeline:
        for service in ("shop", "web"):
            records = events(300, HOUR_AGO_3, service)
            for start in range(0, len(records), 50):  # small batches: Firehose writes several objects
                pipeline.firehose.put_record_batch(
                    DeliveryStreamName=pipeline.stream_name, Records=[{"Data": r} for r in records[start : start + 50]]
                )
        pipeline.drain()
        parquet_before = sorted(p.relative_to(lake).as_posix() for p in (lake / "tables").rglob("*.parquet"))
        assert len(parquet_before) > 4 and count(lake) == 600
        result = pipeline.compact(NOW)
        assert result["PartitionsCompacted"] == 2 and result["RowsCompacted"] == 600 and result["Errors"] == 0
        assert count(lake) == 600 and count(lake, "WHERE service_name = 'web'") == 300
        again = pipeline.compact(NOW + timedelta(minutes=5))
        assert again["PartitionsCompacted"] == 0 and count(lake) == 600
        assert pipeline.dead_letters == {"converter": 0, "autoloader": 0}  # generations never reach the autoloader
    assert [d["PartitionsCompacted"] for d in emf(lake, "compactor")] == [2, 0]
    assert sum(d["InvalidKeys"] for d in emf(lake, "autoloader")) == 0


def test_a_poison_message_ends_in_the_dead_letter_queue(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with LocalPipeline(lake, max_receives=3) as pipeline:
        pipeline.storage.put("raw/2026/11/22/10/vanished.gz", b"\x1f\x8b")  # notified …
        (lake / "raw/2026/11/22/10/vanished.gz").unlink()  # … and gone before the converter reads it
        pipeline.drain()
        assert pipeline.dead_letters["converter"] == 1
    (dead,) = (lake / "_dlq" / "converter").iterdir()
    message = json.loads(dead.read_bytes())
    assert message["receiveCount"] == 3 and "vanished.gz" in message["body"]
    assert [d["FailedItems"] for d in emf(lake, "converter")] == [1, 1, 1]


def test_loglake_compact_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    with LocalPipeline(lake, buffer_bytes=4 * 1024, sampling={"default": {"rate": 1.0}}) as pipeline:
        records = events(120, HOUR_AGO_3, "shop")
        for start in range(0, len(records), 20):
            pipeline.firehose.put_record_batch(
                DeliveryStreamName=pipeline.stream_name, Records=[{"Data": r} for r in records[start : start + 20]]
            )
        pipeline.drain()
    assert cli.main(["compact", "--lake", str(lake), "--now", NOW.isoformat(), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["PartitionsCompacted"] == 1 and printed["RowsCompacted"] == 120
    assert cli.main(["compact", "--lake", str(lake)]) == 0
    assert "compacted 0 partitions" in capsys.readouterr().out
    assert cli.main(["compact", "--lake", str(tmp_path / "nowhere")]) == 2
    assert count(lake) == 120
