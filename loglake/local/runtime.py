"""The embedded runtime: the same Lambda handlers, wired the way the CDK stack wires them, in one process.

- the lake is a directory (``file://``), with the same key layout as the bucket;
- the delivery stream is :class:`~loglake.local.firehose.DeliveryStream`, invoking
  ``lambdas/transformer/handler.py``;
- every object written under ``raw/`` or ``tables/`` becomes an S3 ``ObjectCreated`` notification, wrapped
  in an SQS message and delivered in batches of up to 10 to ``lambdas/converter`` or ``lambdas/autoloader``;
  failed batch items are received again, and after ``max_receives`` they land in ``_dlq/<function>/``;
- the catalog is the lake's DuckDB file, metrics are EMF lines in ``_metrics/emf.ndjson``;
- :meth:`LocalPipeline.compact` invokes ``lambdas/compactor`` with the EventBridge scheduled event the stack's
  hourly rule sends.

Each handler module is loaded fresh for each pipeline (a cold start) and runs with its own environment
variables, set exactly as the stack sets them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Final
from urllib.parse import quote_plus

import orjson

from loglake.errors import ConfigError
from loglake.local.firehose import DeliveryStream, LocalFirehose
from loglake.settings import Settings
from loglake.storage import LocalStorage, observe
from loglake.transform import resolve_hash_key

LAMBDAS_DIR: Final = Path(__file__).resolve().parents[2] / "lambdas"
METRICS_FILE: Final = "_metrics/emf.ndjson"
DLQ_PREFIX: Final = "_dlq/"
#: Which function each prefix notifies, as the stack's S3 → SQS notifications do.
ROUTES: Final = (("raw/", "converter"), ("tables/", "autoloader"))


def load_handler(name: str, lambdas_dir: Path = LAMBDAS_DIR) -> ModuleType:
    """Load ``lambdas/<name>/handler.py`` as a fresh module (a cold start)."""
    path = lambdas_dir / name / "handler.py"
    if not path.is_file():
        raise ConfigError(f"no handler at {path}; run loglake from a checkout of the repository (pip install -e .)")
    spec = importlib.util.spec_from_file_location(f"loglake_lambda_{name}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of one invocation, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass
class _Message:
    message_id: str
    body: str
    receive_count: int = 0


def s3_notification(bucket: str, key: str, size: int, now: datetime) -> dict[str, Any]:
    """An S3 ``ObjectCreated:Put`` notification as S3 sends it (key URL-encoded, ``+`` for space)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "loglake",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "sequencer": f"{now.timestamp():.6f}",
                    },
                },
            }
        ]
    }


