"""The whole pipeline as one construct: ``LogLake(scope, id, config=…)``; another CDK app can import it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from layers.build import LayerDirs, build_layers
from loglake.schema import TABLE_NAME
from loglake.settings import CONVERTER_PROCESS_ENV
from stacks import grants
from stacks.config import LoglakeConfig
from stacks.constructs.alarm_topic import AlarmTopic
from stacks.constructs.catalog import LakeCatalog
from stacks.constructs.dashboard import PipelineDashboard
from stacks.constructs.dead_letter_queue import DeadLetterQueue
from stacks.constructs.delivery_stream import LogDeliveryStream
from stacks.constructs.encryption import LakeKeys
from stacks.constructs.function import PipelineFunction
from stacks.constructs.hash_key import HashKeySecret
from stacks.constructs.named_queries import StandardQueries
from stacks.constructs.pipeline_alarms import PipelineAlarms
from stacks.constructs.service_alarms import ServiceAlarms
from stacks.constructs.shared_layers import SharedLayers
from stacks.constructs.storage import QUARANTINE_PREFIX, RAW_PREFIX, TABLES_PREFIX, LakeStorage
from stacks.constructs.work_queue import WorkQueue

#: One folder per function, each with ``handler.py`` (``handler(event, context)``).
LAMBDAS_DIR: Final = Path(__file__).resolve().parents[2] / "lambdas"

RUNTIMES: Final = {
    "3.12": lambda_.Runtime.PYTHON_3_12,
    "3.13": lambda_.Runtime.PYTHON_3_13,
    "3.14": lambda_.Runtime.PYTHON_3_14,
}
ARCHITECTURES: Final = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
LOG_RETENTION: Final = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

#: Objects per converter invocation: one raw object is at most buffering.size_mb of JSON.
CONVERTER_BATCH: Final = 5
#: Keys per autoloader invocation, gathered for up to 20 s: one ALTER TABLE … ADD PARTITION per batch.
AUTOLOADER_BATCH: Final = 100
AUTOLOADER_WINDOW: Final = cdk.Duration.seconds(20)
#: Athena allows 20 concurrent DDL queries per account by default; two autoloaders leave room for people.
AUTOLOADER_CONCURRENCY: Final = 2


class LogLake(Construct):
    """Every resource of one loglake deployment, wired and granted least privilege.

    Parameters
    ----------
    config:
        The validated settings (:func:`stacks.config.load_config`).
    layer_dirs:
        Prebuilt layer folders; by default :func:`layers.build.build_layers` builds (or reuses) them for the
        configured architecture and Python version.
    lambdas_dir:
        The folder holding ``transformer/``, ``converter/``, ``autoloader/`` and ``compactor/``.

    Attributes
    ----------
    keys, storage, catalog, queries, layers, hash_key, topic, alarms, service_alarms, dashboard:
        The parts, each a construct exposing its resources.
    delivery_streams, transformers:
        Stream name → :class:`LogDeliveryStream` / its transformer :class:`PipelineFunction`.
    producer_policy:
        A managed policy allowing ``PutRecord``/``PutRecordBatch`` on the streams, for application roles.
    converter, autoloader, compactor:
        The other functions.
    work_queues, dead_letter_queues:
        Label → queue.

    Example
    -------
    >>> from stacks.config import load_config  # doctest: +SKIP
    >>> lake = LogLake(stack, "LogLake", config=load_config({}))  # doctest: +SKIP
    >>> lake.storage.lake_bucket.bucket_name  # doctest: +SKIP
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: LoglakeConfig,
        layer_dirs: LayerDirs | None = None,
        lambdas_dir: Path = LAMBDAS_DIR,
    ) -> None:
        super().__init__(scope, id)
        cfg = config
        self.config = cfg
        runtime = RUNTIMES[cfg.lambda_.python_version]
        architecture = ARCHITECTURES[cfg.lambda_.architecture]
        log_retention = LOG_RETENTION[cfg.retention.log_days]
        dirs = layer_dirs or build_layers(
            architecture=cfg.lambda_.architecture, python_version=cfg.lambda_.python_version
        )

        self.keys = LakeKeys(self, "Keys", name=cfg.name)
        self.storage = LakeStorage(
            self,
            "Storage",
            name=cfg.name,
            data_key=self.keys.data_key,
            retention=cfg.retention,
            object_lock=cfg.object_lock,
        )
        bucket = self.storage.lake_bucket
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            database_name=cfg.database,
            workgroup_name=cfg.workgroup,
            lake_bucket=bucket,
            results_bucket=self.storage.results_bucket,
            data_key=self.keys.data_key,
            bytes_scanned_cutoff=round(cfg.athena.bytes_scanned_cutoff_gb * 1024**3),
        )
        self.queries = StandardQueries(
            self,
            "Queries",
            database=cfg.database,
            workgroup=self.catalog.workgroup,
            slow_ms=cfg.sampling.default.slow_ms,
            prefix=cfg.name,
        )
        self.layers = SharedLayers(self, "Layers", dirs=dirs, architecture=architecture, runtime=runtime)
        self.hash_key = HashKeySecret(self, "HashKey", name=cfg.name, key=self.keys.data_key)
        self.topic = AlarmTopic(
            self, "Alarms", name=cfg.name, key=self.keys.telemetry_key, notifications=cfg.notifications
        )
        self.alarms = PipelineAlarms(
            self,
            "PipelineAlarms",
            topic=self.topic.topic,
            alarm_name_prefix=self.topic.alarm_name_prefix,
            thresholds=cfg.alarms,
        )

        base_env = {
            "LOGLAKE_LAKE_URI": f"s3://{bucket.bucket_name}",
            "LOGLAKE_CATALOG": "athena",
            "LOGLAKE_DATABASE": cfg.database,
            "LOGLAKE_ATHENA_WORKGROUP": cfg.workgroup,
            "LOGLAKE_METRICS_NAMESPACE": cfg.metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": cfg.lambda_.log_level,
        }

        def function(
            construct_id: str, name: str, description: str, extra_env: dict[str, str], **kwargs: object
        ) -> PipelineFunction:
            return PipelineFunction(
                self,
                construct_id,
                code_dir=lambdas_dir / name,
                description=description,
                sizing=getattr(cfg.lambda_, name),
                runtime=runtime,
                architecture=architecture,
                layers=[self.layers.dependencies, self.layers.code],
                environment={**base_env, "POWERTOOLS_SERVICE_NAME": f"loglake-{name}", **extra_env},
                log_key=self.keys.telemetry_key,
                log_retention=log_retention,
                **kwargs,  # type: ignore[arg-type]
            )

        # Ingest: one transformer per stream, since each stream has its own default service.
        self.transformers: dict[str, PipelineFunction] = {}
        self.delivery_streams: dict[str, LogDeliveryStream] = {}
        transformer_env = {
            "LOGLAKE_HASH_KEY_SECRET": self.hash_key.secret.secret_arn,
            "LOGLAKE_SAMPLING": json.dumps(cfg.sampling_env(), separators=(",", ":")),
            "LOGLAKE_SCRUB": json.dumps(cfg.scrub_env(), separators=(",", ":")),
        }
        for stream in cfg.streams:
            transformer = function(
                f"Transformer-{stream.name}",
                "transformer",
                f"loglake: Firehose processor of {stream.name} (parse, scrub, sample, RED metrics)",
                {**transformer_env, "LOGLAKE_DEFAULT_SERVICE": stream.default_service},
                failures_go_to="Firehose retries a batch, then writes it to errors/processing-failed/.",
            )
            self.transformers[stream.name] = transformer
            self.delivery_streams[stream.name] = LogDeliveryStream(
                self,
                f"Stream-{stream.name}",
                stream_name=stream.name,
                bucket=bucket,
                data_key=self.keys.data_key,
                processor=transformer.function,
                buffering=cfg.buffering,
                log_key=self.keys.telemetry_key,
                log_retention=log_retention,
            )
        self.hash_key.restrict_reading_to([t.role for t in self.transformers.values()])
        # What an application's role needs to send logs: attach this policy to it.
        self.producer_policy = iam.ManagedPolicy(
            self,
            "ProducerPolicy",
            description=f"{cfg.name}: send log events to the delivery streams (attach to application roles)",
            statements=[
                iam.PolicyStatement(
                    sid="PutLogEvents",
                    actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                    resources=[s.stream.attr_arn for s in self.delivery_streams.values()],
                )
            ],
        )

        # raw/ → Parquet under tables/.
        converter_queue = WorkQueue(
            self,
            "ConverterQueue",
            consumer_timeout=cdk.Duration.seconds(cfg.lambda_.converter.timeout_seconds),
        )
        self.converter = function(
            "Converter",
            "converter",
            "loglake: raw/ NDJSON object to partitioned Parquet under tables/, bad lines to quarantine/",
            dict(CONVERTER_PROCESS_ENV),
            failures_go_to="a failed object stays on the converter queue, then goes to its dead-letter queue",
        )
        self.storage.notify_queue(queue=converter_queue.queue, prefix=RAW_PREFIX)
        self.converter.function.add_event_source(
            sources.SqsEventSource(converter_queue.queue, batch_size=CONVERTER_BATCH, report_batch_item_failures=True)
        )
        converter_role = self.converter.role
        grants.read_objects(bucket, converter_role, RAW_PREFIX, purpose="the converter reads each new raw object.")
        grants.put_objects(bucket, converter_role, TABLES_PREFIX, purpose="the converter writes Parquet files.")
        grants.put_objects(bucket, converter_role, QUARANTINE_PREFIX, purpose="the converter sets bad lines aside.")

        # New Parquet files → partitions in the catalog.
        autoloader_queue = WorkQueue(
            self,
            "AutoloaderQueue",
            consumer_timeout=cdk.Duration.seconds(cfg.lambda_.autoloader.timeout_seconds),
        )
        self.autoloader = function(
            "Autoloader",
            "autoloader",
            "loglake: new Parquet keys to ALTER TABLE access_logs ADD IF NOT EXISTS PARTITION via Athena",
            {},
            failures_go_to="a failed key stays on the autoloader queue, then goes to its dead-letter queue.",
        )
        self.storage.notify_queue(
            queue=autoloader_queue.queue, prefix=f"{TABLES_PREFIX}{TABLE_NAME}/", suffix=".parquet"
        )
        self.autoloader.function.add_event_source(
            sources.SqsEventSource(
                autoloader_queue.queue,
                batch_size=AUTOLOADER_BATCH,
                max_batching_window=AUTOLOADER_WINDOW,
                max_concurrency=AUTOLOADER_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        self.catalog.grant_add_partitions(self.autoloader.role)

        # Hourly: merge a closed hour's small Parquet files.
        compactor_failures = DeadLetterQueue(self, "CompactorFailures").queue
        self.compactor = function(
            "Compactor",
            "compactor",
            "loglake: merges the small Parquet files of closed hours under tables/",
            {},
            dead_letter_queue=compactor_failures,
        )
        events.Rule(
            self,
            "CompactionSchedule",
            description="loglake: run the compactor",
            schedule=events.Schedule.expression(cfg.compaction.schedule),
            targets=[
                targets.LambdaFunction(
                    self.compactor.function,
                    dead_letter_queue=compactor_failures,
                    retry_attempts=2,
                    max_event_age=cdk.Duration.hours(1),
                )
            ],
        )
        compactor_role = self.compactor.role
        grants.read_objects(bucket, compactor_role, TABLES_PREFIX, purpose="the compactor reads an hour's files.")
        grants.put_objects(bucket, compactor_role, TABLES_PREFIX, purpose="the compactor writes merged files.")
        grants.delete_objects(
            bucket, compactor_role, TABLES_PREFIX, purpose="the compactor deletes the small files it merged."
        )
        self.catalog.grant_switch_locations(compactor_role)

        # Monitoring.
        self.work_queues = {"converter": converter_queue.queue, "autoloader": autoloader_queue.queue}
        self.dead_letter_queues = {
            "converter": converter_queue.dead_letter_queue,
            "autoloader": autoloader_queue.dead_letter_queue,
            "compactor": compactor_failures,
        }
        functions = {f"transformer-{name}": t for name, t in self.transformers.items()}
        functions |= {"converter": self.converter, "autoloader": self.autoloader, "compactor": self.compactor}
        for stream in cfg.streams:
            self.alarms.watch_stream(stream.name)
        for label, pf in functions.items():
            self.alarms.watch_function(label, pf.function, timeout_seconds=pf.timeout_seconds)
        for label, queue in self.work_queues.items():
            self.alarms.watch_work_queue(label, queue)
        for label, queue in self.dead_letter_queues.items():
            self.alarms.watch_dead_letter_queue(label, queue)
        self.service_alarms = ServiceAlarms(
            self,
            "ServiceAlarms",
            services=cfg.services,
            namespace=cfg.metrics_namespace,
            thresholds=cfg.alarms,
            alarms=self.alarms,
            transformer_log_groups=[t.log_group for t in self.transformers.values()],
            rule_name=f"{cfg.name}-ip-requests",
        )
        self.dashboard = PipelineDashboard(
            self,
            "Dashboard",
            dashboard_name=cfg.name,
            services=cfg.services,
            namespace=cfg.metrics_namespace,
            thresholds=cfg.alarms,
            stream_names=[s.name for s in cfg.streams],
            functions={label: pf.function for label, pf in functions.items()},
            work_queues=self.work_queues,
            dead_letter_queues=self.dead_letter_queues,
            ip_rule_name=self.service_alarms.rule_name,
            alarms=self.alarms.alarms,
        )
