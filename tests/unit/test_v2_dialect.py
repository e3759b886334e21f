"""OpenCode's V2 dialect mapped into the bridge's typed layer: the event parser (frames as the
real 1.18.33 sends them on /api/event), the V2 objects, the client's routes and bodies
(httpx.MockTransport), the dialect chosen from /doc, and the prompt text V2 gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.core.prompts import Selection, prompt_parts
from bridge.core.runs import Answer, RunProgress, RunTracker
from bridge.core.settings import Settings, parse_settings
from bridge.errors import NO_TUI, NotOffered
from bridge.opencode import dialect, wire_v2
from bridge.opencode.client_v2 import OpenCodeClientV2, fill_command
from bridge.opencode.events import (
    FileEdited,
    PartDelta,
    PartUpdated,
    PermissionAsked,
    PermissionReplied,
    QuestionAsked,
    RunEnded,
    SessionError,
    SessionStatus,
    SessionUpdated,
)
from bridge.opencode.events_v2 import ToolCalls, durable_seq, parse_event_v2
from bridge.opencode.stream import EventStream

SESSION = "ses_1"
MESSAGE = "msg_2"
PATCH = (
    "Index: src/b.py\n===================================================================\n"
    "--- src/b.py\n+++ src/b.py\n@@ -1,1 +1,1 @@\n-GREETING = 'hello'\n+GREETING = 'howdy'\n"
)


def frame(kind: str, seq: int | None = None, **data: Any) -> dict[str, Any]:
    """A V2 frame: ``data`` where V1 has ``properties``; durable ones numbered per session."""
    wire: dict[str, Any] = {
        "id": "evt_x",
        "type": kind,
        "location": {"directory": "/repo"},
        "data": {"sessionID": SESSION, "assistantMessageID": MESSAGE, **data},
    }
    if seq is not None:
        wire["durable"] = {"aggregateID": SESSION, "seq": seq, "version": 1}
    return wire


# --- the event parser ---------------------------------------------------------------------------


def test_a_turn_with_an_edit_becomes_the_typed_events_of_a_v1_run() -> None:
    turn = [
        frame("session.next.prompted", 2, prompt={"text": "hi"}),
        frame("session.next.step.started", 3),
        frame(
            "session.next.tool.called",
            6,
            callID="call_1",
            tool="edit",
            input={"path": "src/b.py", "oldString": "hello", "newString": "howdy"},
        ),
        frame(
            "permission.v2.asked",
            id="per_1",
            action="edit",
            resources=["src/b.py"],
            save=["*"],
            source={"type": "tool", "messageID": MESSAGE, "callID": "call_1"},
        ),
        frame("permission.v2.replied", requestID="per_1", reply="once"),
        frame(
            "session.next.tool.success",
            7,
            callID="call_1",
            structured={"files": [{"file": "src/b.py", "patch": PATCH, "status": "modified"}]},
        ),
        frame("session.next.step.ended", 8, finish="tool-calls"),
        frame("session.next.text.delta", textID="text-0", delta="Done"),
        frame("session.next.text.ended", 11, textID="text-0", text="Done editing."),
        frame("session.next.step.ended", 12, finish="stop"),
    ]
    events = [event for wire in turn for event in parse_event_v2(wire)]

    busy, busy_again, called, asked, replied, succeeded, edited, delta, text, ended = events
    assert isinstance(busy, SessionStatus) and busy.state.type == "busy"
    assert busy_again == busy
    assert isinstance(called, PartUpdated) and called.part.state.status == "running"
    assert called.part.call_id == "call_1" and called.part.tool == "edit"
    assert called.part.state.input["path"] == "src/b.py"
    assert isinstance(asked, PermissionAsked)
    request = asked.request
    assert (request.id, request.session_id, request.permission) == ("per_1", SESSION, "edit")
    assert request.patterns == ("src/b.py",) and request.always == ("*",)
    assert (request.tool_message_id, request.tool_call_id) == (MESSAGE, "call_1")
    assert request.metadata.diff is None  # V2 sends none
    assert replied == PermissionReplied("per_1", SESSION, "once")
    assert isinstance(succeeded, PartUpdated) and succeeded.part.state.status == "completed"
    assert edited == FileEdited("src/b.py")  # the open buffer of b.py is brought up to date
    assert delta == PartDelta(SESSION, MESSAGE, f"{MESSAGE}/text-0", "text", "Done")
    assert isinstance(text, PartUpdated) and text.part.text == "Done editing."
    assert text.part.id == delta.part_id  # the whole text replaces its streamed pieces
    assert ended == RunEnded(SESSION)


def test_the_turn_ends_and_its_answer_is_told_through_the_same_tracker() -> None:
    tracker = RunTracker()
    tracker.expect_answer(SESSION)
    actions = []
    for wire in [
        frame("session.next.step.started", 3),
        frame("session.next.text.delta", textID="text-0", delta="Fine"),
        frame("session.next.text.ended", 5, textID="text-0", text="Fine, thanks."),
        frame("session.next.step.ended", 6, finish="stop"),
    ]:
        for event in parse_event_v2(wire):
            actions += tracker.on_event(event, 100.0)
    assert Answer(SESSION, "Fine, thanks.") in actions
    assert RunProgress("end", SESSION, "Done: Fine, thanks.") in actions


def test_a_finished_or_failed_call_is_described_by_the_tool_and_input_it_started_with() -> None:
    calls = ToolCalls()
    started = frame("session.next.tool.called", 6, callID="c", tool="bash", input={"command": "ls"})
    parse_event_v2(started, calls)
    failed = frame(
        "session.next.tool.failed", 7, callID="c", error={"message": "Tool execution interrupted"}
    )
    [part, _] = parse_event_v2(failed, calls)
    assert isinstance(part, PartUpdated)
    assert RunTracker().describe_step(part.part) == "bash: ls"


def test_failures_interrupts_and_rejections() -> None:
    failed = parse_event_v2(
        frame("session.next.step.failed", 9, error={"type": "unknown", "message": "No key."})
    )
    assert [type(e) for e in failed] == [SessionError, RunEnded]
    assert isinstance(failed[0], SessionError) and failed[0].error is not None
    assert failed[0].error.message == "No key."
    interrupted = parse_event_v2(
        frame("session.next.step.failed", 9, error={"message": "Provider turn interrupted"})
    )
    assert isinstance(interrupted[0], SessionError) and interrupted[0].error is not None
    assert interrupted[0].error.name == "MessageAbortedError"  # stopped, not failed
    rejected = parse_event_v2(
        frame(
            "session.next.tool.failed",
            7,
            callID="c",
            error={"type": "unknown", "message": "Tool execution interrupted"},
        )
    )
    assert [type(e) for e in rejected] == [PartUpdated, RunEnded]
    tool_error = parse_event_v2(
        frame("session.next.tool.failed", 7, callID="c", error={"message": "no match"})
    )
    assert [type(e) for e in tool_error] == [PartUpdated]  # the model is told and goes on
    assert isinstance(tool_error[0], PartUpdated)
    assert tool_error[0].part.state.error == "no match"


def test_questions_sessions_noise_and_numbers() -> None:
    [asked] = parse_event_v2(
        frame(
            "question.v2.asked",
            id="que_1",
            questions=[{"question": "Which?", "header": "Pick", "options": [{"label": "A"}]}],
        )
    )
    assert isinstance(asked, QuestionAsked)
    assert asked.request.questions[0].options[0].label == "A"
    [updated] = parse_event_v2(
        frame("session.created", 0, info={"id": SESSION, "title": "t", "directory": "/repo"})
    )
    assert isinstance(updated, SessionUpdated) and updated.info.directory == "/repo"
    assert parse_event_v2({"type": "plugin.added", "data": {"id": "x"}}) == ()
    assert parse_event_v2({"type": "session.next.step.ended", "properties": {}}) == ()
    assert durable_seq(frame("session.next.step.started", 3)) == (SESSION, 3)
    assert durable_seq(frame("session.next.text.delta")) is None


# --- V2 objects ---------------------------------------------------------------------------------


def test_messages_are_oldest_first_with_v1_shaped_parts() -> None:
    wire = {
        "data": [
            {
                "id": "msg_b",
                "type": "assistant",
                "model": {"providerID": "mock", "id": "m"},
                "content": [
                    {"type": "text", "id": "text-0", "text": "Hi."},
                    {
                        "type": "tool",
                        "id": "call_1",
                        "name": "edit",
                        "state": {
                            "status": "completed",
                            "input": {"path": "a.py"},
                            "content": [{"type": "text", "text": "Edited"}],
                        },
                    },
                ],
            },
            {"id": "msg_a", "type": "user", "text": "hello"},
        ],
        "cursor": {},
    }
    user, answer = wire_v2.messages(wire, SESSION) or ()
    assert user.info is not None and user.info.role == "user"
    assert [p.text for p in user.parts] == ["hello"]
    assert answer.info is not None and answer.info.model == "mock/m"
    text, tool = answer.parts
    assert text.text == "Hi." and tool.call_id == "call_1" and tool.tool == "edit"
    assert tool.state.output == "Edited" and tool.state.input == {"path": "a.py"}
    assert wire_v2.messages({"data": "nope"}, SESSION) is None


def test_lists_and_locations() -> None:
    assert (
        wire_v2.location({"directory": "/r/sub", "project": {"directory": "/r"}}).worktree == "/r"
    )
    models = {"data": [{"providerID": "p", "id": "a"}, {"providerID": "p", "id": "b"}]}
    [provider] = wire_v2.providers(models)
    assert (provider.id, provider.models) == ("p", ("a", "b"))
    agents = wire_v2.agents({"data": [{"id": "build", "mode": "primary"}, {"mode": "x"}]})
    assert [(a.name, a.mode) for a in agents] == [("build", "primary")]
    listed = {
        "data": [
            {"id": "ses_1", "location": {"directory": "/r"}},
            {"id": "ses_2", "parentID": "ses_1"},
        ]
    }
    sessions = wire_v2.sessions(listed)
    assert sessions is not None and sessions[0].directory == "/r" and len(sessions) == 2
    roots = wire_v2.sessions(listed, roots=True)
    assert roots is not None and [s.id for s in roots] == ["ses_1"]


def test_a_slash_command_template_is_filled_as_opencode_fills_it() -> None:
    assert fill_command("Do $ARGUMENTS now", "a b") == "Do a b now"
    assert fill_command("$1 then $2", "x y z") == "x then y z"
    assert fill_command("only $1", "") == "only "


# --- the client -----------------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def seen() -> AsyncIterator[list[tuple[str, str, Any]]]:
    yield []


def v2_client(seen: list[tuple[str, str, Any]], answers: dict[str, Any]) -> OpenCodeClientV2:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        answer = answers.get(request.url.path)
        return httpx.Response(204) if answer is None else httpx.Response(200, json=answer)

    return OpenCodeClientV2("http://127.0.0.1:4096", "/repo", transport=httpx.MockTransport(handle))


async def test_a_prompt_sets_the_sessions_model_and_agent_then_sends_the_text(
    seen: list[tuple[str, str, Any]],
) -> None:
    client = v2_client(seen, {"/api/model": {"data": [{"providerID": "mock", "id": "mock-model"}]}})
    body = {
        "parts": [{"type": "text", "text": "Explain."}, {"type": "file", "url": "file:///x"}],
        "model": {"providerID": "mock", "modelID": "mock-model"},
        "agent": "plan",
    }
    await client.prompt_async(SESSION, body)
    with pytest.raises(NotOffered) as missing:
        await client.prompt_async(
            SESSION, {**body, "model": {"providerID": "anthropic", "modelID": "claude"}}
        )
    await client.aclose()
    assert str(missing.value) == (
        "OpenCode: the server has no model anthropic/claude; "
        "opencode.model.select lists the ones it has."
    )
    assert seen[:4] == [
        ("GET", "/api/model", None),
        (
            "POST",
            f"/api/session/{SESSION}/model",
            {"model": {"providerID": "mock", "id": "mock-model"}},
        ),
        ("POST", f"/api/session/{SESSION}/agent", {"agent": "plan"}),
        ("POST", f"/api/session/{SESSION}/prompt", {"prompt": {"text": "Explain."}}),
    ]


async def test_replies_revert_and_what_v2_cannot_do(seen: list[tuple[str, str, Any]]) -> None:
    client = v2_client(seen, {})
    await client.reply_permission("per_1", "reject", "not that", session_id=SESSION)
    await client.abort(SESSION)
    await client.revert(SESSION, "msg_1")
    with pytest.raises(NotOffered) as no_session:
        await client.reply_permission("per_1", "once")
    with pytest.raises(NotOffered) as no_tui:
        await client.tui_append_prompt("hi")
    with pytest.raises(NotOffered) as no_fork:
        await client.fork_session(SESSION)
    await client.aclose()
    assert seen == [
        (
            "POST",
            f"/api/session/{SESSION}/permission/per_1/reply",
            {"reply": "reject", "message": "not that"},
        ),
        ("POST", f"/api/session/{SESSION}/interrupt", {}),
        ("POST", f"/api/session/{SESSION}/revert/stage", {"messageID": "msg_1"}),
    ]
    assert str(no_tui.value) == NO_TUI == "This OpenCode server (V2) has no TUI control."
    assert str(no_fork.value) == "This OpenCode server (V2) cannot fork sessions."
    assert "names no session" in str(no_session.value)
    assert (client.has_tui, client.takes_file_parts) == (False, False)


async def test_pending_requests_and_the_running_sessions(seen: list[tuple[str, str, Any]]) -> None:
    client = v2_client(
        seen,
        {
            "/api/permission/request": {
                "location": {},
                "data": [
                    {"id": "per_1", "sessionID": SESSION, "action": "bash", "resources": ["ls"]}
                ],
            },
            "/api/question/request": {"location": {}, "data": []},
            "/api/session/active": {"data": {SESSION: {"type": "running"}}},
        },
    )
    [pending] = await client.pending_permissions()
    assert (pending.permission, pending.metadata.command) == ("bash", "ls")
    assert await client.pending_questions() == ()
    assert {k: v.type for k, v in (await client.session_status()).items()} == {SESSION: "busy"}
    await client.aclose()


async def test_a_reconnect_delivers_the_missed_events_once_and_in_order() -> None:
    delivered: list[Any] = []
    stream = EventStream(
        OpenCodeClientV2("http://127.0.0.1:1", "/repo"), delivered.append, lambda error: None
    )
    for wire in [
        frame("session.next.step.started", 3),
        frame("session.next.text.delta", delta="x"),
    ]:
        for event in stream._parse(wire):
            delivered.append(event)
    assert stream.last_seq == {SESSION: 3}
    missed = [
        frame("session.next.step.started", 3),  # seen already: not again
        frame("session.next.text.ended", 5, textID="text-0", text="Whole answer."),
        frame("session.next.step.ended", 6, finish="stop"),
    ]
    delivered.clear()
    stream._deliver_missed([(SESSION, missed)])
    busy, text, ended = delivered
    assert isinstance(busy, SessionStatus)  # the run ended at the drop is begun again
    assert isinstance(text, PartUpdated) and text.part.text == "Whole answer."
    assert ended == RunEnded(SESSION)
    assert stream._parse(frame("session.next.step.ended", 6, finish="stop")) == ()
    await stream.client.aclose()


# --- the dialect, the setting, the prompt ---------------------------------------------------


def test_the_dialect_from_the_documented_routes() -> None:
    v1 = {route: {} for route in dialect.V1_NEEDS + dialect.V2_NEEDS}
    v2_only = {route: {} for route in dialect.V2_NEEDS}
    found = dialect.from_routes(v1)
    assert found is not None and found.api == "v1"
    found = dialect.from_routes(v2_only)
    assert found is not None and found.api == "v2" and "/global/health" in found.why
    assert dialect.from_routes({"/other": {}}) is None


async def test_a_server_that_speaks_neither_is_told_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="nope", headers={"content-type": "text/plain"})

    real = httpx.AsyncClient

    def fake(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
        return real(*args, **{**kwargs, "transport": httpx.MockTransport(handle)})

    monkeypatch.setattr(dialect.httpx, "AsyncClient", fake)
    guessed = await dialect.choose_dialect("http://127.0.0.1:9", Settings())
    assert guessed.api == "v1"  # V1's own sentences for what it then answers...
    message = str(dialect.neither("http://127.0.0.1:9", guessed, "404"))  # ...unless a 404
    assert message == (
        "OpenCode at http://127.0.0.1:9 speaks neither OpenCode API the bridge knows (it "
        "answered /doc: 404 text/plain; /api/health: 404 text/plain; /global/health: 404); "
        "check that serverUrl points at an OpenCode server."
    )
    forced = await dialect.choose_dialect("http://127.0.0.1:9", Settings(api="v2"))
    assert (forced.api, forced.why) == ("v2", "the api setting is v2")


def test_the_api_setting() -> None:
    assert parse_settings({})[0].api == "auto"
    assert parse_settings({"api": "v2"})[0].api == "v2"
    settings, warnings = parse_settings({"api": "v3"})
    assert settings.api == "auto"
    assert warnings == ["OpenCode setting api must be one of auto, v1, v2; keeping the default."]


def test_v2_prompts_carry_the_selection_in_their_text() -> None:
    selection = Selection(
        path=Path("/repo/src/a.py"),
        root=Path("/repo"),
        start_line=3,
        end_line=4,
        text="def foo(x):\n    return x\n",
        unsaved=False,
        language="python",
    )
    [text] = prompt_parts("Explain.", selection, [], inline=True)
    assert text == {
        "type": "text",
        "text": "Explain.\n\nLines 3-4 of src/a.py:\n```python\ndef foo(x):\n    return x\n```",
    }
    text_part, file_part = prompt_parts("Explain.", selection, [])  # V1: the file part
    assert file_part["type"] == "file" and "Lines 3-4" not in text_part["text"]
