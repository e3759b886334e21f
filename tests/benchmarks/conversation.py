"""8. The conversation document (docs/conversation.md), through the fake server.

(a) Opening a session of 1,000 messages (half questions, half answers with a tool step each):
``opencode.session.open`` sent → its ``window/showDocument`` at the editor, which includes
``GET /session/{id}`` and ``GET /session/{id}/message``, rendering the Markdown and writing the
file. The baseline is a bare httpx client reading (and decoding) the same messages. Each run
opens a session the bridge has not seen.

(b, c) A long stream into the open document: the editor has the conversation open (its buffer
applies each versioned edit as editors do, ``tests/support/editor_buffers.py``), then the
deltas of one answer arrive as fast as the fake sends them. (b) counts the edits in the
busiest second at the editor, (c) the largest edit; the run ends when the buffer holds the
whole answer.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types

from tests.benchmarks.common import (
    BRIDGE,
    Row,
    Sizes,
    TimedEditor,
    max_per_second,
    median,
    no_subscribers,
    scratch,
    wait_until,
)
from tests.benchmarks.stream import delta_frames, status
from tests.support.editor_buffers import Buffers
from tests.support.fake_opencode import FakeOpenCode, event
from tests.support.lsp import execute

OPEN_MS = 300.0
MAX_EDITS_PER_SECOND = 10
MAX_EDIT_CHARS = 16 * 1024


def message_events(session_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` messages as the events that make the fake store them: a question, then an
    answer with a tool step and a paragraph, again and again."""
    events: list[dict[str, Any]] = []
    created = 1_700_000_000_000
    for i in range(count):
        message_id = f"msg_{i:06d}{session_id[4:]}"
        user = i % 2 == 0
        info: dict[str, Any] = {
            "id": message_id,
            "sessionID": session_id,
            "role": "user" if user else "assistant",
            "time": {"created": created + i * 1000},
        }
        if not user:
            info.update(
                providerID="mock",
                modelID="mock-model",
                agent="build",
                cost=0.001,
                tokens={"input": 100, "output": 50, "reasoning": 0, "cache": {"read": 0}},
            )
        events.append(event("message.updated", sessionID=session_id, info=info))
        part: dict[str, Any] = {"sessionID": session_id, "messageID": message_id}
        if user:
            text = f"Question {i}: what does function_{i} in src/module_{i % 17}.py do?"
            events.append(
                event(
                    "message.part.updated",
                    part={**part, "id": f"prt_{i}a", "type": "text", "text": text},
                )
            )
            continue
        tool = {
            "id": f"prt_{i}t",
            "type": "tool",
            "tool": "bash",
            "callID": f"call_{i}",
            "state": {
                "status": "completed",
                "input": {"command": f"grep -n function_{i} src"},
                "output": f"src/module_{i % 17}.py:{i}: def function_{i}(x):\n",
                "title": "grep",
            },
        }
        answer = f"Answer {i}: `function_{i}` returns its argument doubled. " * 4
        events.append(event("message.part.updated", part={**part, **tool}))
        events.append(
            event(
                "message.part.updated",
                part={**part, "id": f"prt_{i}b", "type": "text", "text": answer},
            )
        )
    return events


async def started_bridge(root: Path, fake: FakeOpenCode) -> tuple[TimedEditor, Buffers]:
    editor = TimedEditor()
    await editor.start(
        BRIDGE, root / f"bridge-{time.monotonic_ns()}.log", {"XDG_STATE_HOME": str(root / "state")}
    )
    try:
        await editor.initialize(root, {"serverUrl": fake.url})
        editor.initialized()
        await wait_until(lambda: fake.subscriber_count, 10, "the bridge's event stream")
        await fake.wait_for_request_async("GET", "/session/status", timeout=10)
    except BaseException:
        await editor.close()
        raise
    return editor, Buffers(editor.client)


async def read_messages(fake: FakeOpenCode, session_id: str) -> float:
    """The baseline: the messages read and decoded by a bare httpx client; milliseconds."""
    async with httpx.AsyncClient(base_url=fake.url) as client:
        started = time.monotonic()
        response = await client.get(
            f"/session/{session_id}/message", params={"directory": fake.directory}
        )
        response.json()
        return (time.monotonic() - started) * 1000


