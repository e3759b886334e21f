"""The benchmark runner works end to end at its smoke size and prints every row of the table.

Timing decides nothing here: a missed target is the benchmarks' business (docs/performance.md),
not a failed test. This only catches a runner broken by a change elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = ("yes", "**no**", "not measurable yet")


def test_the_runner_prints_a_row_for_each_of_the_eight_benchmarks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in result.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| #")
    ]
    assert {row[0][0] for row in rows} == set("12345678")
    assert {row[0] for row in rows} >= {"7a", "7b", "7c", "7d"}  # buffer sync: fake and real
    assert {row[0] for row in rows} >= {"8a", "8b", "8c"}  # the conversation
    for row in rows:
        assert len(row) == 8, row
        assert row[7].startswith(VERDICTS), row
    assert result.stdout.startswith("Machine: ")
