"""The spool: checksummed segments, damage confined to damaged bytes, replay by this or the next process."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from loglake_client import KinesisLogger, RetryPolicy
from loglake_client._packing import Record
from loglake_client._spool import Spool, encode_entry, read_entries
from loglake_client.testing import FakeFirehose, client_error, decode_ndjson

pytestmark = pytest.mark.filterwarnings("ignore::loglake_client.DeliveryWarning")

NO_RETRY = RetryPolicy(base_delay=0.0, max_delay=0.0, max_attempts=1)


def payload(i: int) -> bytes:
    return b'{"service_name":"s","id":%d}\n' % i


def test_entries_round_trip_and_a_torn_tail_loses_only_the_tail() -> None:
    blob = b"".join(encode_entry(payload(i)) for i in range(5))
    assert [p for _, _, p in read_entries(blob)] == [payload(i) for i in range(5)]
    torn = blob[:-7]
    assert [p for _, _, p in read_entries(torn)] == [payload(i) for i in range(4)]


def test_a_corrupt_entry_in_the_middle_loses_only_itself() -> None:
    entries = [encode_entry(payload(i)) for i in range(5)]
    blob = bytearray(b"".join(entries))
    middle = len(entries[0]) + len(entries[1]) + 15  # a byte inside entry 2's payload
    blob[middle] ^= 0xFF
    assert [p for _, _, p in read_entries(bytes(blob))] == [payload(i) for i in (0, 1, 3, 4)]
    assert [p for _, _, p in read_entries(b"garbage" + bytes(blob[: len(entries[0])]))] == [payload(0)]


def test_a_segment_is_claimable_only_when_no_live_writer_holds_it(tmp_path: Path) -> None:
    writer = Spool(tmp_path)
    assert writer.append([Record(payload(1), 1)]) == (1, 0)
    other = Spool(tmp_path)  # another "process": its own descriptors, so the flock conflicts
    assert list(other.claim()) == []
    writer.rotate()
    claimed = list(other.claim())
    assert len(claimed) == 1
    assert [p for _, _, p in read_entries(claimed[0].read())] == [payload(1)]
    assert list(Spool(tmp_path).claim()) == []  # held by the claimer now
    claimed[0].release()


def test_the_spool_is_a_bounded_ring_the_oldest_segments_go_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=4000, segment_bytes=1000)
    big = Record(b'{"pad":"' + b"x" * 900 + b'"}\n', 1)
    evicted_total = 0
    for _ in range(10):
        written, evicted = spool.append([big])
        spool.rotate()
        evicted_total += evicted
        assert written == 1
    used = sum(p.stat().st_size for p in tmp_path.glob("*.seg"))
    assert used <= 4000 and evicted_total == 10 - len(list(tmp_path.glob("*.seg")))


def test_undeliverable_events_are_spooled_and_the_next_process_sends_them(
    tmp_path: Path, make_logger: Callable[..., KinesisLogger]
) -> None:
    down = FakeFirehose(fault=lambda i, d: client_error("ServiceUnavailableException", status=503))
    first = make_logger(down, spool_dir=tmp_path, retry=NO_RETRY)
    for i in range(30):
        first.info(service_name=("a", "b")[i % 2], id=i)
    assert first.flush() is True  # spooled counts as dealt with
    first.close()
    assert (first.stats.spooled, first.stats.failed, first.stats.sent) == (30, 0, 0)
    assert list(tmp_path.glob("*.seg"))

    up = FakeFirehose()
    second = make_logger(up, spool_dir=tmp_path)
    assert up.wait_for_events(30, timeout=10)
    second.close()
    assert Counter(e["id"] for e in up.events()) == Counter(range(30))
    assert second.stats.replayed == 30
    for data in up.accepted:
        assert len({e["service_name"] for e in decode_ndjson([data])}) == 1
    assert not list(tmp_path.glob("*.seg")) and not list(tmp_path.glob("*.ack"))


def test_after_an_outage_the_same_process_replays_what_it_spooled(
    tmp_path: Path, make_logger: Callable[..., KinesisLogger]
) -> None:
    state = {"down": True}
    fake = FakeFirehose(fault=lambda i, d: client_error("ThrottlingException") if state["down"] else None)
    log = make_logger(fake, spool_dir=tmp_path, retry=NO_RETRY)
    for i in range(10):
        log.info(id=i)
    assert log.flush()
    assert log.stats.spooled == 10
    state["down"] = False
    log.info(id=10)
    assert log.flush()
    assert fake.wait_for_events(11, timeout=10)
    assert Counter(e["id"] for e in fake.events()) == Counter(range(11))
    assert log.stats.replayed == 10


def test_close_spools_what_cannot_be_sent_before_its_timeout(
    tmp_path: Path, make_logger: Callable[..., KinesisLogger]
) -> None:
    fake = FakeFirehose(fault=lambda i, d: client_error("ThrottlingException"))
    log = make_logger(fake, spool_dir=tmp_path, retry=RetryPolicy(base_delay=0.05, max_delay=0.1, budget=60))
    for i in range(5):
        log.info(id=i)
    log.close(timeout=2.0)  # the retry budget (60 s) is cut short by the close deadline
    assert (log.stats.spooled, log.stats.failed) == (5, 0)
    entries = [p for seg in sorted(tmp_path.glob("*.seg")) for _, _, p in read_entries(seg.read_bytes())]
    assert sorted(e["id"] for e in decode_ndjson(entries)) == list(range(5))


def test_a_replay_cut_short_resumes_where_it_stopped_without_resending(
    tmp_path: Path, make_logger: Callable[..., KinesisLogger]
) -> None:
    spool = Spool(tmp_path)
    spool.append([Record(b'{"id":%d}\n' % i, 1) for i in range(1200)])  # 3 calls' worth of records
    spool.close()

    fake = FakeFirehose(fault=lambda i, d: client_error("ThrottlingException") if i == 1 else None)
    first = make_logger(fake, spool_dir=tmp_path, retry=NO_RETRY)
    assert fake.wait_for_events(500, timeout=10)
    first.close()
    assert first.stats.replayed == 500
    assert list(tmp_path.glob("*.ack"))

    fake2 = FakeFirehose()
    second = make_logger(fake2, spool_dir=tmp_path)
    assert fake2.wait_for_events(700, timeout=10)
    second.close()
    all_ids = [e["id"] for e in fake.events() + fake2.events()]
    assert Counter(all_ids) == Counter(range(1200))  # exactly once across the two processes


def test_a_damaged_segment_still_replays_its_intact_entries(
    tmp_path: Path, make_logger: Callable[..., KinesisLogger]
) -> None:
    spool = Spool(tmp_path)
    spool.append([Record(b'{"id":%d}\n' % i, 1) for i in range(3)])
    spool.close()
    (seg,) = tmp_path.glob("*.seg")
    data = bytearray(seg.read_bytes())
    data[20] ^= 0xFF  # inside entry 0
    seg.write_bytes(bytes(data[:-3]))  # and a torn tail on entry 2
    fake = FakeFirehose()
    log = make_logger(fake, spool_dir=tmp_path)
    assert fake.wait_for_events(1, timeout=10)
    log.close()
    assert [e["id"] for e in fake.events()] == [1]
    assert not list(tmp_path.glob("*.seg"))
