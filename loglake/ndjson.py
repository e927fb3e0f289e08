"""Reading the transformer's gzip NDJSON into Arrow tables, in bounded chunks, with the explicit schema.

The objects under ``raw/`` hold one record per line, as the transformer wrote it (:func:`loglake.schema.to_json_line`),
plus the transformer's quarantine marker lines. They are decompressed as a stream (:class:`GzipChunks`, at most
:data:`CHUNK_BYTES` of text at a time, cut at line ends), and each chunk is read in one of two ways that give the
same rows:

- the *fast path*: ``pyarrow.json`` with an explicit schema (no inference) over the whole chunk, then vectorised
  checks that every row is exactly what :func:`loglake.schema.normalize` would accept unchanged: the canonical
  timestamp text (``2026-11-22T10:00:00.000Z``), a valid ``service_name``, strings within their limits,
  numbers finite and in range, valid UTF-8, one JSON object per non-blank line, no unknown field;
- the *reference path*: each line through ``orjson`` and :func:`~loglake.schema.normalize` — which coerces
  what it losslessly can (``"200"`` → 200, epoch numbers → timestamps, unknown fields → ``extra``) and rejects
  the rest with a reason.

When the fast path cannot vouch for a chunk, the chunk is halved until the fast path accepts the halves or they
are small (:data:`MIN_FAST_BYTES`), and those go through the reference path: one bad line costs a few
re-reads of its neighbourhood, never the object. A property test checks that both paths give identical rows.

Example
-------
>>> parsed = parse_chunk(b'{"timestamp":"2026-11-22T10:00:00.000Z","service_name":"shop"}\\nnot json\\n', 1)
>>> parsed.table.num_rows, [(r.line, r.reason[:20]) for r in parsed.rejected]
(1, [(2, 'line is not valid JS')])
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from loglake import quarantine
from loglake.errors import RecordError
from loglake.gunzip import CHUNK_BYTES, GzipChunks, binary_array, count_newlines
from loglake.parquet import ROW_SCHEMA, records_to_row_table
from loglake.schema import DOUBLE, FIELDS, FIELDS_BY_NAME, INT32, INT64, STRING, TIMESTAMP, normalize

T = TypeVar("T")

#: Below this size a chunk the fast path refused is read line by line instead of being halved again.
MIN_FAST_BYTES: Final = 64 * 1024
#: Arrow JSON reader block size (blocks are parsed in parallel); lines are far shorter.
BLOCK_BYTES: Final = 2 * 1024 * 1024

_MARKER_NEEDLE: Final = b'"' + quarantine.MARKER.encode() + b'"'
#: A UTF-8 byte-order mark, as RE2 reads binary data (byte by byte, as Latin-1).
_BOM_RE: Final = r"\xef\xbb\xbf"
#: An object ending where another one starts: two objects on one line (JSON whitespace but no newline between).
_OBJECTS_ON_ONE_LINE: Final = r"\}[ \t\r]*\{"
#: Exactly what :func:`loglake.schema.format_timestamp` writes.
_CANONICAL_TS: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_SERVICE_RE: Final = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_MIN_MS: Final = 946_684_800_000  # 2000-01-01, as loglake.schema.parse_timestamp
_MAX_MS: Final = 4_102_444_800_000  # 2100-01-01

_INT_BOUNDS: Final = {
    f.name: ((-(2**31), 2**31 - 1) if f.type == INT32 else (-(2**63), 2**63 - 1))
    for f in FIELDS
    if f.type in (INT32, INT64)
}

#: One block per chunk is parsed at a time: chunks are parsed in parallel (:mod:`loglake.convert`), and on the
#: converter's single vCPU Arrow's own threads would only add overhead.
_READ_OPTIONS: Final = pajson.ReadOptions(use_threads=False, block_size=BLOCK_BYTES)

#: What the JSON reader is told: the row schema with ``timestamp`` as text, checked before it is cast.
_READ_SCHEMA: Final = pa.schema([pa.field(f.name, pa.string()) if f.name == "timestamp" else f for f in ROW_SCHEMA])
_PARSE_OPTIONS: Final = pajson.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="error")


@functools.lru_cache(maxsize=64)
def _parse_options(fields: frozenset[str]) -> pajson.ParseOptions:
    """Parse options for text expected to hold only ``fields`` (the rest of the explicit schema: absent)."""
    schema = pa.schema([f for f in _READ_SCHEMA if f.name in fields])
    return pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")


@dataclass(slots=True)
class Rejected:
    """A non-blank line that did not become a row."""

    line: int
    reason: str
    raw: bytes
    #: The transformer's own quarantine entry (already scrubbed) when the line is a marker line.
    marker: dict[str, Any] | None = None


@dataclass
class Parsed:
    """The rows and rejected lines of some text, in line order."""

    tables: list[pa.Table] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    lines: int = 0  # non-blank lines read
    fast_bytes: int = 0  # bytes the fast path vouched for
    slow_bytes: int = 0  # bytes read line by line
    #: The fields the text was expected to hold (``parse_chunk(fields=...)``) were not all it held: it was read
    #: again with the whole schema.
    unexpected_fields: bool = False

    def fields_with_values(self) -> set[str]:
        """The columns holding at least one value in some row."""
        return {
            name
            for table in self.tables
            for name, column in zip(table.column_names, table.columns, strict=True)
            if column.null_count < len(column)
        }

    @property
    def table(self) -> pa.Table:
        """All rows, in line order, as one table of :data:`loglake.parquet.ROW_SCHEMA`."""
        return pa.concat_tables(self.tables) if self.tables else ROW_SCHEMA.empty_table()

    def add_fast(self, table: pa.Table, size: int) -> None:
        self.tables.append(table)
        self.lines += table.num_rows
        self.fast_bytes += size

    def extend(self, other: Parsed) -> None:
        self.tables.extend(other.tables)
        self.rejected.extend(other.rejected)
        self.lines += other.lines
        self.fast_bytes += other.fast_bytes
        self.slow_bytes += other.slow_bytes
        self.unexpected_fields = self.unexpected_fields or other.unexpected_fields


# --------------------------------------------------------------------------- read-ahead


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Iterate over ``items`` produced ahead by a background thread (at most ``depth`` waiting), so that
    decompression (which releases the GIL) overlaps parsing. Exceptions reach the consumer unchanged."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((item, None))
            q.put((done, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put((done, exc))

    thread = threading.Thread(target=produce, name="loglake-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while True:  # free a producer blocked on a full queue; it stops at its next item
            try:
                q.get_nowait()
            except queue.Empty:
                break
        thread.join()


# --------------------------------------------------------------------------- parsing


def parse_chunk(
    text: bytes | memoryview,
    first_line: int,
    *,
    fast: bool = True,
    newlines: int | None = None,
    fields: frozenset[str] | None = None,
) -> Parsed:
    """Rows and rejected lines of ``text`` (whole lines; the first is line number ``first_line``).

    ``fast=False`` reads every line through the reference path (used by tests to compare both paths).
    ``newlines`` is ``text.count(b"\n")`` when the caller has counted it already (:meth:`GzipChunks.chunks`).
    ``text`` may be a view of a larger buffer (:meth:`GzipChunks.chunks` hands out views, not copies).
    ``fields``: the fields the lines are expected to hold (those seen so far in the object). The JSON reader is
    then told only these, which saves it the null entries of the others on every row (some 7 % of its time for
    access logs, which leave a few fields out); text holding any other field is read again with the whole schema
    (:attr:`Parsed.unexpected_fields` says so). The rows are the same either way.
    """
    out = Parsed()
    if fast:
        # The common case: the fast path vouches for the whole chunk at once. A marker line never passes it (the
        # marker key is no field of the schema), so markers need looking for only when it refuses the chunk.
        table = _read_fast(text, newlines, fields, out)
        if table is not None:
            out.add_fast(table, len(text))
            return out
    text = bytes(text)  # the rest goes line by line (no copy if text is bytes already)
    if _MARKER_NEEDLE not in text:
        _parse_segment(text, first_line, out, fast, refused=fast)
        return out
    # Marker lines (and any line naming the marker key) are read one by one, in place, so row order is kept.
    start = 0
    segment_line = line = first_line
    pos = 0
    while pos < len(text):
        end = text.find(b"\n", pos)
        end = len(text) if end < 0 else end + 1
        if _MARKER_NEEDLE in text[pos:end]:
            if start < pos:
                _parse_segment(text[start:pos], segment_line, out, fast)
            _parse_slow(text[pos:end], line, out)
            start, segment_line = end, line + 1
        pos = end
        line += 1
    if start < len(text):
        _parse_segment(text[start:], segment_line, out, fast)
    return out


def _parse_segment(text: bytes, first_line: int, out: Parsed, fast: bool, *, refused: bool = False) -> None:
    """``refused``: the fast path has already refused exactly this text."""
    if fast:
        table = None if refused else _read_fast(text)
        if table is not None:
            out.add_fast(table, len(text))
            return
        if len(text) > MIN_FAST_BYTES:
            cut = text.find(b"\n", len(text) // 2)
            if cut < 0 or cut == len(text) - 1:
                cut = text.rfind(b"\n", 0, len(text) // 2)
            if cut >= 0:
                left, right = text[: cut + 1], text[cut + 1 :]
                _parse_segment(left, first_line, out, fast)
                _parse_segment(right, first_line + left.count(b"\n"), out, fast)
                return
    _parse_slow(text, first_line, out)


def _parse_slow(text: bytes, first_line: int, out: Parsed) -> None:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.split(b"\n"), start=first_line):
        if not line.strip():
            continue
        out.lines += 1
        record, rejected = read_line(line, number)
        if record is not None:
            records.append(record)
        elif rejected is not None:
            out.rejected.append(rejected)
    if records:
        out.tables.append(records_to_row_table(records))
    out.slow_bytes += len(text)


def read_line(line: bytes, number: int) -> tuple[dict[str, Any] | None, Rejected | None]:
    """The reference path for one line: a normalised record, or the reason it is rejected."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, Rejected(number, f"line is not valid JSON: {exc}", line)
    marker = obj.get(quarantine.MARKER) if isinstance(obj, dict) else None
    if isinstance(marker, dict):  # quarantined upstream by the transformer, already scrubbed
        return None, Rejected(number, str(marker.get("reason", "quarantined by the transformer")), line, marker)
    try:
        record = normalize(obj)
    except RecordError as exc:
        return None, Rejected(number, str(exc), line)
    for name, (lo, hi) in _INT_BOUNDS.items():  # normalize checks the schema's ranges, not the column's width
        value = record.get(name)
        if value is not None and not lo <= value <= hi:
            return None, Rejected(number, f"{name} {value} does not fit its {FIELDS_BY_NAME[name].type} column", line)
    return record, None


