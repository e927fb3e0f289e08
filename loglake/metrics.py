"""RED metrics (rate, errors, duration) aggregated per batch and emitted as CloudWatch EMF documents.

Metrics are computed over every event *before* sampling, per service and minute:

- dimension set ``[service_name]``: ``Requests``, ``Errors4xx``, ``Errors5xx`` (Count); ``Latency``
  (Milliseconds, the values themselves so CloudWatch can compute p50/p95/p99); and the pipeline's own
  accounting ``Kept``, ``SampledOut``, ``Quarantined`` (Count), plus ``ControlMessages`` and
  ``ProcessingFailed`` when they occurred;
- dimension set ``[service_name, route]``: ``RouteLatency`` (Milliseconds), with routes normalised
  (``/api/v1/products/123`` → ``/api/v1/products/{id}``, see :mod:`loglake.routes`) so cardinality stays
  bounded; past :data:`MAX_ROUTES_PER_SERVICE` routes in one batch, further ones count as ``{other}``.

Per (service, minute, IP) one compact log line ``{"loglake_event": "ip_requests", …, "requests": n}`` feeds
the Contributor Insights rule that finds scrapers; only valid IP addresses appear there (truncated when the
service truncates them), never free text.

One batch (one Firehose invocation) gives one EMF document per (service, minute) — more only when a minute
holds more than 100 latency values, EMF's limit per array — not one per event. CloudWatch accepts metric
timestamps from two weeks in the past to two hours in the future; events outside that window (a replayed
old log) are counted in the minute they arrived. Documents go to stdout in Lambda (CloudWatch turns EMF
lines into metrics) or to a file locally.

Example
-------
>>> m = RedMetrics("loglake", now_ms=1795341600000)
>>> m.observe_values("shop", 1795341600000, 503, 12.5, "/api/{id}", "203.0.113.9")
>>> m.outcome("shop", 1795341600000, "Kept")
>>> doc = next(m.documents())
>>> doc["Requests"], doc["Errors5xx"], doc["Latency"], doc["Kept"]
(1, 1, [12.5], 1)
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import is_not, itemgetter
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from loglake.ipnet import ip_kind
from loglake.routes import normalize_route

__all__ = ["OUTCOMES", "MetricsSink", "RedMetrics", "counters_document", "normalize_route"]

#: EMF allows at most 100 values in one metric array.
MAX_VALUES_PER_DOCUMENT: Final = 100
MAX_ROUTES_PER_SERVICE: Final = 100
OTHER_ROUTE: Final = "{other}"
OUTCOMES: Final = ("Kept", "SampledOut", "Quarantined")
#: Counters emitted only when they occurred.
OPTIONAL_COUNTERS: Final = ("ControlMessages", "ProcessingFailed")
_MINUTE: Final = 60_000
_PAST_MS: Final = 14 * 24 * 3600 * 1000 - 10 * _MINUTE
_FUTURE_MS: Final = 2 * 3600 * 1000 - 10 * _MINUTE


@dataclass
class _Minute:
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def count(self, status: int | None, outcome: str, n: int) -> None:
        """``n`` requests of one status and pipeline outcome."""
        self.requests += n
        self.outcomes[outcome] += n
        if status is not None and status >= 400:
            if status < 500:
                self.errors_4xx += n
            else:
                self.errors_5xx += n


class RedMetrics:
    """Aggregates one batch of events; call :meth:`documents` and :meth:`ip_lines` once at the end.

    Parameters
    ----------
    namespace:
        The CloudWatch namespace (``LOGLAKE_METRICS_NAMESPACE``).
    now_ms:
        The batch's arrival time; metric minutes outside CloudWatch's accepted window fall back to it.
    """

    def __init__(self, namespace: str = "loglake", *, now_ms: int | None = None) -> None:
        self.namespace = namespace
        self.now_ms = now_ms
        self._minutes: dict[tuple[str, int], _Minute] = defaultdict(_Minute)
        self._routes: dict[tuple[str, int, str], list[float]] = defaultdict(list)
        self._route_names: dict[str, set[str]] = defaultdict(set)
        self._ips: Counter[tuple[str, int, str]] = Counter()

    def _metric_minute(self, timestamp_ms: int) -> int:
        now = self.now_ms
        if now is not None and not now - _PAST_MS <= timestamp_ms <= now + _FUTURE_MS:
            return now // _MINUTE
        return timestamp_ms // _MINUTE

    def observe_values(
        self,
        service: str,
        timestamp_ms: int,
        status: int | None,
        latency: float | None,
        route: str | None,
        ip: str | None,
    ) -> None:
        """Count one event (before sampling). ``route`` must already be normalised and PII-safe."""
        minute = self._metric_minute(timestamp_ms)
        m = self._minutes[(service, minute)]
        m.requests += 1
        if status is not None:
            if 400 <= status < 500:
                m.errors_4xx += 1
            elif status >= 500:
                m.errors_5xx += 1
        if latency is not None:
            m.latencies.append(latency)
            route = route or "/"
            names = self._route_names[service]
            if route not in names:
                if len(names) >= MAX_ROUTES_PER_SERVICE:
                    route = OTHER_ROUTE
                names.add(route)
            self._routes[(service, minute, route)].append(latency)
        if ip and ip_kind(ip) is not None:
            self._ips[(service, timestamp_ms // _MINUTE, ip)] += 1

    def ingest(
        self, observations: list[tuple[str, int, int | None, float | None, str | None, str | None, str]]
    ) -> None:
        """Count many events at once: ``(service, event minute, status, latency, route, ip, outcome)`` each.

        The same counts as :meth:`observe_values` and :meth:`outcome` per event (``event minute`` is
        ``timestamp // 60000``), with the counting done by ``Counter`` — the transformer's hot loop only
        appends one tuple per event.
        """
        if not observations:
            return
        services, minutes, statuses, latencies, routes, ips, outcomes = zip(*observations, strict=True)
        if self.now_ms is None:
            metric_minute = {minute: minute for minute in set(minutes)}
        else:  # _metric_minute(), for each minute of the batch
            first, last, now = self.now_ms - _PAST_MS, self.now_ms + _FUTURE_MS, self.now_ms // _MINUTE
            metric_minute = {m: m if first <= m * _MINUTE <= last else now for m in set(minutes)}
        # Counted per metric minute at once (a replayed log spreads over many minutes, all counted now).
        for (service, minute, status, outcome), n in Counter(
            zip(services, map(metric_minute.__getitem__, minutes), statuses, outcomes, strict=True)
        ).items():
            self._minutes[(service, minute)].count(status, outcome, n)
        grouped: dict[tuple[str, int, str | None], list[float]] = {}
        timed = compress(zip(services, minutes, latencies, routes, strict=True), map(is_not, latencies, repeat(None)))
        for service, minute, latency, route in timed:
            values = grouped.get((service, minute, route))
            if values is None:
                values = grouped[(service, minute, route)] = []
            values.append(latency)
        for (service, minute, route), values in grouped.items():
            key = (service, metric_minute[minute])
            self._minutes[key].latencies.extend(values)
            route = route or "/"
            names = self._route_names[service]
            if route not in names:
                if len(names) >= MAX_ROUTES_PER_SERVICE:
                    route = OTHER_ROUTE
                names.add(route)
            self._routes[(*key, route)].extend(values)
        # IP addresses repeat: judge each distinct one once, then count (service, minute, IP) in C.
        valid = {ip for ip in set(ips) if ip and ip_kind(ip) is not None}
        by_ip = Counter(compress(zip(services, minutes, ips, strict=True), map(valid.__contains__, ips)))
        if self._ips:
            self._ips.update(by_ip)
        else:
            self._ips = by_ip

    def ingest_untimed(self, service: str, observations: list[tuple[int, int | None, str | None, str]]) -> None:
        """:meth:`ingest` for events of one service that carry no latency (hence no route), each given as
        ``(event minute, status, ip, outcome)``: access-log lines, whose tuples repeat (a client fetching a
        page's assets, in the same minute, with the same status). Identical tuples are counted first, in C;
        then each distinct one is counted once.
        """
        if not observations:
            return
        now = self.now_ms
        if now is not None:
            first, last, now_minute = now - _PAST_MS, now + _FUTURE_MS, now // _MINUTE
        minutes, ips = self._minutes, self._ips
        ips_get = ips.get
        metric_minutes: dict[int, _Minute] = {}
        valid_ips: dict[str, bool] = {}
        for (minute, status, ip, outcome), n in Counter(observations).items():
            m = metric_minutes.get(minute)
            if m is None:  # _metric_minute()
                metric = minute if now is None or first <= minute * _MINUTE <= last else now_minute
                m = metric_minutes[minute] = minutes[(service, metric)]
            m.count(status, outcome, n)
            if ip:
                valid = valid_ips.get(ip)
                if valid is None:
                    valid = valid_ips[ip] = ip_kind(ip) is not None
                if valid:
                    key = (service, minute, ip)
                    ips[key] = ips_get(key, 0) + n

    def observe(self, rec: Mapping[str, Any]) -> None:
        """Count one record (before sampling); its path is normalised here."""
        latency = rec.get("latency_ms")
        self.observe_values(
            rec["service_name"],
            rec["timestamp"],
            rec.get("status_code"),
            latency,
            normalize_route(rec.get("path")) if latency is not None else None,
            rec.get("ip_address"),
        )

    def outcome(self, service: str, timestamp_ms: int, outcome: str, n: int = 1) -> None:
        """Count a pipeline outcome (``Kept``, ``SampledOut``, ``Quarantined``, …) for a service."""
        self._minutes[(service, self._metric_minute(timestamp_ms))].outcomes[outcome] += n

    def totals(self) -> Counter[str]:
        """Sums of every counter over the batch (for logs and tests)."""
        out: Counter[str] = Counter()
        for m in self._minutes.values():
            out["Requests"] += m.requests
            out.update(m.outcomes)
        return out

    def documents(self) -> Iterator[dict[str, Any]]:
        """EMF documents: one per (service, minute), more when latency values exceed 100."""
        for (service, minute), m in sorted(self._minutes.items()):
            ts = minute * _MINUTE
            counts = {
                "Requests": m.requests,
                "Errors4xx": m.errors_4xx,
                "Errors5xx": m.errors_5xx,
                **{o: m.outcomes.get(o, 0) for o in OUTCOMES},
                **{o: m.outcomes[o] for o in OPTIONAL_COUNTERS if m.outcomes.get(o)},
            }
            step = MAX_VALUES_PER_DOCUMENT
            chunks = [m.latencies[i : i + step] for i in range(0, len(m.latencies), step)]
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
                        "Timestamp": minute * _MINUTE,
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
        stamps: dict[int, str] = {}
        for (service, minute, ip), n in sorted(self._ips.items()):
            stamp = stamps.get(minute)
            if stamp is None:
                stamp = stamps[minute] = _minute_stamp(minute)
            yield {
                "loglake_event": "ip_requests",
                "service_name": service,
                "minute": stamp,
                "ip_address": ip,
                "requests": n,
            }

    def ip_lines_json(self) -> bytes:
        """:meth:`ip_lines` as NDJSON: the bytes ``orjson.dumps`` gives for each line, written directly where
        no character needs escaping (service names and addresses nearly always)."""
        ips = self._ips
        # Judge each distinct name and address once — all at a time, as they nearly always are all plain.
        names = set(map(itemgetter(0), ips)) | set(map(itemgetter(2), ips))
        if set(map(type, names)) <= {str} and _PLAIN_JSON_TEXT.fullmatch("".join(names)) is not None:
            escaped: set[Any] = set()
        else:
            escaped = {v for v in names if not _plain_json_text(v)}
        out: list[str] = []
        head = ""
        last_service: str | None = None
        last_minute = -1
        for key in sorted(ips):
            service, minute, ip = key
            n = ips[key]
            if minute != last_minute or service != last_service:
                stamp = _minute_stamp(minute)
                head = f'{{"loglake_event":"ip_requests","service_name":"{service}","minute":"{stamp}","ip_address":"'
                last_service, last_minute = service, minute
            if type(n) is int and service not in escaped and ip not in escaped:
                out.append(f'{head}{ip}","requests":{n}}}\n')
            else:
                line = {"loglake_event": "ip_requests", "service_name": service, "minute": stamp}
                out.append(orjson.dumps({**line, "ip_address": ip, "requests": n}).decode() + "\n")
        return "".join(out).encode()


def _minute_stamp(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


#: Text JSON writes as is between quotes: printable ASCII without '"' and '\\'.
_PLAIN_JSON_TEXT: Final = re.compile(r"[ !#-\[\]-~]*")


def _plain_json_text(value: Any) -> bool:
    """Is ``value`` a string that JSON writes as is between quotes?"""
    return type(value) is str and _PLAIN_JSON_TEXT.fullmatch(value) is not None


class MetricsSink:
    """Where EMF documents and structured log lines go: stdout in Lambda, a file locally."""

    def __init__(self, path: str | None = None, stream: TextIO | None = None) -> None:
        self.path = Path(path) if path else None
        self.stream = stream

    def write(self, docs: Iterator[dict[str, Any]]) -> None:
        self.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))

    def emit(self, metrics: RedMetrics) -> None:
        self.write(metrics.documents())
        self.write_bytes(metrics.ip_lines_json())

    def write_bytes(self, data: bytes) -> None:
        """Write NDJSON already serialised."""
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
