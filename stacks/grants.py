"""Grants on the lake through CDK's ``grant_*``, each with the acknowledgment of the wildcards CDK writes.

CDK's grant helpers express "read objects under a prefix" as wildcard actions (``s3:GetObject*``) on a
wildcard resource (``<bucket>/raw/*``). cdk-nag rule AwsSolutions-IAM5 reports each wildcard as a finding.
These functions make the grant and acknowledge exactly the findings that grant produces, on the one policy
it lands in, with the reason; nothing else on that policy is acknowledged.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from stacks.compliance import acknowledge

_NAG: Final = "AwsSolutions-IAM5"

#: Why each action wildcard CDK's grants emit is acceptable; the resource of each is one bucket or one key.
ACTION_REASONS: Final = {
    "s3:GetObject*": (
        "CDK bucket.grant_read: s3:GetObject and its read variants (version, attributes, tagging, ACL, "
        "retention), only on objects under the prefix named in the same statement."
    ),
    "s3:GetBucket*": (
        "CDK bucket.grant_read: bucket-level reads (location, versioning, configuration) of this one bucket, "
        "which SDK clients issue before reading objects."
    ),
    "s3:List*": (
        "CDK bucket.grant_read: listing this one bucket, so a missing key answers 404 instead of 403 and "
        "a prefix can be listed; no other bucket is listable."
    ),
    "s3:Abort*": (
        "CDK bucket.grant_put: s3:AbortMultipartUpload, to abandon a failed multipart upload of a large "
        "object, only under the prefix named in the same statement."
    ),
    "s3:DeleteObject*": (
        "CDK bucket.grant_delete: delete an object or one of its versions, only under the prefix named "
        "in the same statement."
    ),
    "kms:GenerateDataKey*": (
        "CDK key grants for SSE-KMS: S3 (and Athena) ask this one customer key for a data key to encrypt "
        "each object; GenerateDataKey and GenerateDataKeyWithoutPlaintext."
    ),
    "kms:ReEncrypt*": (
        "CDK key grant for SSE-KMS writes (ReEncryptFrom/To), only on this one customer key; S3 uses it when "
        "an object is copied or its encryption is changed."
    ),
}


def _policy(grantee: iam.IRole) -> cdk.CfnResource:
    policy = grantee.node.try_find_child("DefaultPolicy")
    if policy is None:
        raise RuntimeError(f"{grantee.node.path} has no default policy; grant something first")
    resource = policy.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    return resource


def _arn_token(resource: cdk.CfnResource) -> str:
    """How cdk-nag spells ``Fn::GetAtt <resource>.Arn`` in a finding: ``<LogicalId.Arn>``."""
    stack = cdk.Stack.of(resource)
    return f"<{stack.resolve(stack.get_logical_id(resource))}.Arn>"


def _acknowledge_actions(grantee: iam.IRole, *actions: str) -> None:
    for action in actions:
        acknowledge(_policy(grantee), f"{_NAG}[Action::{action}]", ACTION_REASONS[action])


def _acknowledge_prefix(grantee: iam.IRole, bucket: s3.IBucket, prefix: str, purpose: str) -> None:
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, cdk.CfnResource)
    acknowledge(
        _policy(grantee),
        f"{_NAG}[Resource::{_arn_token(cfn_bucket)}/{prefix}*]",
        f"Objects under {prefix} are created continuously under keys nobody can list in advance, so the "
        f"resource is the prefix, never the bucket: {purpose}",
    )


def read_objects(bucket: s3.IBucket, grantee: iam.IRole, prefix: str, *, purpose: str) -> None:
    """Let ``grantee`` read (and list the bucket for) objects under ``prefix``."""
    bucket.grant_read(grantee, prefix + "*")
    _acknowledge_actions(grantee, "s3:GetObject*", "s3:GetBucket*", "s3:List*")
    _acknowledge_prefix(grantee, bucket, prefix, purpose)


def put_objects(bucket: s3.IBucket, grantee: iam.IRole, prefix: str, *, purpose: str) -> None:
    """Let ``grantee`` write objects under ``prefix`` (SSE-KMS with the bucket's key)."""
    bucket.grant_put(grantee, prefix + "*")
    _acknowledge_actions(grantee, "s3:Abort*")
    if bucket.encryption_key is not None:
        _acknowledge_actions(grantee, "kms:GenerateDataKey*", "kms:ReEncrypt*")
    _acknowledge_prefix(grantee, bucket, prefix, purpose)


def delete_objects(bucket: s3.IBucket, grantee: iam.IRole, prefix: str, *, purpose: str) -> None:
    """Let ``grantee`` delete objects under ``prefix``."""
    bucket.grant_delete(grantee, prefix + "*")
    _acknowledge_actions(grantee, "s3:DeleteObject*")
    _acknowledge_prefix(grantee, bucket, prefix, purpose)


def invoke(function: lambda_.IFunction, grantee: iam.IRole) -> None:
    """Let ``grantee`` invoke ``function`` (CDK also names its versions and aliases: ``<arn>:*``)."""
    function.grant_invoke(grantee)
    cfn_function = function.node.default_child
    assert isinstance(cfn_function, cdk.CfnResource)
    acknowledge(
        _policy(grantee),
        f"{_NAG}[Resource::{_arn_token(cfn_function)}:*]",
        "CDK grant_invoke names the function's versions and aliases (<arn>:*) besides the function; only "
        "this one function can be invoked.",
    )
