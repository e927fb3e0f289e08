"""Pipeline settings: the one typed door from ``cdk.json`` context into the CDK app.

Every setting lives under one context key, ``loglake``. :func:`config_from_context` reads it (a mapping from
``cdk.json``, or a JSON string from ``cdk synth -c loglake='{…}'``), applies dotted overrides such as
``cdk synth -c loglake.retention.raw_days=3``, and returns a frozen :class:`LoglakeConfig`. Every bad value is
reported at once, each with its path and how to fix it, in one :class:`~loglake.errors.ConfigError`.

Each setting is declared once, below, with its default, its bounds and its documentation; the reader
(:mod:`stacks._settings`) and the settings table in ``docs/deploy.md`` (:func:`settings_reference`) both come
from these declarations. No construct reads context: the stack receives a :class:`LoglakeConfig`.

Example
-------
>>> cfg = load_config({"services": ["shop"], "streams": [{"name": "shop-logs", "default_service": "shop"}]})
>>> cfg.retention.expire_after_days, cfg.lambda_.architecture
(2557, 'arm64')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from loglake.errors import RecordError
from loglake.quarantine import RETENTION_DAYS as QUARANTINE_RETENTION_DAYS
from loglake.schema import validate_service_name
from stacks._settings import (
    Reader,
    SettingRow,
    describe,
    markdown_table,
    merge_context,
    no_overrides,
    setting,
)

__all__ = [
    "CONTEXT_KEY",
    "AlarmConfig",
    "AthenaConfig",
    "BufferingConfig",
    "CompactionConfig",
    "FunctionConfig",
    "LambdaConfig",
    "LoglakeConfig",
    "NotificationConfig",
    "ObjectLockConfig",
    "RetentionConfig",
    "SamplingConfig",
    "SamplingRule",
    "ScrubPattern",
    "ScrubbingConfig",
    "ServiceAlarms",
    "ServiceSampling",
    "ServiceScrubbing",
    "StreamConfig",
    "config_from_context",
    "load_config",
    "settings_reference",
    "settings_table",
]

#: The context key that holds every pipeline setting.
CONTEXT_KEY: Final = "loglake"

#: S3 keeps objects 30 days in Standard before Standard-IA and bills Standard-IA for at least 30 days.
IA_MINIMUM_DAYS: Final = 30
#: Glacier Flexible Retrieval bills every object for at least 90 days.
GLACIER_MINIMUM_DAYS: Final = 90
#: Firehose invokes its data-transformation Lambda synchronously and waits at most 5 minutes.
FIREHOSE_PROCESSOR_MAX_TIMEOUT: Final = 300
#: Retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS: Final = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_NAME_RE: Final = re.compile(r"[a-z][a-z0-9-]{1,22}[a-z0-9]")
_STREAM_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NAMESPACE_RE: Final = re.compile(r"[A-Za-z0-9_./#:-]{1,255}")
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HTTPS_RE: Final = re.compile(r"https://[^/\s?#]+[^\s]*")
_SCHEDULE_RE: Final = re.compile(r"rate\(\s*[1-9]\d*\s+(minute|minutes|hour|hours|day|days)\s*\)|cron\([^()]+\)")


def _service_name(value: str) -> str | None:
    try:
        validate_service_name(value)
    except RecordError as exc:
        return str(exc)
    return None


def _regex(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"does not compile ({exc}); fix the regular expression"
    return None


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class StreamConfig:
    """One Firehose delivery stream (Direct PUT)."""

    name: str = setting(
        doc="Delivery stream name; clients send to it.",
        pattern=_STREAM_NAME_RE,
        hint="1-64 of A-Z a-z 0-9 _ . -",
    )
    default_service: str = setting(doc="service_name for events that carry none; must be in `services`.")


@dataclass(frozen=True)
class BufferingConfig:
    """Firehose buffering: S3 destination hints and the Lambda processor's hints."""

    size_mb: int = setting(
        64, doc="S3 buffer size (MB of uncompressed data) before Firehose writes a raw object.", lo=1, hi=128
    )
    interval_seconds: int = setting(
        300, doc="S3 buffer interval; raw objects arrive at least this often.", lo=0, hi=900
    )
    processor_size_mb: float = setting(
        1.0,
        doc="Lambda processor buffer size: MB per transformer invocation.",
        lo=0.2,
        hi=3,
        hint="Firehose's processor takes 0.2-3 MB",
    )
    processor_interval_seconds: int = setting(
        60, doc="Lambda processor buffer interval; bounds metric delay.", lo=0, hi=900
    )


