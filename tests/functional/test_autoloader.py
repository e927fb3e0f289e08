"""The autoloader Lambda handler against moto's Athena and Glue: exact SQL, number of calls, event shapes.

moto's Athena records the statements it is given but never changes Glue; Glue is exercised through
``AthenaCatalog.partitions`` on partitions created directly in moto's Glue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.athena.models import athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from loglake.catalog import AthenaCatalog
from loglake.errors import CatalogError
from loglake.partitions import Partition
from tests.conftest import load_event

BUCKET = "lake-bucket"
ACCESS = "tables/access_logs/service_name={s}/year=2026/month=11/day=22/hour={h}/part-{n}.parquet"


def access_key(service: str = "shop", hour: str = "10", n: int = 1) -> str:
    return ACCESS.format(s=service, h=hour, n=n)


def clause(service: str, hour: str) -> str:
    return (
        f"\n  PARTITION (`service_name` = '{service}', `year` = '2026', `month` = '11', `day` = '22', "
        f"`hour` = '{hour}') LOCATION 's3://{BUCKET}/tables/access_logs/service_name={service}/year=2026/"
        f"month=11/day=22/hour={hour}/'"
    )


HEAD = "ALTER TABLE `loglake`.`access_logs` ADD IF NOT EXISTS"


class AwsCalls:
    """Every botocore API call made through the default boto3 session: (service, operation)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name))

    def count(self, operation: str | None = None) -> int:
        return sum(1 for _, op in self.calls if operation is None or op == operation)


@pytest.fixture
def aws(lake_env: Path) -> Iterator[AwsCalls]:
    with mock_aws():
        boto3.setup_default_session()
        boto3.client("athena").create_work_group(
            Name="loglake", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}}
        )
        calls = AwsCalls()
        boto3.DEFAULT_SESSION.events.register("before-call", calls)  # type: ignore[union-attr]
        yield calls
        boto3.DEFAULT_SESSION = None


@pytest.fixture
def lake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOGLAKE_LAKE_URI", f"s3://{BUCKET}")
    monkeypatch.setenv("LOGLAKE_CATALOG", "athena")
    monkeypatch.setenv("LOGLAKE_DATABASE", "loglake")
    monkeypatch.setenv("LOGLAKE_ATHENA_WORKGROUP", "loglake")
    metrics = tmp_path / "emf.ndjson"
    monkeypatch.setenv("LOGLAKE_METRICS_PATH", str(metrics))
    return metrics


def statements() -> list[str]:
    backend = athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [e.query for e in backend.executions.values()]


def metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def autoloader(handler: Callable[[str], ModuleType]) -> ModuleType:
    return handler("autoloader")


def test_a_batch_of_new_partitions_is_one_statement_and_known_ones_make_no_call(
    aws: AwsCalls, autoloader: ModuleType, sqs_s3_event: Callable[..., dict[str, Any]], lake_env: Path
) -> None:
    keys = [access_key("web", "11"), access_key("shop", "10"), access_key("web", "11", 2), access_key("shop", "10", 3)]
    response = autoloader.handler(sqs_s3_event(keys, bucket=BUCKET), None)
    assert response == {"batchItemFailures": []}
    assert statements() == [HEAD + clause("shop", "10") + clause("web", "11")]
    assert aws.count("StartQueryExecution") == 1 and aws.count("GetQueryExecution") == 1
    calls_after_first = aws.count()

    # the same partitions again, duplicates and out of order: no AWS call at all
    response = autoloader.handler(sqs_s3_event(list(reversed(keys)), bucket=BUCKET), None)
    assert response == {"batchItemFailures": []}
    assert aws.count() == calls_after_first
    # one new partition among known ones: one statement for it alone
    autoloader.handler(sqs_s3_event([access_key("web", "11", 9), access_key("api", "09")], bucket=BUCKET), None)
    assert statements()[-1] == HEAD + clause("api", "09")
    assert aws.count("StartQueryExecution") == 2

    docs = metrics(lake_env)
    assert [d["PartitionsAdded"] for d in docs] == [2, 0, 1]
    assert [d["CatalogStatements"] for d in docs] == [1, 0, 1]
    assert all(d["stage"] == "autoloader" for d in docs)
    assert docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["stage"]]


