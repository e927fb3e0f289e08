"""Compactor: on a schedule (EventBridge), merge closed hours' small Parquet files and switch partitions to them."""

from __future__ import annotations

from functools import cache
from typing import Any

from loglake.catalog import Catalog, open_catalog
from loglake.compact import CompactOptions, Compactor, compaction_request
from loglake.metrics import MetricsSink, counters_document
from loglake.settings import Settings
from loglake.storage import Storage, open_storage


@cache
def _state() -> tuple[Settings, Storage, Catalog, MetricsSink]:
    settings = Settings.from_env()
    return settings, open_storage(settings.lake_uri), open_catalog(settings), MetricsSink(settings.metrics_path)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings, storage, catalog, sink = _state()
    request = compaction_request(event)
    options = CompactOptions.from_settings(settings, **request.overrides)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    report = Compactor(storage, catalog, options=options).run(request.now_ms, remaining_ms=remaining)
    counts = report.counters()
    sink.write(iter([counters_document(settings.metrics_namespace, {"stage": "compactor"}, counts, request.now_ms)]))
    return {"now": request.now_iso, **counts, "compacted": report.compacted}
