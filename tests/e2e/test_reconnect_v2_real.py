"""Nothing lost across a reconnect, in OpenCode's V2 dialect, against the real ``opencode
serve`` behind the V2-only filter: the filter goes away (as a network would) while a run goes
on, and comes back; the answer given meanwhile, and a permission request asked meanwhile, each
reach the editor exactly once."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import RealOpenCode
from tests.support.v2_only import V2OnlyProxy


@pytest.fixture
def permission() -> dict[str, str]:
    return {"bash": "ask"}


async def messages(server: RealOpenCode, session_id: str) -> list[dict[str, Any]]:
    async with server.async_client() as client:
        response = await client.get(f"/api/session/{session_id}/message")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["data"]
        return found


async def answer_on_server(server: RealOpenCode, session_id: str, text: str) -> None:
    for _ in range(1200):
        for message in await messages(server, session_id):
            content = message.get("content") or []
            if any(part.get("text") == text for part in content if isinstance(part, dict)):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server never finished the answer {text!r}")


async def connected_and_busy(editor: EditorClient) -> str:
    [busy, *_] = await editor.wait_for(
        lambda: [s for s in editor.statuses if s["state"] == "busy" and s.get("sessionID")],
        60,
        "the run",
    )
    return str(busy["sessionID"])


async def test_an_answer_given_while_disconnected_is_shown_once(
    v2_only: V2OnlyProxy,
    server: RealOpenCode,
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_bridge: StartEditor,
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": v2_only.url})
    hold = threading.Event()
    answer = "The answer that came while you were away."
    scripted_model.push(Reply.text(answer, hold=hold))
    await execute(editor, "opencode.ask", {"prompt": "take your time"})
    session_id = await connected_and_busy(editor)
    await editor.wait_for(scripted_model.chat_requests, 60, "the model's turn")

    await asyncio.to_thread(v2_only.stop)  # the network goes away
    await editor.wait_for(
        lambda: editor.statuses[-1]["state"] == "disconnected", 30, "the loss noticed"
    )
    hold.set()  # the run finishes on the server meanwhile
    await answer_on_server(server, session_id, answer)
    await asyncio.to_thread(v2_only.start)  # and comes back, at the same address

    await editor.wait_for(
        lambda: any(answer in m.message for m in editor.log_messages), 60, "the missed answer"
    )
    await editor.wait_for(lambda: editor.statuses[-1]["state"] == "idle", 30, "idle again")
    await asyncio.sleep(0)  # let anything delivered twice arrive before counting
    assert sum(answer in m.message for m in editor.log_messages) == 1
    assert sum(answer in shown for shown in editor.shown()) == 1


async def test_a_permission_asked_while_disconnected_is_prompted_once(
    v2_only: V2OnlyProxy,
    server: RealOpenCode,
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_bridge: StartEditor,
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": v2_only.url})
    editor.answer_request = lambda params: "Allow once"
    hold = threading.Event()
    # The model's first words, then (once the network is gone) a command to ask about.
    asking = replace(Reply.bash("touch asked-while-away.txt"), content="First I think.", hold=hold)
    scripted_model.push(asking, Reply.text("Made it."))
    await execute(editor, "opencode.ask", {"prompt": "make a file"})
    session_id = await connected_and_busy(editor)
    await editor.wait_for(scripted_model.chat_requests, 60, "the model's turn")

    await asyncio.to_thread(v2_only.stop)
    await editor.wait_for(
        lambda: editor.statuses[-1]["state"] == "disconnected", 30, "the loss noticed"
    )
    hold.set()
    async with server.async_client() as client:
        for _ in range(1200):
            asked = (await client.get(f"/api/session/{session_id}/permission")).json()["data"]
            if asked:
                break
            await asyncio.sleep(0.05)
    assert asked, "the server never asked"
    await asyncio.to_thread(v2_only.start)

    await editor.wait_for(
        lambda: any("Made it." in m.message for m in editor.log_messages), 60, "the answer"
    )
    assert [m.message.split("\n")[0] for m in editor.message_requests] == [
        "OpenCode wants to run: touch asked-while-away.txt"
    ]
    assert await asyncio.to_thread((git_repo / "asked-while-away.txt").exists)
