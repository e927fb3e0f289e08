"""The converter: one gzip NDJSON object under ``raw/`` → Parquet files in the table's Hive layout.

Rows are read with the explicit schema (:mod:`loglake.ndjson`) in bounded chunks, split by ``service_name``
and *event* hour, and written as one ZSTD Parquet file per partition, sorted by time
(:mod:`loglake.parquet`)::

    tables/access_logs/service_name=S/year=Y/month=M/day=D/hour=H/part-<input name>-<hash of input key>.parquet

Idempotent: the output name derives from the input key and the bytes from the input's content, so a
redelivered notification rewrites identical objects — never duplicates.

Bad input never blocks good input. Everything that does not become a row lands under ``quarantine/converter/``
with a reason, in ``<input key without raw/>.ndjson`` (one entry per line: the transformer's quarantine
markers, lines that are not JSON or fail the schema, and object-level problems):

- an object that is not gzip, or expands beyond 1 GiB: quarantined whole (a verbatim copy of the object beside
  its entry), no rows;
- a truncated or corrupt gzip stream (or garbage after it): the rows before the damage are converted, the
  partial last line is rejected like any bad line, and a verbatim copy of the object keeps the undecodable rest;
- an empty object: skipped and counted (``ObjectsSkipped``).

Event-time window (clock skew, replays): a row whose event time lies more than ``max_age`` before or
``max_future`` after its object's *arrival* is partitioned under the arrival hour instead of its event hour.
Its ``timestamp`` is kept as sent; ``extra._loglake.out_of_window`` says ``"late"`` or ``"early"`` and
``extra._loglake.partitioned_by`` says ``"arrival_hour"``. The arrival time is read from the key (Firehose
names objects ``<prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<id>``), so a redelivery routes
rows identically; for a key without one the window is not applied. Setting a bound to 0 turns it off (to
backfill history into its own hours). This bounds how late a file can land in an hour, which is what lets
the compactor's look-back find every late file.

Example
-------
>>> from loglake.storage import LocalStorage
>>> convert_object(LocalStorage("/tmp/lake"), "raw/2026/11/22/10/s-1-2026-11-22-10-00-00-x.gz")  # doctest: +SKIP
ConvertResult(source='raw/…', rows_in=1000, rows_written=998, rows_quarantined=2, …)
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from loglake import quarantine
from loglake.events import BatchItem
from loglake.gunzip import TEXT_BYTES
from loglake.ndjson import CHUNK_BYTES, GzipChunks, Parsed, parse_chunk, prefetch
from loglake.parquet import records_to_row_table, table_to_parquet, to_stored
from loglake.partitions import partition_for
from loglake.schema import PIPELINE_NOTE_KEY, TABLE_NAME, normalize
from loglake.storage import Storage

logger = logging.getLogger(__name__)

RAW_PREFIX: Final = "raw/"
STAGE: Final = "converter"
HOUR_MS: Final = 3_600_000
#: Typed scalars for the compute calls made on every object. Building them here, at import (the Lambda's cold
#: start), also makes pyarrow take its one-time look for pandas, which imports pandas where it is installed
#: (some 0.2 s; not in the Lambda layer): before the first object rather than inside it.
_HOUR: Final = pa.scalar(HOUR_MS, pa.int64())
_SERVICE_SHIFT: Final = pa.scalar(1 << 32, pa.int64())
#: Partitions uploaded at once (encoded files wait for an uploader: output is a small fraction of the input).
WRITE_THREADS: Final = 8
#: Partitions encoded at once (at most the CPUs the process may use).
ENCODE_THREADS: Final = max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))
#: Chunks parsed at once (each is about TEXT_BYTES of text: this bounds memory too).
PARSE_THREADS: Final = 2
#: Chunks submitted to the parsers beyond those being parsed, so that a parser that finishes before the chunk
#: ahead of it finds its next chunk waiting (chunks are taken in order).
PARSE_QUEUED: Final = 2
#: Chunks cut ahead by the decompressing thread: one inflated piece's worth (CHUNK_BYTES / TEXT_BYTES), so the
#: parsers do not wait while it inflates the next piece. Both bounds are on views of pieces already inflated.
READ_AHEAD: Final = CHUNK_BYTES // TEXT_BYTES

_FIREHOSE_NAME: Final = re.compile(
    r"-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[0-9A-Za-z][0-9A-Za-z-]*(?:\.\w+)*$"
)
_FIREHOSE_FOLDER: Final = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


@dataclass(frozen=True)
class ConvertOptions:
    """How the converter treats event times, and how it reads.

    ``max_age_ms``/``max_future_ms`` bound event time relative to arrival (0 = no bound); ``fast=False``
    reads every line through the reference path (tests compare both).
    """

    max_age_ms: int = 48 * HOUR_MS
    max_future_ms: int = 60 * 60_000
    chunk_bytes: int = CHUNK_BYTES
    fast: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> ConvertOptions:
        return cls(
            max_age_ms=int(settings.event_max_age_hours * HOUR_MS),
            max_future_ms=int(settings.event_max_future_minutes * 60_000),
        )


@dataclass
class ConvertResult:
    """What converting one object did; the counters feed the converter's metrics."""

    source: str
    rows_in: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_out_of_window: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    decompressed_bytes: int = 0
    outputs: list[str] = field(default_factory=list)
    quarantine_key: str | None = None
    object_copy_key: str | None = None
    skipped: str | None = None


