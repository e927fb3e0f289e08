"""The Glue database and ``access_logs`` table, and the Athena workgroup analysts query them in."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from loglake.schema import TABLE_NAME, glue_columns, glue_partition_keys
from stacks import grants
from stacks.constructs.storage import TABLES_PREFIX

#: Where Athena writes query results in the results bucket.
RESULTS_PREFIX: Final = "athena/"
ATHENA_ENGINE: Final = "Athena engine version 3"
_PARQUET_SERDE: Final = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_PARQUET_INPUT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
_PARQUET_OUTPUT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


class LakeCatalog(Construct):
    """The catalog side of the lake.

    The table's columns and partition keys come from :mod:`loglake.schema` (``glue_columns()`` and
    ``glue_partition_keys()``), so the Glue table, the Parquet files and DuckDB locally can never disagree.
    The workgroup enforces its configuration: results go to the results bucket encrypted with the data key,
    and a query scanning more than the cutoff is cancelled.

    Attributes
    ----------
    database, table, workgroup:
        The Glue database, the ``access_logs`` table and the Athena workgroup.
    table_location:
        ``s3://<lake bucket>/tables/access_logs/``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        database_name: str,
        workgroup_name: str,
        lake_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
        data_key: kms.IKey,
        bytes_scanned_cutoff: int,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.database_name = database_name
        self.table_name = TABLE_NAME
        self.table_location = f"s3://{lake_bucket.bucket_name}/{TABLES_PREFIX}{TABLE_NAME}/"
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="loglake: access logs as partitioned Parquet"
            ),
        )
        self.table = glue.CfnTable(
            self,
            "AccessLogs",
            catalog_id=stack.account,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE_NAME,
                description="One row per kept request; counts are upscaled by 1/sample_rate",
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"},
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=c["Name"], type=c["Type"], comment=c["Comment"])
                    for c in glue_partition_keys()
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c["Name"], type=c["Type"], comment=c["Comment"])
                        for c in glue_columns()
                    ],
                    location=self.table_location,
                    input_format=_PARQUET_INPUT,
                    output_format=_PARQUET_OUTPUT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=_PARQUET_SERDE, parameters={"serialization.format": "1"}
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)

        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=workgroup_name,
            description="loglake analyses; enforced settings: encrypted results, per-query scan cutoff",
            state="ENABLED",
            # Deleting the stack deletes the workgroup with its saved queries and history (not the data).
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                requester_pays_enabled=False,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results_bucket.bucket_name}/{RESULTS_PREFIX}",
                    expected_bucket_owner=stack.account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=data_key.key_arn
                    ),
                ),
            ),
        )
        self._results_bucket = results_bucket

    @property
    def workgroup_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.name)

    def _glue_arns(self) -> list[str]:
        stack = cdk.Stack.of(self)
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
            stack.format_arn(service="glue", resource="table", resource_name=f"{self.database_name}/{TABLE_NAME}"),
        ]

    def grant_add_partitions(self, grantee: iam.IRole) -> None:
        """Let ``grantee`` run ``ALTER TABLE … ADD PARTITION`` on the table through the workgroup.

        Athena runs the statement with the caller's rights: Glue partition writes on this table only, the
        workgroup's query calls, and the results bucket (Athena writes a result file even for DDL).
        """
        self._grant_ddl(grantee, ["glue:CreatePartition", "glue:BatchCreatePartition"])

    def grant_switch_locations(self, grantee: iam.IRole) -> None:
        """Let ``grantee`` (the compactor) list partitions and run ``ALTER TABLE … PARTITION … SET LOCATION``."""
        self._grant_ddl(grantee, ["glue:UpdatePartition", "glue:BatchUpdatePartition"])

    def _grant_ddl(self, grantee: iam.IRole, writes: list[str]) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
            ],
            resource_arns=[self.workgroup_arn],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchGetPartition",
                *writes,
            ],
            resource_arns=self._glue_arns(),
        )
        purpose = "Athena writes the result of each statement, DDL included, and reads it back."
        grants.read_objects(self._results_bucket, grantee, RESULTS_PREFIX, purpose=purpose)
        grants.put_objects(self._results_bucket, grantee, RESULTS_PREFIX, purpose=purpose)
