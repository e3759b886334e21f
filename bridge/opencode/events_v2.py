"""OpenCode's V2 events (``GET /api/event``) read into the same typed events as V1's.

A V2 frame is ``{id, type, location, data, durable?: {aggregateID, seq}}``: ``data`` where V1
has ``properties``, and a turn told as ``session.next.*`` steps. :func:`parse_event_v2` is the
only reader of that form; what it returns are the events of events.py, so features do not
know which dialect the server speaks. One V2 frame may stand for several V1 events (a tool
that changed files is a finished tool part and one ``file.edited`` per file; a failed step is
the run's error and its end), so it returns a tuple.

When a turn ends is decided here: ``session.next.step.ended`` with any finish but
``tool-calls`` (another step follows those), or a failed step.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from bridge.opencode import events, wire_v2
from bridge.opencode.models import Part, RunError, SessionState

BUSY = SessionState("busy")
NEXT_STEP = "tool-calls"  # a step.ended finish after which the turn goes on
INTERRUPTED = "Tool execution interrupted"  # a tool's failure that ends the turn (1.18.33)
STEP_INTERRUPTED = "Provider turn interrupted"  # POST /api/session/{id}/interrupt (1.18.33)
ABORTED = "MessageAbortedError"  # what V1 names a run stopped on purpose


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def durable_seq(wire: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(session, seq)`` of a durable frame: the server numbers a session's events, so a
    client that remembers the last can tell what it missed."""
    durable = wire.get("durable")
    if not isinstance(durable, dict):
        return None
    aggregate, seq = durable.get("aggregateID"), durable.get("seq")
    if isinstance(aggregate, str) and isinstance(seq, int) and not isinstance(seq, bool):
        return aggregate, seq
    return None


def _error(data: Mapping[str, Any]) -> RunError:
    error = data.get("error")
    if isinstance(error, dict):
        read = RunError.from_wire(error)
        if read is not None:
            return read
    return RunError(message=_str(error))


class ToolCalls:
    """The tool and input of each call, from its ``tool.called``: V2 names neither again when
    the call succeeds or fails, and a step is described by them ("bash: touch a.txt")."""

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self.calls: OrderedDict[str, tuple[str | None, Any]] = OrderedDict()

    def remember(self, call_id: str | None, tool: str | None, tool_input: Any) -> None:
        if call_id is None:
            return
        self.calls[call_id] = (tool, tool_input)
        self.calls.move_to_end(call_id)
        while len(self.calls) > self.limit:
            self.calls.popitem(last=False)

    def get(self, call_id: str | None, tool: str | None) -> tuple[str | None, Any]:
        known_tool, tool_input = self.calls.get(call_id or "", (None, None))
        return tool or known_tool, tool_input


def _interrupted(message: str | None) -> bool:
    """A step that failed because it was interrupted (1.18.33: "Provider turn interrupted";
    other words for it are taken too, since the moment of the interrupt changes them)."""
    words = (message or "").lower()
    return message == STEP_INTERRUPTED or "interrupt" in words or "abort" in words


def parse_event_v2(  # noqa: C901 - one case a type
    wire: Mapping[str, Any], calls: ToolCalls | None = None
) -> tuple[events.Event, ...]:
    """One V2 frame -> its typed events (none for what the bridge does not read). ``calls``
    remembers each tool call across frames (the stream keeps one)."""
    calls = calls if calls is not None else ToolCalls()
    kind = str(wire.get("type"))
    data = wire.get("data")
    if not isinstance(data, dict):
        return ()
    session_id = _str(data.get("sessionID"))
    message_id = _str(data.get("assistantMessageID"))
    # Most frames of a turn are text deltas: they are looked for first.
    if kind == "session.next.text.delta":
        delta = data.get("delta")
        if not isinstance(delta, str):
            return ()
        part_id = f"{message_id}/{data.get('textID')}"
        return (events.PartDelta(session_id, message_id, part_id, "text", delta),)
    if kind == "session.next.text.ended":
        text = data.get("text")
        if not isinstance(text, str) or session_id is None:
            return ()
        part_id = f"{message_id}/{data.get('textID')}"
        return (
            events.PartUpdated(session_id, Part("text", part_id, session_id, message_id, text)),
        )
    if kind in ("session.next.prompted", "session.next.step.started"):
        return () if session_id is None else (events.SessionStatus(session_id, BUSY),)
    if kind == "session.next.step.ended":
        if session_id is None or data.get("finish") == NEXT_STEP:
            return ()
        return (events.RunEnded(session_id),)
    if kind == "session.next.step.failed":
        if session_id is None:
            return ()
        error = _error(data)
        if _interrupted(error.message):  # interrupted: stopped, as V1's abort
            error = RunError(name=ABORTED, message=error.message)
        return (events.SessionError(session_id, error), events.RunEnded(session_id))
    call_id, tool = _str(data.get("callID")), _str(data.get("tool")) or _str(data.get("name"))
    if kind == "session.next.tool.called":
        calls.remember(call_id, tool, data.get("input"))
        part = wire_v2.tool_part(
            session_id, message_id, call_id, tool, status="running", input=data.get("input")
        )
        return (events.PartUpdated(session_id, part),)
    tool, tool_input = calls.get(call_id, tool)
    if kind == "session.next.tool.success":
        changed = wire_v2.tool_changes(data.get("structured"), tool_input)
        part = wire_v2.tool_part(
            session_id, message_id, call_id, tool, status="completed", input=tool_input
        )
        files = tuple(events.FileEdited(diff.file) for diff in changed if diff.file)
        return (events.PartUpdated(session_id, part), *files)
    if kind == "session.next.tool.failed":
        error = _error(data)
        part = wire_v2.tool_part(
            session_id,
            message_id,
            call_id,
            tool,
            status="error",
            input=tool_input,
            error=error.message,
        )
        if session_id is not None and error.message == INTERRUPTED:
            # A rejected request or an interrupt: the turn stops here, with no step.ended.
            return (events.PartUpdated(session_id, part), events.RunEnded(session_id))
        return (events.PartUpdated(session_id, part),)
    if kind in ("permission.v2.asked", "question.v2.asked"):
        asked = kind == "permission.v2.asked"
        request = wire_v2.permission(data) if asked else wire_v2.question(data)
        if request is None:
            return ()
        return (events.PermissionAsked(request) if asked else events.QuestionAsked(request),)
    request_id = _str(data.get("requestID"))
    if kind == "permission.v2.replied":
        return (events.PermissionReplied(request_id, session_id, _str(data.get("reply"))),)
    if kind in ("question.v2.replied", "question.v2.rejected"):
        return (events.QuestionAnswered(request_id, rejected=kind == "question.v2.rejected"),)
    if kind in ("session.created", "session.updated"):
        info = wire_v2.session(data.get("info"))
        return () if info is None else (events.SessionUpdated(info),)
    return ()
