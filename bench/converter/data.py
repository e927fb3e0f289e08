"""The converter benchmark's input: the shared Apache log as the transformer writes it, repeated to a size."""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path

from bench.common import APACHE_LOG
from loglake.settings import Settings
from loglake.transform import Transformer

#: When the log's first line was served (17/May/2015:10:05:03 +0000): the events' arrival time.
ARRIVAL_MS = 1_431_857_103_000


def schema_ndjson() -> bytes:
    """The 10,000 Apache lines through the real transformer (sampling off): the NDJSON lines under ``raw/``."""
    lines = gzip.decompress(APACHE_LOG.read_bytes()).splitlines()
    settings = Settings("file:///tmp/unused", default_service="web", sampling={"default": {"rate": 1.0}})
    transformer = Transformer(settings, hash_key=b"bench-key", sink=_NullSink())
    out = []
    for start in range(0, len(lines), 500):
        event = {
            "records": [
                {"recordId": str(i), "approximateArrivalTimestamp": ARRIVAL_MS, "data": base64.b64encode(line).decode()}
                for i, line in enumerate(lines[start : start + 500])
            ]
        }
        for answer in transformer.transform(event)["records"]:
            if answer["result"] == "Ok":
                out.append(base64.b64decode(answer["data"]))
    return b"".join(out)


def repeated_ndjson(target_bytes: int) -> bytes:
    """``schema_ndjson`` repeated to about ``target_bytes``; each copy gets its own request ids (as real
    traffic would), so that repetition does not flatter compression."""
    base = schema_ndjson()
    copies = []
    size = 0
    n = 0
    while size < target_bytes:
        tag = hashlib.sha256(str(n).encode()).hexdigest()[:8].encode()
        copy = base.replace(b'"request_id":"', b'"request_id":"' + tag)
        copies.append(copy)
        size += len(copy)
        n += 1
    return b"".join(copies)


class _NullSink:
    def emit(self, metrics: object) -> None:
        pass

    def write(self, docs: object) -> None:
        pass


def write_input(path: Path, target_bytes: int) -> tuple[int, int]:
    """Write the gzip NDJSON input; returns (raw bytes, gzip bytes)."""
    raw = repeated_ndjson(target_bytes)
    data = gzip.compress(raw, compresslevel=6, mtime=0)
    path.write_bytes(data)
    return len(raw), len(data)
