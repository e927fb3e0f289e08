"""Reading raw NDJSON: streaming gunzip in line-aligned chunks, and the fast path agreeing with the reference."""

from __future__ import annotations

import gzip
import random
import zlib

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake import ndjson, schema
from loglake.ndjson import GzipChunks, parse_chunk, prefetch
from loglake.schema import format_timestamp, normalize, to_json_line

BASE_MS = 1_795_341_600_000  # 2026-11-22T10:00:00Z


def good_line(i: int, **extra: object) -> bytes:
    rec = {"request_id": f"r{i}", "timestamp": BASE_MS + i, "service_name": "shop", "status_code": 200} | extra
    return to_json_line(normalize(rec))


# --------------------------------------------------------------------------- GzipChunks


def chunks_of(data: bytes, chunk_bytes: int = 64) -> tuple[list[tuple[int, bytes]], GzipChunks]:
    g = GzipChunks(data, chunk_bytes=chunk_bytes)
    return list(g), g


def test_chunks_end_at_line_ends_and_number_lines() -> None:
    text = b"".join(good_line(i) for i in range(50))
    chunks, g = chunks_of(gzip.compress(text))
    assert g.problem is None
    assert b"".join(c for _, c in chunks) == text
    assert all(c.endswith(b"\n") for _, c in chunks)
    line = 1
    for first, c in chunks:
        assert first == line
        line += c.count(b"\n")
    assert len(chunks) > 5  # really streamed in small pieces


def test_concatenated_members_are_read_in_turn() -> None:
    data = gzip.compress(b"a\nb\n") + gzip.compress(b"c\n")
    chunks, g = chunks_of(data)
    assert g.problem is None and b"".join(c for _, c in chunks) == b"a\nb\nc\n"


def test_truncated_stream_yields_what_it_can_and_says_why() -> None:
    text = b"".join(good_line(i) for i in range(200))
    data = gzip.compress(text)
    chunks, g = chunks_of(data[: len(data) * 2 // 3], chunk_bytes=1024)
    got = b"".join(c for _, c in chunks)
    assert g.problem is not None and "truncated" in g.problem
    assert 0 < len(got) < len(text) and text.startswith(got)


def test_corrupt_stream_is_reported() -> None:
    data = bytearray(gzip.compress(b"".join(good_line(i) for i in range(200))))
    data[40:60] = b"\xff" * 20
    _, g = chunks_of(bytes(data))
    assert g.problem is not None and ("corrupt" in g.problem or "truncated" in g.problem)


def test_trailing_garbage_is_reported_and_zero_padding_ignored() -> None:
    good = gzip.compress(b"a\n")
    assert chunks_of(good + b"\x00" * 10)[1].problem is None
    _, g = chunks_of(good + b"garbage")
    assert g.problem is not None and "not gzip" in g.problem


def test_zip_bomb_is_refused() -> None:
    g = GzipChunks(gzip.compress(b"\n" * 100_000), chunk_bytes=1000, max_bytes=50_000)
    assert list(g) == [] or g.too_large
    assert g.too_large and g.problem is not None and "expands beyond" in g.problem


# --------------------------------------------------------------------------- prefetch


def test_prefetch_keeps_order_and_reraises() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("boom")

    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="boom"):
        next(it)


def test_prefetch_stops_its_thread_when_the_consumer_stops_early() -> None:
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    it = prefetch(endless(), depth=1)
    assert next(it) == 0
    it.close()  # joins the producer thread; returning at all proves it stopped
    assert len(produced) <= 4


# --------------------------------------------------------------------------- parse_chunk


def test_parse_chunk_rows_rejections_and_markers_in_line_order() -> None:
    marker = orjson.dumps({"_loglake_quarantine": {"stage": "transformer", "reason": "bad", "raw": "x"}}) + b"\n"
    text = good_line(0) + b"not json\n" + marker + b"\n" + good_line(1) + b'{"service_name":"shop"}\n'
    parsed = parse_chunk(text, 10)
    assert parsed.lines == 5
    assert parsed.table.column("request_id").to_pylist() == ["r0", "r1"]
    reasons = [(r.line, r.marker is not None) for r in parsed.rejected]
    assert reasons == [(11, False), (12, True), (15, False)]
    assert "timestamp is missing" in parsed.rejected[2].reason


def test_fast_path_reads_canonical_chunks_and_halves_around_a_bad_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ndjson, "MIN_FAST_BYTES", 256)
    lines = [good_line(i) for i in range(400)]
    lines[123] = b'{"timestamp":"2026-11-22T10:00:00.000Z","service_name":"shop","status_code":1000}\n'
    parsed = parse_chunk(b"".join(lines), 1)
    assert parsed.table.num_rows == 399
    assert [r.line for r in parsed.rejected] == [124]
    assert "status_code 1000 is outside" in parsed.rejected[0].reason
    assert parsed.fast_bytes > 0.9 * len(b"".join(lines))  # only the neighbourhood went line by line


