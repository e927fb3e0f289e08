"""Fixtures for the whole suite: no test can reach a real AWS account."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import pytest

from loglake.local.runtime import load_handler

ROOT = Path(__file__).resolve().parents[1]
#: Real sample inputs, shared with CI beside the project (see its README); never copied into the repo.
#: ``LOGLAKE_SHARED_DATA`` points elsewhere when the checkout does not sit beside ``shared/``.
SHARED_DATA = Path(os.environ.get("LOGLAKE_SHARED_DATA") or ROOT.parent / "shared" / "data")
OWN_EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A JSON event by file name: the shared real payloads first, then this suite's own."""
    for folder in (SHARED_DATA / "events", OWN_EVENTS):
        path = folder / name
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(f"no event {name!r} in {SHARED_DATA / 'events'} or {OWN_EVENTS}")


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for every test; LOGLAKE_* settings start unset."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name in list(os.environ):
        if name.startswith("LOGLAKE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty local lake, named in ``LOGLAKE_LAKE_URI`` as a handler called directly expects."""
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("LOGLAKE_LAKE_URI", root.as_uri())
    monkeypatch.setenv("LOGLAKE_METRICS_PATH", str(root / "_metrics" / "emf.ndjson"))
    return root


@pytest.fixture
def handler() -> Callable[[str], ModuleType]:
    """Load ``lambdas/<name>/handler.py`` fresh (a cold start), e.g. ``handler("converter")``."""
    return load_handler


@pytest.fixture
def firehose_event() -> Callable[..., dict[str, Any]]:
    """A data-transformation event carrying the given payloads (bytes or dicts → JSON)."""

    def make(payloads: list[bytes | dict[str, Any]], *, arrival_ms: int = 1_795_341_600_000) -> dict[str, Any]:
        records = []
        for i, p in enumerate(payloads):
            data = p if isinstance(p, bytes) else json.dumps(p).encode()
            records.append(
                {
                    "recordId": f"rec-{i}",
                    "approximateArrivalTimestamp": arrival_ms + i,
                    "data": base64.b64encode(data).decode(),
                }
            )
        return {
            "invocationId": "test-invocation",
            "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/test",
            "region": "us-east-1",
            "records": records,
        }

    return make


@pytest.fixture
def sqs_s3_event() -> Callable[..., dict[str, Any]]:
    """An SQS event whose messages each carry one S3 ObjectCreated notification, built on the real sample."""

    def make(keys: list[str], *, bucket: str = "lake-bucket") -> dict[str, Any]:
        template = load_event("s3SqsEvent.json")["Records"][0]
        records = []
        for i, key in enumerate(keys):
            body = json.loads(template["body"])
            body["Records"][0]["s3"]["bucket"]["name"] = bucket
            body["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="/")
            records.append(template | {"messageId": f"msg-{i}", "body": json.dumps(body)})
        return {"Records": records}

    return make


def decoded_records(response: dict[str, Any]) -> Iterator[tuple[str, str, bytes]]:
    """(recordId, result, decoded data) for each answer of a transformer response."""
    for r in response["records"]:
        yield r["recordId"], r["result"], base64.b64decode(r.get("data") or b"")
