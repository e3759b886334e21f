"""The test harness against a real ``opencode serve`` 1.18 and the scripted model.

No LSP here: plain HTTP, to prove that the harness (and the server behaviour the
bridge relies on) works: prompts reach the model, selections arrive as file
contents, permissions are asked and answered, edits land on disk with diffs.
"""

# ruff: noqa: F811  (the pytest fixtures imported below are test parameters)
from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.real_opencode import (  # noqa: F401 - fixtures are used by name
    EventStream,
    RealOpenCode,
    _descendants,
    _start_time,
    git_repo,
    require_opencode,
    scripted_model,
    start_opencode,
)

ASK = {"edit": "ask", "bash": "ask"}
StartOpenCode = Callable[..., RealOpenCode]


async def new_session(client: httpx.AsyncClient) -> str:
    response = await client.post("/session", json={})
    response.raise_for_status()
    session_id = response.json()["id"]
    assert isinstance(session_id, str) and session_id.startswith("ses_")
    return session_id


def texts(message: dict[str, Any]) -> list[str]:
    return [p["text"] for p in message["parts"] if p["type"] == "text"]


async def test_text_prompt_reaches_model_and_reply_comes_back(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, permission=ASK)
    scripted_model.push(Reply.text("The answer is forty-two, streamed in pieces."))
    async with server.async_client() as client:
        session_id = await new_session(client)
        response = await client.post(
            f"/session/{session_id}/message",
            json={"parts": [{"type": "text", "text": "What is the answer?\nSecond line."}]},
        )
        response.raise_for_status()
        message = response.json()

    assert message["info"]["role"] == "assistant"
    assert message["info"]["providerID"] == "mock"
    assert texts(message) == ["The answer is forty-two, streamed in pieces."]
    turn = scripted_model.last_request()
    assert turn.stream and "bash" in turn.tool_names
    assert "What is the answer?\nSecond line." in turn.last_user_text()
    assert "What is the answer?" in scripted_model.all_prompt_text()
    assert "You are opencode" in turn.system_text()
    # The title is a side request that does not consume the script.
    assert scripted_model.pending == 0
    assert [r.kind for r in scripted_model.requests].count("chat") == 1


async def test_default_reply_echoes_and_title_is_scripted(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url)
    async with server.async_client() as client:
        session_id = await new_session(client)
        response = await client.post(
            f"/session/{session_id}/message",
            json={"parts": [{"type": "text", "text": "hello demo\nmore"}]},
        )
        assert texts(response.json()) == ["Scripted answer: hello demo"]
        scripted_model.wait_for_requests(1, timeout=10, kind="title")
        for _ in range(100):
            title = (await client.get(f"/session/{session_id}")).json()["title"]
            if title == "Scripted session":
                break
            await asyncio.sleep(0.05)
        assert title == "Scripted session"
    assert ("GET", "/v1/models") not in scripted_model.http_log


async def test_selection_file_part_sends_those_lines_to_model(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, permission=ASK)
    source = git_repo / "src" / "a.py"
    scripted_model.push(Reply.text("That function takes a square root."))
    selection = {
        "type": "file",
        "mime": "text/plain",
        "filename": "src/a.py#3-4",
        "url": f"{source.as_uri()}?start=3&end=4",
        "source": {
            "type": "file",
            "path": "src/a.py",
            "text": {"value": "@src/a.py#3-4", "start": 0, "end": 0},
        },
    }
    async with server.async_client() as client:
        session_id = await new_session(client)
        response = await client.post(
            f"/session/{session_id}/message",
            json={"parts": [{"type": "text", "text": "Explain this selection"}, selection]},
        )
        response.raise_for_status()
        assert texts(response.json()) == ["That function takes a square root."]

    sent = scripted_model.last_request().user_text()
    assert "Explain this selection" in sent
    assert "def foo(x):" in sent and "return math.sqrt(x) + 42" in sent
    # Only the selected lines, not the rest of the file.
    assert "import math" not in sent and "def bar():" not in sent
    assert "def foo(x):" in scripted_model.all_prompt_text()