# Lines that the fast path must either read exactly as the reference does, or hand over.
TIMESTAMPS = st.one_of(
    st.integers(946_684_800_000, 4_102_444_799_999).map(format_timestamp),
    st.integers(946_684_800_000, 4_102_444_799_999),
    st.sampled_from(
        [
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.123456Z",
            "2026-11-22 10:00:00",
            "2026-02-30T10:00:00.000Z",
            "2026-11-22T24:00:00.000Z",
            "2026-11-22T23:59:60.000Z",
            "1999-12-31T23:59:59.999Z",
            "2100-01-01T00:00:00.000Z",
            "2026-11-22T10:00:00.000+02:00",
            "٢٠٢٦-11-22T10:00:00.000Z",
            "",
        ]
    ),
)
SERVICES = st.one_of(st.sampled_from(["shop", "web", "a.b-c_d", "", "bad name", "x" * 65, "é"]), st.text(max_size=6))
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from([200, 404, 999, 1000, -1, 0.5, 1.0, "200", " 7 ", "1e3"]),
    st.builds(lambda: "x" * 20_000),  # longer than any field's limit
)
FIELD_NAMES = ["status_code", "latency_ms", "bytes_sent", "sample_rate", "path", "method", "extra", "level", "zzz"]
RECORDS = st.fixed_dictionaries(
    {"timestamp": TIMESTAMPS, "service_name": SERVICES},
    optional={name: VALUES for name in FIELD_NAMES},
)
RAW_LINES = st.sampled_from(
    [
        b"",
        b"   ",
        b"not json",
        b"[1, 2]",
        b'{"a":1}{"b":2}',
        b'{"latency_ms":NaN,"timestamp":"2026-11-22T10:00:00.000Z","service_name":"s"}',
        b'\xef\xbb\xbf{"timestamp":"2026-11-22T10:00:00.000Z","service_name":"s"}',
        b'{"timestamp":"2026-11-22T10:00:00.000Z","service_name":"s\xff"}',
        b'{"timestamp":"2026-11-22T10:00:00.000Z","service_name":"s","service_name":"t"}',
        b'{"_loglake_quarantine":{"stage":"transformer","reason":"r","raw":"x"}}',
        b'{"_loglake_quarantine":"not a dict","timestamp":"2026-11-22T10:00:00.000Z","service_name":"s"}',
        b'{"timestamp":"2026-11-22T10:00:00.000Z","service_name":"s","bytes_sent":123456789012345678901234567890}',
    ]
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10)
VALID = st.fixed_dictionaries(
    {
        "timestamp": st.integers(946_684_800_000, 4_102_444_799_999),
        "service_name": st.sampled_from(["shop", "web", "a.b-c_d"]),
    },
    optional={
        "request_id": TEXT,
        "path": TEXT,
        "status_code": st.integers(0, 999),
        "latency_ms": st.floats(0, 1e12, allow_nan=False),
        "bytes_sent": st.integers(0, 2**63 - 1),
        "sample_rate": st.floats(0, 1),
        "extra": TEXT,
    },
).map(lambda r: to_json_line(normalize(r)).rstrip(b"\n"))
# Mostly the transformer's canonical lines, so that the fast path really reads rows between the bad ones.
LINES = st.lists(st.one_of(VALID, VALID, VALID, RECORDS.map(orjson.dumps), RAW_LINES), max_size=40)


def reference(text: bytes) -> tuple[list[dict], list[tuple[int, str]]]:
    parsed = parse_chunk(text, 1, fast=False)
    return parsed.table.to_pylist(), [(r.line, r.reason) for r in parsed.rejected]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(lines=LINES, fields=st.frozensets(st.sampled_from(schema.FIELD_NAMES)))
