"""An SQS work queue with its dead-letter queue, sized for the function that consumes it."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import SSE_SQS_JUSTIFICATION, checkov_skip
from stacks.constructs.dead_letter_queue import DeadLetterQueue

#: AWS's guidance for an SQS event source: a visibility timeout of at least six times the function timeout,
#: so a message is not handed out again while one invocation, its batching window and retries still run.
VISIBILITY_PER_TIMEOUT: Final = 6
#: Receives before a message is parked in the dead-letter queue (each receive is one failed attempt).
MAX_RECEIVE_COUNT: Final = 5


class WorkQueue(Construct):
    """A queue of S3 notifications for one consumer, and the DLQ that catches the ones it keeps failing.

    Both are encrypted (SSE-SQS: messages hold object keys, no log content) and refuse non-TLS requests.

    Attributes
    ----------
    queue:
        The work queue: 4 days' retention, visibility ``6 × consumer_timeout``.
    dead_letter_queue:
        Its DLQ, after :data:`MAX_RECEIVE_COUNT` failed receives.
    """

    def __init__(self, scope: Construct, id: str, *, consumer_timeout: cdk.Duration) -> None:
        super().__init__(scope, id)
        self.dead_letter_queue = DeadLetterQueue(self, "DeadLetters").queue
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(4),
            visibility_timeout=cdk.Duration.seconds(consumer_timeout.to_seconds() * VISIBILITY_PER_TIMEOUT),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letter_queue),
        )
        checkov_skip(self.queue, "CKV_AWS_27", SSE_SQS_JUSTIFICATION)
