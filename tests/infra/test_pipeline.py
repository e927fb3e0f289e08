"""Delivery, functions, layers and events: what the template does with the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_helpers import as_list, function_by_env, logical_id_of, object_prefixes, refs_in, role_actions

from layers.build import ELF_MACHINES
from loglake.settings import CONVERTER_PROCESS_ENV, Settings
from stacks.constructs.work_queue import VISIBILITY_PER_TIMEOUT

FUNCTIONS = ("transformer", "converter", "autoloader", "compactor")


def _elf_machine(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[18:20], "little")


# --------------------------------------------------------------------------- delivery


def test_one_direct_put_stream_per_configured_stream(synth: Any) -> None:
    streams = synth.resources("AWS::KinesisFirehose::DeliveryStream")
    assert sorted(s["Properties"]["DeliveryStreamName"] for s in streams.values()) == sorted(
        s.name for s in synth.config.streams
    )
    b = synth.config.buffering
    t = synth.assertions()
    for stream in synth.config.streams:
        t.has_resource_properties(
            "AWS::KinesisFirehose::DeliveryStream",
            {
                "DeliveryStreamName": stream.name,
                "DeliveryStreamType": "DirectPut",
                "DeliveryStreamEncryptionConfigurationInput": {
                    "KeyType": "CUSTOMER_MANAGED_CMK",
                    "KeyARN": Match.any_value(),
                },
                "ExtendedS3DestinationConfiguration": Match.object_like(
                    {
                        "Prefix": "raw/",
                        "ErrorOutputPrefix": Match.string_like_regexp(r"^errors/!\{firehose:error-output-type\}/"),
                        "CompressionFormat": "GZIP",
                        "BufferingHints": {"IntervalInSeconds": b.interval_seconds, "SizeInMBs": b.size_mb},
                        "CloudWatchLoggingOptions": Match.object_like({"Enabled": True}),
                        "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": Match.any_value()}},
                    }
                ),
            },
        )


def test_each_stream_runs_its_own_transformer_with_the_buffer_hints(synth: Any) -> None:
    transformers = dict(function_by_env(synth, "transformer"))
    b = synth.config.buffering
    by_service = {}
    for stream in synth.resources("AWS::KinesisFirehose::DeliveryStream").values():
        dest = stream["Properties"]["ExtendedS3DestinationConfiguration"]
        (processor,) = dest["ProcessingConfiguration"]["Processors"]
        assert processor["Type"] == "Lambda" and dest["ProcessingConfiguration"]["Enabled"] is True
        params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
        assert float(params["BufferSizeInMBs"]) == b.processor_size_mb
        assert int(params["BufferIntervalInSeconds"]) == b.processor_interval_seconds
        assert params["RoleArn"] == dest["RoleARN"]
        fn_id = logical_id_of(params["LambdaArn"])
        assert fn_id in transformers
        env = transformers[fn_id]["Properties"]["Environment"]["Variables"]
        by_service[stream["Properties"]["DeliveryStreamName"]] = env["LOGLAKE_DEFAULT_SERVICE"]
    assert by_service == {s.name: s.default_service for s in synth.config.streams}


def test_firehose_role_writes_only_raw_and_errors(synth: Any) -> None:
    for stream in synth.resources("AWS::KinesisFirehose::DeliveryStream").values():
        role_id = logical_id_of(stream["Properties"]["ExtendedS3DestinationConfiguration"]["RoleARN"])
        granted = role_actions(synth, role_id)
        object_arns = json.dumps(granted["s3:PutObject"])
        assert "/raw/*" in object_arns and "/errors/*" in object_arns
        assert "/tables/" not in object_arns and "s3:GetObject" not in granted and "s3:DeleteObject*" not in granted
        assert "lambda:InvokeFunction" in granted and "logs:PutLogEvents" in granted


# --------------------------------------------------------------------------- functions


def test_functions_run_the_configured_runtime_architecture_and_sizes(synth: Any) -> None:
    lam = synth.config.lambda_
    for name in FUNCTIONS:
        found = function_by_env(synth, name)
        assert len(found) == (len(synth.config.streams) if name == "transformer" else 1)
        sizing = getattr(lam, name)
        for _, fn in found:
            props = fn["Properties"]
            assert props["Runtime"] == f"python{lam.python_version}"
            assert props["Architectures"] == [lam.architecture]
            assert props["MemorySize"] == sizing.memory_mb
            assert props["Timeout"] == sizing.timeout_seconds
            assert props["Handler"] == "handler.handler"
            group = synth.template["Resources"][logical_id_of(props["LoggingConfig"]["LogGroup"])]
            assert group["Type"] == "AWS::Logs::LogGroup"


def test_loglake_ships_once_in_a_layer_every_function_shares(synth: Any) -> None:
    layers = synth.resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleArchitectures"] == [synth.config.lambda_.architecture]
        assert layer["Properties"]["CompatibleRuntimes"] == [f"python{synth.config.lambda_.python_version}"]
    expected = [{"Ref": k} for k in layers]
    for fn in synth.resources("AWS::Lambda::Function").values():
        assert sorted(fn["Properties"]["Layers"], key=str) == sorted(expected, key=str)


def _asset_dir(synth: Any, code: dict[str, Any]) -> Path:
    """The staged folder of a function's ``Code`` or a layer's ``Content``, from the asset manifest."""
    (manifest,) = synth.outdir.glob("*.assets.json")
    asset_hash = code["S3Key"].removesuffix(".zip")
    source = json.loads(manifest.read_text())["files"][asset_hash]["source"]
    assert source["packaging"] == "zip"
    return synth.outdir / source["path"]


def test_the_layers_hold_loglake_and_wheels_for_the_function_architecture(synth: Any) -> None:
    layers = synth.resources("AWS::Lambda::LayerVersion")
    dirs = {_asset_dir(synth, layer["Properties"]["Content"]) for layer in layers.values()}
    (code,) = [d for d in dirs if (d / "python" / "loglake").is_dir()]
    (deps,) = dirs - {code}
    arch = synth.config.lambda_.architecture
    assert (code / "python" / "loglake" / "schema.py").is_file()
    assert _elf_machine(code / "python" / "loglake" / "_linehead.abi3.so") == ELF_MACHINES[arch]
    assert not (deps / "python" / "loglake").exists(), "loglake must ship once, in the code layer"
    cp = "cp" + synth.config.lambda_.python_version.replace(".", "")
    orjson = next((deps / "python" / "orjson").glob("orjson*.so"))
    assert _elf_machine(orjson) == ELF_MACHINES[arch]
    assert cp[2:] in orjson.name
    assert _elf_machine(next((deps / "python" / "pyarrow").glob("libarrow.so*"))) == ELF_MACHINES[arch]


def test_function_code_is_the_function_folder_alone(synth: Any) -> None:
    for _, fn in [f for name in FUNCTIONS for f in function_by_env(synth, name)]:
        asset = _asset_dir(synth, fn["Properties"]["Code"])
        files = sorted(p.name for p in asset.rglob("*") if p.is_file())
        assert "handler.py" in files and not any(f.endswith(".pyc") for f in files)
        assert not (asset / "loglake").exists()


def _placeholder_env(env: dict[str, Any]) -> dict[str, str]:
    """Environment values with CloudFormation references replaced by realistic text."""
    out = {}
    for key, value in env.items():
        if isinstance(value, str):
            out[key] = value
        elif key == "LOGLAKE_LAKE_URI":
            out[key] = "s3://lake-bucket"
        else:
            out[key] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hash-key"
    return out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_environment_is_what_loglake_settings_reads(synth: Any, name: str) -> None:
    cfg = synth.config
    for _, fn in function_by_env(synth, name):
        env = fn["Properties"]["Environment"]["Variables"]
        lake = next(k for k, b in synth.resources("AWS::S3::Bucket").items() if "BucketName" in b["Properties"])
        assert env["LOGLAKE_LAKE_URI"] == {"Fn::Join": ["", ["s3://", {"Ref": lake}]]}
        settings = Settings.from_env(_placeholder_env(env))
        assert settings.catalog_kind == "athena"
        assert settings.database == cfg.database
        assert settings.athena_workgroup == cfg.workgroup
        assert settings.metrics_namespace == cfg.metrics_namespace
        assert env["POWERTOOLS_SERVICE_NAME"] == f"loglake-{name}"
        assert env["POWERTOOLS_LOG_LEVEL"] == cfg.lambda_.log_level
        if name == "transformer":
            assert settings.sampling == cfg.sampling_env()
            assert settings.scrub == cfg.scrub_env()
            assert settings.hash_key_secret and not settings.hash_key
            assert env["LOGLAKE_DEFAULT_SERVICE"] in cfg.services
        else:
            assert not {"LOGLAKE_SAMPLING", "LOGLAKE_SCRUB", "LOGLAKE_HASH_KEY_SECRET"} & set(env)
        if name == "converter":  # read by Arrow as it loads, before the handler runs
            assert env["ARROW_DEFAULT_MEMORY_POOL"] == CONVERTER_PROCESS_ENV["ARROW_DEFAULT_MEMORY_POOL"] == "system"
        else:
            assert "ARROW_DEFAULT_MEMORY_POOL" not in env


def test_sampling_reaches_the_transformer_per_service(variant_synth: Any) -> None:
    (_, fn), *_ = function_by_env(variant_synth, "transformer")
    sampling = json.loads(fn["Properties"]["Environment"]["Variables"]["LOGLAKE_SAMPLING"])
    assert sampling == {
        "default": {"rate": 0.2, "slow_ms": 750.0},
        "services": {
            "shop": {"rate": 0.2, "slow_ms": 750.0, "truncate_ip": True},
            "search": {"rate": 0.2, "slow_ms": 750.0, "truncate_ip": False},
            "auth": {"rate": 1.0, "slow_ms": 750.0, "truncate_ip": True},
        },
    }


@pytest.mark.parametrize(
    ("name", "reads", "writes", "deletes"),
    [
        ("converter", ["raw/"], ["tables/", "quarantine/"], []),
        ("compactor", ["tables/", "athena/"], ["tables/", "athena/"], ["tables/"]),
        ("autoloader", ["athena/"], ["athena/"], []),
        ("transformer", [], [], []),
    ],
)
def test_each_function_reaches_only_its_prefixes(
    synth: Any, name: str, reads: list[str], writes: list[str], deletes: list[str]
) -> None:
    for _, fn in function_by_env(synth, name):
        granted = role_actions(synth, logical_id_of(fn["Properties"]["Role"]))
        for action, expected in (
            ("s3:GetObject*", reads),
            ("s3:PutObject", writes),
            ("s3:DeleteObject*", deletes),
        ):
            assert sorted(object_prefixes(granted.get(action, []))) == sorted(expected), action


def test_the_compactor_switches_partition_locations_and_nothing_more(synth: Any) -> None:
    ((_, fn),) = function_by_env(synth, "compactor")
    granted = role_actions(synth, logical_id_of(fn["Properties"]["Role"]))
    assert {"glue:UpdatePartition", "glue:GetPartitions", "athena:StartQueryExecution"} <= set(granted)
    assert not {a for a in granted if a.startswith(("glue:Delete", "glue:Create", "glue:BatchCreate"))}


def test_the_autoloader_adds_partitions_through_the_workgroup_only(synth: Any) -> None:
    ((_, fn),) = function_by_env(synth, "autoloader")
    granted = role_actions(synth, logical_id_of(fn["Properties"]["Role"]))
    assert {"glue:BatchCreatePartition", "glue:GetTable", "athena:StartQueryExecution"} <= set(granted)
    assert not {a for a in granted if a.startswith("glue:Delete") or a.startswith("glue:Update")}
    workgroup = json.dumps(granted["athena:StartQueryExecution"])
    assert f":workgroup/{synth.config.workgroup}" in workgroup
    tables = json.dumps(granted["glue:BatchCreatePartition"])
    assert f":table/{synth.config.database}/access_logs" in tables


# --------------------------------------------------------------------------- events


def test_s3_notifies_one_queue_per_consumer(synth: Any) -> None:
    (lake_id, lake) = next(
        (k, b) for k, b in synth.resources("AWS::S3::Bucket").items() if "BucketName" in b["Properties"]
    )
    configs = lake["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    filters = {
        logical_id_of(c["Queue"]): {r["Name"]: r["Value"] for r in c["Filter"]["S3Key"]["Rules"]} for c in configs
    }
    assert sorted(filters.values(), key=str) == sorted(
        [{"prefix": "raw/"}, {"prefix": "tables/access_logs/", "suffix": ".parquet"}], key=str
    )
    assert all(c["Event"] == "s3:ObjectCreated:*" for c in configs)
    # S3 checks the destination when the configuration is set: the bucket waits for the queue policies.
    policies = {
        k
        for k, p in synth.resources("AWS::SQS::QueuePolicy").items()
        if refs_in(p["Properties"]["Queues"]) & set(filters)
    }
    assert policies and policies <= set(lake["DependsOn"])
    # No custom resource (CDK's notification handler would need s3:PutBucketNotification on "*").
    assert not synth.resources("Custom::S3BucketNotifications")
    assert lake_id


def test_queues_feed_their_functions_with_partial_batch_responses(synth: Any) -> None:
    queues = synth.resources("AWS::SQS::Queue")
    functions = synth.resources("AWS::Lambda::Function")
    mappings = synth.resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 2
    for mapping in mappings.values():
        props = mapping["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = queues[logical_id_of(props["EventSourceArn"])]
        fn = functions[logical_id_of(props["FunctionName"])]
        timeout = fn["Properties"]["Timeout"]
        assert queue["Properties"]["VisibilityTimeout"] >= VISIBILITY_PER_TIMEOUT * timeout
        assert "RedrivePolicy" in queue["Properties"]


def test_the_compactor_runs_on_the_configured_schedule(synth: Any) -> None:
    rule = synth.one("AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == synth.config.compaction.schedule
    (target,) = rule["Properties"]["Targets"]
    ((compactor_id, compactor),) = function_by_env(synth, "compactor")
    assert logical_id_of(target["Arn"]) == compactor_id
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert logical_id_of(target["DeadLetterConfig"]["Arn"]) == logical_id_of(
        compactor["Properties"]["DeadLetterConfig"]["TargetArn"]
    )
    assert as_list(synth.one("AWS::Lambda::Permission")["Properties"]["Principal"]) == ["events.amazonaws.com"]
