"""The Autoloader against fake catalogs: one call per table per batch, known set, failures per item."""

from __future__ import annotations

import doctest
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loglake.autoload as autoload_module
from loglake.autoload import Autoloader, KnownPartitions, is_data_file
from loglake.catalog import PartialCatalogError, PartitionLocation
from loglake.errors import CatalogError
from loglake.events import BatchItem, ObjectRef
from loglake.layout import TableLayouts
from loglake.partitions import VALUE_RE, Partition


class FakeCatalog:
    """Records every call; fails the calls listed in ``failures`` (by call number, from 1)."""

    def __init__(self, failures: dict[int, Exception] | None = None) -> None:
        self.calls: list[list[PartitionLocation]] = []
        self.registered: dict[Partition, str] = {}
        self.failures = failures or {}

    def add_partitions(self, items: Sequence[PartitionLocation]) -> int:
        self.calls.append(list(items))
        failure = self.failures.get(len(self.calls))
        if isinstance(failure, PartialCatalogError):
            self.registered.update((p, loc) for p, loc in items if p in failure.registered)
        if failure is not None:
            raise failure
        self.registered.update(items)
        return 1

    def set_partition_location(self, partition: Partition, location: str) -> None:
        self.registered[partition] = location

    def partitions(self, table: str) -> dict[Partition, str]:
        return {p: loc for p, loc in self.registered.items() if p.table == table}


def key(service: str = "shop", hour: int = 10, name: str = "part.parquet") -> str:
    return f"tables/access_logs/service_name={service}/year=2026/month=11/day=22/hour={hour:02d}/{name}"


def batch(*keys: str, prefix: str = "m") -> list[BatchItem]:
    return [BatchItem(f"{prefix}{i}", [ObjectRef("lake", k)]) for i, k in enumerate(keys)]


def loader(catalog: FakeCatalog, tables: TableLayouts | None = None, **kwargs: int) -> Autoloader:
    layouts = tables or TableLayouts()
    return Autoloader(catalog, lambda p: "s3://lake/" + layouts.prefix(p), tables=layouts, **kwargs)


def test_one_call_covers_every_new_partition_of_a_batch_in_sorted_order() -> None:
    catalog = FakeCatalog()
    result = loader(catalog).handle(batch(key("web", 11), key("api", 9), key("web", 11, "b.parquet"), key("api", 9)))
    [call] = catalog.calls
    assert [p.values[0] + p.values[4] for p, _ in call] == ["api09", "web11"]
    assert call[0][1] == "s3://lake/tables/access_logs/service_name=api/year=2026/month=11/day=22/hour=09/"
    assert (result.statements, len(result.added), result.failed_items, result.objects) == (1, 2, [], 4)


def test_known_partitions_make_no_call_within_and_across_batches() -> None:
    catalog = FakeCatalog()
    al = loader(catalog)
    al.handle(batch(key("a"), key("b")))
    result = al.handle(batch(key("b", name="x.parquet"), key("a"), key("a")))
    assert len(catalog.calls) == 1
    assert result.counters() | {"KnownPartitions": 0} == {
        "ObjectsSeen": 3,
        "PartitionsAdded": 0,
        "InvalidKeys": 0,
        "IgnoredKeys": 0,
        "CatalogStatements": 0,
        "CatalogFailures": 0,
        "FailedItems": 0,
        "UnreadableMessages": 0,
        "KnownPartitions": 0,
    }
    assert result.known == 2
    third = al.handle(batch(key("a"), key("c")))  # out of order, one new: only the new one is sent
    assert [p.values[0] for p, _ in catalog.calls[1]] == ["c"] and third.statements == 1


def test_invalid_and_ignored_keys_never_reach_the_catalog_and_their_items_succeed() -> None:
    catalog = FakeCatalog()
    hostile = [
        key("sh'op"),
        key("shop;DROP TABLE x"),
        key("shop--").replace("hour=10", "hour=10/minute=1"),
        "tables/access_logs/service_name=sh%27op/year=2026/month=11/day=22/hour=10/x.parquet",
        "tables/other_table/service_name=shop/year=2026/month=11/day=22/hour=10/x.parquet",
        key("x" * 200),
        key("sh\u00f6p"),
        key("a=b"),
        key("shop\\x"),
        key("shop", 24),
    ]
    ignored = [key(name="_SUCCESS"), key(name=".tmp-1"), "tables/access_logs/service_name=shop_$folder$", key(name="")]
    result = loader(catalog).handle(batch(*hostile, *ignored))
    assert catalog.calls == []
    assert (result.invalid_keys, result.ignored_keys, result.failed_items) == (len(hostile), len(ignored), [])


def test_catalog_failure_fails_only_the_items_with_new_partitions_and_nothing_is_remembered() -> None:
    catalog = FakeCatalog({1: CatalogError("Athena query q1 FAILED: boom")})
    al = loader(catalog)
    al.known.add(Partition("access_logs", ("old", "2026", "11", "22", "10")))
    items = batch(key("new"), key("old"), key("bad'key"), key("new", name="2.parquet"))
    result = al.handle(items)
    assert result.failed_items == ["m0", "m3"]
    assert (result.catalog_failures, result.added, result.invalid_keys) == (1, [], 1)
    assert Partition("access_logs", ("new", "2026", "11", "22", "10")) not in al.known
    retry = al.handle([items[0], items[3]])  # SQS redelivers the failed ones: they now succeed
    assert retry.failed_items == [] and len(retry.added) == 1 and len(catalog.calls) == 2


