"""The pipeline's transformer decodes the client's aggregated records back into the same events.

The transformer lives in the lead's code on ``main``; until it is merged here, ``transformer_decode`` below
does exactly what it does: split each record's bytes on ``b"\\n"``, skip empty lines, JSON-parse each line.
At merge time point ``transformer_decode`` at the real decoder.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from loglake_client import KinesisLogger
from loglake_client.testing import FakeFirehose


def transformer_decode(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


def test_records_decode_as_ndjson_events(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake, service_name="shop", max_record_bytes=4096)  # small records: many boundaries
    sent: list[dict[str, Any]] = []
    for i in range(300):
        event = {
            "request_id": f"r-{i}",
            "service_name": ("shop", "search")[i % 2],
            "path": "/naïve/path\nwith newline",
            "status_code": 200 + i % 3,
            "latency_ms": i / 7,
            "at": dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC),
            "price": Decimal("9.90"),
            "uid": uuid.UUID(int=i),
            "tags": {"b", "a"},
            "pad": "x" * (i * 5),
        }
        log.info(event)
        sent.append(event)
    assert log.flush()

    decoded = [e for data in fake.accepted for e in transformer_decode(data)]
    assert len(decoded) == len(sent)
    for data in fake.accepted:
        assert data.endswith(b"\n")
        assert len({e["service_name"] for e in transformer_decode(data)}) == 1
    by_id = {e["request_id"]: e for e in decoded}
    for event in sent:
        got = by_id[event["request_id"]]
        assert got["service_name"] == event["service_name"]
        assert (got["path"], got["status_code"], got["latency_ms"]) == (
            event["path"],
            event["status_code"],
            event["latency_ms"],
        )
        assert (got["at"], got["price"], got["uid"], got["tags"]) == (
            "2026-11-22T10:00:00+00:00",
            "9.90",
            str(event["uid"]),
            ["a", "b"],
        )
        assert got["level"] == "INFO" and got["timestamp"].endswith("Z")
        assert got["pad"] == event["pad"]
