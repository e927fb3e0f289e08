"""The transformer's hot path: read what sampling and metrics need without building a record.

Most events arrive already in the schema's canonical form (strings within their limits, integers as
integers, ``timestamp`` as ``2026-11-22T10:00:00.123Z``). For those, :func:`essentials` checks every schema
field exactly as :func:`loglake.schema.normalize` would and returns the seven values the sampler and the
RED metrics read — without copying the event or serialising its ``extra``. An event that is not canonical
(a value to coerce, a string to cut, a missing field to fill from elsewhere than the record's arrival time)
returns ``None``, and the caller falls back to ``normalize`` itself, which stays the only authority on
validity. The property test ``tests/unit/test_fastpath.py`` holds the two to agreeing on every input.

Example
-------
>>> essentials({"timestamp": "2026-11-22T10:00:00.123Z", "service_name": "shop", "status_code": 200}, None, "web")
('shop', 1795341600123, 200, None, None, None, None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from loglake.errors import RecordError
from loglake.schema import DOUBLE, FIELDS, INT32, INT64, STRING, TIMESTAMP, parse_timestamp, validate_service_name

Essentials = tuple[str, int, int | None, float | None, str | None, str | None, str | None]

_STRING, _INT, _DOUBLE, _TIMESTAMP, _SKIP = range(5)
_SPECS: Final[dict[str, tuple[int, float, float]]] = {}
for _f in FIELDS:
    if _f.name == "extra":
        _SPECS[_f.name] = (_SKIP, 0, 0)
    elif _f.type == STRING:
        _SPECS[_f.name] = (_STRING, _f.max_length or math.inf, 0)
    elif _f.type in (INT32, INT64):
        _SPECS[_f.name] = (
            _INT,
            -math.inf if _f.minimum is None else _f.minimum,
            math.inf if _f.maximum is None else _f.maximum,
        )
    elif _f.type == DOUBLE:
        _SPECS[_f.name] = (
            _DOUBLE,
            -math.inf if _f.minimum is None else _f.minimum,
            math.inf if _f.maximum is None else _f.maximum,
        )
    elif _f.type == TIMESTAMP:
        _SPECS[_f.name] = (_TIMESTAMP, 0, 0)

_MIN_MS: Final = 946_684_800_000
_MAX_MS: Final = 4_102_444_800_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_day_text: dict[int, str] = {}
_valid_services: set[str] = set()


#: ``YYYY-MM-DDTHH:MM:`` → epoch ms of that minute; events of a batch share a few minutes.
_minute_ms: dict[str, int] = {}


def _timestamp_ms(value: Any) -> int | None:
    """What :func:`~loglake.schema.parse_timestamp` returns for ``value``, or None where it would refuse."""
    if type(value) is str and len(value) == 24 and value[19] == "." and value[23] == "Z":
        base = _minute_ms.get(value[:17])
        if base is not None:
            rest = value[17:19] + value[20:23]
            if rest.isdigit() and rest.isascii() and rest < "60":
                return base + int(rest)
    try:
        ms = parse_timestamp(value)
    except RecordError:
        return None
    if type(value) is str and len(value) == 24 and value[19] == "." and value[23] == "Z" and value.isascii():
        if len(_minute_ms) > 4096:
            _minute_ms.clear()
        _minute_ms[value[:17]] = ms - int(value[17:19] + value[20:23])
    return ms


def essentials(event: Mapping[str, Any], arrival_ms: int | None, default_service: str | None) -> Essentials | None:
    """``(service, timestamp_ms, status, latency, request_id, path, ip)`` of a canonical event, else None.

    None means "ask :func:`~loglake.schema.normalize`": it may coerce, cut, fill or refuse the event.
    """
    specs = _SPECS
    for key, value in event.items():
        spec = specs.get(key)
        if spec is None or value is None:
            continue
        kind = spec[0]
        if kind == _STRING:
            if type(value) is not str or len(value) > spec[1]:
                return None
        elif kind == _INT:
            if type(value) is not int or not spec[1] <= value <= spec[2]:
                return None
        elif kind == _DOUBLE:
            vtype = type(value)
            if vtype is float:
                if not (spec[1] <= value <= spec[2] and value - value == 0.0):  # NaN and ±inf fail
                    return None
            elif vtype is not int or not spec[1] <= value <= spec[2]:
                return None
    get = event.get
    raw_ts = get("timestamp")
    if raw_ts is None:
        if type(arrival_ms) is not int or not _MIN_MS <= arrival_ms < _MAX_MS:
            return None
        ts = arrival_ms
    else:
        parsed = _timestamp_ms(raw_ts)
        if parsed is None:
            return None
        ts = parsed
    service = get("service_name") or default_service
    if not service:
        return None
    if service not in _valid_services:
        try:
            validate_service_name(service)
        except RecordError:
            return None
        if len(_valid_services) > 4096:
            _valid_services.clear()
        _valid_services.add(service)
    latency = get("latency_ms")
    return (
        service,
        ts,
        get("status_code"),
        None if latency is None else float(latency),
        get("request_id"),
        get("path"),
        get("ip_address"),
    )


def format_ms(ms: int) -> str:
    """Epoch ms → ``2026-11-22T10:00:00.123Z``; the same text as :func:`loglake.schema.format_timestamp`.

    Example
    -------
    >>> format_ms(1795341600123)
    '2026-11-22T10:00:00.123Z'
    """
    days, rest = divmod(ms, 86_400_000)
    head = _day_text.get(days)
    if head is None:
        head = date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
        if len(_day_text) > 4096:
            _day_text.clear()
        _day_text[days] = head
    seconds, millis = divmod(rest, 1000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{head}T{h:02d}:{m:02d}:{s:02d}.{millis:03d}Z"
