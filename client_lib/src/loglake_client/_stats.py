"""Delivery counters: a mutable set kept by the logger, and the read-only snapshot it hands out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

_NAMES = (
    "queued",
    "sent",
    "retried",
    "failed",
    "dropped",
    "spooled",
    "replayed",
    "spool_evicted",
    "truncated",
    "oversize",
    "api_calls",
    "records",
    "billed_bytes",
    "payload_bytes",
)


@dataclass(frozen=True, slots=True)
class Stats(Mapping[str, int]):
    """A snapshot of a logger's counters: attributes (``stats.sent``) or a mapping (``stats["sent"]``).

    Attributes
    ----------
    queued:
        Events accepted into the queue by ``log()`` and friends.
    sent:
        Queued events Firehose accepted.
    retried:
        Events sent again after a throttled, failed or timed-out attempt (once per resend).
    failed:
        Queued events given up on after the retry budget (or on an error that retrying cannot fix) and not
        spooled.
    dropped:
        Events never queued: queue full, logger closed, or too large even after cutting (see ``oversize``).
    spooled:
        Queued events written to the spool directory instead of being sent.
    replayed:
        Events read back from the spool (this or an earlier process's) that Firehose accepted.
    spool_evicted:
        Spooled events deleted unsent to keep the spool directory within its size bound.
    truncated:
        Events whose fields were cut to the documented limits so that they fit in a record.
    oversize:
        Events rejected because they did not fit in a record even after cutting (also counted in ``dropped``).
    api_calls:
        PutRecordBatch calls attempted.
    records:
        Firehose records accepted (each holds one or more events).
    billed_bytes:
        Firehose ingestion bytes billed for the accepted records (each rounded up to 5 KB).
    payload_bytes:
        Bytes of the accepted records themselves; ``billed_bytes / payload_bytes`` is the billing overhead.

    Once everything queued has been dealt with (after ``flush()`` or ``close()``),
    ``queued == sent + failed + spooled``.

    Examples
    --------
    >>> s = Stats(queued=3, sent=3)
    >>> s.sent, s["queued"], s.as_dict()["failed"]
    (3, 3, 0)
    """

    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    spooled: int = 0
    replayed: int = 0
    spool_evicted: int = 0
    truncated: int = 0
    oversize: int = 0
    api_calls: int = 0
    records: int = 0
    billed_bytes: int = 0
    payload_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain ``dict``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, key: str) -> int:
        if key not in _NAMES:
            raise KeyError(key)
        return int(getattr(self, key))

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)


class Counters:
    """The live, mutable counters (no locking: each is written by one thread or under the queue lock)."""

    __slots__ = _NAMES

    def __init__(self) -> None:
        self.queued = 0
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.dropped = 0
        self.spooled = 0
        self.replayed = 0
        self.spool_evicted = 0
        self.truncated = 0
        self.oversize = 0
        self.api_calls = 0
        self.records = 0
        self.billed_bytes = 0
        self.payload_bytes = 0

    def snapshot(self) -> Stats:
        values: dict[str, Any] = {name: getattr(self, name) for name in _NAMES}
        return Stats(**values)
