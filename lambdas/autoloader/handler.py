"""Autoloader: S3 ObjectCreated on tables/ (through SQS) → one ADD IF NOT EXISTS PARTITION per table per batch."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from loglake.autoload import Autoloader
from loglake.catalog import open_catalog
from loglake.errors import CatalogError
from loglake.events import batch_items, batch_response
from loglake.layout import TableLayouts
from loglake.metrics import MetricsSink, counters_document
from loglake.settings import Settings
from loglake.storage import open_storage


@cache
def _state() -> tuple[Settings, Autoloader, MetricsSink]:
    # The autoloader (and its set of known partitions) lives as long as the warm container.
    settings = Settings.from_env()
    storage = open_storage(settings.lake_uri)
    tables = TableLayouts.from_config(settings.tables)
    autoloader = Autoloader(open_catalog(settings), lambda p: storage.location(tables.prefix(p)), tables=tables)
    return settings, autoloader, MetricsSink(settings.metrics_path)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings, autoloader, sink = _state()
    result = autoloader.handle(batch_items(event))
    doc = counters_document(
        settings.metrics_namespace, {"stage": "autoloader"}, result.counters(), int(time.time() * 1000)
    )
    sink.write(iter([doc]))
    if result.retry_invocation:
        raise CatalogError(result.retry_invocation)  # a direct event: Lambda retries the whole invocation
    return batch_response(result.failed_items)
