"""The Firehose transformer: decode → validate → RED metrics → sample → scrub → NDJSON.

Contract (Firehose data transformation): every input ``recordId`` is answered exactly once, whatever its
bytes, with

- ``Ok``: the data is the kept records as NDJSON, plus one quarantine marker line
  ``{"_loglake_quarantine": {...}}`` per event that could not be decoded or validated (the converter moves
  those to ``quarantine/``; their raw content and reason are scrubbed first);
- ``Dropped``: every event of the record was sampled out, or the record held only a CloudWatch Logs
  ``CONTROL_MESSAGE``, or nothing at all;
- ``ProcessingFailed``: the function itself failed on that record (a bug), or the response would exceed
  Firehose's 6 MB; Firehose then writes the original record under its error prefix.

One bad event never takes its neighbours with it, and an unexpected error in one event quarantines that
event only. Per event:

1. :func:`~loglake.fastpath.essentials` validates, by the schema's rules, the seven fields sampling and the
   metrics read (service, timestamp, status, latency, request id, path, IP); an event failing here is
   quarantined and not counted as a request;
2. the RED metrics count it (before sampling) and the sampler decides;
3. a sampled-out event is only counted: it is never stored, so it is neither scrubbed nor validated further
   (its route, a metric dimension, is made PII-safe by :class:`~loglake.routes.RouteNormalizer`);
4. a kept event is scrubbed as it arrived (before any field is cut, so no secret survives half-cut), then
   validated whole by :func:`~loglake.schema.normalize` — failing that, it is quarantined — and serialised.

Every event ends as exactly one of ``Kept``, ``SampledOut`` or ``Quarantined`` in the metrics.

The common shapes take shorter roads to the same results (``bench/transformer`` measures them; property
tests hold them to the general path): canonical values of the seven fields are checked inline before
:func:`~loglake.fastpath.essentials` is asked; a kept event of the usual shape is scrubbed and normalised in
one pass (:func:`~loglake.fastpath.row_builder`); an NDJSON record is decoded line by line inside the loop,
each line first read typed (msgspec: the seven fields only, :data:`~loglake.fastpath.decode_essentials`), so
that a line sampled out is never built into an event;
a record of one access-log line is matched, counted and sampled without building the event of a line that
is sampled out. The cyclic garbage collector is paused for the length of a batch.

Example
-------
>>> t = Transformer(Settings.from_env({"LOGLAKE_LAKE_URI": "file:///tmp/lake"}), hash_key=b"k")  # doctest: +SKIP
>>> t.transform(firehose_event)["records"][0]["result"]  # doctest: +SKIP
'Ok'
"""

from __future__ import annotations

import binascii
import gc
import json
import logging
import operator
import re
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec
import orjson

from loglake import linehead, quarantine
from loglake.b64 import decode as b64decode
from loglake.b64 import encode_text as b64encode_text
from loglake.errors import RecordError
from loglake.fastpath import (
    _MAX_IP,
    _MAX_MS,
    _MAX_PATH,
    _MAX_REQUEST_ID,
    _MAX_STATUS,
    _MILLIS_Z,
    _MIN_LATENCY,
    _MIN_MS,
    _MIN_STATUS,
    LineEssentials,
    _second_ms,
    _valid_services,
    essentials,
    format_ms,
    row_builder,
)
from loglake.fastpath import decode_essentials as _decode_essentials
from loglake.formats.combined import (
    _ESCAPED_RE,
    _FAST_RE,
    event_of,
)
from loglake.hash_key import HASH_KEY_OBJECT, MIN_SECRET_KEY_BYTES, resolve_hash_key
from loglake.ipnet import truncate_ip
from loglake.metrics import MetricsSink, RedMetrics
from loglake.records import decode_line, decode_record, is_ndjson
from loglake.routes import RouteNormalizer
from loglake.sampling import Sampler, ServiceRule, short_sha256
from loglake.schema import normalize, validate_service_name
from loglake.scrub import Scrubber
from loglake.settings import Settings

