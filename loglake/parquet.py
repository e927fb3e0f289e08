"""Records → Arrow table → Parquet bytes, with the explicit schema from :mod:`loglake.schema`.

Two Arrow schemas are derived from the record schema, never inferred:

- the *row* schema (:data:`ROW_SCHEMA`): every field including ``service_name``, strings plain, ``timestamp``
  as ``timestamp[ms, UTC]`` — what the converter builds while it reads and splits an object;
- the *stored* schema (:data:`STORED_SCHEMA`, :func:`loglake.schema.arrow_schema`): the file's columns, without
  the partition keys, low-cardinality strings dictionary-encoded.

Files are ZSTD-compressed, rows sorted by ``timestamp``, with min/max statistics on the columns where they can
prune row groups (:data:`STATISTICS_COLUMNS`: time ranges above all), dictionary pages for repetitive columns,
and row groups sized for Athena (at most :data:`ROW_GROUP_ROWS` rows, which is some 30-60 MB compressed for
access logs: large enough for efficient scans, small enough for Athena to split a 256 MB file across several
readers).

Example
-------
>>> table = records_to_table([{"timestamp": 1795341600000, "service_name": "shop", "status_code": 200}])
>>> read_parquet(table_to_parquet(table)).column("status_code").to_pylist()
[200]
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import IO, Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loglake.schema import FIELDS, STORED_FIELDS, STRING, TIMESTAMP, arrow_schema

#: Rows per row group: ~1M rows is ~30-60 MB compressed for access logs, well inside Athena's sweet spot.
ROW_GROUP_ROWS: Final = 1_000_000
COMPRESSION: Final = "zstd"
COMPRESSION_LEVEL: Final = 3
#: Columns written with dictionary pages: the schema's dictionary fields plus repetitive free-text ones.
DICTIONARY_COLUMNS: Final = tuple(f.name for f in STORED_FIELDS if f.dictionary or f.name in ("ip_address", "path"))

#: Columns written with min/max statistics: those that can prune row groups. ``timestamp`` (files are sorted by
#: it), the numbers, and the few-valued strings. Ids and free text (request_id, path, user_agent, ...) are in no
#: order within a file, so their min/max span nearly everything and prune nothing, while computing them was a
#: fifth of the encoding time and they made a tenth of a converter file's bytes.
STATISTICS_COLUMNS: Final = tuple(f.name for f in STORED_FIELDS if f.type != STRING or f.name in ("method", "level"))

#: The stored schema as files carry it: the columns' documentation lives in the Glue table, not in every
#: file's footer (it would add some 2 KB to each file).
STORED_SCHEMA: Final = pa.schema([f.remove_metadata() for f in arrow_schema()])


def _row_type(field_type: Any) -> Any:
    return field_type.value_type if pa.types.is_dictionary(field_type) else field_type


def _row_schema() -> pa.Schema:
    stored = {f.name: _row_type(f.type) for f in STORED_SCHEMA}
    fields = []
    for f in FIELDS:
        if f.name in stored:
            fields.append(pa.field(f.name, stored[f.name]))
        else:  # a partition key stored in the path: typed from the record schema
            fields.append(pa.field(f.name, pa.timestamp("ms", tz="UTC") if f.type == TIMESTAMP else pa.string()))
    return pa.schema(fields)


#: Every field of the record, plain types (no dictionaries), ``timestamp`` as ``timestamp[ms, UTC]``.
ROW_SCHEMA: Final = _row_schema()


def records_to_row_table(records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Normalised records (``timestamp`` in epoch ms) → a table of :data:`ROW_SCHEMA`, in input order."""
    arrays = [pa.array([r.get(f.name) for r in records], type=f.type) for f in ROW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=ROW_SCHEMA)


def to_stored(table: pa.Table, *, presorted: bool = False) -> pa.Table:
    """A table holding the stored columns (any extra columns are dropped) → the stored schema, sorted by
    ``timestamp`` (a stable sort: rows with equal times keep their order), in one chunk per column.

    ``presorted=True`` skips the sort for rows the caller already sorted.
    """
    if not presorted:
        table = table.sort_by("timestamp")
    names = set(table.column_names)
    arrays = []
    for field in STORED_SCHEMA:
        if field.name not in names:
            arrays.append(pa.nulls(table.num_rows, type=field.type))
            continue
        column = _one_chunk(table.column(field.name))
        if column.type == field.type:  # the common case: nothing to convert (a cast would be a call per column)
            arrays.append(column)
        elif pa.types.is_dictionary(field.type) and not pa.types.is_dictionary(column.type):
            arrays.append(pc.dictionary_encode(column).cast(field.type))
        else:
            arrays.append(column.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=STORED_SCHEMA)


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as it is (no copy), else its chunks concatenated."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def records_to_table(records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Build the stored columns from normalised records (``timestamp`` in epoch ms), sorted by time."""
    return to_stored(records_to_row_table(records))


def writer_options() -> dict[str, Any]:
    """The options every Parquet file of the lake is written with (converter and compactor alike)."""
    return {
        "compression": COMPRESSION,
        "compression_level": COMPRESSION_LEVEL,
        "write_statistics": list(STATISTICS_COLUMNS),
        "use_dictionary": list(DICTIONARY_COLUMNS),
    }


def open_writer(sink: str | IO[bytes]) -> pq.ParquetWriter:
    """A :class:`pyarrow.parquet.ParquetWriter` of the stored schema with the lake's options, for streaming."""
    return pq.ParquetWriter(sink, STORED_SCHEMA, **writer_options())


def table_to_parquet(table: pa.Table) -> bytes:
    """Serialise a table of the stored schema; deterministic for the same rows."""
    # An Arrow sink, not io.BytesIO: the writer's many small writes then stay in C++, without taking the GIL
    # for each (files are encoded in parallel threads).
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, **writer_options())
    return sink.getvalue().to_pybytes()


def read_parquet(data: bytes) -> pa.Table:
    """Parquet bytes of the lake → a table of the stored schema."""
    return pq.read_table(io.BytesIO(data), schema=STORED_SCHEMA)


__all__ = [
    "COMPRESSION",
    "ROW_GROUP_ROWS",
    "ROW_SCHEMA",
    "STATISTICS_COLUMNS",
    "STORED_SCHEMA",
    "open_writer",
    "read_parquet",
    "records_to_row_table",
    "records_to_table",
    "table_to_parquet",
    "to_stored",
    "writer_options",
]
