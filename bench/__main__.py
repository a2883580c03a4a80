"""``python -m bench``: run every benchmark and print one table."""

from __future__ import annotations

import asyncio
import sys

from bench.core import run_all


def main() -> int:
    rows = asyncio.run(run_all())
    width = max(len(name) for name, _, _ in rows)
    print(f"{'benchmark':<{width}}  {'result':>14}  unit")
    print("-" * (width + 24))
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>14,.3f}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
