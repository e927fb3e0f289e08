"""The shared real Apache log through the transformer: every line parses; 2xx kept at ~10 %."""

from __future__ import annotations

import base64
import gzip
import io
from collections import Counter

import orjson
import pytest

from loglake import quarantine
from loglake.metrics import MetricsSink
from loglake.settings import Settings
from loglake.transform import Transformer
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def outcome() -> tuple[list[dict], list[dict], Counter[int]]:
    with gzip.open(SHARED_DATA / "logs" / "apache_combined_10k.log.gz", "rb") as fh:
        lines = [line.rstrip(b"\n") for line in fh if line.strip()]
    statuses = Counter(int(line.split(b'" ', 1)[1].split(b" ", 1)[0]) for line in lines)
    t = Transformer(
        Settings("file:///tmp/unused-lake", default_service="web"),
        hash_key=b"k" * 16,
        sink=MetricsSink(stream=io.StringIO()),
    )
    rows: list[dict] = []
    markers: list[dict] = []
    # One line per record, as a log agent sends them, in invocations of 500 records.
    for start in range(0, len(lines), 500):
        event = {
            "records": [
                {
                    "recordId": str(i),
                    "approximateArrivalTimestamp": 1_795_341_600_000,
                    "data": base64.b64encode(line).decode(),
                }
                for i, line in enumerate(lines[start : start + 500], start=start)
            ]
        }
        for answer in t.transform(event)["records"]:
            for out in base64.b64decode(answer["data"]).splitlines():
                value = orjson.loads(out)
                (markers if quarantine.MARKER in value else rows).append(value)
    return rows, markers, statuses


def test_every_line_parses(outcome: tuple[list[dict], list[dict], Counter[int]]) -> None:
    _, markers, statuses = outcome
    assert markers == [] and sum(statuses.values()) == 10_000


def test_errors_are_all_kept_and_2xx_kept_at_ten_percent(outcome: tuple[list[dict], list[dict], Counter[int]]) -> None:
    rows, _, statuses = outcome
    kept = Counter(r["status_code"] for r in rows)
    for status, n in statuses.items():
        if status >= 400:
            assert kept[status] == n, status
    sent_2xx = sum(n for s, n in statuses.items() if 200 <= s < 300)
    kept_2xx = sum(n for s, n in kept.items() if 200 <= s < 300)
    assert 0.085 <= kept_2xx / sent_2xx <= 0.115  # 10 % ± 1.5 points
    assert {r["sample_rate"] for r in rows if r["status_code"] < 400} == {0.1}
    # upscaling by 1/sample_rate estimates the 2xx traffic
    estimate = sum(1 / r["sample_rate"] for r in rows if 200 <= r["status_code"] < 300)
    assert abs(estimate - sent_2xx) / sent_2xx < 0.15


def test_rows_carry_utc_times_and_hashed_users(outcome: tuple[list[dict], list[dict], Counter[int]]) -> None:
    rows, _, _ = outcome
    assert all(r["timestamp"].startswith("2015-05-") and r["timestamp"].endswith("Z") for r in rows)
    assert all(r["service_name"] == "web" and r["ip_address"] for r in rows)
    assert all(r.get("user_id", "user:").startswith("user:") for r in rows)


@pytest.mark.parametrize("digits", [30, 5000])
@pytest.mark.parametrize("separator", [None, b"\n"])
def test_a_size_beyond_int64_is_quarantined_with_its_content(separator: bytes | None, digits: int) -> None:
    """The reason quotes a 30-digit integer, which orjson cannot write: the marker still carries the content."""
    t = Transformer(
        Settings("file:///tmp/unused-lake", default_service="web"),
        hash_key=b"k" * 16,
        sink=MetricsSink(stream=io.StringIO()),
    )
    line = (
        b'1.2.3.4 - - [17/May/2015:10:05:03 +0200] "GET /a?password=hunter2 HTTP/1.1" 500 '
        + b"9" * digits
        + b' "-" "c/8"'
    )
    good = b'1.2.3.4 - - [17/May/2015:10:05:04 +0200] "GET /b HTTP/1.1" 503 12 "-" "c/8"'
    data = line if separator is None else line + separator + good
    event = {"records": [{"recordId": "1", "approximateArrivalTimestamp": 1, "data": base64.b64encode(data).decode()}]}
    (answer,) = t.transform(event)["records"]
    out = [orjson.loads(x) for x in base64.b64decode(answer["data"]).splitlines()]
    marker = out[0][quarantine.MARKER]
    shown = "9" * 30 if digits == 30 else "of 5000 digits"
    assert answer["result"] == "Ok" and marker["reason"].startswith(f"bytes_sent {shown} is outside the allowed range")
    assert '"bytes_sent":' in marker["raw"] and "/a" in marker["raw"] and "hunter2" not in marker["raw"]
    assert [row["path"] for row in out[1:]] == ([] if separator is None else ["/b"])
