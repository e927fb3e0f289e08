"""One Firehose delivery stream (Direct PUT) into the lake's ``raw/`` prefix, with the transformer."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import grants
from stacks.config import BufferingConfig
from stacks.constructs.storage import ERRORS_PREFIX, RAW_PREFIX

#: Failed records land by failure type (processing-failed, …) and arrival hour, never mixed with raw/.
ERROR_OUTPUT_PREFIX: Final = ERRORS_PREFIX + "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
#: Firehose retries a failed processor invocation this many times before writing the batch to errors/.
PROCESSOR_RETRIES: Final = 3


def _mb(value: float) -> str:
    return f"{value:g}"


class LogDeliveryStream(Construct):
    """A Direct PUT delivery stream: SSE with the data key, the transformer as processor, GZIP into ``raw/``.

    Objects land under ``raw/`` plus Firehose's default ``YYYY/MM/DD/HH/`` (arrival time); failed records
    under :data:`ERROR_OUTPUT_PREFIX`. Delivery errors are logged to an encrypted log group.

    Attributes
    ----------
    stream:
        The ``AWS::KinesisFirehose::DeliveryStream``.
    role:
        What Firehose assumes: write to ``raw/`` and ``errors/``, invoke the processor, write its log.
    log_group:
        Firehose's delivery error log.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stream_name: str,
        bucket: s3.IBucket,
        data_key: kms.IKey,
        processor: lambda_.IFunction,
        buffering: BufferingConfig,
        log_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            log_group_name=f"/aws/kinesisfirehose/{stream_name}",
            retention=log_retention,
            encryption_key=log_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        log_stream = logs.LogStream(
            self,
            "DestinationDelivery",
            log_group=self.log_group,
            log_stream_name="DestinationDelivery",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            # The confused-deputy guard AWS documents for Firehose: only this account's streams assume it.
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com").with_conditions(
                {"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description=f"Firehose stream {stream_name}: write raw/ and errors/, invoke the transformer",
        )
        grants.put_objects(bucket, self.role, RAW_PREFIX, purpose="Firehose writes each buffer as a new object.")
        grants.put_objects(
            bucket, self.role, ERRORS_PREFIX, purpose="Firehose writes records it could not process here."
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="LocateBucketAndListUploads",
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        # Multipart uploads of large objects need the key to decrypt what the earlier parts were sealed with.
        data_key.grant_decrypt(self.role)
        grants.invoke(processor, self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadProcessorConfiguration",
                actions=["lambda:GetFunctionConfiguration"],
                resources=[processor.function_arn],
            )
        )
        self.log_group.grant_write(self.role)

        processor_parameters = [
            ("LambdaArn", processor.function_arn),
            ("BufferSizeInMBs", _mb(buffering.processor_size_mb)),
            ("BufferIntervalInSeconds", str(buffering.processor_interval_seconds)),
            ("NumberOfRetries", str(PROCESSOR_RETRIES)),
            ("RoleArn", self.role.role_arn),
        ]
        self.stream = firehose.CfnDeliveryStream(
            self,
            "Stream",
            delivery_stream_name=stream_name,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="CUSTOMER_MANAGED_CMK", key_arn=data_key.key_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=self.role.role_arn,
                prefix=RAW_PREFIX,
                error_output_prefix=ERROR_OUTPUT_PREFIX,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=buffering.interval_seconds, size_in_m_bs=buffering.size_mb
                ),
                compression_format="GZIP",
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=data_key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name=name, parameter_value=value
                                )
                                for name, value in processor_parameters
                            ],
                        )
                    ],
                ),
                s3_backup_mode="Disabled",
            ),
        )
        # Firehose checks its permissions when the stream is created: the role's policy must exist first.
        policy = self.role.node.find_child("DefaultPolicy")
        self.stream.node.add_dependency(policy)
