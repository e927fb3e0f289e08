"""The embedded runtime: the pipeline's handlers on one machine, a directory as the bucket, DuckDB as Athena."""

from __future__ import annotations

from loglake.local.firehose import DeliveryStream, LocalFirehose
from loglake.local.runtime import LocalPipeline, load_handler

__all__ = ["DeliveryStream", "LocalFirehose", "LocalPipeline", "load_handler"]
