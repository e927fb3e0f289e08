"""RED metrics (rate, errors, duration) aggregated per batch and emitted as CloudWatch EMF documents.

Metrics are computed over every event *before* sampling, per service and minute:

- dimension set ``[service_name]``: ``Requests``, ``Errors4xx``, ``Errors5xx`` (Count); ``Latency``
  (Milliseconds, the values themselves so CloudWatch can compute p50/p95/p99); and the pipeline's own
  accounting ``Kept``, ``SampledOut``, ``Quarantined`` (Count);
- dimension set ``[service_name, route]``: ``RouteLatency`` (Milliseconds), with routes normalised
  (``/api/v1/products/123`` → ``/api/v1/products/{id}``) so cardinality stays bounded.

Per (service, minute, IP) one compact log line ``{"loglake_event": "ip_requests", …, "requests": n}`` feeds
the Contributor Insights rule that finds scrapers.

Documents go to stdout in Lambda (CloudWatch turns EMF lines into metrics) or to a file locally.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

#: EMF allows at most 100 values in one metric array.
MAX_VALUES_PER_DOCUMENT: Final = 100
_ID_SEGMENT: Final = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}"
    r"|(?:email|user):[0-9a-f]{32})$"
)
OUTCOMES: Final = ("Kept", "SampledOut", "Quarantined")


def normalize_route(path: str | None) -> str:
    """Replace id-like path segments (numbers, UUIDs, long hex, hashed values) by ``{id}``."""
    if not path:
        return "/"
    path = path.split("?", 1)[0]
    return "/".join("{id}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))[:256] or "/"


@dataclass
class _Minute:
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


class RedMetrics:
    """Aggregates one batch of events; call :meth:`documents` once at the end."""

    def __init__(self, namespace: str = "loglake") -> None:
        self.namespace = namespace
        self._minutes: dict[tuple[str, int], _Minute] = defaultdict(_Minute)
        self._routes: dict[tuple[str, int, str], list[float]] = defaultdict(list)
        self._ips: Counter[tuple[str, int, str]] = Counter()

    def observe(self, rec: Mapping[str, Any]) -> None:
        """Count one event (before sampling)."""
        service = rec["service_name"]
        minute = rec["timestamp"] // 60_000
        m = self._minutes[(service, minute)]
        m.requests += 1
        status = rec.get("status_code")
        if status is not None:
            if 400 <= status < 500:
                m.errors_4xx += 1
            elif status >= 500:
                m.errors_5xx += 1
        latency = rec.get("latency_ms")
        if latency is not None:
            m.latencies.append(latency)
            self._routes[(service, minute, normalize_route(rec.get("path")))].append(latency)
        ip = rec.get("ip_address")
        if ip:
            self._ips[(service, minute, ip)] += 1

    def outcome(self, service: str, timestamp_ms: int, outcome: str, n: int = 1) -> None:
        """Count a pipeline outcome (``Kept``, ``SampledOut``, ``Quarantined``) for a service."""
        self._minutes[(service, timestamp_ms // 60_000)].outcomes[outcome] += n

    def documents(self) -> Iterator[dict[str, Any]]:
        """EMF documents: one per (service, minute), more when latency values exceed 100."""
        for (service, minute), m in sorted(self._minutes.items()):
            ts = minute * 60_000
            counts = {
                "Requests": m.requests,
                "Errors4xx": m.errors_4xx,
                "Errors5xx": m.errors_5xx,
                **{o: m.outcomes.get(o, 0) for o in OUTCOMES},
            }
            chunks = [m.latencies[i : i + MAX_VALUES_PER_DOCUMENT] for i in range(0, len(m.latencies), 100)]
            for i, chunk in enumerate(chunks or [[]]):
                metrics = [{"Name": name, "Unit": "Count"} for name in counts] if i == 0 else []
                doc: dict[str, Any] = {"service_name": service}
                if i == 0:
                    doc.update(counts)
                if chunk:
                    metrics.append({"Name": "Latency", "Unit": "Milliseconds"})
                    doc["Latency"] = chunk
                doc["_aws"] = {
                    "Timestamp": ts,
                    "CloudWatchMetrics": [
                        {"Namespace": self.namespace, "Dimensions": [["service_name"]], "Metrics": metrics}
                    ],
                }
                yield doc
        for (service, minute, route), values in sorted(self._routes.items()):
            for i in range(0, len(values), MAX_VALUES_PER_DOCUMENT):
                yield {
                    "service_name": service,
                    "route": route,
                    "RouteLatency": values[i : i + MAX_VALUES_PER_DOCUMENT],
                    "_aws": {
                        "Timestamp": minute * 60_000,
                        "CloudWatchMetrics": [
                            {
                                "Namespace": self.namespace,
                                "Dimensions": [["service_name", "route"]],
                                "Metrics": [{"Name": "RouteLatency", "Unit": "Milliseconds"}],
                            }
                        ],
                    },
                }

    def ip_lines(self) -> Iterator[dict[str, Any]]:
        """One line per (service, minute, IP) for the Contributor Insights scraper rule."""
        for (service, minute, ip), n in sorted(self._ips.items()):
            stamp = datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
            yield {
                "loglake_event": "ip_requests",
                "service_name": service,
                "minute": stamp,
                "ip_address": ip,
                "requests": n,
            }


class MetricsSink:
    """Where EMF documents and structured log lines go: stdout in Lambda, a file locally."""

    def __init__(self, path: str | None = None, stream: TextIO | None = None) -> None:
        self.path = Path(path) if path else None
        self.stream = stream

    def write(self, docs: Iterator[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(d) + b"\n" for d in docs)
        if not data:
            return
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                fh.write(data)
        else:
            out = self.stream or sys.stdout
            out.write(data.decode())
            out.flush()

    def emit(self, metrics: RedMetrics) -> None:
        self.write(metrics.documents())
        self.write(metrics.ip_lines())


def counters_document(
    namespace: str, dimensions: Mapping[str, str], counts: Mapping[str, int | float], timestamp_ms: int
) -> dict[str, Any]:
    """One EMF document of plain counters under one dimension set (used by converter and autoloader)."""
    return {
        **dimensions,
        **counts,
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in counts],
                }
            ],
        },
    }