__all__ = ["HASH_KEY_OBJECT", "MAX_RESPONSE_BYTES", "MIN_SECRET_KEY_BYTES", "STAGE", "Transformer", "resolve_hash_key"]

logger = logging.getLogger(__name__)

STAGE: Final = "transformer"
#: Firehose refuses a transformation response above 6 MB; keep room for the JSON around the records.
MAX_RESPONSE_BYTES: Final = 6 * 1024 * 1024 - 64 * 1024
#: Raw content scrubbed before it is cut for quarantine: the cut never splits an unscrubbed secret.
_SCRUB_MARGIN: Final = 8 * 1024


def _arrival_ms(record: Mapping[str, Any]) -> int | None:
    arrival = record.get("approximateArrivalTimestamp")
    if not isinstance(arrival, int | float) or isinstance(arrival, bool):
        kinesis = record.get("kinesisRecordMetadata")
        arrival = kinesis.get("approximateArrivalTimestamp") if isinstance(kinesis, dict) else None
    if isinstance(arrival, int | float) and not isinstance(arrival, bool) and arrival == arrival:
        return int(arrival)
    return None


_INF: Final = float("inf")
#: Lines nested deeper than this take the general path (orjson writes at most 254 levels, reads at most 1,024).
_TYPED_MAX_DEPTH: Final = 200
_data_of: Final = operator.methodcaller("get", "data", "")
_SAFE_SERVICE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _service_of(event: Any, default: str) -> str:
    """The event's service for counting, if it is a valid name (metric dimensions must stay bounded)."""
    name = event.get("service_name") if isinstance(event, Mapping) else None
    return name if isinstance(name, str) and _SAFE_SERVICE.fullmatch(name) else default


