"""The pipeline's HMAC key (for keyed hashes of personal data), read once per cold start."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Final

from loglake.errors import ConfigError
from loglake.settings import Settings
from loglake.storage import LocalStorage, open_storage

__all__ = ["HASH_KEY_OBJECT", "MIN_SECRET_KEY_BYTES", "resolve_hash_key"]

HASH_KEY_OBJECT: Final = "_meta/hash.key"
#: A key read from a secret must be at least this long (bytes).
MIN_SECRET_KEY_BYTES: Final = 16


def resolve_hash_key(settings: Settings, *, provider: Callable[[str], Any] | None = None) -> bytes:
    """The HMAC key, read once per cold start.

    Order: ``LOGLAKE_HASH_KEY`` (local runs and tests); else ``LOGLAKE_HASH_KEY_SECRET`` through Powertools
    parameters — a Secrets Manager secret name or ARN, or ``ssm:/path`` / an SSM parameter ARN for a
    SecureString; else, for a local ``file://`` lake only, the lake's own key, created once. In AWS a
    missing, empty, short or unreadable key is a start-up error, never an unkeyed hash.

    ``provider`` replaces the Powertools call (tests).

    Raises
    ------
    ConfigError
        With what is missing and how to set it.
    """
    if settings.hash_key:
        return settings.hash_key.encode()
    name = settings.hash_key_secret
    if name:
        try:
            value = (provider or _powertools_provider(name))(name)
        except Exception as exc:
            raise ConfigError(
                f"cannot read the hash key from {name!r} ({type(exc).__name__}: {exc}); check that it exists and "
                "that the function's role may read it (secretsmanager:GetSecretValue / ssm:GetParameter)"
            ) from None
        key = value if isinstance(value, bytes) else str(value or "").strip().encode()
        if len(key) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(
                f"the hash key in {name!r} is empty or shorter than {MIN_SECRET_KEY_BYTES} bytes; "
                "store a random key, e.g. `openssl rand -hex 32`"
            )
        return key
    storage = open_storage(settings.lake_uri)
    if isinstance(storage, LocalStorage):
        path = storage.root / HASH_KEY_OBJECT
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
    raise ConfigError(
        "no hash key: set LOGLAKE_HASH_KEY_SECRET to a Secrets Manager secret or ssm:/parameter (or "
        "LOGLAKE_HASH_KEY) — loglake never writes unkeyed hashes of personal data"
    )


def _powertools_provider(name: str) -> Callable[[str], Any]:
    from aws_lambda_powertools.utilities import parameters

    if name.startswith("ssm:") or name.startswith("arn:aws:ssm:"):
        return lambda n: parameters.get_parameter(n.removeprefix("ssm:"), decrypt=True, max_age=0)
    return lambda n: parameters.get_secret(n, max_age=0)
