"""Autoloader: S3 ObjectCreated on tables/ (through SQS) → one ADD IF NOT EXISTS PARTITION per batch."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from loglake.autoload import Autoloader
from loglake.catalog import open_catalog
from loglake.events import batch_items, batch_response
from loglake.metrics import MetricsSink, counters_document
from loglake.settings import Settings
from loglake.storage import open_storage


@cache
def _state() -> tuple[Settings, Autoloader, MetricsSink]:
    # The autoloader (and its set of known partitions) lives as long as the warm container.
    settings = Settings.from_env()
    storage = open_storage(settings.lake_uri)
    autoloader = Autoloader(open_catalog(settings), lambda p: storage.location(p.prefix))
    return settings, autoloader, MetricsSink(settings.metrics_path)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings, autoloader, sink = _state()
    result = autoloader.handle(batch_items(event))
    counts = {
        "PartitionsAdded": len(result.added),
        "InvalidKeys": result.invalid_keys,
        "IgnoredKeys": result.ignored_keys,
        "CatalogStatements": result.statements,
        "FailedItems": len(result.failed_items),
    }
    doc = counters_document(settings.metrics_namespace, {"stage": "autoloader"}, counts, int(time.time() * 1000))
    sink.write(iter([doc]))
    return batch_response(result.failed_items)