@dataclass(frozen=True)
class SamplingRule:
    """Keep ``rate`` of ordinary requests; requests slower than ``slow_ms`` are always kept."""

    rate: float = setting(
        0.1,
        doc="share of ordinary (1xx-3xx, fast) requests kept; 4xx/5xx always kept (rows carry `sample_rate`).",
        lo=0,
        hi=1,
        hint="a share between 0 and 1",
    )
    slow_ms: float = setting(1000.0, doc="requests at least this slow are always kept.", lo=0)


@dataclass(frozen=True)
class ServiceSampling:
    """A per-service sampling override; unset values inherit ``sampling.default``."""

    rate: float | None = setting(None, doc="Overrides `sampling.default.rate` for this service.", lo=0, hi=1)
    slow_ms: float | None = setting(None, doc="Overrides `sampling.default.slow_ms` for this service.", lo=0)


@dataclass(frozen=True)
class SamplingConfig:
    """The default sampling rule and per-service overrides."""

    default: SamplingRule = setting(factory=SamplingRule, doc="Default rule")
    services: Mapping[str, ServiceSampling] = setting(
        factory=no_overrides, doc="Per-service overrides.", per_service=True
    )

    def rule_for(self, service: str) -> SamplingRule:
        """The resolved rule of ``service``."""
        override = self.services.get(service, ServiceSampling())
        return SamplingRule(
            rate=self.default.rate if override.rate is None else override.rate,
            slow_ms=self.default.slow_ms if override.slow_ms is None else override.slow_ms,
        )


@dataclass(frozen=True)
class ScrubPattern:
    """An extra PII rule: values matching ``regex`` are redacted or replaced by a keyed hash."""

    name: str = setting(doc="Unique rule name, recorded in what the rule did.")
    regex: str = setting(doc="Python regular expression to find the value.", check=_regex)
    action: str = setting(doc="`redact` or `hash` (HMAC with the hash key).", choices=("redact", "hash"))


@dataclass(frozen=True)
class ServiceScrubbing:
    """Per-service scrubbing."""

    truncate_ip: bool | None = setting(None, doc="Overrides `scrubbing.truncate_ip` for this service.")


@dataclass(frozen=True)
class ScrubbingConfig:
    """Extra scrubbing rules on top of loglake's built-in ones, and IP truncation per service."""

    secret_params: tuple[str, ...] = setting((), doc="Extra query parameters whose values are redacted.")
    patterns: tuple[ScrubPattern, ...] = setting((), doc="Extra value patterns to redact or hash.")
    truncate_ip: bool = setting(False, doc="Store client IPs truncated (/24, /48) for every declared service.")
    services: Mapping[str, ServiceScrubbing] = setting(
        factory=no_overrides, doc="Per-service overrides.", per_service=True
    )

    def truncate_ip_for(self, service: str) -> bool:
        """Whether ``service`` stores truncated client IPs."""
        override = self.services.get(service, ServiceScrubbing()).truncate_ip
        return self.truncate_ip if override is None else override


@dataclass(frozen=True)
class RetentionConfig:
    """How long each prefix of the lake, the Athena results and the logs are kept."""

    raw_days: int = setting(14, doc="`raw/` (gzip NDJSON from Firehose) expires after this many days.", lo=1)
    errors_days: int = setting(30, doc="`errors/` (Firehose error output) expires after this many days.", lo=1)
    quarantine_days: int = setting(
        QUARANTINE_RETENTION_DAYS,
        doc="`quarantine/` (scrubbed bad lines, for review) expires after this; shorter than everything else kept.",
        lo=1,
    )
    ia_after_days: int | None = setting(
        30,
        doc="`tables/` move to Standard-IA (null: skip).",
        lo=IA_MINIMUM_DAYS,
        hint="S3 keeps objects 30 days in Standard first",
    )
    glacier_after_days: int | None = setting(90, doc="`tables/` move to Glacier Flexible Retrieval (null: skip).", lo=0)
    expire_after_days: int = setting(2557, doc="`tables/` expire (7 years including leap days).", lo=1)
    noncurrent_days: int = setting(30, doc="Overwritten or deleted versions are removed after this.", lo=1)
    min_transition_bytes: int = setting(128 * 1024, doc="Only `tables/` objects larger than this transition.", lo=0)
    athena_results_days: int = setting(7, doc="Athena query results expire after this.", lo=1)
    access_log_days: int = setting(365, doc="S3 server access logs expire after this.", lo=1)
    log_days: int = setting(90, doc="CloudWatch Logs retention of every log group.", choices=LOG_RETENTION_DAYS)


