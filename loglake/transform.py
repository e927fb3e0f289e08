"""The Firehose transformer: decode → validate → RED metrics → sample → scrub → NDJSON.

Contract (Firehose data transformation): every input ``recordId`` is answered exactly once with ``Ok``
(data = the kept records as NDJSON, plus quarantine marker lines), ``Dropped`` (every event sampled out or
a control message) or ``ProcessingFailed`` (the function itself failed on that record; Firehose writes the
raw data under the error output prefix). One bad event never takes its neighbours with it.

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
from collections.abc import Mapping
from typing import Any

import orjson

from loglake import quarantine
from loglake.errors import ConfigError, RecordError
from loglake.metrics import MetricsSink, RedMetrics
from loglake.records import decode_record
from loglake.sampling import Sampler
from loglake.schema import normalize, to_json_dict
from loglake.scrub import Scrubber
from loglake.settings import Settings
from loglake.storage import LocalStorage, open_storage

logger = logging.getLogger(__name__)

HASH_KEY_OBJECT = "_meta/hash.key"


def resolve_hash_key(settings: Settings, *, secrets_client: Any = None) -> bytes:
    """The HMAC key: ``LOGLAKE_HASH_KEY``, else the Secrets Manager secret, else (local lakes only) the
    lake's own key, created once. In AWS a missing key is a start-up error, never an unkeyed hash."""
    if settings.hash_key:
        return settings.hash_key.encode()
    if settings.hash_key_secret:
        if secrets_client is None:
            import boto3

            secrets_client = boto3.client("secretsmanager")
        value = secrets_client.get_secret_value(SecretId=settings.hash_key_secret)["SecretString"]
        if not value:
            raise ConfigError(f"secret {settings.hash_key_secret!r} is empty; store a random key in it")
        return str(value).encode()
    storage = open_storage(settings.lake_uri)
    if isinstance(storage, LocalStorage):
        path = storage.root / HASH_KEY_OBJECT
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
    raise ConfigError(
        "no hash key: set LOGLAKE_HASH_KEY_SECRET to a Secrets Manager secret (or LOGLAKE_HASH_KEY) — "
        "loglake never writes unkeyed hashes of personal data"
    )


class Transformer:
    """Turns one Firehose transformation event into its response."""

    def __init__(self, settings: Settings, *, hash_key: bytes, sink: MetricsSink | None = None) -> None:
        self.settings = settings
        self.scrubber = Scrubber.from_settings(hash_key, settings.scrub)
        self.sampler = Sampler.from_settings(settings.sampling)
        self.sink = sink or MetricsSink(settings.metrics_path)

    def transform(self, event: Mapping[str, Any]) -> dict[str, Any]:
        metrics = RedMetrics(self.settings.metrics_namespace)
        answers = []
        for record in event.get("records", []):
            record_id = record.get("recordId")
            try:
                answers.append(self._transform_record(record, metrics))
            except Exception as exc:  # a bug must fail one record, never the batch
                logger.exception("transformer failed on record %s", record_id)
                answers.append({"recordId": record_id, "result": "ProcessingFailed", "data": record.get("data", "")})
                metrics.outcome(self.settings.default_service, _now_ms(), "Quarantined")
                del exc
        self.sink.emit(metrics)
        return {"records": answers}

    def _quarantine_line(self, raw: bytes, reason: str, record_id: str) -> bytes:
        text = self.scrubber.scrub_raw(raw.decode("utf-8", "replace"))
        item = quarantine.entry("transformer", reason, text, record_id=record_id)
        return orjson.dumps({quarantine.MARKER: item}) + b"\n"

    def _transform_record(self, record: Mapping[str, Any], metrics: RedMetrics) -> dict[str, Any]:
        record_id = record["recordId"]
        arrival = record.get("approximateArrivalTimestamp")
        try:
            data = base64.b64decode(record["data"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            return {"recordId": record_id, "result": "ProcessingFailed", "data": record.get("data", "")}
        decoded = decode_record(data)
        out: list[bytes] = []
        default_service = self.settings.default_service
        arrival_ms = int(arrival) if isinstance(arrival, int | float) else None
        fallback_ms = arrival_ms or _now_ms()
        for event, raw in decoded.events:
            try:
                rec = normalize(event, arrival_ms=arrival_ms, default_service=default_service)
            except RecordError as exc:
                out.append(self._quarantine_line(raw, str(exc), record_id))
                metrics.outcome(_service_of(event, default_service), fallback_ms, "Quarantined")
                continue
            self.scrubber.scrub_record(rec)
            metrics.observe(rec)
            rate = self.sampler.decide(rec)
            if rate is None:
                metrics.outcome(rec["service_name"], rec["timestamp"], "SampledOut")
                continue
            rec["sample_rate"] = rate
            metrics.outcome(rec["service_name"], rec["timestamp"], "Kept")
            out.append(orjson.dumps(to_json_dict(rec)) + b"\n")
        for raw, reason in decoded.failures:
            out.append(self._quarantine_line(raw, reason, record_id))
            metrics.outcome(default_service, fallback_ms, "Quarantined")
        if not out:
            return {"recordId": record_id, "result": "Dropped", "data": ""}
        return {"recordId": record_id, "result": "Ok", "data": base64.b64encode(b"".join(out)).decode()}


_SAFE_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _service_of(event: Mapping[str, Any], default: str) -> str:
    """The event's service for counting, if it is a valid name (metric dimensions must stay bounded)."""
    name = event.get("service_name")
    return name if isinstance(name, str) and _SAFE_SERVICE.fullmatch(name) else default


def _now_ms() -> int:
    return int(time.time() * 1000)
