"""One CloudWatch dashboard: RED per service, then the pipeline's health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import AlarmConfig
from stacks.constructs.pipeline_alarms import FIVE_MINUTES, ONE_MINUTE, firehose_metric
from stacks.constructs.service_alarms import ServiceAlarms, red_metric

WIDTH: Final = 6
HEIGHT: Final = 6


class PipelineDashboard(Construct):
    """The dashboard on-call engineers open first.

    Attributes
    ----------
    dashboard:
        The dashboard.
    url:
        Its console URL.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        dashboard_name: str,
        services: Sequence[str],
        namespace: str,
        thresholds: AlarmConfig,
        stream_names: Sequence[str],
        functions: Mapping[str, lambda_.IFunction],
        work_queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        ip_rule_name: str,
        alarms: Sequence[cw.IAlarm],
    ) -> None:
        super().__init__(scope, id)
        region = cdk.Stack.of(self).region
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=cdk.Duration.hours(3)
        )
        self.url = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards/dashboard/{dashboard_name}"
        )
        d = self.dashboard
        d.add_widgets(
            cw.TextWidget(
                markdown=(
                    f"# {dashboard_name}: requests, errors, duration per service\n"
                    "Counted by the transformer before sampling; error rate = 5xx / requests. "
                    "Pipeline health is below."
                ),
                width=24,
                height=2,
            )
        )
        for svc in services:
            d.add_widgets(*self._service_row(svc, namespace, thresholds))
        d.add_widgets(
            cw.GraphWidget(
                title="Busiest client IP (requests/min) and distinct IPs",
                left=[self._insight(ip_rule_name, "MaxContributorValue", "busiest IP")],
                right=[self._insight(ip_rule_name, "UniqueContributors", "distinct (service, IP)")],
                left_annotations=[cw.HorizontalAnnotation(value=thresholds.ip_requests_per_minute, label="alarm")],
                width=12,
                height=HEIGHT,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=12, height=HEIGHT),
        )
        d.add_widgets(cw.TextWidget(markdown="# Pipeline health", width=24, height=1))
        for stream in stream_names:
            d.add_widgets(
                cw.GraphWidget(
                    title=f"{stream}: records in",
                    left=[firehose_metric(stream, "IncomingRecords", "Sum", FIVE_MINUTES)],
                    right=[firehose_metric(stream, "ThrottledRecords", "Sum", FIVE_MINUTES)],
                    width=12,
                    height=HEIGHT,
                ),
                cw.GraphWidget(
                    title=f"{stream}: freshness (s) and delivery/processing success",
                    left=[firehose_metric(stream, "DeliveryToS3.DataFreshness", "Maximum", FIVE_MINUTES)],
                    right=[
                        firehose_metric(stream, "DeliveryToS3.Success", "Average", FIVE_MINUTES),
                        firehose_metric(stream, "ExecuteProcessing.Success", "Average", FIVE_MINUTES),
                    ],
                    width=12,
                    height=HEIGHT,
                ),
            )
        d.add_widgets(
            *(
                cw.GraphWidget(
                    title=f"{label}: invocations, errors, throttles; max duration (ms)",
                    left=[
                        fn.metric_invocations(period=FIVE_MINUTES),
                        fn.metric_errors(period=FIVE_MINUTES),
                        fn.metric_throttles(period=FIVE_MINUTES),
                    ],
                    right=[fn.metric_duration(period=FIVE_MINUTES, statistic="Maximum")],
                    width=WIDTH,
                    height=HEIGHT,
                )
                for label, fn in functions.items()
            )
        )
        d.add_widgets(
            *(
                cw.GraphWidget(
                    title=f"{label} queue: depth and oldest message (s)",
                    left=[q.metric_approximate_number_of_messages_visible(period=ONE_MINUTE)],
                    right=[q.metric_approximate_age_of_oldest_message(period=ONE_MINUTE, statistic="Maximum")],
                    width=WIDTH,
                    height=HEIGHT,
                )
                for label, q in work_queues.items()
            ),
            cw.GraphWidget(
                title="Dead-letter queues: messages waiting for a person",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum", label=label)
                    for label, q in dead_letter_queues.items()
                ],
                width=WIDTH,
                height=HEIGHT,
            ),
        )

    @staticmethod
    def _insight(rule_name: str, metric: str, label: str) -> cw.MathExpression:
        return cw.MathExpression(
            expression=f"INSIGHT_RULE_METRIC('{rule_name}', '{metric}')",
            using_metrics={},
            period=ONE_MINUTE,
            label=label,
        )

    @staticmethod
    def _service_row(svc: str, namespace: str, t: AlarmConfig) -> list[cw.IWidget]:
        def m(name: str, stat: str = "Sum") -> cw.Metric:
            return red_metric(namespace, name, svc, stat).with_(label=name if stat == "Sum" else f"{name} {stat}")

        routes = cw.MathExpression(
            expression=(
                f'SEARCH(\'{{{namespace},service_name,route}} MetricName="RouteLatency" '
                f"service_name=\"{svc}\"', 'p99', 60)"
            ),
            using_metrics={},
            period=ONE_MINUTE,
            label="p99",
        )
        return [
            cw.GraphWidget(
                title=f"{svc}: requests and errors per minute",
                left=[m("Requests")],
                right=[m("Errors4xx"), m("Errors5xx")],
                width=WIDTH,
                height=HEIGHT,
            ),
            cw.GraphWidget(
                title=f"{svc}: 5xx error rate (%)",
                left=[ServiceAlarms.error_rate_expression(namespace, svc, t.min_requests_per_minute)],
                left_annotations=[cw.HorizontalAnnotation(value=t.error_rate_percent, label="alarm")],
                width=WIDTH,
                height=HEIGHT,
            ),
            cw.GraphWidget(
                title=f"{svc}: latency (ms) p50/p99; p99 per route",
                left=[m("Latency", "p50"), m("Latency", "p99")],
                right=[routes],
                left_annotations=[cw.HorizontalAnnotation(value=t.p99_threshold_for(svc), label="p99 alarm")],
                width=WIDTH,
                height=HEIGHT,
            ),
            cw.GraphWidget(
                title=f"{svc}: kept, sampled out, quarantined",
                left=[m("Kept"), m("SampledOut"), m("Quarantined")],
                width=WIDTH,
                height=HEIGHT,
            ),
        ]
