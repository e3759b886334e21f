"""``python -m tests.benchmarks [--smoke] [--only 1,2,...]``: run the benchmarks, print a table."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time
import traceback

from tests.benchmarks.common import Row, Sizes, machine, render, warm_up

# Each module has ``async def run(sizes, shared) -> list[Row]``; later ones may use what earlier
# ones left in ``shared`` (6 reads the memory of 3's processes).
BENCHMARKS = {
    "1": "startup",
    "2": "ask",
    "3": "stream",
    "4": "permission",
    "5": "edits",
    "6": "memory",
    "7": "buffer_sync",
    "8": "conversation",
}


def say(line: str) -> None:
    """Progress, on stderr: stdout is the table."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def run_all(sizes: Sizes, only: set[str]) -> tuple[list[Row], bool]:
    """The rows, and whether every benchmark ran (one that breaks gives a failed row)."""
    shared: dict[str, object] = {}
    rows: list[Row] = []
    all_ran = True
    await warm_up()
    for key, name in BENCHMARKS.items():
        if only and key not in only:
            continue
        started = time.monotonic()
        say(f"benchmark {key} ({name})…")
        try:
            module = importlib.import_module(f"tests.benchmarks.{name}")
            rows.extend(await module.run(sizes, shared))
        except Exception as exc:
            traceback.print_exc()
            all_ran = False
            rows.append(Row(key, f"{name}: the benchmark broke", "", [], "—", False, repr(exc)))
        say(f"benchmark {key}: {time.monotonic() - started:.1f} s")
    return rows, all_ran


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the runner works")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers (1-8)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = Sizes.smoke() if args.smoke else Sizes()
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    before = machine()
    rows, all_ran = asyncio.run(run_all(sizes, only))
    sys.stdout.write(f"Machine: {before}" + (" (smoke sizes)" if args.smoke else "") + "\n\n")
    sys.stdout.write(render(rows) + "\n")
    sys.exit(0 if all_ran else 1)


if __name__ == "__main__":
    main()
