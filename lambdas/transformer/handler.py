"""Firehose data-transformation processor: answers every recordId once (Ok / Dropped / ProcessingFailed).

Settings (read once per cold start): ``LOGLAKE_LAKE_URI``, ``LOGLAKE_DEFAULT_SERVICE``, ``LOGLAKE_SAMPLING``,
``LOGLAKE_SCRUB``, ``LOGLAKE_METRICS_NAMESPACE``, and the hash key: ``LOGLAKE_HASH_KEY`` or
``LOGLAKE_HASH_KEY_SECRET`` (a Secrets Manager secret, or ``ssm:/name`` for an SSM SecureString, read through
Powertools parameters). A missing or unreadable key fails the cold start loudly.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from loglake.settings import Settings
from loglake.transform import Transformer, resolve_hash_key


@cache
def _transformer() -> Transformer:
    # Read once per cold start: settings, the hash key (a missing key in AWS fails loudly here).
    settings = Settings.from_env()
    return Transformer(settings, hash_key=resolve_hash_key(settings))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _transformer().transform(event)