def test_fast_path_gives_exactly_the_reference_rows(
    lines: list[bytes], fields: frozenset[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ndjson, "MIN_FAST_BYTES", 64)  # exercise halving on small inputs
    text = b"\n".join(lines) + b"\n"
    fast = parse_chunk(text, 1)
    assert (fast.table.to_pylist(), [(r.line, r.reason) for r in fast.rejected]) == reference(text)
    assert fast.lines == sum(1 for line in lines if line.strip())
    # a view into a larger buffer (as GzipChunks.chunks hands out) reads the same
    view = parse_chunk(memoryview(b"{\n" + text + b"\n}")[2:-2], 1, newlines=text.count(b"\n"))
    assert (view.table.to_pylist(), [(r.line, r.reason) for r in view.rejected]) == reference(text)
    # and so does telling the JSON reader to expect only some fields
    told = parse_chunk(text, 1, fields=fields)
    assert (told.table.to_pylist(), [(r.line, r.reason) for r in told.rejected]) == reference(text)


@settings(max_examples=60, deadline=None)
@given(ms=st.lists(st.integers(946_684_800_000, 4_102_444_799_999), min_size=1, max_size=50))
def test_canonical_lines_take_the_fast_path(ms: list[int]) -> None:
    text = b"".join(
        to_json_line(normalize({"timestamp": t, "service_name": "svc", "latency_ms": t % 1000 / 7})) for t in ms
    )
    parsed = parse_chunk(text, 1)
    assert parsed.slow_bytes == 0 and parsed.table.num_rows == len(ms)
    assert parsed.table.column("timestamp").cast("int64").to_pylist() == ms


def test_both_paths_agree_on_many_random_canonical_lines() -> None:
    rng = random.Random(11)
    lines = [
        to_json_line(
            normalize(
                {
                    "timestamp": rng.randrange(946_684_800_000, 4_102_444_800_000),
                    "service_name": rng.choice(["a", "b"]),
                    "latency_ms": rng.random() * 10_000,
                    "status_code": rng.randrange(100, 600),
                }
            )
        )
        for _ in range(3000)
    ]
    text = b"".join(lines)
    fast = parse_chunk(text, 1)
    assert fast.slow_bytes == 0
    assert fast.table.to_pylist() == parse_chunk(text, 1, fast=False).table.to_pylist()


def test_whole_object_stream_and_line_numbers_across_chunks() -> None:
    lines = [good_line(i) for i in range(100)]
    lines[77] = b"broken\n"
    g = GzipChunks(zlib.compress(b"".join(lines), wbits=31), chunk_bytes=500)
    rejected = []
    rows = 0
    for first, text in g:
        parsed = parse_chunk(text, first)
        rows += parsed.table.num_rows
        rejected += [r.line for r in parsed.rejected]
    assert rows == 99 and rejected == [78]


def test_a_byte_order_mark_where_arrow_would_skip_it_still_goes_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrow skips a byte-order mark at the start of each block it parses; orjson refuses the line. Small blocks,
    # and the mark on each line in turn, so that some lines start a block.
    monkeypatch.setattr(ndjson, "_READ_OPTIONS", ndjson.pajson.ReadOptions(use_threads=False, block_size=300))
    for bom_line in range(1, 12):
        lines = [good_line(i) for i in range(12)]
        lines[bom_line] = b"\xef\xbb\xbf" + lines[bom_line]
        text = b"".join(lines)
        fast = parse_chunk(text, 1)
        assert (fast.table.to_pylist(), [(r.line, r.reason) for r in fast.rejected]) == reference(text)
        assert [r.line for r in fast.rejected] == [bom_line + 1]


def test_two_objects_on_a_line_are_caught_even_when_a_blank_line_evens_the_count() -> None:
    # As many lines as rows, yet one line holds two objects (and one line none): not one row per line.
    two = good_line(1).rstrip(b"\n") + b" \t" + good_line(2)
    text = good_line(0) + b"\n" + two + good_line(3)
    fast = parse_chunk(text, 1)
    assert (fast.table.to_pylist(), [(r.line, r.reason) for r in fast.rejected]) == reference(text)
    assert [r.line for r in fast.rejected] == [3] and fast.lines == 3


def test_told_fields_are_only_expected_other_fields_are_read_too() -> None:
    lines = [good_line(i) for i in range(20)] + [good_line(20, trace_id="t"), good_line(21, latency_ms=1.5)]
    text = b"".join(lines)
    whole = parse_chunk(text, 1)
    assert not whole.unexpected_fields
    told = parse_chunk(text, 1, fields=frozenset({"request_id", "timestamp", "service_name", "status_code"}))
    assert told.unexpected_fields and told.slow_bytes == 0
    assert told.table.equals(whole.table)
    assert told.fields_with_values() == {
        "request_id",
        "timestamp",
        "service_name",
        "status_code",
        "trace_id",
        "latency_ms",
    }
    exact = parse_chunk(text, 1, fields=frozenset(told.fields_with_values()))
    assert not exact.unexpected_fields and exact.table.equals(whole.table)
    # a chunk that no schema reads (a marker line, a bad line) says nothing about the fields
    marker = orjson.dumps({"_loglake_quarantine": {"stage": "transformer", "reason": "bad", "raw": "x"}}) + b"\n"
    for odd in (marker, b"not json\n"):
        bad = parse_chunk(text + odd, 1, fields=frozenset(told.fields_with_values()))
        assert not bad.unexpected_fields and len(bad.rejected) == 1 and bad.table.num_rows == 22


def test_the_caller_may_pass_the_newline_count() -> None:
    text = b"".join(good_line(i) for i in range(10))
    assert parse_chunk(text, 1, newlines=10).table.num_rows == 10
    # a wrong count only costs the exact count, never a wrong answer
    assert parse_chunk(text, 1, newlines=3).table.num_rows == 10


def test_a_marker_line_inside_a_canonical_chunk_is_still_a_marker() -> None:
    marker = orjson.dumps({"_loglake_quarantine": {"stage": "transformer", "reason": "bad", "raw": "x"}}) + b"\n"
    lines = [good_line(i) for i in range(1000)]
    lines[500] = marker
    parsed = parse_chunk(b"".join(lines), 1)
    assert parsed.table.num_rows == 999 and [(r.line, r.marker is not None) for r in parsed.rejected] == [(501, True)]
