"""The two Lambda layers every pipeline function uses."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from layers.build import LayerDirs


class SharedLayers(Construct):
    """The dependency layer (pyarrow, orjson, Powertools) and the code layer (``loglake``), shipped once.

    Both are plain folders built by :mod:`layers.build` for one architecture and runtime; no Docker.

    Attributes
    ----------
    dependencies, code:
        The layer versions, in the order functions list them.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        dirs: LayerDirs,
        architecture: lambda_.Architecture,
        runtime: lambda_.Runtime,
    ) -> None:
        super().__init__(scope, id)
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(dirs.dependencies)),
            compatible_architectures=[architecture],
            compatible_runtimes=[runtime],
            description="loglake dependencies: pyarrow, orjson, aws-lambda-powertools (see layers/)",
        )
        self.code = lambda_.LayerVersion(
            self,
            "Code",
            code=lambda_.Code.from_asset(str(dirs.code)),
            compatible_architectures=[architecture],
            compatible_runtimes=[runtime],
            description="the loglake package shared by every pipeline function",
        )
