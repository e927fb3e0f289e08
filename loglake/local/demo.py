"""``loglake demo``: run the real pipeline on one machine and report what it stored and what it found.

Events go through ``loglake_client.KinesisLogger`` into the embedded delivery stream; the summary accounts
for every event sent: ``sent == kept + sampled_out + quarantined``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from loglake.catalog import DuckDBCatalog, local_catalog_path
from loglake.errors import CatalogError
from loglake.local.runtime import METRICS_FILE, LocalPipeline
from loglake.local.traffic import TrafficPlan, generate, replay
from loglake.schema import TABLE_NAME

#: Flush the client every this many events so that its bounded queue never overflows in the demo.
CLIENT_FLUSH_EVERY = 2000


@dataclass
class Snapshot:
    raw_objects: int
    parquet_objects: int
    partitions: int
    rows: int
    metrics_offset: int


@dataclass
class Summary:
    sent: int
    kept: int
    sampled_out: int
    quarantined: int
    raw_objects: int
    parquet_objects: int
    partitions_registered: int
    partitions_total: int
    client_dropped: int
    dead_letters: int
    partitions_compacted: int = 0
    files_compacted: int = 0
    files_after_compaction: int = 0

    @property
    def balanced(self) -> bool:
        return self.sent == self.kept + self.sampled_out + self.quarantined


def snapshot(lake: Path) -> Snapshot:
    raw = sum(1 for p in (lake / "raw").rglob("*.gz")) if (lake / "raw").exists() else 0
    tables = lake / "tables"
    # the converter's files; the compactor's generations live under hidden "_compacted" folders
    parquet = sum(1 for p in tables.rglob("*.parquet") if "_compacted" not in p.parts) if tables.exists() else 0
    partitions = rows = 0
    if local_catalog_path(lake.as_uri()).exists():
        catalog = DuckDBCatalog(local_catalog_path(lake.as_uri()))
        partitions = len(catalog.partitions(TABLE_NAME))
        con = catalog.query_connection([TABLE_NAME])
        rows = con.execute(f"SELECT count(*) FROM {TABLE_NAME}").fetchone()[0]
    metrics = lake / METRICS_FILE
    return Snapshot(raw, parquet, partitions, rows, metrics.stat().st_size if metrics.exists() else 0)


def metric_sums(lake: Path, offset: int, names: Iterable[str]) -> dict[str, int]:
    """Sum EMF metric values written since ``offset`` in the lake's metrics file."""
    sums = dict.fromkeys(names, 0)
    path = lake / METRICS_FILE
    if not path.exists():
        return sums
    with path.open("rb") as fh:
        fh.seek(offset)
        for line in fh:
            doc = orjson.loads(line)
            for name in sums:
                value = doc.get(name)
                if isinstance(value, int | float) and "_aws" in doc:
                    sums[name] += int(value)
    return sums


def run(
    lake: str | os.PathLike[str],
    *,
    source: str | None = None,
    service_name: str = "web",
    plan: TrafficPlan | None = None,
    limit: int | None = None,
) -> Summary:
    """Send demo traffic (or a replayed file) through the whole pipeline and account for every event."""
    from loglake_client import KinesisLogger

    lake_dir = Path(lake).resolve()
    before = snapshot(lake_dir)
    sent = 0
    # A replayed file is a backfill: its events go to their own hours, however old (the event-time window is off).
    window_off = {"LOGLAKE_EVENT_MAX_AGE_HOURS": "0", "LOGLAKE_EVENT_MAX_FUTURE_MINUTES": "0"} if source else None
    with LocalPipeline(lake_dir, default_service=service_name, settings_env=window_off) as pipeline:
        logger = KinesisLogger(pipeline.stream_name, client=pipeline.firehose, flush_interval=0.2)
        raw_lines: list[bytes] = []
        if source:
            items: Iterable[Any] = replay(source, service_name)
        else:
            items = generate(plan or TrafficPlan(end=datetime.now(UTC).replace(second=0, microsecond=0)))
        for item in items:
            if limit is not None and sent >= limit:
                break
            if source and item.event is None:
                raw_lines.append(item.raw)  # neither JSON nor a log line: sent as-is, like a log agent would
            else:
                event = item.event if source else item
                level = "ERROR" if str(event.get("status_code", "")).startswith("5") else "INFO"
                logger.log(level, event)
            sent += 1
            if sent % CLIENT_FLUSH_EVERY == 0:
                logger.flush(timeout=120)
        logger.close(timeout=120)
        for start in range(0, len(raw_lines), 500):
            pipeline.firehose.put_record_batch(
                DeliveryStreamName=pipeline.stream_name,
                Records=[{"Data": r} for r in raw_lines[start : start + 500]],
            )
        pipeline.drain()
        compaction = pipeline.compact()  # as the hourly schedule would now: closed hours are merged
        dropped = int(_stat(logger, "dropped")) + int(_stat(logger, "failed"))
        dead = sum(pipeline.dead_letters.values())
    after = snapshot(lake_dir)
    sums = metric_sums(lake_dir, before.metrics_offset, ("SampledOut", "RowsQuarantined", "RowsWritten"))
    return Summary(
        sent=sent,
        kept=after.rows - before.rows,
        sampled_out=sums["SampledOut"],
        quarantined=sums["RowsQuarantined"],
        raw_objects=after.raw_objects - before.raw_objects,
        parquet_objects=after.parquet_objects - before.parquet_objects,
        partitions_compacted=compaction["PartitionsCompacted"],
        files_compacted=compaction["FilesIn"],
        files_after_compaction=compaction["FilesOut"],
        partitions_registered=after.partitions - before.partitions,
        partitions_total=after.partitions,
        client_dropped=dropped,
        dead_letters=dead,
    )


