"""The customer-managed KMS keys of a loglake deployment."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class LakeKeys(Construct):
    """Two rotating customer keys, so that a service that may use one never touches the other's data.

    ``data_key`` encrypts what holds log content: the lake bucket, Athena results, the delivery streams and
    the hash-key secret. ``telemetry_key`` encrypts operational data: CloudWatch log groups (the per-IP lines
    hold client IPs) and the alarm topic; its policy lets CloudWatch Logs of this account and region use it.

    Attributes
    ----------
    data_key, telemetry_key:
        The two keys; both are retained when the stack is deleted (data encrypted with them would be lost).
    """

    def __init__(self, scope: Construct, id: str, *, name: str) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.data_key = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{name}/data",
            description=f"{name}: log data in S3, Firehose, Athena results and the hash-key secret",
            enable_key_rotation=True,
            pending_window=cdk.Duration.days(30),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.telemetry_key = kms.Key(
            self,
            "TelemetryKey",
            alias=f"alias/{name}/telemetry",
            description=f"{name}: CloudWatch log groups and the alarm topic",
            enable_key_rotation=True,
            pending_window=cdk.Duration.days(30),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts a log group with the key only when the key policy lets the regional service
        # principal use it, scoped by encryption context to log groups of this account and region.
        self.telemetry_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
