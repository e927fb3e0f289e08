"""The on-disk spool: append-only, checksummed segment files that outlive the process.

Layout of ``spool_dir``::

    00001795341600123456789-4242-9f3a1c2e.seg      a segment: entries appended by one process
    00001795341600123456789-4242-9f3a1c2e.seg.ack  how far a replaying process got (optional)

An entry is ``b"LLs1" | length (u32 LE) | crc32 (u32 LE) | payload``, the payload one Firehose record (NDJSON
lines of one service) and the CRC over the length and the payload. A reader that meets a torn or corrupt entry
scans forward to the next entry whose header and CRC check out, so damage costs only the damaged bytes.

Ownership is an exclusive ``flock`` held for a segment's whole life: its writer holds it until the segment is
rotated or the process ends (``kill -9`` included: the kernel releases the lock), and a process replays or
evicts a segment only if it can take the lock. A segment is created under a hidden temporary name, locked, and
only then renamed into view, so no reader can claim a segment its writer has not locked yet.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from loglake_client._errors import ConfigurationError
from loglake_client._packing import MAX_RECORD_BYTES, Record

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MAGIC: Final = b"LLs1"
_HEADER: Final = struct.Struct("<4sII")
_ACK: Final = struct.Struct("<QI")
SEGMENT_SUFFIX: Final = ".seg"


def encode_entry(payload: bytes) -> bytes:
    """One spool entry holding ``payload``."""
    length = len(payload).to_bytes(4, "little")
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


def read_entries(data: bytes, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(offset, end, payload)`` of every intact entry in ``data`` from ``start`` on.

    Bytes that are not an intact entry (a torn tail, a flipped bit) are skipped by scanning for the next
    header whose length and CRC check out.

    Examples
    --------
    >>> good = encode_entry(b'{"a":1}\\n') + encode_entry(b'{"b":2}\\n')
    >>> damaged = good[:5] + b"X" + good[6:]  # first entry's length corrupted
    >>> [p for _, _, p in read_entries(damaged)]
    [b'{"b":2}\\n']
    """
    pos, size = start, len(data)
    while pos + _HEADER.size <= size:
        magic, length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if magic == MAGIC and length <= MAX_RECORD_BYTES and end <= size:
            payload = data[pos + _HEADER.size : end]
            if zlib.crc32(payload, zlib.crc32(length.to_bytes(4, "little"))) == crc:
                yield pos, end, payload
                pos = end
                continue
        nxt = data.find(MAGIC, pos + 1)
        if nxt < 0:
            return
        pos = nxt