@dataclass(frozen=True)
class ServiceAlarms:
    """Per-service alarm thresholds."""

    p99_latency_ms: float | None = setting(
        None, doc="Overrides `alarms.p99_latency_ms` for this service.", lo=0, lo_open=True
    )


@dataclass(frozen=True)
class AlarmConfig:
    """Alarm thresholds."""

    error_rate_percent: float = setting(1.0, doc="5xx share of requests that alarms.", lo=0, hi=100, lo_open=True)
    error_rate_minutes: int = setting(3, doc="Consecutive minutes above the error rate before it alarms.", lo=1, hi=60)
    min_requests_per_minute: int = setting(20, doc="Minutes with fewer requests never count as erroring.", lo=0)
    p99_latency_ms: float = setting(1000.0, doc="p99 latency per service that alarms.", lo=0, lo_open=True)
    p99_latency_minutes: int = setting(
        5, doc="Consecutive minutes above the p99 latency before it alarms.", lo=1, hi=60
    )
    traffic_anomaly_stddevs: float = setting(3.0, doc="Width of the request-count anomaly band.", lo=0, lo_open=True)
    ip_requests_per_minute: int = setting(
        1000, doc="One IP sending more requests a minute to one service alarms.", lo=1
    )
    firehose_freshness_seconds: int = setting(900, doc="Age of the oldest undelivered record that alarms.", lo=60)
    duration_percent_of_timeout: int = setting(
        80, doc="Function duration, as % of its timeout, that alarms.", lo=1, hi=100
    )
    queue_age_seconds: int = setting(3600, doc="Age of the oldest message in a work queue that alarms.", lo=60)
    services: Mapping[str, ServiceAlarms] = setting(
        factory=no_overrides, doc="Per-service thresholds.", per_service=True
    )

    def p99_threshold_for(self, service: str) -> float:
        """The p99 latency threshold (ms) of ``service``."""
        override = self.services.get(service, ServiceAlarms()).p99_latency_ms
        return self.p99_latency_ms if override is None else override


@dataclass(frozen=True)
class NotificationConfig:
    """Who hears about alarms."""

    emails: tuple[str, ...] = setting(
        (), doc="E-mail addresses subscribed to the alarm topic.", pattern=_EMAIL_RE, hint="an e-mail address"
    )
    https: tuple[str, ...] = setting(
        (),
        doc="HTTPS endpoints (a pager's webhook) subscribed to the alarm topic.",
        pattern=_HTTPS_RE,
        hint="an https:// URL",
    )


@dataclass(frozen=True)
class FunctionConfig:
    """Memory and timeout of one function."""

    memory_mb: int = setting(doc="memory (MB); CPU grows with it, 1,769 MB = 1 vCPU.", lo=128, hi=10240)
    timeout_seconds: int = setting(doc="timeout (s); a queue feeding it hides a message for 6× this.", lo=1, hi=900)


