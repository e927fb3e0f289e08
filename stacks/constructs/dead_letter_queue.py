"""A dead-letter queue: where work that failed every retry waits for a person."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import SSE_SQS_JUSTIFICATION, checkov_skip

#: The longest SQS keeps a message; a message keeps its age when it moves to a DLQ, so this must be the max.
DLQ_RETENTION: Final = cdk.Duration.days(14)


class DeadLetterQueue(Construct):
    """An encrypted (SSE-SQS), TLS-only queue that keeps failed messages for 14 days.

    Attributes
    ----------
    queue:
        The queue; alarm on its depth.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        checkov_skip(self.queue, "CKV_AWS_27", SSE_SQS_JUSTIFICATION)