def test_hostile_keys_reach_no_sql_are_counted_and_their_items_succeed(
    aws: AwsCalls, autoloader: ModuleType, sqs_s3_event: Callable[..., dict[str, Any]], lake_env: Path
) -> None:
    hostile = [
        access_key("shop'; DROP TABLE access_logs; --"),
        access_key("shop/*"),
        access_key("shop\\'"),
        access_key("caf\u00e9"),
        access_key("a=b"),
        access_key("x" * 300),
        access_key("shop").replace("hour=10/", ""),  # missing segment
        access_key("shop").replace("hour=10/", "hour=10/minute=01/"),  # extra segment
        access_key("shop").replace("service_name=", "service_name_x="),
        "tables/access_logs_v2/service_name=a/year=2026/month=11/day=22/hour=10/p.parquet",
    ]
    ignored = [access_key(n=0).replace("part-0.parquet", "_SUCCESS"), "tables/access_logs/_$folder$"]
    response = autoloader.handler(sqs_s3_event(hostile + ignored, bucket=BUCKET), None)
    assert response == {"batchItemFailures": []}
    assert statements() == [] and aws.count() == 0
    [doc] = metrics(lake_env)
    assert (doc["InvalidKeys"], doc["IgnoredKeys"], doc["FailedItems"]) == (len(hostile), 2, 0)


def test_url_encoded_keys_are_decoded_before_mapping(aws: AwsCalls, autoloader: ModuleType, lake_env: Path) -> None:
    body = load_event("s3Event.json")
    body["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    body["Records"][0]["s3"]["object"]["key"] = access_key("shop").replace("=", "%3D").replace("part-1", "part+1")
    event = {"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": json.dumps(body)}]}
    assert autoloader.handler(event, None) == {"batchItemFailures": []}
    assert statements() == [HEAD + clause("shop", "10")]


def test_test_event_direct_s3_and_eventbridge_shapes(aws: AwsCalls, autoloader: ModuleType, lake_env: Path) -> None:
    test_event = {
        "Records": [
            {
                "messageId": "t",
                "eventSource": "aws:sqs",
                "body": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
            }
        ]
    }
    assert autoloader.handler(test_event, None) == {"batchItemFailures": []}
    assert aws.count() == 0

    direct = load_event("s3Event.json")
    direct["Records"][0]["s3"]["object"]["key"] = access_key("direct")
    autoloader.handler(direct, None)
    eventbridge = load_event("s3EventBridgeNotificationObjectCreatedEvent.json")
    eventbridge["detail"]["object"]["key"] = access_key("bridge")
    autoloader.handler(eventbridge, None)
    assert statements() == [HEAD + clause("direct", "10"), HEAD + clause("bridge", "10")]


def test_unreadable_messages_fail_alone(
    aws: AwsCalls, autoloader: ModuleType, sqs_s3_event: Callable[..., dict[str, Any]], lake_env: Path
) -> None:
    event = sqs_s3_event([access_key("shop")], bucket=BUCKET)
    event["Records"].append({"messageId": "garbled", "eventSource": "aws:sqs", "body": "{not json"})
    assert autoloader.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "garbled"}]}
    assert statements() == [HEAD + clause("shop", "10")]
    assert metrics(lake_env)[0]["UnreadableMessages"] == 1


def test_a_missing_workgroup_fails_the_new_items_and_the_next_delivery_retries(
    aws: AwsCalls,
    autoloader: ModuleType,
    sqs_s3_event: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    lake_env: Path,
) -> None:
    monkeypatch.setenv("LOGLAKE_ATHENA_WORKGROUP", "missing")
    event = sqs_s3_event([access_key("a"), access_key("b", n=2), access_key("bad'")], bucket=BUCKET)
    assert autoloader.handler(event, None) == {
        "batchItemFailures": [{"itemIdentifier": "msg-0"}, {"itemIdentifier": "msg-1"}]
    }
    assert statements() == []
    doc = metrics(lake_env)[0]
    assert (doc["CatalogFailures"], doc["FailedItems"], doc["InvalidKeys"]) == (1, 2, 1)