def _stat(logger: Any, name: str) -> int:
    stats = logger.stats
    if isinstance(stats, dict):
        return int(stats.get(name, 0))
    return int(getattr(stats, name, 0))


# --------------------------------------------------------------------------- report

# Endpoints: numeric ids and keyed hashes (``email:…``, ``user:…``) in paths become ``{id}``.
ROUTE_SQL = r"regexp_replace(path, '/([0-9]+|(email|user):[0-9a-f]{32})(/|$)', '/{id}\3', 'g')"

REPORT_QUERIES: dict[str, str] = {
    "Requests and error rate per service per minute (10 busiest minutes; counts upscaled by 1/sample_rate)": f"""
        SELECT service_name, strftime(date_trunc('minute', timestamp), '%Y-%m-%d %H:%M') AS minute,
               CAST(round(sum(1 / sample_rate)) AS BIGINT) AS requests,
               round(100 * sum(CASE WHEN status_code >= 500 THEN 1 / sample_rate ELSE 0 END)
                     / sum(1 / sample_rate), 2) AS "5xx %",
               round(100 * sum(CASE WHEN status_code BETWEEN 400 AND 499 THEN 1 / sample_rate ELSE 0 END)
                     / sum(1 / sample_rate), 2) AS "4xx %"
        FROM {TABLE_NAME} GROUP BY 1, 2 ORDER BY requests DESC, minute LIMIT 10""",
    "p99 latency per endpoint (weighted by 1/sample_rate; top 10)": f"""
        WITH w AS (
            SELECT service_name, {ROUTE_SQL} AS endpoint, latency_ms, 1 / sample_rate AS weight
            FROM {TABLE_NAME} WHERE latency_ms IS NOT NULL),
        c AS (
            SELECT *, sum(weight) OVER (PARTITION BY service_name, endpoint ORDER BY latency_ms
                                        ROWS UNBOUNDED PRECEDING) AS cum,
                      sum(weight) OVER (PARTITION BY service_name, endpoint) AS total
            FROM w)
        SELECT service_name, endpoint, CAST(round(max(total)) AS BIGINT) AS requests,
               round(min(latency_ms) FILTER (WHERE cum >= 0.99 * total), 1) AS p99_ms
        FROM c GROUP BY 1, 2 HAVING max(total) >= 50 ORDER BY p99_ms DESC LIMIT 10""",
    "Top IPs by requests (upscaled)": f"""
        SELECT ip_address, CAST(round(sum(1 / sample_rate)) AS BIGINT) AS requests,
               count(DISTINCT strftime(date_trunc('minute', timestamp), '%H:%M')) AS active_minutes
        FROM {TABLE_NAME} GROUP BY 1 ORDER BY requests DESC LIMIT 5""",
    "Status codes (upscaled)": f"""
        SELECT status_code, CAST(round(sum(1 / sample_rate)) AS BIGINT) AS requests, count(*) AS rows_stored
        FROM {TABLE_NAME} GROUP BY 1 ORDER BY 1""",
}


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table: numbers right-aligned, text left-aligned."""
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) else str(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(x.rstrip() for x in out)


def query(lake: str | os.PathLike[str], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run SQL over the lake's catalog (only registered partitions are visible)."""
    import duckdb

    lake_dir = Path(lake).resolve()
    path = local_catalog_path(lake_dir.as_uri())
    if not path.exists():
        raise CatalogError(f"no catalog at {path}: run `loglake demo --lake {lake}` first, or pass --lake DIR")
    con = DuckDBCatalog(path).query_connection([TABLE_NAME])
    con.execute("SET TimeZone = 'UTC'")
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        raise CatalogError(f"query failed: {exc}") from None
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, cursor.fetchall() if columns else []


def report(lake: str | os.PathLike[str], summary: Summary) -> str:
    parts = []
    for title, sql in REPORT_QUERIES.items():
        columns, rows = query(lake, sql)
        parts.append(f"{title}\n{format_table(columns, rows)}")
    s = summary
    parts.append(
        f"Summary: sent {s.sent:,} events → kept {s.kept:,} rows, sampled out {s.sampled_out:,}, "
        f"quarantined {s.quarantined:,} ({'balanced' if s.balanced else 'NOT balanced'}); "
        f"{s.raw_objects} raw objects → {s.parquet_objects} Parquet files; "
        f"{s.partitions_registered} new partitions registered ({s.partitions_total} in the catalog); "
        + (
            f"compaction merged {s.files_compacted} files of {s.partitions_compacted} closed hours into "
            f"{s.files_after_compaction}."
            if s.partitions_compacted
            else "no closed hour had files to compact yet (hours are compacted an hour after they close)."
        )
    )
    return "\n\n".join(parts)


def summary_json(summary: Summary) -> str:
    return orjson.dumps(asdict(summary) | {"balanced": summary.balanced}).decode()
