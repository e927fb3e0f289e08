"""The ``loglake`` command.

- ``loglake demo [--lake DIR] [--from FILE] [--json]``: run the whole pipeline locally and report;
- ``loglake query "SQL" [--lake DIR]``: SQL over the lake's catalog (DuckDB standing in for Athena).
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
        columns, rows = demo.query(args.lake, args.sql)
        print(demo.format_table(columns, rows))
        return 0
    except LoglakeError as exc:
        print(f"loglake: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
