"""The deploy guide documents every setting with its default, every output and every saved query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks.config import settings_reference, settings_table
from stacks.constructs.named_queries import STANDARD_QUERIES


def _guide(project_root: Path) -> str:
    return (project_root / "docs" / "deploy.md").read_text()


def test_the_guide_holds_the_generated_settings_table(project_root: Path) -> None:
    guide = _guide(project_root)
    assert settings_table() in guide, (
        "regenerate the table: python -c 'from stacks.config import settings_table; print(settings_table())'"
    )
    for row in settings_reference():
        assert f"| `{row.path}` | `{row.default}` |" in guide


def test_the_guide_names_every_output(project_root: Path, default_synth: Any) -> None:
    guide = _guide(project_root)
    for key in default_synth.template["Outputs"]:
        assert ("DeliveryStream<name>" if key.startswith("DeliveryStream") else f"`{key}`") in guide, key


def test_the_guide_names_every_saved_query(project_root: Path) -> None:
    guide = _guide(project_root)
    for query in STANDARD_QUERIES:
        assert query.name in guide, query.name


def test_the_guide_covers_what_the_issue_asks(project_root: Path) -> None:
    guide = _guide(project_root)
    for heading in (
        "## Prerequisites",
        "## Deploy",
        "## Send logs",
        "## Query in the Athena console",
        "## Tear down",
        "## What it costs",
    ):
        assert heading in guide
    assert "cdk bootstrap" in guide and "KinesisLogger" in guide
    assert "76 B" in guide and "bench/scan" in guide  # the measured Parquet size per stored row
