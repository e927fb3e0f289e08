"""Streaming gunzip: the fast inflater (ISA-L) gives exactly what the standard library's zlib gives, damage included."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake import gunzip
from loglake.gunzip import INFLATERS, GzipChunks

igzip_lib = pytest.importorskip("isal.igzip_lib")

TEXT = b"".join(b'{"request_id":"r%d","path":"/%s"}\n' % (i, b"p" * (i % 70)) for i in range(3000))
GOOD = gzip.compress(TEXT, mtime=0)


def read(data: bytes, inflaters: tuple, chunk_bytes: int) -> tuple:
    g = GzipChunks(data, chunk_bytes=chunk_bytes, inflaters=inflaters)
    chunks = list(g)
    return chunks, g.problem, g.too_large, g.decompressed_bytes


def same_as_zlib(data: bytes, chunk_bytes: int = 1000) -> None:
    assert read(data, (igzip_lib, zlib), chunk_bytes) == read(data, (zlib,), chunk_bytes)


def test_isal_inflates_first_when_installed() -> None:
    assert (igzip_lib, zlib) == INFLATERS
    assert gunzip.Chunk(1, b"a\n", 1) == (1, b"a\n", 1)


def test_sound_streams_never_reach_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("zlib was used")

    monkeypatch.setattr(zlib, "decompressobj", refuse)
    data = DAMAGED["members"] + bytes(4)
    g = GzipChunks(data, chunk_bytes=1000)
    assert b"".join(text for _, text in g) == TEXT and g.problem is None


def test_chunks_carry_their_newline_count() -> None:
    chunks = list(GzipChunks(GOOD, chunk_bytes=5000).chunks())
    assert len(chunks) > 5
    assert all(c.newlines == bytes(c.text).count(b"\n") for c in chunks)
    assert [c.first_line for c in chunks[1:]] == [c.first_line + c.newlines for c in chunks[:-1]]


def _with_byte(data: bytes, index: int, value: int) -> bytes:
    out = bytearray(data)
    out[index] = value
    return bytes(out)


DAMAGED = {
    "good": GOOD,
    "members": gzip.compress(TEXT[:5000], mtime=0) + gzip.compress(TEXT[5000:], mtime=0),
    "zero padding": GOOD + bytes(9),
    "trailing garbage": GOOD + b"garbage",
    "truncated": GOOD[: len(GOOD) // 2],
    "truncated in the trailer": GOOD[:-3],
    "corrupt body": GOOD[:3000] + bytes(50) + GOOD[3050:],
    "bad crc": _with_byte(GOOD, len(GOOD) - 6, GOOD[-6] ^ 1),
    "bad size": _with_byte(GOOD, len(GOOD) - 2, GOOD[-2] ^ 1),
    # ISA-L reads a member whose header sets reserved flags; zlib refuses it
    "reserved flags": _with_byte(GOOD, 3, 0x20),
    "reserved flags, second member": GOOD + _with_byte(gzip.compress(b"x\n", mtime=0), 3, 0x80),
    # ISA-L hands out this member's byte one call before it checks the CRC; zlib never hands it out
    "empty member, bad crc": bytes.fromhex("1f8b08006766026b02ffeb000000000000000000"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
@pytest.mark.parametrize("chunk_bytes", [64, 1000, 1 << 20])
def test_damaged_streams_read_exactly_as_zlib_reads_them(name: str, chunk_bytes: int) -> None:
    same_as_zlib(DAMAGED[name], chunk_bytes)


def test_the_standard_library_takes_over_at_the_first_problem() -> None:
    g = GzipChunks(DAMAGED["reserved flags"])
    assert list(g) == [] and g.problem is not None and "unknown header flags" in g.problem


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=3),
    truncate=st.one_of(st.none(), st.integers(1, len(GOOD))),
    chunk_bytes=st.sampled_from([64, 1000, 1 << 20]),
)
def test_randomly_damaged_streams_read_exactly_as_zlib_reads_them(
    cuts: list[tuple[int, int]], truncate: int | None, chunk_bytes: int
) -> None:
    data = GOOD
    for index, value in cuts:
        data = _with_byte(data, index, value)
    same_as_zlib(data[:truncate], chunk_bytes)


def test_zip_bombs_are_refused_with_either_inflater() -> None:
    for inflaters in ((zlib,), INFLATERS):
        g = GzipChunks(gzip.compress(b"\n" * 100_000), chunk_bytes=1000, max_bytes=50_000, inflaters=inflaters)
        list(g)
        assert g.too_large and g.problem is not None and "expands beyond" in g.problem


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    last_newline=st.booleans(),
    chunk_bytes=st.integers(1, 200),
    text_bytes=st.integers(1, 200),
)
def test_chunks_are_whole_lines_of_about_text_bytes(
    lines: list[bytes], last_newline: bool, chunk_bytes: int, text_bytes: int
) -> None:
    text = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    chunks = list(GzipChunks(gzip.compress(text), chunk_bytes=chunk_bytes, text_bytes=text_bytes).chunks())
    assert b"".join(c.text for c in chunks) == text
    line = 1
    for i, c in enumerate(chunks):
        assert c.first_line == line and c.newlines == bytes(c.text).count(b"\n")
        assert bytes(c.text).endswith(b"\n") or i == len(chunks) - 1
        # more than text_bytes only when one line (with what came before it in the previous piece) is longer
        assert len(c.text) <= max(text_bytes, chunk_bytes) or c.newlines <= 1
        line += c.newlines


def test_newlines_are_counted_alike_in_small_and_large_texts_and_views() -> None:
    assert len(TEXT) > 65536  # counted by RE2
    for text in (b"", b"\n", b"a\nb", b"\n\n", TEXT, memoryview(TEXT * 3)[5:-5], memoryview(b"x\ny\n")[1:]):
        assert gunzip.count_newlines(text) == bytes(text).count(b"\n")
