"""Merging for the compactor: bin packing and the bounded-memory sorted merge."""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.merge import merge_files, merge_sorted, pack
from loglake.parquet import read_parquet, records_to_table, table_to_parquet

BASE_MS = 1_795_341_600_000
HOUR = 3_600_000


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), max_size=40),
    target=st.integers(100, 500),
)
def test_pack_places_every_file_once_within_the_target(sizes: list[int], target: int) -> None:
    files = [(f"f{i:03d}", s) for i, s in enumerate(sizes)]
    full = int(target * 0.75)
    bins = pack(files, target=target, full=full)
    assert sorted(k for b in bins for k in b) == sorted(k for k, _ in files)
    size = dict(files)
    for b in bins:
        assert len(b) == 1 or sum(size[k] for k in b) <= target
        assert all(size[k] < full for k in b) or len(b) == 1
    # as few as first fit can: no two bins of small files could have been one
    loads = [sum(size[k] for k in b) for b in bins if size[b[0]] < full]
    assert all(a + b > target for i, a in enumerate(loads) for b in loads[i + 1 :])
    assert pack(list(reversed(files)), target=target, full=full) == bins  # deterministic


def parquet_file(times: list[int], tag: str, *, rows_per_group: int | None = None) -> bytes:
    table = records_to_table(
        [{"timestamp": t, "service_name": "s", "request_id": f"{tag}-{i}"} for i, t in enumerate(times)]
    )
    if rows_per_group is None:
        return table_to_parquet(table)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=rows_per_group)
    return buf.getvalue()


@settings(max_examples=60, deadline=None)
@given(
    inputs=st.lists(st.lists(st.integers(BASE_MS, BASE_MS + 3_599_999), max_size=60), min_size=1, max_size=6),
    batch_rows=st.integers(1, 17),
)
def test_merge_sorted_emits_every_row_once_in_time_order(inputs: list[list[int]], batch_rows: int) -> None:
    files = [pq.ParquetFile(io.BytesIO(parquet_file(times, f"f{i}"))) for i, times in enumerate(inputs)]
    pieces = list(merge_sorted(files, batch_rows=batch_rows))
    merged = pa.concat_tables(pieces) if pieces else None
    got = merged.column("timestamp").cast(pa.int64()).to_pylist() if merged is not None else []
    assert got == sorted(t for times in inputs for t in times)
    ids = merged.column("request_id").to_pylist() if merged is not None else []
    assert sorted(ids) == sorted(f"f{i}-{j}" for i, times in enumerate(inputs) for j in range(len(times)))
    again = [pq.ParquetFile(io.BytesIO(parquet_file(times, f"f{i}"))) for i, times in enumerate(inputs)]
    assert [p.column("request_id").to_pylist() for p in merge_sorted(again, batch_rows=batch_rows)] == [
        p.column("request_id").to_pylist() for p in pieces
    ]  # deterministic, ties included


def test_merge_files_writes_one_sorted_file_with_all_rows() -> None:
    rng = random.Random(4)
    inputs = [
        sorted(rng.randrange(BASE_MS, BASE_MS + 3_600_000) for _ in range(rng.randrange(1, 500))) for _ in range(9)
    ]
    merged = merge_files([parquet_file(t, f"f{i}", rows_per_group=37) for i, t in enumerate(inputs)])
    table = read_parquet(merged.data)
    assert merged.rows == merged.rows_in == table.num_rows == sum(map(len, inputs))
    ts = table.column("timestamp").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts)
    meta = pq.ParquetFile(io.BytesIO(merged.data)).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_merge_reads_files_that_lack_a_newer_column() -> None:
    old = pa.table(
        {"timestamp": pa.array([BASE_MS + 5], pa.timestamp("ms", tz="UTC")), "status_code": pa.array([500], pa.int32())}
    )
    buf = io.BytesIO()
    pq.write_table(old, buf)
    merged = merge_files([buf.getvalue(), parquet_file([BASE_MS + 1, BASE_MS + 9], "new")])
    rows = read_parquet(merged.data).to_pylist()
    assert [r["status_code"] for r in rows] == [None, 500, None]
    assert rows[1]["request_id"] is None
