"""loglake-client: send structured events to a loglake delivery stream without slowing the app."""

from __future__ import annotations

from loglake_client.logger import DeliveryWarning, KinesisLogger, LoglakeClientError

__all__ = ["DeliveryWarning", "KinesisLogger", "LoglakeClientError"]
