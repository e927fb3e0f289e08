"""The partition autoloader: object keys → partitions → at most one ``ADD IF NOT EXISTS`` per table per batch.

For each batch of S3 notifications (SQS messages, or one direct/EventBridge event):

1. every key is classified by its table's layout (:class:`loglake.layout.TableLayouts`): a data file of a
   partition, a key to ignore (``s3:TestEvent``, folder markers, ``_$folder$``, hidden and temporary names,
   tables using partition projection), or an invalid key (unknown table, wrong segments, a value outside the
   safe character set…). An invalid key is logged with its reason and counted, never turned into SQL, and its
   batch item succeeds: retrying cannot fix it;
2. partitions this warm process has already registered are skipped (:class:`KnownPartitions`), so a batch of
   known partitions makes no catalog call at all;
3. the remaining partitions of each table go to the catalog in one call (one statement, unless Athena's query
   size limit forces a split). Only after success are they remembered. When the catalog fails, only the items
   that brought the failed partitions fail (SQS retries them, then keeps them in its DLQ); a direct event that
   fails sets :attr:`AutoloadResult.retry_invocation` so the handler raises and Lambda retries it.

Example
-------
>>> from loglake.events import BatchItem, ObjectRef
>>> class Recorder:
...     def __init__(self): self.calls = []
...     def add_partitions(self, items): self.calls.append(items); return 1
>>> catalog = Recorder()
>>> loader = Autoloader(catalog, lambda p: "s3://lake/" + p.prefix)
>>> key = "tables/access_logs/service_name=web/year=2026/month=11/day=22/hour=10/part-1.parquet"
>>> batch = [BatchItem("m1", [ObjectRef("lake", key)]), BatchItem("m2", [ObjectRef("lake", key)])]
>>> loader.handle(batch).counters()["PartitionsAdded"], loader.handle(batch).statements, len(catalog.calls)
(1, 0, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from loglake.catalog import Catalog, PartialCatalogError
from loglake.errors import CatalogError
from loglake.events import BatchItem
from loglake.layout import TableLayouts
from loglake.partitions import Partition

logger = logging.getLogger(__name__)

#: How many registered partitions a warm process remembers (a year of hourly partitions for ~10 services).
DEFAULT_MAX_KNOWN = 100_000


def is_data_file(key: str, tables: TableLayouts | None = None) -> bool:
    """Whether ``key`` names a data file of a configured table (not a marker, hidden or temporary name).

    >>> is_data_file("tables/access_logs/service_name=a/year=2026/month=01/day=02/hour=03/p.parquet")
    True
    >>> is_data_file("tables/access_logs/service_name=a/year=2026/month=01/day=02/hour=03/.tmp-x.parquet")
    False
    """
    return (tables or _DEFAULT_TABLES).classify(key).ignored is None


_DEFAULT_TABLES = TableLayouts()


class KnownPartitions:
    """The partitions this warm process has registered: a set with a size bound, oldest forgotten first.

    Forgetting is safe — the next object of a forgotten partition costs one idempotent ``ADD IF NOT EXISTS``
    — and keeps a container that lives for weeks from growing without bound.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_KNOWN) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._items: dict[Partition, None] = {}

    def __contains__(self, partition: object) -> bool:
        return partition in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Partition]:
        return iter(self._items)

    def add(self, partition: Partition) -> None:
        self._items.pop(partition, None)
        self._items[partition] = None
        while len(self._items) > self.max_size:
            del self._items[next(iter(self._items))]

    def update(self, partitions: Sequence[Partition]) -> None:
        for p in partitions:
            self.add(p)

    def discard(self, partition: Partition) -> None:
        self._items.pop(partition, None)

    def clear(self) -> None:
        self._items.clear()


