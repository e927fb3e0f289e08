"""The compactor against S3 and the Glue/Athena catalog (moto): partitions listed with a Glue filter, one
``SET LOCATION`` statement per compacted partition, files in S3. moto's Athena does not apply DDL to Glue, so
the test applies the statement's effect itself, as Athena would."""

from __future__ import annotations

import contextlib
import gzip
import io
import re
from typing import Any

import boto3
import pyarrow.parquet as pq
from moto import mock_aws

from loglake.catalog import AthenaCatalog
from loglake.compact import CompactOptions, Compactor
from loglake.convert import ConvertOptions, convert_object
from loglake.schema import PARTITION_KEYS, TABLE_NAME, glue_columns, to_json_line
from loglake.storage import S3Storage

HOUR = 3_600_000
T10 = 1_795_341_600_000
NOW = T10 + 3 * HOUR
OPTIONS = CompactOptions(grace_ms=HOUR, lookback_ms=48 * HOUR, delete_delay_ms=HOUR)


class RecordingAthena:
    """The two Athena calls the catalog makes; every statement succeeds and is recorded."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def start_query_execution(self, **kwargs: Any) -> dict[str, str]:
        self.statements.append(kwargs["QueryString"])
        return {"QueryExecutionId": f"q{len(self.statements)}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}


def apply_set_location(glue: Any, statement: str) -> None:
    values = re.findall(r"`(\w+)` = '([^']*)'", statement)
    location = re.search(r"SET LOCATION '([^']*)'", statement)
    assert location is not None and [k for k, _ in values] == list(PARTITION_KEYS)
    partition = glue.get_partition(
        DatabaseName="loglake", TableName=TABLE_NAME, PartitionValues=[v for _, v in values]
    )["Partition"]
    descriptor = partition["StorageDescriptor"] | {"Location": location.group(1)}
    glue.update_partition(
        DatabaseName="loglake",
        TableName=TABLE_NAME,
        PartitionValueList=[v for _, v in values],
        PartitionInput={"Values": partition["Values"], "StorageDescriptor": descriptor},
    )


def test_compaction_on_s3_with_the_athena_catalog() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        glue = boto3.client("glue", region_name="us-east-1")
        glue.create_database(DatabaseInput={"Name": "loglake"})
        glue.create_table(
            DatabaseName="loglake",
            TableInput={
                "Name": TABLE_NAME,
                "StorageDescriptor": {"Columns": glue_columns(), "Location": "s3://lake/tables/access_logs/"},
                "PartitionKeys": [{"Name": k, "Type": "string"} for k in PARTITION_KEYS],
            },
        )
        storage = S3Storage("lake", client=s3)

        def deliver(name: str, hour_ms: int, n: int) -> None:
            key = f"raw/2026/11/22/10/{name}.gz"
            rows = [{"request_id": f"{name}-{i}", "timestamp": hour_ms + i, "service_name": "shop"} for i in range(n)]
            storage.put(key, gzip.compress(b"".join(to_json_line(r) for r in rows)))
            for out in convert_object(storage, key, options=ConvertOptions(max_age_ms=0, max_future_ms=0)).outputs:
                values = [seg.split("=", 1)[1] for seg in out.split("/")[2:7]]
                prefix = "/".join(out.split("/")[:7]) + "/"
                with contextlib.suppress(glue.exceptions.AlreadyExistsException):  # the autoloader's IF NOT EXISTS
                    glue.create_partition(
                        DatabaseName="loglake",
                        TableName=TABLE_NAME,
                        PartitionInput={"Values": values, "StorageDescriptor": {"Location": storage.location(prefix)}},
                    )

        for i in range(3):
            deliver(f"a{i}", T10, 50)
        deliver("old", T10 - 10 * 24 * HOUR, 5)  # another day, registered: its listing is filtered out
        deliver("old2", T10 - 10 * 24 * HOUR, 5)

        glue.create_partition(  # registered by hand with a value no key can carry: ignored, never turned into SQL
            DatabaseName="loglake",
            TableName=TABLE_NAME,
            PartitionInput={
                "Values": ["bad' svc", "2026", "11", "22", "10"],
                "StorageDescriptor": {"Location": "s3://lake/elsewhere/"},
            },
        )

        athena = RecordingAthena()
        catalog = AthenaCatalog(database="loglake", client=athena, glue_client=glue)
        compactor = Compactor(storage, catalog, options=OPTIONS, glue_client=glue)
        assert [p.values[3:] for p in compactor.candidates(NOW)] == [("22", "10")]  # the Glue expression kept one day

        report = compactor.run(NOW)
        assert len(report.compacted) == 1 and report.rows == 150
        (statement,) = athena.statements
        assert statement.startswith("ALTER TABLE `loglake`.`access_logs` PARTITION (`service_name` = 'shop', ")
        assert re.search(
            r"SET LOCATION 's3://lake/tables/access_logs/_compacted/service_name=shop/year=2026/month=11/day=22/"
            r"hour=10/gen-20261122T130000Z-[0-9a-f]{12}/'$",
            statement,
        )
        generation = re.search(r"'s3://lake/(.*)'$", statement).group(1)  # type: ignore[union-attr]
        files = [o.key for o in storage.list(generation) if o.key.endswith(".parquet")]
        assert len(files) == 1
        assert pq.read_table(io.BytesIO(storage.get(files[0]))).num_rows == 150

        apply_set_location(glue, statement)  # what Athena does to Glue
        deliver("late", T10, 7)
        report = Compactor(storage, catalog, options=OPTIONS, glue_client=glue).run(NOW + HOUR)
        assert report.late_files == 1 and report.rows == 157 and len(athena.statements) == 2
        apply_set_location(glue, athena.statements[1])
        report = Compactor(storage, catalog, options=OPTIONS, glue_client=glue).run(NOW + 3 * HOUR)
        assert report.compacted == [] and report.deleted == 4 + 2  # base files, first generation (file + manifest)