class Transformer:
    """Turns one Firehose transformation event into its response.

    Parameters
    ----------
    settings:
        Runtime settings (sampling, scrubbing, default service, metrics).
    hash_key:
        The HMAC key (see :func:`resolve_hash_key`).
    sink:
        Where EMF documents go (default: ``settings.metrics_path`` or stdout).
    clock:
        Seconds since the epoch; fills missing arrival times and bounds metric timestamps.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        hash_key: bytes,
        sink: MetricsSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.scrubber = Scrubber.from_settings(hash_key, settings.scrub)
        self.sampler = Sampler.from_settings(settings.sampling)
        self.sink = sink or MetricsSink(settings.metrics_path)
        self.routes = RouteNormalizer(self.scrubber.scrub_text)
        self._kept_row = row_builder(self.scrubber, settings.default_service)
        # Log lines carry no service: theirs is the default one, with its sampling rule.
        try:
            self._line_service: str | None = validate_service_name(settings.default_service)
        except RecordError:
            self._line_service = None
        self._line_rule = _unpacked(self.sampler.rule_for(settings.default_service))
        # Each service's sampling rule as the hot loop unpacks it.
        self._rules = {name: _unpacked(rule) for name, rule in self.sampler.services.items()}
        self._default_rule = _unpacked(self.sampler.default)
        self.clock = clock

    # ------------------------------------------------------------------ the invocation

    def transform(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one data-transformation event (``{"records": [...]}``)."""
        # A batch allocates a few containers per event, and CPython's cyclic collector, triggered by allocation
        # counts, would traverse them (and, every few batches, the whole heap) dozens of times per batch. The
        # batch builds no reference cycles: reference counting frees all of it. So the collector is paused for
        # the batch and resumed after it, whatever happens; a cycle made meanwhile (an exception's traceback)
        # waits for its next run.
        resume = gc.isenabled()
        gc.disable()
        try:
            return self._transform(event)
        finally:
            if resume:
                gc.enable()

    def _transform(self, event: Mapping[str, Any]) -> dict[str, Any]:
        now_ms = int(self.clock() * 1000)
        metrics = RedMetrics(self.settings.metrics_namespace, now_ms=now_ms)
        records = event.get("records") if isinstance(event, Mapping) else None
        answers: list[dict[str, Any]] = []
        observations: list[tuple[Any, ...]] = []
        counts: list[tuple[str, int, str, int]] = []  # (service, time, outcome, n) outside the observations
        line_service = self._line_service
        rule_rate, _, truncate, threshold = self._line_rule
        # The one-line path's names, bound once: it runs per record and costs a few microseconds.
        lines = line_service is not None
        keep_all, sampled = rule_rate >= 1.0, 0.0 < rule_rate < 1.0
        # The lines' observations, without the latency and route they never have: see RedMetrics.ingest_untimed.
        line_observations: list[tuple[int, int | None, str | None, str]] = []
        answer, observe = answers.append, line_observations.append
        line_head, time_range = linehead.head, range(_MIN_MS, _MAX_MS)
        max_ip, b64decode_ = _MAX_IP, b64decode
        kept_row, b64encode = self._kept_row, b64encode_text
        for record in records if isinstance(records, list) else []:
            if (type(record) is not dict and not isinstance(record, Mapping)) or "recordId" not in record:
                logger.error("skipping a record without recordId: Firehose always sends one")
                continue
            marks = None  # the one-line path observes nothing before it answers: nothing to take back
            try:
                data = record.get("data")
                # One access-log line, as agents send them: its head (time, status, host, id, sampling's verdict:
                # see loglake.linehead) decides here, without matching the line whole or building its event
                # unless it is kept. Anything unusual (not a line, a time outside the schema's range, an IP
                # longer than its field) goes on to _transform_record, which decides and says why.
                if lines and type(data) is str and (head := line_head(data, threshold)) is not None:
                    ts, code, host, request_id, lucky = head
                    if len(host) <= max_ip and ts in time_range:
                        if keep_all or (code is not None and (code >= 400 or code < 100)):
                            rate = 1.0
                        elif sampled and lucky:
                            rate = rule_rate
                        else:
                            ip = truncate_ip(host) if truncate else host
                            observe((ts // 60_000, code, ip, "SampledOut"))
                            answer({"recordId": record["recordId"], "result": "Dropped", "data": ""})
                            continue
                        # Kept: the whole line matched for its event.
                        line = b64decode_(data).strip()
                        text = line.decode("utf-8", "replace").strip()
                        m = (_ESCAPED_RE if "\\" in text else _FAST_RE).match(text)
                        if m is not None:
                            ip = truncate_ip(host) if truncate else host
                            event = event_of(m, request_id.decode(), ts)
                            out = kept_row(event, ts, rate, truncate)  # None: not the usual shape
                            if out is None:
                                out, outcome = self._kept_log_line(record, line, event, ts, rate, truncate, now_ms)
                            else:
                                outcome = "Kept"
                            observe((ts // 60_000, code, ip, outcome))
                            answer({"recordId": record["recordId"], "result": "Ok", "data": b64encode(out)})
                            continue
                if type(data) is str:
                    try:
                        data = b64decode_(data)
                    except (ValueError, TypeError):  # binascii.Error, non-ASCII text: _transform_record quarantines it
                        data = None
                else:
                    data = None
                marks = len(observations), len(counts)
                answer(self._transform_record(record, data, observations, counts, now_ms))
            except Exception as exc:  # a bug must fail one record, never the batch
                self._log_failure("record", record.get("recordId"), exc)
                if marks is not None:  # the record counts as ProcessingFailed only
                    del observations[marks[0] :], counts[marks[1] :]
                answer(_failed(record))
                counts.append((self.settings.default_service, now_ms, "ProcessingFailed", 1))
        metrics.ingest(observations)
        if line_service is not None:
            metrics.ingest_untimed(line_service, line_observations)
        for service, timestamp_ms, outcome, n in counts:
            metrics.outcome(service, timestamp_ms, outcome, n)
        self._fit_response(answers, metrics, now_ms)
        self.sink.emit(metrics)
        return {"records": answers}

    def _fit_response(self, answers: list[dict[str, Any]], metrics: RedMetrics, now_ms: int) -> None:
        """Keep the response under Firehose's 6 MB: fail the largest records (Firehose keeps them whole)."""
        size = sum(map(len, map(_data_of, answers))) + 100 * len(answers)
        if size <= MAX_RESPONSE_BYTES:
            return
        for answer in sorted(answers, key=lambda a: len(a.get("data", "")), reverse=True):
            if size <= MAX_RESPONSE_BYTES:
                break
            if answer["result"] != "Ok":
                continue
            size -= len(answer["data"])
            answer["result"] = "ProcessingFailed"
            # Firehose writes the original record to its error prefix; echoing it would not fit either.
            answer["data"] = ""
            metrics.outcome(self.settings.default_service, now_ms, "ProcessingFailed")
            logger.error(
                "record %s failed: the transformation response would exceed 6 MB; lower the delivery "
                "stream's processor buffer size (Firehose keeps the original under its error prefix)",
                answer["recordId"],
            )

    def _log_failure(self, what: str, record_id: Any, exc: BaseException) -> None:
        # Exception messages can quote data: log them scrubbed, with the code's frames only.
        frames = "".join(traceback.format_tb(exc.__traceback__)[-5:])
        message = self.scrubber.scrub_raw(str(exc))[:500]
        logger.error("transformer failed on %s %s: %s: %s\n%s", what, record_id, type(exc).__name__, message, frames)

    # ------------------------------------------------------------------ one record

    def _transform_record(
        self,
        record: Mapping[str, Any],
        data: bytes | None,
        observations: list[tuple[Any, ...]],
        counts: list[tuple[str, int, str, int]],
        now_ms: int,
    ) -> dict[str, Any]:
        record_id = record["recordId"]
        default_service = self.settings.default_service
        # Firehose always sends the arrival time; without one, the invocation's time fills missing timestamps.
        arrival_ms = record.get("approximateArrivalTimestamp")
        if type(arrival_ms) is not int:
            arrival_ms = _arrival_ms(record)
            if arrival_ms is None:
                arrival_ms = now_ms
        if data is None:
            encoded = record.get("data")
            try:
                if type(encoded) is not str and not isinstance(encoded, str | bytes):
                    raise TypeError
                data = b64decode(encoded)
            except (binascii.Error, TypeError, ValueError):
                text = str(encoded)[:4096].encode()
                marker = self._quarantine_line(
                    text, None, "the record's data is not valid base64", record_id, _record_context(record)
                )
                counts.append((default_service, arrival_ms, "Quarantined", 1))
                return _ok(record_id, [marker])
        out: list[bytes] = []
        if is_ndjson(data):  # decoded line by line as the events are processed: each is freed at once
            failures: list[tuple[bytes, str]] = []
            self._events(data.split(b"\n"), record, out, observations, counts, arrival_ms, failures)
            control_messages = 0
        else:
            decoded = decode_record(data)
            self._events(decoded.events, record, out, observations, counts, arrival_ms)
            failures, control_messages = decoded.failures, decoded.control_messages
        if failures or control_messages:
            context = _record_context(record)
            for raw, reason in failures:
                out.append(self._quarantine_line(raw, None, reason, record_id, context))
                counts.append((default_service, arrival_ms, "Quarantined", 1))
            if control_messages:
                counts.append((default_service, arrival_ms, "ControlMessages", control_messages))
        if not out:
            return {"recordId": record_id, "result": "Dropped", "data": ""}
        return _ok(record_id, out)

    def _events(
        self,
        items: list[Any],
        record: Mapping[str, Any],
        out: list[bytes],
        observations: list[tuple[Any, ...]],
        counts: list[tuple[str, int, str, int]],
        arrival_ms: int,
        failures: list[tuple[bytes, str]] | None = None,
        typed: bool = True,
    ) -> None:
        """The hot loop: validate, count, sample each event; the lines of the kept ones go to ``out``.

        ``items`` are decoded events with their raw bytes, or — when ``failures`` is given — the lines of an
        NDJSON record, decoded here as :func:`~loglake.records.decode_record` would (a line that is not a
        plain object through :func:`~loglake.records.decode_line`; what cannot be decoded goes to
        ``failures``, quarantined after the events as decode_record orders them).

        Locals only; the canonical form is checked inline (anything else goes through
        :func:`~loglake.fastpath.essentials`, the schema's rules); one observation tuple per event, counted
        once per invocation by :meth:`RedMetrics.ingest`.

        A line (when ``typed``) is first read by :data:`~loglake.fastpath.decode_essentials`: only the seven
        fields sampling and the metrics read, in canonical form, without building the event; a line sampled
        out is then only counted, and only a kept line is decoded whole. This gives what the general path
        gives because the line is then one that orjson reads to the same seven values, or — orjson refusing
        a number beyond a double, which msgspec skips unread in a field outside the seven — one that
        :func:`~loglake.records.decode_line` reads to the same values: the line is ASCII (so no invalid
        UTF-8 is skipped unread) and nested at most ``_TYPED_MAX_DEPTH`` deep (below orjson's limits). Any
        other line, and any line that meets a problem on this road before it is counted, is processed by
        the general path from the start (``typed=False``), which decides and words any refusal.
        """
        lines = failures is not None
        loads = orjson.loads
        decode_essentials, max_depth = _decode_essentials, _TYPED_MAX_DEPTH
        default_service = self.settings.default_service
        observe = observations.append
        route_cached, route_of = self.routes.cached, self.routes
        rule_get, default_rule = self._rules.get, self._default_rule
        second_get, millis_get, valid_services = _second_ms.get, _MILLIS_Z.get, _valid_services
        kept_row = self._kept_row
        str_, int_, float_, inf = str, int, float, _INF
        min_status, max_status, min_latency = _MIN_STATUS, _MAX_STATUS, _MIN_LATENCY
        max_request_id, max_path, max_ip = _MAX_REQUEST_ID, _MAX_PATH, _MAX_IP
        for item in items:
            event: Any = None
            ess: LineEssentials | None = None
            if lines:
                if not item:
                    continue
                if item[0] == 123:  # '{'
                    if (
                        typed
                        and item.isascii()
                        and (
                            (item.find(b"[") < 0 and item.find(b"{", 1) < 0)  # flat: the common case
                            or item.count(b"{") + item.count(b"[") <= max_depth
                        )
                    ):
                        try:  # noqa: SIM105
                            ess = decode_essentials(item)
                        except (msgspec.DecodeError, RecursionError):
                            pass
                    if ess is None:
                        try:  # noqa: SIM105 (contextlib.suppress costs a context manager per line)
                            event = loads(item)
                        except orjson.JSONDecodeError:
                            pass
                if ess is None and type(event) is not dict:
                    decoded = decode_line(item)
                    failures.extend(decoded.failures)  # type: ignore[union-attr]
                    self._events(decoded.events, record, out, observations, counts, arrival_ms)
                    continue
                raw: bytes | None = item
            else:
                event, raw = item
            try:
                if ess is not None:  # typed: only the canonical timestamp and a known service remain to check
                    service = ess.service_name
                    text = ess.timestamp
                    second = second_get(text[:20])
                    milli = millis_get(text[20:])
                    if second is None or milli is None or service not in valid_services:
                        self._events([item], record, out, observations, counts, arrival_ms, failures, typed=False)
                        continue
                    ts = second + milli
                    status, latency, request_id = ess.status_code, ess.latency_ms, ess.request_id
                    path, ip = ess.path, ess.ip_address
                else:
                    get = event.get
                    status = get("status_code")
                    latency = get("latency_ms")
                    request_id = get("request_id")
                    path = get("path")
                    ip = get("ip_address")
                    service = get("service_name")
                    ts = get("timestamp")
                    if not (
                        type(ts) is str_
                        and (base := second_get(ts[:20])) is not None
                        and (millis := millis_get(ts[20:])) is not None
                        and (status is None or (type(status) is int_ and min_status <= status <= max_status))
                        and (latency is None or (type(latency) is float_ and min_latency <= latency < inf))
                        and (request_id is None or (type(request_id) is str_ and len(request_id) <= max_request_id))
                        and (path is None or (type(path) is str_ and len(path) <= max_path))
                        and (ip is None or (type(ip) is str_ and len(ip) <= max_ip))
                        and type(service) is str_
                        and service in valid_services
                    ):
                        service, ts, status, latency, request_id, path, ip = essentials(
                            event, arrival_ms, default_service
                        )
                    else:
                        ts = base + millis
                rule_rate, slow_ms, truncate, threshold = rule_get(service, default_rule)
                if ip is not None and truncate:
                    ip = truncate_ip(ip)
                # Sampler.decide_values, inline.
                if (
                    (status is not None and (status >= 400 or status < 100))
                    or (latency is not None and latency >= slow_ms)
                    or request_id is None
                    or rule_rate >= 1.0
                ):
                    rate: float | None = 1.0
                elif rule_rate <= 0.0:
                    rate = None
                else:
                    try:
                        key = request_id.encode()
                    except UnicodeEncodeError:  # lone surrogates (never from JSON): as Sampler encodes them
                        key = request_id.encode("utf-8", "surrogatepass")
                    rate = rule_rate if short_sha256(key).digest() < threshold else None
            except RecordError as exc:  # a field sampling and metrics need is invalid: not counted as a request
                out.append(self._quarantine_line(raw, event, str(exc), record["recordId"], _record_context(record)))
                counts.append((_service_of(event, default_service), arrival_ms, "Quarantined", 1))
                continue
            except Exception as exc:  # a bug on one event quarantines that event, not its neighbours
                if ess is not None:  # nothing counted yet: the general path decides
                    self._events([item], record, out, observations, counts, arrival_ms, failures, typed=False)
                    continue
                out.append(self._internal_error_line(raw, event, exc, record["recordId"], _record_context(record)))
                counts.append((_service_of(event, default_service), arrival_ms, "Quarantined", 1))
                continue
            if latency is None:
                route = None
            else:
                route = route_cached(path) if path else None
                if route is None:
                    route = route_of(path)
            if rate is None:
                observe((service, ts // 60_000, status, latency, route, ip, "SampledOut"))
                continue
            if ess is not None:  # kept: now the whole event
                try:  # noqa: SIM105
                    event = loads(item)
                except orjson.JSONDecodeError:
                    pass
                if type(event) is not dict:  # orjson refuses it: the general path reads it (nothing counted yet)
                    self._events([item], record, out, observations, counts, arrival_ms, failures, typed=False)
                    continue
            outcome = "Kept"
            try:  # kept: scrubbed, then validated whole for storage (the common shape in one pass)
                line = kept_row(event, ts, rate, truncate)
                out.append(line or self._kept_line(event, ts, arrival_ms, rate, truncate))
            except RecordError as exc:
                out.append(self._quarantine_line(raw, event, str(exc), record["recordId"], _record_context(record)))
                outcome = "Quarantined"
            except Exception as exc:
                out.append(self._internal_error_line(raw, event, exc, record["recordId"], _record_context(record)))
                outcome = "Quarantined"
            observe((service, ts // 60_000, status, latency, route, ip, outcome))

    def _kept_log_line(
        self,
        record: Mapping[str, Any],
        line: bytes,
        event: dict[str, Any],
        ts: int,
        rate: float,
        truncate: bool,
        now_ms: int,
    ) -> tuple[bytes, str]:
        """The output line of a kept access-log line and its outcome (as :meth:`_events` makes them)."""
        arrival_ms = record.get("approximateArrivalTimestamp")
        if type(arrival_ms) is not int:
            arrival_ms = _arrival_ms(record)
            if arrival_ms is None:
                arrival_ms = now_ms
        try:
            out = self._kept_row(event, ts, rate, truncate)
            if out is None:
                out = self._kept_line(event, ts, arrival_ms, rate, truncate)
        except RecordError as exc:
            return self._quarantine_line(line, event, str(exc), record["recordId"], _record_context(record)), (
                "Quarantined"
            )
        except Exception as exc:
            return self._internal_error_line(line, event, exc, record["recordId"], _record_context(record)), (
                "Quarantined"
            )
        return out, "Kept"

    def _kept_line(
        self, event: Mapping[str, Any], ts: int, arrival_ms: int | None, rate: float, truncate: bool
    ) -> bytes:
        """The NDJSON line of a kept event: scrubbed first (before fields are cut), then normalised."""
        scrubbed = self.scrubber.scrub_event(event, truncate_ip=truncate)
        if scrubbed.get("timestamp") is not None:
            scrubbed["timestamp"] = ts  # already parsed by the schema's rules in essentials()
        rec = normalize(scrubbed, arrival_ms=arrival_ms, default_service=self.settings.default_service)
        prior = rec.get("sample_rate")  # sampled upstream (by the client) too: the rates multiply
        rec["sample_rate"] = rate * prior if prior else rate
        rec["timestamp"] = format_ms(rec["timestamp"])
        return orjson.dumps(rec) + b"\n"

    def _internal_error_line(
        self, raw: bytes | None, event: Any, exc: Exception, record_id: str, context: dict[str, Any]
    ) -> bytes:
        self._log_failure("an event of record", record_id, exc)
        reason = f"internal error while transforming this event ({type(exc).__name__}); please report it"
        return self._quarantine_line(raw, event, reason, record_id, context)

    def _quarantine_line(
        self, raw: bytes | None, event: Any, reason: str, record_id: str, context: dict[str, Any]
    ) -> bytes:
        """A marker line for the converter: scrubbed raw content, scrubbed reason, where it came from.

        An event that failed validation may hold personal data in any field, so every value of it is
        scrubbed (not only the fields a kept row scrubs); bytes that never became an event are scrubbed as
        text. Should scrubbing itself fail, the marker keeps the reason and no content at all.
        """
        try:
            if isinstance(event, Mapping):
                scrubbed = self.scrubber.scrub_mapping(event)
                try:
                    text = orjson.dumps(scrubbed, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
                except TypeError:  # an integer beyond 64 bits (often the very reason): the standard library writes it
                    text = json.dumps(scrubbed, default=str, ensure_ascii=False, separators=(",", ":"))
                size = len(text)
            else:
                source = (raw or b"").decode("utf-8", "replace")
                size = len(source)
                # Scrub a margin past the cut, so that the cut never leaves part of an unscrubbed secret.
                text = self.scrubber.scrub_raw(source[: quarantine.MAX_RAW_CHARS + _SCRUB_MARGIN])
            if len(text) > quarantine.MAX_RAW_CHARS:
                text = text[: quarantine.MAX_RAW_CHARS - 64] + f"…[cut from {size} characters]"
            reason = self.scrubber.scrub_raw(reason)
        except Exception as exc:
            self._log_failure("the quarantine entry of record", record_id, exc)
            text, reason = "", f"{reason[:200]} (raw content withheld: scrubbing it failed)"
            reason = "".join(c if c.isalnum() or c in " :,.()'-_" else "?" for c in reason)
        item = quarantine.entry(STAGE, reason, text, record_id=record_id, **context)
        return orjson.dumps({quarantine.MARKER: item}) + b"\n"


def _unpacked(rule: ServiceRule) -> tuple[float, float, bool, bytes]:
    return rule.rate, rule.slow_ms, rule.truncate_ip, rule.threshold


def _record_context(record: Mapping[str, Any]) -> dict[str, Any]:
    kinesis = record.get("kinesisRecordMetadata")
    if not isinstance(kinesis, Mapping):
        return {}
    return {k: kinesis[k] for k in ("shardId", "sequenceNumber", "subsequenceNumber") if k in kinesis}


def _ok(record_id: Any, lines: list[bytes]) -> dict[str, Any]:
    return {"recordId": record_id, "result": "Ok", "data": b64encode_text(b"".join(lines))}


def _failed(record: Mapping[str, Any]) -> dict[str, Any]:
    data = record.get("data")
    return {
        "recordId": record.get("recordId"),
        "result": "ProcessingFailed",
        "data": data if isinstance(data, str) else "",
    }
