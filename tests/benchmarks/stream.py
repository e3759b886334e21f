"""3. Many ``message.part.delta`` events through the bridge → the last progress end at the
client, against a bare httpx-sse loop reading the same stream from the same fake.

Each run is one session: ``session.status`` busy, the deltas as fast as the reader takes them
(the fake's bounded buffer holds the publisher back), then idle. Runs of the bridge and of the
floor alternate, each on a fresh process, never both reading at once. The bridge's reports per
second are counted at the client. Each bridge then takes as many deltas again, untimed: its
memory after the measured run and after that one is what benchmark 6 compares.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.common import (
    HERE,
    V1,
    Dialect,
    Row,
    Sizes,
    TimedEditor,
    connected_bridge,
    dialect_of,
    max_per_second,
    median,
    no_subscribers,
    rss_mib,
    scratch,
    server_env,
    wait_until,
)
from tests.support.fake_opencode import FakeOpenCode, event, v2_event

MIN_THROUGHPUT_RATIO = 0.5
MAX_REPORTS_PER_SECOND = 10
CHUNK_BYTES = 64 * 1024


def delta_frames(
    session_id: str, count: int, offset: int = 0, dialect: Dialect = V1
) -> list[bytes]:
    """``count`` delta events as SSE frames, joined into chunks the fake sends as they are (so
    the fake's own JSON encoding is not what limits the rate)."""
    message_id, part_id = f"msg_{session_id[4:]}", f"prt_{session_id[4:]}"
    chunks: list[bytes] = []
    pending: list[bytes] = []
    size = 0
    for i in range(offset, offset + count):
        data: dict[str, Any] = {
            "id": f"evt_{i:012x}",
            "type": "message.part.delta",
            "properties": {
                "sessionID": session_id,
                "messageID": message_id,
                "partID": part_id,
                "field": "text",
                "delta": f"word{i} ",
            },
        }
        if dialect.v2:
            data = {
                "id": f"evt_{i:012x}",
                "type": "session.next.text.delta",
                "location": {"directory": "/"},
                "data": {
                    "timestamp": 0,
                    "sessionID": session_id,
                    "assistantMessageID": message_id,
                    "textID": "text-0",
                    "delta": f"word{i} ",
                },
            }
        frame = b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
        pending.append(frame)
        size += len(frame)
        if size >= CHUNK_BYTES:
            chunks.append(b"".join(pending))
            pending, size = [], 0
    if pending:
        chunks.append(b"".join(pending))
    return chunks


def status(session_id: str, state: str, dialect: Dialect = V1) -> dict[str, Any]:
    """The session becoming busy or idle: V1's ``session.status``; V2's step starting, or
    ending its turn."""
    if not dialect.v2:
        return event("session.status", sessionID=session_id, status={"type": state})
    said = {"sessionID": session_id, "assistantMessageID": f"msg_{session_id[4:]}"}
    if state == "busy":
        model = {"id": "mock-model", "providerID": "mock"}
        return v2_event("session.next.step.started", **said, agent="build", model=model)
    tokens = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
    return v2_event("session.next.step.ended", **said, finish="stop", cost=0, tokens=tokens)


def publish(fake: FakeOpenCode, item: dict[str, Any]) -> None:
    """An event of either dialect, to the streams of its dialect."""
    fake._publish_step(item)


class RunResult:
    def __init__(self, seconds: float, reports_per_second: float = 0.0) -> None:
        self.seconds = seconds
        self.reports_per_second = reports_per_second


async def bridge_run(
    fake: FakeOpenCode, editor: TimedEditor, count: int, dialect: Dialect = V1
) -> RunResult:
    """One session's deltas through the bridge; seconds from the first delta to the end."""
    session_id = fake.create_session()["id"]
    frames = delta_frames(session_id, count, dialect=dialect)
    begins = sum(kind == "begin" for _, _, kind in editor.progress)
    publish(fake, status(session_id, "busy", dialect))
    await wait_until(
        lambda: sum(kind == "begin" for _, _, kind in editor.progress) > begins, 10, "begin"
    )
    token = [token for _, token, kind in editor.progress if kind == "begin"][-1]
    started = time.monotonic()
    fake.stream_events([*frames, status(session_id, "idle", dialect)])
    await wait_until(
        lambda: any(t == token and kind == "end" for _, t, kind in editor.progress),
        300,
        "the progress end",
    )
    ended = next(at for at, t, kind in editor.progress if t == token and kind == "end")
    reports = [at for at, t, kind in editor.progress if t == token and kind == "report"]
    return RunResult(ended - started, max_per_second(reports))


async def floor_run(fake: FakeOpenCode, count: int, dialect: Dialect = V1) -> RunResult:
    """The same stream read by the bare httpx-sse loop, in its own process like the bridge."""
    session_id = fake.create_session()["id"]
    frames = delta_frames(session_id, count, dialect=dialect)
    reader = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "sse_floor.py"),
        fake.url,
        fake.directory,
        *(["v2"] if dialect.v2 else []),
        stdout=asyncio.subprocess.PIPE,
        env=server_env(),
    )
    assert reader.stdout is not None
    try:
        assert await asyncio.wait_for(reader.stdout.readline(), 10) == b"ready\n"
        publish(fake, status(session_id, "busy", dialect))
        started = time.monotonic()
        fake.stream_events([*frames, status(session_id, "idle", dialect)])
        line = (await asyncio.wait_for(reader.stdout.readline(), 300)).decode().split()
        assert line[0] == "done" and int(line[2]) == count, line
        return RunResult(float(line[1]) - started)
    finally:
        await reader.wait()


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    dialect = dialect_of(shared)
    count = sizes.deltas
    bridge: list[RunResult] = []
    floor: list[RunResult] = []
    memory: list[tuple[float, float]] = []  # RSS after the measured run, after one more
    with scratch("stream") as tmp, FakeOpenCode(tmp) as fake:
        root = Path(tmp)
        for i in range(sizes.stream_runs):
            if i % 2 == 1:
                floor.append(await floor_run(fake, count, dialect))
                await no_subscribers(fake)
            editor = await connected_bridge(root, fake, dialect)
            try:
                await bridge_run(fake, editor, max(1, count // 10), dialect)  # warm-up
                bridge.append(await bridge_run(fake, editor, count, dialect))
                after_one = rss_mib(editor.pid)
                await bridge_run(fake, editor, count, dialect)  # for 6: does memory grow?
                memory.append((after_one, rss_mib(editor.pid)))
            finally:
                await editor.close()
            await no_subscribers(fake)
            if i % 2 == 0:
                floor.append(await floor_run(fake, count, dialect))
                await no_subscribers(fake)
    shared["stream_memory"] = memory
    shared["reports_per_second"] = [r.reports_per_second for r in bridge]

    throughput = [count / r.seconds for r in bridge]
    floor_throughput = [count / r.seconds for r in floor]
    ratio = median(throughput) / median(floor_throughput)
    reports = [r.reports_per_second for r in bridge]
    return [
        Row(
            "3a",
            f"{count:,} deltas → last progress end (throughput)",
            "ev/s",
            throughput,
            f"≥ {MIN_THROUGHPUT_RATIO} × baseline",
            ratio >= MIN_THROUGHPUT_RATIO,
            baseline=floor_throughput,
            ratio=ratio,
        ),
        Row(
            "3b",
            "progress reports per session, busiest second, deltas at full speed",
            "/s",
            reports,
            f"≤ {MAX_REPORTS_PER_SECOND}/s",
            max(reports) <= MAX_REPORTS_PER_SECOND,
            detail=f"max {max(reports):g}/s",
        ),
    ]
