"""Records and calls stay within PutRecordBatch's limits, hold one service each, and lose nothing."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from loglake_client._packing import (
    BILLING_INCREMENT,
    MAX_BYTES_PER_CALL,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_CALL,
    Record,
    billed_bytes,
    pack_records,
    split_calls,
)
from loglake_client.testing import decode_ndjson


def line(service: str, i: int, size: int) -> bytes:
    body = f'{{"service_name":"{service}","i":{i},"pad":"'.encode()
    tail = b'"}\n'
    return body + b"x" * max(size - len(body) - len(tail), 0) + tail


def test_billing_rounds_each_record_up_to_5_kb() -> None:
    assert BILLING_INCREMENT == 5120
    assert [billed_bytes(n) for n in (1, 5120, 5121, 1_024_000)] == [5120, 5120, 10240, 1_024_000]


def test_small_events_share_a_record_per_service_in_arrival_order() -> None:
    lines = [("a", line("a", 0, 50)), ("b", line("b", 1, 50)), ("a", line("a", 2, 50))]
    recs = pack_records(lines)
    assert [r.events for r in recs] == [2, 1]
    assert [e["i"] for e in decode_ndjson([recs[0].data])] == [0, 2]


def test_records_are_cut_before_the_record_limit_and_never_split_an_event() -> None:
    lines = [("a", line("a", i, 300_000)) for i in range(7)]
    recs = pack_records(lines)
    assert [r.events for r in recs] == [3, 3, 1]
    assert all(len(r.data) <= MAX_RECORD_BYTES for r in recs)


def test_without_aggregation_every_event_is_its_own_record() -> None:
    recs = pack_records([("a", line("a", i, 100)) for i in range(3)], aggregate=False)
    assert [r.events for r in recs] == [1, 1, 1]


def test_calls_respect_the_record_count_and_byte_limits() -> None:
    many = [Record(b"x\n", 1)] * 1201
    assert [len(c) for c in split_calls(many)] == [500, 500, 201]
    big = [Record(b"y" * 1_000_000, 1)] * 9
    calls = split_calls(big)
    assert [len(c) for c in calls] == [4, 4, 1]
    assert all(sum(len(r.data) for r in c) <= MAX_BYTES_PER_CALL for c in calls)


events_strategy = st.lists(
    st.tuples(st.sampled_from(["api", "web", "jobs"]), st.integers(min_value=30, max_value=700)),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(events_strategy, st.integers(min_value=800, max_value=4000), st.booleans())
def test_packing_property_limits_routing_and_exactly_once(
    spec: list[tuple[str, int]], record_limit: int, aggregate: bool
) -> None:
    lines = [(svc, line(svc, i, size)) for i, (svc, size) in enumerate(spec)]
    call_bytes, call_records = 3 * record_limit, 7  # small limits, so that every boundary is exercised
    recs = pack_records(lines, max_record_bytes=record_limit, aggregate=aggregate)
    calls = split_calls(recs, max_records=call_records, max_bytes=call_bytes)

    for call in calls:
        assert 1 <= len(call) <= call_records
        assert sum(len(r.data) for r in call) <= call_bytes
    arrived = []
    for call in calls:
        for rec in call:
            assert len(rec.data) <= record_limit
            events = decode_ndjson([rec.data])
            assert rec.events == len(events) >= 1
            assert len({e["service_name"] for e in events}) == 1  # one service per record
            arrived += [e["i"] for e in events]
    assert Counter(arrived) == Counter(range(len(lines)))  # every event exactly once
    # Within a service, order is kept.
    for svc in {"api", "web", "jobs"}:
        order = [e["i"] for c in calls for r in c for e in decode_ndjson([r.data]) if e["service_name"] == svc]
        assert order == sorted(order)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=200, max_value=2000), min_size=1, max_size=2000))
def test_aggregation_bounds_billing_waste_to_one_partial_record_per_service(sizes: list[int]) -> None:
    lines = [("svc", line("svc", i, n)) for i, n in enumerate(sizes)]
    recs = pack_records(lines)
    payload = sum(len(r.data) for r in recs)
    billed = sum(billed_bytes(len(r.data)) for r in recs)
    full_records = len(recs) - 1
    # The record limit is a multiple of the billing increment, so a record closed because the next event did
    # not fit wastes less than that event's size (< 2,000 bytes); only the batch's last record can be mostly
    # empty, wasting < 5 KB.
    assert MAX_RECORD_BYTES % BILLING_INCREMENT == 0
    assert billed - payload < full_records * 2000 + BILLING_INCREMENT
    if payload >= 256_000:
        assert billed / payload < 1.02 + 0.002


def test_default_limits_are_firehoses() -> None:
    assert (MAX_RECORDS_PER_CALL, MAX_BYTES_PER_CALL, MAX_RECORD_BYTES) == (500, 4 * 1024 * 1024, 1000 * 1024)
