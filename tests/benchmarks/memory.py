"""6. Resident memory: the bridge idle against the floor idle, and whether it grows with the
number of events (buffers must be bounded).

- idle: initialized and, for the bridge, connected to the fake with its state refetched.
- after benchmark 3: RSS after its 100k deltas, then after as many again, in the same process
  (if benchmark 3 did not run, one such bridge runs here).
- 1,000 sessions: each busy, its messages and parts, a few deltas, idle, all through one bridge;
  RSS after the first half of the sessions, then after all of them.

Growth is compared within one process, between a first checkpoint that has already paid for
every code path, cache and burst (the allocator keeps its high-water mark) and a second one after
as many events again: bounded buffers add nothing; anything kept per event would show.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.benchmarks.common import (
    FLOOR,
    Row,
    Sizes,
    TimedEditor,
    connected_bridge,
    median,
    no_subscribers,
    rss_mib,
    scratch,
    wait_until,
)
from tests.benchmarks.stream import bridge_run, status
from tests.support.fake_opencode import FakeOpenCode, event

IDLE_RATIO = 1.2
MAX_GROWTH = 1.05
SETTLE = 0.5  # seconds idle before reading RSS


async def floor_idle(root: Path) -> float:
    editor = TimedEditor()
    await editor.start(FLOOR)
    try:
        await editor.initialize(root)
        editor.initialized()
        await asyncio.sleep(SETTLE)
        return rss_mib(editor.pid)
    finally:
        await editor.close()


async def bridge_idle(root: Path, fake: FakeOpenCode) -> float:
    editor = await connected_bridge(root, fake)
    try:
        await asyncio.sleep(SETTLE)
        return rss_mib(editor.pid)
    finally:
        await editor.close()
        await no_subscribers(fake)


def session_events(fake: FakeOpenCode, deltas: int = 10) -> list[dict[str, Any]]:
    """One short run of a new session, as OpenCode publishes it."""
    sid = fake.new_id("ses")
    user, assistant, part = fake.new_id("msg"), fake.new_id("msg"), fake.new_id("prt")
    info = {"id": assistant, "sessionID": sid, "role": "assistant"}
    text = " ".join(f"word{i}" for i in range(deltas))
    return [
        event("session.created", sessionID=sid, info={"id": sid, "title": "bench"}),
        status(sid, "busy"),
        event(
            "message.updated", sessionID=sid, info={"id": user, "sessionID": sid, "role": "user"}
        ),
        event("message.updated", sessionID=sid, info=info),
        *(
            event(
                "message.part.delta",
                sessionID=sid,
                messageID=assistant,
                partID=part,
                field="text",
                delta=f"word{i} ",
            )
            for i in range(deltas)
        ),
        event(
            "message.part.updated",
            sessionID=sid,
            part={
                "id": part,
                "sessionID": sid,
                "messageID": assistant,
                "type": "text",
                "text": text,
            },
        ),
        status(sid, "idle"),
        event("session.idle", sessionID=sid),
    ]


async def play_sessions(fake: FakeOpenCode, editor: TimedEditor, count: int) -> None:
    ends = len(editor.ends())
    events = [e for _ in range(count) for e in session_events(fake)]
    fake.stream_events(events)
    await wait_until(lambda: len(editor.ends()) >= ends + count, 300, f"{count} sessions' ends")


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    with scratch("memory") as tmp, FakeOpenCode(tmp) as fake:
        root = Path(tmp)
        floor: list[float] = []
        bridge: list[float] = []
        for i in range(sizes.idle_runs):
            steps = [(lambda: floor_idle(root), floor), (lambda: bridge_idle(root, fake), bridge)]
            for measure, samples in steps if i % 2 == 0 else steps[::-1]:
                samples.append(await measure())

        stream_memory: Any = shared.get("stream_memory")
        if not stream_memory:  # benchmark 3 did not run: one run of it here
            editor = await connected_bridge(root, fake)
            try:
                await bridge_run(fake, editor, max(1, sizes.deltas // 10))
                await bridge_run(fake, editor, sizes.deltas)
                after_one = rss_mib(editor.pid)
                await bridge_run(fake, editor, sizes.deltas)
                stream_memory = [(after_one, rss_mib(editor.pid))]
            finally:
                await editor.close()
                await no_subscribers(fake)

        editor = await connected_bridge(root, fake)
        try:
            half = max(1, sizes.sessions // 2)
            await play_sessions(fake, editor, half)
            await asyncio.sleep(SETTLE)
            sessions_half = rss_mib(editor.pid)
            await play_sessions(fake, editor, sizes.sessions - half)
            await asyncio.sleep(SETTLE)
            sessions_after = rss_mib(editor.pid)
        finally:
            await editor.close()

    idle_ratio = median(bridge) / median(floor)
    stream_growth = max(after / before for before, after in stream_memory)
    sessions_growth = sessions_after / sessions_half
    return [
        Row(
            "6a",
            "resident memory, idle",
            "MiB",
            bridge,
            f"≤ {IDLE_RATIO} × baseline",
            idle_ratio <= IDLE_RATIO,
            baseline=floor,
            ratio=idle_ratio,
        ),
        Row(
            "6b",
            f"resident memory after benchmark 3 and {sizes.deltas:,} deltas more "
            "(baseline: after benchmark 3)",
            "MiB",
            [after for _, after in stream_memory],
            f"growth ≤ {MAX_GROWTH}×",
            stream_growth <= MAX_GROWTH,
            detail=f"growth {stream_growth:.3f}×",
            baseline=[before for before, _ in stream_memory],
            ratio=stream_growth,
        ),
        Row(
            "6c",
            f"resident memory after {sizes.sessions:,} sessions' events (baseline: after {half:,})",
            "MiB",
            [sessions_after],
            f"growth ≤ {MAX_GROWTH}×",
            sessions_growth <= MAX_GROWTH,
            detail=f"growth {sessions_growth:.3f}×",
            baseline=[sessions_half],
            ratio=sessions_growth,
        ),
    ]