@dataclass
class AutoloadResult:
    """What one batch did; :meth:`counters` feeds the autoloader's metrics."""

    failed_items: list[str] = field(default_factory=list)
    added: list[Partition] = field(default_factory=list)
    invalid_keys: int = 0
    ignored_keys: int = 0
    statements: int = 0
    objects: int = 0
    unreadable_items: int = 0
    catalog_failures: int = 0
    known: int = 0
    #: Set when a direct (non-SQS) event must be retried as a whole: the reason, for the handler to raise.
    retry_invocation: str | None = None

    def counters(self) -> dict[str, int]:
        """EMF metric name → value (dimension ``stage=autoloader``)."""
        return {
            "ObjectsSeen": self.objects,
            "PartitionsAdded": len(self.added),
            "InvalidKeys": self.invalid_keys,
            "IgnoredKeys": self.ignored_keys,
            "CatalogStatements": self.statements,
            "CatalogFailures": self.catalog_failures,
            "FailedItems": len(self.failed_items),
            "UnreadableMessages": self.unreadable_items,
            "KnownPartitions": self.known,
        }


class Autoloader:
    """Registers the partitions of new objects; keep one instance per warm process.

    Parameters
    ----------
    catalog
        Where partitions are registered (:class:`~loglake.catalog.AthenaCatalog` in AWS,
        :class:`~loglake.catalog.DuckDBCatalog` embedded).
    location_of
        The location (``s3://…/`` or ``file:///…/``) of a partition's folder.
    tables
        The tables and their layouts (default: the access-log table only).
    max_known
        How many registered partitions to remember.
    """

    def __init__(
        self,
        catalog: Catalog,
        location_of: Callable[[Partition], str],
        *,
        tables: TableLayouts | None = None,
        max_known: int = DEFAULT_MAX_KNOWN,
    ) -> None:
        self.catalog = catalog
        self.location_of = location_of
        self.tables = tables or TableLayouts()
        self.known = KnownPartitions(max_known)

    def handle(self, items: Sequence[BatchItem]) -> AutoloadResult:
        """Register the new partitions of one batch; never raises (failures are in the result)."""
        result = AutoloadResult()
        new: dict[Partition, set[str | None]] = {}
        for item in items:
            if item.error:
                result.unreadable_items += 1
                logger.error("unreadable message %s: %s", item.item_id, item.error)
                if item.item_id:
                    result.failed_items.append(item.item_id)  # SQS retries it, then keeps it in the DLQ
                continue
            for obj in item.objects:
                result.objects += 1
                verdict = self.tables.classify(obj.key)
                if verdict.partition is not None:
                    if verdict.partition not in self.known:
                        new.setdefault(verdict.partition, set()).add(item.item_id)
                elif verdict.invalid is not None:
                    result.invalid_keys += 1
                    logger.warning("not registering a partition (message %s): %s", item.item_id, verdict.invalid)
                else:
                    result.ignored_keys += 1
                    logger.debug("ignoring %r: %s", obj.key[:300], verdict.ignored)
        by_table: dict[str, list[Partition]] = {}
        for partition in sorted(new):
            by_table.setdefault(partition.table, []).append(partition)
        failed: set[str] = set()
        for table, partitions in by_table.items():
            registered = self._register(table, partitions, result)
            self.known.update(registered)
            result.added.extend(registered)
            done = set(registered)
            for p in partitions:
                if p in done:
                    continue
                for item_id in new[p]:
                    if item_id is None:
                        result.retry_invocation = f"registering partitions of {table} failed; retry the event"
                    else:
                        failed.add(item_id)
        result.failed_items.extend(sorted(failed - set(result.failed_items)))
        result.known = len(self.known)
        return result

    def _register(self, table: str, partitions: list[Partition], result: AutoloadResult) -> list[Partition]:
        """Add ``partitions`` of ``table``; the ones now registered."""
        try:
            result.statements += self.catalog.add_partitions([(p, self.location_of(p)) for p in partitions])
            return partitions
        except PartialCatalogError as exc:
            result.catalog_failures += 1
            result.statements += exc.statements
            logger.error("registering %d partitions of %s partly failed: %s", len(partitions), table, exc)
            registered = set(exc.registered)
            return [p for p in partitions if p in registered]
        except CatalogError as exc:
            result.catalog_failures += 1
            logger.error("registering %d partitions of %s failed: %s", len(partitions), table, exc)
            return []
