"""The fake cannot drift from the real server: every route it serves is in the OpenAPI document
of the pinned ``opencode serve``, and what it answers there (bodies and the events on its event
streams) validates against that document's schemas. The document is the copy in tests/support,
proven here to be what the real server serves at ``GET /doc``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_opencode import FakeOpenCode, Pause
from tests.support.openapi import (
    load_spec,
    operation,
    path_errors,
    request_errors,
    response_errors,
    validation_errors,
)
from tests.support.real_opencode import RealOpenCode, make_git_repo
from tests.support.service import ScriptedModelService

NEVER_ANSWERS = {("GET", "/tui/control/next")}  # a long poll 1.18.33 never answers
# What 1.18.33 answers to a refused body (400) and to a malformed session id (500), whatever
# its document declares (400: `_tag` forms; 500: nothing), as seen on the real server.
SENT_FOR = {400: "BadRequestError", 500: "UnknownError"}


def test_the_pinned_document_is_what_the_real_server_serves(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo")
    with (
        ScriptedModelService() as model,
        RealOpenCode(repo, model_base_url=model.url, base_dir=tmp_path / "opencode") as server,
    ):
        response = httpx.get(f"{server.url}/doc", timeout=30)
    assert response.status_code == 200
    assert response.json() == load_spec()


def test_every_route_the_fake_serves_is_in_the_document(tmp_path: Path) -> None:
    spec = load_spec()
    routes = FakeOpenCode(tmp_path).served_routes
    assert ("POST", "/session/{sessionID}/prompt_async") in routes  # the list is the real one
    missing = [f"{m} {p}" for m, p in routes if operation(spec, m, p) is None]
    assert missing == []


class Events:
    """The frames of one event stream of the fake, read in a thread."""

    def __init__(self, url: str) -> None:
        self.frames: list[Any] = []
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        with httpx.stream("GET", url, timeout=httpx.Timeout(30.0)) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    self.frames.append(json.loads(line[6:]))

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the event stream did not end"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOpenCode]:
    with FakeOpenCode(make_git_repo(tmp_path / "repo"), heartbeat_interval=0.2) as server:
        yield server


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_every_answer_of_the_fake_validates_against_the_document(fake: FakeOpenCode) -> None:
    spec = load_spec()
    answered: list[tuple[str, str, int, Any]] = []
    bad_requests: list[str] = []
    events = Events(f"{fake.url}/event")
    global_events = Events(f"{fake.url}/global/event")
    fake.wait_for_subscribers(2)

    def call(method: str, path: str, body: Any = None, **query: str) -> Any:
        if body is not None:
            bad_requests.extend(
                f"{method} {path}: {e}" for e in request_errors(spec, method, path, body)
            )
        response = httpx.request(method, fake.url + path, json=body, params=query, timeout=10)
        decoded = response.json() if response.content else None
        answered.append((method, path, response.status_code, decoded))
        return decoded

    for path in ("/global/health", "/path", "/config", "/config/providers", "/agent"):
        call("GET", path)
    for path in ("/command", "/lsp", "/formatter", "/mcp", "/session", "/session/status"):
        call("GET", path)
    call("PATCH", "/config", {"username": "contract"})

    session = call("POST", "/session", {"title": "contract"})["id"]
    at = f"/session/{session}"
    call("PATCH", at, {"title": "renamed"})
    for path in (at, f"{at}/children", f"{at}/todo", f"{at}/diff"):
        call("GET", path)
    call("POST", f"{at}/prompt_async", {"parts": [{"type": "text", "text": "hello"}]})
    wait_until(lambda: len(call("GET", f"{at}/message")) >= 2, "the run's messages")
    wait_until(lambda: session not in call("GET", "/session/status"), "the run's end")
    messages = call("GET", f"{at}/message")
    for message in messages:
        call("GET", f"{at}/message/{message['info']['id']}")
    call("POST", f"{at}/message", {"parts": [{"type": "text", "text": "and then?"}]})
    call("GET", f"{at}/diff", messageID=messages[0]["info"]["id"])
    call("POST", f"{at}/fork", {})
    call("POST", f"{at}/share")
    call("DELETE", f"{at}/share")
    model = {"providerID": "mock", "modelID": "mock-model"}
    call("POST", f"{at}/summarize", model)
    call("POST", f"{at}/init", {**model, "messageID": messages[0]["info"]["id"]})
    call("POST", f"{at}/command", {"command": "review", "arguments": "now"})
    call("POST", f"{at}/shell", {"agent": "build", "command": "ls"})
    call("POST", f"{at}/revert", {"messageID": messages[-1]["info"]["id"]})
    call("POST", f"{at}/unrevert")
    call("POST", f"{at}/abort")

    asked = fake.ask_permission(session, "bash", patterns=["ls"], metadata={"command": "ls"})
    call("GET", "/permission")
    call("POST", f"/permission/{asked}/reply", {"reply": "once"})
    call("POST", f"/permission/{asked}/reply", {"reply": "once"})  # 404: answered already
    asked = fake.ask_permission(session, "edit", patterns=["src/a.py"])
    call("POST", f"{at}/permissions/{asked}", {"response": "reject"})
    question = fake.ask_question(session)
    call("GET", "/question")
    call("POST", f"/question/{question}/reply", {"answers": [["Yes"]]})
    call("POST", f"/question/{fake.ask_question(session)}/reject")
    call("POST", f"/question/{question}/reject")  # 404: answered already

    call("POST", "/tui/append-prompt", {"text": "look at this"})
    call("POST", "/tui/execute-command", {"command": "session_new"})
    call("POST", "/tui/show-toast", {"message": "hi", "variant": "info"})
    call("POST", "/tui/select-session", {"sessionID": session})
    call("POST", "/tui/publish", {"type": "tui.prompt.append", "properties": {"text": "more"}})
    call("POST", "/tui/control/response", {"body": True})
    for name in ("open-help", "open-sessions", "open-themes", "open-models"):
        call("POST", f"/tui/{name}")
    call("POST", "/tui/submit-prompt")
    call("POST", "/tui/clear-prompt")
    call("GET", "/session/ses_missing")  # 404
    refused = [
        (method, path, httpx.request(method, fake.url + path, json=body, timeout=10))
        for method, path, body in [
            ("PATCH", "/config", []),
            ("POST", f"{at}/prompt_async", {}),
            ("POST", f"{at}/revert", {}),
            ("POST", "/permission/per_x/reply", {"reply": "sometimes"}),
            ("POST", "/question/que_x/reply", {}),
            ("POST", "/tui/append-prompt", {}),
            ("POST", "/tui/publish", {"type": "x"}),
            ("GET", "/session/1", None),
        ]
    ]
    call("DELETE", at)
    call("POST", "/instance/dispose")  # ends the event streams
    events.join()
    global_events.join()

    assert bad_requests == []  # this test asks as the document says, so the answers count
    reached = {(m, found[0]) for m, p, _, _ in answered if (found := operation(spec, m, p))}
    reached |= {("GET", "/event"), ("GET", "/global/event")} | NEVER_ANSWERS
    served = {
        (m, found[0])
        for m, p in fake.served_routes
        if not p.startswith("/api/") and (found := operation(spec, m, p))  # V2: below
    }
    assert sorted(served - reached) == []  # every route was walked
    assert {status for _, _, status, _ in answered} >= {200, 204, 404}

    drift = [
        f"{method} {path} {status}: {error}"
        for method, path, status, body in answered
        for error in response_errors(spec, method, path, status, body)
    ]
    drift += [f"{m} {p}: {e}" for m, p, _, _ in answered for e in path_errors(spec, m, p)]
    assert [response.status_code for _, _, response in refused] == [400] * 7 + [500]
    for method, path, response in refused:
        schema = {"$ref": f"#/components/schemas/{SENT_FOR.get(response.status_code)}"}
        errors = validation_errors(spec, schema, response.json())
        drift += [f"{method} {path} {response.status_code}: {e}" for e in errors]
        if response.status_code == 400:
            assert response.json()["data"]["kind"] == "Payload"  # as the real server says
    kinds = {frame["type"] for frame in events.frames}
    assert {"server.connected", "message.part.delta", "permission.asked"} <= kinds
    for frame in events.frames:
        if frame["type"] == "server.heartbeat":  # outside the document's union, as on the server
            assert frame == {"id": frame["id"], "type": "server.heartbeat", "properties": {}}
            continue
        drift += [
            f"event {frame['type']}: {e}"
            for e in response_errors(spec, "GET", "/event", 200, frame)
        ]
    assert global_events.frames
    for frame in global_events.frames:
        kind = frame.get("payload", {}).get("type")
        if kind == "server.heartbeat":
            continue
        drift += [
            f"global event {kind}: {e}"
            for e in response_errors(spec, "GET", "/global/event", 200, frame)
        ]
    assert sorted(set(drift)) == [], "\n".join(sorted(set(drift)))


def test_the_document_does_refuse_a_drifted_answer(fake: FakeOpenCode) -> None:
    spec = load_spec()
    session = fake.create_session()
    assert response_errors(spec, "POST", "/session", 200, session) == []
    without_id = {k: v for k, v in session.items() if k != "id"}
    assert response_errors(spec, "POST", "/session", 200, without_id) != []
    assert response_errors(spec, "GET", "/global/health", 200, {"healthy": True}) != []
    delta = {"type": "message.part.delta", "properties": {"sessionID": session["id"]}}
    assert response_errors(spec, "GET", "/event", 200, {"id": "evt_1", **delta}) != []
    assert path_errors(spec, "GET", "/session/ses_1") == []
    assert path_errors(spec, "GET", "/session/1") != []


def test_every_v2_answer_of_the_fake_validates_against_the_document(fake: FakeOpenCode) -> None:
    spec = load_spec()
    answered: list[tuple[str, str, int, Any]] = []
    bad_requests: list[str] = []
    events = Events(f"{fake.url}/api/event")
    fake.wait_for_subscribers(1)

    def call(method: str, path: str, body: Any = None, **query: str) -> Any:
        if body is not None:
            bad_requests.extend(
                f"{method} {path}: {e}" for e in request_errors(spec, method, path, body)
            )
        response = httpx.request(method, fake.url + path, json=body, params=query, timeout=10)
        decoded = response.json() if response.content else None
        answered.append((method, path, response.status_code, decoded))
        return decoded

    for path in ("/api/health", "/api/location", "/api/session", "/api/session/active"):
        call("GET", path)
    for path in ("/api/agent", "/api/model", "/api/command"):
        call("GET", path)
    session = call("POST", "/api/session", {})["data"]["id"]
    at = f"/api/session/{session}"
    call("GET", at)
    call("POST", f"{at}/model", {"model": {"providerID": "mock", "id": "mock-model"}})
    call("POST", f"{at}/agent", {"agent": "plan"})
    fake.set_prompt_script_v2(
        lambda c: [
            *fake.v2_tool(
                c.session_id,
                "edit",
                {"path": "src/a.py", "oldString": "a", "newString": "b"},
                structured={
                    "files": [
                        {
                            "file": "src/a.py",
                            "patch": "Index: src/a.py\n",
                            "additions": 1,
                            "deletions": 1,
                            "status": "modified",
                        }
                    ],
                    "replacements": 1,
                },
                ask={"action": "edit", "resources": ["src/a.py"]},
                files=["src/a.py"],
            ),
            *fake.v2_turn(c.session_id, "Edited it."),
        ]
    )
    call("POST", f"{at}/prompt", {"prompt": {"text": "edit please"}})
    wait_until(lambda: bool(call("GET", "/api/permission/request")["data"]), "the permission")
    call("GET", "/api/session/active")
    asked = call("GET", f"{at}/permission")["data"][0]["id"]
    call("POST", f"{at}/permission/{asked}/reply", {"reply": "once"})
    call("POST", f"{at}/permission/{asked}/reply", {"reply": "once"})  # 404: answered already
    wait_until(lambda: not call("GET", "/api/session/active")["data"], "the turn's end")
    messages = call("GET", f"{at}/message")["data"]
    for message in messages:
        call("GET", f"{at}/message/{message['id']}")
    history = call("GET", f"{at}/history", after="0")["data"]
    replayed = session_events(f"{fake.url}{at}/event", after=3)
    call("POST", f"{at}/revert/stage", {"messageID": messages[-1]["id"]})
    call("POST", f"{at}/revert/commit")
    call("POST", f"{at}/revert/clear")
    call("POST", f"{at}/compact")
    fake.set_prompt_script_v2([Pause(30)])
    call("POST", f"{at}/prompt", {"prompt": {"text": "and wait"}})
    fake.run_script(session, fake.v2_turn(session, "half", finish="tool-calls"))
    wait_until(lambda: bool(call("GET", "/api/session/active")["data"]), "the turn's start")
    call("POST", f"{at}/interrupt", {})
    question = fake.ask_question_v2(session)
    call("GET", "/api/question/request")
    call("POST", f"{at}/question/{question}/reply", {"answers": [["Yes"]]})
    call("POST", f"{at}/question/{fake.ask_question_v2(session)}/reject")
    call("POST", f"{at}/question/{question}/reject")  # 404: answered already
    call("GET", "/api/session/ses_missing")  # 404
    call("GET", f"{at}/message/msg_missing")  # 404
    refused = [
        httpx.request(method, fake.url + path, json=body, timeout=10)
        for method, path, body in [
            ("POST", f"{at}/prompt", {"parts": []}),
            ("POST", f"{at}/permission/per_x/reply", {"reply": "sometimes"}),
            ("POST", f"{at}/revert/stage", {}),
        ]
    ]
    fake.disconnect_streams()
    events.join()

    assert bad_requests == []
    reached = {(m, found[0]) for m, p, _, _ in answered if (found := operation(spec, m, p))}
    reached |= {("GET", "/api/event"), ("GET", "/api/session/{sessionID}/event")}
    served = {
        (m, found[0])
        for m, p in fake.served_routes
        if p.startswith("/api/") and (found := operation(spec, m, p))
    }
    assert sorted(served - reached) == []  # every V2 route was walked
    assert {status for _, _, status, _ in answered} >= {200, 204, 404}
    drift = [
        f"{method} {path} {status}: {error}"
        for method, path, status, body in answered
        for error in response_errors(spec, method, path, status, body)
    ]
    drift += [f"{m} {p}: {e}" for m, p, _, _ in answered for e in path_errors(spec, m, p)]
    assert [response.status_code for response in refused] == [400] * 3
    for response in refused:
        schema = {"$ref": "#/components/schemas/InvalidRequestError"}
        drift += [f"refused: {e}" for e in validation_errors(spec, schema, response.json())]
    kinds = [frame["type"] for frame in events.frames]
    assert {"session.created", "permission.v2.asked", "session.next.tool.success"} <= set(kinds)
    assert {"session.next.text.delta", "session.next.step.failed", "question.v2.rejected"} <= set(
        kinds
    )
    for frame in events.frames:
        drift += [
            f"event {frame['type']}: {e}"
            for e in response_errors(spec, "GET", "/api/event", 200, frame)
        ]
    durable = [
        f["durable"]["seq"]
        for f in events.frames
        if f.get("durable", {}).get("aggregateID") == session
    ]
    assert durable == list(range(len(durable)))  # numbered from 0, none skipped
    # /history after 0: what was numbered after session.created when it was asked
    assert [e["durable"]["seq"] for e in history] == durable[1 : len(history) + 1]
    assert len(history) >= 10
    # The session's own stream replays what came after `after`, bare durable events, as
    # 1.18.33 sends them (its document says {id, event, data} with the event as a string).
    assert [e["durable"]["seq"] for e in replayed] == [e["durable"]["seq"] for e in history[3:]]
    durable_event = {"$ref": "#/components/schemas/SessionDurableEvent"}
    for event in replayed:
        drift += [
            f"replayed {event['type']}: {e}" for e in validation_errors(spec, durable_event, event)
        ]
    assert sorted(set(drift)) == [], "\n".join(sorted(set(drift)))


def session_events(url: str, after: int) -> list[Any]:
    """The frames ``GET /api/session/{id}/event`` sends until a quiet second."""
    frames: list[Any] = []
    try:
        with httpx.stream(
            "GET", url, params={"after": str(after)}, timeout=httpx.Timeout(5.0, read=1.0)
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    frames.append(json.loads(line[6:]))
    except httpx.ReadTimeout:
        pass  # the stream stays open for new events
    return frames


def test_a_v2_only_fake_has_no_v1_route(tmp_path: Path) -> None:
    with FakeOpenCode(tmp_path, v1=False) as fake:
        health = httpx.get(f"{fake.url}/global/health", timeout=10)
        v2_health = httpx.get(f"{fake.url}/api/health", timeout=10)
        document = httpx.get(f"{fake.url}/doc", timeout=10).json()
    assert health.status_code == 404
    assert health.json()["data"]["message"] == "Route not found"
    assert v2_health.json() == {"healthy": True}
    assert document["paths"] and all(p.startswith("/api/") for p in document["paths"])
