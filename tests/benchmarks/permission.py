"""4. ``permission.asked`` → ``window/showMessageRequest`` at the client, while deltas stream at
1k/s on the same session.

Written against the protocol only: the fake's ``ask_permission`` publishes ``permission.asked``
and the editor notes when the prompt arrives; it then picks the action whose title starts with
"Reject" (if any), so that nothing stays pending. Permissions are asked one at a time, a few
tens of milliseconds apart. A bridge that never prompts gives "not measurable yet".
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.benchmarks.common import (
    Row,
    Sizes,
    connected_bridge,
    dialect_of,
    max_per_second,
    percentile,
    scratch,
    wait_until,
)
from tests.benchmarks.stream import publish, status
from tests.support.fake_opencode import FakeOpenCode, event, v2_event

P99_MS = 20.0


def deltas_until(
    session_id: str, stop: threading.Event, v2: bool = False
) -> Iterator[dict[str, Any]]:
    i = 0
    while not stop.is_set():
        if v2:
            yield v2_event(
                "session.next.text.delta",
                sessionID=session_id,
                assistantMessageID=f"msg_{session_id[4:]}",
                textID="text-0",
                delta=f"word{i} ",
            )
            i += 1
            continue
        yield event(
            "message.part.delta",
            sessionID=session_id,
            messageID=f"msg_{session_id[4:]}",
            partID=f"prt_{session_id[4:]}",
            field="text",
            delta=f"word{i} ",
        )
        i += 1


def reject(params: types.ShowMessageRequestParams) -> str | None:
    for action in params.actions or []:
        if action.title.lower().startswith("reject"):
            return action.title
    return None


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    dialect = dialect_of(shared)
    with scratch("permission") as tmp, FakeOpenCode(tmp) as fake:
        root = Path(tmp)
        (root / "a.py").write_text("x = 1\n")
        editor = await connected_bridge(root, fake, dialect)
        editor.answer = reject
        stop = threading.Event()
        try:
            session_id = fake.create_session()["id"]
            publish(fake, status(session_id, "busy", dialect))
            await wait_until(lambda: editor.progress, 10, "progress begin")
            flood = fake.stream_events(
                deltas_until(session_id, stop, dialect.v2), rate=sizes.delta_rate
            )
            await asyncio.sleep(0.5)  # the stream is steady before the first request
            latencies: list[float] = []
            streaming_since = time.monotonic()
            for i in range(sizes.permissions):
                seen = len(editor.prompts)
                asked = time.monotonic()
                if dialect.v2:  # no diff in a V2 request: the bridge looks for the tool call
                    fake.ask_permission_v2(session_id, "edit", ["a.py"])
                else:
                    fake.ask_permission(
                        session_id,
                        "edit",
                        patterns=["a.py"],
                        metadata={"filepath": str(root / "a.py"), "diff": ""},
                    )
                timeout = sizes.first_reply_timeout if i == 0 else 10.0
                try:
                    await wait_until(
                        lambda seen=seen: len(editor.prompts) > seen, timeout, "the prompt"
                    )
                except TimeoutError:
                    if i == 0:
                        return not_measurable(timeout)
                    raise
                latencies.append((editor.prompts[seen][0] - asked) * 1000)
                await asyncio.sleep(random.uniform(0.02, 0.05))
            streamed_for = time.monotonic() - streaming_since
        finally:
            stop.set()
            await editor.close()
        delivered = flood.result(timeout=10)
        reports = [t for t, _, kind in editor.progress if kind == "report"]
    p99 = percentile(latencies, 0.99)
    rate = delivered / (streamed_for + 0.5)
    return [
        Row(
            "4",
            f"permission.asked → showMessageRequest, deltas at {rate / 1000:.1g}k/s",
            "ms",
            latencies,
            f"p99 ≤ {P99_MS:g} ms",
            p99 <= P99_MS,
            detail=f"p99 {p99:.3g} ms",
        ),
        Row(
            "4b",
            f"progress reports per session, busiest second, deltas at {rate / 1000:.1g}k/s",
            "/s",
            [max_per_second(reports)],
            "≤ 10/s",
            max_per_second(reports) <= 10,
            detail=f"max {max_per_second(reports):g}/s",
        ),
    ]


def not_measurable(waited: float) -> list[Row]:
    return [
        Row(
            "4",
            "permission.asked → showMessageRequest, deltas at 1k/s",
            "ms",
            [],
            f"p99 ≤ {P99_MS:g} ms",
            None,
            detail=f"no showMessageRequest within {waited:g} s: the permissions feature "
            "has not landed",
        )
    ]
