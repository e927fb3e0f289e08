"""Lifecycle per prefix equals the settings; small objects stay put; Object Lock when asked."""

from __future__ import annotations

from typing import Any


def _buckets(synth: Any) -> dict[str, dict[str, Any]]:
    """``lake``, ``results``, ``access_logs`` → bucket properties (told apart by meaning, not by id)."""
    out = {}
    for bucket in synth.resources("AWS::S3::Bucket").values():
        props = bucket["Properties"]
        if "BucketName" in props:
            out["lake"] = props
        elif "LoggingConfiguration" in props:
            out["results"] = props
        else:
            out["access_logs"] = props
    assert set(out) == {"lake", "results", "access_logs"}
    return out


def _rules(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}


def test_lake_lifecycle_days_equal_the_settings(synth: Any) -> None:
    r = synth.config.retention
    rules = _rules(_buckets(synth)["lake"])
    assert (rules["expire-raw"]["Prefix"], rules["expire-raw"]["ExpirationInDays"]) == ("raw/", r.raw_days)
    assert (rules["expire-errors"]["Prefix"], rules["expire-errors"]["ExpirationInDays"]) == (
        "errors/",
        r.errors_days,
    )
    for transient in ("expire-raw", "expire-errors"):
        assert rules[transient]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    quarantine = rules["expire-quarantine"]
    assert (quarantine["Prefix"], quarantine["ExpirationInDays"]) == ("quarantine/", r.quarantine_days)
    expire = rules["expire-tables"]
    assert (expire["Prefix"], expire["ExpirationInDays"]) == ("tables/", r.expire_after_days)
    tier = rules["tier-tables"]
    assert tier["Prefix"] == "tables/"
    assert tier["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": r.ia_after_days},
        {"StorageClass": "GLACIER", "TransitionInDays": r.glacier_after_days},
    ]
    housekeeping = rules["housekeeping"]
    assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": r.noncurrent_days}
    assert housekeeping["ExpiredObjectDeleteMarker"] is True
    assert housekeeping["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def test_small_objects_are_not_transitioned(synth: Any) -> None:
    lake = _buckets(synth)["lake"]
    assert lake["LifecycleConfiguration"]["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    tier = _rules(lake)["tier-tables"]
    assert tier["ObjectSizeGreaterThan"] == str(synth.config.retention.min_transition_bytes)


def test_the_default_settings_keep_tables_seven_years(default_synth: Any) -> None:
    rules = _rules(_buckets(default_synth)["lake"])
    assert rules["expire-tables"]["ExpirationInDays"] == 7 * 365 + 2
    assert [t["TransitionInDays"] for t in rules["tier-tables"]["Transitions"]] == [30, 90]


def test_variant_settings_reach_the_template(variant_synth: Any) -> None:
    rules = _rules(_buckets(variant_synth)["lake"])
    assert rules["expire-raw"]["ExpirationInDays"] == 3
    assert [t["TransitionInDays"] for t in rules["tier-tables"]["Transitions"]] == [45, 120]
    assert rules["expire-tables"]["ExpirationInDays"] == 3650


def test_athena_results_and_access_logs_expire(synth: Any) -> None:
    r = synth.config.retention
    buckets = _buckets(synth)
    (results,) = _rules(buckets["results"]).values()
    assert results["ExpirationInDays"] == r.athena_results_days
    (logs,) = _rules(buckets["access_logs"]).values()
    assert logs["ExpirationInDays"] == r.access_log_days
    assert logs["NoncurrentVersionExpiration"] == {"NoncurrentDays": r.noncurrent_days}


def test_lake_name_is_derived_from_name_account_and_region(synth: Any) -> None:
    name = _buckets(synth)["lake"]["BucketName"]
    parts = name["Fn::Join"][1]
    assert parts == [f"{synth.config.name}-lake-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}]


def test_object_lock_only_when_enabled(default_synth: Any, variant_synth: Any) -> None:
    assert "ObjectLockEnabled" not in _buckets(default_synth)["lake"]
    lake = _buckets(variant_synth)["lake"]
    assert lake["ObjectLockEnabled"] is True
    assert lake["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 5 * 365}},
    }


def test_buckets_are_retained_when_the_stack_goes(synth: Any) -> None:
    for logical_id, bucket in synth.resources("AWS::S3::Bucket").items():
        assert bucket["DeletionPolicy"] == "Retain", logical_id
        assert bucket["UpdateReplacePolicy"] == "Retain", logical_id
