"""Alarms with the configured thresholds, their topic and subscribers, the IP rule, the dashboard, outputs."""

from __future__ import annotations

import json
from typing import Any

from infra_helpers import function_by_env, logical_id_of, refs_in

from stacks.constructs.service_alarms import IP_REQUESTS_EVENT


def _alarms(synth: Any) -> dict[str, dict[str, Any]]:
    """Alarm name (without the deployment prefix) → properties."""
    prefix = f"{synth.config.name}-"
    out = {}
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        name = alarm["Properties"]["AlarmName"]
        assert name.startswith(prefix), name
        out[name.removeprefix(prefix)] = alarm["Properties"]
    return out


def _metric(props: dict[str, Any], metric_id: str) -> dict[str, Any]:
    (found,) = [m for m in props["Metrics"] if m["Id"] == metric_id]
    return found


def test_every_alarm_notifies_the_topic_and_its_recovery(synth: Any) -> None:
    (topic,) = synth.resources("AWS::SNS::Topic")
    for name, props in _alarms(synth).items():
        assert props["AlarmActions"] == [{"Ref": topic}], name
        assert props["OKActions"] == [{"Ref": topic}], name
        assert props["TreatMissingData"] == "notBreaching", name


def test_delivery_streams_have_freshness_failure_and_throttle_alarms(synth: Any) -> None:
    alarms = _alarms(synth)
    for stream in synth.config.streams:
        fresh = alarms[f"stream-{stream.name}-freshness"]
        assert (fresh["MetricName"], fresh["Statistic"]) == ("DeliveryToS3.DataFreshness", "Maximum")
        assert fresh["Threshold"] == synth.config.alarms.firehose_freshness_seconds
        assert fresh["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": stream.name}]
        for suffix, metric in (
            ("delivery-failures", "DeliveryToS3.Success"),
            ("transformation-failures", "ExecuteProcessing.Success"),
        ):
            failing = alarms[f"stream-{stream.name}-{suffix}"]
            assert failing["MetricName"] == metric
            assert (failing["ComparisonOperator"], failing["Threshold"]) == ("LessThanThreshold", 1)
        throttled = alarms[f"stream-{stream.name}-throttled-records"]
        assert (throttled["MetricName"], throttled["Threshold"]) == ("ThrottledRecords", 0)


def test_every_function_has_error_throttle_and_near_timeout_alarms(synth: Any) -> None:
    alarms = _alarms(synth)
    pct = synth.config.alarms.duration_percent_of_timeout
    labels = {f"transformer-{s.name}": "transformer" for s in synth.config.streams}
    labels |= {n: n for n in ("converter", "autoloader", "compactor")}
    functions = synth.resources("AWS::Lambda::Function")
    for label, kind in labels.items():
        timeout = getattr(synth.config.lambda_, kind).timeout_seconds
        duration = alarms[f"{label}-duration-near-timeout"]
        assert duration["Threshold"] == timeout * 1000 * pct / 100
        for suffix, metric in (
            ("errors", "Errors"),
            ("throttles", "Throttles"),
            ("duration-near-timeout", "Duration"),
        ):
            props = alarms[f"{label}-{suffix}"]
            assert props["Namespace"] == "AWS/Lambda" and props["MetricName"] == metric
            (dim,) = props["Dimensions"]
            assert functions[logical_id_of(dim["Value"])]["Properties"]["Timeout"] == timeout