async def test_bash_permission_is_asked_and_once_runs_it(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, permission=ASK)
    scripted_model.push(
        Reply.bash("echo harness-says-hi", "Print a greeting"),
        Reply.text("The command printed a greeting."),
    )
    async with server.async_client() as client, EventStream(server) as events:
        session_id = await new_session(client)
        prompt = asyncio.create_task(
            client.post(
                f"/session/{session_id}/message",
                json={"parts": [{"type": "text", "text": "Say hi from the shell"}]},
            )
        )
        asked = await events.wait_for("permission.asked")
        request = asked["properties"]
        assert request["sessionID"] == session_id
        assert request["permission"] == "bash"
        assert request["metadata"] == {"command": "echo harness-says-hi"}
        assert request["patterns"] == ["echo harness-says-hi"]
        assert request["tool"]["callID"].startswith("call_scripted_")
        pending = (await client.get("/permission")).json()
        assert [p["id"] for p in pending] == [request["id"]]
        await events.wait_for("session.status", lambda p: p["status"]["type"] == "busy")
        assert not prompt.done()

        reply = await client.post(f"/permission/{request['id']}/reply", json={"reply": "once"})
        assert reply.status_code == 200 and reply.json() is True
        replied = await events.wait_for("permission.replied")
        assert replied["properties"] == {
            "sessionID": session_id,
            "requestID": request["id"],
            "reply": "once",
        }
        message = (await asyncio.wait_for(prompt, 20)).json()
        await events.wait_for("session.idle", lambda p: p["sessionID"] == session_id)

    assert texts(message) == ["The command printed a greeting."]
    assert len(scripted_model.chat_requests()) == 2
    assert any("harness-says-hi" in r for r in scripted_model.last_request().tool_results())
    completed = [
        e["properties"]["part"]
        for e in events.of_type("message.part.updated")
        if e["properties"]["part"].get("tool") == "bash"
        and e["properties"]["part"]["state"]["status"] == "completed"
    ]
    assert completed and completed[-1]["state"]["output"].strip() == "harness-says-hi"
    assert not events.of_type("file.edited")


