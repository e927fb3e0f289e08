"""The embedded pipeline end to end: planted PII reaches neither the Parquet tables nor the quarantine."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from loglake_client import KinesisLogger

from loglake.local.runtime import METRICS_FILE, LocalPipeline

SECRETS = ("jane.doe@example.com", "4111111111111111", "hunter2pass", "AKIAIOSFODNN7EXAMPLE", "078-05-1120")


@pytest.mark.slow
def test_pii_never_reaches_the_lake_and_every_event_is_accounted(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    events = []
    for i in range(300):
        event = {
            "request_id": f"req-{i}",
            "service_name": "shop",
            "status_code": 500 if i % 3 == 0 else 200,
            "latency_ms": 12.5,
            "path": f"/api/v1/users/{SECRETS[0]}/orders/{i}",
            "query_params": f"password={SECRETS[2]}&page=2",
            "referer": f"https://shop.example/pay?card={SECRETS[1]}",
            "note": f"key {SECRETS[3]} ssn {SECRETS[4]}",
        }
        if i % 50 == 0:
            event["status_code"] = f"bad {SECRETS[0]}"  # quarantined, with the e-mail in its reason
        events.append(event)
    with LocalPipeline(lake, hash_key="e2e-key-0123456789abcdef", default_service="shop") as pipeline:
        logger = KinesisLogger(pipeline.stream_name, client=pipeline.firehose, flush_interval=0.05)
        for event in events:
            logger.info(event)
        logger.close(timeout=60)
        pipeline.drain()

    stored = b""
    parquet_rows = 0
    for path in lake.rglob("*"):
        if not path.is_file() or path.name.endswith((".duckdb", ".wal", ".key")) or "_metrics" in path.parts:
            continue
        if path.suffix == ".parquet":  # compressed columns: compare decoded values, not bytes
            rows = pq.read_table(path).to_pylist()
            parquet_rows += len(rows)
            stored += orjson.dumps(rows, default=str)
        elif path.suffix == ".gz":
            stored += gzip.decompress(path.read_bytes())
        else:
            stored += path.read_bytes()
    assert parquet_rows > 0, "the pipeline stored no rows"
    for secret in SECRETS:
        assert secret.encode() not in stored, secret

    docs = [orjson.loads(line) for line in (lake / METRICS_FILE).read_bytes().splitlines()]
    sums = {
        k: sum(d.get(k, 0) for d in docs if "_aws" in d and "route" not in d and "service_name" in d and k in d)
        for k in ("Kept", "SampledOut", "Quarantined")
    }
    assert sums["Quarantined"] == 6 and sum(sums.values()) == len(events)
    quarantined = list((lake / "quarantine").rglob("*.ndjson"))
    entries = [orjson.loads(x) for q in quarantined for x in q.read_bytes().splitlines()]
    assert len(entries) == 6 and all("is not an integer" in e["reason"] for e in entries)
