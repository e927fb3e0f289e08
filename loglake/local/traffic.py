"""Demo traffic: generated access-log events, or a real log replayed from a file.

The generator is seeded and produces, over ``hours`` of event time ending at ``end``: several services with
2xx/3xx/4xx/5xx mixes, slow requests, PII in query strings, paths and referers (e-mails, tokens, card
numbers), one IP scraping at more than 1,000 requests a minute, one traffic spike with elevated errors, and a
few malformed events that the pipeline must quarantine.
"""

from __future__ import annotations

import gzip
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from loglake.errors import RecordError
from loglake.records import parse_combined

SERVICES: Final = {
    "checkout": [
        "/api/v1/cart",
        "/api/v1/cart/{n}",
        "/api/v1/orders",
        "/api/v1/orders/{n}",
        "/api/v1/payments",
    ],
    "catalog": ["/api/v1/products", "/api/v1/products/{n}", "/api/v1/categories/{n}", "/api/v1/search"],
    "auth": ["/api/v1/login", "/api/v1/logout", "/api/v1/token/refresh", "/api/v1/users/{n}/profile"],
}
USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
)
SCRAPER_IP: Final = "203.0.113.66"
PLANTED_SECRETS: Final = (
    "alice.smith@example.com",
    "4111 1111 1111 1111",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "hunter2-password",
    "AKIAIOSFODNN7EXAMPLE",
)


@dataclass(frozen=True)
class TrafficPlan:
    end: datetime
    hours: float = 2.0
    per_service_per_minute: int = 25
    scraper_minutes: int = 5
    scraper_per_minute: int = 1200
    spike_minutes: int = 10
    spike_factor: int = 5
    seed: int = 7


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _status(rng: random.Random, error_boost: float) -> int:
    r = rng.random()
    if r < 0.015 + error_boost:
        return rng.choice((500, 502, 503, 504))
    if r < 0.085 + error_boost:
        return rng.choice((400, 401, 403, 404, 404, 404, 429))
    if r < 0.135 + error_boost:
        return rng.choice((301, 302, 304))
    return rng.choice((200, 200, 200, 201, 204))


def _event(
    rng: random.Random, service: str, t: datetime, *, ip: str | None = None, error_boost: float = 0.0
) -> dict[str, Any]:
    path = rng.choice(SERVICES[service]).replace("{n}", str(rng.randint(1, 99999)))
    latency = math.exp(rng.gauss(math.log(45), 0.8))
    if rng.random() < 0.02:
        latency = rng.uniform(1000, 5000)  # slow requests: always kept
    event: dict[str, Any] = {
        "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": _iso(t),
        "service_name": service,
        "method": "POST" if path.endswith(("login", "orders", "payments", "refresh")) else "GET",
        "path": path,
        "status_code": _status(rng, error_boost),
        "latency_ms": round(latency, 2),
        "bytes_sent": rng.randint(200, 50_000),
        "ip_address": ip or f"198.51.100.{rng.randint(1, 254)}",
        "user_agent": rng.choice(USER_AGENTS),
        "trace_id": f"Root=1-{int(t.timestamp()):08x}-{rng.getrandbits(96):024x}",
    }
    if rng.random() < 0.6:
        event["user_id"] = f"u-{rng.randint(1, 5000)}"
    pii = rng.random()
    if pii < 0.04:
        event["query_params"] = f"email={PLANTED_SECRETS[0]}&page=2"
    elif pii < 0.06:
        event["query_params"] = f"token={PLANTED_SECRETS[3]}&sort=price"
    elif pii < 0.07:
        event["path"] = f"/api/v1/users/{PLANTED_SECRETS[0]}/profile"
    elif pii < 0.08:
        event["referer"] = f"https://shop.example.com/pay?card={PLANTED_SECRETS[1].replace(' ', '')}"
    elif pii < 0.085:
        event["auth_header"] = f"Bearer {PLANTED_SECRETS[2]}"
    elif pii < 0.5:
        event["query_params"] = rng.choice(("page=2&sort=price", "q=shoes&size=42", "lang=en"))
    if rng.random() < 0.002:
        event["status_code"] = "abc"  # malformed: must be quarantined with its reason
    return event


def generate(plan: TrafficPlan) -> Iterator[dict[str, Any]]:
    """Yield the demo's events in time order (per minute)."""
    rng = random.Random(plan.seed)
    start = plan.end - timedelta(hours=plan.hours)
    minutes = int(plan.hours * 60)
    scraper_start = minutes // 3
    spike_start = (2 * minutes) // 3
    for minute in range(minutes):
        t0 = start + timedelta(minutes=minute)
        batch = []
        for service in SERVICES:
            n = plan.per_service_per_minute
            boost = 0.0
            if service == "checkout" and spike_start <= minute < spike_start + plan.spike_minutes:
                n *= plan.spike_factor
                boost = 0.06
            for _ in range(n):
                batch.append(_event(rng, service, t0 + timedelta(seconds=rng.uniform(0, 59.999)), error_boost=boost))
        if scraper_start <= minute < scraper_start + plan.scraper_minutes:
            for _ in range(plan.scraper_per_minute):
                t = t0 + timedelta(seconds=rng.uniform(0, 59.999))
                batch.append(_event(rng, "catalog", t, ip=SCRAPER_IP) | {"user_agent": "python-requests/2.32.3"})
        batch.sort(key=lambda e: e["timestamp"])
        yield from batch


@dataclass
class ReplayLine:
    """One line of a replayed file: a decoded event, or the raw bytes when it is neither JSON nor a log line."""

    event: dict[str, Any] | None
    raw: bytes


def replay(path: str | Path, service_name: str) -> Iterator[ReplayLine]:
    """Read a log file (plain or .gz; JSON lines or Apache/Nginx combined format)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            event: dict[str, Any] | None = None
            if line[:1] == b"{":
                try:
                    value = orjson.loads(line)
                    event = value if isinstance(value, dict) else None
                except orjson.JSONDecodeError:
                    event = None
            else:
                try:
                    event = parse_combined(line)
                except RecordError:
                    event = None
            if event is not None:
                event.setdefault("service_name", service_name)
            yield ReplayLine(event, line)
