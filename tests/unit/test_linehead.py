"""The native head of a one-line record (loglake/_linehead.c) answers exactly as the Python reference, or None."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from typing import Final, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake import linehead
from loglake.formats.combined import _FAST_SCAN_RE
from loglake.linehead import Head, py_head
from loglake.sampling import keep_below, short_sha256
from tests.conftest import SHARED_DATA

T = TypeVar("T")

APACHE_LOG = SHARED_DATA / "logs" / "apache_combined_10k.log.gz"
THRESHOLDS: Final = (keep_below(0.1), keep_below(0.5), b"", b"\xff" * 8, b"\x00" * 8)
#: Also a threshold of one byte and one longer than the 32-byte digest (bytes compare as prefixes then).
SOME_THRESHOLDS: Final = (*THRESHOLDS, keep_below(0.01), b"\x80", b"\xff" * 40)
TIME: Final = "17/May/2015:10:05:03 +0200"
LINE: Final = f'1.2.3.4 - - [{TIME}] "GET / HTTP/1.1" 200 512 "-" "curl/8"'
#: The time the native code reads: exactly 26 ASCII characters, ``17/May/2015:10:05:03 +0200``.
CANONICAL_TIME: Final = re.compile(r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}", re.ASCII)


def b64(line: bytes | str) -> str:
    return base64.b64encode(line.encode() if isinstance(line, str) else line).decode()


def with_time(time: str) -> str:
    return LINE.replace(TIME, time)


def compare(data: str, threshold: bytes) -> tuple[Head | None, Head | None]:
    """The native answer and the reference's, after checking the native one is None or the same."""
    reference = py_head(data, threshold)
    shown = repr(data) if len(data) < 400 else repr(data[:400]) + "…"
    try:
        native = linehead.head(data, threshold)
    except Exception as exc:
        raise AssertionError(
            f"head({shown}, {threshold!r}) raised {exc!r}; the reference answers {reference!r}"
        ) from exc
    assert native is None or native == reference, f"head({shown}, {threshold!r}) = {native!r}, reference {reference!r}"
    return native, reference


@pytest.fixture(scope="module")
def apache_lines() -> list[bytes]:
    with gzip.open(APACHE_LOG, "rb") as fh:
        return [line.rstrip(b"\n") for line in fh if line.strip()]


def test_the_native_extension_is_built_and_in_use() -> None:
    assert linehead.NATIVE is True, (
        "loglake._linehead is not in use: build it with `pip install -e .` (a C compiler is needed), "
        "and leave LOGLAKE_NATIVE unset"
    )
    assert linehead.head is not py_head


def test_a_known_line_has_its_head() -> None:
    native, reference = compare(b64(LINE), bytes(8))
    digest = hashlib.sha256(LINE.encode()).hexdigest()[:32].encode()
    assert native == reference == (1431849903000, 200, "1.2.3.4", digest, False)


@pytest.mark.parametrize("threshold", THRESHOLDS, ids=lambda t: t.hex() or "empty")
def test_every_line_of_the_shared_apache_log_has_the_reference_head(
    apache_lines: list[bytes], threshold: bytes
) -> None:
    assert len(apache_lines) == 10_000
    answered = 0
    for line in apache_lines:
        native, reference = compare(b64(line), threshold)
        assert reference is not None
        answered += native is not None
    assert answered >= 0.999 * len(apache_lines), f"the native path answered {answered} of {len(apache_lines)}"


def test_sampling_compares_the_id_digest_with_the_threshold_as_bytes() -> None:
    _, reference = compare(b64(LINE), b"")
    assert reference is not None
    digest = short_sha256(reference[3]).digest()
    above = bytes(digest[:7]) + bytes([digest[7] + 1]) if digest[7] < 255 else digest[:6] + b"\xff\xff"
    cases = {
        b"": False,
        digest: False,  # equal: not below
        digest[:8]: False,  # a longer string with the same prefix is the greater
        digest + b"\x00": True,  # a proper prefix is the lesser
        above: True,
        b"\xff" * 40: True,
        b"\x00" * 40: False,
    }
    for threshold, lucky in cases.items():
        native, reference = compare(b64(LINE), threshold)
        assert native is not None and native[4] is lucky and reference is not None and reference[4] is lucky


