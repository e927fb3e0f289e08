"""Alarms on the pipeline's health: delivery streams, functions and queues."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import AlarmConfig

FIVE_MINUTES: Final = cdk.Duration.minutes(5)
ONE_MINUTE: Final = cdk.Duration.minutes(1)
GT: Final = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
LT: Final = cw.ComparisonOperator.LESS_THAN_THRESHOLD


def firehose_metric(stream_name: str, metric_name: str, statistic: str, period: cdk.Duration) -> cw.Metric:
    """A metric of one delivery stream."""
    return cw.Metric(
        namespace="AWS/Firehose",
        metric_name=metric_name,
        dimensions_map={"DeliveryStreamName": stream_name},
        statistic=statistic,
        period=period,
    )


class PipelineAlarms(Construct):
    """Creates each alarm with a ``<name>-`` name, the topic as alarm and OK action, and missing data as OK.

    Use the ``watch_*`` methods to add the alarms of one resource; every alarm is kept in :attr:`alarms`.

    Attributes
    ----------
    alarms:
        Every alarm made so far, in creation order (the dashboard shows their states).
    """

    def __init__(
        self, scope: Construct, id: str, *, topic: sns.ITopic, alarm_name_prefix: str, thresholds: AlarmConfig
    ) -> None:
        super().__init__(scope, id)
        self._action = cw_actions.SnsAction(topic)
        self._prefix = alarm_name_prefix
        self._thresholds = thresholds
        self.alarms: list[cw.AlarmBase] = []

    def alarm_name(self, name: str) -> str:
        """The full name of an alarm of this deployment."""
        return f"{self._prefix}{name}"

    def add(self, alarm: cw.AlarmBase) -> cw.AlarmBase:
        """Route ``alarm`` to the topic (on alarm and on recovery) and keep it."""
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm

    def alarm(
        self,
        id: str,
        *,
        name: str,
        description: str,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator = GT,
        periods: int = 1,
    ) -> cw.Alarm:
        """An alarm ``<prefix><name>`` that fires after ``periods`` breaching periods in a row."""
        return self.add(  # type: ignore[return-value]
            cw.Alarm(
                self,
                id,
                alarm_name=self.alarm_name(name),
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
        )

    def watch_stream(self, stream_name: str) -> None:
        """Freshness, delivery failures, transformation failures and throttling of one delivery stream."""
        t = self._thresholds
        self.alarm(
            f"{stream_name}Freshness",
            name=f"stream-{stream_name}-freshness",
            description=f"Records wait over {t.firehose_freshness_seconds} s in {stream_name} before S3.",
            metric=firehose_metric(stream_name, "DeliveryToS3.DataFreshness", "Maximum", FIVE_MINUTES),
            threshold=t.firehose_freshness_seconds,
        )
        self.alarm(
            f"{stream_name}Delivery",
            name=f"stream-{stream_name}-delivery-failures",
            description=f"{stream_name} failed to put objects into the lake bucket (see its delivery log).",
            metric=firehose_metric(stream_name, "DeliveryToS3.Success", "Minimum", FIVE_MINUTES),
            threshold=1,
            comparison=LT,
        )
        self.alarm(
            f"{stream_name}Transformation",
            name=f"stream-{stream_name}-transformation-failures",
            description=f"{stream_name} could not invoke its transformer; batches go to errors/.",
            metric=firehose_metric(stream_name, "ExecuteProcessing.Success", "Minimum", FIVE_MINUTES),
            threshold=1,
            comparison=LT,
        )
        self.alarm(
            f"{stream_name}Throttled",
            name=f"stream-{stream_name}-throttled-records",
            description=f"{stream_name} throttled records: raise its quota or pack more events per record.",
            metric=firehose_metric(stream_name, "ThrottledRecords", "Sum", FIVE_MINUTES),
            threshold=0,
        )

    def watch_function(self, label: str, function: lambda_.IFunction, *, timeout_seconds: int) -> None:
        """Errors, throttles and a duration close to the timeout of one function."""
        near = timeout_seconds * 1000 * self._thresholds.duration_percent_of_timeout / 100
        self.alarm(
            f"{label}Errors",
            name=f"{label}-errors",
            description=f"The {label} function failed invocations (see its log group).",
            metric=function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=0,
        )
        self.alarm(
            f"{label}Throttles",
            name=f"{label}-throttles",
            description=f"The {label} function was throttled: account concurrency is exhausted.",
            metric=function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            threshold=0,
        )
        self.alarm(
            f"{label}Duration",
            name=f"{label}-duration-near-timeout",
            description=(
                f"The {label} function ran over {self._thresholds.duration_percent_of_timeout}% of its "
                f"{timeout_seconds} s timeout: raise memory or timeout before invocations time out."
            ),
            metric=function.metric_duration(period=FIVE_MINUTES, statistic="Maximum"),
            threshold=near,
        )

    def watch_work_queue(self, label: str, queue: sqs.IQueue) -> None:
        """A backlog: the oldest message has waited too long."""
        age = self._thresholds.queue_age_seconds
        self.alarm(
            f"{label}Backlog",
            name=f"{label}-queue-backlog",
            description=f"The {label} queue's oldest message is over {age} s old: its consumer lags.",
            metric=queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
            threshold=age,
        )

    def watch_dead_letter_queue(self, label: str, queue: sqs.IQueue) -> None:
        """Any message in a dead-letter queue: work failed every retry and waits for a person."""
        self.alarm(
            f"{label}DeadLetters",
            name=f"{label}-dead-letters",
            description=f"Messages in the {label} dead-letter queue: inspect them, fix, then redrive.",
            metric=queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
            threshold=0,
        )
