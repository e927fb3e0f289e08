"""The lake bucket, its access-log bucket and the Athena results bucket."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, checkov_skip
from stacks.config import ObjectLockConfig, RetentionConfig

#: Prefixes of the lake (DESIGN.md "Lake layout").
RAW_PREFIX: Final = "raw/"
ERRORS_PREFIX: Final = "errors/"
QUARANTINE_PREFIX: Final = "quarantine/"
TABLES_PREFIX: Final = "tables/"
#: Incomplete multipart uploads (a Lambda timed out mid-upload) are aborted after this many days.
ABORT_UPLOADS_DAYS: Final = 7


def _common(*, access_logs: s3.IBucket | None, log_prefix: str) -> dict[str, object]:
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "enforce_ssl": True,
        "minimum_tls_version": 1.2,
        "versioned": True,
        "removal_policy": cdk.RemovalPolicy.RETAIN,
        "server_access_logs_bucket": access_logs,
        "server_access_logs_prefix": log_prefix if access_logs else None,
    }


class LakeStorage(Construct):
    """The buckets of a loglake deployment: each encrypted, TLS-only, private and versioned; two logged.

    The lake bucket's name is derived from ``name``, account and region, so that the SQS queue policies can
    name it in ``aws:SourceArn`` without referring to the bucket resource: the bucket's native S3 → SQS
    notification configuration depends on those policies, and a reference back would be a cycle. This keeps
    CDK's notification custom resource (a Lambda with ``s3:PutBucketNotification`` on ``*``) out of the stack.

    Attributes
    ----------
    lake_bucket:
        ``raw/``, ``errors/``, ``quarantine/`` and ``tables/``; SSE-KMS with the data key and a bucket key.
    results_bucket:
        Athena query results; SSE-KMS, expires after ``retention.athena_results_days``.
    access_log_bucket:
        S3 server access logs of the other two; SSE-S3, the only encryption S3 log delivery supports.
    lake_bucket_name, lake_bucket_arn:
        The lake bucket's name and ARN as built from ``name``, account and region (no reference to it).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        data_key: kms.IKey,
        retention: RetentionConfig,
        object_lock: ObjectLockConfig,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(retention.access_log_days),
                    noncurrent_version_expiration=cdk.Duration.days(retention.noncurrent_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(ABORT_UPLOADS_DAYS),
                )
            ],
            **_common(access_logs=None, log_prefix=""),  # type: ignore[arg-type]
        )
        acknowledge(
            self.access_log_bucket,
            "AwsSolutions-S1",
            "This bucket is the target of the S3 server access logs of the lake and results buckets; logging "
            "its own access would log every log delivery into itself.",
        )
        checkov_skip(
            self.access_log_bucket,
            "CKV_AWS_18",
            "Target of the S3 server access logs of the other buckets; logging it into itself loops.",
        )

        self.lake_bucket_name = f"{name}-lake-{stack.account}-{stack.region}"
        self.lake_bucket_arn = stack.format_arn(service="s3", region="", account="", resource=self.lake_bucket_name)
        lock: dict[str, object] = {}
        if object_lock.enabled:
            lock = {
                "object_lock_enabled": True,
                "object_lock_default_retention": s3.ObjectLockRetention.compliance(
                    cdk.Duration.days(object_lock.years * 365)
                ),
            }
        lake_rules = self._lake_rules(retention)
        self.lake_bucket = s3.Bucket(
            self,
            "Lake",
            bucket_name=self.lake_bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=data_key,
            bucket_key_enabled=True,
            lifecycle_rules=lake_rules,
            transition_default_minimum_object_size=s3.TransitionDefaultMinimumObjectSize.ALL_STORAGE_CLASSES_128_K,
            **lock,  # type: ignore[arg-type]
            **_common(access_logs=self.access_log_bucket, log_prefix="lake/"),  # type: ignore[arg-type]
        )
        self._queue_notifications: list[s3.CfnBucket.QueueConfigurationProperty] = []
        cfn_lake = self.lake_bucket.node.default_child
        assert isinstance(cfn_lake, s3.CfnBucket)
        for index, rule in enumerate(lake_rules):
            if rule.object_size_greater_than is not None:
                # CloudFormation types ObjectSizeGreaterThan as a string; CDK renders a number.
                cfn_lake.add_property_override(
                    f"LifecycleConfiguration.Rules.{index}.ObjectSizeGreaterThan",
                    str(rule.object_size_greater_than),
                )

        self.results_bucket = s3.Bucket(
            self,
            "AthenaResults",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=data_key,
            bucket_key_enabled=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-query-results",
                    expiration=cdk.Duration.days(retention.athena_results_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            **_common(access_logs=self.access_log_bucket, log_prefix="athena-results/"),  # type: ignore[arg-type]
        )

    @staticmethod
    def _lake_rules(retention: RetentionConfig) -> list[s3.LifecycleRule]:
        transitions = []
        if retention.ia_after_days is not None:
            transitions.append(
                s3.Transition(
                    storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                    transition_after=cdk.Duration.days(retention.ia_after_days),
                )
            )
        if retention.glacier_after_days is not None:
            transitions.append(
                s3.Transition(
                    storage_class=s3.StorageClass.GLACIER,
                    transition_after=cdk.Duration.days(retention.glacier_after_days),
                )
            )
        rules = [
            # raw/ and errors/ are transient copies: once expired, their versions go the next day instead of
            # waiting out the noncurrent grace period of the rest of the lake.
            s3.LifecycleRule(
                id="expire-raw",
                prefix=RAW_PREFIX,
                expiration=cdk.Duration.days(retention.raw_days),
                noncurrent_version_expiration=cdk.Duration.days(1),
            ),
            s3.LifecycleRule(
                id="expire-errors",
                prefix=ERRORS_PREFIX,
                expiration=cdk.Duration.days(retention.errors_days),
                noncurrent_version_expiration=cdk.Duration.days(1),
            ),
            s3.LifecycleRule(
                id="expire-quarantine",
                prefix=QUARANTINE_PREFIX,
                expiration=cdk.Duration.days(retention.quarantine_days),
            ),
            s3.LifecycleRule(
                id="expire-tables",
                prefix=TABLES_PREFIX,
                expiration=cdk.Duration.days(retention.expire_after_days),
            ),
            # Versions replaced or deleted (the compactor deletes the small files it merged) go after a grace
            # period; delete markers left alone by expiry go too; stuck multipart uploads are aborted.
            s3.LifecycleRule(
                id="housekeeping",
                noncurrent_version_expiration=cdk.Duration.days(retention.noncurrent_days),
                expired_object_delete_marker=True,
                abort_incomplete_multipart_upload_after=cdk.Duration.days(ABORT_UPLOADS_DAYS),
            ),
        ]
        if transitions:
            # Small objects cost more to transition (request fee, Glacier's 40 KB overhead) than they save:
            # only objects above the size floor move; the compactor makes most objects large enough.
            rules.insert(
                3,
                s3.LifecycleRule(
                    id="tier-tables",
                    prefix=TABLES_PREFIX,
                    transitions=transitions,
                    object_size_greater_than=retention.min_transition_bytes or None,
                ),
            )
        return rules

    def notify_queue(self, *, queue: sqs.IQueue, prefix: str, suffix: str = "") -> None:
        """Send the lake bucket's ``s3:ObjectCreated:*`` events under ``prefix`` to ``queue``.

        Adds the queue policy statement S3 needs (scoped to this bucket and account) and makes the bucket
        wait for it, since S3 checks the destination when the notification configuration is set.
        """
        stack = cdk.Stack.of(self)
        result = queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LakeBucketObjectCreated",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": self.lake_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        rules = [s3.CfnBucket.FilterRuleProperty(name="prefix", value=prefix)]
        if suffix:
            rules.append(s3.CfnBucket.FilterRuleProperty(name="suffix", value=suffix))
        self._queue_notifications.append(
            s3.CfnBucket.QueueConfigurationProperty(
                event="s3:ObjectCreated:*",
                queue=queue.queue_arn,
                filter=s3.CfnBucket.NotificationFilterProperty(s3_key=s3.CfnBucket.S3KeyFilterProperty(rules=rules)),
            )
        )
        cfn_bucket = self.lake_bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=list(self._queue_notifications)
        )
        if result.policy_dependable is not None:
            cfn_bucket.node.add_dependency(result.policy_dependable)
