"""Quarantine: where events that cannot become records go, with their raw content and a readable reason.

The transformer cannot write to S3 without a side channel, so it passes each quarantined event downstream
as a marker line ``{"_loglake_quarantine": {...}}`` in its NDJSON output; the converter routes marker lines
and the lines it rejects itself to ``quarantine/<stage>/…`` objects named after their source object, so a
redelivered source rewrites the same quarantine object. Raw content is scrubbed before it is written: the
transformer scrubs every value of an event that failed validation (any field may hold anything) and passes
undecodable bytes through the same pattern rules (e-mails, cards, tokens, keys anywhere in the text), and it
scrubs the reason too, since a reason may quote a value.

The quarantine prefix keeps its objects for :data:`RETENTION_DAYS` only (a lifecycle rule of its own,
shorter than the tables'): long enough to fix a client and replay, short enough not to become a store.
"""

from __future__ import annotations

from typing import Any, Final

QUARANTINE_PREFIX: Final = "quarantine/"
MARKER: Final = "_loglake_quarantine"
#: Days the lifecycle rule keeps objects under :data:`QUARANTINE_PREFIX` (the tables keep theirs 7 years).
RETENTION_DAYS: Final = 30
#: Raw content kept per quarantined event; longer content is cut (and says so).
MAX_RAW_CHARS: Final = 64 * 1024


def entry(stage: str, reason: str, raw: bytes | str, **context: Any) -> dict[str, Any]:
    """One quarantine entry. ``raw`` must already be scrubbed by the caller when it can hold PII."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + f"…[cut from {len(text)} characters]"
    return {"stage": stage, "reason": reason, "raw": text, **context}


def object_key(stage: str, source_key: str) -> str:
    """``quarantine/<stage>/<source key without its top folder>.ndjson`` — stable for one source."""
    tail = source_key.split("/", 1)[1] if "/" in source_key else source_key
    return f"{QUARANTINE_PREFIX}{stage}/{tail}.ndjson"
