"""loglake: a serverless access-log lake on AWS, and the same pipeline embedded on one machine.

The core is imported by every Lambda, the local runtime, the CLI and the tests; it makes no AWS call at
import time.
"""

from __future__ import annotations

from loglake.errors import (
    CatalogError,
    ConfigError,
    LoglakeError,
    PartitionKeyError,
    RecordError,
    StorageError,
)
from loglake.partitions import Partition
from loglake.schema import FIELDS, PARTITION_KEYS, TABLE_NAME
from loglake.settings import Settings

__all__ = [
    "FIELDS",
    "PARTITION_KEYS",
    "TABLE_NAME",
    "CatalogError",
    "ConfigError",
    "LoglakeError",
    "Partition",
    "PartitionKeyError",
    "RecordError",
    "Settings",
    "StorageError",
]
__version__ = "0.1.0"
