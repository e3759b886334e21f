"""OpenCode's wire events become typed events once, in one place."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.opencode.events import (
    KNOWN,
    Connected,
    FileEdited,
    MessageUpdated,
    PartDelta,
    PartUpdated,
    PermissionAsked,
    PermissionReplied,
    QuestionAsked,
    RunEnded,
    SessionError,
    SessionStatus,
    SessionUpdated,
    TuiSessionSelect,
    Unknown,
    parse_event,
    session_of,
)
from bridge.opencode.models import ABSENT, Request, SessionState


def wire(kind: str, **properties: Any) -> dict[str, Any]:
    return {"id": "evt_1", "type": kind, "properties": properties}


def test_both_wire_forms_of_a_finished_run_are_one_run_ended() -> None:
    # OpenCode sends both for one run; every consumer sees the same event twice.
    idle = parse_event(wire("session.idle", sessionID="ses_1"))
    status_idle = parse_event(wire("session.status", sessionID="ses_1", status={"type": "idle"}))
    assert idle == status_idle == RunEnded("ses_1")
    busy = parse_event(wire("session.status", sessionID="ses_1", status={"type": "busy"}))
    assert busy == SessionStatus("ses_1", SessionState("busy"))


def test_every_known_event_parses_to_its_class() -> None:
    request = {"id": "per_1", "sessionID": "ses_1", "permission": "edit"}
    samples: dict[str, dict[str, Any]] = {
        "session.status": {"sessionID": "s", "status": {"type": "retry", "attempt": 2}},
        "session.idle": {"sessionID": "s"},
        "session.error": {"sessionID": "s", "error": {"name": "UnknownError"}},
        "session.updated": {"info": {"id": "s", "revert": {"messageID": "msg_1"}}},
        "session.diff": {"sessionID": "s", "diff": [{"file": "a.py"}]},
        "message.updated": {"sessionID": "s", "info": {"id": "m", "role": "user"}},
        "message.part.updated": {"sessionID": "s", "part": {"id": "p", "type": "text"}},
        "message.part.delta": {"sessionID": "s", "partID": "p", "field": "text", "delta": "x"},
        "permission.asked": request,
        "permission.replied": {"sessionID": "s", "requestID": "per_1", "reply": "once"},
        "question.asked": {"id": "que_1", "sessionID": "s", "questions": []},
        "question.replied": {"sessionID": "s", "requestID": "que_1", "answers": []},
        "question.rejected": {"sessionID": "s", "requestID": "que_1"},
        "file.edited": {"file": "/w/a.py"},
        "tui.session.select": {"sessionID": "s"},
    }
    for kind in KNOWN:
        if kind is Connected:  # made by the stream, from server.connected and the refetch
            continue
        for name in (kind.WIRE, *kind.ALSO_WIRE):
            sample = samples[name]
            if kind is RunEnded and name == "session.status":
                sample = {**sample, "status": {"type": "idle"}}
            assert isinstance(parse_event(wire(name, **sample)), kind), name
    asked = parse_event(wire("permission.asked", **request))
    assert asked == PermissionAsked(Request.from_wire(request))
    assert isinstance(asked, PermissionAsked) and asked.request.permission == "edit"
    updated = parse_event(wire("session.updated", **samples["session.updated"]))
    assert isinstance(updated, SessionUpdated) and updated.info.revert_message_id == "msg_1"


@pytest.mark.parametrize(
    "event",
    [
        wire("lsp.updated"),  # an event the bridge does not read
        wire("session.idle"),  # no session
        wire("session.status", sessionID="s", status="busy"),  # status not an object
        wire("message.part.updated", part="p"),
        wire("message.part.delta", sessionID="s", delta=3),
        wire("permission.asked", sessionID="s", permission="bash"),  # no id
        wire("file.edited", file=None),
        {"type": "session.idle", "properties": None},
    ],
)
def test_what_cannot_be_read_is_a_harmless_unknown(event: dict[str, Any]) -> None:
    parsed = parse_event(event)
    assert isinstance(parsed, Unknown) and parsed.type == event["type"]
    assert session_of(parsed) is None


def test_parts_and_messages_keep_what_the_bridge_reads() -> None:
    tool = {
        "id": "prt_1",
        "sessionID": "ses_1",
        "messageID": "msg_1",
        "type": "tool",
        "tool": "edit",
        "callID": "call_1",
        "state": {"status": "running", "input": {"filePath": "/w/a.py"}, "title": 3},
    }
    parsed = parse_event(wire("message.part.updated", sessionID="ses_1", part=tool))
    assert isinstance(parsed, PartUpdated)
    part = parsed.part
    assert (part.tool, part.call_id, part.state.status) == ("edit", "call_1", "running")
    assert part.state.input == {"filePath": "/w/a.py"} and part.state.title is None
    patch = parse_event(
        wire("message.part.updated", part={"type": "patch", "files": ["a.py", "", 4]})
    )
    assert isinstance(patch, PartUpdated) and patch.part.files == ("a.py",)
    info = {"id": "msg_2", "role": "assistant", "structured": None, "error": "x"}
    message = parse_event(wire("message.updated", sessionID="ses_1", info=info))
    assert isinstance(message, MessageUpdated)
    assert message.info.structured is None  # sent, though null: not ABSENT
    assert message.info.error is None  # not an object
    plain = parse_event(wire("message.updated", info={"id": "msg_3"}))
    assert isinstance(plain, MessageUpdated) and plain.info.structured is ABSENT
    delta = parse_event(wire("message.part.delta", sessionID="s", partID="p", delta="a"))
    assert delta == PartDelta("s", None, "p", "text", "a")  # field defaults to text


def test_session_of_names_the_session_an_event_is_about() -> None:
    assert session_of(parse_event(wire("session.error", sessionID="s"))) == "s"
    assert session_of(SessionError(None, None)) is None
    assert session_of(PermissionReplied("per_1", "s", "once")) == "s"
    assert session_of(TuiSessionSelect("s")) == "s"
    assert session_of(FileEdited("/w/a.py")) is None
    assert session_of(QuestionAsked(Request("que_1", "s"))) is None
