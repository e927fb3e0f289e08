"""Decoding one Firehose record's bytes into events (plain dicts, not yet validated).

A record can hold:

- one JSON object (also pretty-printed over several lines), a JSON array of objects, or NDJSON — many
  objects, one per line, as ``KinesisLogger`` packs them so that Firehose's 5 KB billing increment is not
  wasted (see :mod:`loglake.formats.jsonlines`);
- Apache/Nginx access-log lines: combined, common or vhost_combined (:mod:`loglake.formats.combined`);
- a gzip CloudWatch Logs subscription envelope (:mod:`loglake.formats.cloudwatch`): ``DATA_MESSAGE`` log
  events are decoded like lines, ``CONTROL_MESSAGE`` is counted and skipped.

Records sourced from a Kinesis data stream (``kinesisRecordMetadata``) carry the same bytes; Firehose has
already de-aggregated KPL records before it invokes the transformer.

Decoding never raises on bad input: what cannot be decoded becomes a *failure* (its raw bytes and a reason
a person can act on) and its valid neighbours are still returned as events.

Example
-------
>>> d = decode_record(b'{"path": "/a"}\\nnot a log line\\n{"path": "/b"}')
>>> [e["path"] for e, _ in d.events], [raw for raw, _ in d.failures]
(['/a', '/b'], [b'not a log line'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from loglake.errors import RecordError
from loglake.formats.cloudwatch import GZIP_MAGIC, gunzip, is_envelope, message_json_part, parse_envelope
from loglake.formats.combined import parse_clf_time, parse_combined
from loglake.formats.jsonlines import loads_lenient

__all__ = ["Decoded", "decode_record", "parse_clf_time", "parse_combined"]

_BOM: Final = b"\xef\xbb\xbf"
_JSON_START: Final = frozenset(b"{[")


@dataclass(slots=True)
class Decoded:
    """What one input record decoded into.

    ``events`` pairs each event with the raw bytes it came from (``None`` for an item of a JSON array,
    whose raw form is the item itself); ``failures`` pairs raw bytes with the reason they are not events.
    """

    events: list[tuple[dict[str, Any], bytes | None]] = field(default_factory=list)
    failures: list[tuple[bytes, str]] = field(default_factory=list)
    control_messages: int = 0
    cloudwatch: bool = False


def _type_name(value: Any) -> str:
    return "null" if value is None else {list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


def _add_json(value: Any, raw: bytes, out: Decoded, defaults: dict[str, Any] | None) -> None:
    if isinstance(value, dict):
        if defaults:
            for k, v in defaults.items():
                value.setdefault(k, v)
        out.events.append((value, raw))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                _add_json(item, None, out, defaults)  # type: ignore[arg-type]
            else:
                out.failures.append((orjson.dumps(item), f"an event must be a JSON object, got {_type_name(item)}"))
    else:
        out.failures.append((raw, f"an event must be a JSON object, got {_type_name(value)}"))


def _decode_text_line(line: bytes, out: Decoded, defaults: dict[str, Any] | None) -> None:
    """A line that does not start like JSON: an access-log line, or a JSON scalar, or nothing we know."""
    try:
        event = parse_combined(line)
    except RecordError as exc:
        value, problem = loads_lenient(line) if line[:1] in b'"-0123456789tfn' else (None, "not JSON")
        if problem is None:
            _add_json(value, line, out, defaults)
        else:
            out.failures.append((line, str(exc)))
        return
    if defaults:
        for k, v in defaults.items():
            event.setdefault(k, v)
    out.events.append((event, line))


def _decode_line(line: bytes, out: Decoded, defaults: dict[str, Any] | None = None) -> None:
    if line[:1] in (b"{", b"["):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value, problem = loads_lenient(line)
            if problem is not None:
                if line[:1] == b"[" and line[1:2].isalpha() and line[1:2] not in b"tfn":  # "[ERROR] text"
                    problem = f"line is neither JSON ({problem.removeprefix('invalid JSON: ')}) nor an access-log line"
                out.failures.append((line, problem))
                return
        _add_json(value, line, out, defaults)
    else:
        _decode_text_line(line, out, defaults)


def _decode_lines(data: bytes, out: Decoded) -> None:
    loads = orjson.loads
    events = out.events
    for line in data.split(b"\n"):
        if not line:
            continue
        if line[0] == 123:  # '{': the common case of one NDJSON event per line
            try:
                value = loads(line)
            except orjson.JSONDecodeError:
                pass
            else:
                if type(value) is dict:
                    events.append((value, line))
                    continue
        line = line.strip()
        if line:
            _decode_line(line, out)


def _decode_cloudwatch(payload: dict[str, Any], out: Decoded) -> None:
    out.cloudwatch = True
    kind = payload.get("messageType")
    if kind == "CONTROL_MESSAGE":
        out.control_messages += 1
        return
    log_events = payload.get("logEvents")
    if kind != "DATA_MESSAGE" or not isinstance(log_events, list):
        out.failures.append(
            (orjson.dumps(payload)[:65536], f"CloudWatch Logs payload of type {kind!r} has no logEvents list")
        )
        return
    context: dict[str, Any] = {}
    for name, key in (("logGroup", "log_group"), ("logStream", "log_stream")):
        if isinstance(payload.get(name), str):
            context[key] = payload[name]
    for log_event in log_events:
        message = log_event.get("message") if isinstance(log_event, dict) else None
        if not isinstance(message, str):
            out.failures.append((orjson.dumps(log_event), "CloudWatch Logs event has no message text"))
            continue
        defaults = dict(context)
        ts = log_event.get("timestamp")
        if isinstance(ts, int | float) and not isinstance(ts, bool):
            defaults["timestamp"] = ts
        line = message.strip().encode("utf-8", "surrogatepass")
        if not line:
            out.failures.append((orjson.dumps(log_event), "CloudWatch Logs event has an empty message"))
            continue
        if line[:1] not in (b"{", b"["):
            json_part = message_json_part(message)
            if json_part is not None:
                value, problem = loads_lenient(json_part.encode("utf-8", "surrogatepass"))
                if problem is None and isinstance(value, dict):
                    _add_json(value, line, out, defaults)
                    continue
        _decode_line(line, out, defaults)


def is_ndjson(data: bytes) -> bool:
    """Does :func:`decode_record` read ``data`` line by line as NDJSON? (It starts with ``{`` and holds ``}\\n{``;
    data of other shapes can be NDJSON too.) Then ``decode_record`` gives, for each non-empty line in order,
    the line as an event when it is a JSON object, else what :func:`decode_line` makes of it."""
    # find(), not `in`: bytes.__contains__ first tries its argument as an integer, at the cost of an exception.
    return data[:1] == b"{" and data.find(b"}\n{") >= 0


def decode_line(line: bytes) -> Decoded:
    """One line of NDJSON that is not a JSON object: what :func:`decode_record` makes of it (events — a JSON
    array's objects, an access-log line — and failures)."""
    out = Decoded()
    line = line.strip()
    if line:
        _decode_line(line, out)
    return out


def decode_record(data: bytes) -> Decoded:
    """Decode one input record's bytes into events and failures; never raises on bad input.

    Example
    -------
    >>> d = decode_record(b'[{"a": 1}, 2]')
    >>> len(d.events), d.failures[0][1]
    (1, 'an event must be a JSON object, got number')
    """
    out = Decoded()
    if is_ndjson(data):  # the common case: where the tests below lead too
        _decode_lines(data, out)
        return out
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzip(data)
        except RecordError as exc:
            first, newline, rest = data.partition(b"\n")
            if not newline:
                out.failures.append((data, str(exc)))
                return out
            # Not gzip after all, only a first line that starts like it: that line is quarantined with the
            # gzip reason and its neighbours are decoded as the text lines they are.
            out.failures.append((first, str(exc)))
            _decode_lines(rest, out)
            return out
        if is_envelope(data):
            try:
                payload = parse_envelope(data)
            except RecordError as exc:
                out.failures.append((data, str(exc)))
                return out
            _decode_cloudwatch(payload, out)
            return out
    if data[:3] == _BOM:
        data = data[3:]
    if data and data[0] not in _JSON_START and b"\n" not in data:  # one text line: an access-log line
        line = data.strip()
        if line:
            _decode_text_line(line, out, None)
        return out
    if not data or data[0] not in _JSON_START or b"\n" in data.rstrip():
        stripped = data.strip()
        if stripped[:1] in (b"{", b"[") and b"\n" in stripped and b"}\n{" not in stripped:
            # A pretty-printed object or array spans lines; NDJSON fails here after its first value.
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
            else:
                _add_json(value, stripped, out, None)
                return out
        _decode_lines(data, out)
        return out
    _decode_line(data.strip(), out)
    return out