def _nonblank_lines(text: bytes) -> int:
    return sum(1 for line in text.split(b"\n") if line.strip())


def _any(mask: Any) -> bool:
    """True when some value of a boolean array is true."""
    return bool(pc.any(mask).as_py())


def _all(mask: Any) -> bool:
    """True when no value of a boolean array is false (nulls count as true: absent optional values)."""
    return not pc.any(pc.invert(mask)).as_py()


def _read_json(buffer: pa.Buffer, fields: frozenset[str] | None, out: Parsed | None) -> pa.Table:
    """The JSON reader over ``buffer`` with the explicit schema (:data:`_READ_SCHEMA`); told only ``fields`` when
    given, the other columns then added as nulls. Raises what the reader raises."""
    if fields is not None:
        try:
            table = pajson.read_json(
                pa.BufferReader(buffer), read_options=_READ_OPTIONS, parse_options=_parse_options(fields)
            )
        except (pa.ArrowException, ValueError):  # another field, or bad text: read again with the whole schema
            table = pajson.read_json(pa.BufferReader(buffer), read_options=_READ_OPTIONS, parse_options=_PARSE_OPTIONS)
            if out is not None:  # the whole schema read it: it held another field (bad text raised above)
                out.unexpected_fields = True
            return table
        rows = table.num_rows
        return pa.Table.from_arrays(
            [table.column(f.name) if f.name in fields else pa.nulls(rows, f.type) for f in _READ_SCHEMA],
            schema=_READ_SCHEMA,
        )
    return pajson.read_json(pa.BufferReader(buffer), read_options=_READ_OPTIONS, parse_options=_PARSE_OPTIONS)


