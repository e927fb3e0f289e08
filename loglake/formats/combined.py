"""Apache and Nginx access-log lines: *combined*, *common*, and *vhost_combined*.

``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`` — Nginx's default ``combined`` is the same
layout. Fields map onto the schema as follows:

==============  ==========================================================================
``%h``          ``ip_address``
``%u``          ``user_id`` (hashed later by the scrubber); ``%l`` (ident), when set, goes to ``extra.ident``
``%t``          ``timestamp``: ``[17/May/2015:10:05:03 +0200]`` with its offset converted to UTC
``%r``          ``method``, ``path``, ``query_params``; the protocol goes to ``extra.protocol``; a request
                line that is not ``METHOD target PROTOCOL`` is kept whole as ``extra.request_line``
``%>s``         ``status_code`` (``-`` leaves it unset)
``%b``          ``bytes_sent`` (``-`` means 0 bytes, as Apache documents)
referer, agent  ``referer``, ``user_agent`` (``-`` or empty leaves them unset)
==============  ==========================================================================

A leading ``%v:%p`` (vhost_combined) goes to ``extra.vhost``; fields Nginx appends after the user agent
(``"$http_x_forwarded_for"``, ``rt=0.042``, …) are kept as text in ``extra.log_tail``. Quoted fields may
contain backslash-escaped quotes, as both servers write them.

Log lines carry no request id; ``request_id`` is derived from the line (first 32 hex characters of its
SHA-256), so the same line is sampled identically on every retry.

Example
-------
>>> e = parse_combined(b'1.2.3.4 - - [17/May/2015:10:05:03 +0200] "GET /a?b=1 HTTP/1.1" 200 512 "-" "curl/8"')
>>> e["timestamp"], e["path"], e["query_params"], e["status_code"]
(1431849903000, '/a', 'b=1', 200)
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Any, Final

from loglake.errors import RecordError

#: Lines without backslashes (nearly all) take the fast pattern; quoted fields there hold no ``\"``.
_FAST_RE: Final = re.compile(
    r'(?:(\S+:\d+) )?(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}|-) (\d+|-)'
    r'(?: "([^"]*)" "([^"]*)")?(?:[ \t]+(.*?))?[ \t]*\Z',
    re.DOTALL,
)
_QUOTED: Final = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ESCAPED_RE: Final = re.compile(
    r"(?:(\S+:\d+) )?(\S+) (\S+) (\S+) \[([^\]]+)\] "
    + _QUOTED
    + r" (\d{3}|-) (\d+|-)(?: "
    + _QUOTED
    + " "
    + _QUOTED
    + r")?(?:[ \t]+(.*?))?[ \t]*\Z",
    re.DOTALL,
)
#: What sampling and counting a line needs (host, time, status), matched as far as the size only: the rest of
#: the patterns above, ``(?: "…" "…")?(?:[ \t]+(.*?))?[ \t]*\Z``, matches whatever follows the size
#: when that is nothing or starts with a space or a tab, so these match exactly the lines the full patterns
#: match, with the same groups — except sizes of 640 digits or more, left to the general path (see
#: :data:`_SAFE_DIGITS`). Their groups: vhost, host, ident, user, time, request, status, size.
_FAST_SCAN_RE: Final = re.compile(
    r'(?:(\S+:\d+) )?(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}|-) (\d{1,639}|-)(?=[ \t]|\Z)'
)
_ESCAPED_SCAN_RE: Final = re.compile(
    r"(?:(\S+:\d+) )?(\S+) (\S+) (\S+) \[([^\]]+)\] " + _QUOTED + r" (\d{3}|-) (\d{1,639}|-)(?=[ \t]|\Z)"
)
_TIME_RE: Final = re.compile(r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2}):?(\d{2})")
_MONTHS: Final = {
    m: i
    for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)
}
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_DAY_MS: Final = 86_400_000
#: Epoch ms at midnight of (year, month, day); log lines repeat the same few days.
_day_cache: dict[tuple[int, int, int], int] = {}
#: Epoch ms of ``17/May/2015:10`` + ``+0000`` (the time string without minutes and seconds).
_hour_cache: dict[str, int] = {}
#: The time text of a line → epoch ms: a busy server writes many lines per second.
_time_cache: dict[str, int] = {}
#: Digit strings shorter than this always convert with int() (Python refuses 4,300+ digits by default).
_SAFE_DIGITS: Final = 640
#: A status of three ASCII digits → its value, without int() (``\d`` also matches other scripts' digits, which
#: are not here: int() reads those).
_STATUS_VALUES: Final = {f"{i:03d}": i for i in range(1000)}


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\") if "\\" in text else text


def _day_ms(year: int, month_name: str, day: int) -> int:
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise RecordError(f"month {month_name!r} in the log time is not an English month abbreviation")
    key = (year, month, day)
    ms = _day_cache.get(key)
    if ms is None:
        try:
            ms = (date(year, month, day).toordinal() - _EPOCH_ORDINAL) * _DAY_MS
        except ValueError:
            raise RecordError(f"log time {day:02d}/{month_name}/{year} is not a calendar date") from None
        if len(_day_cache) > 4096:
            _day_cache.clear()
        _day_cache[key] = ms
    return ms


def parse_clf_time(text: str) -> int:
    """``17/May/2015:10:05:03 +0000`` → epoch ms, UTC.

    Example
    -------
    >>> parse_clf_time("17/May/2015:12:05:03 +0200")
    1431857103000
    """
    ms = _time_cache.get(text)
    if ms is not None:
        return ms
    ms = _parse_clf_time(text)
    if len(_time_cache) >= 4096:
        _time_cache.clear()
    _time_cache[text] = ms
    return ms


def _parse_clf_time(text: str) -> int:
    # Lines of one hour share date, hour and offset: cache their UTC base, add minutes and seconds.
    hour_key = text[:14] + text[20:]
    base = _hour_cache.get(hour_key)
    mm, ss = text[15:17], text[18:20]
    if base is not None and text[14] == ":" and text[17] == ":" and (mm + ss).isdigit() and (mm + ss).isascii():
        minutes, seconds = int(mm), int(ss)
        if minutes < 60 and seconds <= 60:
            return base + (minutes * 60 + seconds) * 1000
    m = _TIME_RE.fullmatch(text.strip().removeprefix("[").removesuffix("]"))
    if m is None:
        raise RecordError(f"time {text[:40]!r} is not in the log format '17/May/2015:10:05:03 +0000'")
    ms = _clf_ms(*m.groups())
    if len(text) == 26 and len(m.group(1)) == 2:  # the usual layout (a 1-digit day and "+02:00" also make 26)
        if len(_hour_cache) > 4096:
            _hour_cache.clear()
        _hour_cache[hour_key] = ms - (int(m.group(5)) * 60 + int(m.group(6))) * 1000
    return ms


def _clf_ms(day: str, mon: str, year: str, hh: str, mm: str, ss: str, sign: str, off_h: str, off_m: str) -> int:
    h, m, s = int(hh), int(mm), int(ss)
    oh, om = int(off_h), int(off_m)
    if h > 23 or m > 59 or s > 60 or oh > 23 or om > 59:
        raise RecordError(f"log time {hh}:{mm}:{ss} {sign}{off_h}{off_m} is out of range")
    offset_ms = (oh * 3600 + om * 60) * 1000
    local = _day_ms(int(year), mon, int(day)) + (h * 3600 + m * 60 + s) * 1000
    return local - offset_ms if sign == "+" else local + offset_ms


def match_combined(text: str) -> re.Match[str] | None:
    """The match of a stripped log line (its groups: vhost, host, ident, user, time, request, status, size,
    referer, agent, tail), or None if it is not in one of the formats."""
    return (_ESCAPED_RE if "\\" in text else _FAST_RE).match(text)


def parse_combined(line: bytes | str) -> dict[str, Any]:
    """Parse one combined/common/vhost_combined log line into an event.

    Raises
    ------
    RecordError
        If the line is not in one of these formats (the message says what was expected).
    """
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    m = match_combined(text.strip())
    if m is None:
        raise RecordError(
            "line is neither JSON nor an Apache/Nginx access-log line "
            '(expected \'%h %l %u [%t] "%r" %>s %b "referer" "user agent"\')'
        )
    return event_of(m, line_id(raw), parse_clf_time(m.group(5)))


def scan_time(text: str) -> int | None:
    """:func:`parse_clf_time`, or None where it refuses the text."""
    try:
        return parse_clf_time(text)
    except RecordError:
        return None


def line_id(raw: bytes) -> str:
    """The ``request_id`` of a log line: the first 32 hex characters of the SHA-256 of its bytes."""
    return hashlib.sha256(raw).hexdigest()[:32]


def event_of(m: re.Match[str], request_id: str, timestamp: int) -> dict[str, Any]:
    """The event of a matched line (see :func:`match_combined`), its id and its time already computed."""
    vhost, host, ident, user, _, request, status, size, referer, agent, tail = m.groups()
    event: dict[str, Any] = {"request_id": request_id, "timestamp": timestamp, "ip_address": host}
    escaped = "\\" in m.string  # nearly never: then no field has anything to unescape
    unescaped = _unescape(request) if escaped else request
    parts = unescaped.split(" ")
    if len(parts) == 3 and parts[0] and parts[1]:
        event["method"] = parts[0]
        path, sep, query = parts[1].partition("?")
        event["path"] = path
        if sep:
            event["query_params"] = query
        event["protocol"] = parts[2]
    elif len(parts) == 2 and parts[0] and parts[1].startswith("/"):  # HTTP/0.9: "GET /path"
        event["method"] = parts[0]
        path, sep, query = parts[1].partition("?")
        event["path"] = path
        if sep:
            event["query_params"] = query
    elif request not in ("", "-"):
        event["request_line"] = unescaped
    if status != "-":
        code = _STATUS_VALUES.get(status)
        event["status_code"] = int(status) if code is None else code
    # Beyond 40 digits (int() refuses 4,300), the size stays text: the schema refuses it with its reason.
    event["bytes_sent"] = 0 if size == "-" else int(size) if len(size) <= 40 else size
    if user != "-":
        event["user_id"] = user
    if ident != "-":
        event["ident"] = ident
    if referer not in (None, "-", ""):
        event["referer"] = _unescape(referer) if escaped else referer
    if agent not in (None, "-", ""):
        event["user_agent"] = _unescape(agent) if escaped else agent
    if vhost:
        event["vhost"] = vhost
    if tail:
        event["log_tail"] = tail
    return event