def scheduled_event(now: datetime, rule: str = "loglake-compactor-hourly") -> dict[str, Any]:
    """An EventBridge ``Scheduled Event`` as a schedule rule sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule}"],
        "detail": {},
    }


def sqs_event(messages: list[_Message], queue: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": f"{m.message_id}#{m.receive_count}",
                "body": m.body,
                "attributes": {"ApproximateReceiveCount": str(m.receive_count)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:000000000000:{queue}",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class LocalPipeline:
    """The whole pipeline on one machine. Use as a context manager; call :meth:`drain` to run it dry.

    Example
    -------
    >>> with LocalPipeline("./lake") as p:  # doctest: +SKIP
    ...     p.firehose.put_record_batch(DeliveryStreamName=p.stream_name, Records=[{"Data": b'{"a":1}'}])
    ...     p.drain()
    """

    def __init__(
        self,
        lake_dir: str | os.PathLike[str],
        *,
        stream_name: str = "loglake-access-logs",
        default_service: str = "web",
        hash_key: str | None = None,
        sampling: Mapping[str, Any] | None = None,
        buffer_bytes: int = 1024 * 1024,
        buffer_seconds: float = 60.0,
        batch_size: int = 10,
        max_receives: int = 3,
        failure_rate: float = 0.0,
        settings_env: Mapping[str, str] | None = None,
    ) -> None:
        self.storage = LocalStorage(lake_dir)
        self.storage.root.mkdir(parents=True, exist_ok=True)
        self.stream_name = stream_name
        self.bucket = self.storage.root.name or "lake"
        self.batch_size = batch_size
        self.max_receives = max_receives
        # The embedded default creates one key per lake, once, and reuses it (same person → same hash).
        key = hash_key or os.environ.get("LOGLAKE_HASH_KEY") or resolve_hash_key(Settings(self.storage.uri)).decode()
        self.env = {
            "LOGLAKE_LAKE_URI": self.storage.uri,
            "LOGLAKE_DEFAULT_SERVICE": default_service,
            "LOGLAKE_HASH_KEY": key,
            "LOGLAKE_METRICS_PATH": str(self.storage.root / METRICS_FILE),
            "LOGLAKE_SAMPLING": orjson.dumps(dict(sampling or {})).decode(),
            **(settings_env or {}),  # further LOGLAKE_* settings, e.g. the event-time window
        }
        self.handlers = {name: load_handler(name) for name in ("transformer", "converter", "autoloader", "compactor")}
        stream = DeliveryStream(
            stream_name,
            storage=self.storage,
            processor=lambda event, _ctx: self.invoke("transformer", event),
            buffer_bytes=buffer_bytes,
            buffer_seconds=buffer_seconds,
        )
        self.firehose = LocalFirehose({stream_name: stream}, failure_rate=failure_rate)
        self.queues: dict[str, deque[_Message]] = {name: deque() for _, name in ROUTES}
        self.dead_letters: dict[str, int] = {name: 0 for _, name in ROUTES}
        self._observing: contextlib.ExitStack | None = None

    @property
    def stream(self) -> DeliveryStream:
        return self.firehose.streams[self.stream_name]

    def __enter__(self) -> LocalPipeline:
        self._observing = contextlib.ExitStack()
        self._observing.enter_context(observe(self._on_put))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._observing is not None:
            self._observing.close()
            self._observing = None

    def _on_put(self, storage: LocalStorage, key: str, size: int) -> None:
        if storage.root != self.storage.root:
            return
        for prefix, function in ROUTES:
            # As in the stack, every new object under tables/ reaches the autoloader; it ignores hidden folders
            # such as the compactor's _compacted/ generations (the compactor switches locations itself).
            if key.startswith(prefix):
                body = orjson.dumps(s3_notification(self.bucket, key, size, datetime.now(UTC))).decode()
                self.queues[function].append(_Message(str(uuid.uuid4()), body))

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Call a handler as Lambda would, with its environment."""
        with environment(self.env):
            return self.handlers[function].handler(event, LambdaContext(function))

    def drain(self) -> None:
        """Deliver buffered records, then run every queue until it is empty."""
        self.firehose.flush()
        while any(self.queues.values()):
            for function, queue in self.queues.items():
                while queue:
                    batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                    for m in batch:
                        m.receive_count += 1
                    response = self.invoke(function, sqs_event(batch, f"loglake-{function}"))
                    failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
                    for m in batch:
                        if m.message_id not in failed:
                            continue
                        if m.receive_count >= self.max_receives:
                            self._dead_letter(function, m)
                        else:
                            queue.append(m)

    def compact(self, now: datetime | None = None, *, lookback_hours: float | None = None) -> dict[str, Any]:
        """Run the compactor as its hourly schedule does (``now`` is the schedule's time), then drain."""
        self.drain()
        when = now or datetime.now(UTC)
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        event: dict[str, Any] = scheduled_event(when)
        if lookback_hours is not None:  # a manual invocation's payload, as documented for the handler
            event = {"now": event["time"], "lookback_hours": lookback_hours}
        response: dict[str, Any] = self.invoke("compactor", event)
        self.drain()
        return response

    def _dead_letter(self, function: str, message: _Message) -> None:
        self.dead_letters[function] += 1
        path = self.storage.root / DLQ_PREFIX / function / f"{message.message_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps({"body": message.body, "receiveCount": message.receive_count}))
