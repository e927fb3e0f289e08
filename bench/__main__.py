"""Run every benchmark package under bench/ (``python -m bench``), one after the other."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    names = sorted(p.name for p in HERE.iterdir() if (p / "__main__.py").is_file())
    for name in sys.argv[1:] or names:
        print(f"\n=== bench.{name} ===", flush=True)
        runpy.run_module(f"bench.{name}", run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