async def test_edit_permission_carries_diff_and_once_edits_the_file(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, permission=ASK)
    target = git_repo / "src" / "a.py"
    before = target.read_text()
    scripted_model.push(
        Reply.edit(target, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    async with server.async_client() as client, EventStream(server) as events:
        session_id = await new_session(client)
        prompt = asyncio.create_task(
            client.post(
                f"/session/{session_id}/message",
                json={"parts": [{"type": "text", "text": "Use 43 instead of 42"}]},
            )
        )
        asked = await events.wait_for("permission.asked")
        request = asked["properties"]
        assert request["permission"] == "edit"
        assert request["patterns"] == ["src/a.py"]
        assert request["always"] == ["*"]
        assert request["metadata"]["filepath"] == str(target)
        diff = request["metadata"]["diff"]
        assert diff.startswith(f"Index: {target}\n")
        assert "-    return math.sqrt(x) + 42\n+    return math.sqrt(x) + 43\n" in diff
        assert target.read_text() == before  # asked before writing

        reply = await client.post(f"/permission/{request['id']}/reply", json={"reply": "once"})
        assert reply.json() is True
        edited = await events.wait_for("file.edited")
        assert edited["properties"] == {"file": str(target)}
        message = (await asyncio.wait_for(prompt, 20)).json()
        assert texts(message) == ["Changed 42 to 43."]
        assert target.read_text() == before.replace("+ 42", "+ 43")

        # The user message of this run carries the run's diffs (summary.diffs),
        # computed after the run: wait for them, then ask for the same list.
        user_id = message["info"]["parentID"]
        updated = await events.wait_for(
            "message.updated",
            lambda p: (
                p["info"]["id"] == user_id and bool(p["info"].get("summary", {}).get("diffs"))
            ),
        )
        summary_diffs = updated["properties"]["info"]["summary"]["diffs"]
        deadline = time.monotonic() + 10
        while True:
            diffs = (
                await client.get(f"/session/{session_id}/diff", params={"messageID": user_id})
            ).json()
            if diffs or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        no_message = (await client.get(f"/session/{session_id}/diff")).json()

    assert len(diffs) == 1
    assert diffs[0]["file"] == "src/a.py"
    assert diffs[0]["status"] == "modified"
    assert (diffs[0]["additions"], diffs[0]["deletions"]) == (1, 1)
    assert "+    return math.sqrt(x) + 43" in diffs[0]["patch"]
    assert summary_diffs == diffs
    assert no_message == []
    assert "Edit applied successfully." in scripted_model.last_request().tool_results()[0]


async def test_the_same_scripted_edit_runs_on_the_v2_engine(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    """Through ``/api/*`` the V2 engine offers ``edit`` with ``path``: the script of the V1 test
    above edits the file there too, after a ``permission.v2.asked`` (which carries no diff)."""
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, permission=ASK)
    target = git_repo / "src" / "a.py"
    before = target.read_text()
    scripted_model.push(
        Reply.edit(target, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    async with server.async_client() as client, EventStream(server, path="/api/event") as events:
        session = (await client.post("/api/session", json={})).json()["data"]
        prompt = {"prompt": {"text": "Use 43 instead of 42"}}
        admitted = await client.post(f"/api/session/{session['id']}/prompt", json=prompt)
        assert admitted.json()["data"]["id"].startswith("msg_")  # answered before the turn
        asked = (await events.wait_for("permission.v2.asked"))["data"]
        assert (asked["action"], asked["resources"]) == ("edit", ["src/a.py"])
        assert "diff" not in json.dumps(asked)
        assert target.read_text() == before  # asked before writing

        route = f"/api/session/{session['id']}/permission/{asked['id']}/reply"
        assert (await client.post(route, json={"reply": "once"})).status_code == 204
        success = await events.wait_for("session.next.tool.success", timeout=30)
        await events.wait_for("session.next.step.ended", lambda d: d["finish"] == "stop")

    [changed] = success["data"]["structured"]["files"]
    assert changed["file"] == "src/a.py"
    assert "+    return math.sqrt(x) + 43" in changed["patch"]
    assert target.read_text() == before.replace("+ 42", "+ 43")
    [edit_request, _] = scripted_model.chat_requests()
    assert "path" in (edit_request.tool_parameters("edit") or {})["properties"]


async def test_password_protects_the_server(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, password="s3cret")
    assert server.auth == ("opencode", "s3cret")
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        response = await anonymous.get("/global/health")
        assert response.status_code == 401
    async with server.async_client() as client:
        health = (await client.get("/global/health")).json()
        assert health == {"healthy": True, "version": "1.18.33"}
        path = (await client.get("/path")).json()
        assert path["directory"] == str(git_repo)


async def test_stop_leaves_no_process(
    start_opencode: StartOpenCode, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    # Default rules allow bash: the tool starts a long command, in its own session.
    scripted_model.push(Reply.bash("sleep 417", "Wait a long time"))
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url)
    assert server.startup_seconds is not None and server.startup_seconds < 20
    process = server.process
    assert process is not None and process.poll() is None
    async with server.async_client() as client, EventStream(server) as events:
        session_id = await new_session(client)
        response = await client.post(
            f"/session/{session_id}/prompt_async",
            json={"parts": [{"type": "text", "text": "wait"}]},
        )
        assert response.status_code == 204
        await events.wait_for(
            "message.part.updated",
            lambda p: p["part"].get("tool") == "bash" and p["part"]["state"]["status"] == "running",
        )
        await asyncio.sleep(0.5)
    children = _descendants(process.pid)
    assert children, "the bash tool should have started a child process"
    server.stop()
    assert process.poll() is not None
    assert server.process is None
    assert [pid for pid, started in children if _start_time(pid) == started] == []


def test_startup_failure_raises_with_log_tail(git_repo: Path, tmp_path: Path) -> None:
    require_opencode()
    with socket.socket() as taken:  # the port is taken: the server exits at once
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = RealOpenCode(
            git_repo, port=taken.getsockname()[1], base_dir=tmp_path / "oc", startup_timeout=20
        )
        with pytest.raises(RuntimeError, match="exited with code") as failure:
            server.start()
    assert "ServeError" in str(failure.value)
    assert server.process is None
    assert server.log_path.exists()
