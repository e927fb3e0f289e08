"""What a security review reads in the template: encryption, TLS, public access, IAM scope, the hash key."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match
from infra_helpers import as_list, logical_id_of, policy_statements, refs_in

#: Actions AWS authorises only on ``Resource: "*"``; an identity policy may use ``*`` for these alone.
#: None of the pipeline's roles needs one today (no X-Ray, no metric API calls: metrics go out as EMF).
ACTIONS_ONLY_ON_STAR: frozenset[str] = frozenset()


def test_every_bucket_is_encrypted_private_versioned_and_tls_only(synth: Any) -> None:
    buckets = synth.resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    policies = synth.resources("AWS::S3::BucketPolicy")
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert sse["SSEAlgorithm"] in ("aws:kms", "AES256"), logical_id
        if sse["SSEAlgorithm"] == "aws:kms":
            assert "KMSMasterKeyID" in sse, f"{logical_id} uses the AWS-managed key, not the customer key"
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        (policy,) = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": logical_id}]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), f"{logical_id} accepts plain HTTP"
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"NumericLessThan": {"s3:TlsVersion": 1.2}}
            for s in statements
        ), f"{logical_id} accepts TLS older than 1.2"


def test_data_buckets_use_the_data_key_and_log_their_access(synth: Any) -> None:
    t = synth.assertions()
    keys = synth.resources("AWS::KMS::Key")
    (data_key,) = [k for k, r in keys.items() if "log data" in r["Properties"]["Description"]]
    kms = [b for b in synth.resources("AWS::S3::Bucket").values() if "LoggingConfiguration" in b["Properties"]]
    assert len(kms) == 2
    for bucket in kms:
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [data_key, "Arn"]}
        assert rule["BucketKeyEnabled"] is True  # one KMS call per bucket key, not per object
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": Match.any_value(),
            "LoggingConfiguration": {"DestinationBucketName": Match.any_value()},
        },
    )


def test_customer_keys_rotate_and_are_retained(synth: Any) -> None:
    keys = synth.resources("AWS::KMS::Key")
    assert len(keys) == 2
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"


def test_every_queue_has_a_dead_letter_queue_or_is_one(synth: Any) -> None:
    queues = synth.resources("AWS::SQS::Queue")
    dlq_ids = {
        logical_id_of(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    # Dead-letter destinations of asynchronous work: the schedule target's and the compactor's.
    for rule in synth.resources("AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            dlq_ids.add(logical_id_of(target["DeadLetterConfig"]["Arn"]))
    for fn in synth.resources("AWS::Lambda::Function").values():
        if "DeadLetterConfig" in fn["Properties"]:
            dlq_ids.add(logical_id_of(fn["Properties"]["DeadLetterConfig"]["TargetArn"]))
    with_dlq = {k for k, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert with_dlq | dlq_ids == set(queues), f"queues neither with nor as a DLQ: {set(queues) - with_dlq - dlq_ids}"
    assert with_dlq and dlq_ids and not (with_dlq & dlq_ids)


def test_every_queue_is_encrypted_and_tls_only(synth: Any) -> None:
    queue_policies = synth.resources("AWS::SQS::QueuePolicy")
    for logical_id, queue in synth.resources("AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue["Properties"]
        statements = [
            s
            for p in queue_policies.values()
            if {"Ref": logical_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), f"{logical_id} accepts plain HTTP"


def test_no_iam_statement_grants_every_action(synth: Any) -> None:
    for logical_id, statement in policy_statements(synth):
        actions = as_list(statement.get("Action", []))
        assert "*" not in actions, f"{logical_id} allows every action"
        assert not any(a.endswith(":*") for a in actions), f"{logical_id} allows a whole service: {actions}"


def test_resource_star_only_for_actions_aws_allows_only_on_star(synth: Any) -> None:
    for logical_id, statement in policy_statements(synth):
        if "*" in as_list(statement["Resource"]):
            extra = set(as_list(statement["Action"])) - ACTIONS_ONLY_ON_STAR
            assert not extra, f"{logical_id} grants {sorted(extra)} on every resource"


def test_roles_carry_no_managed_policies_and_trust_one_service(synth: Any) -> None:
    for logical_id, role in synth.resources("AWS::IAM::Role").items():
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props, f"{logical_id} has managed policies"
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"]["Service"] in ("lambda.amazonaws.com", "firehose.amazonaws.com")


def test_firehose_role_is_guarded_against_the_confused_deputy(synth: Any) -> None:
    roles = [
        r
        for r in synth.resources("AWS::IAM::Role").values()
        if "firehose" in str(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(roles) == len(synth.config.streams)
    for role in roles:
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}


def test_the_hash_key_is_readable_only_by_the_transformers(synth: Any) -> None:
    (secret_id,) = synth.resources("AWS::SecretsManager::Secret")
    functions = synth.resources("AWS::Lambda::Function")
    transformer_roles = {
        logical_id_of(f["Properties"]["Role"])
        for f in functions.values()
        if "LOGLAKE_HASH_KEY_SECRET" in f["Properties"]["Environment"]["Variables"]
    }
    assert len(transformer_roles) == len(synth.config.streams)
    readers = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
                assert statement["Resource"] == {"Ref": secret_id}
                readers |= {r["Ref"] for r in policy["Properties"]["Roles"]}
    assert readers == transformer_roles
    (resource_policy,) = synth.resources("AWS::SecretsManager::ResourcePolicy").values()
    (deny,) = resource_policy["Properties"]["ResourcePolicy"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "secretsmanager:GetSecretValue"
    allowed = {logical_id_of(arn) for arn in as_list(deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"])}
    assert allowed == transformer_roles
    # Environment carries the secret's ARN, never the key.
    for fn in functions.values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert "LOGLAKE_HASH_KEY" not in env
        if "LOGLAKE_HASH_KEY_SECRET" in env:
            assert env["LOGLAKE_HASH_KEY_SECRET"] == {"Ref": secret_id}


def test_the_secret_is_encrypted_with_the_data_key_and_retained(synth: Any) -> None:
    secret = synth.one("AWS::SecretsManager::Secret")
    assert "Fn::GetAtt" in secret["Properties"]["KmsKeyId"]
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] == 64


def test_log_groups_are_encrypted_and_expire(synth: Any) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")
    # One per function (a transformer per stream, converter, autoloader, compactor) and per delivery stream.
    assert len(groups) == 2 * len(synth.config.streams) + 3
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == synth.config.retention.log_days
        assert "Fn::GetAtt" in group["Properties"]["KmsKeyId"]


def test_the_alarm_topic_is_encrypted_and_only_this_deployments_alarms_publish(synth: Any) -> None:
    topic_id, topic = next(iter(synth.resources("AWS::SNS::Topic").items()))
    assert "KmsMasterKeyId" in topic["Properties"]
    (policy,) = synth.resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (publish,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == {"Ref": topic_id}
    source_arn = publish["Condition"]["ArnLike"]["aws:SourceArn"]
    assert f":alarm:{synth.config.name}-*" in str(source_arn)
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in str(s.get("Condition")) for s in statements)


def test_s3_may_notify_the_work_queues_only_for_the_lake_bucket(synth: Any) -> None:
    lake_name = f"{synth.config.name}-lake-"
    statements = [
        s
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "s3.amazonaws.com"}
    ]
    assert len(statements) == 2
    for s in statements:
        assert s["Action"] == "sqs:SendMessage"
        assert lake_name in str(s["Condition"]["ArnEquals"]["aws:SourceArn"])
        assert s["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert refs_in(s["Resource"])


def test_applications_get_a_policy_to_send_and_nothing_more(synth: Any) -> None:
    ((policy_id, policy),) = synth.resources("AWS::IAM::ManagedPolicy").items()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    streams = synth.resources("AWS::KinesisFirehose::DeliveryStream")
    assert {logical_id_of(arn) for arn in as_list(statement["Resource"])} == set(streams)
    assert not {"Roles", "Users", "Groups"} & set(policy["Properties"])
    assert synth.template["Outputs"]["ProducerPolicyArn"]["Value"] == {"Ref": policy_id}
