"""Shared helpers for the benchmarks: repeatable timing, peak memory, the results file, the shared data."""

from __future__ import annotations

import json
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
APACHE_LOG = SHARED_DATA / "logs" / "apache_combined_10k.log.gz"

T = TypeVar("T")


def best_of(fn: Callable[[], T], *, repeat: int = 5) -> tuple[float, T]:
    """Run ``fn`` ``repeat`` times; the fastest wall time (least disturbed by a shared machine) and a result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result  # type: ignore[return-value]


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated by Python (tracemalloc) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine it ran on."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu": platform.machine(), "system": platform.system()},
        **results,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
