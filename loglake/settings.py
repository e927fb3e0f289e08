"""Runtime settings: one frozen dataclass, read from the environment once per cold start.

An explicit argument beats an environment variable, which beats the default. The CDK stack and the embedded
runtime set the same variables:

=============================  =====================================================================
``LOGLAKE_LAKE_URI``           ``s3://bucket`` or ``file:///abs/path`` (required)
``LOGLAKE_CATALOG``            ``athena``, ``duckdb:///abs/path.duckdb``, or unset: the lake's own DuckDB
                               file for a ``file://`` lake, Athena for an ``s3://`` lake
``LOGLAKE_DATABASE``           Glue database (default ``loglake``)
``LOGLAKE_ATHENA_WORKGROUP``   Athena workgroup (default ``primary``)
``LOGLAKE_ATHENA_OUTPUT``      ``s3://…`` for query results, when the workgroup does not enforce one
``LOGLAKE_HASH_KEY``           the HMAC key itself (local runs and tests)
``LOGLAKE_HASH_KEY_SECRET``    name/ARN of a Secrets Manager secret holding the key (AWS)
``LOGLAKE_DEFAULT_SERVICE``    service_name for events that carry none (default ``unknown``)
``LOGLAKE_SAMPLING``           JSON sampling rules (see :mod:`loglake.sampling`)
``LOGLAKE_SCRUB``              JSON extra scrubbing rules (see :mod:`loglake.scrub`)
``LOGLAKE_METRICS_NAMESPACE``  CloudWatch namespace of the EMF metrics (default ``loglake``)
``LOGLAKE_METRICS_PATH``       append EMF documents to this file instead of stdout (local runs)
``LOGLAKE_TABLES``             JSON table layouts beyond the access-log table, and partition projection
                               per table (see :meth:`loglake.layout.TableLayouts.from_config`)
=============================  =====================================================================

The converter and the compactor (see :mod:`loglake.convert` and :mod:`loglake.compact`):

=====================================  =============================================================
``LOGLAKE_EVENT_MAX_AGE_HOURS``        rows whose event time is more than this before their object's
                                       arrival are partitioned by arrival hour (default 48; 0 = off)
``LOGLAKE_EVENT_MAX_FUTURE_MINUTES``   same for event times this far *after* arrival (default 60,
                                       which covers Firehose's buffering; 0 = off)
``LOGLAKE_COMPACT_GRACE_MINUTES``      compact an hour only this long after it closed (default 60)
``LOGLAKE_COMPACT_LOOKBACK_HOURS``     how far back each run looks for hours to compact and late
                                       files to fold in (default 408 = 17 days)
``LOGLAKE_COMPACT_TARGET_MB``          target size of a compacted file (default 256)
``LOGLAKE_COMPACT_DELETE_DELAY_MINUTES`` replaced files are deleted this long after the switch
                                       (default 360)
=====================================  =============================================================

The converter's process also needs :data:`CONVERTER_PROCESS_ENV` (not a setting: read by Arrow as it loads).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import orjson

from loglake.errors import ConfigError

#: Environment the converter's process starts with (the stack sets it on the function). Arrow picks its C++
#: default memory pool once, as it loads, from ``ARROW_DEFAULT_MEMORY_POOL``; Python cannot redirect what is
#: allocated from that pool (the Parquet writer's encoders and page buffers), and its default, mimalloc, gives
#: each writing thread its own heap on fresh huge pages: some 100 MB more peak memory and a tenth more CPU time
#: per object (measured in ``bench/converter``; see :func:`loglake.convert.use_system_allocator`).
CONVERTER_PROCESS_ENV: Final = {"ARROW_DEFAULT_MEMORY_POOL": "system"}


def _json_setting(env: Mapping[str, str], name: str) -> dict[str, Any]:
    text = env.get(name)
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON ({exc}); set it to a JSON object or unset it") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _number_setting(env: Mapping[str, str], name: str) -> float:
    text = env[name]
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} is {text[:40]!r}, not a number; set it to e.g. 60 or unset it") from None


#: Numeric settings: dataclass field → environment variable.
_NUMBERS: dict[str, str] = {
    "event_max_age_hours": "LOGLAKE_EVENT_MAX_AGE_HOURS",
    "event_max_future_minutes": "LOGLAKE_EVENT_MAX_FUTURE_MINUTES",
    "compact_grace_minutes": "LOGLAKE_COMPACT_GRACE_MINUTES",
    "compact_lookback_hours": "LOGLAKE_COMPACT_LOOKBACK_HOURS",
    "compact_target_mb": "LOGLAKE_COMPACT_TARGET_MB",
    "compact_delete_delay_minutes": "LOGLAKE_COMPACT_DELETE_DELAY_MINUTES",
}


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs to know about the world it runs in."""

    lake_uri: str
    catalog: str = ""
    database: str = "loglake"
    athena_workgroup: str = "primary"
    athena_output: str | None = None
    hash_key: str | None = None
    hash_key_secret: str | None = None
    default_service: str = "unknown"
    sampling: dict[str, Any] = field(default_factory=dict)
    scrub: dict[str, Any] = field(default_factory=dict)
    metrics_namespace: str = "loglake"
    metrics_path: str | None = None
    tables: dict[str, Any] = field(default_factory=dict)
    event_max_age_hours: float = 48.0
    event_max_future_minutes: float = 60.0
    compact_grace_minutes: float = 60.0
    compact_lookback_hours: float = 408.0
    compact_target_mb: float = 256.0
    compact_delete_delay_minutes: float = 360.0

    def __post_init__(self) -> None:
        if not self.lake_uri.startswith(("s3://", "file://")):
            raise ConfigError(
                f"LOGLAKE_LAKE_URI {self.lake_uri!r} must start with s3:// or file://; "
                "e.g. s3://my-lake-bucket or file:///tmp/lake"
            )
        for name, env_name in _NUMBERS.items():
            value = getattr(self, name)
            if not isinstance(value, int | float) or value != value or value < 0:
                raise ConfigError(f"{env_name} must be a number >= 0, got {value!r}")
        if self.compact_target_mb <= 0:
            raise ConfigError(f"LOGLAKE_COMPACT_TARGET_MB must be > 0, got {self.compact_target_mb!r}")

    @property
    def is_local(self) -> bool:
        return self.lake_uri.startswith("file://")

    @property
    def catalog_kind(self) -> str:
        """``athena`` or ``duckdb``."""
        if self.catalog:
            return "duckdb" if self.catalog.startswith("duckdb:") else self.catalog
        return "duckdb" if self.is_local else "athena"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the ``LOGLAKE_*`` variables; keyword overrides win over them."""
        env = os.environ if env is None else env
        lake_uri = env.get("LOGLAKE_LAKE_URI")
        if not lake_uri and "lake_uri" not in overrides:
            raise ConfigError("LOGLAKE_LAKE_URI is not set; set it to s3://bucket or file:///path/to/lake")
        values: dict[str, Any] = {
            "lake_uri": lake_uri or "",
            "catalog": env.get("LOGLAKE_CATALOG", ""),
            "database": env.get("LOGLAKE_DATABASE", "loglake"),
            "athena_workgroup": env.get("LOGLAKE_ATHENA_WORKGROUP", "primary"),
            "athena_output": env.get("LOGLAKE_ATHENA_OUTPUT") or None,
            "hash_key": env.get("LOGLAKE_HASH_KEY") or None,
            "hash_key_secret": env.get("LOGLAKE_HASH_KEY_SECRET") or None,
            "default_service": env.get("LOGLAKE_DEFAULT_SERVICE", "unknown"),
            "sampling": _json_setting(env, "LOGLAKE_SAMPLING"),
            "scrub": _json_setting(env, "LOGLAKE_SCRUB"),
            "metrics_namespace": env.get("LOGLAKE_METRICS_NAMESPACE", "loglake"),
            "metrics_path": env.get("LOGLAKE_METRICS_PATH") or None,
            "tables": _json_setting(env, "LOGLAKE_TABLES"),
        }
        for name, env_name in _NUMBERS.items():
            if env.get(env_name):
                values[name] = _number_setting(env, env_name)
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)
