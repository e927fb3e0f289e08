"""Merging Parquet files of one partition: bin packing to a target size, and a bounded-memory sorted merge.

Used by the compactor (:mod:`loglake.compact`). Every file of the lake is sorted by ``timestamp``; a k-way merge
keeps the merged file sorted while holding only a bounded batch of each input in memory
(:data:`MERGE_BUFFER_BYTES` in all), and row groups of at most :data:`loglake.parquet.ROW_GROUP_ROWS` rows or
:data:`ROW_GROUP_BYTES` of Arrow data are written as they fill.

Example
-------
>>> pack([("a", 100), ("b", 60), ("c", 50)], target=120, full=110)
[['a'], ['b', 'c']]
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loglake.parquet import ROW_GROUP_ROWS, STORED_SCHEMA, open_writer, to_stored

#: Arrow data held for the inputs' current batches during a merge, all inputs together.
MERGE_BUFFER_BYTES: Final = 256 * 1024 * 1024
#: A row group is written once this much Arrow data (or ROW_GROUP_ROWS rows) has been merged.
ROW_GROUP_BYTES: Final = 128 * 1024 * 1024
_MIN_BATCH_ROWS: Final = 1024
_MAX_BATCH_ROWS: Final = 65_536

#: The stored columns without dictionaries: what batches are merged as.
PLAIN_SCHEMA: Final = pa.schema(
    [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in STORED_SCHEMA]
)


def pack(files: Sequence[tuple[str, int]], *, target: int, full: int) -> list[list[str]]:
    """Group files (key, size) into as few bins of at most ``target`` bytes as first-fit decreasing finds.

    A file of ``full`` bytes or more is left alone in its own bin (it is big enough: rewriting it buys
    nothing). Deterministic: ties are broken by key; bins come out in order of their largest file.
    """
    bins: list[list[str]] = []
    room: list[int] = []
    for key, size in sorted(files, key=lambda f: (-f[1], f[0])):
        if size >= full:
            bins.append([key])
            room.append(0)
            continue
        for i, free in enumerate(room):
            if size <= free:
                bins[i].append(key)
                room[i] -= size
                break
        else:
            bins.append([key])
            room.append(target - size)
    return [sorted(b) for b in bins]


def _plain(table: pa.Table) -> pa.Table:
    """A table read from a lake file → :data:`PLAIN_SCHEMA` (missing columns as nulls, dictionaries decoded)."""
    arrays = []
    for field in PLAIN_SCHEMA:
        if field.name in table.column_names:
            arrays.append(table.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=PLAIN_SCHEMA)


def merge_sorted(files: Sequence[pq.ParquetFile], *, batch_rows: int) -> Iterator[pa.Table]:
    """Yield the rows of all ``files`` in ``timestamp`` order, in pieces (deterministic for the same inputs).

    Each input holds at most one batch at a time. Rows are emitted up to the *watermark*: the smallest last
    timestamp among the inputs that may still produce rows — nothing read later can sort before it. An
    input that is not sorted is merged all the same (every row exactly once), only not in order.
    """
    iterators = [f.iter_batches(batch_size=batch_rows) for f in files]
    buffers: list[pa.Table | None] = [None] * len(files)
    times: list[pa.Array | None] = [None] * len(files)
    open_ = [True] * len(files)

    def refill(i: int) -> None:
        while open_[i] and buffers[i] is None:
            try:
                batch = next(iterators[i])
            except StopIteration:
                open_[i] = False
                return
            if batch.num_rows:
                table = _plain(pa.Table.from_batches([batch])).sort_by("timestamp")
                buffers[i] = table
                times[i] = table.column("timestamp").cast(pa.int64()).combine_chunks()

    for i in range(len(files)):
        refill(i)
    while any(b is not None for b in buffers):
        marks = [t[len(t) - 1].as_py() for i, t in enumerate(times) if open_[i] and t is not None]
        watermark = min(marks) if marks else None
        pieces = []
        for i, table in enumerate(buffers):
            if table is None:
                continue
            ts = times[i]
            assert ts is not None
            # the buffer is sorted: the rows up to the watermark are a prefix
            n = len(ts) if watermark is None else pc.sum(pc.less_equal(ts, watermark)).as_py() or 0
            if n:
                pieces.append(table.slice(0, n))
            if n == len(ts):
                buffers[i] = times[i] = None
                refill(i)
            elif n:
                buffers[i], times[i] = table.slice(n), ts[n:]
        if pieces:
            yield pa.concat_tables(pieces).sort_by("timestamp")


@dataclass
class MergedFile:
    """A merged Parquet file, in memory."""

    data: bytes
    rows: int
    rows_in: int


def merge_files(inputs: Sequence[bytes]) -> MergedFile:
    """Merge Parquet files of the lake (as bytes) into one sorted file written with the lake's options.

    Memory stays bounded: :data:`MERGE_BUFFER_BYTES` of input batches, one pending row group, the output.

    Example
    -------
    >>> merged = merge_files([part_a, part_b])  # doctest: +SKIP
    >>> merged.rows == merged.rows_in  # doctest: +SKIP
    True
    """
    files = [pq.ParquetFile(io.BytesIO(d)) for d in inputs]
    rows_in = sum(f.metadata.num_rows for f in files)
    arrow_bytes = sum(f.metadata.row_group(i).total_byte_size for f in files for i in range(f.num_row_groups))
    per_row = max(1, arrow_bytes // max(1, rows_in))
    batch_rows = int(min(_MAX_BATCH_ROWS, max(_MIN_BATCH_ROWS, MERGE_BUFFER_BYTES // (per_row * max(1, len(files))))))
    sink = io.BytesIO()
    writer = open_writer(sink)
    rows = 0
    pending: list[pa.Table] = []
    pending_rows = pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_rows, pending_bytes, rows
        if not pending:
            return
        group = to_stored(pa.concat_tables(pending), presorted=True)
        writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
        rows += group.num_rows
        pending, pending_rows, pending_bytes = [], 0, 0

    try:
        for piece in merge_sorted(files, batch_rows=batch_rows):
            pending.append(piece)
            pending_rows += piece.num_rows
            pending_bytes += piece.nbytes
            if pending_rows >= ROW_GROUP_ROWS or pending_bytes >= ROW_GROUP_BYTES:
                flush()
        flush()
    finally:
        writer.close()
    return MergedFile(sink.getvalue(), rows, rows_in)


def parquet_rows(data: bytes) -> int:
    """Rows in a Parquet file, from its footer."""
    return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)


__all__ = ["MERGE_BUFFER_BYTES", "MergedFile", "merge_files", "merge_sorted", "pack", "parquet_rows"]
