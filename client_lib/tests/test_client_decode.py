"""The pipeline's transformer decodes the client's aggregated records back into the same events.

``transformer_decode`` is the transformer's own decoder (``loglake.records.decode_record``), so a change on
either side that breaks the wire format fails here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from loglake_client import KinesisLogger
from loglake_client.testing import FakeFirehose

from loglake.records import decode_record


def transformer_decode(data: bytes) -> list[dict[str, Any]]:
    decoded = decode_record(data)
    assert decoded.failures == []
    return [event for event, _raw in decoded.events]


def test_records_decode_as_ndjson_events(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
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