def _read_fast(
    text: bytes | memoryview,
    newlines: int | None = None,
    fields: frozenset[str] | None = None,
    out: Parsed | None = None,
) -> pa.Table | None:
    """Rows of ``text`` if every line is exactly what the reference path would accept unchanged, else None."""
    buffer = pa.py_buffer(text)  # no copy
    try:
        table = _read_json(buffer, fields, out)
    except (pa.ArrowException, ValueError):
        return None
    whole = binary_array(buffer)
    # Arrow skips a byte-order mark at the start of each block it parses (blocks start at line starts); orjson
    # refuses one.
    if _any(pc.match_substring_regex(whole, _BOM_RE)):
        return None
    if not _one_object_per_line(text, whole, table.num_rows, newlines):
        return None
    try:
        table.validate(full=True)  # UTF-8 of every string
    except (pa.ArrowException, ValueError):
        return None
    if not _rows_are_canonical(table):
        return None
    try:
        ts = pc.cast(table.column("timestamp"), pa.timestamp("ms", tz="UTC"))
    except (pa.ArrowException, ValueError):  # e.g. 2026-02-30
        return None
    ms = ts.cast(pa.int64())
    if table.num_rows and (pc.min(ms).as_py() < _MIN_MS or pc.max(ms).as_py() >= _MAX_MS):
        return None
    return table.set_column(table.schema.get_field_index("timestamp"), ROW_SCHEMA.field("timestamp"), ts)