def use_system_allocator() -> None:
    """Make Arrow allocate with the system allocator in this process (the converter's Lambda does, once per
    cold start). Arrow's default, mimalloc, returns freed memory to the OS eagerly; converting an object
    allocates and frees hundreds of MB, and the page faults that follow cost more system time than the
    parsing saves (measured in ``bench/converter``).

    This covers what Python asks Arrow to allocate. What Arrow's C++ code allocates from its own default pool
    (the Parquet writer's buffers) follows ``ARROW_DEFAULT_MEMORY_POOL``, read as pyarrow loads: the process
    should start with :data:`loglake.settings.CONVERTER_PROCESS_ENV`, as the converter's Lambda does.
    """
    default = pa.default_memory_pool().backend_name
    if default != "system" and os.environ.get("ARROW_DEFAULT_MEMORY_POOL") != "system":
        logger.info(
            "Arrow's C++ default memory pool is %s; start the process with ARROW_DEFAULT_MEMORY_POOL=system "
            "(loglake.settings.CONVERTER_PROCESS_ENV) to save memory and CPU time",
            default,
        )
    pa.set_memory_pool(pa.system_memory_pool())


def output_stem(source_key: str) -> str:
    """A stable file stem for outputs of ``source_key``: its base name plus a short hash of the whole key."""
    base = source_key.rsplit("/", 1)[-1]
    for ext in (".gz", ".ndjson", ".json", ".jsonl"):
        base = base.removesuffix(ext)
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in base)[:120]
    return f"{safe}-{hashlib.sha256(source_key.encode()).hexdigest()[:12]}"


