"""Sampling: keep every error and every slow request, and a consistent share of the rest.

The decision is a pure function of ``request_id``: the first 8 bytes of SHA-256 over its UTF-8 bytes, read
as a big-endian unsigned integer ``h``, give the point ``u = h / 2**64`` in [0, 1); the request is kept when
``u < rate``, computed exactly as ``h < rate * 2**64`` (no rounding of ``h``). The same request is therefore
kept or dropped identically on retries, in every service and in every process, and a request kept at rate
0.01 is also kept at rate 0.1 (the kept sets nest).

Per event, in this order:

1. ``status_code`` ≥ 400 (4xx and 5xx), or below 100 (not an HTTP status a server sends): kept, rate 1.0;
2. ``latency_ms`` at or above the service's ``slow_ms`` (default 1,000): kept, rate 1.0;
3. no ``request_id``: kept, rate 1.0 (there is nothing to be consistent about);
4. otherwise (1xx–3xx, or no status at all): kept when ``u < rate`` (default 0.1) with that rate.

Kept rows carry ``sample_rate`` so that ``sum(1 / sample_rate)`` estimates the number of requests.

Rules come from the ``LOGLAKE_SAMPLING`` setting; ``truncate_ip`` asks the scrubber to cut the service's
client IPs to their /24 (IPv4) or /48 (IPv6) network::

    {"default": {"rate": 0.1, "slow_ms": 1000},
     "services": {"checkout": {"rate": 1.0}, "search": {"rate": 0.01, "slow_ms": 500, "truncate_ip": true}}}

Example
-------
>>> s = Sampler.from_settings({})
>>> s.decide({"status_code": 503, "request_id": "r1", "service_name": "a"})
1.0
>>> round(hash_unit("r1"), 6)
0.511534
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, Final

from loglake.errors import ConfigError

try:  # CPython's own SHA-256 (3.12+: _sha2, 3.11: _sha256): for a few bytes it costs less than OpenSSL's
    # context set-up (~0.07 µs of ~0.35 µs per hash); the digest is the same.
    from _sha2 import sha256 as short_sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the interpreter's build
    try:
        from _sha256 import sha256 as short_sha256  # type: ignore[no-redef,unused-ignore]
    except ImportError:
        short_sha256 = sha256  # type: ignore[assignment,unused-ignore]

DEFAULT_RATE: Final = 0.1
DEFAULT_SLOW_MS: Final = 1000.0
_TWO_64: Final = float(2**64)
_KNOWN: Final = frozenset({"rate", "slow_ms", "truncate_ip"})


def hash_unit(request_id: str) -> float:
    """The request's point in [0, 1): SHA-256 → first 8 bytes, big-endian → / 2**64 (rounded to a float;
    the decision itself compares the integer exactly)."""
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


def keep_below(rate: float) -> bytes:
    """The 8 big-endian bytes ``t`` for which ``digest < t`` decides ``h < rate * 2**64`` (for 0 < rate < 1).

    ``h`` is an integer, so ``h < rate * 2**64`` exactly when ``h < ceil(rate * 2**64)`` (the product is exact:
    a float times a power of two). Bytes compare lexicographically: a 32-byte digest is below the 8-byte
    ``t`` exactly when its first 8 bytes are (were they equal, the longer digest would be the greater).

    Example
    -------
    >>> keep_below(0.5).hex()
    '8000000000000000'
    """
    return math.ceil(rate * _TWO_64).to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class ServiceRule:
    """Sampling and privacy settings of one service."""

    rate: float = DEFAULT_RATE
    slow_ms: float = DEFAULT_SLOW_MS
    truncate_ip: bool = False
    #: :func:`keep_below` of ``rate`` (when 0 < rate < 1): the decision is one comparison of bytes.
    threshold: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"sampling rate {self.rate!r} is outside [0, 1]; use e.g. 0.1 to keep 10 %")
        if not self.slow_ms >= 0:
            raise ConfigError(f"slow_ms {self.slow_ms!r} must be a number >= 0 (milliseconds)")
        if 0.0 < self.rate < 1.0:
            object.__setattr__(self, "threshold", keep_below(self.rate))


def _rule(raw: Any, base: ServiceRule, where: str) -> ServiceRule:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be an object like {{'rate': 0.1, 'slow_ms': 1000}}")
    unknown = set(raw) - _KNOWN
    if unknown:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}; use 'rate', 'slow_ms' and 'truncate_ip'")
    try:
        rate = float(raw.get("rate", base.rate))
        slow_ms = float(raw.get("slow_ms", base.slow_ms))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: 'rate' and 'slow_ms' must be numbers") from None
    truncate = raw.get("truncate_ip", base.truncate_ip)
    if not isinstance(truncate, bool):
        raise ConfigError(f"{where}: 'truncate_ip' must be true or false")
    return ServiceRule(rate, slow_ms, truncate)


class Sampler:
    """Per-service keep/drop decisions.

    Example
    -------
    >>> s = Sampler.from_settings({"default": {"rate": 0.0}})
    >>> s.decide({"service_name": "a", "status_code": 200, "request_id": "r"}) is None
    True
    """

    def __init__(self, default: ServiceRule, services: Mapping[str, ServiceRule] | None = None) -> None:
        self.default = default
        self.services = dict(services or {})

    @classmethod
    def from_settings(cls, sampling: Mapping[str, Any]) -> Sampler:
        """Build from the ``LOGLAKE_SAMPLING`` setting; raises ConfigError naming what is wrong."""
        unknown = set(sampling) - {"default", "services"}
        if unknown:
            raise ConfigError(f"LOGLAKE_SAMPLING has unknown keys {sorted(unknown)}; use 'default' and 'services'")
        default = _rule(sampling.get("default", {}), ServiceRule(), "LOGLAKE_SAMPLING.default")
        services_raw = sampling.get("services", {})
        if not isinstance(services_raw, Mapping):
            raise ConfigError("LOGLAKE_SAMPLING.services must map service names to settings")
        services = {
            str(name): _rule(raw, default, f"LOGLAKE_SAMPLING.services.{name}") for name, raw in services_raw.items()
        }
        return cls(default, services)

    def rule_for(self, service: str) -> ServiceRule:
        return self.services.get(service, self.default)

    def decide_values(
        self, service: str, status: int | None, latency: float | None, request_id: str | None
    ) -> float | None:
        """:meth:`decide` on the four values it reads."""
        rule = self.services.get(service, self.default)
        if status is not None and (status >= 400 or status < 100):
            return 1.0
        if latency is not None and latency >= rule.slow_ms:
            return 1.0
        if request_id is None or rule.rate >= 1.0:
            return 1.0
        if rule.rate <= 0.0:
            return None
        digest = short_sha256(request_id.encode("utf-8", "surrogatepass")).digest()
        return rule.rate if digest < rule.threshold else None

    def decide(self, rec: Mapping[str, Any]) -> float | None:
        """The ``sample_rate`` to record if the record is kept, or None if it is sampled out."""
        return self.decide_values(
            rec["service_name"], rec.get("status_code"), rec.get("latency_ms"), rec.get("request_id")
        )
