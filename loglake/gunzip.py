"""Streaming gunzip of a raw object into line-aligned chunks of text, with a fast inflater when one is installed.

Inflating is a fifth of the converter's CPU with the standard library's ``zlib``; ISA-L (the ``isal`` package,
a declared dependency with manylinux wheels for x86_64 and aarch64) inflates the same streams 2-3x faster, and
its decompressor keeps the compressed input instead of copying the rest of it out at every call. ``isal`` is used
when it imports; without it the standard library does the same work, more slowly.

Damaged streams are rare and their handling is part of the converter's contract (what is recovered, and the
reason quarantined with the object), so that handling is the standard library's whatever the fast inflater:
when the fast inflater meets any problem, the object is inflated again with ``zlib`` from the start, the bytes
already handed out are skipped, and the rest, the problem included, is exactly what ``zlib`` gives.

Example
-------
>>> import gzip
>>> chunks = GzipChunks(gzip.compress(b"a\\nb\\n"))
>>> list(chunks), chunks.problem
([(1, b'a\\nb\\n')], None)
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Generator, Iterator
from types import ModuleType
from typing import Final, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

_FAST: tuple[ModuleType, ...]
try:
    from isal import igzip_lib

    _FAST = (igzip_lib,)
except ImportError:  # pragma: no cover - isal is a dependency; this keeps a bare environment working
    _FAST = ()

#: Decompressed bytes one inflate call makes at most. It also sets what a corrupt stream loses: zlib drops the
#: output of the call that meets the damage, so changing it changes what is recovered from damaged objects.
CHUNK_BYTES: Final = 16 * 1024 * 1024
#: Text handed to the parser at once, cut at line ends from the inflated pieces: smaller chunks than pieces
#: spread better over the parsing threads and reuse their memory (a fresh 16 MB buffer costs page faults).
TEXT_BYTES: Final = 4 * 1024 * 1024
#: An object expanding beyond this is refused whole (Firehose writes at most 128 MB; this is a zip bomb).
MAX_DECOMPRESSED_BYTES: Final = 1024 * 1024 * 1024

#: Inflaters tried in turn: the fast one, then the standard library (see the module's docstring).
INFLATERS: Final[tuple[ModuleType, ...]] = (*_FAST, zlib)


class Chunk(NamedTuple):
    """Whole lines of text; ``first_line`` is the number of its first line, ``newlines`` its count of ``\\n``.
    ``text`` is often a view of a larger inflated piece (``bytes(chunk.text)`` copies it out)."""

    first_line: int
    text: bytes | memoryview
    newlines: int


class GzipChunks:
    """Iterate over ``(first line number, text)`` chunks of a gzip object's content, each ending at a line end.

    Decompression is streamed, so at most about ``2 * chunk_bytes`` of text is held at once. Concatenated gzip
    members are read in turn. What cannot be decompressed ends the iteration; :attr:`problem` then says why
    (a truncated or corrupt stream, trailing garbage, or a zip bomb), and the text read until then has been
    yielded — its partial last line included, so that it is rejected as a line rather than lost unseen.
    """

    def __init__(
        self,
        data: bytes,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        text_bytes: int = TEXT_BYTES,
        max_bytes: int = MAX_DECOMPRESSED_BYTES,
        inflaters: tuple[ModuleType, ...] | None = None,
    ) -> None:
        self.data = data
        self.chunk_bytes = chunk_bytes
        self.text_bytes = text_bytes
        self.max_bytes = max_bytes
        self.inflaters = inflaters or INFLATERS
        self.problem: str | None = None
        self.too_large = False
        self.decompressed_bytes = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for chunk in self.chunks():
            yield chunk.first_line, bytes(chunk.text)

    def chunks(self) -> Iterator[Chunk]:
        """As iterating, with each chunk's count of newlines (which numbering its lines needs anyway), and the
        text as a view where it can be (no copy)."""
        pending = b""
        line = 1
        for piece in self._pieces():
            cut = piece.rfind(b"\n")
            if cut < 0:
                pending += piece
                continue
            view = memoryview(piece)
            start = 0
            while start <= cut:  # whole lines, about text_bytes at a time (a longer line whole)
                end = start + max(1, self.text_bytes - len(pending))
                if end <= cut:  # back to the last line end before it, or on to the first one after it
                    end = piece.rfind(b"\n", start, end) + 1 or piece.find(b"\n", end) + 1
                end = min(end, cut + 1)
                # A view of the piece, not a copy (fresh buffers cost page faults as much as the copying itself);
                # a copy only to join a line begun in the previous piece.
                text: bytes | memoryview
                if pending:
                    text = b"".join((pending, view[start:end]))
                    newlines = count_newlines(text)
                else:
                    text = piece if start == 0 and end == len(piece) else view[start:end]
                    newlines = count_newlines(text)
                pending = b""
                yield Chunk(line, text, newlines)
                line += newlines
                start = end
            pending = piece[cut + 1 :]
        if pending and not self.too_large:
            yield Chunk(line, pending, 0)

    def _pieces(self) -> Iterator[bytes]:
        handed_out = 0  # bytes already yielded by an inflater that then met a problem
        for inflater in self.inflaters:
            last = inflater is self.inflaters[-1]
            pieces = _inflate(self.data, inflater, self.chunk_bytes)
            position = 0
            while True:
                try:
                    piece = next(pieces)
                except StopIteration as stop:
                    problem = stop.value
                    break
                start, position = position, position + len(piece)
                if position <= handed_out:
                    continue
                if start < handed_out:
                    piece = piece[handed_out - start :]
                self.decompressed_bytes += len(piece)
                if self.decompressed_bytes > self.max_bytes:
                    self.too_large = True
                    self.problem = f"object expands beyond {self.max_bytes:,} bytes; split it into smaller objects"
                    return
                yield piece
            if problem is None:
                return
            if last:
                self.problem = problem
                return
            handed_out = max(handed_out, position)


def count_newlines(text: bytes | memoryview) -> int:
    """``text.count(b"\\n")``; for large texts with RE2, which is faster and does not hold the GIL (decompression
    runs in its own thread beside the parsers)."""
    if len(text) < 65536:
        return bytes(text).count(b"\n")
    return int(pc.count_substring_regex(binary_array(pa.py_buffer(text)), r"\n")[0].as_py())


def binary_array(buffer: pa.Buffer) -> pa.Array:
    """``buffer`` as a one-value Arrow binary array, without a copy, for Arrow's string kernels (which scan it
    without holding the GIL)."""
    offsets = pa.py_buffer(struct.pack("<qq", 0, buffer.size))
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buffer])


def _reserved_flags(member: bytes) -> bool:
    """Whether a gzip member's header sets reserved flags (bits 5-7 of FLG): zlib refuses such a member, ISA-L
    reads it, so a fast inflater hands it over."""
    return len(member) > 3 and bool(member[3] & 0xE0)


def _inflate(data: bytes, inflater: ModuleType, chunk_bytes: int) -> Generator[bytes, None, str | None]:
    """Yield the decompressed content of ``data`` in pieces of at most ``chunk_bytes``; return the problem that
    ended it early, if any."""
    if inflater is not zlib:
        return (yield from _inflate_fast(data, inflater, chunk_bytes))
    d = zlib.decompressobj(wbits=31)
    src: bytes = data
    try:
        while True:
            out = d.decompress(src, chunk_bytes)
            src = d.unconsumed_tail
            if out:
                yield out
            if d.eof:
                rest = d.unused_data
                if not rest.strip(b"\x00"):
                    return None
                if rest[:2] != b"\x1f\x8b":
                    return _trailing_garbage(rest)
                d, src = zlib.decompressobj(wbits=31), rest  # another gzip member
                continue
            if not out and not src:
                tail = d.flush()
                if tail:
                    yield tail
                return "gzip stream is truncated (the object ended before the gzip trailer)"
    except zlib.error as exc:
        return f"gzip stream is corrupt: {exc}"


def _inflate_fast(data: bytes, igzip: ModuleType, call_bytes: int) -> Generator[bytes, None, str | None]:
    """:func:`_inflate` with ISA-L's decompressor, which keeps its input (zlib's ``unconsumed_tail`` copies the
    rest of the object at every call), handing out only what zlib would have handed out by then.

    zlib inflates a member in calls of ``call_bytes`` and drops the whole output of a call that meets a problem,
    even one found after the call's output was complete (the next block's header, the trailer's CRC). So output
    is handed out up to the end of one of zlib's calls only once ISA-L has inflated past it (or soundly ended the
    member). The first call's end is probed with one byte, so that the first piece reaches the parsers without
    waiting for a second one. Problems are only a signal to hand over to zlib, which words them.
    """
    src = data
    try:
        while True:  # gzip members
            if _reserved_flags(src):
                return "reserved gzip header flags are set"
            d = igzip.IgzipDecompressor(flag=igzip.DECOMP_GZIP)
            held: deque[bytes] = deque()
            produced = released = 0  # bytes of this member inflated, and handed out
            call: list[bytes] = []  # pieces of the zlib call being handed out
            out = d.decompress(src, call_bytes)
            while True:
                if out:
                    held.append(out)
                    produced += len(out)
                    safe = (produced - 1) // call_bytes * call_bytes  # the end of zlib's last call inflated past
                    while held and released + len(held[0]) <= safe:
                        piece = held.popleft()
                        released += len(piece)
                        call.append(piece)
                        if released % call_bytes == 0:  # handed out as zlib does: one piece per call
                            yield _joined(call)
                            call = []
                if d.eof:
                    break
                if not out:
                    return "gzip stream is truncated"
                # Each call ends where one of zlib's calls ends; the first is followed by a probe of one byte.
                until_end = call_bytes - produced % call_bytes
                out = d.decompress(b"", 1 if produced == call_bytes else until_end)
            for piece in held:  # the member ended soundly (its trailer checked)
                released += len(piece)
                call.append(piece)
                if released % call_bytes == 0:
                    yield _joined(call)
                    call = []
            if call:
                yield _joined(call)
            rest = d.unused_data
            if not rest.strip(b"\x00"):
                return None
            if rest[:2] != b"\x1f\x8b":
                return _trailing_garbage(rest)
            src = rest
    except Exception as exc:  # anything ISA-L raises hands over to zlib
        return f"gzip stream is corrupt: {exc}"


def _joined(pieces: list[bytes]) -> bytes:
    """One piece as it is; the one-byte probe and the rest of its call as one (a copy, once per member)."""
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _trailing_garbage(rest: bytes) -> str:
    return f"{len(rest):,} bytes after the end of the gzip stream are not gzip"


__all__ = [
    "CHUNK_BYTES",
    "INFLATERS",
    "MAX_DECOMPRESSED_BYTES",
    "TEXT_BYTES",
    "Chunk",
    "GzipChunks",
    "binary_array",
    "count_newlines",
]
