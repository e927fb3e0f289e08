"""The happy path against moto's Firehose (real boto3 client, real request/response shapes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from loglake_client import KinesisLogger
from loglake_client.testing import decode_ndjson
from moto import mock_aws

STREAM = "loglake-access-logs"
BUCKET = "lake"


@pytest.fixture
def firehose_stream() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("firehose", region_name="us-east-1").create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "raw/",
            },
        )
        yield s3


def delivered_events(s3: Any) -> list[dict[str, Any]]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return decode_ndjson([s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys])


@pytest.mark.parametrize("own_client", [True, False], ids=["injected-client", "lazily-created-client"])
def test_events_reach_the_delivery_stream_through_boto3(
    firehose_stream: Any, make_logger: Callable[..., KinesisLogger], own_client: bool
) -> None:
    client = boto3.client("firehose", region_name="us-east-1") if own_client else None
    log = make_logger(client, stream_name=STREAM, service_name="shop", region_name="us-east-1")
    for i in range(1200):
        log.info({"request_id": f"r-{i}", "path": f"/p/{i % 7}", "status_code": 200, "latency_ms": 1.5})
    assert log.flush()
    log.close()
    events = delivered_events(firehose_stream)
    assert sorted(int(e["request_id"][2:]) for e in events) == list(range(1200))
    s = log.stats
    assert (s.sent, s.failed, s.retried) == (1200, 0, 0)
    assert s.api_calls == 2  # two batches of up to 1,000 events, one call each
    assert s.records == 2  # each batch fits in one aggregated record


def test_a_missing_stream_is_reported_not_raised(
    firehose_stream: Any, make_logger: Callable[..., KinesisLogger]
) -> None:
    log = make_logger(boto3.client("firehose", region_name="us-east-1"), stream_name="no-such-stream")
    log.info(i=1)
    with pytest.warns(Warning, match="ResourceNotFoundException"):
        assert log.flush() is False
    assert (log.stats.failed, log.stats.api_calls) == (1, 1)
