"""Recording a justified exception to a security check, next to the resource it applies to.

Both helpers annotate one CloudFormation resource (never a whole subtree), so a suppression cannot spread to
resources added later. cdk-nag acknowledgments reach the template as ``Metadata.cdk_nag.rules_to_suppress``
(the app enables ``write_suppressions_to_cloud_formation``); checkov reads ``Metadata.checkov.skip`` and
reports those checks as skipped with the comment. A security reviewer reads both in the template.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

#: Why the SQS queues use SSE-SQS, which checkov's CKV_AWS_27 does not recognise as encryption.
SSE_SQS_JUSTIFICATION = (
    "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); this check only recognises a KMS key. The "
    "messages hold S3 object keys and event metadata, no log content, and SSE-SQS lets S3 and EventBridge "
    "deliver without granting their service principals use of a customer key."
)


def _resource(node: IConstruct) -> cdk.CfnResource:
    """``node`` itself when it is a CloudFormation resource, else its default child."""
    if isinstance(node, cdk.CfnResource):
        return node
    child = node.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError(f"{node.node.path} is not a CloudFormation resource and has none as default child")
    return child


def acknowledge(node: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on one resource, e.g. ``AwsSolutions-IAM5[Action::s3:List*]``."""
    if len(reason) < 20:
        raise ValueError(f"the reason for {finding} on {node.node.path} must explain itself: {reason!r}")
    cdk.Validations.of(_resource(node)).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def checkov_skip(node: IConstruct, check: str, comment: str) -> None:
    """Record why checkov's ``check`` (e.g. ``CKV_AWS_117``) does not apply to one resource."""
    if len(comment) < 20:
        raise ValueError(f"the comment for {check} on {node.node.path} must explain itself: {comment!r}")
    resource = _resource(node)
    meta: Any = resource.get_metadata("checkov") or {"skip": []}
    meta["skip"].append({"id": check, "comment": comment})
    resource.add_metadata("checkov", meta)
