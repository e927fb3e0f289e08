"""The partition autoloader: object keys → partitions → one ``ADD IF NOT EXISTS`` per batch.

Partitions already registered by this warm process are remembered, so a batch of known partitions makes no
catalog call at all. A key that does not map to a valid partition is logged and counted, never turned into
SQL, and its batch item succeeds (retrying cannot fix it). When the catalog fails, only the items that
brought new partitions fail, and the remembered set is updated only after success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loglake.catalog import Catalog
from loglake.errors import CatalogError, PartitionKeyError
from loglake.events import BatchItem
from loglake.partitions import Partition, parse_key

logger = logging.getLogger(__name__)


def is_data_file(key: str) -> bool:
    """Data files are ``*.parquet`` not hidden (``.``/``_`` names, temporary names, folder markers)."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and name.endswith(".parquet") and not name.startswith((".", "_")) and "$folder$" not in key


@dataclass
class AutoloadResult:
    failed_items: list[str] = field(default_factory=list)
    added: list[Partition] = field(default_factory=list)
    invalid_keys: int = 0
    ignored_keys: int = 0
    statements: int = 0


class Autoloader:
    """Registers the partitions of new objects; keep one instance per warm process."""

    def __init__(self, catalog: Catalog, location_of: Callable[[Partition], str]) -> None:
        self.catalog = catalog
        self.location_of = location_of
        self.known: set[Partition] = set()

    def handle(self, items: Sequence[BatchItem]) -> AutoloadResult:
        result = AutoloadResult()
        new: dict[Partition, set[str | None]] = {}
        for item in items:
            if item.error:
                logger.error("unreadable message %s: %s", item.item_id, item.error)
                if item.item_id:
                    result.failed_items.append(item.item_id)
                continue
            for obj in item.objects:
                if not is_data_file(obj.key):
                    result.ignored_keys += 1
                    continue
                try:
                    partition = parse_key(obj.key)
                except PartitionKeyError as exc:
                    result.invalid_keys += 1
                    logger.warning("not registering %r: %s", obj.key[:300], exc)
                    continue
                if partition not in self.known:
                    new.setdefault(partition, set()).add(item.item_id)
        if not new:
            return result
        items_by_table: dict[str, list[Partition]] = {}
        for partition in sorted(new):
            items_by_table.setdefault(partition.table, []).append(partition)
        for partitions in items_by_table.values():
            try:
                result.statements += self.catalog.add_partitions([(p, self.location_of(p)) for p in partitions])
            except CatalogError as exc:
                logger.error("registering %d partitions failed: %s", len(partitions), exc)
                ids = {i for p in partitions for i in new[p] if i is not None}
                if None in {i for p in partitions for i in new[p]}:
                    raise  # a direct (non-SQS) event: fail the invocation so Lambda retries it
                result.failed_items.extend(sorted(ids - set(result.failed_items)))
                continue
            self.known.update(partitions)
            result.added.extend(partitions)
        return result
