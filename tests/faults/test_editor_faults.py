"""The editor misbehaves: it never answers a prompt.

Nothing may deadlock: other sessions' progress goes on, commands still answer, and nothing is
approved that the user did not approve. (Error and MethodNotFound answers are in
tests/e2e/test_permissions_fake.py, refused edits in tests/e2e/test_edits_fake.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.support.fake_opencode import FakeOpenCode, event
from tests.support.lsp import EditorClient, StartEditor, execute, hold_message_requests


@pytest.fixture
async def editor(
    repo: Path, fake: FakeOpenCode, start_bridge: StartEditor
) -> AsyncIterator[EditorClient]:
    client = await start_bridge(repo, {"serverUrl": fake.url})
    await client.wait_for(lambda: fake.subscriber_count, 10, "the event stream")
    yield client


async def test_a_prompt_never_answered_blocks_nothing_else(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    held = hold_message_requests(editor)
    waiting = fake.create_session()
    other = fake.create_session()
    fake.publish(event("session.status", sessionID=waiting["id"], status={"type": "busy"}))
    fake.ask_permission(
        waiting["id"], "bash", metadata={"command": "make deploy"}, patterns=["make deploy"]
    )
    await editor.wait_for(lambda: held.open, 10, "the prompt")

    # The user looks elsewhere: another session runs, commands answer, nothing is approved.
    fake.publish(event("session.status", sessionID=other["id"], status={"type": "busy"}))
    fake.publish(
        event(
            "message.part.delta",
            sessionID=other["id"],
            messageID="msg_o",
            partID="prt_o",
            field="text",
            delta="other session streams on",
        )
    )
    fake.publish(event("session.status", sessionID=other["id"], status={"type": "idle"}))
    await editor.wait_for(
        lambda: any(isinstance(v, types.WorkDoneProgressEnd) for v in editor.progress_values()),
        10,
        "the other session's progress to end",
    )
    pending = await execute(editor, "opencode.permission.list")
    assert [p["permission"] for p in pending] == ["bash"]
    assert not [r for r in fake.requests if r.path.startswith("/permission/")]
    held.dismiss_all()
