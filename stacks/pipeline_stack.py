"""The deployable stack: a thin wrapper around the :class:`~stacks.constructs.LogLake` construct."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from layers.build import LayerDirs
from stacks.config import LoglakeConfig
from stacks.constructs import LogLake


class LoglakeStack(cdk.Stack):
    """One loglake deployment, with the outputs a platform team needs after ``cdk deploy``.

    Attributes
    ----------
    lake:
        The :class:`LogLake` construct.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: LoglakeConfig,
        layer_dirs: LayerDirs | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            id,
            description="loglake: serverless access-log lake (Firehose, Lambda, S3 Parquet, Athena)",
            **kwargs,
        )
        self.lake = LogLake(self, "LogLake", config=config, layer_dirs=layer_dirs)
        lake = self.lake
        for stream_name in lake.delivery_streams:
            cdk.CfnOutput(
                self,
                "DeliveryStream" + re.sub(r"[^A-Za-z0-9]", "", stream_name),
                description=f"Firehose delivery stream: KinesisLogger('{stream_name}', ...)",
                value=lake.delivery_streams[stream_name].stream.ref,
            )
        outputs = {
            "LakeBucket": (
                "The lake bucket (raw/, errors/, quarantine/, tables/)",
                lake.storage.lake_bucket.bucket_name,
            ),
            "GlueDatabase": ("Glue database of the access_logs table", config.database),
            "AthenaWorkgroup": ("Athena workgroup with the named queries", config.workgroup),
            "AthenaResultsBucket": ("Athena query results", lake.storage.results_bucket.bucket_name),
            "DashboardUrl": ("CloudWatch dashboard", lake.dashboard.url),
            "AlarmTopicArn": ("SNS topic of every alarm", lake.topic.topic.topic_arn),
            "ProducerPolicyArn": (
                "Managed policy to attach to application roles that send logs",
                lake.producer_policy.managed_policy_arn,
            ),
        }
        for key, (description, value) in outputs.items():
            cdk.CfnOutput(self, key, description=description, value=value)
