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

Example
-------
>>> t = Transformer(Settings.from_env({"LOGLAKE_LAKE_URI": "file:///tmp/lake"}), hash_key=b"k")  # doctest: +SKIP
>>> t.transform(firehose_event)["records"][0]["result"]  # doctest: +SKIP
'Ok'
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from loglake import quarantine
from loglake.errors import ConfigError, RecordError
from loglake.fastpath import essentials, format_ms
from loglake.ipnet import truncate_ip
from loglake.metrics import MetricsSink, RedMetrics
from loglake.records import decode_record
from loglake.routes import RouteNormalizer
from loglake.sampling import Sampler
from loglake.schema import normalize
from loglake.scrub import Scrubber
from loglake.settings import Settings
from loglake.storage import LocalStorage, open_storage

logger = logging.getLogger(__name__)

HASH_KEY_OBJECT: Final = "_meta/hash.key"
STAGE: Final = "transformer"
#: Firehose refuses a transformation response above 6 MB; keep room for the JSON around the records.
MAX_RESPONSE_BYTES: Final = 6 * 1024 * 1024 - 64 * 1024
#: A key read from a secret must be at least this long (bytes).
MIN_SECRET_KEY_BYTES: Final = 16
#: Raw content scrubbed before it is cut for quarantine: the cut never splits an unscrubbed secret.
_SCRUB_MARGIN: Final = 8 * 1024


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


def _arrival_ms(record: Mapping[str, Any]) -> int | None:
    arrival = record.get("approximateArrivalTimestamp")
    if not isinstance(arrival, int | float) or isinstance(arrival, bool):
        kinesis = record.get("kinesisRecordMetadata")
        arrival = kinesis.get("approximateArrivalTimestamp") if isinstance(kinesis, dict) else None
    if isinstance(arrival, int | float) and not isinstance(arrival, bool) and arrival == arrival:
        return int(arrival)
    return None


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
        self.clock = clock

    # ------------------------------------------------------------------ the invocation

    def transform(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one data-transformation event (``{"records": [...]}``)."""
        now_ms = int(self.clock() * 1000)
        metrics = RedMetrics(self.settings.metrics_namespace, now_ms=now_ms)
        records = event.get("records") if isinstance(event, Mapping) else None
        answers: list[dict[str, Any]] = []
        observations: list[tuple[Any, ...]] = []
        counts: list[tuple[str, int, str, int]] = []  # (service, time, outcome, n) outside the observations
        for record in records if isinstance(records, list) else []:
            if not isinstance(record, Mapping) or "recordId" not in record:
                logger.error("skipping a record without recordId: Firehose always sends one")
                continue
            marks = len(observations), len(counts)
            try:
                answers.append(self._transform_record(record, observations, counts, now_ms))
            except Exception as exc:  # a bug must fail one record, never the batch
                self._log_failure("record", record.get("recordId"), exc)
                del observations[marks[0] :], counts[marks[1] :]  # the record counts as ProcessingFailed only
                answers.append(_failed(record))
                counts.append((self.settings.default_service, now_ms, "ProcessingFailed", 1))
        metrics.ingest(observations)
        for service, timestamp_ms, outcome, n in counts:
            metrics.outcome(service, timestamp_ms, outcome, n)
        self._fit_response(answers, metrics, now_ms)
        self.sink.emit(metrics)
        return {"records": answers}

    def _fit_response(self, answers: list[dict[str, Any]], metrics: RedMetrics, now_ms: int) -> None:
        """Keep the response under Firehose's 6 MB: fail the largest records (Firehose keeps them whole)."""
        size = sum(len(a.get("data", "")) + 100 for a in answers)
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
        observations: list[tuple[Any, ...]],
        counts: list[tuple[str, int, str, int]],
        now_ms: int,
    ) -> dict[str, Any]:
        record_id = record["recordId"]
        default_service = self.settings.default_service
        # Firehose always sends the arrival time; without one, the invocation's time fills missing timestamps.
        arrival_ms = _arrival_ms(record)
        if arrival_ms is None:
            arrival_ms = now_ms
        fallback_ms = arrival_ms
        context = _record_context(record)
        encoded = record.get("data")
        try:
            if not isinstance(encoded, str | bytes):
                raise TypeError
            data = binascii.a2b_base64(encoded, strict_mode=True)
        except (binascii.Error, TypeError, ValueError):
            text = str(encoded)[:4096].encode()
            marker = self._quarantine_line(text, None, "the record's data is not valid base64", record_id, context)
            counts.append((default_service, fallback_ms, "Quarantined", 1))
            return _ok(record_id, [marker])

        decoded = decode_record(data)
        out: list[bytes] = []
        # The hot loop: locals only; one observation tuple per event, counted once per invocation.
        observe = observations.append
        route_of, decide = self.routes, self.sampler.decide_values
        rule_get, default_rule = self.sampler.services.get, self.sampler.default
        for event, raw in decoded.events:
            try:
                service, ts, status, latency, request_id, path, ip = essentials(event, arrival_ms, default_service)
                rule = rule_get(service, default_rule)
                if ip is not None and rule.truncate_ip:
                    ip = truncate_ip(ip)
                rate = decide(service, status, latency, request_id)
            except RecordError as exc:  # a field sampling and metrics need is invalid: not counted as a request
                out.append(self._quarantine_line(raw, event, str(exc), record_id, context))
                counts.append((_service_of(event, default_service), fallback_ms, "Quarantined", 1))
                continue
            except Exception as exc:  # a bug on one event quarantines that event, not its neighbours
                out.append(self._internal_error_line(raw, event, exc, record_id, context))
                counts.append((_service_of(event, default_service), fallback_ms, "Quarantined", 1))
                continue
            route = None if latency is None else route_of(path)
            if rate is None:
                observe((service, ts // 60_000, status, latency, route, ip, "SampledOut"))
                continue
            outcome = "Kept"
            try:  # kept: scrubbed, then validated whole for storage
                out.append(self._kept_line(event, ts, arrival_ms, rate, rule.truncate_ip))
            except RecordError as exc:
                out.append(self._quarantine_line(raw, event, str(exc), record_id, context))
                outcome = "Quarantined"
            except Exception as exc:
                out.append(self._internal_error_line(raw, event, exc, record_id, context))
                outcome = "Quarantined"
            observe((service, ts // 60_000, status, latency, route, ip, outcome))
        for raw, reason in decoded.failures:
            out.append(self._quarantine_line(raw, None, reason, record_id, context))
            counts.append((default_service, fallback_ms, "Quarantined", 1))
        if decoded.control_messages:
            counts.append((default_service, fallback_ms, "ControlMessages", decoded.control_messages))
        if not out:
            return {"recordId": record_id, "result": "Dropped", "data": ""}
        return _ok(record_id, out)

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
                text = orjson.dumps(scrubbed, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
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


def _record_context(record: Mapping[str, Any]) -> dict[str, Any]:
    kinesis = record.get("kinesisRecordMetadata")
    if not isinstance(kinesis, Mapping):
        return {}
    return {k: kinesis[k] for k in ("shardId", "sequenceNumber", "subsequenceNumber") if k in kinesis}


def _ok(record_id: Any, lines: list[bytes]) -> dict[str, Any]:
    return {"recordId": record_id, "result": "Ok", "data": base64.b64encode(b"".join(lines)).decode()}


def _failed(record: Mapping[str, Any]) -> dict[str, Any]:
    data = record.get("data")
    return {
        "recordId": record.get("recordId"),
        "result": "ProcessingFailed",
        "data": data if isinstance(data, str) else "",
    }
