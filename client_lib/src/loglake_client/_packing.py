"""Packing encoded events into Firehose records, and records into PutRecordBatch calls.

Firehose bills ingestion per record rounded up to 5 KB, so small events sent one per record cost several
times their size. Events are packed as NDJSON lines into records of up to ``max_record_bytes``; a record holds
events of one ``service_name`` only (the pipeline routes records by service) and an event is never split.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: PutRecordBatch limits (Amazon Data Firehose API reference).
MAX_RECORDS_PER_CALL: Final = 500
MAX_BYTES_PER_CALL: Final = 4 * 1024 * 1024
MAX_RECORD_BYTES: Final = 1000 * 1024
#: Firehose rounds each record up to a multiple of this for ingestion billing.
BILLING_INCREMENT: Final = 5 * 1024


@dataclass(slots=True)
class Record:
    """One Firehose record: NDJSON lines of events of one service.

    ``events`` is the number of lines, kept so that counters never have to re-scan the bytes.
    """

    data: bytes
    events: int


def billed_bytes(size: int) -> int:
    """Bytes Firehose bills for a record of ``size`` bytes (rounded up to 5 KB).

    Examples
    --------
    >>> billed_bytes(1), billed_bytes(5120), billed_bytes(5121)
    (5120, 5120, 10240)
    """
    return -(-size // BILLING_INCREMENT) * BILLING_INCREMENT


def pack_records(
    lines: Iterable[tuple[Hashable, bytes]],
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    aggregate: bool = True,
) -> list[Record]:
    """Pack ``(service, line)`` pairs into records.

    With ``aggregate`` each service's lines fill records of up to ``max_record_bytes`` in arrival order, so a
    batch costs at most one partly filled record per service; without it each line is its own record. Every
    line must already fit in a record (the logger cuts or rejects larger events before they are queued).

    Examples
    --------
    >>> recs = pack_records([("a", b'{"x":1}\\n'), ("b", b'{"y":2}\\n'), ("a", b'{"x":3}\\n')])
    >>> [(r.data, r.events) for r in recs]
    [(b'{"x":1}\\n{"x":3}\\n', 2), (b'{"y":2}\\n', 1)]
    """
    if not aggregate:
        return [Record(line, 1) for _, line in lines]
    records: list[Record] = []
    # Per service: the open record's parts, its size and its index in ``records`` (keeps first-seen order).
    open_parts: dict[Hashable, list[bytes]] = {}
    open_size: dict[Hashable, int] = {}
    open_slot: dict[Hashable, int] = {}
    for service, line in lines:
        parts = open_parts.get(service)
        if parts is not None and open_size[service] + len(line) > max_record_bytes:
            records[open_slot[service]] = Record(b"".join(parts), len(parts))
            parts = None
        if parts is None:
            parts = open_parts[service] = []
            open_size[service] = 0
            open_slot[service] = len(records)
            records.append(Record(b"", 0))  # placeholder, filled when the record closes
        parts.append(line)
        open_size[service] += len(line)
    for service, parts in open_parts.items():
        records[open_slot[service]] = Record(b"".join(parts), len(parts))
    return records


def split_calls(
    records: Sequence[Record],
    *,
    max_records: int = MAX_RECORDS_PER_CALL,
    max_bytes: int = MAX_BYTES_PER_CALL,
) -> list[list[Record]]:
    """Group records, in order, into calls within PutRecordBatch's record-count and size limits.

    Examples
    --------
    >>> calls = split_calls([Record(b"x" * 6, 1)] * 5, max_records=2, max_bytes=100)
    >>> [len(c) for c in calls]
    [2, 2, 1]
    """
    calls: list[list[Record]] = []
    current: list[Record] = []
    size = 0
    for rec in records:
        n = len(rec.data)
        if current and (len(current) >= max_records or size + n > max_bytes):
            calls.append(current)
            current, size = [], 0
        current.append(rec)
        size += n
    if current:
        calls.append(current)
    return calls
