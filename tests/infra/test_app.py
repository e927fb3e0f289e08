"""app.py as the CLI runs it: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR, no credentials, no Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_NO_AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _run_app(project_root: Path, outdir: Path, context: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _NO_AWS}
    env |= {"CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=project_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_overrides_reach_the_template(project_root: Path, tmp_path: Path) -> None:
    result = _run_app(
        project_root,
        tmp_path,
        {
            "loglake.retention.raw_days": "5",
            "loglake.services": '["web", "api"]',
            "loglake.alarms.p99_latency_ms": "640",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "loglake.template.json").read_text())
    resources = template["Resources"].values()
    (lake,) = [r for r in resources if r["Type"] == "AWS::S3::Bucket" and "BucketName" in r["Properties"]]
    rules = {r["Id"]: r for r in lake["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-raw"]["ExpirationInDays"] == 5
    alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in resources if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms["loglake-service-api-p99-latency"]["Threshold"] == 640


def test_a_bad_setting_stops_synthesis_with_a_clear_message(project_root: Path, tmp_path: Path) -> None:
    result = _run_app(project_root, tmp_path, {"loglake.retention.ia_after_days": "20"})
    assert result.returncode != 0
    assert "retention.ia_after_days is 20; it must be at least 30" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))
