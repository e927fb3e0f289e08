"""The `loglake` command as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loglake.cli import main

pytestmark = pytest.mark.slow


def test_demo_json_then_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    assert main(["demo", "--lake", str(lake), "--json", "--limit", "4000"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in (
        "sent",
        "kept",
        "sampled_out",
        "quarantined",
        "raw_objects",
        "parquet_objects",
        "partitions_registered",
    ):
        assert isinstance(summary[key], int), key
    assert summary["sent"] == 4000 == summary["kept"] + summary["sampled_out"] + summary["quarantined"]

    assert main(["query", "SELECT count(*) AS n FROM access_logs", "--lake", str(lake)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].strip() == "n" and int(out[2].replace(",", "")) == summary["kept"]


def test_query_errors_are_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "SELECT 1", "--lake", str(tmp_path / "none")]) == 2
    assert "run `loglake demo" in capsys.readouterr().err
