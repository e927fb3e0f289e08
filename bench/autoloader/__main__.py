"""The autoloader: catalog calls and warm-path time per event, against the per-object approach.

10,000 S3 ObjectCreated notifications for ``tables/access_logs/…`` spread over K new partitions (K = 1, 24,
500), delivered as SQS events of 10 messages, in two arrival orders: ``time-ordered`` (a partition's objects
arrive together, as an hour's files do) and ``shuffled`` (seeded random order: the worst case for batching).

- **batched** — this project: ``batch_items`` + :class:`loglake.autoload.Autoloader` with the real
  :class:`~loglake.catalog.AthenaCatalog` on a counting fake Athena client (every statement SUCCEEDED at the
  first poll, so no wait is timed). Calls are Athena API calls (StartQueryExecution + GetQueryExecution) and
  statements; the target is statements ≤ the number of batches containing a not-yet-registered partition.
- **per-object model** — one ``ALTER TABLE … ADD IF NOT EXISTS PARTITION`` per object, then a full
  ``SHOW PARTITIONS`` after each add, through the same catalog and fake client, counted the same way.

Warm path: once every partition is known, the same 1,000 events are handled again (best of 5); the target is
≤ 50 µs per event. It is timed twice: the core (``batch_items`` + ``Autoloader.handle``) and the whole Lambda
handler (event parsing, metrics document written to a file). The per-object model has no warm path: its time
per event is measured with the same zero-latency fake client, so real Athena latency would only add to it.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import best_of, write_results
from loglake.autoload import Autoloader
from loglake.catalog import AthenaCatalog, quote_identifier
from loglake.events import BatchItem, batch_items
from loglake.layout import TableLayouts
from loglake.local.runtime import load_handler, s3_notification
from loglake.partitions import Partition

N_OBJECTS = 10_000
BATCH = 10
KS = (1, 24, 500)
SERVICES = ("checkout", "search", "cart", "auth", "catalog", "orders", "profile", "payments", "reviews", "ads")
WARM_TARGET_US = 50.0


class CountingAthena:
    """A zero-latency Athena client: every query succeeds at the first poll; API calls are counted."""

    def __init__(self) -> None:
        self.starts = 0
        self.polls = 0
        self.sql: list[str] = []

    def start_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.starts += 1
        self.sql.append(kwargs["QueryString"])
        return {"QueryExecutionId": f"q{self.starts}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.polls += 1
        return {"QueryExecution": {"QueryExecutionId": QueryExecutionId, "Status": {"State": "SUCCEEDED"}}}

    @property
    def calls(self) -> int:
        return self.starts + self.polls


def athena(client: CountingAthena) -> AthenaCatalog:
    return AthenaCatalog(database="loglake", workgroup="loglake", client=client, sleep=lambda s: None)


def partitions(k: int) -> list[Partition]:
    """K distinct partitions: services × consecutive hours from 2026-11-22T00."""
    out = []
    for i in range(k):
        hour = i // len(SERVICES)
        day, hour = 22 + hour // 24, hour % 24
        out.append(Partition("access_logs", (SERVICES[i % len(SERVICES)], "2026", "11", f"{day:02d}", f"{hour:02d}")))
    return out


def keys(k: int, order: str) -> list[str]:
    parts = partitions(k)
    # time-ordered: objects of one partition arrive together; the first objects open each partition in turn
    out = [f"{parts[i * k // N_OBJECTS].prefix}part-{i:05d}.parquet" for i in range(N_OBJECTS)]
    if order == "shuffled":
        random.Random(k).shuffle(out)
    return out


def sqs_events(object_keys: list[str], bucket: str = "lake-bucket") -> list[dict[str, Any]]:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    events = []
    for start in range(0, len(object_keys), BATCH):
        records = []
        for j, key in enumerate(object_keys[start : start + BATCH]):
            body = orjson.dumps(s3_notification(bucket, key, 1024, now)).decode()
            records.append({"messageId": f"m{start + j}", "eventSource": "aws:sqs", "body": body})
        events.append({"Records": records})
    return events


def batches_with_new_partition(object_keys: list[str]) -> int:
    seen: set[str] = set()
    count = 0
    for start in range(0, len(object_keys), BATCH):
        folders = {k.rsplit("/", 1)[0] for k in object_keys[start : start + BATCH]}
        if folders - seen:
            count += 1
        seen |= folders
    return count


class PerObjectModel:
    """The approach the autoloader replaces: one ADD PARTITION per object, then a full SHOW PARTITIONS."""

    def __init__(self, catalog: AthenaCatalog, tables: TableLayouts) -> None:
        self.catalog = catalog
        self.tables = tables

    def handle(self, items: list[BatchItem]) -> None:
        for item in items:
            for obj in item.objects:
                partition = self.tables.classify(obj.key).partition
                if partition is None:
                    continue
                self.catalog.add_partitions([(partition, "s3://lake-bucket/" + partition.prefix)])
                self.catalog.execute(f"SHOW PARTITIONS {quote_identifier(self.catalog.database)}.`access_logs`")


def run_all(handle: Callable[[list[BatchItem]], Any], events: list[dict[str, Any]]) -> None:
    for event in events:
        handle(batch_items(event))


def measure(k: int, order: str) -> dict[str, Any]:
    object_keys = keys(k, order)
    events = sqs_events(object_keys)
    tables = TableLayouts()
    new_batches = batches_with_new_partition(object_keys)

    client = CountingAthena()
    loader = Autoloader(athena(client), lambda p: "s3://lake-bucket/" + tables.prefix(p), tables=tables)
    t0 = time.perf_counter()
    failed = 0
    for event in events:
        failed += len(loader.handle(batch_items(event)).failed_items)
    cold_s = time.perf_counter() - t0
    assert failed == 0 and len(loader.known) == k
    batched = {"statements": client.starts, "api_calls": client.calls}

    warm_s, _ = best_of(lambda: run_all(loader.handle, events), repeat=5)
    assert client.starts == batched["statements"], "the warm path must make no catalog call"

    model_client = CountingAthena()
    model = PerObjectModel(athena(model_client), tables)
    model_s, _ = best_of(lambda: run_all(model.handle, events), repeat=1)
    per_object = {"statements": model_client.starts, "api_calls": model_client.calls}

    warm_us = warm_s / N_OBJECTS * 1e6
    model_us = model_s / N_OBJECTS * 1e6
    return {
        "k": k,
        "order": order,
        "batches": len(events),
        "batches_with_new_partition": new_batches,
        "batched": batched | {"cold_us_per_event": round(cold_s / N_OBJECTS * 1e6, 2)},
        "per_object_model": per_object | {"us_per_event": round(model_us, 2)},
        "warm_us_per_event": round(warm_us, 2),
        "statements_ratio": round(per_object["statements"] / batched["statements"], 1),
        "api_calls_ratio": round(per_object["api_calls"] / batched["api_calls"], 1),
        "time_ratio_model_over_warm": round(model_us / warm_us, 1),
        "calls_target_met": batched["statements"] <= new_batches,
        "warm_target_met": warm_us <= WARM_TARGET_US,
    }


def measure_handler(k: int = 24) -> float:
    """Warm-path µs per event of the whole Lambda handler (local lake: DuckDB catalog, metrics to a file)."""
    events = sqs_events(keys(k, "time-ordered"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {"LOGLAKE_LAKE_URI": Path(tmp).as_uri(), "LOGLAKE_METRICS_PATH": f"{tmp}/emf.ndjson"}
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            module = load_handler("autoloader")
            for event in events:  # cold: registers the K partitions in the local catalog
                module.handler(event, None)
            seconds, _ = best_of(lambda: [module.handler(e, None) for e in events], repeat=5)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return seconds / N_OBJECTS * 1e6


def main() -> None:
    rows = [measure(k, order) for k in KS for order in ("time-ordered", "shuffled")]
    handler_us = measure_handler()
    print(f"{N_OBJECTS:,} notifications in SQS batches of {BATCH}; per-object model = ADD PARTITION + SHOW PARTITIONS")
    header = (
        f"{'K':>4} {'order':<13} {'new-batches':>11} {'stmts':>6} {'calls':>6} {'model stmts':>11} "
        f"{'model calls':>11} {'stmt ratio':>10} {'warm µs/ev':>10} {'model µs/ev':>11} {'time ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['k']:>4} {r['order']:<13} {r['batches_with_new_partition']:>11} {r['batched']['statements']:>6} "
            f"{r['batched']['api_calls']:>6} {r['per_object_model']['statements']:>11} "
            f"{r['per_object_model']['api_calls']:>11} {r['statements_ratio']:>9}x {r['warm_us_per_event']:>10} "
            f"{r['per_object_model']['us_per_event']:>11} {r['time_ratio_model_over_warm']:>9}x"
        )
    print(f"whole Lambda handler, warm path (K=24): {handler_us:.2f} µs/event")
    calls_ok = all(r["calls_target_met"] for r in rows)
    warm_ok = all(r["warm_target_met"] for r in rows) and handler_us <= WARM_TARGET_US
    print(f"target statements <= batches with a new partition: {'met' if calls_ok else 'NOT met'}")
    print(f"target warm path <= {WARM_TARGET_US:.0f} µs/event: {'met' if warm_ok else 'NOT met'}")
    path = write_results(
        "autoloader",
        {
            "objects": N_OBJECTS,
            "batch_size": BATCH,
            "rows": rows,
            "handler_warm_us_per_event": round(handler_us, 2),
            "targets": {"calls": calls_ok, "warm_path": warm_ok},
        },
    )
    print(f"results: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
