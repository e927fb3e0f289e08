"""The compactor on a local lake with the DuckDB catalog: counts before, during and after, reruns, late files,
redeliveries, crashes between steps, deferred switches and delayed deletion — and its Lambda handler."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from loglake.catalog import DuckDBCatalog, local_catalog_path
from loglake.compact import (
    MANIFEST_NAME,
    CompactionError,
    CompactOptions,
    Compactor,
    Plan,
    compaction_request,
    generation_created_ms,
    generation_name,
    generations_root,
)
from loglake.convert import ConvertOptions, convert_object
from loglake.local.runtime import LambdaContext, scheduled_event
from loglake.partitions import Partition, parse_key
from loglake.schema import TABLE_NAME, to_json_line
from loglake.storage import LocalStorage

HOUR = 3_600_000
T10 = 1_795_341_600_000  # 2026-11-22T10:00:00Z
NO_WINDOW = ConvertOptions(max_age_ms=0, max_future_ms=0)
MINUTE = 60_000
DELAY = 30 * MINUTE
OPTIONS = CompactOptions(grace_ms=60 * MINUTE, lookback_ms=48 * HOUR, delete_delay_ms=DELAY)
NOW = T10 + 3 * HOUR  # hour 10 closed two hours ago


class Lake:
    def __init__(self, root: Path) -> None:
        self.storage = LocalStorage(root)
        self.catalog = DuckDBCatalog(local_catalog_path(self.storage.uri))
        self.objects = 0

    def write_raw(self, rows: list[dict[str, Any]], name: str | None = None) -> str:
        self.objects += 1
        key = f"raw/2026/11/22/10/{name or f'object-{self.objects:03d}'}.gz"
        self.storage.put(key, gzip.compress(b"".join(to_json_line(r) for r in rows), mtime=0))
        return key

    def convert(self, key: str) -> list[str]:
        """Convert as the converter does, register as the autoloader does (ADD IF NOT EXISTS)."""
        outputs = convert_object(self.storage, key, options=NO_WINDOW).outputs
        parts = {parse_key(k) for k in outputs}
        self.catalog.add_partitions([(p, self.storage.location(p.prefix)) for p in sorted(parts)])
        return outputs

    def add(self, n: int, *, hour_ms: int = T10, service: str = "shop", tag: str = "") -> str:
        tag = tag or f"o{self.objects + 1}"
        rows = [
            {"request_id": f"{tag}-{i}", "timestamp": hour_ms + (i * 7919) % HOUR, "service_name": service}
            for i in range(n)
        ]
        key = self.write_raw(rows)
        self.convert(key)
        return key

    def ids(self, where: str = "") -> list[str]:
        con = self.catalog.query_connection([TABLE_NAME])
        return sorted(r[0] for r in con.execute(f"SELECT request_id FROM {TABLE_NAME} {where}").fetchall())

    def location(self, partition: Partition) -> str:
        return self.catalog.partitions(TABLE_NAME)[partition]

    def compactor(self, **changes: Any) -> Compactor:
        options = CompactOptions(**(OPTIONS.__dict__ | changes))
        return Compactor(self.storage, self.catalog, options=options)


SHOP_10 = Partition(TABLE_NAME, ("shop", "2026", "11", "22", "10"))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def base_files(lake: Lake, partition: Partition = SHOP_10) -> list[str]:
    return [o.key for o in lake.storage.list(partition.prefix) if "/" not in o.key[len(partition.prefix) :]]


def test_counts_are_the_same_before_during_and_after_the_switch(lake: Lake) -> None:
    for _ in range(5):
        lake.add(40)
    lake.add(10, hour_ms=T10 + 2 * HOUR)  # hour 12: still inside the grace period at NOW
    before = lake.ids()
    assert len(before) == 210 and len(base_files(lake)) == 5

    compactor = lake.compactor()
    (state,) = [s for s in compactor.states(compactor.candidates(NOW)) if s.partition == SHOP_10]
    plan = compactor.plan(state, NOW)
    assert plan is not None and len(plan.inputs) == 5
    manifest = compactor.write(plan, NOW)
    assert manifest.rows == 200 and manifest.previous == lake.location(SHOP_10)
    during = lake.ids()  # the new generation is written, the catalog still points at the base folder
    assert during == before
    assert compactor.switch(plan)
    after = lake.ids()
    assert after == before
    assert lake.location(SHOP_10) == lake.storage.location(plan.prefix)
    assert lake.ids("WHERE hour = '10'") == [i for i in before if not i.startswith("o6-")]  # Hive columns intact
    (data_file,) = [k for k in manifest.files]
    assert len(manifest.files) == 1 and manifest.files[data_file] == 200


def test_a_run_compacts_closed_hours_only_and_a_rerun_is_harmless(lake: Lake) -> None:
    for _ in range(3):
        lake.add(20)
        lake.add(5, hour_ms=T10 + 2 * HOUR)
    lake.add(7, service="web")  # a single file: nothing to merge
    before = lake.ids()
    report = lake.compactor().run(NOW)
    assert report.counters()["PartitionsCompacted"] == 1 and report.files_in == 3 and report.files_out == 1
    assert report.rows == 60 and report.errors == 0
    location = lake.location(SHOP_10)
    again = lake.compactor().run(NOW + MINUTE)
    assert again.compacted == [] and again.deleted == 0
    assert lake.location(SHOP_10) == location and lake.ids() == before
    hour_12 = Partition(TABLE_NAME, ("shop", "2026", "11", "22", "12"))
    assert lake.location(hour_12) == lake.storage.location(hour_12.prefix)  # open hour untouched


def test_late_files_are_folded_in_at_the_next_run(lake: Lake) -> None:
    lake.add(30)
    lake.add(30)
    lake.compactor().run(NOW)
    assert len(lake.ids()) == 60
    lake.add(4, tag="late")  # the converter writes into the base folder of a compacted hour
    assert len(lake.ids()) == 60  # not visible yet: the partition reads its generation
    report = lake.compactor().run(NOW + HOUR)
    assert report.late_files == 1 and len(report.compacted) == 1
    ids = lake.ids()
    assert len(ids) == 64 and len(set(ids)) == 64
    state = next(s for s in lake.compactor().states(lake.compactor().candidates(NOW + HOUR)) if s.partition == SHOP_10)
    assert len(lake.compactor().manifest(state).sources) == 3


def test_a_redelivered_file_after_cleanup_is_never_counted_twice(lake: Lake) -> None:
    first = lake.add(25)
    lake.add(25)
    lake.compactor().run(NOW)
    later = NOW + DELAY + HOUR
    report = lake.compactor().run(later)
    assert report.deleted == 2 and base_files(lake) == []  # folded base files removed after the delay
    lake.convert(first)  # SQS redelivers the old notification: the same base file reappears
    assert len(base_files(lake)) == 1
    report = lake.compactor().run(later + MINUTE)
    assert report.compacted == [] and report.late_files == 0 and report.deleted == 1
    assert len(lake.ids()) == 50 and base_files(lake) == []


def _written_plan(lake: Lake) -> tuple[Compactor, Plan]:
    """Two files in SHOP_10, and a compactor that has written their merge but not switched the partition yet."""
    lake.add(10)
    lake.add(10)
    compactor = lake.compactor()
    (state,) = [s for s in compactor.states(compactor.candidates(NOW)) if s.partition == SHOP_10]
    plan = compactor.plan(state, NOW)
    assert plan is not None
    compactor.write(plan, NOW)
    return compactor, plan


def test_a_file_arriving_between_write_and_switch_defers_the_switch(lake: Lake) -> None:
    compactor, plan = _written_plan(lake)
    lake.add(3, tag="straggler")  # visible at once: the base folder is still live
    assert len(lake.ids()) == 23
    assert not compactor.switch(plan)  # switching now would hide the straggler
    assert len(lake.ids()) == 23 and lake.location(SHOP_10) == lake.storage.location(SHOP_10.prefix)
    report = lake.compactor().run(NOW + HOUR)
    assert len(report.compacted) == 1 and report.files_in == 3
    assert len(lake.ids()) == 23


def test_a_crash_between_write_and_switch_leaves_a_consistent_lake(lake: Lake) -> None:
    _, plan = _written_plan(lake)  # … and the process dies here
    orphan = plan.prefix
    assert len(lake.ids()) == 20
    report = lake.compactor().run(NOW + 10 * MINUTE)  # the next run starts over
    assert len(report.compacted) == 1 and len(lake.ids()) == 20
    assert lake.location(SHOP_10) != lake.storage.location(orphan)
    assert list(lake.storage.list(orphan))  # kept while a reader could have listed it …
    lake.compactor().run(NOW + 10 * MINUTE + DELAY)
    assert list(lake.storage.list(orphan)) == []  # … and collected after the delay
    assert len(lake.ids()) == 20


def test_replaced_files_are_deleted_only_after_the_delay(lake: Lake) -> None:
    for _ in range(3):
        lake.add(10)
    lake.compactor().run(NOW)
    lake.add(2, tag="late")
    lake.compactor().run(NOW + HOUR)  # generation 2 replaces generation 1
    root = generations_root(SHOP_10)
    generations = {o.key[len(root) :].split("/")[0] for o in lake.storage.list(root)}
    assert len(generations) == 2 and len(base_files(lake)) == 4
    assert lake.compactor().run(NOW + HOUR + DELAY - MINUTE).deleted == 0
    report = lake.compactor().run(NOW + HOUR + DELAY)
    assert report.deleted == 4 + 2  # four folded base files, the old generation's file and manifest
    assert len({o.key[len(root) :].split("/")[0] for o in lake.storage.list(root)}) == 1
    assert len(lake.ids()) == 32


def test_several_files_of_the_target_size(lake: Lake) -> None:
    for _ in range(12):
        lake.add(300)
    sizes = [o.size for o in lake.storage.list(SHOP_10.prefix)]
    target = sum(sizes) // 3
    report = lake.compactor(target_bytes=target).run(NOW)
    assert 3 <= report.files_out <= 6 and report.rows == 3600
    assert len(lake.ids()) == 3600


def test_an_unknown_location_or_a_missing_manifest_is_left_alone(lake: Lake) -> None:
    lake.add(5)
    lake.add(5)
    lake.catalog.set_partition_location(SHOP_10, lake.storage.location("elsewhere/"))
    report = lake.compactor().run(NOW)
    assert report.skipped == 1 and report.compacted == []

    lake.catalog.set_partition_location(SHOP_10, lake.storage.location(SHOP_10.prefix))
    lake.compactor().run(NOW)
    live = lake.location(SHOP_10)
    lake.storage.delete([live[len(lake.storage.uri) + 1 :] + MANIFEST_NAME])
    lake.add(1, tag="late")
    report = lake.compactor().run(NOW + HOUR)
    assert report.errors == 1 and report.compacted == [] and lake.location(SHOP_10) == live
    with pytest.raises(CompactionError, match="no readable manifest"):
        state = next(s for s in lake.compactor().states(lake.compactor().candidates(NOW)) if s.partition == SHOP_10)
        lake.compactor().plan(state, NOW)


def test_runs_stop_starting_partitions_near_the_deadline(lake: Lake) -> None:
    lake.add(5)
    lake.add(5)
    report = lake.compactor().run(NOW, remaining_ms=lambda: 1000)
    assert report.deferred == 1 and report.compacted == []


def test_generation_names_sort_by_time_and_carry_it() -> None:
    a = generation_name(NOW, [("k", 1)])
    b = generation_name(NOW + 1000, [("k", 1)])
    assert a < b and generation_created_ms(a) == NOW and generation_created_ms("gen-x-y") is None
    assert generation_name(NOW, [("k", 1)]) == a != generation_name(NOW, [("k", 2)])


def test_compaction_requests_from_events() -> None:
    when = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
    assert compaction_request(scheduled_event(when)).now_ms == NOW
    manual = compaction_request({"now": "2026-11-22T13:00:00Z", "lookback_hours": 720})
    assert manual.now_ms == NOW and manual.overrides == {"lookback_ms": 720 * HOUR}
    assert compaction_request({}, clock=lambda: 1.5).now_ms == 1500
    for bad in ({"now": "yesterday"}, {"lookback_hours": -1}, {"lookback_hours": "all"}):
        with pytest.raises(CompactionError):
            compaction_request(bad)


# --------------------------------------------------------------------------- the Lambda handler


def test_handler_runs_on_the_hourly_schedule_event(lake: Lake, handler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGLAKE_LAKE_URI", lake.storage.uri)
    metrics = lake.storage.root / "_metrics" / "emf.ndjson"
    monkeypatch.setenv("LOGLAKE_METRICS_PATH", str(metrics))
    monkeypatch.setenv("LOGLAKE_COMPACT_GRACE_MINUTES", "60")
    for _ in range(4):
        lake.add(10)
    before = lake.ids()
    module = handler("compactor")
    event = scheduled_event(datetime.fromtimestamp(NOW / 1000, tz=UTC))
    result = module.handler(event, LambdaContext("compactor"))
    assert result["now"] == "2026-11-22T13:00:00.000Z"
    assert result["PartitionsCompacted"] == 1 and result["FilesIn"] == 4 and result["RowsCompacted"] == 40
    assert lake.ids() == before
    (doc,) = [orjson.loads(line) for line in metrics.read_bytes().splitlines()]
    assert doc["stage"] == "compactor" and doc["PartitionsCompacted"] == 1 and doc["_aws"]["Timestamp"] == NOW
    again = module.handler(event, LambdaContext("compactor"))  # EventBridge retries the same event
    assert again["PartitionsCompacted"] == 0 and lake.ids() == before
    # a manual run with a longer look-back reaches an hour the schedule no longer looks at
    old_hour = T10 - 30 * 24 * HOUR
    lake.add(3, hour_ms=old_hour)
    lake.add(3, hour_ms=old_hour)
    assert module.handler(event, LambdaContext("compactor"))["PartitionsCompacted"] == 0
    wide = module.handler({"now": event["time"], "lookback_hours": 24 * 40}, LambdaContext("compactor"))
    assert wide["PartitionsCompacted"] == 1


def test_the_window_follows_grace_and_lookback() -> None:
    compactor = Compactor(LocalStorage("/tmp/unused-lake"), DuckDBCatalogStub(), options=OPTIONS)
    first, last = compactor.window(NOW + 30 * MINUTE)
    assert last == T10 + HOUR  # hour 11 closed at 12:00, an hour's grace ends 13:00 ≤ 13:30
    assert first == NOW - 48 * HOUR + 0  # whole hours
    assert compactor.window(T10 + HOUR + 59 * MINUTE)[1] == T10 - HOUR
    assert timedelta(milliseconds=OPTIONS.delete_delay_ms) == timedelta(minutes=30)


class DuckDBCatalogStub:
    def partitions(self, table: str) -> dict[Partition, str]:
        return {}

    def set_partition_location(self, partition: Partition, location: str) -> None:
        raise AssertionError("not expected")

    def add_partitions(self, items: Any) -> int:
        return 0
