"""The embedded pipeline end to end: client → delivery stream → transformer → converter → autoloader → DuckDB."""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loglake.local import demo
from loglake.local.traffic import TrafficPlan, generate
from loglake.records import parse_clf_time
from loglake.schema import parse_timestamp
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow

# Event times near the clock, as live traffic has: the converter's event-time window (48 h back, 60 min ahead
# of arrival) partitions rows by event hour only inside it.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
SMALL = TrafficPlan(
    end=NOW - timedelta(hours=3),
    hours=1.5,
    per_service_per_minute=6,
    scraper_minutes=2,
    scraper_per_minute=300,
    spike_minutes=3,
    seed=11,
)


def kept_by_rule(request_id: str | None, status: int | None, latency: float | None) -> bool:
    """The documented sampling rule, written independently of loglake.sampling."""
    if (status is not None and status >= 400) or (latency is not None and latency >= 1000) or request_id is None:
        return True
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big") / 2**64 < 0.1


def hour_of(ms: int) -> tuple[str, str, str, str]:
    t = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{t.year:04d}", f"{t.month:02d}", f"{t.day:02d}", f"{t.hour:02d}"


def catalog_counts(lake: Path) -> Counter:
    _, rows = demo.query(lake, "SELECT service_name, year, month, day, hour, count(*) FROM access_logs GROUP BY ALL")
    return Counter({tuple(r[:5]): r[5] for r in rows})


def test_generated_traffic_end_to_end(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    summary = demo.run(lake, plan=SMALL)

    expected: Counter = Counter()
    malformed = 0
    for e in generate(SMALL):
        if e["status_code"] == "abc":
            malformed += 1
            continue
        if kept_by_rule(e["request_id"], e["status_code"], e["latency_ms"]):
            expected[(e["service_name"], *hour_of(parse_timestamp(e["timestamp"])))] += 1

    assert summary.sent == sum(1 for _ in generate(SMALL))
    assert summary.sent == summary.kept + summary.sampled_out + summary.quarantined
    assert summary.quarantined == malformed > 0
    assert summary.client_dropped == 0 and summary.dead_letters == 0
    assert catalog_counts(lake) == expected
    assert summary.partitions_registered == len(expected)  # one partition per (service, event hour)
    assert summary.parquet_objects >= len(expected) and summary.raw_objects >= 1

    # The report's queries run against the catalog and print readable tables.
    text = demo.report(lake, summary)
    assert "p99 latency per endpoint" in text and "203.0.113.66" in text and "balanced" in text
    # Planted secrets never reach the lake in clear text.
    for path in lake.rglob("*"):
        if path.is_file() and path.suffix in (".gz", ".ndjson"):
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            assert b"alice.smith@example.com" not in data and b"hunter2-password" not in data


def test_second_run_appends_and_stays_consistent(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first = demo.run(lake, plan=SMALL)
    later = TrafficPlan(**{**SMALL.__dict__, "end": NOW, "seed": 12})
    second = demo.run(lake, plan=later)
    assert second.balanced and second.partitions_registered > 0
    assert sum(catalog_counts(lake).values()) == first.kept + second.kept


def test_replay_of_the_shared_apache_log(tmp_path: Path) -> None:
    source = tmp_path / "apache_1000.log"
    with gzip.open(SHARED_DATA / "logs" / "apache_combined_10k.log.gz", "rb") as fh:
        lines = [next(fh) for _ in range(1000)]
    source.write_bytes(b"".join(lines))

    lake = tmp_path / "lake"
    summary = demo.run(lake, source=str(source), service_name="web")

    expected: Counter = Counter()
    for raw in lines:
        line = raw.strip()
        fields = line.split(b'"')
        status = int(fields[2].split()[0])
        ms = parse_clf_time(line.split(b"[", 1)[1].split(b"]", 1)[0].decode())
        if kept_by_rule(hashlib.sha256(line).hexdigest()[:32], status, None):
            expected[("web", *hour_of(ms))] += 1
    assert summary.sent == 1000
    assert summary.quarantined == 0  # every line of the real log parses
    assert summary.balanced
    assert catalog_counts(lake) == expected
    assert summary.partitions_registered == len(expected)
