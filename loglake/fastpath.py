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

import re
import sys
from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any, Final

import msgspec
import orjson

from loglake.errors import RecordError
from loglake.schema import (
    FIELDS_BY_NAME,
    PIPELINE_NOTE_KEY,
    extra_of,
    normalize,
    parse_timestamp,
    validate_service_name,
)
from loglake.scrub import Scrubber

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
_MAX_LINE_LATENCY: Final = 1e15
_MIN_MS: Final = 946_684_800_000
_MAX_MS: Final = 4_102_444_800_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_day_text: dict[int, str] = {}
_valid_services: set[str] = set()
#: ``YYYY-MM-DDTHH:MM:SS.`` → epoch ms of that second; the events of a batch share a few hundred seconds.
_second_ms: dict[str, int] = {}
#: ``dddZ`` → ddd: the tail of a canonical timestamp (three ASCII digits and ``Z``) in one lookup.
_MILLIS_Z: Final = {f"{i:03d}Z": i for i in range(1000)}
_CANONICAL_TS: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


class LineEssentials(msgspec.Struct, gc=False):
    """The seven fields of an NDJSON line, typed, as :data:`decode_essentials` reads them; the others are skipped.

    The types and bounds are the canonical form the transformer's inline checks accept (``status_code`` an
    integer within the schema's range, ``latency_ms`` a finite number ≥ 0 — an integer becomes its float, as
    :func:`essentials` makes it —, strings within their limits); ``timestamp`` and ``service_name`` are
    required, their canonical form checked by the caller. A line that does not decode so raises
    ``msgspec.DecodeError`` (``ValidationError`` is one): the caller then takes the general path.
    Latencies are bounded well below 2**64 so that no integer read differently by the standard library
    (``loads_lenient`` keeps integers beyond 64 bits as text) reaches here.
    """

    timestamp: str
    service_name: str
    status_code: Annotated[int, msgspec.Meta(ge=_MIN_STATUS, le=_MAX_STATUS)] | None = None
    latency_ms: Annotated[float, msgspec.Meta(ge=_MIN_LATENCY, le=_MAX_LINE_LATENCY)] | None = None
    request_id: Annotated[str, msgspec.Meta(max_length=_MAX_REQUEST_ID)] | None = None
    path: Annotated[str, msgspec.Meta(max_length=_MAX_PATH)] | None = None
    ip_address: Annotated[str, msgspec.Meta(max_length=_MAX_IP)] | None = None


#: NDJSON line → :class:`LineEssentials`, the fields outside the seven skipped (not built).
decode_essentials: Final = msgspec.json.Decoder(LineEssentials).decode


def _timestamp_ms(value: Any) -> int | None:
    """What :func:`~loglake.schema.parse_timestamp` returns for ``value``, or None where it would refuse.

    A canonical ``2026-11-22T10:00:00.123Z`` whose second was parsed before costs two lookups: every
    string with the same first 20 characters and a ``dddZ`` tail is that second plus ``ddd`` ms.
    """
    if type(value) is str:
        base = _second_ms.get(value[:20])
        if base is not None:
            millis = _MILLIS_Z.get(value[20:])
            if millis is not None:
                return base + millis
    try:
        ms = parse_timestamp(value)
    except RecordError:
        return None
    if type(value) is str and _CANONICAL_TS.fullmatch(value):
        if len(_second_ms) > 4096:
            _second_ms.clear()
        _second_ms[value[:20]] = ms - _MILLIS_Z[value[20:]]
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
        _remember_service(service)
    return service, ts, status, latency, request_id, path, ip


def _remember_service(name: str) -> None:
    if len(_valid_services) > 4096:
        _valid_services.clear()
    _valid_services.add(name)


def _known_service(name: str) -> bool:
    """Is ``name`` a valid service name (remembered when it is)?"""
    try:
        validate_service_name(name)
    except RecordError:
        return False
    _remember_service(name)
    return True


def format_ms(ms: int) -> str:
    """Epoch ms → ``2026-11-22T10:00:00.123Z``; the same text as :func:`loglake.schema.format_timestamp`.

    Example
    -------
    >>> format_ms(1795341600123)
    '2026-11-22T10:00:00.123Z'
    """
    seconds, millis = divmod(ms, 1000)
    head = _second_text.get(seconds)
    if head is None:
        days, rest = divmod(seconds, 86_400)
        minutes, s = divmod(rest, 60)
        h, m = divmod(minutes, 60)
        head = f"{date.fromordinal(days + _EPOCH_ORDINAL).isoformat()}T{h:02d}:{m:02d}:{s:02d}."
        if len(_second_text) > 4096:
            _second_text.clear()
        _second_text[seconds] = head
    return head + _MILLIS_TEXT[millis]


