"""The ``loglake`` command.

- ``loglake demo [--lake DIR] [--from FILE] [--json]``: run the whole pipeline locally and report;
- ``loglake query "SQL" [--lake DIR]``: SQL over the lake's catalog (DuckDB standing in for Athena);
- ``loglake compact [--lake DIR] [--now TIME] [--lookback-hours N]``: run the compactor once, as its
  hourly schedule does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loglake.errors import LoglakeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loglake", description="Serverless access-log lake, run locally.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the pipeline end to end on this machine and print what it found")
    demo.add_argument("--lake", default="lake", help="lake directory (default: ./lake)")
    demo.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="replay a log file (plain or .gz; JSON lines or Apache/Nginx combined format)",
    )
    demo.add_argument("--service", default="web", help="service_name for replayed lines that carry none")
    demo.add_argument("--limit", type=int, help="send at most this many events")
    demo.add_argument(
        "--seed", type=int, help="seed of the generated traffic (default: from the clock, so runs differ)"
    )
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    query = sub.add_parser("query", help="run SQL against the lake's catalog")
    query.add_argument("sql")
    query.add_argument("--lake", default="lake", help="lake directory (default: ./lake)")

    compact = sub.add_parser("compact", help="merge closed hours' small Parquet files, as the hourly schedule does")
    compact.add_argument("--lake", default="lake", help="lake directory (default: ./lake)")
    compact.add_argument("--now", help="the schedule's time, ISO-8601 (default: now)")
    compact.add_argument("--lookback-hours", type=float, help="look further back than LOGLAKE_COMPACT_LOOKBACK_HOURS")
    compact.add_argument("--json", action="store_true", help="print the compactor's counters as one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from datetime import UTC, datetime

    from loglake.local import demo
    from loglake.local.traffic import TrafficPlan

    try:
        if args.command == "demo":
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            # A fresh seed per run: a second run appends new requests, not copies of the first run's request ids.
            seed = args.seed if args.seed is not None else int(end.timestamp()) // 60
            plan = TrafficPlan(end=end, seed=seed)
            summary = demo.run(args.lake, source=args.source, service_name=args.service, plan=plan, limit=args.limit)
            print(demo.summary_json(summary) if args.json else demo.report(args.lake, summary))
            return 0 if summary.balanced else 1
        if args.command == "compact":
            return _compact(args)
        columns, rows = demo.query(args.lake, args.sql)
        print(demo.format_table(columns, rows))
        return 0
    except LoglakeError as exc:
        print(f"loglake: {exc}", file=sys.stderr)
        return 2


def _compact(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    import orjson

    from loglake.local.runtime import LocalPipeline
    from loglake.schema import parse_timestamp

    now = datetime.fromtimestamp(parse_timestamp(args.now) / 1000, tz=UTC) if args.now else None
    lake = Path(args.lake)
    if not lake.is_dir():
        print(f"loglake: no lake at {lake}; run `loglake demo --lake {lake}` first", file=sys.stderr)
        return 2
    with LocalPipeline(lake) as pipeline:
        result = pipeline.compact(now, lookback_hours=args.lookback_hours)
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        print(
            f"compacted {result['PartitionsCompacted']} partitions ({result['FilesIn']} files → {result['FilesOut']}, "
            f"{result['RowsCompacted']:,} rows, {result['LateFiles']} late files folded in); "
            f"{result['PartitionsDeferred']} deferred, {result['ObjectsDeleted']} replaced objects deleted, "
            f"{result['Errors']} errors (as of {result['now']})"
        )
    return 1 if result["Errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
