"""2. ``opencode.ask`` → command answered, and → prompt received by the (fake) server, against a
plain httpx script POSTing the same prompt to the same fake; asks and POSTs alternate."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

from tests.benchmarks.common import (
    BRIDGE,
    HERE,
    Row,
    Sizes,
    TimedEditor,
    dialect_of,
    median,
    percentile,
    scratch,
    server_env,
    wait_until,
)
from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import execute, open_file

ANSWER_P99_MS = 20.0
EXTRA_DELAY_MS = 5.0

SOURCE = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(200))


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    dialect = dialect_of(shared)
    prompt_route = "/prompt" if dialect.v2 else "/prompt_async"
    with scratch("ask") as tmp, FakeOpenCode(tmp) as fake:
        root = Path(tmp)
        (root / "src").mkdir()
        (root / "src" / "a.py").write_text(SOURCE)
        fake.set_prompt_script([])  # the prompt is all we measure: no run follows it
        fake.set_prompt_script_v2([])
        editor = TimedEditor()
        await editor.start(BRIDGE, root / "bridge.log")
        try:
            await editor.initialize(root, dialect.options(fake.url))
            editor.initialized()
            await wait_until(lambda: fake.subscriber_count, 10, "the bridge's event stream")
            await fake.wait_for_request_async("GET", dialect.refetch_route, timeout=10)
            uri = open_file(editor.client, root / "src" / "a.py")
            arguments = {
                "uri": uri,
                "range": {
                    "start": {"line": 30, "character": 0},
                    "end": {"line": 42, "character": 0},
                },
                "template": "explain",
            }
            # The first ask creates the session; the prompt it sends is the floor's body.
            await execute(editor.client, "opencode.ask", arguments)
            sessions = "/api/session/" if dialect.v2 else "/session/"
            first = await fake.wait_for_request_async("POST", sessions, timeout=10)
            while not first.path.endswith(prompt_route):
                first = await fake.wait_for_request_async("POST", sessions, timeout=10)
            body_file = root / "prompt.json"
            body_file.write_bytes(first.raw_body)
            return await measure(sizes, fake, editor, arguments, first.path, body_file)
        finally:
            await editor.close()


async def measure(
    sizes: Sizes,
    fake: FakeOpenCode,
    editor: TimedEditor,
    arguments: dict[str, object],
    path: str,
    body_file: Path,
) -> list[Row]:
    floor = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "post_floor.py"),
        fake.url,
        path,
        str(body_file),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=server_env(),
    )
    assert floor.stdin is not None and floor.stdout is not None
    try:
        assert await floor.stdout.readline() == b"ready\n"
        answered: list[float] = []
        received: list[float] = []
        floor_received: list[float] = []

        async def bridge_ask() -> None:
            started = time.monotonic()
            await execute(editor.client, "opencode.ask", arguments)
            answered.append((time.monotonic() - started) * 1000)
            request = await fake.wait_for_request_async("POST", path, timeout=10)
            received.append((request.received_at - started) * 1000)

        async def floor_post() -> None:
            assert floor.stdin is not None and floor.stdout is not None
            started = time.monotonic()
            floor.stdin.write(b"go\n")
            await floor.stdin.drain()
            request = await fake.wait_for_request_async("POST", path, timeout=10)
            floor_received.append((request.received_at - started) * 1000)
            assert await floor.stdout.readline() == b"sent\n"

        for _ in range(2):  # warm both paths up
            await bridge_ask()
            await floor_post()
        answered.clear(), received.clear(), floor_received.clear()
        for i in range(sizes.asks):
            for step in (bridge_ask, floor_post) if i % 2 == 0 else (floor_post, bridge_ask):
                await step()
                await asyncio.sleep(random.uniform(0.005, 0.02))
    finally:
        floor.stdin.close()
        await floor.wait()

    p99 = percentile(answered, 0.99)
    extra = median(received) - median(floor_received)
    return [
        Row(
            "2a",
            "opencode.ask → command answered",
            "ms",
            answered,
            f"p99 ≤ {ANSWER_P99_MS:g} ms",
            p99 <= ANSWER_P99_MS,
            detail=f"p99 {p99:.3g} ms",
        ),
        Row(
            "2b",
            "opencode.ask → prompt received by the server",
            "ms",
            received,
            f"extra ≤ {EXTRA_DELAY_MS:g} ms (median)",
            extra <= EXTRA_DELAY_MS,
            detail=f"extra {extra:+.3g} ms",
            baseline=floor_received,
            ratio=median(received) / median(floor_received),
        ),
    ]
