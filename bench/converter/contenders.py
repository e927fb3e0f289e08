"""The three converters compared by ``bench.converter``; each runs in its own process (``python -m
bench.converter.contenders NAME INPUT OUTDIR``) so that its peak memory is its own, and prints one JSON line.

All three do the same work: read the gzip NDJSON with the record schema's types, split rows by service and
event hour, sort by time, write ZSTD Parquet under ``service_name=…/year=…/month=…/day=…/hour=…/``.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _output(outdir: Path) -> tuple[int, int]:
    files = [p for p in outdir.rglob("*.parquet") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def loglake(src: Path, outdir: Path) -> None:
    """This converter, on a local lake directory."""
    from loglake.convert import convert_object, use_system_allocator
    from loglake.storage import LocalStorage

    use_system_allocator()  # as the converter's Lambda handler does at cold start
    lake = LocalStorage(outdir)
    key = "raw/bench/input.ndjson.gz"  # no Firehose date in the key: the event-time window is not applied
    (outdir / "raw" / "bench").mkdir(parents=True, exist_ok=True)
    os.link(src, outdir / key)
    result = convert_object(lake, key)
    assert result.rows_quarantined == 0, result


def awswrangler(src: Path, outdir: Path) -> tuple[int, int]:
    """pandas → ``wr.s3.to_parquet``. awswrangler writes only to ``s3://`` paths, so it writes to an in-process
    moto S3 (an in-memory bucket: a few milliseconds per object, no network)."""
    import awswrangler as wr
    import boto3
    import pandas as pd
    from moto import mock_aws

    from loglake.schema import FIELDS, INT32, INT64, STRING, TIMESTAMP

    dtypes = {f.name: {STRING: "string", INT32: "Int32", INT64: "Int64"}.get(f.type, "float64") for f in FIELDS}
    dtypes = {k: v for k, v in dtypes.items() if FIELDS[[f.name for f in FIELDS].index(k)].type != TIMESTAMP}
    df = pd.read_json(src, lines=True, compression="gzip", dtype=dtypes, convert_dates=["timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[ms, UTC]")
    ts = df["timestamp"]
    df["year"], df["month"] = ts.dt.strftime("%Y"), ts.dt.strftime("%m")
    df["day"], df["hour"] = ts.dt.strftime("%d"), ts.dt.strftime("%H")
    df = df.sort_values("timestamp", kind="stable")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        wr.s3.to_parquet(
            df,
            path="s3://bench/tables/access_logs/",
            dataset=True,
            partition_cols=["service_name", "year", "month", "day", "hour"],
            compression="zstd",
            index=False,
            boto3_session=boto3.Session(region_name="us-east-1"),
        )
        sizes = [
            o["Size"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench")
            for o in page.get("Contents", [])
        ]
    return sum(sizes), len(sizes)


def duckdb(src: Path, outdir: Path) -> None:
    """``read_json`` with the schema's column types → ``COPY … (FORMAT parquet, PARTITION_BY …)``."""
    import duckdb as ddb

    from loglake.schema import FIELDS

    types = {"string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT", "double": "DOUBLE"}
    columns = {f.name: types.get(f.type, "TIMESTAMP WITH TIME ZONE") for f in FIELDS}
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    (outdir / "tables").mkdir(parents=True, exist_ok=True)
    con = ddb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""COPY (
              SELECT *, strftime(timestamp, '%Y') AS year, strftime(timestamp, '%m') AS month,
                        strftime(timestamp, '%d') AS day, strftime(timestamp, '%H') AS hour
              FROM read_json('{src}', format = 'newline_delimited', columns = {spec}, compression = 'gzip')
              ORDER BY timestamp)
            TO '{outdir / "tables" / "access_logs"}'
            (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (service_name, year, month, day, hour))"""
    )


CONTENDERS: dict[str, Callable[[Path, Path], tuple[int, int] | None]] = {
    "loglake": loglake,
    "awswrangler": awswrangler,
    "duckdb": duckdb,
}
WARM_UP = {"loglake": ("loglake.convert",), "awswrangler": ("awswrangler", "pandas", "moto"), "duckdb": ("duckdb",)}


def main(argv: list[str]) -> int:
    name, src, outdir = argv[0], Path(argv[1]), Path(argv[2])
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    fn = CONTENDERS[name]
    for module in WARM_UP[name]:  # libraries are imported before the clock starts (a warm process has them)
        importlib.import_module(module)
    base = _rss_mb()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    written = fn(src, outdir)
    seconds = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    size, files = written if written is not None else _output(outdir / "tables")
    result: dict[str, Any] = {
        "name": name,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _rss_mb(),
        "peak_rss_growth_mb": _rss_mb() - base,
        "output_bytes": size,
        "files": files,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