def test_the_request_id_hashes_the_bytes_stripped_line() -> None:
    # str.strip() also strips \x1c-\x1f, bytes.strip() does not: the id is the SHA-256 of the bytes-stripped line.
    raw = b" \x1c\x0b" + LINE.encode() + b"\x1f\t\x0c "
    native, reference = compare(b64(raw), b"")
    assert native is not None and native == reference
    assert native[3] == hashlib.sha256(b"\x1c\x0b" + LINE.encode() + b"\x1f").hexdigest()[:32].encode()


# (record's base64, whether the native code must answer, whether the reference answers)
NATIVE_MUST: Final = [
    pytest.param(b64(LINE), True, True, id="plain combined"),
    pytest.param(b64("www.example.com:443 " + LINE), True, True, id="vhost_combined"),
    pytest.param(b64(LINE.replace("1.2.3.4", "::1", 1)), True, True, id="first token ::1 (not a vhost)"),
    pytest.param(b64(LINE.replace("1.2.3.4", "a:b", 1)), True, True, id="first token a:b"),
    pytest.param(b64(LINE.replace("1.2.3.4", "a:1", 1)), True, True, id="first token a:1, a vhost that backtracks"),
    pytest.param(b64("h:80 " + LINE.replace("1.2.3.4", "::1", 1)), True, True, id="vhost then host ::1"),
    pytest.param(b64(LINE.replace(' "-" "curl/8"', "")), True, True, id="common format"),
    pytest.param(b64(LINE.replace(" 200 ", " - ")), True, True, id="status -"),
    pytest.param(b64(LINE.replace(" 512 ", " - ")), True, True, id="size -"),
    pytest.param(b64(LINE.replace(" 512 ", " " + "7" * 639 + " ")), True, True, id="639-digit size"),
    pytest.param(b64(LINE.replace(" 512 ", " 512\t")), True, True, id="size then a tab"),
    pytest.param(b64(LINE.replace(' "-" "curl/8"', "\t")), True, True, id="size then a trailing tab"),
    pytest.param(b64(LINE + ' "10.0.0.1, 10.0.0.2" rt=0.042 uct="0.000"'), True, True, id="trailing nginx fields"),
    pytest.param(b64(LINE + "\trt=0.042"), True, True, id="a tab before the nginx fields"),
    pytest.param(b64(" \t" + LINE + "\t \r"), True, True, id="leading and trailing blanks"),
    pytest.param(b64("\x0b\x0c" + LINE + "\x0c\x0b"), True, True, id="leading and trailing vt ff"),
    pytest.param(b64("\x1c\x1d" + LINE + "\x1e\x1f"), True, True, id="leading and trailing x1c-x1f"),
    pytest.param(b64("\x1c \x0b" + LINE + " \x1f\x0c"), True, True, id="mixed whitespace around"),
    pytest.param(b64(LINE.replace("curl/8", "curl\x00/8")), True, True, id="NUL in the agent"),
    pytest.param(b64(LINE.replace("GET /", "GET /\x00")), True, True, id="NUL in the request"),
    pytest.param(b64(LINE.replace("1.2.3.4", "1.2\x00.3.4", 1)), True, True, id="NUL in the host"),
    pytest.param(b64(LINE + "\x00"), True, True, id="NUL after the agent"),
    pytest.param(b64(with_time(TIME.replace("May", "may"))), True, True, id="lowercase month"),
    pytest.param(b64(with_time(TIME.replace("May", "MAY"))), True, True, id="uppercase month"),
    pytest.param(b64(with_time(TIME.replace("May", "mAy"))), True, True, id="mixed-case month"),
    pytest.param(b64(with_time("29/Feb/2016:10:05:03 +0200")), True, True, id="Feb 29 2016"),
    pytest.param(b64(with_time("29/Feb/2000:10:05:03 +0200")), True, True, id="Feb 29 2000"),
    pytest.param(b64(with_time("01/Jan/0001:00:00:00 +2359")), True, True, id="year 0001"),
    pytest.param(b64(with_time("31/Dec/9999:23:59:60 -2359")), True, True, id="year 9999, second 60"),
    pytest.param(b64(with_time("31/Dec/1969:23:59:59 -0000")), True, True, id="before 1970"),
    pytest.param(b64(with_time("17/May/2015:10:05:60 +0200")), True, True, id="second 60"),
    pytest.param(b64(LINE.replace(" - - ", ' u[x "] ')), True, True, id="[ and quote in the user"),
    pytest.param(b64(LINE.replace(' "-" "curl/8"', ' "-" "curl/8" "x"  ')), True, True, id="extra quoted field"),
]
REFERENCE_DECIDES: Final = [
    pytest.param(b64(LINE.replace(" 512 ", " " + "7" * 640 + " ")), False, False, id="640-digit size"),
    pytest.param(b64(LINE.replace(" 512 ", " 512x ")), False, False, id="size followed by a letter"),
    pytest.param(b64(LINE.replace(" - - ", " -  - ")), False, False, id="two spaces between fields"),
    pytest.param(b64(LINE.replace("] ", "]  ")), False, False, id="two spaces after the time"),
    pytest.param(b64(LINE.replace(" 200 ", " 200  ")), False, False, id="two spaces after the status"),
    pytest.param(b64(LINE.replace("[17/", "[[17/")), False, True, id="[ at the start of the time"),
    pytest.param(b64(LINE.replace(" - - ", "\t- - ")), False, False, id="tab between fields"),
    pytest.param(b64(LINE.replace("+0200]", "+0200")), False, False, id="missing ]"),
    pytest.param(b64(LINE.replace("[17/May", "17/May")), False, False, id="missing ["),
    pytest.param(b64(LINE.replace(" 200 ", " 20 ")), False, False, id="status of 2 digits"),
    pytest.param(b64(LINE.replace(" 200 ", " 2000 ")), False, False, id="status of 4 digits"),
    pytest.param(b64(LINE.replace('"GET / HTTP/1.1"', '"GET / HTTP/1.1')), False, False, id="unclosed request"),
    pytest.param(b64(with_time("7/May/2015:10:05:03 +0200")), False, True, id="1-digit day"),
    pytest.param(b64(with_time("7/May/2015:10:05:03 +02:00")), False, True, id="1-digit day, 26 characters"),
    pytest.param(b64(with_time("29/Feb/2015:10:05:03 +0200")), False, False, id="Feb 29 2015"),
    pytest.param(b64(with_time("29/Feb/1900:10:05:03 +0200")), False, False, id="Feb 29 1900"),
    pytest.param(b64(with_time("31/Apr/2015:10:05:03 +0200")), False, False, id="Apr 31"),
    pytest.param(b64(with_time("00/May/2015:10:05:03 +0200")), False, False, id="day 0"),
    pytest.param(b64(with_time("17/Mai/2015:10:05:03 +0200")), False, False, id="not an English month"),
    pytest.param(b64(with_time("17/May/0000:10:05:03 +0200")), False, False, id="year 0000"),
    pytest.param(b64(with_time("17/May/2015:24:05:03 +0200")), False, False, id="hour 24"),
    pytest.param(b64(with_time("17/May/2015:10:60:03 +0200")), False, False, id="minute 60"),
    pytest.param(b64(with_time("17/May/2015:10:05:61 +0200")), False, False, id="second 61"),
    pytest.param(b64(with_time("17/May/2015:10:05:03 +2400")), False, False, id="offset +2400"),
    pytest.param(b64(with_time("17/May/2015:10:05:03 +0260")), False, False, id="offset minutes 60"),
    pytest.param(b64(with_time("17/May/2015:10:05:03 +02:00")), False, True, id="offset with a colon"),
    pytest.param(b64(with_time("17/May/2015:10:05:03 +02000")), False, False, id="time of 27 characters"),
    pytest.param(b64(with_time("17/May/2015:10:05:03 0200")), False, False, id="offset without a sign"),
    pytest.param(b64(with_time(" 17/May/2015:10:05:03 +0200 ")), False, True, id="time with blanks inside []"),
    pytest.param(b64(with_time("17/May/2015:10:05:03")), False, False, id="time without offset"),
    pytest.param(b64(LINE + " ")[:-3] + "B==", False, True, id="padding bits set (non-canonical base64)"),
    pytest.param(b64(LINE)[:40] + "\n" + b64(LINE)[40:], False, False, id="base64 with a newline"),
    pytest.param(b64(LINE)[:40] + " " + b64(LINE)[40:], False, False, id="base64 with a space"),
    pytest.param(b64(LINE) + "\n", False, False, id="base64 then a newline"),
    pytest.param(b64(LINE + " ").rstrip("="), False, False, id="base64 without its padding"),
    pytest.param(base64.urlsafe_b64encode(b"\xfb\xff" + LINE.encode()).decode(), False, False, id="url-safe base64"),
    pytest.param(b64(LINE + " ") + "==", False, False, id="base64 with excess padding"),
    pytest.param(b64(LINE) + "====", False, True, id="padding after whole quads (binascii accepts it)"),
    pytest.param("", False, False, id="empty data"),
    pytest.param(b64(""), False, False, id="decodes to nothing"),
    pytest.param(b64("   \t "), False, False, id="decodes to blanks"),
    pytest.param(b64('{"message": "' + LINE.replace('"', "'") + '"}'), False, False, id="JSON"),
    pytest.param(b64("[" + LINE + "]"), False, False, id="JSON array start"),
    pytest.param(b64(gzip.compress(LINE.encode())), False, False, id="gzip"),
    pytest.param(b64(b"\xef\xbb\xbf" + LINE.encode()), False, False, id="UTF-8 BOM"),
    pytest.param(b64(LINE + "\n"), False, False, id="a newline at the end"),
    pytest.param(b64(LINE + "\n" + LINE), False, False, id="two lines"),
    pytest.param(b64(LINE.replace("curl/8", "curl/8 ☃")), False, True, id="non-ASCII agent"),
    pytest.param(b64(LINE.encode().replace(b"curl/8", b"curl/\xff\xfe")), False, True, id="invalid UTF-8 agent"),
    pytest.param(b64(LINE.replace("1.2.3.4", "١.٢.٣.٤", 1)), False, True, id="non-ASCII digits in the host"),
    pytest.param(b64(LINE.replace(" 200 ", " ٢٠٠ ")), False, True, id="non-ASCII digits in the status"),
    pytest.param(b64(LINE.replace(" 512 ", " ٥١٢ ")), False, True, id="non-ASCII digits in the size"),
    pytest.param(b64(LINE.replace("1.2.3.4 ", "1.2.3.4\u3000", 1)), False, False, id="ideographic space"),
    pytest.param(b64("\u3000" + LINE + "\x85"), False, True, id="non-ASCII whitespace around"),
    pytest.param(b64(LINE.replace("curl/8", 'curl \\"8\\"')), False, True, id="backslash-escaped quote"),
    pytest.param(b64(LINE.replace("GET /", "GET /a\\b")), False, True, id="backslash in the request"),
    pytest.param(b64(LINE.replace("curl/8", "c" * 8200)), False, True, id="over 8192 bytes"),
    pytest.param(b64(LINE.replace("curl/8", "c" * (8192 - len(LINE) + 6))), True, True, id="8192 bytes"),
    pytest.param(b64(LINE.replace("curl/8", "c" * (8193 - len(LINE) + 6))), False, True, id="8193 bytes"),
    pytest.param(b64(LINE)[:-4] + "é" + b64(LINE)[-3:], False, False, id="non-ASCII in the base64"),
    pytest.param(b64(LINE) + "\x00", False, False, id="NUL after the base64"),
    pytest.param("\ud800", False, False, id="lone surrogate as data"),
    pytest.param(b64(LINE)[:8] + "\udc80" + b64(LINE)[9:], False, False, id="lone surrogate inside the base64"),
]


