"""Sessions, model and agent, slash commands, abort and status in OpenCode's V2 dialect
(``api: v2``) against the real ``opencode serve``; what V2 has no route for (fork, share,
delete, shell) says so in one sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from bridge.demo.scripted_model import ScriptedModel
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