def test_partial_failure_remembers_what_made_it_and_fails_the_rest() -> None:
    made_it = Partition("access_logs", ("a", "2026", "11", "22", "10"))
    catalog = FakeCatalog({1: PartialCatalogError("statement 2 of 2 failed", [made_it], statements=1)})
    al = loader(catalog)
    both = [BatchItem("m-both", [ObjectRef("l", key("a")), ObjectRef("l", key("b"))])]
    result = al.handle(batch(key("a"), key("b")) + both)
    assert result.added == [made_it] and result.statements == 1
    assert result.failed_items == ["m-both", "m1"]
    assert made_it in al.known


def test_a_direct_event_that_fails_asks_for_the_invocation_to_be_retried() -> None:
    catalog = FakeCatalog({1: CatalogError("throttled")})
    result = loader(catalog).handle([BatchItem(None, [ObjectRef("lake", key())])])
    assert result.retry_invocation and result.failed_items == []


def test_unreadable_messages_fail_so_that_the_dlq_keeps_them() -> None:
    items = [BatchItem("m0", error="SQS message is not an S3 notification"), *batch(key(), prefix="ok")]
    result = loader(FakeCatalog()).handle(items)
    assert result.failed_items == ["m0"] and result.unreadable_items == 1 and len(result.added) == 1


def test_one_call_per_table_and_template_locations() -> None:
    tables = TableLayouts.from_config(
        {"audit_log": {"layout": "{account_id}/{date}/", "columns": {"date": {"type": "date", "format": "yyyy-MM-dd"}}}}
    )
    catalog = FakeCatalog()
    loader(catalog, tables).handle(
        batch(
            key("a"), "tables/audit_log/111/2026-11-22/e.parquet", key("b"), "tables/audit_log/222/2026-11-22/e.parquet"
        )
    )
    assert [sorted({p.table for p, _ in call}) for call in catalog.calls] == [["access_logs"], ["audit_log"]]
    assert catalog.calls[1][0][1] == "s3://lake/tables/audit_log/111/2026-11-22/"


def test_known_partitions_are_bounded_and_forgetting_costs_one_idempotent_call() -> None:
    catalog = FakeCatalog()
    al = loader(catalog, max_known=2)
    al.handle(batch(key("a"), key("b"), key("c")))
    assert len(al.known) == 2 and Partition("access_logs", ("a", "2026", "11", "22", "10")) not in al.known
    al.handle(batch(key("a")))
    assert len(catalog.calls) == 2
    known = KnownPartitions(3)
    ps = [Partition("access_logs", (s, "2026", "11", "22", "10")) for s in "wxyz"]
    known.update(ps[:3])
    known.add(ps[0])  # touching keeps it: the least recently added goes first
    known.add(ps[3])
    assert list(known) == [ps[2], ps[0], ps[3]]
    known.discard(ps[2])
    assert len(known) == 2
    known.clear()
    assert not known
    with pytest.raises(ValueError, match="at least 1"):
        KnownPartitions(0)


def test_is_data_file() -> None:
    assert is_data_file(key())
    assert not is_data_file(key(name="_SUCCESS"))
    assert not is_data_file("tables/access_logs/")


SERVICES = ["a", "b", "c"]
VALID_KEYS = st.builds(key, st.sampled_from(SERVICES), st.integers(0, 2))
HOSTILE = st.text(max_size=30).map(lambda s: key(s)) | st.from_regex(VALUE_RE, fullmatch=True).map(
    lambda v: key(v + "'")
)


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(VALID_KEYS | HOSTILE, min_size=1, max_size=10), min_size=1, max_size=12),
    failing_calls=st.sets(st.integers(1, 30), max_size=10),
)
def test_with_redelivery_every_valid_partition_ends_registered(batches: list[list[str]], failing_calls: set[int]):
    catalog = FakeCatalog({n: CatalogError("throttled") for n in failing_calls})
    al = loader(catalog)
    tables = TableLayouts()
    pending = [batch(*keys, prefix=f"b{n}-") for n, keys in enumerate(batches)]
    rounds = 0
    while pending and rounds < 50:
        rounds += 1
        items = pending.pop(0)
        calls_before = len(catalog.calls)
        new_before = {
            v.partition for i in items for o in i.objects if (v := tables.classify(o.key)).partition is not None
        } - set(al.known)
        result = al.handle(items)
        assert len(catalog.calls) - calls_before == (1 if new_before else 0)  # at most one call, none if known
        failed = set(result.failed_items)
        assert failed <= {i.item_id for i in items}
        if failed:
            pending.append([i for i in items if i.item_id in failed])
    assert not pending
    expected = {v.partition for keys in batches for k in keys if (v := tables.classify(k)).partition is not None}
    assert set(catalog.registered) == expected
    assert all(VALUE_RE.fullmatch(v) for p in catalog.registered for v in p.values)


def test_docstring_examples() -> None:
    assert doctest.testmod(autoload_module).failed == 0
