"""The converter: one gzip NDJSON object under ``raw/`` → Parquet files in the table's Hive layout.

Rows are split by ``service_name`` and *event* hour. Output names derive from the input key, so a redelivered
notification rewrites identical objects — never duplicates. Lines that fail the schema, the transformer's
quarantine markers, and whole objects that are not gzip go to ``quarantine/converter/…`` with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from loglake import quarantine
from loglake.errors import RecordError
from loglake.events import BatchItem
from loglake.parquet import records_to_table, table_to_parquet
from loglake.partitions import Partition, partition_for
from loglake.schema import TABLE_NAME, normalize
from loglake.storage import Storage

logger = logging.getLogger(__name__)

RAW_PREFIX: Final = "raw/"
STAGE: Final = "converter"


@dataclass
class ConvertResult:
    """What converting one object did; the counters feed the converter's metrics."""

    source: str
    rows_in: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    outputs: list[str] = field(default_factory=list)
    quarantine_key: str | None = None
    skipped: str | None = None


def output_stem(source_key: str) -> str:
    """A stable file stem for outputs of ``source_key``: its base name plus a short hash of the whole key."""
    base = source_key.rsplit("/", 1)[-1]
    for ext in (".gz", ".ndjson", ".json", ".jsonl"):
        base = base.removesuffix(ext)
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in base)[:120]
    return f"{safe}-{hashlib.sha256(source_key.encode()).hexdigest()[:12]}"


def _gunzip_lenient(data: bytes) -> tuple[bytes, str | None]:
    """Decompress what can be decompressed; the second value says why the rest could not be."""
    d = zlib.decompressobj(wbits=31)
    out = []
    try:
        out.append(d.decompress(data))
        while d.eof and d.unused_data:  # concatenated gzip members (Firehose may write several)
            rest = d.unused_data
            d = zlib.decompressobj(wbits=31)
            out.append(d.decompress(rest))
    except zlib.error as exc:
        return b"".join(out), f"gzip stream is corrupt: {exc}"
    if not d.eof:
        return b"".join(out), "gzip stream is truncated (the object ended before the gzip trailer)"
    return b"".join(out), None


def convert_object(storage: Storage, key: str, *, table: str = TABLE_NAME) -> ConvertResult:
    """Convert one raw object; idempotent: the same object converted twice writes identical objects."""
    result = ConvertResult(source=key)
    data = storage.get(key)
    result.bytes_in = len(data)
    if not data:
        result.skipped = "empty object"
        return result
    entries: list[dict[str, Any]] = []
    if data[:2] != b"\x1f\x8b":
        reason = "object is not gzip; raw/ holds gzip NDJSON written by Firehose"
        entries.append(quarantine.entry(STAGE, reason, data, source=key))
        result.rows_quarantined += 1
        text = b""
    else:
        text, problem = _gunzip_lenient(data)
        if problem:  # an object-level note; the rows it still yielded are converted below
            entries.append(quarantine.entry(STAGE, problem, b"", source=key, decompressed_bytes=len(text)))
            # A truncated stream can end mid-line: the partial last line is quarantined below as invalid JSON.
    by_partition: dict[Partition, list[dict[str, Any]]] = defaultdict(list)
    for number, line in enumerate(text.split(b"\n"), start=1):
        if not line.strip():
            continue
        result.rows_in += 1
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            entries.append(quarantine.entry(STAGE, f"line is not valid JSON: {exc}", line, source=key, line=number))
            result.rows_quarantined += 1
            continue
        marker = obj.get(quarantine.MARKER) if isinstance(obj, dict) else None
        if isinstance(marker, dict):  # quarantined upstream by the transformer, already scrubbed
            entries.append({**marker, "source": key, "line": number})
            result.rows_quarantined += 1
            continue
        try:
            rec = normalize(obj)
        except RecordError as exc:
            entries.append(quarantine.entry(STAGE, str(exc), line, source=key, line=number))
            result.rows_quarantined += 1
            continue
        by_partition[partition_for(rec["service_name"], rec["timestamp"], table)].append(rec)

    stem = output_stem(key)
    for partition, records in sorted(by_partition.items()):
        body = table_to_parquet(records_to_table(records))
        out_key = f"{partition.prefix}part-{stem}.parquet"
        storage.put(out_key, body)
        result.outputs.append(out_key)
        result.rows_written += len(records)
        result.bytes_out += len(body)
    if entries:
        result.quarantine_key = quarantine.object_key(STAGE, key)
        storage.put(result.quarantine_key, b"".join(orjson.dumps(e) + b"\n" for e in entries))
    return result


@dataclass
class BatchOutcome:
    failed_items: list[str] = field(default_factory=list)
    results: list[ConvertResult] = field(default_factory=list)
    ignored_keys: int = 0

    def counters(self) -> dict[str, int]:
        return {
            "ObjectsConverted": sum(1 for r in self.results if not r.skipped),
            "ObjectsSkipped": sum(1 for r in self.results if r.skipped) + self.ignored_keys,
            "RowsIn": sum(r.rows_in for r in self.results),
            "RowsWritten": sum(r.rows_written for r in self.results),
            "RowsQuarantined": sum(r.rows_quarantined for r in self.results),
            "BytesIn": sum(r.bytes_in for r in self.results),
            "BytesOut": sum(r.bytes_out for r in self.results),
            "FailedItems": len(self.failed_items),
        }


def convert_batch(storage: Storage, items: list[BatchItem], *, table: str = TABLE_NAME) -> BatchOutcome:
    """Convert every raw object of a batch; an item fails alone (partial batch response) and a direct
    (non-SQS) event re-raises so that Lambda retries it."""
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
                outcome.results.append(convert_object(storage, obj.key, table=table))
        except Exception:
            logger.exception("converting item %s failed", item.item_id)
            if item.item_id is None:
                raise
            outcome.failed_items.append(item.item_id)
    return outcome
