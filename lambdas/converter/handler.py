"""Converter: S3 ObjectCreated on raw/ (through SQS) → partitioned Parquet; answers with a partial batch response."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from loglake.convert import ConvertOptions, convert_batch, use_system_allocator
from loglake.events import batch_items, batch_response
from loglake.metrics import MetricsSink, counters_document
from loglake.settings import Settings
from loglake.storage import Storage, open_storage


@cache
def _state() -> tuple[Settings, Storage, ConvertOptions, MetricsSink]:
    settings = Settings.from_env()
    use_system_allocator()
    options = ConvertOptions.from_settings(settings)
    return settings, open_storage(settings.lake_uri), options, MetricsSink(settings.metrics_path)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings, storage, options, sink = _state()
    outcome = convert_batch(storage, batch_items(event), options=options)
    doc = counters_document(
        settings.metrics_namespace, {"stage": "converter"}, outcome.counters(), int(time.time() * 1000)
    )
    sink.write(iter([doc]))
    return batch_response(outcome.failed_items)
