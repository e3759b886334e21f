"""The scripted fake OpenCode server answers and streams as the tests and benchmarks rely on."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, aconnect_sse

from tests.support.fake_opencode import VERSION, FakeOpenCode, Pause, PromptCall, Step, event


class EventReader:
    """Reads one event stream of the fake, one frame at a time."""

    def __init__(self, source: EventSource) -> None:
        self._frames = source.aiter_sse()

    async def next_data(self, timeout: float = 5.0) -> str:
        frame = await asyncio.wait_for(self._frames.__anext__(), timeout)
        return frame.data

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(await self.next_data(timeout))
        return decoded

    async def until(self, type_: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every event up to and including the first of type `type_`."""
        seen = [await self.next(timeout)]
        while seen[-1]["type"] != type_:
            seen.append(await self.next(timeout))
        return seen


@asynccontextmanager
async def open_events(
    client: httpx.AsyncClient, path: str = "/event"
) -> AsyncIterator[EventReader]:
    """An event stream, past its `server.connected` (so the fake counts it as a subscriber)."""
    async with aconnect_sse(client, "GET", path) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(source)
        first = await reader.next()
        assert first.get("payload", first)["type"] == "server.connected"
        yield reader


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOpenCode]:
    with FakeOpenCode(tmp_path, heartbeat_interval=None) as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenCode) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5.0) as http:
        yield http


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# ---- identity, auth, catch-all ----------------------------------------------------------------


async def test_health_and_path_report_this_workspace(
    fake: FakeOpenCode, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await client.get("/global/health")).json() == {"healthy": True, "version": VERSION}
    path = (await client.get("/path", headers={"x-opencode-directory": "/elsewhere"})).json()
    assert set(path) == {"home", "state", "config", "worktree", "directory"}
    assert path["directory"] == path["worktree"] == str(tmp_path)


async def test_echo_directory_reports_the_directory_asked_for(tmp_path: Path) -> None:
    with FakeOpenCode(tmp_path, echo_directory=True) as fake:
        async with httpx.AsyncClient(base_url=fake.url) as http:
            by_header = await http.get("/path", headers={"x-opencode-directory": "/a%20b/c"})
            assert by_header.json()["directory"] == "/a b/c"
            by_query = await http.get(
                "/path", params={"directory": "/q"}, headers={"x-opencode-directory": "/h"}
            )
            assert by_query.json()["directory"] == "/q"


async def test_password_guards_every_route(tmp_path: Path) -> None:
    with FakeOpenCode(tmp_path, password="s3cret") as fake:
        async with httpx.AsyncClient(base_url=fake.url) as http:
            for path in ("/global/health", "/session", "/event", "/no/such/page"):
                denied = await http.get(path)
                assert denied.status_code == 401
                assert denied.json() == {
                    "_tag": "UnauthorizedError",
                    "message": "Authentication required",
                }
            assert (await http.get("/path", headers=basic("opencode", "wrong"))).status_code == 401
            assert (await http.get("/path", headers=basic("someone", "s3cret"))).status_code == 401
            allowed = await http.get("/global/health", headers=basic("opencode", "s3cret"))
            assert allowed.status_code == 200


async def test_without_password_no_credentials_are_needed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/session")).status_code == 200


