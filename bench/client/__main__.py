"""loglake-client benchmark: request-path cost, throughput, Firehose billing (``python -m bench.client``).

Measured in one run, so that the ratios compare like with like on the same machine:

(a) the request-path cost of ``KinesisLogger.info()`` (and of ``KinesisHandler.emit``), median and p99;
(b) one synchronous boto3 ``put_record`` per event against a local stub endpoint answering after
    ``--latency-ms`` (the original KinesisLogger's approach);
(c) watchtower's ``CloudWatchLogHandler.emit`` with a stub client;
(d) sustained events/s through the worker with a fake client (instant, and with per-call latency);
(e) for 1 KB events, Firehose-billed bytes (each record rounded up to 5 KB) over payload bytes and
    PutRecordBatch calls per 10,000 events, against one-event-per-record sending.

Writes ``bench/results/client.json`` and ``bench/results/client.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loglake_client import KinesisHandler, KinesisLogger
from loglake_client.testing import FakeFirehose

from bench.client._stub import StubFirehose

RESULTS = Path(__file__).resolve().parents[1] / "results"

#: A typical access-log event as an app would log it (about 400 bytes once encoded).
EVENT: dict[str, Any] = {
    "request_id": "6f1c7a52-3b7e-4d0a-9a57-0c1f2b0e8d41",
    "method": "GET",
    "path": "/api/v1/carts/8812/items",
    "query_params": "expand=prices&currency=EUR",
    "status_code": 200,
    "latency_ms": 12.734,
    "bytes_sent": 1834,
    "user_id": "u-102934",
    "ip_address": "203.0.113.42",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
    "referer": "https://shop.example.com/cart",
    "trace_id": "Root=1-67891233-abcdef012345678912345678",
}


def micro(samples_ns: list[int]) -> dict[str, float]:
    samples = sorted(samples_ns)
    return {
        "median_us": statistics.median(samples) / 1000,
        "p99_us": samples[int(len(samples) * 0.99) - 1] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
        "n": len(samples),
    }


def timed(fn: Any, args: list[Any]) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for a in args:
        t0 = clock()
        fn(a)
        out.append(clock() - t0)
    return out


# --------------------------------------------------------------------------- (a) request path


def bench_info(n: int) -> dict[str, Any]:
    log = KinesisLogger("bench", service_name="shop", client=FakeFirehose(), handle_sigterm=False)
    for _ in range(2000):
        log.info(EVENT)
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        log.info(EVENT)
        samples.append(clock() - t0)
    log.close()
    return {**micro(samples), "dropped": log.stats.dropped, "sent": log.stats.sent}


def _record(msg: Any, extra: dict[str, Any] | None = None) -> logging.LogRecord:
    record = logging.LogRecord("shop.access", logging.INFO, __file__, 1, msg, None, None)
    if extra:
        record.__dict__.update(extra)
    return record


def bench_handler(n: int) -> dict[str, Any]:
    log = KinesisLogger("bench", service_name="shop", client=FakeFirehose(), handle_sigterm=False)
    handler = KinesisHandler(logger=log)
    clock = time.perf_counter_ns
    samples = []
    for i in range(n + 2000):
        record = _record("GET /api/v1/carts/8812/items 200", EVENT)
        t0 = clock()
        handler.emit(record)
        if i >= 2000:
            samples.append(clock() - t0)
    log.close()
    return {**micro(samples), "dropped": log.stats.dropped}


# --------------------------------------------------------------------------- (b) synchronous put_record


def bench_sync_put_record(n: int, latency: float) -> dict[str, Any]:
    import boto3

    data = json.dumps(EVENT).encode() + b"\n"
    with StubFirehose(latency) as url:
        client = boto3.session.Session().client(
            "firehose",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

        def put(_: Any) -> None:
            client.put_record(DeliveryStreamName="bench", Record={"Data": data})

        timed(put, [None] * 5)  # connection set up, botocore caches warm
        samples = timed(put, [None] * n)
    return {**micro(samples), "stub_latency_ms": latency * 1000}


# --------------------------------------------------------------------------- (c) watchtower


class _StubLogs:
    """Just enough of a CloudWatch Logs client for watchtower's sending thread."""

    def put_log_events(self, **kwargs: Any) -> dict[str, Any]:
        return {"nextSequenceToken": "t"}

    def create_log_stream(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def create_log_group(self, **kwargs: Any) -> dict[str, Any]:
        return {}


def bench_watchtower(n: int) -> dict[str, Any]:
    import warnings

    import watchtower

    handler = watchtower.CloudWatchLogHandler(
        log_group_name="bench", log_stream_name="bench", boto3_client=_StubLogs(), create_log_group=False
    )
    clock = time.perf_counter_ns
    samples = []
    for i in range(n + 2000):
        record = _record(dict(EVENT))  # watchtower serialises dict messages as JSON
        t0 = clock()
        handler.emit(record)
        if i >= 2000:
            samples.append(clock() - t0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handler.close()
    from importlib.metadata import version

    return {**micro(samples), "version": version("watchtower")}


# --------------------------------------------------------------------------- (d) throughput


def bench_throughput(n: int, latency: float) -> dict[str, Any]:
    fake = FakeFirehose(latency=latency)
    log = KinesisLogger(
        "bench", service_name="shop", client=fake, when_full="block", block_timeout=60, handle_sigterm=False
    )
    t0 = time.perf_counter()
    for _ in range(n):
        log.info(EVENT)
    ok = log.flush(timeout=600)
    elapsed = time.perf_counter() - t0
    log.close()
    s = log.stats
    return {
        "events": n,
        "seconds": elapsed,
        "events_per_s": s.sent / elapsed,
        "flushed": ok,
        "dropped": s.dropped,
        "api_calls": s.api_calls,
        "call_latency_ms": latency * 1000,
    }


# --------------------------------------------------------------------------- (e) billing


def event_1k(i: int, service: str = "shop") -> dict[str, Any]:
    """An event whose NDJSON line, as the logger writes it, is exactly 1,000 bytes."""
    base = {**EVENT, "request_id": f"r-{i:08d}", "service_name": service, "pad": ""}
    probe = {**base, "timestamp": "2026-11-22T10:00:00.000Z", "level": "INFO"}
    size = len(json.dumps(probe, separators=(",", ":")).encode()) + 1
    base["pad"] = "x" * (1000 - size)
    return base


def billing(events: int, *, window: int | None, services: int = 1, aggregate: bool = True) -> dict[str, Any]:
    """Send ``events`` 1 KB events; ``window`` events per 1 s batch window (``None``: as fast as possible)."""
    fake = FakeFirehose()
    log = KinesisLogger("bench", client=fake, aggregate=aggregate, handle_sigterm=False)
    payload = [event_1k(i, f"svc-{i % services}") for i in range(events)]
    for i, event in enumerate(payload, 1):
        log.info(event)
        if window and i % window == 0:
            log.flush()  # at this rate the 1 s timer cuts the batch here; flush() does it without waiting
    log.flush()
    log.close()
    s = log.stats
    assert s.payload_bytes == 1000 * events, s  # the events really are 1,000 bytes
    return {
        "events": events,
        "window_events": window,
        "services": services,
        "aggregate": aggregate,
        "api_calls": s.api_calls,
        "calls_per_10k": s.api_calls * 10_000 / events,
        "records": s.records,
        "mean_record_kb": s.payload_bytes / max(s.records, 1) / 1000,
        "billed_over_payload": s.billed_bytes / s.payload_bytes,
    }


# --------------------------------------------------------------------------- report


def run(quick: bool, latency_ms: float) -> dict[str, Any]:
    n_micro = 20_000 if quick else 200_000
    n_sync = 50 if quick else 300
    n_tput = 50_000 if quick else 300_000
    latency = latency_ms / 1000
    gc.collect()
    results: dict[str, Any] = {
        "a_info": bench_info(n_micro),
        "a_handler_emit": bench_handler(n_micro // 2),
        "b_sync_put_record": bench_sync_put_record(n_sync, latency),
        "c_watchtower_emit": bench_watchtower(n_micro // 2),
        "d_throughput_instant": bench_throughput(n_tput, 0.0),
        "d_throughput_20ms_calls": bench_throughput(n_tput // 3, 0.020),
        "e_billing": {
            "burst_default": billing(10_000, window=None),
            "burst_one_event_per_record": billing(10_000, window=None, aggregate=False),
            "burst_4_services": billing(10_000, window=None, services=4),
            "rate_500_per_s": billing(10_000, window=500),
            "rate_250_per_s": billing(10_000, window=250),
            "rate_100_per_s": billing(10_000, window=100),
            "rate_10_per_s": billing(2_000, window=10),
        },
    }
    a, b, c = results["a_info"], results["b_sync_put_record"], results["c_watchtower_emit"]
    e = results["e_billing"]
    results["ratios"] = {
        "sync_put_record_over_info_median": b["median_us"] / a["median_us"],
        "sync_put_record_over_info_p99": b["p99_us"] / a["p99_us"],
        "watchtower_over_info_median": c["median_us"] / a["median_us"],
        "watchtower_over_info_p99": c["p99_us"] / a["p99_us"],
        "watchtower_over_handler_median": c["median_us"] / results["a_handler_emit"]["median_us"],
    }
    r = results["ratios"]
    results["targets"] = {
        "a_p99_le_50us": a["p99_us"] <= 50,
        "a_100x_cheaper_than_b": min(r["sync_put_record_over_info_median"], r["sync_put_record_over_info_p99"]) >= 100,
        "a_not_slower_than_c": min(r["watchtower_over_info_median"], r["watchtower_over_info_p99"]) >= 1,
        "e_billed_le_1_02": e["burst_default"]["billed_over_payload"] <= 1.02,
        "e_calls_le_10_per_10k": e["burst_default"]["calls_per_10k"] <= 10,
    }
    results["settings"] = {
        "quick": quick,
        "stub_latency_ms": latency_ms,
        "event_bytes_a_to_d": len(json.dumps(EVENT)),
    }
    return results


def render(res: dict[str, Any]) -> str:
    a, h, b, c = res["a_info"], res["a_handler_emit"], res["b_sync_put_record"], res["c_watchtower_emit"]
    r, t, e = res["ratios"], res["targets"], res["e_billing"]
    d0, d1 = res["d_throughput_instant"], res["d_throughput_20ms_calls"]
    ok = {True: "met", False: "NOT MET"}
    lines = [
        f"loglake-client benchmark - Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (quick)' if res['settings']['quick'] else ''}",
        "",
        f"(a) request-path cost per event ({res['settings']['event_bytes_a_to_d']}-byte access-log event)",
        f"    KinesisLogger.info(dict)          median {a['median_us']:8.2f} us  p99 {a['p99_us']:8.2f} us"
        f"   (n={a['n']}, dropped={a['dropped']})",
        f"    KinesisHandler.emit(LogRecord)    median {h['median_us']:8.2f} us  p99 {h['p99_us']:8.2f} us",
        f"(b) boto3 put_record per event       median {b['median_us']:8.0f} us  p99 {b['p99_us']:8.0f} us"
        f"   (local stub answering after {b['stub_latency_ms']:g} ms)",
        f"    -> info() is {r['sync_put_record_over_info_median']:,.0f}x cheaper (median), "
        f"{r['sync_put_record_over_info_p99']:,.0f}x (p99)",
        f"(c) watchtower {c['version']} CloudWatchLogHandler.emit"
        f"  median {c['median_us']:6.2f} us   p99 {c['p99_us']:8.2f} us",
        f"    -> info() is {r['watchtower_over_info_median']:.2f}x cheaper (median), "
        f"{r['watchtower_over_info_p99']:.2f}x (p99); KinesisHandler.emit "
        f"{r['watchtower_over_handler_median']:.2f}x (median)",
        "(d) sustained throughput, producer + worker on one process (when_full='block')",
        f"    instant fake client:        {d0['events_per_s']:>9,.0f} events/s  ({d0['api_calls']} calls)",
        f"    fake client, 20 ms per call: {d1['events_per_s']:>8,.0f} events/s  ({d1['api_calls']} calls;"
        " one worker, calls in sequence: <= 1,000 events per 20 ms)",
        "(e) 1,000-byte events: Firehose-billed bytes / payload bytes, PutRecordBatch calls per 10k events",
    ]
    labels = {
        "burst_default": "default batching, >= 1,000 events/s (cut at 1,000)",
        "burst_one_event_per_record": "one event per record (aggregate=False)",
        "burst_4_services": "default batching, 4 services interleaved",
        "rate_500_per_s": "500 events/s (cut by the 1 s timer)",
        "rate_250_per_s": "250 events/s (cut by the 1 s timer)",
        "rate_100_per_s": "100 events/s (cut by the 1 s timer)",
        "rate_10_per_s": "10 events/s (cut by the 1 s timer)",
    }
    for key, label in labels.items():
        x = e[key]
        lines.append(
            f"    {label:<52} billed/payload {x['billed_over_payload']:6.3f}"
            f"   calls/10k {x['calls_per_10k']:7.1f}   mean record {x['mean_record_kb']:6.1f} KB"
        )
    base, agg = e["burst_one_event_per_record"], e["burst_default"]
    lines += [
        f"    -> aggregation bills {base['billed_over_payload'] / agg['billed_over_payload']:.2f}x"
        f" fewer bytes and makes {base['calls_per_10k'] / agg['calls_per_10k']:.1f}x fewer calls"
        " than one event per record",
        "",
        "targets: "
        + ", ".join(
            [
                f"(a) p99 <= 50 us {ok[t['a_p99_le_50us']]}",
                f">= 100x cheaper than (b) {ok[t['a_100x_cheaper_than_b']]}",
                f"no slower than (c) {ok[t['a_not_slower_than_c']]}",
                f"(e) billed/payload <= 1.02 {ok[t['e_billed_le_1_02']]}",
                f"<= 10 calls/10k {ok[t['e_calls_le_10_per_10k']]}",
            ]
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run, not for figures)")
    parser.add_argument("--latency-ms", type=float, default=10.0, help="stub endpoint latency for (b)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args(argv)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    results = run(args.quick, args.latency_ms)
    text = render(results)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        payload = {
            "benchmark": "client",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "system": platform.system(),
            },
            **results,
        }
        (RESULTS / "client.json").write_text(json.dumps(payload, indent=2) + "\n")
        (RESULTS / "client.md").write_text("# loglake-client benchmark\n\n```\n" + text + "\n```\n")
        print(f"\nwrote {RESULTS / 'client.json'} and {RESULTS / 'client.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
