"""1. Process start → ``initialize`` result, against the floor (a minimal pygls server)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks.common import (
    BRIDGE,
    FLOOR,
    Row,
    Sizes,
    TimedEditor,
    cpu_ms,
    median,
    scratch,
)

TARGET_RATIO = 1.05  # issue 13: the features load after initialize is answered


async def start_to_initialized(
    command: list[str], root: Path, options: dict[str, str]
) -> tuple[float, float]:
    """Milliseconds from spawning the process to holding its ``initialize`` result, and the
    CPU milliseconds the process used until then."""
    editor = TimedEditor()
    started = time.monotonic()
    await editor.start(command, root / "bridge.log")
    await editor.initialize(root, options)
    elapsed = time.monotonic() - started
    cpu = cpu_ms(editor.pid)
    await editor.close()
    return elapsed * 1000, cpu


def compile_bytecode() -> None:
    """An installed bridge starts from bytecode, as pygls (the floor's code) does from
    site-packages: pip compiles it on install, and Python writes it on a first start. A
    checkout run with PYTHONDONTWRITEBYTECODE (this machine sets it) would otherwise compile
    the bridge's modules on every start and measure that instead."""
    package = Path.cwd() / "bridge"  # the code ``python -m bridge`` runs: this folder's
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    compile_bytecode()
    with scratch("startup") as tmp:
        root = Path(tmp)
        # Where OpenCode would be: nothing listens there, and nothing may try before answering.
        options = {"serverUrl": "http://127.0.0.1:9"}
        bridge: list[tuple[float, float]] = []
        floor: list[tuple[float, float]] = []
        for i in range(sizes.starts):
            order = [(BRIDGE, bridge), (FLOOR, floor)]
            for command, samples in order if i % 2 == 0 else order[::-1]:
                samples.append(await start_to_initialized(command, root, options))
    ratio = median([wall for wall, _ in bridge]) / median([wall for wall, _ in floor])
    cpu_ratio = median([cpu for _, cpu in bridge]) / median([cpu for _, cpu in floor])
    return [
        Row(
            "1",
            "process start → initialize result",
            "ms",
            [wall for wall, _ in bridge],
            f"ratio ≤ {TARGET_RATIO}",
            ratio <= TARGET_RATIO,
            detail=f"CPU time ratio {cpu_ratio:.2f}",
            baseline=[wall for wall, _ in floor],
            ratio=ratio,
        )
    ]
