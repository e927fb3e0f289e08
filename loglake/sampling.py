"""Sampling: keep every error and every slow request, and a consistent share of the rest.

The decision is a pure function of ``request_id``: the first 8 bytes of SHA-256 over its UTF-8 bytes, read
as a big-endian unsigned integer and divided by 2**64, give a point ``u`` in [0, 1); the request is kept when
``u < rate``. The same request is therefore kept or dropped identically on retries, in every service and in
every process. Events without a request id are kept (there is nothing to be consistent about).

Kept rows carry ``sample_rate``: 1.0 for rows kept by rule (errors, slow, no id), ``rate`` for sampled rows,
so that ``sum(1 / sample_rate)`` estimates the number of requests.

Rules come from the ``LOGLAKE_SAMPLING`` setting::

    {"default": {"rate": 0.1, "slow_ms": 1000},
     "services": {"checkout": {"rate": 1.0}, "search": {"rate": 0.01, "slow_ms": 500}}}

Example
-------
>>> s = Sampler.from_settings({})
>>> s.decide({"status_code": 503, "request_id": "r1", "service_name": "a"})
1.0
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from loglake.errors import ConfigError

DEFAULT_RATE: Final = 0.1
DEFAULT_SLOW_MS: Final = 1000.0
_TWO_64: Final = float(2**64)


def hash_unit(request_id: str) -> float:
    """The request's point in [0, 1): SHA-256 → first 8 bytes, big-endian → / 2**64."""
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


@dataclass(frozen=True, slots=True)
class ServiceRule:
    rate: float = DEFAULT_RATE
    slow_ms: float = DEFAULT_SLOW_MS

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"sampling rate {self.rate!r} is outside [0, 1]")
        if self.slow_ms < 0:
            raise ConfigError(f"slow_ms {self.slow_ms!r} must be >= 0")


def _rule(raw: Mapping[str, Any], base: ServiceRule, where: str) -> ServiceRule:
    unknown = set(raw) - {"rate", "slow_ms", "truncate_ip"}
    if unknown:
        raise ConfigError(f"{where}: unknown sampling settings {sorted(unknown)}; use 'rate' and 'slow_ms'")
    return ServiceRule(float(raw.get("rate", base.rate)), float(raw.get("slow_ms", base.slow_ms)))


class Sampler:
    """Per-service keep/drop decisions."""

    def __init__(self, default: ServiceRule, services: Mapping[str, ServiceRule] | None = None) -> None:
        self.default = default
        self.services = dict(services or {})

    @classmethod
    def from_settings(cls, sampling: Mapping[str, Any]) -> Sampler:
        default = _rule(sampling.get("default", {}), ServiceRule(), "LOGLAKE_SAMPLING.default")
        services = {
            name: _rule(raw, default, f"LOGLAKE_SAMPLING.services.{name}")
            for name, raw in sampling.get("services", {}).items()
        }
        return cls(default, services)

    def rule_for(self, service: str) -> ServiceRule:
        return self.services.get(service, self.default)

    def decide(self, rec: Mapping[str, Any]) -> float | None:
        """The ``sample_rate`` to record if the record is kept, or None if it is sampled out."""
        rule = self.services.get(rec["service_name"], self.default)
        status = rec.get("status_code")
        if status is not None and status >= 400:
            return 1.0
        latency = rec.get("latency_ms")
        if latency is not None and latency >= rule.slow_ms:
            return 1.0
        request_id = rec.get("request_id")
        if request_id is None or rule.rate >= 1.0:
            return 1.0
        return rule.rate if hash_unit(request_id) < rule.rate else None