@pytest.mark.parametrize(("data", "native_must_answer", "reference_answers"), NATIVE_MUST + REFERENCE_DECIDES)
@pytest.mark.parametrize("threshold", [keep_below(0.5), b"\xff" * 8], ids=["half", "all"])
def test_edge_records_have_the_reference_head_or_none(
    data: str, native_must_answer: bool, reference_answers: bool, threshold: bytes
) -> None:
    native, reference = compare(data, threshold)
    assert (reference is not None) is reference_answers, f"the case does not test what it says: {reference!r}"
    if native_must_answer:
        assert native is not None, f"the native path left {data[:200]!r} to Python"


def test_head_refuses_wrong_argument_types() -> None:
    data = b64(LINE)
    with pytest.raises(TypeError):
        linehead.head(data.encode(), b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        linehead.head(data)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        linehead.head(data, bytearray(8))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        linehead.head(data, "")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        linehead.head(None, b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        linehead.head(data, b"", b"")  # type: ignore[call-arg]
    assert linehead.head(data, b"") == py_head(data, b"")  # and it still works


# Lines in the shapes of the formats, with their fields sometimes out of shape.
ASCII_PRINTABLE: Final = "".join(chr(c) for c in range(0x20, 0x7F))


def mostly(usual: st.SearchStrategy[T], unusual: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` seven times in eight, so that most lines are well formed and the rest test the edges."""
    return st.integers(0, 7).flatmap(lambda k: unusual if k == 0 else usual)


blank_runs = mostly(st.just(""), st.text(alphabet=" \t\x0b\x0c\x1c\x1f", min_size=1, max_size=3))
separator_lists = mostly(st.just([" "] * 9), st.lists(st.sampled_from([" ", "\t", "  "]), min_size=9, max_size=9))
words = st.text(alphabet=ASCII_PRINTABLE.replace(" ", ""), min_size=1, max_size=8)
hosts = mostly(
    st.sampled_from(["1.2.3.4", "83.149.9.216", "::1", "2001:db8::1", "a:b", "a:1", "h:1:2", "-"]),
    st.one_of(st.sampled_from(["x[", 'x"', "x]", "\x00"]), words),
)
idents = mostly(st.sampled_from(["-", "-", "frank", "u:1"]), st.one_of(st.just("[x"), words))
month_names = st.sampled_from(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])


@st.composite
def clf_times(draw: st.DrawFn) -> str:
    day = draw(mostly(st.integers(1, 28), st.integers(0, 99)))
    day_text = f"{day:02d}" if draw(st.integers(0, 15)) else str(day)
    month = draw(mostly(month_names, st.one_of(month_names.map(str.lower), month_names.map(str.upper), words)))
    year = draw(mostly(st.integers(1970, 2030), st.sampled_from([0, 1, 4, 100, 400, 1900, 1969, 2000, 9999])))
    hour = draw(mostly(st.integers(0, 23), st.integers(0, 99)))
    minute = draw(mostly(st.integers(0, 59), st.integers(0, 99)))
    second = draw(mostly(st.integers(0, 60), st.integers(0, 99)))
    sign = draw(st.sampled_from("+-"))
    off_h = draw(mostly(st.integers(0, 14), st.integers(0, 99)))
    off_m = draw(mostly(st.sampled_from([0, 30, 45]), st.integers(0, 99)))
    colon = "" if draw(st.integers(0, 15)) else ":"
    return f"{day_text}/{month}/{year:04d}:{hour:02d}:{minute:02d}:{second:02d} {sign}{off_h:02d}{colon}{off_m:02d}"


times = mostly(clf_times(), st.text(alphabet=ASCII_PRINTABLE, min_size=1, max_size=30))
requests = mostly(
    st.sampled_from(["GET / HTTP/1.1", "POST /a?b=1 HTTP/2.0", "-", ""]), st.text(alphabet=ASCII_PRINTABLE, max_size=30)
)
statuses = mostly(
    st.sampled_from(["200", "304", "404", "503", "-", "000", "999"]), st.from_regex(r"[0-9]{1,4}", fullmatch=True)
)
sizes = mostly(
    st.one_of(st.sampled_from(["-", "0", "512"]), st.integers(0, 10**12).map(str)),
    st.one_of(st.sampled_from(["7" * 639, "7" * 640]), st.from_regex(r"[0-9]{1,3}[a-z-]?", fullmatch=True)),
)
quoted = mostly(
    st.sampled_from(['"-"', '""', '"curl/8"', '"Mozilla/5.0 (X11; Linux x86_64)"']),
    st.text(alphabet=ASCII_PRINTABLE, max_size=20).map('"{}"'.format),
)
tails = mostly(
    st.sampled_from(["", "", ' "1.2.3.4" rt=0.042', "\trt=0.1"]),
    st.one_of(st.sampled_from([" x", "\t", "x", "\x1c1"]), st.text(max_size=10)),
)


@st.composite
def log_lines(draw: st.DrawFn) -> bytes:
    sep = draw(separator_lists)
    vhost = draw(mostly(st.just(""), st.sampled_from(["www.example.com:443", "a:1", ":1", "a:"])))
    head = f"{draw(hosts)}{sep[0]}{draw(idents)}{sep[1]}{draw(idents)}{sep[2]}[{draw(times)}]"
    line = f'{vhost and vhost + sep[3]}{head}{sep[4]}"{draw(requests)}"{sep[5]}{draw(statuses)}{sep[6]}{draw(sizes)}'
    if draw(st.booleans()):
        line += f"{sep[7]}{draw(quoted)}{sep[8]}{draw(quoted)}"
    line += draw(tails)
    return (draw(blank_runs) + line + draw(blank_runs)).encode("utf-8", "surrogatepass")


@st.composite
def mangled(draw: st.DrawFn, data: str) -> str:
    """The base64 text, sometimes made non-canonical or invalid."""
    how = draw(st.integers(0, 7))
    if how == 0 or not data:
        return data
    at = draw(st.integers(0, len(data)))
    if how == 1:  # a character inserted: whitespace, padding, outside the alphabet, not ASCII, a lone surrogate
        inserted = draw(
            st.one_of(
                st.sampled_from(["\n", " ", "=", "-", "_", "\x00", "é"]),
                st.integers(0xD800, 0xDFFF).map(chr),
                st.characters(),
            )
        )
        return data[:at] + inserted + data[at:]
    if how == 2:  # a character dropped
        return data[: max(at - 1, 0)] + data[at:]
    if how == 3 and data.endswith("="):  # padding bits set: still valid base64 for binascii
        end = data.rstrip("=")
        return (
            end[:-1]
            + draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
            + ("=" * (len(data) - len(end)))
        )
    if how == 4:
        return data.rstrip("=")
    if how == 5:
        return data + draw(st.sampled_from(["\n", "=", "==", "AAAA", " "]))
    return data


def canonical_time(line: bytes) -> bool:
    text = line.strip().decode("ascii").strip()
    m = _FAST_SCAN_RE.match(text)
    return m is not None and CANONICAL_TIME.fullmatch(m.group(5)) is not None


@settings(max_examples=1000, deadline=None)
@given(line=log_lines(), threshold=st.sampled_from(SOME_THRESHOLDS))
def test_lines_of_the_formats_have_the_reference_head(line: bytes, threshold: bytes) -> None:
    native, reference = compare(b64(line), threshold)
    if reference is not None and line.isascii() and b"\\" not in line and len(line) <= 8192 and canonical_time(line):
        assert native is not None, f"the native path left {line!r} to Python"


@settings(max_examples=1000, deadline=None)
@given(
    raw=st.one_of(log_lines(), st.binary(), st.text().map(lambda t: t.encode("utf-8", "surrogatepass"))),
    threshold=st.sampled_from(SOME_THRESHOLDS),
    data=st.data(),
)
def test_any_record_has_the_reference_head_or_none(raw: bytes, threshold: bytes, data: st.DataObject) -> None:
    compare(data.draw(mangled(b64(raw))), threshold)


@settings(max_examples=500, deadline=None)
@given(data=st.text(), threshold=st.sampled_from(SOME_THRESHOLDS))
def test_any_text_as_data_has_the_reference_head_or_none(data: str, threshold: bytes) -> None:
    compare(data, threshold)
