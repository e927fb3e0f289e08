"""The autoloader handler against an Athena that fails, throttles and times out (a scripted fake client).

The SQS contract: only the items that brought partitions the catalog did not take are reported failed, so
SQS redelivers them; the remembered set changes only after success, so the redelivery registers them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.autoloader_fakes import FakeAthena, FakeClock, throttled

BUCKET = "lake-bucket"


def access_key(service: str, n: int = 1) -> str:
    return f"tables/access_logs/service_name={service}/year=2026/month=11/day=22/hour=10/part-{n}.parquet"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("loglake.catalog.time.sleep", fake.sleep)
    monkeypatch.setattr("loglake.catalog.time.monotonic", fake.monotonic)
    return fake


@pytest.fixture
def athena(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., FakeAthena]:
    monkeypatch.setenv("LOGLAKE_LAKE_URI", f"s3://{BUCKET}")
    monkeypatch.setenv("LOGLAKE_CATALOG", "athena")
    monkeypatch.setenv("LOGLAKE_ATHENA_WORKGROUP", "loglake")
    monkeypatch.setenv("LOGLAKE_METRICS_PATH", str(tmp_path / "emf.ndjson"))

    def install(**script: Any) -> FakeAthena:
        fake = FakeAthena(**script)
        real_client = boto3.client

        def client(service: str, *args: Any, **kwargs: Any) -> Any:
            return fake if service == "athena" else real_client(service, *args, **kwargs)

        monkeypatch.setattr(boto3, "client", client)
        return fake

    return install


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def metrics(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "emf.ndjson").read_text().splitlines()]


def test_failed_statement_fails_the_new_items_and_redelivery_succeeds(
    athena: Callable[..., FakeAthena],
    clock: FakeClock,
    handler: Callable[[str], ModuleType],
    sqs_s3_event: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    fake = athena(states=[{"State": "FAILED", "StateChangeReason": "HIVE_METASTORE_ERROR"}, "SUCCEEDED"])
    autoloader = handler("autoloader")
    event = sqs_s3_event([access_key("a"), access_key("a", 2), access_key("b"), access_key("bad'")], bucket=BUCKET)
    assert failures(autoloader.handler(event, None)) == ["msg-0", "msg-1", "msg-2"]
    redelivered = {"Records": event["Records"][:3]}
    assert failures(autoloader.handler(redelivered, None)) == []
    assert len(fake.queries) == 2 and fake.queries[0]["QueryString"] == fake.queries[1]["QueryString"]
    assert failures(autoloader.handler(redelivered, None)) == []
    assert len(fake.queries) == 2  # now known: no call
    assert [d["FailedItems"] for d in metrics(tmp_path)] == [3, 0, 0]
    assert [d["PartitionsAdded"] for d in metrics(tmp_path)] == [0, 2, 0]


def test_throttling_is_retried_within_the_invocation(
    athena: Callable[..., FakeAthena],
    clock: FakeClock,
    handler: Callable[[str], ModuleType],
    sqs_s3_event: Callable[..., dict[str, Any]],
) -> None:
    glue_throttled = {"State": "FAILED", "StateChangeReason": "Rate exceeded (Service: AWSGlue)"}
    fake = athena(starts=[throttled(), throttled()], states=[throttled(), glue_throttled, "RUNNING", "SUCCEEDED"])
    autoloader = handler("autoloader")
    assert failures(autoloader.handler(sqs_s3_event([access_key("a")], bucket=BUCKET), None)) == []
    assert len(fake.queries) == 2  # the throttled statement was run again
    assert clock.sleeps and clock.now < 10


def test_a_statement_that_times_out_fails_its_items(
    athena: Callable[..., FakeAthena],
    clock: FakeClock,
    handler: Callable[[str], ModuleType],
    sqs_s3_event: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    athena(states=["RUNNING"] * 10_000)
    autoloader = handler("autoloader")
    event = sqs_s3_event([access_key("a"), access_key("b")], bucket=BUCKET)
    assert failures(autoloader.handler(event, None)) == ["msg-0", "msg-1"]
    assert 120 <= clock.now < 125  # the default 120 s wait, on the fake clock
    assert metrics(tmp_path)[0]["CatalogFailures"] == 1


def test_throttling_that_outlasts_the_retries_fails_only_new_items(
    athena: Callable[..., FakeAthena],
    clock: FakeClock,
    handler: Callable[[str], ModuleType],
    sqs_s3_event: Callable[..., dict[str, Any]],
) -> None:
    fake = athena(starts=[None] + [throttled()] * 20)
    autoloader = handler("autoloader")
    assert failures(autoloader.handler(sqs_s3_event([access_key("known")], bucket=BUCKET), None)) == []
    event = sqs_s3_event([access_key("known", 2), access_key("new")], bucket=BUCKET)
    assert failures(autoloader.handler(event, None)) == ["msg-1"]
    assert len(fake.queries) == 1