@dataclass(frozen=True)
class LambdaConfig:
    """Runtime, architecture and sizing of the pipeline's functions.

    Sizes are first estimates from the work each function does per invocation; bench/ figures replace
    them.
    """

    architecture: str = setting(
        "arm64",
        doc="`arm64` or `x86_64`; the dependency layer is built to match.",
        choices=("arm64", "x86_64"),
    )
    python_version: str = setting("3.14", doc="Lambda Python runtime.", choices=("3.12", "3.13", "3.14"))
    log_level: str = setting(
        "INFO", doc="`POWERTOOLS_LOG_LEVEL` of every function.", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    # One Firehose batch (≤ 3 MB of JSON) parsed and scrubbed in memory.
    transformer: FunctionConfig = setting(FunctionConfig(512, 120), doc="Transformer (Firehose processor)")
    # One raw object (≤ 128 MB uncompressed) to Parquet; 1,769 MB buys one full vCPU for pyarrow.
    converter: FunctionConfig = setting(FunctionConfig(1769, 300), doc="Converter (raw/ to Parquet)")
    # A batch of keys → one ALTER TABLE … ADD PARTITION, waiting on Athena.
    autoloader: FunctionConfig = setting(FunctionConfig(256, 120), doc="Autoloader (Parquet key to partition)")
    # Merges a closed hour's small Parquet files, partition by partition.
    compactor: FunctionConfig = setting(FunctionConfig(3008, 900), doc="Compactor (merges small Parquet files)")


@dataclass(frozen=True)
class CompactionConfig:
    """When the compactor runs."""

    schedule: str = setting(
        "rate(1 hour)",
        doc="EventBridge schedule expression of the compactor.",
        pattern=_SCHEDULE_RE,
        hint="e.g. 'rate(1 hour)' or 'cron(5 * * * ? *)'",
    )


@dataclass(frozen=True)
class AthenaConfig:
    """Athena workgroup limits."""

    bytes_scanned_cutoff_gb: float = setting(
        10.0,
        doc="A query scanning more than this (GB) is cancelled.",
        lo=0.01,
        hint="Athena's smallest cutoff is 10 MB",
    )


@dataclass(frozen=True)
class ObjectLockConfig:
    """S3 Object Lock in compliance mode on the lake bucket."""

    enabled: bool = setting(False, doc="Compliance-mode default retention on every object version.")
    years: int = setting(7, doc="Lock period; nobody, root included, can delete a version sooner.", lo=1, hi=100)


@dataclass(frozen=True)
class LoglakeConfig:
    """Every setting of one loglake deployment."""

    name: str = setting(
        "loglake",
        doc="Prefix of resource names; the Glue database is this with `_` for `-`.",
        pattern=_NAME_RE,
        hint="3-24 lowercase letters, digits or '-'",
    )
    metrics_namespace: str = setting("loglake", doc="CloudWatch namespace of the RED metrics.", pattern=_NAMESPACE_RE)
    services: tuple[str, ...] = setting(
        ("web",),
        doc="Every service that sends logs; alarms are made per service.",
        check=_service_name,
        non_empty=True,
    )
    streams: tuple[StreamConfig, ...] = setting(
        (StreamConfig("loglake-web", "web"),), doc="Delivery streams, one transformer each.", non_empty=True
    )
    buffering: BufferingConfig = setting(factory=BufferingConfig, doc="Firehose buffering.")
    sampling: SamplingConfig = setting(factory=SamplingConfig, doc="Sampling rules.")
    scrubbing: ScrubbingConfig = setting(factory=ScrubbingConfig, doc="Scrubbing rules.")
    retention: RetentionConfig = setting(factory=RetentionConfig, doc="Retention.")
    alarms: AlarmConfig = setting(factory=AlarmConfig, doc="Alarm thresholds.")
    notifications: NotificationConfig = setting(factory=NotificationConfig, doc="Alarm subscribers.")
    lambda_: LambdaConfig = setting(factory=LambdaConfig, doc="Functions.", key="lambda")
    compaction: CompactionConfig = setting(factory=CompactionConfig, doc="Compaction.")
    athena: AthenaConfig = setting(factory=AthenaConfig, doc="Athena.")
    object_lock: ObjectLockConfig = setting(factory=ObjectLockConfig, doc="Object Lock.")

    @property
    def database(self) -> str:
        """The Glue database name (Glue names allow no ``-``)."""
        return self.name.replace("-", "_")

    @property
    def workgroup(self) -> str:
        """The Athena workgroup name."""
        return self.name

    def sampling_env(self) -> dict[str, Any]:
        """``LOGLAKE_SAMPLING``: the default rule and, for every declared service, its resolved rule."""
        rules = {svc: self.sampling.rule_for(svc) for svc in self.services}
        return {
            "default": {"rate": self.sampling.default.rate, "slow_ms": self.sampling.default.slow_ms},
            "services": {
                svc: {
                    "rate": r.rate,
                    "slow_ms": r.slow_ms,
                    "truncate_ip": self.scrubbing.truncate_ip_for(svc),
                }
                for svc, r in rules.items()
            },
        }

    def scrub_env(self) -> dict[str, Any]:
        """``LOGLAKE_SCRUB``: the extra rules, added to loglake's built-in ones."""
        return {
            "secret_params": list(self.scrubbing.secret_params),
            "patterns": [{"name": p.name, "regex": p.regex, "action": p.action} for p in self.scrubbing.patterns],
        }


# --------------------------------------------------------------------------- reading context


def config_from_context(context: Mapping[str, Any], *, key: str = CONTEXT_KEY) -> LoglakeConfig:
    """Build the settings from CDK context.

    ``context[key]`` is the base (a mapping, or a JSON object string as ``-c`` passes it); every context key
    ``f"{key}.a.b"`` overrides setting ``a.b`` with its value, read as JSON when it is valid JSON.

    Raises
    ------
    ConfigError
        Listing every invalid setting with its path and how to fix it.
    """
    return load_config(merge_context(context, key))


def load_config(raw: Mapping[str, Any]) -> LoglakeConfig:
    """Validate a plain settings mapping (the value of the ``loglake`` context key).

    Raises
    ------
    ConfigError
        Listing every invalid setting with its path and how to fix it.
    """
    reader = Reader()
    cfg = reader.read(LoglakeConfig, raw, "")
    _check_together(cfg, reader)
    reader.raise_if_any(CONTEXT_KEY)
    return cfg


def _check_together(cfg: LoglakeConfig, r: Reader) -> None:
    """Rules that involve more than one setting."""
    known = set(cfg.services)
    names: set[str] = set()
    for i, stream in enumerate(cfg.streams):
        if stream.default_service not in known:
            r.problem(
                f"streams[{i}].default_service '{stream.default_service}' is not in services "
                f"{sorted(known)}; add it to services"
            )
        if stream.name in names:
            r.problem(f"streams[{i}].name '{stream.name}' is used twice; every delivery stream needs its own name")
        names.add(stream.name)
    pattern_names = [p.name for p in cfg.scrubbing.patterns]
    for dup in sorted({n for n in pattern_names if pattern_names.count(n) > 1}):
        r.problem(f"scrubbing.patterns: the name '{dup}' is used twice; give every pattern its own name")

    ret = cfg.retention
    ia, glacier, expire = ret.ia_after_days, ret.glacier_after_days, ret.expire_after_days
    if ia is not None and glacier is not None and glacier < ia + IA_MINIMUM_DAYS:
        order = "before" if glacier <= ia else "too soon after"
        r.problem(
            f"retention.glacier_after_days ({glacier}) comes {order} retention.ia_after_days ({ia}): "
            f"objects stay {IA_MINIMUM_DAYS} days in Standard-IA before Glacier; set it to "
            f"{ia + IA_MINIMUM_DAYS} or more"
        )
    last, minimum, label = 0, 0, "Standard"
    if ia is not None:
        last, minimum, label = ia, IA_MINIMUM_DAYS, "Standard-IA"
    if glacier is not None:
        last, minimum, label = glacier, GLACIER_MINIMUM_DAYS, "Glacier"
    if expire < last + minimum:
        r.problem(
            f"retention.expire_after_days ({expire}) deletes objects before their {label} minimum of "
            f"{minimum} days; set it to {last + minimum} or more"
        )
    if cfg.alarms.firehose_freshness_seconds <= cfg.buffering.interval_seconds:
        r.problem(
            f"alarms.firehose_freshness_seconds ({cfg.alarms.firehose_freshness_seconds}) must exceed "
            f"buffering.interval_seconds ({cfg.buffering.interval_seconds}), or every buffer flush alarms; "
            f"set it to {cfg.buffering.interval_seconds + 60} or more"
        )
    if cfg.lambda_.transformer.timeout_seconds > FIREHOSE_PROCESSOR_MAX_TIMEOUT:
        r.problem(
            f"lambda.transformer.timeout_seconds ({cfg.lambda_.transformer.timeout_seconds}) exceeds the "
            f"{FIREHOSE_PROCESSOR_MAX_TIMEOUT} s Firehose waits for its processor; lower it"
        )
    lock = cfg.object_lock
    if lock.enabled and lock.years * 365 > expire:
        r.problem(
            f"object_lock.years ({lock.years} = {lock.years * 365} days) outlasts "
            f"retention.expire_after_days ({expire}): locked versions could not be deleted at expiry; "
            "raise expire_after_days or shorten the lock"
        )


def settings_reference() -> list[SettingRow]:
    """Every setting as ``(path, default, doc)``, in declaration order: the source of the docs' table."""
    return describe(LoglakeConfig)


def settings_table() -> str:
    """The Markdown table of every setting with its default, as docs/deploy.md shows it."""
    return markdown_table(settings_reference())
