"""Converter benchmark: the same ~100 MB of NDJSON (gzip) converted by loglake, awswrangler and DuckDB.

The input is the shared 10,000-line Apache log run through the real transformer (sampling off), repeated with
fresh request ids to about ``BENCH_CONVERTER_MB`` (default 100) MB. Each contender runs in a fresh process,
rounds interleave the contenders (so a noisy neighbour hurts all alike), and the best of ``BENCH_ROUNDS``
(default 3) counts. Reported: MB/s of uncompressed input, peak RSS (and its growth during the conversion),
CPU seconds, output bytes. loglake runs with the process environment its Lambda has
(:data:`loglake.settings.CONVERTER_PROCESS_ENV`), the others with the benchmark's own. Then loglake alone on a
128 MB object: the peak RSS against the 1,769 MB Lambda.

Run: ``python -m bench.converter`` (needs the ``bench`` extra: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_results
from bench.converter.data import write_input
from loglake.settings import CONVERTER_PROCESS_ENV

MB = 1_000_000
LAMBDA_MB = 1769
TARGETS = {"vs_awswrangler": 2.0, "vs_duckdb": 1.0, "parquet_vs_gzip": 0.5, "parquet_vs_raw": 0.08}


def run(name: str, src: Path, out: Path) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    if name == "loglake":  # the environment the converter's Lambda starts with (set by the stack)
        env |= CONVERTER_PROCESS_ENV
    proc = subprocess.run(
        [sys.executable, "-m", "bench.converter.contenders", name, str(src), str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    target_mb = float(os.environ.get("BENCH_CONVERTER_MB", "100"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    names = ["loglake", "awswrangler", "duckdb"]
    with tempfile.TemporaryDirectory(prefix="loglake-bench-") as tmp:
        src = Path(tmp) / "input.ndjson.gz"
        raw_bytes, gz_bytes = write_input(src, int(target_mb * MB))
        print(f"input: {raw_bytes / MB:.1f} MB NDJSON, {gz_bytes / MB:.1f} MB gzip ({raw_bytes / gz_bytes:.1f}x)")
        best: dict[str, dict[str, Any]] = {}
        for r in range(rounds):
            for name in names:
                result = run(name, src, Path(tmp) / f"out-{name}")
                print(f"  round {r + 1} {name:12s} {result['seconds']:6.2f} s", flush=True)
                peak = max(result["peak_rss_mb"], best[name]["peak_rss_mb"]) if name in best else result["peak_rss_mb"]
                cpu = min(result["cpu_seconds"], best[name]["cpu_seconds"]) if name in best else result["cpu_seconds"]
                if name not in best or result["seconds"] < best[name]["seconds"]:
                    best[name] = result
                best[name]["peak_rss_mb"], best[name]["cpu_seconds"] = peak, cpu
        for r in best.values():
            r["mb_per_s"] = raw_bytes / MB / r["seconds"]
        big = Path(tmp) / "input-128.ndjson.gz"
        big_raw, big_gz = write_input(big, 128 * MB)
        big_result = run("loglake", big, Path(tmp) / "out-128")

    a, b, c = best["loglake"], best["awswrangler"], best["duckdb"]
    ratios = {
        "vs_awswrangler": a["mb_per_s"] / b["mb_per_s"],
        "vs_duckdb": a["mb_per_s"] / c["mb_per_s"],
        "parquet_vs_gzip": a["output_bytes"] / gz_bytes,
        "parquet_vs_raw": a["output_bytes"] / raw_bytes,
    }
    print()
    cols = ("MB/s", "seconds", "CPU s", "peak RSS MB", "(growth)", "output bytes", "files")
    widths = (8, 8, 7, 12, 9, 13, 6)
    print(f"{'converter':12s} " + " ".join(f"{c:>{w}s}" for c, w in zip(cols, widths, strict=True)))
    for name in names:
        r = best[name]
        print(
            f"{name:12s} {r['mb_per_s']:8.1f} {r['seconds']:8.2f} {r['cpu_seconds']:7.2f} {r['peak_rss_mb']:12.0f} "
            f"{r['peak_rss_growth_mb']:9.0f} {r['output_bytes']:13,d} {r['files']:6d}"
        )
    print()
    ok = {
        "vs_awswrangler": ratios["vs_awswrangler"] >= TARGETS["vs_awswrangler"],
        "vs_duckdb": ratios["vs_duckdb"] >= TARGETS["vs_duckdb"],
        "parquet_vs_gzip": ratios["parquet_vs_gzip"] <= TARGETS["parquet_vs_gzip"],
        "parquet_vs_raw": ratios["parquet_vs_raw"] <= TARGETS["parquet_vs_raw"],
    }
    mark = {k: "met" if v else "NOT met" for k, v in ok.items()}
    print(
        f"loglake vs awswrangler: {ratios['vs_awswrangler']:.2f}x throughput (target >= 2x)  {mark['vs_awswrangler']}"
    )
    print(f"loglake vs DuckDB:      {ratios['vs_duckdb']:.2f}x throughput (target >= 1x)  {mark['vs_duckdb']}")
    print(
        f"CPU seconds per run (best): loglake {a['cpu_seconds']:.2f}, awswrangler {b['cpu_seconds']:.2f}, "
        f"DuckDB {c['cpu_seconds']:.2f} — less sensitive than wall time to a busy machine"
    )
    print(f"Parquet / gzip NDJSON:  {ratios['parquet_vs_gzip']:.3f} (target <= 0.5)  {mark['parquet_vs_gzip']}")
    print(f"Parquet / raw NDJSON:   {ratios['parquet_vs_raw']:.4f} (target <= 0.08)  {mark['parquet_vs_raw']}")
    big_rate = big_raw / MB / big_result["seconds"]
    print(
        f"128 MB object ({big_raw / MB:.0f} MB NDJSON, {big_gz / MB:.1f} MB gzip): loglake peak RSS "
        f"{big_result['peak_rss_mb']:.0f} MB of the {LAMBDA_MB} MB Lambda, {big_rate:.1f} MB/s"
    )
    path = write_results(
        "converter",
        {
            "input": {"raw_bytes": raw_bytes, "gzip_bytes": gz_bytes, "rounds": rounds},
            "contenders": best,
            "ratios": ratios,
            "targets": TARGETS,
            "met": ok,
            "object_128mb": big_result | {"raw_bytes": big_raw, "gzip_bytes": big_gz, "lambda_mb": LAMBDA_MB},
        },
    )
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
