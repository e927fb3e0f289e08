"""Apache/Nginx access-log lines: the shared real log parses whole, fields map onto the schema exactly."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.errors import RecordError
from loglake.formats.combined import (
    _ESCAPED_RE,
    _ESCAPED_SCAN_RE,
    _FAST_RE,
    _FAST_SCAN_RE,
    _SAFE_DIGITS,
    parse_clf_time,
    parse_combined,
)
from loglake.records import decode_record
from loglake.schema import normalize
from tests.conftest import SHARED_DATA

APACHE_LOG = SHARED_DATA / "logs" / "apache_combined_10k.log.gz"


@pytest.fixture(scope="module")
def apache_lines() -> list[bytes]:
    with gzip.open(APACHE_LOG, "rb") as fh:
        return [line.rstrip(b"\n") for line in fh if line.strip()]


def test_every_line_of_the_shared_apache_log_parses_and_validates(apache_lines: list[bytes]) -> None:
    assert len(apache_lines) == 10_000
    for line in apache_lines:
        event = parse_combined(line)
        rec = normalize(event, default_service="web")  # and every parsed line is a valid record
        assert rec["ip_address"] and rec["status_code"] and rec["method"] and rec["path"].startswith("/")


def test_the_whole_log_as_one_record_decodes_without_a_failure(apache_lines: list[bytes]) -> None:
    d = decode_record(b"\n".join(apache_lines))
    assert len(d.events) == 10_000 and d.failures == []


def test_fields_of_a_real_line_map_onto_the_schema(apache_lines: list[bytes]) -> None:
    event = parse_combined(apache_lines[0])
    assert event == {
        "request_id": event["request_id"],
        "timestamp": int(datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC).timestamp() * 1000),
        "ip_address": "83.149.9.216",
        "method": "GET",
        "path": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
        "protocol": "HTTP/1.1",
        "status_code": 200,
        "bytes_sent": 203023,
        "referer": "http://semicomplete.com/presentations/logstash-monitorama-2013/",
        "user_agent": (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/32.0.1700.77 Safari/537.36"
        ),
    }
    assert len(event["request_id"]) == 32 and event["request_id"] == parse_combined(apache_lines[0])["request_id"]


def test_query_user_dash_bytes_and_offsets() -> None:
    event = parse_combined(
        b'10.0.0.1 - alice [01/Jan/2026:01:30:00 +0530] "POST /login?next=%2F&x=1 HTTP/2.0" 302 - "-" "-"'
    )
    assert event["path"] == "/login" and event["query_params"] == "next=%2F&x=1"
    assert event["user_id"] == "alice" and event["bytes_sent"] == 0  # '-' means no body bytes
    assert "referer" not in event and "user_agent" not in event
    assert event["timestamp"] == int(datetime(2025, 12, 31, 20, 0, tzinfo=UTC).timestamp() * 1000)


def test_common_format_without_referer_and_agent() -> None:
    event = parse_combined(b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326')
    assert event["status_code"] == 200 and event["timestamp"] == 971211336000


def test_vhost_combined_escaped_quotes_and_nginx_tail() -> None:
    line = (
        rb'shop.example:443 2001:db8::1 - - [22/Nov/2026:10:00:00 +0000] "GET /q?s=\"x\" HTTP/1.1" 200 5 '
        rb'"https://ref.example/?a=\"b\"" "agent \"quoted\"" "198.51.100.7" rt=0.042'
    )
    event = parse_combined(line)
    assert event["vhost"] == "shop.example:443" and event["ip_address"] == "2001:db8::1"
    assert event["query_params"] == 's="x"' and event["referer"] == 'https://ref.example/?a="b"'
    assert event["user_agent"] == 'agent "quoted"' and event["log_tail"] == '"198.51.100.7" rt=0.042'


def test_request_line_that_is_not_a_request_is_kept_whole() -> None:
    event = parse_combined(b'1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"')
    assert "method" not in event and event["request_line"] == "\\x16\\x03\\x01"
    assert event["status_code"] == 400


@pytest.mark.parametrize(
    "line",
    [
        b"Hello World",
        b'1.2.3.4 - - [99/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5',
        b'1.2.3.4 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5',
        b'1.2.3.4 - - [22/Nov/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 5',
        b'1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" abc 5',
    ],
)
def test_malformed_lines_are_refused_with_a_reason(line: bytes) -> None:
    with pytest.raises(RecordError):
        parse_combined(line)


@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
@settings(max_examples=200)
def test_clf_time_with_any_offset_is_converted_to_utc(local: datetime, offset_minutes: int) -> None:
    tz = timezone(timedelta(minutes=offset_minutes))
    dt = local.replace(microsecond=0, tzinfo=tz)
    text = dt.strftime("%d/%b/%Y:%H:%M:%S %z")
    assert parse_clf_time(text) == int(dt.timestamp()) * 1000
    assert parse_clf_time(text) == parse_clf_time(text)  # the hour cache returns the same


def test_a_malformed_time_is_refused_whatever_was_parsed_before() -> None:
    # A 1-digit day with "+02:00" is 26 characters too: it once filled the hour cache under the usual layout's
    # key, after which this malformed time of the same 26 characters read as the cached hour.
    malformed = "7/May/2015:10::00:00+02:00"
    with pytest.raises(RecordError):
        parse_clf_time(malformed)
    assert parse_clf_time("7/May/2015:10:05:03 +02:00") == 1430985903000
    with pytest.raises(RecordError):
        parse_clf_time(malformed)


_token = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters='"\\'), min_size=1)
_quoted = st.text(
    alphabet=st.characters(
        min_codepoint=32, max_codepoint=0x2FFF, blacklist_characters='"\\', blacklist_categories=["Cs", "Cc"]
    ),
    max_size=60,
)


@given(
    ip=st.ip_addresses().map(str),
    user=_token,
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]),
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-._~%", min_size=1, max_size=40).map(lambda p: "/" + p),
    query=st.none() | st.text(alphabet="abc=&%0123456789", max_size=20),
    status=st.integers(min_value=100, max_value=599),
    size=st.none() | st.integers(min_value=0, max_value=10**12),
    referer=_quoted,
    agent=_quoted,
)
@settings(max_examples=300)
def test_generated_combined_lines_parse_back_to_their_fields(
    ip: str,
    user: str,
    method: str,
    path: str,
    query: str | None,
    status: int,
    size: int | None,
    referer: str,
    agent: str,
) -> None:
    target = path + ("?" + query if query is not None else "")
    line = (
        f'{ip} - {user} [22/Nov/2026:10:00:00 +0000] "{method} {target} HTTP/1.1" {status} '
        f'{"-" if size is None else size} "{referer}" "{agent}"'
    )
    event = parse_combined(line.encode())
    assert event["ip_address"] == ip and event["method"] == method and event["path"] == path
    assert event.get("query_params") == query
    assert event["status_code"] == status and event["bytes_sent"] == (size or 0)
    assert event.get("user_id") == (None if user == "-" else user)
    assert event.get("referer") == (None if referer in ("", "-") else referer)
    assert event.get("user_agent") == (None if agent in ("", "-") else agent)


# --------------------------------------------------------------------------- the scan patterns

_bit = st.text(alphabet=' \t"[]\\:-09aé\u00a0\n', max_size=6)


def _slot(*usual: str) -> st.SearchStrategy[str]:
    """One of the usual values nine times in ten; else any few of the characters the patterns look at."""
    return st.integers(0, 9).flatmap(lambda n: _bit if n == 0 else st.sampled_from(usual))


_sep = st.sampled_from([" "] * 17 + ["", "\t", "  "])
#: Lines in the shape the patterns look for, each field usual or odd, each separator a space or not.
_scan_lines = st.tuples(
    _slot("", "", "h.example:80 ", "a:b:1 ", "[x:1 "),
    *(
        st.tuples(slot, _sep)
        for slot in (
            _slot("1.2.3.4", "::1", "[a"),
            _slot("-", "id"),
            _slot("-", "[u", "u]"),
            _slot("[1/May/2015:10:00:00 +0000]", "[x [y]", "[]"),
            _slot('"GET / HTTP/1.1"', '"-"', '""', '"a \\" b"', '"a\\\\"'),
            _slot("200", "-", "٢٠٠", "2000"),
            _slot("512", "-", "0", "9" * (_SAFE_DIGITS - 1), "9" * _SAFE_DIGITS, "12a"),
            _slot('"-" "curl/8"', '"r \\" x" "u"', "", '"-"', '"a" "b" rt=0.1'),
        )
    ),
    _slot("", "", "", "x", "\t", '"tail"'),
).map(lambda t: t[0] + "".join(field + sep for field, sep in t[1:-1]) + t[-1])


@given(_scan_lines | _bit)
@settings(max_examples=2500)
def test_the_scan_patterns_match_the_lines_the_full_ones_match_with_the_same_groups(text: str) -> None:
    text = text.strip()
    for scan, full in ((_FAST_SCAN_RE, _FAST_RE), (_ESCAPED_SCAN_RE, _ESCAPED_RE)):
        whole, head = full.match(text), scan.match(text)
        if whole is not None and len(whole.group(8)) < _SAFE_DIGITS:
            assert head is not None and head.groups() == whole.groups()[:8]
        else:
            assert head is None
