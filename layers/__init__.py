"""How the Lambda layers are built without Docker; see :mod:`layers.build`."""

from __future__ import annotations

from layers.build import LayerBuildError, LayerDirs, build_code_layer, build_dependencies_layer, build_layers

__all__ = ["LayerBuildError", "LayerDirs", "build_code_layer", "build_dependencies_layer", "build_layers"]
