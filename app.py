"""Composition root: read the settings, build the stack, attach cdk-nag, synthesise.

``python app.py`` (``make synth``) and ``npx aws-cdk@2 synth`` both run this file; neither needs Docker or
AWS credentials. Run by the CDK CLI, the context (cdk.json plus ``-c`` overrides) arrives in
``CDK_CONTEXT_JSON``; run directly, cdk.json's context is read here and the assembly goes to ``cdk.out/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import config_from_context
from stacks.pipeline_stack import LoglakeStack

PROJECT_ROOT = Path(__file__).resolve().parent


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` of cdk.json: feature flags and the default pipeline settings."""
    return json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]


def build_app(*, context: Mapping[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """The app with the loglake stack and cdk-nag's AWS Solutions checks.

    ``context`` is added over cdk.json's (the CLI's ``-c`` values, in ``CDK_CONTEXT_JSON``, win over both).
    """
    if outdir is None and "CDK_OUTDIR" not in os.environ:
        outdir = str(PROJECT_ROOT / "cdk.out")
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    config = config_from_context(app.node.get_all_context())
    LoglakeStack(app, config.name, config=config)
    # Findings fail synthesis; acknowledgments (with reasons) are written into the template's metadata.
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    return app


if __name__ == "__main__":
    build_app().synth()