def test_projection_tables_are_ignored_by_the_autoloader(
    aws: AwsCalls,
    handler: Callable[[str], ModuleType],
    sqs_s3_event: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    lake_env: Path,
) -> None:
    monkeypatch.setenv(
        "LOGLAKE_TABLES",
        json.dumps(
            {
                "audit_log": {
                    "layout": "{account_id}/{date}/",
                    "columns": {"date": {"type": "date", "format": "yyyy-MM-dd"}},
                },
                "access_logs": {"projection": True},
            }
        ),
    )
    autoloader = handler("autoloader")
    keys = [access_key("shop"), "tables/audit_log/123456789012/2026-11-22/e.parquet"]
    assert autoloader.handler(sqs_s3_event(keys, bucket=BUCKET), None) == {"batchItemFailures": []}
    assert statements() == [
        "ALTER TABLE `loglake`.`audit_log` ADD IF NOT EXISTS\n  PARTITION (`account_id` = '123456789012', "
        f"`date` = '2026-11-22') LOCATION 's3://{BUCKET}/tables/audit_log/123456789012/2026-11-22/'"
    ]
    assert metrics(lake_env)[0]["IgnoredKeys"] == 1


def test_a_direct_event_that_cannot_be_registered_raises_for_lambda_to_retry(
    aws: AwsCalls, autoloader: ModuleType, monkeypatch: pytest.MonkeyPatch, lake_env: Path
) -> None:
    monkeypatch.setenv("LOGLAKE_ATHENA_WORKGROUP", "missing")
    direct = load_event("s3Event.json")
    direct["Records"][0]["s3"]["object"]["key"] = access_key("direct")
    with pytest.raises(CatalogError, match="retry the event"):
        autoloader.handler(direct, None)
    assert metrics(lake_env)[0]["CatalogFailures"] == 1  # metrics are written before raising


def test_glue_partitions_are_read_with_the_tables_partition_keys(aws: AwsCalls) -> None:
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "loglake"})
    glue.create_table(
        DatabaseName="loglake",
        TableInput={
            "Name": "audit_log",
            "PartitionKeys": [{"Name": "account_id", "Type": "string"}, {"Name": "date", "Type": "string"}],
            "StorageDescriptor": {"Location": f"s3://{BUCKET}/tables/audit_log/"},
        },
    )
    for values in (["111", "2026-11-21"], ["222", "2026-11-22"], ["bad'value", "2026-11-22"]):
        location = f"s3://{BUCKET}/tables/audit_log/{values[0]}/{values[1]}/"
        glue.create_partition(
            DatabaseName="loglake",
            TableName="audit_log",
            PartitionInput={"Values": values, "StorageDescriptor": {"Location": location}},
        )
    found = AthenaCatalog(database="loglake").partitions("audit_log")
    keys = ("account_id", "date")
    assert found == {
        Partition("audit_log", ("111", "2026-11-21"), keys): f"s3://{BUCKET}/tables/audit_log/111/2026-11-21/",
        Partition("audit_log", ("222", "2026-11-22"), keys): f"s3://{BUCKET}/tables/audit_log/222/2026-11-22/",
    }
    assert aws.count("GetTable") == 1 and aws.count("GetPartitions") == 1


def test_the_compactors_location_switch_is_one_statement_in_the_workgroup(aws: AwsCalls) -> None:
    p = Partition("access_logs", ("shop", "2026", "11", "22", "10"))
    AthenaCatalog(database="loglake", workgroup="loglake").set_partition_location(
        p, f"s3://{BUCKET}/{p.prefix}compacted-1/"
    )
    assert statements() == [
        "ALTER TABLE `loglake`.`access_logs` PARTITION (`service_name` = 'shop', `year` = '2026', "
        f"`month` = '11', `day` = '22', `hour` = '10') SET LOCATION 's3://{BUCKET}/{p.prefix}compacted-1/'"
    ]
    assert aws.count("StartQueryExecution") == 1
