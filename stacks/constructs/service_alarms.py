"""Service-level alarms from the transformer's RED metrics, and the per-IP Contributor Insights rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import AlarmConfig
from stacks.constructs.pipeline_alarms import ONE_MINUTE, PipelineAlarms

#: The ``loglake_event`` value of the transformer's per (service, minute, IP) log lines.
IP_REQUESTS_EVENT: Final = "ip_requests"
#: The anomaly model compares 5-minute request counts; 2 of 3 outside the band alarm.
TRAFFIC_PERIOD: Final = cdk.Duration.minutes(5)


def red_metric(namespace: str, name: str, service: str, statistic: str) -> cw.Metric:
    """One of the transformer's EMF metrics with dimension ``service_name`` (1-minute periods)."""
    return cw.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"service_name": service},
        statistic=statistic,
        period=ONE_MINUTE,
    )


def ip_rule_body(log_group_names: Sequence[str]) -> dict[str, object]:
    """Contributor Insights: requests per (service, IP) summed from the ``ip_requests`` log lines."""
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "AggregateOn": "Sum",
        "Contribution": {
            "Keys": ["$.service_name", "$.ip_address"],
            "ValueOf": "$.requests",
            "Filters": [{"Match": "$.loglake_event", "In": [IP_REQUESTS_EVENT]}],
        },
        "LogFormat": "JSON",
        "LogGroupNames": list(log_group_names),
    }


class ServiceAlarms(Construct):
    """Per service: error rate, p99 latency and a traffic anomaly; for all: one IP above the request limit.

    The transformer emits the metrics before sampling, so they count every request. The error rate is
    ``100 × Errors5xx / Requests`` per minute, ignored below ``min_requests_per_minute`` (one error in ten
    requests is noise, not an outage).

    Attributes
    ----------
    error_rate, p99_latency, traffic:
        Service name → alarm.
    ip_rule, ip_alarm, rule_name:
        The Contributor Insights rule over the transformers' log groups, its alarm, and its name.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        services: Sequence[str],
        namespace: str,
        thresholds: AlarmConfig,
        alarms: PipelineAlarms,
        transformer_log_groups: Sequence[logs.ILogGroup],
        rule_name: str,
    ) -> None:
        super().__init__(scope, id)
        t = thresholds
        self.rule_name = rule_name
        self.error_rate: dict[str, cw.Alarm] = {}
        self.p99_latency: dict[str, cw.Alarm] = {}
        self.traffic: dict[str, cw.AlarmBase] = {}
        for svc in services:
            self.error_rate[svc] = alarms.alarm(
                f"{svc}ErrorRate",
                name=f"service-{svc}-error-rate",
                description=(
                    f"{svc}: more than {t.error_rate_percent:g}% of requests answered 5xx for "
                    f"{t.error_rate_minutes} consecutive minutes."
                ),
                metric=self.error_rate_expression(namespace, svc, t.min_requests_per_minute),
                threshold=t.error_rate_percent,
                periods=t.error_rate_minutes,
            )
            p99 = t.p99_threshold_for(svc)
            self.p99_latency[svc] = alarms.alarm(
                f"{svc}P99Latency",
                name=f"service-{svc}-p99-latency",
                description=f"{svc}: p99 latency over {p99:g} ms, {t.p99_latency_minutes} minutes in a row.",
                metric=red_metric(namespace, "Latency", svc, "p99"),
                threshold=p99,
                periods=t.p99_latency_minutes,
            )
            self.traffic[svc] = alarms.add(
                cw.AnomalyDetectionAlarm(
                    alarms,
                    f"{svc}TrafficSpike",
                    alarm_name=alarms.alarm_name(f"service-{svc}-traffic-spike"),
                    alarm_description=(
                        f"{svc}: requests per 5 minutes above the expected band "
                        f"({t.traffic_anomaly_stddevs:g} standard deviations)."
                    ),
                    metric=red_metric(namespace, "Requests", svc, "Sum").with_(period=TRAFFIC_PERIOD),
                    std_devs=t.traffic_anomaly_stddevs,
                    comparison_operator=cw.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
                    evaluation_periods=3,
                    datapoints_to_alarm=2,
                    treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                )
            )

        self.ip_rule = cw.CfnInsightRule(
            self,
            "IpRequests",
            rule_name=rule_name,
            rule_state="ENABLED",
            rule_body=cdk.Stack.of(self).to_json_string(
                ip_rule_body([g.log_group_name for g in transformer_log_groups])
            ),
        )
        self.ip_alarm = alarms.alarm(
            "TopIp",
            name="ip-requests-per-minute",
            description=(
                f"One client IP sent over {t.ip_requests_per_minute} requests in a minute to one service "
                f"(Contributor Insights rule {rule_name}: see its top contributors)."
            ),
            metric=cw.MathExpression(
                expression=f"INSIGHT_RULE_METRIC('{rule_name}', 'MaxContributorValue')",
                using_metrics={},
                period=ONE_MINUTE,
                label="requests from the busiest IP",
            ),
            threshold=t.ip_requests_per_minute,
        )
        self.ip_alarm.node.add_dependency(self.ip_rule)

    @staticmethod
    def error_rate_expression(namespace: str, service: str, min_requests: int) -> cw.MathExpression:
        """Percent of requests answered 5xx per minute, 0 when the minute had too few requests to judge."""
        return cw.MathExpression(
            expression=f"IF(requests >= {min_requests}, 100 * errors / requests, 0)",
            using_metrics={
                "requests": red_metric(namespace, "Requests", service, "Sum"),
                "errors": red_metric(namespace, "Errors5xx", service, "Sum"),
            },
            period=ONE_MINUTE,
            label=f"{service} 5xx %",
        )