def arrival_ms(key: str) -> int | None:
    """When Firehose received the object's data, from its key (name to the second, else folder to the hour).

    >>> arrival_ms("raw/2026/11/22/10/loglake-1-2026-11-22-10-05-03-0b6c.gz")
    1795341903000
    """
    for pattern in (_FIREHOSE_NAME, _FIREHOSE_FOLDER):
        m = pattern.search(key)
        if m is None:
            continue
        y, mo, d, h, mi, sec = ([int(g) for g in m.groups()] + [0, 0])[:6]
        try:
            return int(datetime(y, mo, d, h, mi, sec, tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    return None


def quarantine_copy_key(source_key: str) -> str:
    """Where a verbatim copy of a (partly) unreadable object is kept, beside its entries."""
    return quarantine.object_key(STAGE, source_key).removesuffix(".ndjson")


def _note_out_of_window(table: pa.Table, direction: str) -> pa.Table:
    """Rows partitioned by arrival: say so in ``extra._loglake`` (rare rows: done record by record)."""
    records = []
    for row in table.to_pylist():
        extra = row.pop("extra", None)
        try:
            base = orjson.loads(extra) if extra else {}
        except orjson.JSONDecodeError:
            base = {"extra": extra}
        if not isinstance(base, dict):
            base = {"extra": base}
        note = dict(base.get(PIPELINE_NOTE_KEY) or {}) if isinstance(base.get(PIPELINE_NOTE_KEY), dict) else {}
        note.update({"out_of_window": direction, "partitioned_by": "arrival_hour"})
        base[PIPELINE_NOTE_KEY] = note
        records.append(normalize({k: v for k, v in row.items() if v is not None} | {"extra": base}))
    return records_to_row_table(records)


class _Splitter:
    """Collects rows with their partition hour (event hour, or arrival hour outside the window), then cuts
    them into partitions with one stable sort by (service, hour); each partition's rows are then sorted by
    timestamp, stably, as it is written (the same order as one stable sort by (service, hour, timestamp))."""

    def __init__(self, options: ConvertOptions, arrival: int | None) -> None:
        self.tables: list[pa.Table] = []
        self.out_of_window = 0
        self.arrival = arrival
        self.lo = arrival - options.max_age_ms if arrival is not None and options.max_age_ms > 0 else None
        self.hi = arrival + options.max_future_ms if arrival is not None and options.max_future_ms > 0 else None

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        ms = table.column("timestamp").cast(pa.int64())
        for direction, bound in (("late", self.lo), ("early", self.hi)):
            if bound is None or not table.num_rows:
                continue
            mask = pc.less(ms, bound) if direction == "late" else pc.greater(ms, bound)
            if not pc.any(mask).as_py():
                continue
            assert self.arrival is not None
            routed = _note_out_of_window(table.filter(mask), direction)
            self.out_of_window += routed.num_rows
            hour = self.arrival // HOUR_MS
            self.tables.append(routed.append_column("_hour", pa.array([hour] * routed.num_rows, pa.int64())))
            table = table.filter(pc.invert(mask))
            ms = table.column("timestamp").cast(pa.int64())
        if table.num_rows:
            hours = pc.divide(ms, _HOUR)  # hours since the epoch (event times are after 2000: no negatives)
            self.tables.append(table.append_column("_hour", hours))

    def partitions(self) -> Iterator[tuple[str, int, pa.Table, pa.Array]]:
        """``(service, hour start ms, rows, indices)`` per partition, in key order: ``rows.take(indices)`` are the
        partition's rows in input order, without the partition key ``service_name`` (:func:`_time_sorted` sorts
        them by timestamp)."""
        if not self.tables:
            return
        table = pa.concat_tables(self.tables)
        self.tables = []
        # The stored columns are made one chunk each (a plain copy, cheaper than taking from many chunks), and
        # each partition takes its rows from them when it is written, in the encoding threads. The partition key
        # and helper columns are never copied. The copies run in other threads (Arrow releases the GIL) while
        # this one sorts: between reading and writing, nothing else keeps the CPUs busy.
        stored = table.drop_columns(["service_name", "_hour"])
        with ThreadPoolExecutor(max_workers=ENCODE_THREADS) as pool:
            columns = [pool.submit(pa.ChunkedArray.combine_chunks, c) for c in stored.columns]
            # One integer key per (service, hour) — cheaper to sort on than the service's text.
            services = pc.dictionary_encode(table.column("service_name")).combine_chunks()
            names = services.dictionary.to_pylist()
            order = sorted(range(len(names)), key=names.__getitem__)
            rank = pa.array([order.index(i) for i in range(len(names))], pa.int64())
            key = pc.add(pc.multiply(pc.take(rank, services.indices), _SERVICE_SHIFT), table.column("_hour"))
            # A stable sort (Arrow's sort_indices is stable) of the integer keys alone, which is quick: each
            # partition's rows are sorted by time when the partition is written, in the encoding threads.
            indices = pc.sort_indices(key)
            keys = pc.take(key, indices).combine_chunks()
            rows = pa.Table.from_arrays([c.result() for c in columns], schema=stored.schema)
        del table, stored
        n = rows.num_rows
        starts = [
            0,
            *(i + 1 for i in pc.indices_nonzero(pc.not_equal(keys.slice(1), keys.slice(0, n - 1))).to_pylist()),
            n,
        ]
        for begin, stop in itertools.pairwise(starts):
            k = keys[begin].as_py()
            yield names[order[k >> 32]], (k & 0xFFFFFFFF) * HOUR_MS, rows, indices.slice(begin, stop - begin)


def _time_sorted(rows: pa.Table, indices: pa.Array) -> pa.Table:
    """``rows.take(indices)`` sorted by timestamp; a stable sort, so rows with equal times keep their order."""
    order = pc.sort_indices(pc.take(rows.column("timestamp"), indices))
    return rows.take(pc.take(indices, order))


def convert_object(
    storage: Storage, key: str, *, table: str = TABLE_NAME, options: ConvertOptions | None = None
) -> ConvertResult:
    """Convert one raw object; idempotent: the same object converted twice writes identical objects.

    Parameters
    ----------
    storage
        The lake.
    key
        The object under ``raw/`` (gzip NDJSON written by Firehose).
    table
        The table whose partitions receive the rows.
    options
        The event-time window and reading options (default: 48 h back, 60 min ahead).

    Returns
    -------
    ConvertResult
        Counters, the Parquet keys written, the quarantine keys. Storage errors propagate (the notification
        is retried); bad content never raises.

    Example
    -------
    >>> result = convert_object(storage, "raw/2026/11/22/10/s-1-2026-11-22-10-00-00-x.gz")  # doctest: +SKIP
    >>> result.rows_in == result.rows_written + result.rows_quarantined  # doctest: +SKIP
    True
    """
    options = options or ConvertOptions()
    result = ConvertResult(source=key)
    data = storage.get(key)
    result.bytes_in = len(data)
    if not data:
        result.skipped = "empty object"
        return result
    if data[:2] != b"\x1f\x8b":
        _quarantine_object(storage, key, data, "object is not gzip; raw/ holds gzip NDJSON written by Firehose", result)
        return result

    chunks = GzipChunks(data, chunk_bytes=options.chunk_bytes)
    splitter = _Splitter(options, arrival_ms(key))
    parsed = Parsed()
    # The fields holding values in the chunks taken so far: the JSON reader is told only these for the next chunks
    # (see parse_chunk), until a chunk holds another field without bringing a value for a new one (fields sent
    # as null, say): then it is told the whole schema again. Each chunk's rows are the same either way.
    seen: set[str] = set()
    expect_seen = True

    def take(piece: Parsed) -> None:
        nonlocal expect_seen
        found = piece.fields_with_values()
        if piece.unexpected_fields and found <= seen:
            expect_seen = False
        seen.update(found)
        splitter.add(piece.table)
        piece.tables = []
        parsed.extend(piece)

    # Decompression runs ahead in its own thread; chunks are parsed two at a time (Arrow releases the GIL),
    # and taken in order, so the result does not depend on the threads.
    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        pending: deque[Future[Parsed]] = deque()
        for chunk in prefetch(chunks.chunks(), depth=READ_AHEAD):
            fields = frozenset(seen) if expect_seen and seen else None
            pending.append(
                pool.submit(
                    parse_chunk,
                    chunk.text,
                    chunk.first_line,
                    fast=options.fast,
                    newlines=chunk.newlines,
                    fields=fields,
                )
            )
            if len(pending) >= PARSE_THREADS + PARSE_QUEUED:
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
    result.decompressed_bytes = chunks.decompressed_bytes
    if chunks.too_large:
        _quarantine_object(storage, key, data, chunks.problem or "object too large", result)
        return result

    entries: list[dict[str, Any]] = []
    need_copy = chunks.problem is not None
    if chunks.problem:
        entries.append(
            quarantine.entry(STAGE, chunks.problem, b"", source=key, decompressed_bytes=chunks.decompressed_bytes)
        )
    for rejected in parsed.rejected:
        if rejected.marker is not None:
            entries.append({**rejected.marker, "source": key, "line": rejected.line})
        else:
            entries.append(quarantine.entry(STAGE, rejected.reason, rejected.raw, source=key, line=rejected.line))
            need_copy = need_copy or len(rejected.raw) > quarantine.MAX_RAW_CHARS
    result.rows_in = parsed.lines
    result.rows_quarantined = len(parsed.rejected)
    result.rows_out_of_window = splitter.out_of_window

    stem = output_stem(key)

    # Encoding is CPU work: as many encoders as CPUs (more only contend, for the GIL between Arrow calls and for
    # memory). S3 puts wait on the network: each encoded file is handed to an uploader, several of which wait at
    # once. Threads that are not encoding stay asleep (idle encoders waiting on a lock cost the encoding ones a
    # fifth of their time on two CPUs, in GIL hand-offs).
    with (
        ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="loglake-put") as uploaders,
        ThreadPoolExecutor(max_workers=ENCODE_THREADS, thread_name_prefix="loglake-encode") as encoders,
    ):

        def encode(part: tuple[str, int, pa.Table, pa.Array]) -> tuple[str, int, int, Future[None]]:
            service, hour, source, indices = part
            rows = _time_sorted(source, indices)
            body = table_to_parquet(to_stored(rows, presorted=True))
            out_key = f"{partition_for(service, hour, table).prefix}part-{stem}.parquet"
            return out_key, rows.num_rows, len(body), uploaders.submit(storage.put, out_key, body)

        for out_key, rows_written, size, upload in encoders.map(encode, splitter.partitions()):
            upload.result()  # a storage error propagates: the notification is retried
            result.outputs.append(out_key)
            result.rows_written += rows_written
            result.bytes_out += size
    if need_copy:
        result.object_copy_key = quarantine_copy_key(key)
        storage.put(result.object_copy_key, data)
        for e in entries:
            e.setdefault("object_copy", result.object_copy_key)
    if entries:
        result.quarantine_key = quarantine.object_key(STAGE, key)
        storage.put(result.quarantine_key, b"".join(orjson.dumps(e) + b"\n" for e in entries))
    return result


def _quarantine_object(storage: Storage, key: str, data: bytes, reason: str, result: ConvertResult) -> None:
    """Quarantine a whole object: a verbatim copy, and one entry with the reason (counted as one row)."""
    result.object_copy_key = quarantine_copy_key(key)
    storage.put(result.object_copy_key, data)
    entry = quarantine.entry(STAGE, reason, data[:4096], source=key, object_copy=result.object_copy_key)
    result.quarantine_key = quarantine.object_key(STAGE, key)
    storage.put(result.quarantine_key, orjson.dumps(entry) + b"\n")
    result.rows_in = result.rows_quarantined = 1


@dataclass
class BatchOutcome:
    failed_items: list[str] = field(default_factory=list)
    results: list[ConvertResult] = field(default_factory=list)
    ignored_keys: int = 0

    def counters(self) -> dict[str, int]:
        """The converter's metrics (EMF, dimension ``stage=converter``)."""
        return {
            "ObjectsConverted": sum(1 for r in self.results if not r.skipped),
            "ObjectsSkipped": sum(1 for r in self.results if r.skipped) + self.ignored_keys,
            "ObjectsQuarantined": sum(1 for r in self.results if r.object_copy_key),
            "RowsIn": sum(r.rows_in for r in self.results),
            "RowsWritten": sum(r.rows_written for r in self.results),
            "RowsQuarantined": sum(r.rows_quarantined for r in self.results),
            "RowsOutOfWindow": sum(r.rows_out_of_window for r in self.results),
            "BytesIn": sum(r.bytes_in for r in self.results),
            "BytesOut": sum(r.bytes_out for r in self.results),
            "FilesWritten": sum(len(r.outputs) for r in self.results),
            "FailedItems": len(self.failed_items),
        }


def convert_batch(
    storage: Storage, items: list[BatchItem], *, table: str = TABLE_NAME, options: ConvertOptions | None = None
) -> BatchOutcome:
    """Convert every raw object of a batch.

    An item (one SQS message) fails alone: its id is returned in :attr:`BatchOutcome.failed_items` for the
    partial batch response, and SQS redelivers it (then the DLQ). A direct (non-SQS) event re-raises, so that
    Lambda retries it. Keys outside ``raw/`` are counted and skipped.

    Example
    -------
    >>> outcome = convert_batch(storage, batch_items(sqs_event))  # doctest: +SKIP
    >>> batch_response(outcome.failed_items)  # doctest: +SKIP
    {'batchItemFailures': []}
    """
    outcome = BatchOutcome()
    for item in items:
        try:
            if item.error:
                raise ValueError(item.error)
            for obj in item.objects:
                if not obj.key.startswith(RAW_PREFIX):
                    outcome.ignored_keys += 1
                    logger.info("ignoring %r: the converter reads only %s", obj.key[:300], RAW_PREFIX)
                    continue
                outcome.results.append(convert_object(storage, obj.key, table=table, options=options))
        except Exception:
            logger.exception("converting item %s failed", item.item_id)
            if item.item_id is None:
                raise
            outcome.failed_items.append(item.item_id)
    return outcome
