"""The SNS topic every loglake alarm notifies, with the configured subscribers."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import NotificationConfig


class AlarmTopic(Construct):
    """An encrypted, TLS-only topic that only this deployment's CloudWatch alarms may publish to.

    Alarms are named ``<name>-…``; the topic policy and the key policy let the CloudWatch service principal
    publish and encrypt on behalf of alarms matching that name in this account and region only (the
    confused-deputy guard). E-mail subscribers must confirm the message AWS sends them.

    Attributes
    ----------
    topic:
        The topic; alarms add it as alarm and OK action.
    alarm_name_prefix:
        The prefix every alarm name must carry (``<name>-``).
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, key: kms.Key, notifications: NotificationConfig
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.alarm_name_prefix = f"{name}-"
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        alarms_of_this_deployment = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"{self.alarm_name_prefix}*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        }
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarms_of_this_deployment,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsUseKeyForTopic",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=alarms_of_this_deployment,
            )
        )
        for email in notifications.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        for url in notifications.https:
            self.topic.add_subscription(subscriptions.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS))
