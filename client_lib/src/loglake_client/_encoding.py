"""Turning events into NDJSON lines: safe JSON encoding, timestamps, and cutting oversized events.

Everything here runs in the caller's thread, so the common case is one ``json.dumps`` call; the slow,
defensive paths run only when that call fails.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import math
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final

#: Appended to a value that was cut to fit a field limit (the same marker the pipeline uses).
TRUNCATION_MARKER: Final = "…[truncated]"

#: Character limits of the access-log schema's text fields (``loglake.schema``). An event too large for one
#: Firehose record is cut to these limits before it is given up on; the pipeline enforces the same limits.
FIELD_LIMITS: Final[Mapping[str, int]] = {
    "request_id": 128,
    "service_name": 64,
    "method": 16,
    "path": 2048,
    "query_params": 4096,
    "user_id": 128,
    "ip_address": 45,
    "user_agent": 1024,
    "referer": 2048,
    "trace_id": 256,
    "level": 16,
}
#: Limit for any other field of an oversized event (the pipeline keeps such fields in ``extra``, itself cut at
#: 16,384 characters).
OTHER_FIELD_LIMIT: Final = 16_384

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _default(obj: Any) -> Any:
    """JSON form of the types ``json`` does not know; never raises."""
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        # Text keeps every digit; the pipeline coerces numeric text losslessly.
        return str(obj) if obj.is_finite() else None
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        raw = bytes(obj)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode("ascii")
    if isinstance(obj, set | frozenset):
        items = list(obj)
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple | list):
        return list(obj)
    return _text(obj)


_dumps_with_default = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
).encode


def _text(obj: Any) -> str:
    for fn in (str, repr):
        try:
            out = fn(obj)
            if isinstance(out, str):
                return out
        except Exception:  # a broken __str__ must not lose the event
            continue
    return f"<unrepresentable {type(obj).__name__}>"


def _sanitize(obj: Any, seen: set[int]) -> Any:
    """A tree of plain JSON values equivalent to ``obj``: cycles cut, keys as text, non-finite floats null."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if id(obj) in seen:
        return "<circular reference>"
    if isinstance(obj, dict):
        seen.add(id(obj))
        try:
            return {_key(k): _sanitize(v, seen) for k, v in list(obj.items())}
        finally:
            seen.discard(id(obj))
    if isinstance(obj, list | tuple):
        seen.add(id(obj))
        try:
            return [_sanitize(v, seen) for v in list(obj)]
        finally:
            seen.discard(id(obj))
    try:
        converted = _default(obj)
    except Exception:
        return f"<unrepresentable {type(obj).__name__}>"
    if converted is obj or isinstance(converted, str):
        return converted
    seen.add(id(obj))
    try:
        return _sanitize(converted, seen)
    finally:
        seen.discard(id(obj))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return _text(key)


def _fix_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.encode("utf-8", "replace").decode("utf-8")
    if isinstance(obj, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fix_surrogates(v) for v in obj]
    return obj


def encode_line(event: Mapping[str, Any]) -> bytes:
    """Encode one event as a compact JSON object followed by ``\\n``; never raises.

    Datetimes, dates and times become ISO-8601 text, Decimals exact numeric text, UUIDs text, bytes
    UTF-8 text (or ``base64:…``), sets lists, enums their value, and unknown objects ``str(obj)``. NaN
    and infinities become ``null``, lone surrogates ``?``, cycles ``"<circular reference>"``.

    Examples
    --------
    >>> import datetime, decimal
    >>> encode_line({"at": datetime.date(2026, 11, 22), "price": decimal.Decimal("9.90"), "tags": {"b", "a"}})
    b'{"at":"2026-11-22","price":"9.90","tags":["a","b"]}\\n'
    """
    try:
        return (_dumps_with_default(event) + "\n").encode("utf-8")
    except Exception:  # cycles, odd keys, NaN, lone surrogates, broken objects: take the careful path
        pass
    clean = _sanitize(dict(event) if not isinstance(event, dict) else event, set())
    try:
        return (_dumps(clean) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (_dumps(_fix_surrogates(clean)) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- timestamps

_prefix_cache: tuple[int, str] = (-1, "")


def utc_timestamp(now: float | None = None) -> str:
    """``now`` (epoch seconds, default the current time) as ``2026-11-22T10:00:00.123Z``.

    The date-and-seconds prefix is cached for the current second, so the request path pays for one
    ``time.time()`` and one small f-string.

    Examples
    --------
    >>> utc_timestamp(1795341600.5)
    '2026-11-22T10:00:00.500Z'
    """
    global _prefix_cache
    t = time.time() if now is None else now
    sec = int(t)
    cached_sec, prefix = _prefix_cache
    if sec != cached_sec:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _prefix_cache = (sec, prefix)
    return f"{prefix}.{int((t - sec) * 1000):03d}Z"


# --------------------------------------------------------------------------- oversized events


def _cut_text(text: str, limit: int) -> str:
    return text[: max(limit - len(TRUNCATION_MARKER), 0)] + TRUNCATION_MARKER


def shrink(event: Mapping[str, Any], max_bytes: int) -> tuple[bytes | None, list[str]]:
    """Cut an event's fields to their documented limits so that its line fits in ``max_bytes``.

    Schema fields are cut to :data:`FIELD_LIMITS`; any other field whose text (or JSON text, for nested
    values) is longer than :data:`OTHER_FIELD_LIMIT` is replaced by that text cut to the limit and marked with
    :data:`TRUNCATION_MARKER`. Returns the new line and the names of the fields cut, or ``None`` when even the
    cut event does not fit (it then has too many large fields to be a log event).

    Examples
    --------
    >>> line, cut = shrink({"path": "/" + "a" * 5000, "status_code": 200}, 4000)
    >>> cut, len(line) < 4000
    (['path'], True)
    """
    out: dict[str, Any] = {}
    cut: list[str] = []
    for key, value in event.items():
        name = _key(key)
        limit = FIELD_LIMITS.get(name, OTHER_FIELD_LIMIT)
        if isinstance(value, str):
            if len(value) > limit:
                value = _cut_text(value, limit)
                cut.append(name)
        elif not (value is None or isinstance(value, bool | int | float)):
            text = encode_line({"v": value})[5:-2].decode("utf-8")  # the value's JSON text
            if len(text) > limit:
                value = _cut_text(text, limit)
                cut.append(name)
        out[name] = value
    line = encode_line(out)
    return (line if len(line) <= max_bytes else None), cut
