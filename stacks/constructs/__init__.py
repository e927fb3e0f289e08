"""The constructs of a loglake deployment, one per module; :class:`LogLake` composes them all."""

from __future__ import annotations

from stacks.constructs.loglake import LogLake

__all__ = ["LogLake"]
