"""The HMAC key that pseudonymises user ids, readable only by the transformers."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.compliance import acknowledge


class HashKeySecret(Construct):
    """A random 64-character key in Secrets Manager, encrypted with the data key and retained.

    Call :meth:`restrict_reading_to` once the readers exist: their roles get read access, and the secret's
    resource policy denies ``GetSecretValue`` to every other principal of the account, administrators
    included; to read the key by hand, change that policy first (an audited act).

    Attributes
    ----------
    secret:
        The secret; ``LOGLAKE_HASH_KEY_SECRET`` carries its ARN.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, key: kms.IKey) -> None:
        super().__init__(scope, id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description=f"{name}: HMAC key that turns user ids into stable pseudonyms (loglake.scrub)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Rotating the HMAC key changes every user_id pseudonym, which breaks joins and counts of users "
            "across the rotation date; the key is rotated by hand, deliberately, as a documented procedure.",
        )

    def restrict_reading_to(self, roles: Sequence[iam.IRole]) -> None:
        """Grant read to ``roles`` and deny it to everyone else."""
        for role in roles:
            self.secret.grant_read(role)
        self.secret.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheTransformersRead",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["secretsmanager:GetSecretValue"],
                resources=["*"],
                conditions={"StringNotEquals": {"aws:PrincipalArn": [r.role_arn for r in roles]}},
            )
        )
