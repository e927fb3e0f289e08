"""How the converter writes its partitions: encoded by a few threads, uploaded by several at once."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pytest

from loglake import convert
from loglake.convert import WRITE_THREADS, convert_object
from loglake.errors import StorageError
from loglake.parquet import read_parquet
from loglake.schema import normalize, to_json_line
from loglake.storage import LocalStorage

T10 = 1_795_341_600_000  # 2026-11-22T10:00:00Z
HOURS = 12
KEY = "raw/bench/object.gz"


def _object(hours: int = HOURS, per_hour: int = 5) -> bytes:
    lines = [
        to_json_line(
            normalize({"request_id": f"r{h}-{i}", "timestamp": T10 + h * 3_600_000 + i, "service_name": "web"})
        )
        for i in range(per_hour)
        for h in range(hours)
    ]
    return gzip.compress(b"".join(lines), mtime=0)


class _SlowStorage(LocalStorage):
    """Puts that wait until ``width`` of them are in flight at once (as S3 puts overlap), or time out."""

    def __init__(self, root: Path, width: int) -> None:
        super().__init__(root)
        self.barrier = threading.Barrier(width, timeout=10)
        self.lock = threading.Lock()
        self.tables = 0

    def put(self, key: str, data: bytes) -> None:
        with self.lock:
            first = key.startswith("tables/") and self.tables < self.barrier.parties
            self.tables += key.startswith("tables/")
        if first:
            self.barrier.wait()  # BrokenBarrierError if the puts are not concurrent
        super().put(key, data)


def test_uploads_overlap_while_encoders_are_fewer(tmp_path: Path) -> None:
    width = min(WRITE_THREADS, HOURS)
    assert width > convert.ENCODE_THREADS
    storage = _SlowStorage(tmp_path, width)
    storage.put(KEY, _object())
    result = convert_object(storage, KEY)
    assert len(result.outputs) == HOURS and result.rows_written == HOURS * 5
    assert result.outputs == sorted(result.outputs)  # in partition order, whatever the threads did
    rows = read_parquet((tmp_path / result.outputs[3]).read_bytes())
    assert rows.column("request_id").to_pylist() == [f"r3-{i}" for i in range(5)]


class _FailingStorage(LocalStorage):
    def put(self, key: str, data: bytes) -> None:
        if key.startswith("tables/") and "hour=15" in key:
            raise StorageError("the bucket refused the put")
        super().put(key, data)


def test_a_failed_upload_propagates_so_the_notification_is_retried(tmp_path: Path) -> None:
    storage = _FailingStorage(tmp_path)
    storage.put(KEY, _object())
    with pytest.raises(StorageError, match="refused"):
        convert_object(storage, KEY)
