"""Scan benchmark: the bytes Athena would scan for the standard analyses, Parquet lake vs raw gzip NDJSON.

A lake of ``BENCH_SCAN_DAYS`` (default 30) days × 4 services is generated (``BENCH_SCAN_ROWS`` rows per service
and hour, default 250), with realistic values: random request and trace ids, keyed user hashes, a pool of
client IPs and user agents, id-bearing paths, a status mix and long-tailed latencies. Each (service, hour) is
one Parquet file as the compactor leaves it (:func:`loglake.parquet.table_to_parquet`); the same rows are also
written as the transformer's gzip NDJSON, one object per arrival hour (all services mixed, as Firehose
delivers them).

For each query, the Parquet bytes are the compressed sizes of the column chunks it reads, summed from the
footers of the files in the partitions Athena keeps after pruning. The raw side is what the same query scans
over gzip NDJSON: the whole of ``raw/`` for a table without partitions, or the day's (hour's) objects with
partition projection on Firehose's ``YYYY/MM/DD/HH`` arrival prefix — the best a raw table can do. Dollars use
Athena's documented price of $5 per TB scanned, with its 10 MB minimum per query.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from bench.common import ROOT, write_results
from loglake.parquet import records_to_table, table_to_parquet
from loglake.schema import to_json_line

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_793_491_200_000  # 2026-11-01T00:00:00Z
SERVICES = ("checkout", "catalog", "auth", "search")
PRICE_PER_TB = 5.0  # USD per TB scanned (Athena, SQL queries)
MIN_BILLED = 10 * 1_000_000  # Athena bills at least 10 MB per query
TB = 1_000_000_000_000
#: The volume the dollar projection assumes: requests per second per service (bytes scale with rows).
PROJECTED_RPS = 500

PATHS = {
    "checkout": ["/api/v1/cart", "/api/v1/cart/{n}", "/api/v1/orders", "/api/v1/orders/{n}", "/api/v1/payments"],
    "catalog": ["/api/v1/products", "/api/v1/products/{n}", "/api/v1/categories/{n}", "/api/v1/search"],
    "auth": ["/api/v1/login", "/api/v1/logout", "/api/v1/token/refresh", "/api/v1/users/{n}/profile"],
    "search": ["/api/v2/search", "/api/v2/suggest", "/api/v2/search/{n}/results"],
}
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
)


def rows_for(service: str, hour_ms: int, n: int, rng: random.Random, ips: list[str]) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        status = rng.choices(
            (200, 201, 204, 301, 304, 400, 401, 404, 429, 500, 503), (60, 5, 5, 3, 5, 4, 2, 8, 1, 2, 1)
        )[0]
        path = rng.choice(PATHS[service]).replace("{n}", str(rng.randrange(1, 100_000)))
        rec: dict[str, Any] = {
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "timestamp": hour_ms + (i * HOUR) // n + rng.randrange(HOUR // n),
            "service_name": service,
            "method": rng.choices(("GET", "POST", "PUT", "DELETE"), (80, 12, 5, 3))[0],
            "path": path,
            "status_code": status,
            "latency_ms": round(rng.lognormvariate(3.5, 0.8), 3),
            "bytes_sent": rng.randrange(200, 60_000),
            "user_id": "user:" + hashlib.md5(str(rng.randrange(20_000)).encode()).hexdigest(),
            "ip_address": rng.choice(ips),
            "user_agent": rng.choice(AGENTS),
            "trace_id": f"1-{hour_ms // 1000:08x}-{rng.getrandbits(96):024x}",
            "level": "ERROR" if status >= 500 else "INFO",
            "sample_rate": 1.0 if status >= 400 else 0.1,
        }
        if rng.random() < 0.3:
            rec["query_params"] = f"page={rng.randrange(1, 50)}&sort=price"
        if rng.random() < 0.2:
            rec["referer"] = "https://shop.example.com" + rng.choice(PATHS[service]).replace("{n}", "1")
        out.append(rec)
    return out


@dataclass
class Lake:
    """Per (service, hour) Parquet footers' column sizes; per arrival hour raw gzip bytes."""

    columns: dict[tuple[str, int], dict[str, int]]
    raw: dict[int, int]
    parquet_bytes: int
    rows: int


def generate(days: int, rows_per_hour: int, seed: int = 7) -> Lake:
    rng = random.Random(seed)
    ips = [
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(3000)
    ]
    columns: dict[tuple[str, int], dict[str, int]] = {}
    raw: dict[int, int] = {}
    parquet_bytes = rows = 0
    for h in range(days * 24):
        hour_ms = START + h * HOUR
        ndjson = io.BytesIO()
        for service in SERVICES:
            records = rows_for(service, hour_ms, rows_per_hour, rng, ips)
            data = table_to_parquet(records_to_table(records))
            parquet_bytes += len(data)
            rows += len(records)
            meta = pq.ParquetFile(io.BytesIO(data)).metadata
            sizes: dict[str, int] = defaultdict(int)
            for g in range(meta.num_row_groups):
                for c in range(meta.num_columns):
                    chunk = meta.row_group(g).column(c)
                    sizes[chunk.path_in_schema] += chunk.total_compressed_size
            columns[(service, hour_ms)] = dict(sizes)
            for r in records:
                ndjson.write(to_json_line(r))
        raw[hour_ms] = len(gzip.compress(ndjson.getvalue(), compresslevel=6))
    return Lake(columns, raw, parquet_bytes, rows)


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    columns: tuple[str, ...]
    services: tuple[str, ...]
    hours: tuple[int, ...]  # event hours (partition pruning); the raw side reads the same arrival hours


