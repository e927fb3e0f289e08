"""Firehose data-transformation processor: answers every recordId once (Ok / Dropped / ProcessingFailed)."""

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