async def open_once(editor: TimedEditor, session_id: str) -> tuple[float, str]:
    """``opencode.session.open`` → its showDocument; milliseconds, and the document's path."""
    shown = len(editor.client.shown_documents)
    started = time.monotonic()
    answer = await execute(editor.client, "opencode.session.open", {"sessionID": session_id})
    await wait_until(lambda: len(editor.client.shown_documents) > shown, 30, "showDocument")
    return (time.monotonic() - started) * 1000, str(answer["path"])


async def stream_once(
    fake: FakeOpenCode, editor: TimedEditor, buffers: Buffers, count: int
) -> tuple[float, int]:
    """One answer of ``count`` deltas into an open conversation: the edits in the busiest
    second and the largest edit (characters)."""
    session_id = fake.create_session()["id"]
    _, path = await open_once(editor, session_id)
    uri = await buffers.opened(Path(path))
    times: list[float] = []
    sizes: list[int] = []
    apply = buffers.apply

    def timed(params: types.ApplyWorkspaceEditParams) -> bool:
        times.append(time.monotonic())
        for change in params.edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                sizes.extend(len(e.new_text) for e in change.edits)
        return apply(params)

    editor.client.apply_edit = timed
    message_id, part_id = f"msg_{session_id[4:]}", f"prt_{session_id[4:]}"
    info = {"id": message_id, "sessionID": session_id, "role": "assistant", "time": {"created": 1}}
    text_part = {
        "id": part_id,
        "sessionID": session_id,
        "messageID": message_id,
        "type": "text",
        "text": "",
    }
    fake.publish(status(session_id, "busy"))
    fake.publish(event("message.updated", sessionID=session_id, info=info))
    fake.publish(event("message.part.updated", part=text_part))
    fake.stream_events([*delta_frames(session_id, count), status(session_id, "idle")])
    last = f"word{count - 1} "
    await wait_until(lambda: last in buffers.texts.get(uri, ""), 600, "the whole answer")
    editor.client.apply_edit = apply
    return max_per_second(times), max(sizes, default=0)


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    opened: list[float] = []
    baseline: list[float] = []
    rates: list[float] = []
    largest: list[float] = []
    with scratch("conversation") as tmp, FakeOpenCode(tmp) as fake:
        root = Path(tmp)
        sessions = []
        for _ in range(sizes.conversation_runs):
            session_id = fake.create_session("a long conversation")["id"]
            for each in message_events(session_id, sizes.conversation_messages):
                fake.publish(each)
            sessions.append(session_id)
        editor, buffers = await started_bridge(root, fake)
        try:
            await open_once(editor, fake.create_session()["id"])  # warm-up
            for session_id in sessions:
                baseline.append(await read_messages(fake, session_id))
                elapsed, path = await open_once(editor, session_id)
                opened.append(elapsed)
                text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
                assert text.count("## ") >= sizes.conversation_messages, "not every message"
            for _ in range(sizes.conversation_runs):
                rate, size = await stream_once(fake, editor, buffers, sizes.deltas)
                rates.append(rate)
                largest.append(float(size))
        finally:
            await editor.close()
        await no_subscribers(fake)
    count = sizes.conversation_messages
    return [
        Row(
            "8a",
            f"open a conversation of {count:,} messages → showDocument",
            "ms",
            opened,
            f"≤ {OPEN_MS:.0f} ms",
            median(opened) <= OPEN_MS,
            detail="baseline: the same messages read by a bare httpx client",
            baseline=baseline,
            ratio=median(opened) / median(baseline),
        ),
        Row(
            "8b",
            f"{sizes.deltas:,} deltas into an open conversation: edits in the busiest second",
            "/s",
            rates,
            f"≤ {MAX_EDITS_PER_SECOND}/s",
            max(rates) <= MAX_EDITS_PER_SECOND,
            detail=f"max {max(rates):g}/s",
        ),
        Row(
            "8c",
            "…the largest edit",
            "chars",
            largest,
            f"≤ {MAX_EDIT_CHARS // 1024} KiB",
            max(largest) <= MAX_EDIT_CHARS,
            detail=f"max {max(largest):,.0f} chars",
        ),
    ]
