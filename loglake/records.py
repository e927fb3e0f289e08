"""Decoding inputs into events (plain dicts, not yet validated).

One Firehose record's bytes can hold:

- one JSON object, or NDJSON (many objects, one per line — the client packs events this way so that
  Firehose's 5 KB billing increment is not wasted), or a JSON array of objects;
- Apache/Nginx *combined* log lines (``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"``), or the
  *common* format without the last two fields;
- a gzip CloudWatch Logs subscription payload (``DATA_MESSAGE`` with ``logEvents``, each message parsed as
  JSON or a combined line; ``CONTROL_MESSAGE`` is counted and skipped).

Decoding never raises on bad input: what cannot be decoded is returned as a failure with its raw bytes and a
reason, and its valid neighbours are returned as events.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import orjson

from loglake.errors import RecordError

#: Decompressed size above which a gzip payload is refused (CloudWatch Logs sends at most 1 MB compressed).
MAX_DECOMPRESSED_BYTES: Final = 64 * 1024 * 1024

_COMBINED_RE: Final = re.compile(
    rb'(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
    rb"(?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    rb'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"?)?\s*$'
)
_MONTHS: Final = {
    m: i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)
}


@dataclass(slots=True)
class Decoded:
    """What one input record decoded into."""

    events: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)  # event, its raw bytes
    failures: list[tuple[bytes, str]] = field(default_factory=list)  # raw bytes, reason
    control_messages: int = 0


def parse_clf_time(text: str) -> int:
    """``17/May/2015:10:05:03 +0000`` → epoch ms, UTC."""
    try:
        day, mon, rest = text.split("/", 2)
        year, hh, mm, ss_zone = rest.split(":", 3)
        ss, zone = ss_zone.split(" ")
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        dt = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset))
    except (ValueError, KeyError, IndexError):
        raise RecordError(f"time {text[:40]!r} is not in the log format '17/May/2015:10:05:03 +0000'") from None
    return int(dt.astimezone(UTC).timestamp() * 1000)


def parse_combined(line: bytes) -> dict[str, Any]:
    """Parse one combined/common log line into an event; raises RecordError if it is not one."""
    m = _COMBINED_RE.match(line)
    if m is None:
        raise RecordError("line is neither a JSON object nor an Apache/Nginx combined log line")
    g = {k: (v.decode("utf-8", "replace") if v is not None else None) for k, v in m.groupdict().items()}
    event: dict[str, Any] = {
        # Log lines carry no request id; one derived from the line keeps sampling stable across retries.
        "request_id": hashlib.sha256(line).hexdigest()[:32],
        "timestamp": parse_clf_time(g["time"]),
        "ip_address": g["ip"],
    }
    parts = g["request"].split(" ")
    if len(parts) >= 2:
        event["method"] = parts[0]
        target = " ".join(parts[1:-1]) if len(parts) >= 3 else parts[1]
        path, _, query = target.partition("?")
        event["path"] = path
        if query:
            event["query_params"] = query
    elif g["request"] not in ("", "-"):
        event["path"] = g["request"]
    if g["status"] != "-":
        event["status_code"] = int(g["status"])
    if g["bytes"] != "-":
        event["bytes_sent"] = int(g["bytes"])
    if g["user"] not in (None, "-"):
        event["user_id"] = g["user"]
    if g["referer"] not in (None, "-", ""):
        event["referer"] = g["referer"]
    if g["agent"] not in (None, "-", ""):
        event["user_agent"] = g["agent"]
    return event


def _decode_line(line: bytes, out: Decoded, defaults: dict[str, Any] | None = None) -> None:
    try:
        if line[:1] in (b"{", b"["):
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                out.failures.append((line, f"invalid JSON: {exc}"))
                return
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    if defaults:
                        for k, v in defaults.items():
                            item.setdefault(k, v)
                    out.events.append((item, line))
                else:
                    out.failures.append((line, f"an event must be a JSON object, got {type(item).__name__}"))
            return
        event = parse_combined(line)
    except RecordError as exc:
        out.failures.append((line, str(exc)))
        return
    if defaults:
        for k, v in defaults.items():
            event.setdefault(k, v)
    out.events.append((event, line))


def _decode_cloudwatch(payload: dict[str, Any], out: Decoded) -> None:
    kind = payload.get("messageType")
    if kind == "CONTROL_MESSAGE":
        out.control_messages += 1
        return
    events = payload.get("logEvents")
    if kind != "DATA_MESSAGE" or not isinstance(events, list):
        out.failures.append(
            (orjson.dumps(payload)[:4096], f"CloudWatch Logs payload of type {kind!r} has no logEvents")
        )
        return
    for log_event in events:
        message = log_event.get("message") if isinstance(log_event, dict) else None
        if not isinstance(message, str):
            out.failures.append((orjson.dumps(log_event), "CloudWatch Logs event has no message text"))
            continue
        defaults = {"timestamp": log_event.get("timestamp")} if log_event.get("timestamp") is not None else None
        _decode_line(message.strip().encode(), out, defaults)


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(wbits=31)
    out = d.decompress(data, MAX_DECOMPRESSED_BYTES)
    if d.unconsumed_tail:
        raise RecordError(f"gzip payload expands beyond {MAX_DECOMPRESSED_BYTES} bytes")
    return out


def decode_record(data: bytes) -> Decoded:
    """Decode one input record's bytes into events and failures; never raises on bad input."""
    out = Decoded()
    if data[:2] == b"\x1f\x8b":
        try:
            data = _gunzip(data)
        except (zlib.error, EOFError, gzip.BadGzipFile, RecordError) as exc:
            out.failures.append((data, f"gzip payload cannot be decompressed: {exc}"))
            return out
        if data[:1] == b"{" and b'"messageType"' in data[:200]:
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                out.failures.append((data, f"CloudWatch Logs payload is not JSON: {exc}"))
                return out
            if isinstance(payload, dict):
                _decode_cloudwatch(payload, out)
                return out
    for line in data.split(b"\n"):
        line = line.strip()
        if line:
            _decode_line(line, out)
    return out
