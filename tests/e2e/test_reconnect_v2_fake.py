"""Nothing lost across a reconnect, in V2, against the scripted fake (the real server cannot be
made to drop its event stream on demand): while the bridge's event stream is down, the run
answers and a permission is asked; once the stream is back, each reaches the user exactly once,
and a second reconnect brings neither again.

The fake here speaks only V2 (`v1=False`) and the bridge keeps its default settings (`api`
auto), so it also shows the dialect is chosen from the server's `/doc`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.support.fake_opencode import FakeOpenCode, PromptCallV2, Step
from tests.support.lsp import EditorClient, StartEditor, execute

ANSWER = "Answered while you were away."
COMMAND = "touch made-while-away.txt"


@pytest.fixture
def fake_v2(repo: Path) -> Iterator[FakeOpenCode]:
    with FakeOpenCode(repo, v1=False) as server:
        yield server


def prompts_for(editor: EditorClient, text: str) -> list[str]:
    return [m.message for m in editor.message_requests if text in m.message]


def answers(editor: EditorClient) -> list[str]:
    return [m.message for m in editor.log_messages if ANSWER in m.message]


async def drop_and_hold_the_stream(fake: FakeOpenCode, editor: EditorClient) -> None:
    """Cut the event stream and refuse it until `fake.clear_faults()`; return once the bridge
    has tried again (and been refused)."""
    fake.fail("GET", "/api/event", 503)
    fake.disconnect_streams()
    await fake.wait_for_request_async("GET", "/api/event", 30)  # first connection
    await fake.wait_for_request_async("GET", "/api/event", 30)  # a retry, refused


async def reconnected(fake: FakeOpenCode, editor: EditorClient) -> None:
    """Let the stream back and wait until the bridge has asked what waits for the user."""
    fake.clear_faults()
    await fake.wait_for_subscribers_async(1, 30)
    await fake.wait_for_request_async("GET", "/api/permission/request", 30)


async def test_a_permission_asked_while_disconnected_is_shown_once(
    fake_v2: FakeOpenCode, repo: Path, start_bridge: StartEditor
) -> None:
    fake = fake_v2
    editor = await start_bridge(repo, {"serverUrl": fake.url})
    answered: list[str] = []
    editor.answer_request = lambda params: answered.append(params.message) or "Allow once"
    await fake.wait_for_subscribers_async(1, 30)
    release = threading.Event()

    def script(call: PromptCallV2) -> list[Step]:
        def wait(_fake: FakeOpenCode) -> None:
            release.wait(60)

        run = fake.v2_turn(call.session_id, "Looking.", finish="tool-calls")
        asks = {"action": "bash", "resources": [COMMAND], "save": [COMMAND]}
        return [*run, wait, *fake.v2_tool(call.session_id, "bash", {"command": COMMAND}, ask=asks)]

    fake.set_prompt_script_v2(script)
    try:
        await execute(editor, "opencode.ask", {"prompt": "make a file"})
        await editor.wait_for(
            lambda: any(s.get("state") == "busy" for s in editor.statuses), 30, "the run's start"
        )
        await drop_and_hold_the_stream(fake, editor)
        release.set()
        await editor.wait_for(lambda: fake.pending_permissions_v2, 30, "the request")
        assert fake.subscriber_count == 0  # nobody heard it asked
        await reconnected(fake, editor)

        await editor.wait_for(lambda: answered, 30, "the permission prompt")
        await editor.wait_for(lambda: not fake.pending_permissions_v2, 30, "the reply")
        replies = [r for r in fake.requests if r.path.endswith("/reply")]
        assert [r.body for r in replies] == [{"reply": "once"}]
        fake.disconnect_streams()  # a second reconnect brings nothing back
        await fake.wait_for_request_async("GET", "/api/event", 30)
        await fake.wait_for_request_async("GET", "/api/permission/request", 30)
        assert await execute(editor, "opencode.permission.list") == []
        assert len(answered) == 1 and answered[0].startswith(f"OpenCode wants to run: {COMMAND}")
        # api auto: the bridge read /doc and spoke V2 only
        assert [r.path for r in fake.requests if not r.path.startswith("/api/")] == ["/doc"]
    finally:
        release.set()


async def test_an_answer_given_while_disconnected_arrives_once(
    fake_v2: FakeOpenCode, repo: Path, start_bridge: StartEditor
) -> None:
    fake = fake_v2
    editor = await start_bridge(repo, {"serverUrl": fake.url})
    await fake.wait_for_subscribers_async(1, 30)
    release = threading.Event()

    def script(call: PromptCallV2) -> list[Step]:
        def wait(_fake: FakeOpenCode) -> None:
            release.wait(60)

        sid = call.session_id
        return [
            *fake.v2_turn(sid, "Looking.", finish="tool-calls"),
            wait,
            *fake.v2_turn(sid, ANSWER),
        ]

    fake.set_prompt_script_v2(script)
    try:
        await execute(editor, "opencode.ask", {"prompt": "take a while"})
        await editor.wait_for(
            lambda: any(s.get("state") == "busy" for s in editor.statuses), 30, "the run's start"
        )
        await drop_and_hold_the_stream(fake, editor)
        release.set()
        await editor.wait_for(lambda: not fake.v2_running_sessions(), 30, "the run's end")
        await reconnected(fake, editor)
        await editor.wait_for(lambda: answers(editor), 30, "the answer")
        await editor.wait_for(
            lambda: any(v.kind == "end" for v in editor.progress_values()), 30, "progress end"
        )
        fake.disconnect_streams()  # again: the answer is not told twice
        await fake.wait_for_request_async("GET", "/api/event", 30)
        await fake.wait_for_request_async("GET", "/api/permission/request", 30)
        assert len(answers(editor)) == 1
        assert editor.shown(types.MessageType.Error) == []
    finally:
        release.set()
