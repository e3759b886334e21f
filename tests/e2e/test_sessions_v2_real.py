"""Sessions, model and agent, slash commands, abort and status in OpenCode's V2 dialect
(``api: v2``) against the real ``opencode serve``; what V2 has no route for (fork, share,
delete, shell) says so in one sentence."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import RealOpenCode


@pytest.fixture
async def editor(git_repo: Path, server: RealOpenCode, start_bridge: StartEditor) -> EditorClient:
    return await start_bridge(git_repo, {"serverUrl": server.url, "api": "v2"})


async def api(server: RealOpenCode, path: str) -> Any:
    async with server.async_client() as client:
        response = await client.get(path)
        response.raise_for_status()
        return response.json()["data"]


async def answered(editor: EditorClient, text: str) -> None:
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"the answer {text!r}"
    )


async def test_new_list_and_select_sessions(editor: EditorClient, server: RealOpenCode) -> None:
    first = await execute(editor, "opencode.session.new")
    second = await execute(editor, "opencode.session.new")

    on_server = [s["id"] for s in await api(server, "/api/session")]
    assert {first["sessionID"], second["sessionID"]} <= set(on_server)
    listed = await execute(editor, "opencode.session.list")
    rows = {row["sessionID"]: row for row in listed}
    assert rows[second["sessionID"]]["current"] is True
    selected = await execute(editor, "opencode.session.select", {"sessionID": first["sessionID"]})
    assert selected["sessionID"] == first["sessionID"]
    again = {row["sessionID"]: row for row in await execute(editor, "opencode.session.list")}
    assert again[first["sessionID"]]["current"] is True


async def test_the_chosen_model_and_agent_become_the_sessions(
    editor: EditorClient, server: RealOpenCode, scripted_model: ScriptedModel
) -> None:
    assert await execute(editor, "opencode.model.select", {"model": "mock/mock-model"}) == {
        "model": "mock/mock-model"
    }
    assert await execute(editor, "opencode.agent.select", {"agent": "plan"}) == {"agent": "plan"}
    with pytest.raises(JsonRpcException) as refused:
        await execute(editor, "opencode.agent.select", {"agent": "no-such-agent"})
    assert "no such primary agent" in str(refused.value)
    scripted_model.push(Reply.text("Planned."))

    made = await execute(editor, "opencode.session.new")
    await execute(editor, "opencode.ask", {"prompt": "plan it"})
    await answered(editor, "Planned.")

    info = await api(server, f"/api/session/{made['sessionID']}")
    assert info["agent"] == "plan"
    assert (info["model"]["providerID"], info["model"]["id"]) == ("mock", "mock-model")


async def test_a_slash_command_runs_its_template(
    editor: EditorClient, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.text("AGENTS.md written."))

    await execute(editor, "opencode.command.run", {"name": "init", "arguments": "be brief"})

    await answered(editor, "AGENTS.md written.")
    sent = scripted_model.last_request().user_text()
    assert "Create or update `AGENTS.md` for this repository." in sent
    assert "be brief" in sent
    with pytest.raises(JsonRpcException) as refused:
        await execute(editor, "opencode.command.run", {"name": "no-such-command"})
    assert "OpenCode has no command /no-such-command" in str(refused.value)


async def test_abort_interrupts_the_run_and_says_it_stopped(
    editor: EditorClient, scripted_model: ScriptedModel
) -> None:
    hold = threading.Event()
    scripted_model.push(Reply.text("Partial words, then nothing.", hold=hold))
    try:
        await execute(editor, "opencode.ask", {"prompt": "take your time"})
        await editor.wait_for(
            lambda: [s for s in editor.statuses if s["state"] == "busy"], 60, "busy"
        )
        await editor.wait_for(scripted_model.chat_requests, 60, "the model's turn")
        await execute(editor, "opencode.session.abort")
        await editor.wait_for(lambda: editor.statuses[-1]["state"] == "idle", 60, "the run's end")
    finally:
        hold.set()
    assert "stopped" in editor.statuses[-1]["message"]
    assert editor.progress_values()[-1].message == "Stopped"


async def test_what_v2_cannot_do_is_said_in_one_sentence(
    editor: EditorClient, scripted_model: ScriptedModel
) -> None:
    await execute(editor, "opencode.session.new")
    with pytest.raises(JsonRpcException) as refused:
        await execute(editor, "opencode.session.fork")
    assert "This OpenCode server (V2) cannot fork sessions." in str(refused.value)

    await execute(editor, "opencode.session.delete")
    await editor.wait_for(
        lambda: "This OpenCode server (V2) cannot delete sessions." in editor.shown(),
        30,
        "the refusal",
    )


async def test_status_names_the_server_and_the_session(
    editor: EditorClient, server: RealOpenCode
) -> None:
    made = await execute(editor, "opencode.session.new")
    report = await execute(editor, "opencode.status")
    assert report["server"]["url"] == server.url
    assert report["session"]["sessionID"] == made["sessionID"]
    assert report["session"]["state"] == "idle"
    assert report["permissions"] == [] and report["questions"] == []
    assert (await api(server, f"/api/session/{made['sessionID']}"))["id"] == made["sessionID"]
