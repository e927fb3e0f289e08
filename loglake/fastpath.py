"""The transformer's hot path: the seven values sampling and the RED metrics read, validated by the schema.

Sampling and metrics read ``service_name``, ``timestamp``, ``status_code``, ``latency_ms``, ``request_id``,
``path`` and ``ip_address``. :func:`essentials` returns them validated exactly as
:func:`loglake.schema.normalize` validates those fields — for the common canonical form (``200`` not
``"200"``, ``2026-11-22T10:00:00.123Z``, strings within their limits) by a few type checks, otherwise by
calling ``normalize`` on just those fields, so the schema stays the only authority. The other fields are
validated by ``normalize`` when an event is kept: an event that sampling drops is never stored, so it is
never checked for storage either (and never scrubbed); an event that is kept but fails validation is
quarantined. ``tests/unit/test_fastpath.py`` holds the fast checks to agreeing with the schema.

Example
-------
>>> essentials({"timestamp": "2026-11-22T10:00:00.123Z", "service_name": "shop", "status_code": 200}, None, "web")
('shop', 1795341600123, 200, None, None, None, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from loglake.errors import RecordError
from loglake.schema import FIELDS_BY_NAME, normalize, parse_timestamp, validate_service_name

Essentials = tuple[str, int, int | None, float | None, str | None, str | None, str | None]

#: The fields sampling and the RED metrics read, in the order :func:`essentials` returns them.
ESSENTIAL_FIELDS: Final = ("service_name", "timestamp", "status_code", "latency_ms", "request_id", "path", "ip_address")
_MAX_REQUEST_ID: Final = FIELDS_BY_NAME["request_id"].max_length or 0
_MAX_PATH: Final = FIELDS_BY_NAME["path"].max_length or 0
_MAX_IP: Final = FIELDS_BY_NAME["ip_address"].max_length or 0
_MAX_SERVICE: Final = FIELDS_BY_NAME["service_name"].max_length or 0
_MIN_STATUS: Final = FIELDS_BY_NAME["status_code"].minimum or 0
_MAX_STATUS: Final = FIELDS_BY_NAME["status_code"].maximum or 999
_MIN_LATENCY: Final = FIELDS_BY_NAME["latency_ms"].minimum or 0.0
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


def _by_schema(event: Mapping[str, Any], arrival_ms: int | None, default_service: str | None) -> Essentials:
    rec = normalize(
        {k: event[k] for k in ESSENTIAL_FIELDS if k in event}, arrival_ms=arrival_ms, default_service=default_service
    )
    return (
        rec["service_name"],
        rec["timestamp"],
        rec.get("status_code"),
        rec.get("latency_ms"),
        rec.get("request_id"),
        rec.get("path"),
        rec.get("ip_address"),
    )


def essentials(event: Mapping[str, Any], arrival_ms: int | None, default_service: str | None) -> Essentials:
    """``(service, timestamp_ms, status, latency, request_id, path, ip)``, validated by the schema's rules.

    Raises
    ------
    RecordError
        When one of these fields is invalid, with the schema's reason (``status_code 'abc' is not an integer``).
    """
    get = event.get
    status = get("status_code")
    latency = get("latency_ms")
    request_id = get("request_id")
    path = get("path")
    ip = get("ip_address")
    if status is not None and (type(status) is not int or not _MIN_STATUS <= status <= _MAX_STATUS):
        return _by_schema(event, arrival_ms, default_service)
    if latency is not None:
        vtype = type(latency)
        if vtype is int and latency >= _MIN_LATENCY:
            latency = float(latency)
        elif vtype is not float or not (latency >= _MIN_LATENCY and latency - latency == 0.0):  # NaN, ±inf
            return _by_schema(event, arrival_ms, default_service)
    if (
        (request_id is not None and (type(request_id) is not str or len(request_id) > _MAX_REQUEST_ID))
        or (path is not None and (type(path) is not str or len(path) > _MAX_PATH))
        or (ip is not None and (type(ip) is not str or len(ip) > _MAX_IP))
    ):
        return _by_schema(event, arrival_ms, default_service)
    raw_ts = get("timestamp")
    if raw_ts is None:
        if type(arrival_ms) is not int or not _MIN_MS <= arrival_ms < _MAX_MS:
            return _by_schema(event, arrival_ms, default_service)
        ts = arrival_ms
    else:
        parsed = _timestamp_ms(raw_ts)
        if parsed is None:
            return _by_schema(event, arrival_ms, default_service)
        ts = parsed
    service = get("service_name")
    if service is None or service == "":
        service = default_service
    if type(service) is not str or len(service) > _MAX_SERVICE:
        return _by_schema(event, arrival_ms, default_service)
    if service not in _valid_services:
        validate_service_name(service)
        if len(_valid_services) > 4096:
            _valid_services.clear()
        _valid_services.add(service)
    return service, ts, status, latency, request_id, path, ip


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
