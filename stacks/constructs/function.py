"""One pipeline Lambda function with its own role and encrypted, retained log group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, checkov_skip
from stacks.config import FunctionConfig

#: Lambda's limit on the size of all environment variables of a function.
ENVIRONMENT_LIMIT_BYTES: Final = 4096
#: What a function's folder must not ship.
_ASSET_EXCLUDES: Final = ["__pycache__", "*.pyc", "tests"]


class PipelineFunction(Construct):
    """A Python function from ``code_dir`` (``handler.handler``), with the shared layers.

    Its role starts empty — no managed policy — and gets exactly what the stack grants it plus write access
    to its own log group, which is encrypted with ``log_key`` and kept ``log_retention``.

    Attributes
    ----------
    function, role, log_group:
        The function, its execution role and its log group.
    timeout_seconds:
        The function's timeout.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        code_dir: Path,
        description: str,
        sizing: FunctionConfig,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        log_key: kms.IKey,
        log_retention: logs.RetentionDays,
        dead_letter_queue: sqs.IQueue | None = None,
        failures_go_to: str = "",
    ) -> None:
        """``dead_letter_queue`` receives failed asynchronous invocations; a function invoked synchronously
        (Firehose, an SQS event source) has none, and ``failures_go_to`` says where its failures land."""
        super().__init__(scope, id)
        self.timeout_seconds = sizing.timeout_seconds
        if dead_letter_queue is None and len(failures_go_to) < 20:
            raise ValueError(f"{id}: without a dead-letter queue, say where failed invocations go")
        if not (code_dir / "handler.py").is_file():
            raise FileNotFoundError(f"{code_dir / 'handler.py'} is missing; every function folder needs one")
        size = sum(len(k) + len(v) for k, v in environment.items())
        if size > ENVIRONMENT_LIMIT_BYTES:
            raise ValueError(
                f"{id}: {size} bytes of environment exceed Lambda's {ENVIRONMENT_LIMIT_BYTES}; "
                "move per-service settings into fewer services or shorter rules"
            )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=log_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (no managed policies; grants are added by the stack)",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            code=lambda_.Code.from_asset(str(code_dir), exclude=_ASSET_EXCLUDES),
            handler="handler.handler",
            runtime=runtime,
            architecture=architecture,
            memory_size=sizing.memory_mb,
            timeout=cdk.Duration.seconds(sizing.timeout_seconds),
            description=description,
            layers=list(layers),
            environment=dict(environment),
            role=self.role,
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
        )
        # CDK makes the function depend on its role besides the role's policy, although the Role property
        # already orders them; cfn-lint reports the redundant DependsOn (W3005) for this resource only.
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, cdk.CfnResource)
        cfn_function.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        latest = max(
            (r for r in lambda_.Runtime.ALL if r.family == lambda_.RuntimeFamily.PYTHON),
            key=lambda r: tuple(int(p) for p in r.name.removeprefix("python").split(".")),
        )
        if runtime.name != latest.name:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"{runtime.name} is chosen in cdk.json (lambda.python_version); the default, {latest.name}, "
                "is the latest this CDK version knows.",
            )
        if dead_letter_queue is None:
            checkov_skip(
                self.function,
                "CKV_AWS_116",
                f"Invoked synchronously, so a Lambda DLQ never fires: {failures_go_to}",
            )
        checkov_skip(
            self.function,
            "CKV_AWS_117",
            "The function calls only AWS APIs (S3, SQS, Athena, Glue, Secrets Manager) and no VPC resource; "
            "a VPC would add NAT or endpoint cost and no protection for this data path.",
        )
        checkov_skip(
            self.function,
            "CKV_AWS_115",
            "Reserved concurrency would take capacity from the account's shared pool and throttle the "
            "pipeline at peaks; the autoloader's event source caps its own concurrency, the others scale "
            "with the load by design.",
        )
        checkov_skip(
            self.function,
            "CKV_AWS_173",
            "The environment holds names, URIs and rules, no secret (the hash key is read from Secrets "
            "Manager at run time); Lambda encrypts it at rest with its service key.",
        )