def _one_object_per_line(text: bytes | memoryview, whole: pa.Array, rows: int, newlines: int | None) -> bool:
    """Whether the JSON reader found exactly one object on each non-blank line of ``text`` (it reads objects
    separated by any whitespace, and skips blank lines).

    Cheaply, without splitting the lines: the lines number ``rows`` and no object ends on the line where another
    one starts (``}`` followed by ``{`` with only spaces, tabs or carriage returns between). Then no line holds
    two objects' starts, so there are at least as many non-blank lines as rows; and at most as many, since there
    are only ``rows`` lines. Otherwise the non-blank lines are counted one by one.
    """
    if newlines is None:
        newlines = count_newlines(text)
    lines = newlines + (0 if not text or text[-1] == 0x0A else 1)  # a last line without its newline counts too
    if lines == rows and not _any(pc.match_substring_regex(whole, _OBJECTS_ON_ONE_LINE)):
        return True
    return _nonblank_lines(bytes(text)) == rows


def _rows_are_canonical(table: pa.Table) -> bool:
    ts = table.column("timestamp")
    service = table.column("service_name")
    if ts.null_count or service.null_count:
        return False
    if not _all(pc.match_substring_regex(ts, _CANONICAL_TS)):
        return False
    # A few services per object: each distinct name is checked once.
    if not _all(pc.match_substring_regex(pc.unique(service), _SERVICE_RE)):
        return False
    for f in FIELDS:
        if f.type == TIMESTAMP or f.name not in table.column_names:
            continue
        column = table.column(f.name)
        if column.null_count == len(column):
            continue
        if f.type == STRING:
            # a string has at most as many characters as bytes: count characters only for long byte strings
            limit = f.max_length
            if (
                limit is not None
                and pc.max(pc.binary_length(column)).as_py() > limit
                and pc.max(pc.utf8_length(column)).as_py() > limit
            ):
                return False
            continue
        if f.type == DOUBLE and not _all(pc.is_finite(column)):
            return False
        lo, hi = pc.min_max(column).values()
        if (f.minimum is not None and lo.as_py() < f.minimum) or (f.maximum is not None and hi.as_py() > f.maximum):
            return False
    return True


__all__ = ["CHUNK_BYTES", "GzipChunks", "Parsed", "Rejected", "parse_chunk", "prefetch", "read_line"]