def queries(day_ms: int) -> list[Query]:
    day_hours = tuple(day_ms + h * HOUR for h in range(24))
    return [
        Query(
            "error rate per minute, one service, one day",
            "SELECT date_trunc('minute', timestamp), sum(CASE WHEN status_code >= 500 THEN 1/sample_rate END) / "
            "sum(1/sample_rate) FROM access_logs WHERE service_name = 'checkout' AND year = '2026' AND month = '11' "
            "AND day = '15' GROUP BY 1",
            ("timestamp", "status_code", "sample_rate"),
            ("checkout",),
            day_hours,
        ),
        Query(
            "p99 latency per endpoint, one day",
            "SELECT service_name, path, approx_percentile(latency_ms, 0.99) FROM access_logs "
            "WHERE year = '2026' AND month = '11' AND day = '15' GROUP BY 1, 2",
            ("path", "latency_ms"),
            SERVICES,
            day_hours,
        ),
        Query(
            "top IPs, one hour",
            "SELECT ip_address, sum(1/sample_rate) AS n FROM access_logs WHERE year = '2026' AND month = '11' "
            "AND day = '15' AND hour = '14' GROUP BY 1 ORDER BY n DESC LIMIT 20",
            ("ip_address", "sample_rate"),
            SERVICES,
            (day_ms + 14 * HOUR,),
        ),
    ]


def dollars(scanned: int) -> float:
    return max(scanned, MIN_BILLED) / TB * PRICE_PER_TB


def main() -> int:
    days = int(os.environ.get("BENCH_SCAN_DAYS", "30"))
    per_hour = int(os.environ.get("BENCH_SCAN_ROWS", "1000"))
    lake = generate(days, per_hour)
    raw_total = sum(lake.raw.values())
    print(
        f"lake: {days} days x {len(SERVICES)} services, {lake.rows:,} rows; Parquet {lake.parquet_bytes / 1e6:.1f} MB "
        f"in {len(lake.columns)} files; raw gzip NDJSON {raw_total / 1e6:.1f} MB in {len(lake.raw)} objects"
    )
    day_ms = START + min(14, days - 1) * DAY  # 2026-11-15 in the default 30 days
    results = []
    header = (
        f"{'query':46s} {'Parquet bytes':>14s} {'raw, day-pruned':>16s} {'less':>9s} {'raw, all':>14s} {'less':>9s}"
    )
    print(header)
    for q in queries(day_ms):
        parquet = sum(
            lake.columns[(s, h)].get(c, 0)
            for s in q.services
            for h in q.hours
            for c in q.columns
            if (s, h) in lake.columns
        )
        raw_pruned = sum(lake.raw[h] for h in q.hours)
        row = {
            "query": q.name,
            "sql": q.sql,
            "columns": q.columns,
            "parquet_bytes": parquet,
            "raw_pruned_bytes": raw_pruned,
            "raw_all_bytes": raw_total,
            "reduction_vs_pruned": 1 - parquet / raw_pruned,
            "reduction_vs_all": 1 - parquet / raw_total,
            "usd_parquet": dollars(parquet),
            "usd_raw_pruned": dollars(raw_pruned),
            "usd_raw_all": dollars(raw_total),
        }
        results.append(row)
        print(
            f"{q.name:46s} {parquet:14,d} {raw_pruned:16,d} {row['reduction_vs_pruned']:9.3%} "
            f"{raw_total:14,d} {row['reduction_vs_all']:9.4%}"
        )
    scale = PROJECTED_RPS * 3600 / per_hour
    print()
    print(
        f"Athena at ${PRICE_PER_TB:.0f}/TB, 10 MB minimum per query, USD per query — at this lake's volume, and "
        f"projected to {PROJECTED_RPS} requests/s per service (bytes x {scale:,.0f}):"
    )
    for row in results:
        projected = {k: dollars(int(row[k] * scale)) for k in ("parquet_bytes", "raw_pruned_bytes", "raw_all_bytes")}
        row["usd_projected"] = projected
        print(
            f"  {row['query']:46s} here: Parquet ${row['usd_parquet']:.6f}, raw ${row['usd_raw_pruned']:.6f} "
            f"(day-pruned) / ${row['usd_raw_all']:.6f} (all);  projected: Parquet "
            f"${projected['parquet_bytes']:.4f}, raw ${projected['raw_pruned_bytes']:.4f} / "
            f"${projected['raw_all_bytes']:.2f}"
        )
    one_service_day = results[0]
    met = one_service_day["reduction_vs_all"] >= 0.999
    print()
    print(
        f"one service, one day: {one_service_day['reduction_vs_all']:.3%} less than the raw NDJSON table "
        f"(target >= 99.9%: {'met' if met else 'NOT met'}); {one_service_day['reduction_vs_pruned']:.2%} less "
        "even against raw objects pruned to the day"
    )
    path = write_results(
        "scan",
        {
            "lake": {
                "days": days,
                "services": list(SERVICES),
                "rows_per_service_hour": per_hour,
                "rows": lake.rows,
                "parquet_bytes": lake.parquet_bytes,
                "raw_gzip_bytes": raw_total,
            },
            "price_usd_per_tb": PRICE_PER_TB,
            "projected_requests_per_s_per_service": PROJECTED_RPS,
            "min_billed_bytes": MIN_BILLED,
            "queries": results,
            "target_met": met,
        },
    )
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