class _Segment:
    """A segment this process holds the lock of (as writer, or as replayer/evicter)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.size = os.fstat(fd).st_size

    @property
    def ack_path(self) -> Path:
        return self.path.with_name(self.path.name + ".ack")

    def read_ack(self) -> int:
        try:
            raw = self.ack_path.read_bytes()
            offset, crc = _ACK.unpack(raw)
        except (OSError, struct.error):
            return 0
        return offset if zlib.crc32(offset.to_bytes(8, "little")) == crc else 0

    def ack(self, offset: int) -> None:
        """Remember that entries before ``offset`` were delivered (atomically, via rename)."""
        tmp = self.ack_path.with_name("." + self.ack_path.name + ".tmp")
        tmp.write_bytes(_ACK.pack(offset, zlib.crc32(offset.to_bytes(8, "little"))))
        os.replace(tmp, self.ack_path)

    def read(self) -> bytes:
        with open(self.fd, "rb", closefd=False) as f:
            f.seek(0)
            return f.read()

    def remove(self) -> None:
        for p in (self.path, self.ack_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = -1


class Spool:
    """Append-only segment files in one directory, bounded in total size like a ring buffer.

    When writing would take the directory past ``max_bytes``, the oldest segments no live process holds are
    evicted first; if there is still no room the new records are refused (and counted by the caller).

    Examples
    --------
    >>> import tempfile
    >>> spool = Spool(tempfile.mkdtemp())
    >>> spool.append([Record(b'{"a":1}\\n', 1)])
    (1, 0)
    >>> spool.close()
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 256 * 2**20,
        segment_bytes: int = 8 * 2**20,
    ) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            raise ConfigurationError("spool_dir needs POSIX file locks (fcntl); leave spool_dir unset here")
        if max_bytes < segment_bytes or segment_bytes < 1:
            raise ConfigurationError("spool_max_bytes must be >= the segment size (8 MiB by default)")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"spool_dir {str(directory)!r} cannot be created: {exc}") from None
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._writer: _Segment | None = None
        #: Bytes skipped as damaged while reading segments (torn writes, corruption).
        self.corrupt_bytes = 0

    # ------------------------------------------------------------------ writing
    def append(self, records: Sequence[Record]) -> tuple[int, int]:
        """Write ``records``; return ``(events written, events evicted from old segments to make room)``.

        Records that find no room are not written: the caller counts ``sum(events) - written`` as lost.
        """
        entries = [encode_entry(rec.data) for rec in records]
        written = 0
        with self._lock:
            free, evicted = self._make_room(sum(len(e) for e in entries))
            parts: list[bytes] = []
            for rec, entry in zip(records, entries, strict=True):
                if len(entry) > free:
                    break
                parts.append(entry)
                free -= len(entry)
                written += rec.events
            if parts:
                self._write(b"".join(parts))
        return written, evicted

    def _write(self, blob: bytes) -> None:
        if self._writer is None or self._writer.size >= self.segment_bytes:
            self._rotate_locked()
            self._writer = self._create_segment()
        fd = self._writer.fd
        view = memoryview(blob)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        self._writer.size += len(blob)

    def _create_segment(self) -> _Segment:
        name = f"{time.time_ns():023d}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        final = self.directory / name
        os.rename(tmp, final)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return _Segment(final, fd)

    def _used_bytes(self) -> int:
        total = 0
        for entry in os.scandir(self.directory):
            if entry.name.endswith(SEGMENT_SUFFIX):
                with contextlib.suppress(OSError):
                    total += entry.stat().st_size
        return total

    def _make_room(self, needed: int) -> tuple[int, int]:
        """Evict the oldest unheld segments until ``needed`` bytes fit.

        Returns (free bytes, events evicted).
        """
        used = self._used_bytes()
        evicted = 0
        if used + needed > self.max_bytes:
            own = self._writer.path if self._writer else None
            for seg in self._claim_all(exclude=own):
                try:
                    data = seg.read()
                    evicted += sum(p.count(b"\n") for _, _, p in read_entries(data, seg.read_ack()))
                    used -= seg.size
                    seg.remove()
                finally:
                    seg.release()
                if used + needed <= self.max_bytes:
                    break
        return max(self.max_bytes - used, 0), evicted

    def rotate(self) -> None:
        """Close the current segment so that it can be replayed (by this or another process)."""
        with self._lock:
            self._rotate_locked()

    def _rotate_locked(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._writer.fd)
            self._writer.release()
            self._writer = None

    def close(self) -> None:
        """Flush and release the current segment; the spool can still be written afterwards."""
        self.rotate()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's segment without touching it, and get a fresh lock.

        The child closes its copy of the descriptor; the parent's lock lives on in the parent.
        """
        self._lock = threading.Lock()
        if self._writer is not None:
            with contextlib.suppress(OSError):
                os.close(self._writer.fd)
            self._writer = None

    # ------------------------------------------------------------------ reading
    def _claim_all(self, exclude: Path | None = None) -> Iterator[_Segment]:
        try:
            names = sorted(e.name for e in os.scandir(self.directory))
        except OSError:
            return
        present = set(names)
        for name in names:
            path = self.directory / name
            if name.endswith(".ack") and name[: -len(".ack")] not in present:
                with contextlib.suppress(OSError):
                    path.unlink()  # the segment was removed by a process that died before removing its ack
                continue
            if not name.endswith(SEGMENT_SUFFIX) or path == exclude:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # a live writer or replayer holds it
                continue
            if not path.exists():  # removed by its previous holder after we listed it
                os.close(fd)
                continue
            yield _Segment(path, fd)

    def claim(self) -> Iterator[_Segment]:
        """Segments no live process holds, oldest first, each locked until ``release()``."""
        own = self._writer.path if self._writer else None
        yield from self._claim_all(exclude=own)

    def pending(self) -> bool:
        """Whether the directory holds any segment at all (cheap: one directory listing)."""
        try:
            return any(e.name.endswith(SEGMENT_SUFFIX) for e in os.scandir(self.directory))
        except OSError:
            return False