def test_every_dead_letter_queue_has_an_alarm_on_any_message(synth: Any) -> None:
    queues = synth.resources("AWS::SQS::Queue")
    dlqs = {
        logical_id_of(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    ((_, compactor),) = function_by_env(synth, "compactor")
    dlqs.add(logical_id_of(compactor["Properties"]["DeadLetterConfig"]["TargetArn"]))
    watched = {
        logical_id_of(props["Dimensions"][0]["Value"])
        for props in _alarms(synth).values()
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and props["Threshold"] == 0
        and props["ComparisonOperator"] == "GreaterThanThreshold"
    }
    assert watched == dlqs and len(dlqs) == 3
    backlog = [p for p in _alarms(synth).values() if p.get("MetricName") == "ApproximateAgeOfOldestMessage"]
    assert len(backlog) == 2 and {p["Threshold"] for p in backlog} == {synth.config.alarms.queue_age_seconds}


def test_error_rate_alarm_is_metric_math_on_the_red_metrics(synth: Any) -> None:
    t = synth.config.alarms
    for svc in synth.config.services:
        props = _alarms(synth)[f"service-{svc}-error-rate"]
        assert props["Threshold"] == t.error_rate_percent
        assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == t.error_rate_minutes
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        (expr,) = [m for m in props["Metrics"] if "Expression" in m]
        assert expr["Expression"] == f"IF(requests >= {t.min_requests_per_minute}, 100 * errors / requests, 0)"
        for metric_id, name in (("requests", "Requests"), ("errors", "Errors5xx")):
            stat = _metric(props, metric_id)["MetricStat"]
            assert stat["Metric"] == {
                "Namespace": synth.config.metrics_namespace,
                "MetricName": name,
                "Dimensions": [{"Name": "service_name", "Value": svc}],
            }
            assert (stat["Period"], stat["Stat"]) == (60, "Sum")


def test_p99_latency_alarm_uses_each_services_threshold(synth: Any) -> None:
    t = synth.config.alarms
    for svc in synth.config.services:
        props = _alarms(synth)[f"service-{svc}-p99-latency"]
        assert (props["MetricName"], props["ExtendedStatistic"], props["Period"]) == ("Latency", "p99", 60)
        assert props["Namespace"] == synth.config.metrics_namespace
        assert props["Dimensions"] == [{"Name": "service_name", "Value": svc}]
        assert props["Threshold"] == t.p99_threshold_for(svc)
        assert props["EvaluationPeriods"] == t.p99_latency_minutes


def test_per_service_thresholds_differ_where_configured(variant_synth: Any) -> None:
    alarms = _alarms(variant_synth)
    assert alarms["service-search-p99-latency"]["Threshold"] == 250
    assert alarms["service-shop-p99-latency"]["Threshold"] == 800
    assert alarms["service-auth-error-rate"]["Threshold"] == 2.5


def test_traffic_spike_alarm_is_an_anomaly_band(synth: Any) -> None:
    for svc in synth.config.services:
        props = _alarms(synth)[f"service-{svc}-traffic-spike"]
        assert props["ComparisonOperator"] == "GreaterThanUpperThreshold"
        band = _metric(props, props["ThresholdMetricId"])
        assert band["Expression"].startswith("ANOMALY_DETECTION_BAND(")
        assert band["Expression"].endswith(f", {synth.config.alarms.traffic_anomaly_stddevs:g})")
        (stat,) = [m["MetricStat"] for m in props["Metrics"] if "MetricStat" in m]
        assert stat["Metric"]["MetricName"] == "Requests" and stat["Stat"] == "Sum"


def test_contributor_insights_counts_requests_per_service_and_ip(synth: Any) -> None:
    rule = synth.one("AWS::CloudWatch::InsightRule")["Properties"]
    assert rule["RuleState"] == "ENABLED"
    assert rule["RuleName"] == f"{synth.config.name}-ip-requests"
    body_text = rule["RuleBody"]
    # The body is a JSON string with the log group names joined in by CloudFormation.
    rendered = "".join(p if isinstance(p, str) else "LOG_GROUP" for p in body_text["Fn::Join"][1])
    body = json.loads(rendered)
    assert body["Contribution"] == {
        "Keys": ["$.service_name", "$.ip_address"],
        "ValueOf": "$.requests",
        "Filters": [{"Match": "$.loglake_event", "In": [IP_REQUESTS_EVENT]}],
    }
    assert body["AggregateOn"] == "Sum" and body["LogFormat"] == "JSON"
    assert body["LogGroupNames"] == ["LOG_GROUP"] * len(synth.config.streams)
    transformer_groups = {
        logical_id_of(f["Properties"]["LoggingConfig"]["LogGroup"]) for _, f in function_by_env(synth, "transformer")
    }
    assert refs_in(body_text) == transformer_groups
    props = _alarms(synth)["ip-requests-per-minute"]
    (expr,) = props["Metrics"]
    assert expr["Expression"] == f"INSIGHT_RULE_METRIC('{rule['RuleName']}', 'MaxContributorValue')"
    assert expr["Period"] == 60
    assert props["Threshold"] == synth.config.alarms.ip_requests_per_minute


def test_subscribers_are_the_configured_endpoints(synth: Any) -> None:
    subs = sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"])
        for s in synth.resources("AWS::SNS::Subscription").values()
    )
    n = synth.config.notifications
    assert subs == sorted([("email", e) for e in n.emails] + [("https", u) for u in n.https])


def test_variant_has_both_kinds_of_subscriber(variant_synth: Any) -> None:
    assert len(variant_synth.resources("AWS::SNS::Subscription")) == 2


def test_one_dashboard_shows_red_per_service_and_pipeline_health(synth: Any) -> None:
    dashboard = synth.one("AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == synth.config.name
    body = json.dumps(dashboard["DashboardBody"])
    for svc in synth.config.services:
        assert f"{svc}: requests and errors per minute" in body and f"{svc}: 5xx error rate" in body
    for stream in synth.config.streams:
        assert f"{stream.name}: freshness" in body
    assert "Dead-letter queues" in body and "INSIGHT_RULE_METRIC" in body and "RouteLatency" in body


def test_outputs_tell_the_platform_team_where_things_are(synth: Any) -> None:
    outputs = synth.template["Outputs"]
    streams = synth.resources("AWS::KinesisFirehose::DeliveryStream")
    stream_outputs = {logical_id_of(o["Value"]) for k, o in outputs.items() if k.startswith("DeliveryStream")}
    assert stream_outputs == set(streams)
    assert outputs["GlueDatabase"]["Value"] == synth.config.database
    assert outputs["AthenaWorkgroup"]["Value"] == synth.config.workgroup
    lake = next(k for k, b in synth.resources("AWS::S3::Bucket").items() if "BucketName" in b["Properties"])
    assert outputs["LakeBucket"]["Value"] == {"Ref": lake}
    url = "".join(p if isinstance(p, str) else "<region>" for p in outputs["DashboardUrl"]["Value"]["Fn::Join"][1])
    assert url == (
        "https://<region>.console.aws.amazon.com/cloudwatch/home?region=<region>"
        f"#dashboards/dashboard/{synth.config.name}"
    )
