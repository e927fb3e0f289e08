"""loglake-client: send structured events to a loglake delivery stream without slowing the app.

Examples
--------
>>> from loglake_client import KinesisLogger
>>> log = KinesisLogger("loglake-access-logs", service_name="shop")  # doctest: +SKIP
>>> log.info({"path": "/cart", "status_code": 200, "latency_ms": 12.5})  # doctest: +SKIP
"""

from __future__ import annotations

from loglake_client._encoding import FIELD_LIMITS, TRUNCATION_MARKER, encode_line
from loglake_client._errors import ConfigurationError, DeliveryWarning, LoglakeClientError
from loglake_client._retry import RetryPolicy
from loglake_client._stats import Stats
from loglake_client.handler import KinesisHandler
from loglake_client.logger import KinesisLogger
from loglake_client.middleware import LoglakeASGIMiddleware, LoglakeWSGIMiddleware

__all__ = [
    "FIELD_LIMITS",
    "TRUNCATION_MARKER",
    "ConfigurationError",
    "DeliveryWarning",
    "KinesisHandler",
    "KinesisLogger",
    "LoglakeASGIMiddleware",
    "LoglakeClientError",
    "LoglakeWSGIMiddleware",
    "RetryPolicy",
    "Stats",
    "encode_line",
]