_MILLIS_TEXT: Final = tuple(f"{i:03d}Z" for i in range(1000))
#: Epoch second → ``YYYY-MM-DDTHH:MM:SS.``.
_second_text: dict[int, str] = {}

# --------------------------------------------------------------------------- kept rows

#: How :func:`row_builder` treats each schema field: text scrubbed through a memo, ids (scrubbed only when
#: they hold an e-mail address), the timestamp, the service, numbers within a range, user ids, IPs.
_MEMO, _ID, _TIME, _SERVICE, _INT, _FLOAT, _USER, _IP, _EXTRA = range(9)
_MAX_FLOAT: Final = sys.float_info.max
_MISSING: Final = object()
_DECLINE: Final = object()
#: Fields outside the schema whose texts add up to more than this are not memoised.
_EXTRA_MEMO_CHARS: Final = 512

KeptRow = Callable[[Mapping[str, Any], int, float, bool], "bytes | None"]


def _limits(name: str) -> tuple[float, float]:
    field = FIELDS_BY_NAME[name]
    return (
        field.minimum if field.minimum is not None else -_MAX_FLOAT,
        field.maximum if field.maximum is not None else _MAX_FLOAT,
    )


def row_builder(scrubber: Scrubber, default_service: str | None) -> KeptRow:
    """``row(event, ts, rate, truncate_ip)``: the NDJSON line of a kept event in canonical form, or None.

    The line is exactly what :meth:`~loglake.scrub.Scrubber.scrub_event` followed by
    :func:`~loglake.schema.normalize` (and the transformer's ``sample_rate`` and timestamp text) gives,
    computed in one pass over the event, for the common shape: every schema field of its usual type and within
    its limit after scrubbing, ``timestamp`` present (``ts`` being the timestamp that :func:`essentials`
    read), ``service_name`` valid or absent (then filled), no ``extra`` field, and fields outside the schema
    whose names scrubbing leaves alone. For anything else — or should anything fail — it returns None and
    the caller takes the general path, which then decides (and words any refusal).
    ``tests/unit/test_fastpath.py`` holds the two to agreeing.
    """
    memo = (scrubber._text_memo.get, scrubber.scrub_text)
    specs: dict[str, tuple[Any, ...]] = {
        "request_id": (_ID, FIELDS_BY_NAME["request_id"].max_length),
        "trace_id": (_ID, FIELDS_BY_NAME["trace_id"].max_length),
        "timestamp": (_TIME,),
        "service_name": (_SERVICE,),
        "method": (_MEMO, *memo, FIELDS_BY_NAME["method"].max_length),
        "user_agent": (_MEMO, *memo, FIELDS_BY_NAME["user_agent"].max_length),
        "level": (_MEMO, *memo, FIELDS_BY_NAME["level"].max_length),
        "path": (_MEMO, scrubber._url_memo.get, scrubber.scrub_url, FIELDS_BY_NAME["path"].max_length),
        "referer": (_MEMO, scrubber._url_memo.get, scrubber.scrub_url, FIELDS_BY_NAME["referer"].max_length),
        "query_params": (
            _MEMO,
            scrubber._query_memo.get,
            scrubber.scrub_query,
            FIELDS_BY_NAME["query_params"].max_length,
        ),
        "user_id": (_USER, FIELDS_BY_NAME["user_id"].max_length),
        "ip_address": (_IP, FIELDS_BY_NAME["ip_address"].max_length),
        "status_code": (_INT, *_limits("status_code")),
        "bytes_sent": (_INT, *_limits("bytes_sent")),
        "latency_ms": (_FLOAT, *_limits("latency_ms")),
        "sample_rate": (_FLOAT, *_limits("sample_rate")),
        "extra": (_EXTRA,),
    }
    assert set(specs) == set(FIELDS_BY_NAME)
    specs_get = specs.get
    scrub_text, scrub_ip = scrubber.scrub_text, scrubber.scrub_ip
    ip_memos: tuple[dict[str, str], dict[str, str]] = ({}, {})  # without, with truncation
    hash_memo_get, hash_value = scrubber._hash_memo.get, scrubber.hash
    extra_entry = scrubber.extra_entry
    extra_memo: dict[tuple[Any, ...], Any] = {}
    extra_memo_get = extra_memo.get
    dumps = orjson.dumps
    try:
        fill = validate_service_name(default_service) if default_service else None
    except RecordError:
        fill = None  # normalize refuses events without a service: the general path says so

    def extra_text(unknown: list[tuple[str, Any]], filled: bool) -> Any:
        """``extra`` of the fields outside the schema (scrubbed) and the fill note, or _DECLINE."""
        fields: dict[str, Any] = {}
        dropped: list[str] = []
        for key, value in unknown:
            entry = extra_entry(key, value, dropped)
            if entry is not None:
                if entry[0] != key:  # scrubbing rewrote the name: the general path orders such keys
                    return _DECLINE
                fields[key] = entry[1]
        if dropped:
            note = fields.get(PIPELINE_NOTE_KEY)
            note = dict(note) if isinstance(note, dict) else {}
            note["dropped"] = sorted(set(dropped))
            fields[PIPELINE_NOTE_KEY] = note
        return extra_of(fields, {"filled": ["service_name"]} if filled else {})

    def row(event: Mapping[str, Any], ts: int, rate: float, truncate_ip: bool) -> bytes | None:
        rec: dict[str, Any] = {}
        unknown: list[tuple[str, Any]] | None = None
        try:
            for key, value in event.items():
                spec = specs_get(key)
                if spec is None:
                    if unknown is None:
                        unknown = []
                    unknown.append((key, value))
                    continue
                if value is None:
                    continue
                how = spec[0]
                if how == _MEMO:
                    if type(value) is not str:
                        return None
                    value = spec[1](value) or spec[2](value)
                    if len(value) > spec[3]:
                        return None
                elif how == _INT:
                    if type(value) is not int or not spec[1] <= value <= spec[2]:
                        return None
                elif how == _FLOAT:
                    if type(value) is int:
                        value = float(value)
                    if type(value) is not float or not spec[1] <= value <= spec[2]:
                        return None
                elif how == _TIME:
                    value = ts  # as essentials() read it
                elif how == _ID:  # ids are rewritten only if they hold an e-mail address
                    if type(value) is not str:
                        return None
                    if "@" in value or "%40" in value:
                        value = scrub_text(value)
                    if len(value) > spec[1]:
                        return None
                elif how == _SERVICE:
                    if type(value) is not str or (value not in _valid_services and not _known_service(value)):
                        return None
                elif how == _IP:
                    if type(value) is not str:
                        return None
                    ip_memo = ip_memos[truncate_ip]
                    scrubbed = ip_memo.get(value)
                    if scrubbed is None:
                        scrubbed = scrub_ip(value, truncate=truncate_ip)
                        if len(value) <= 64:  # addresses repeat; the memo stays small
                            if len(ip_memo) >= 16384:
                                ip_memo.clear()
                            ip_memo[value] = scrubbed
                    value = scrubbed
                    if len(value) > spec[1]:
                        return None
                elif how == _USER:
                    if type(value) is not str:
                        return None
                    if value:
                        value = hash_memo_get(("user", value)) or hash_value("user", value)
                    if len(value) > spec[1]:
                        return None
                else:  # extra: merged with the fields outside the schema by the general path
                    return None
                rec[key] = value
            if "timestamp" not in rec:
                return None
            filled = "service_name" not in rec
            if filled:
                if fill is None:
                    return None
                rec["service_name"] = fill
            if unknown is not None or filled:
                # Log lines and clients repeat the same few extra fields: memoise their text.
                memo_key: tuple[Any, ...] | None = (filled, *unknown) if unknown else (filled,)
                size = 0
                for key, value in unknown or ():
                    if type(value) is not str:
                        memo_key = None
                        break
                    size += len(key) + len(value)
                extra = _MISSING if memo_key is None else extra_memo_get(memo_key, _MISSING)
                if extra is _MISSING:
                    extra = extra_text(unknown or [], filled)
                    if memo_key is not None and size <= _EXTRA_MEMO_CHARS:
                        if len(extra_memo) >= 4096:
                            extra_memo.clear()
                        extra_memo[memo_key] = extra
                if extra is _DECLINE:
                    return None
                if extra is not None:
                    rec["extra"] = extra
            prior = rec.get("sample_rate")  # sampled upstream (by the client) too: the rates multiply
            rec["sample_rate"] = rate * prior if prior else rate
            rec["timestamp"] = format_ms(ts)
            return dumps(rec) + b"\n"
        except Exception:  # the general path meets the same problem and words it
            return None

    return row