async def test_unknown_path_answers_html_like_the_web_ui(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/nothing-here")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert b"<html" in response.content


async def test_static_routes_have_the_documented_shapes(client: httpx.AsyncClient) -> None:
    providers = (await client.get("/config/providers")).json()
    models = {(p["id"], m) for p in providers["providers"] for m in p["models"]}
    assert ("mock", "mock-model") in models and len(models) > 1
    assert providers["default"]["mock"] == "mock-model"
    assert {a["name"] for a in (await client.get("/agent")).json()} >= {"build", "plan"}
    assert all("template" in c for c in (await client.get("/command")).json())
    assert isinstance((await client.get("/lsp")).json(), list)
    assert isinstance((await client.get("/formatter")).json(), list)
    assert isinstance((await client.get("/mcp")).json(), dict)
    assert (await client.get("/config")).json()["model"] == "mock/mock-model"


# ---- sessions ---------------------------------------------------------------------------------


async def test_session_crud(fake: FakeOpenCode, client: httpx.AsyncClient, tmp_path: Path) -> None:
    rules = [{"permission": "edit", "pattern": "*", "action": "ask"}]
    created = (await client.post("/session", json={"title": "Fix it", "permission": rules})).json()
    session_id = created["id"]
    assert session_id.startswith("ses_")
    assert created["title"] == "Fix it"
    assert created["directory"] == str(tmp_path)
    assert created["permission"] == rules
    assert set(created["time"]) >= {"created", "updated"}

    untitled = (await client.post("/session")).json()
    assert untitled["title"].startswith("New session - ")

    listed = (await client.get("/session")).json()
    assert {s["id"] for s in listed} == {session_id, untitled["id"]}
    assert (await client.get(f"/session/{session_id}")).json() == created

    renamed = (await client.patch(f"/session/{session_id}", json={"title": "Renamed"})).json()
    assert renamed["title"] == "Renamed"
    assert fake.session(session_id)["title"] == "Renamed"  # type: ignore[index]

    assert (await client.delete(f"/session/{session_id}")).json() is True
    gone = await client.get(f"/session/{session_id}")
    assert gone.status_code == 404
    assert gone.json()["name"] == "NotFoundError"
    assert session_id in gone.json()["data"]["message"]
    assert (await client.delete(f"/session/{session_id}")).status_code == 404
    assert (
        await client.post(f"/session/{session_id}/prompt_async", json={"parts": []})
    ).status_code == 404
    malformed = await client.get("/session/not-an-id")
    assert malformed.status_code == 500
    assert malformed.json()["name"] == "UnknownError"


async def test_session_routes_answer_for_a_known_session(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session("s")["id"]
    base = f"/session/{session_id}"
    assert (await client.post(f"{base}/abort")).json() is True
    assert (await client.post(f"{base}/summarize", json={})).json() is True
    assert (await client.post(f"{base}/init", json={})).json() is True
    assert (await client.post(f"{base}/share")).json()["share"]["url"]
    fork = (await client.post(f"{base}/fork", json={})).json()
    assert fork["id"] != session_id and fork["id"].startswith("ses_")
    reverted = (await client.post(f"{base}/revert", json={"messageID": "msg_1"})).json()
    assert reverted["revert"] == {"messageID": "msg_1"}
    assert "revert" not in (await client.post(f"{base}/unrevert")).json()
    command = await client.post(f"{base}/command", json={"command": "init", "arguments": ""})
    assert command.json()["info"]["role"] == "assistant"
    shell = await client.post(f"{base}/shell", json={"agent": "build", "command": "ls"})
    assert shell.status_code == 200

    fake.publish(event("session.status", sessionID=session_id, status={"type": "busy"}))
    assert (await client.get("/session/status")).json() == {session_id: {"type": "busy"}}
    busy = await client.post(f"{base}/revert", json={"messageID": "msg_1"})
    assert busy.status_code == 409
    assert busy.json()["_tag"] == "SessionBusyError"


async def test_diff_is_what_the_test_set(fake: FakeOpenCode, client: httpx.AsyncClient) -> None:
    session_id = fake.create_session()["id"]
    outside = [{"file": "../../etc/passwd", "patch": "...", "additions": 1, "deletions": 0}]
    fake.set_diff(session_id, "msg_1", outside)
    assert (
        await client.get(f"/session/{session_id}/diff", params={"messageID": "msg_1"})
    ).json() == outside
    assert (await client.get(f"/session/{session_id}/diff")).json() == []
    assert (await client.get("/session/ses_unknown/diff")).json() == []


# ---- prompts and the event stream -------------------------------------------------------------


async def test_prompt_async_plays_the_default_run_in_order(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]
    body = {"parts": [{"type": "text", "text": "Hi"}], "messageID": "msg_user"}
    async with open_events(client) as events:
        answer = await client.post(f"/session/{session_id}/prompt_async", json=body)
        assert answer.status_code == 204
        run = await events.until("session.idle")

    types = [e["type"] for e in run]
    assert types[:3] == ["session.status", "message.updated", "message.part.updated"]
    assert run[0]["properties"] == {"sessionID": session_id, "status": {"type": "busy"}}
    assert run[1]["properties"]["info"]["id"] == "msg_user"
    assert run[1]["properties"]["info"]["role"] == "user"
    assert run[2]["properties"]["part"]["text"] == "Hi"
    assert types[-2:] == ["session.status", "session.idle"]
    assert run[-2]["properties"]["status"] == {"type": "idle"}
    deltas = [e["properties"]["delta"] for e in run if e["type"] == "message.part.delta"]
    assert len(deltas) > 1 and "".join(deltas) == fake.reply_text
    assert all(e["id"].startswith("evt_") for e in run)

    recorded = await fake.wait_for_request_async("POST", f"/session/{session_id}/prompt_async")
    assert recorded.body == body
    assert fake.prompts[-1].body == body
    assert (await client.get("/session/status")).json() == {}
    messages = (await client.get(f"/session/{session_id}/message")).json()
    assert [m["info"]["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["parts"][0]["text"] == fake.reply_text
    assert not fake.script_errors


async def test_prompt_script_replaces_the_default_run(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]

    def script(call: PromptCall) -> list[Step]:
        return [
            event("session.status", sessionID=call.session_id, status={"type": "busy"}),
            event("file.edited", file="/outside/workspace.py"),
            event("session.idle", sessionID=call.session_id),
        ]

    fake.set_prompt_script(script)
    async with open_events(client) as events:
        await client.post(f"/session/{session_id}/prompt_async", json={"parts": []})
        types = [e["type"] for e in await events.until("session.idle")]
    assert types == ["session.status", "file.edited", "session.idle"]

    fake.set_prompt_script(None)
    reply = await client.post(f"/session/{session_id}/message", json={"parts": []})
    assert reply.json()["parts"][0]["text"] == fake.reply_text


async def test_abort_stops_a_running_script_and_reports_idle(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]
    fake.set_prompt_script(
        lambda call: [
            event("session.status", sessionID=call.session_id, status={"type": "busy"}),
            Pause(30),
            event("message.updated", sessionID=call.session_id, info={"id": "msg_late"}),
        ]
    )
    async with open_events(client) as events:
        await client.post(f"/session/{session_id}/prompt_async", json={"parts": []})
        assert (await events.next())["properties"]["status"] == {"type": "busy"}
        permission_id = fake.ask_permission(session_id, "bash", metadata={"command": "ls"})
        assert (await events.next())["properties"]["id"] == permission_id
        assert (await client.post(f"/session/{session_id}/abort")).json() is True
        assert [e["type"] for e in await events.until("session.idle")] == [
            "session.status",
            "session.idle",
        ]
        await asyncio.to_thread(fake.run_script(None, [event("marker")]).result, 5)
        assert (await events.next())["type"] == "marker"  # nothing from the aborted run
    assert (await client.get("/permission")).json() == []


async def test_every_subscriber_gets_every_event(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    async with open_events(client) as first, open_events(client) as second:
        assert fake.subscriber_count == 2
        sent = [
            fake.publish(event("todo.updated", sessionID="ses_1", todos=[], n=i)) for i in range(3)
        ]
        assert [await first.next() for _ in sent] == sent
        assert [await second.next() for _ in sent] == sent


async def test_global_event_wraps_each_event(
    fake: FakeOpenCode, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with open_events(client, "/global/event") as events:
        sent = fake.publish(event("session.idle", sessionID="ses_1"))
        wrapped = await events.next()
    assert wrapped["directory"] == str(tmp_path)
    assert wrapped["payload"] == sent


async def test_ten_thousand_events_arrive_complete_and_in_order(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    count = 10_000
    flood = (
        event(
            "message.part.delta",
            sessionID="ses_1",
            messageID="msg_1",
            partID="prt_1",
            field="text",
            delta=f"{i} ",
        )
        for i in range(count)
    )
    async with open_events(client) as events:
        sent = fake.stream_events(flood)
        received = [(await events.next())["properties"]["delta"] for _ in range(count)]
    assert received == [f"{i} " for i in range(count)]
    assert sent.result(timeout=5) == count


async def test_garbage_frame_then_a_good_one(fake: FakeOpenCode, client: httpx.AsyncClient) -> None:
    async with open_events(client) as events:
        fake.publish_raw(b"data: {this is not json\n\n")
        good = fake.publish(event("session.idle", sessionID="ses_1"))
        assert await events.next_data() == "{this is not json"
        assert await events.next() == good


async def test_heartbeats_come_at_the_configured_interval(tmp_path: Path) -> None:
    with FakeOpenCode(tmp_path, heartbeat_interval=0.05) as fake:
        async with httpx.AsyncClient(base_url=fake.url) as http, open_events(http) as events:
            assert (await events.next(timeout=2))["type"] == "server.heartbeat"


async def test_disconnect_streams_ends_cleanly_or_mid_frame(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    async with open_events(client) as events:
        sent = fake.publish(event("session.idle", sessionID="ses_1"))
        assert fake.disconnect_streams() == 1
        assert await events.next() == sent
        with pytest.raises(StopAsyncIteration):
            await events.next()

    async with open_events(client) as events:
        fake.disconnect_streams(mid_frame=True)
        with pytest.raises(httpx.RemoteProtocolError):
            await events.next()


# ---- permissions, questions, TUI --------------------------------------------------------------


async def test_permission_ask_and_reply_round_trip(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]
    metadata = {"filepath": "/abs/a.py", "diff": "--- a\n+++ b\n"}
    async with open_events(client) as events:
        permission_id = fake.ask_permission(session_id, metadata=metadata, patterns=["a.py"])
        asked = await events.next()
        assert asked["type"] == "permission.asked"
        assert asked["properties"]["id"] == permission_id
        assert asked["properties"]["metadata"] == metadata
        assert (await client.get("/permission")).json() == [asked["properties"]]

        reply = await client.post(f"/permission/{permission_id}/reply", json={"reply": "once"})
        assert reply.json() is True
        assert (await events.next())["properties"] == {
            "sessionID": session_id,
            "requestID": permission_id,
            "reply": "once",
        }
    assert (await client.get("/permission")).json() == []
    again = await client.post(f"/permission/{permission_id}/reply", json={"reply": "once"})
    assert again.status_code == 404
    assert (
        await client.post("/permission/per_unknown/reply", json={"reply": "once"})
    ).status_code == 404
    bad = await client.post(f"/permission/{permission_id}/reply", json={"reply": "maybe"})
    assert bad.status_code == 400


async def test_reject_rejects_the_sessions_other_requests(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]
    first = fake.ask_permission(session_id, "bash", metadata={"command": "ls"})
    second = fake.ask_permission(session_id, "edit")
    other_session = fake.ask_permission("ses_other", "edit")
    async with open_events(client) as events:
        await client.post(f"/permission/{first}/reply", json={"reply": "reject"})
        replied = [await events.next(), await events.next()]
    assert {e["properties"]["requestID"] for e in replied} == {first, second}
    assert {e["properties"]["reply"] for e in replied} == {"reject"}
    assert [p["id"] for p in fake.pending_permissions] == [other_session]


async def test_question_reply_and_reject(fake: FakeOpenCode, client: httpx.AsyncClient) -> None:
    session_id = fake.create_session()["id"]
    answered, dismissed = fake.ask_question(session_id), fake.ask_question(session_id)
    assert [q["id"] for q in (await client.get("/question")).json()] == [answered, dismissed]
    async with open_events(client) as events:
        await client.post(f"/question/{answered}/reply", json={"answers": [["Yes"]]})
        replied = await events.next()
        await client.post(f"/question/{dismissed}/reject")
        rejected = await events.next()
    assert replied["type"] == "question.replied"
    assert replied["properties"]["answers"] == [["Yes"]]
    assert rejected["type"] == "question.rejected"
    assert (await client.post(f"/question/{dismissed}/reject")).status_code == 404


async def test_tui_routes_publish_their_events(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]
    toast = {"message": "Hi", "variant": "info"}
    async with open_events(client) as events:
        calls = [
            ("/tui/append-prompt", {"text": "@a.py#1-2"}),
            ("/tui/execute-command", {"command": "session_new"}),
            ("/tui/show-toast", toast),
            ("/tui/select-session", {"sessionID": session_id}),
            ("/tui/submit-prompt", None),
        ]
        for path, body in calls:
            assert (await client.post(path, json=body)).json() is True
        published = [await events.next() for _ in calls]
    assert [(e["type"], e["properties"]) for e in published] == [
        ("tui.prompt.append", {"text": "@a.py#1-2"}),
        ("tui.command.execute", {"command": "session.new"}),
        ("tui.toast.show", toast),
        ("tui.session.select", {"sessionID": session_id}),
        ("tui.command.execute", {"command": "prompt.submit"}),
    ]
    unknown = await client.post("/tui/select-session", json={"sessionID": "ses_unknown"})
    assert unknown.status_code == 404
    assert fake.wait_for_request("POST", "/tui/show-toast", timeout=0).body == toast


# ---- faults, restarts, request log ------------------------------------------------------------


async def test_fail_answers_the_scripted_status_then_recovers(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    fake.fail("GET", "/session", 500, times=1)
    failed = await client.get("/session")
    assert failed.status_code == 500
    assert failed.json()["name"] == "UnknownError"
    assert (await client.get("/session")).status_code == 200

    fake.fail("POST", "/session/", 409, times=1)
    assert (await client.post("/session/ses_x/revert", json={})).json()[
        "_tag"
    ] == "SessionBusyError"


async def test_fail_can_answer_html(fake: FakeOpenCode, client: httpx.AsyncClient) -> None:
    fault = fake.fail("GET", "/global/health", 200, body="<html><body>proxy</body></html>")
    for _ in range(2):
        response = await client.get("/global/health")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
    assert fault.hits == 2
    fake.clear_faults()
    assert (await client.get("/global/health")).json()["healthy"] is True


async def test_slow_answer_trips_the_client_timeout(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    fake.fail("GET", "/session/status", None, delay=2.0, times=1)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/session/status", timeout=0.2)
    assert (await client.get("/session/status")).json() == {}


async def test_fault_can_drop_the_connection(fake: FakeOpenCode, client: httpx.AsyncClient) -> None:
    fake.fail("*", "/path", disconnect=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/path")


async def test_stop_then_start_on_the_same_port(
    fake: FakeOpenCode, client: httpx.AsyncClient
) -> None:
    session_id = fake.create_session()["id"]
    port = fake.port
    async with open_events(client) as events:
        fake.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            await events.next()
    with pytest.raises(httpx.ConnectError):
        await client.get("/global/health")

    fake.start()
    assert fake.port == port
    assert (await client.get(f"/session/{session_id}")).json()["id"] == session_id
    async with open_events(client) as events:
        sent = fake.publish(event("session.idle", sessionID=session_id))
        assert await events.next() == sent


def test_wait_for_request_from_another_thread(fake: FakeOpenCode) -> None:
    def later() -> None:
        httpx.post(f"{fake.url}/tui/append-prompt", json={"text": "x"}, headers={"X-Test": "1"})

    thread = threading.Thread(target=later)
    thread.start()
    recorded = fake.wait_for_request("POST", "/tui/append-prompt", timeout=5)
    thread.join()
    assert recorded.body == {"text": "x"}
    assert recorded.headers["x-test"] == "1"
    with pytest.raises(TimeoutError):
        fake.wait_for_request("POST", "/tui/append-prompt", timeout=0.05)  # already returned
