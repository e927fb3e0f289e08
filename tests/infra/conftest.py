"""Fixtures of the infrastructure tests: fake AWS credentials, and templates synthesised once per session.

Synthesis starts a Node process (jsii) once per Python process and takes seconds per app, so each app below is
synthesised once per session and every test reads the same cloud assembly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# app.py, stacks/ and layers/ live at the project root, outside the installed `loglake` distribution.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

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
