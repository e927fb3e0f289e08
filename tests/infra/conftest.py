"""Fixtures of the infrastructure tests: fake AWS credentials, and templates synthesised once per session.

Synthesis starts a Node process (jsii) once per Python process and takes seconds per app, so each app below is
synthesised once per session and every test reads the same cloud assembly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# app.py, stacks/ and layers/ live at the project root, outside the installed `loglake` distribution.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from stacks.config import LoglakeConfig, config_from_context  # noqa: E402

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}


@pytest.fixture(autouse=True, scope="session")
def fake_aws_credentials() -> Iterator[None]:
    """No test can reach a real AWS account: credentials and region are fakes for the whole session."""
    saved = {k: os.environ.get(k) for k in _FAKE_AWS}
    os.environ.update(_FAKE_AWS)
    for k in ("AWS_PROFILE", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        saved.setdefault(k, os.environ.pop(k, None))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def cdk_json_context() -> dict[str, Any]:
    """The context of the project's cdk.json: feature flags and the default pipeline settings."""
    return json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]


#: A configuration far from the defaults, so tests can tell configured values from defaults.
VARIANT: dict[str, Any] = {
    "name": "lake-test",
    "metrics_namespace": "lake-test/red",
    "services": ["shop", "search", "auth"],
    "streams": [
        {"name": "shop-logs", "default_service": "shop"},
        {"name": "edge-logs", "default_service": "auth"},
    ],
    "buffering": {
        "size_mb": 32,
        "interval_seconds": 120,
        "processor_size_mb": 0.5,
        "processor_interval_seconds": 30,
    },
    "sampling": {"default": {"rate": 0.2, "slow_ms": 750}, "services": {"auth": {"rate": 1.0}}},
    "scrubbing": {
        "secret_params": ["token"],
        "patterns": [{"name": "card", "regex": r"\b\d{16}\b", "action": "redact"}],
        "truncate_ip": True,
        "services": {"search": {"truncate_ip": False}},
    },
    "retention": {
        "raw_days": 3,
        "errors_days": 10,
        "quarantine_days": 45,
        "ia_after_days": 45,
        "glacier_after_days": 120,
        "expire_after_days": 3650,
        "noncurrent_days": 7,
        "min_transition_bytes": 262144,
        "athena_results_days": 2,
        "access_log_days": 90,
        "log_days": 30,
    },
    "alarms": {
        "error_rate_percent": 2.5,
        "error_rate_minutes": 4,
        "min_requests_per_minute": 50,
        "p99_latency_ms": 800,
        "p99_latency_minutes": 3,
        "traffic_anomaly_stddevs": 2.5,
        "ip_requests_per_minute": 600,
        "firehose_freshness_seconds": 600,
        "duration_percent_of_timeout": 90,
        "queue_age_seconds": 1800,
        "services": {"search": {"p99_latency_ms": 250}},
    },
    "notifications": {"emails": ["oncall@example.com"], "https": ["https://pager.example.com/hooks/loglake"]},
    "lambda": {
        "architecture": "x86_64",
        "python_version": "3.13",
        "log_level": "DEBUG",
        "converter": {"memory_mb": 3008, "timeout_seconds": 600},
    },
    "compaction": {"schedule": "cron(15 * * * ? *)"},
    "athena": {"bytes_scanned_cutoff_gb": 2.5},
    "object_lock": {"enabled": True, "years": 5},
}


@dataclass
class Synthesis:
    """One synthesised app: its settings, template, cloud assembly folder and validation outcome."""

    config: LoglakeConfig
    outdir: Path
    template: dict[str, Any]
    error: str | None
    violations: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        """Logical id → resource, for every resource of ``type_``."""
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == type_}

    def one(self, type_: str) -> dict[str, Any]:
        found = list(self.resources(type_).values())
        assert len(found) == 1, f"expected one {type_}, found {len(found)}"
        return found[0]

    def assertions(self) -> Template:
        """The template for ``aws_cdk.assertions`` matchers."""
        from aws_cdk.assertions import Template

        return Template.from_json(self.template)


def synthesise(context: dict[str, Any], outdir: Path) -> Synthesis:
    """Synthesise app.py's app with ``context`` over cdk.json's, exactly as ``python app.py`` does."""
    from app import build_app

    started = time.monotonic()
    app = build_app(context=context, outdir=str(outdir))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # jsii surfaces a failed validation as a RuntimeError
        error = str(exc)
    seconds = time.monotonic() - started
    config = config_from_context(app.node.get_all_context())
    templates = list(outdir.glob("*.template.json"))
    assert len(templates) == 1, f"synthesis wrote {templates}; error: {error}"
    violations = []
    report = outdir / "validation-report.json"
    if report.exists():
        for plugin in json.loads(report.read_text())["pluginReports"]:
            for v in plugin["violations"]:
                for c in v["violatingConstructs"]:
                    violations.append((plugin["pluginName"], v["ruleName"], c["constructPath"]))
    return Synthesis(config, outdir, json.loads(templates[0].read_text()), error, violations, seconds)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory, fake_aws_credentials: None) -> Synthesis:
    """The app with cdk.json's settings, as `make synth` builds it."""
    return synthesise({}, tmp_path_factory.mktemp("default") / "cdk.out")


@pytest.fixture(scope="session")
def variant_synth(tmp_path_factory: pytest.TempPathFactory, fake_aws_credentials: None) -> Synthesis:
    """The app with :data:`VARIANT`'s settings (x86_64, Python 3.13, two streams, Object Lock …)."""
    return synthesise({"loglake": VARIANT}, tmp_path_factory.mktemp("variant") / "cdk.out")


@pytest.fixture(scope="session", params=["default", "variant"])
def synth(request: pytest.FixtureRequest) -> Synthesis:
    """Each synthesised app in turn: properties that must hold whatever the settings."""
    return request.getfixturevalue(f"{request.param}_synth")
