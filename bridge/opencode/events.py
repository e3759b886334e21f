"""OpenCode's events, typed: each wire event (``GET /event``) becomes one of these, once.

:func:`parse_event` is the only reader of an event's wire form; features and core modules
dispatch on these classes. Each class names the wire event it comes from (``WIRE``); the
contract test checks every one against the server's own document. An event the bridge does
not know, or one without a field it cannot do without, becomes :class:`Unknown`: harmless.

When a run ends is decided here: ``session.idle`` and ``session.status`` idle (OpenCode
sends both for one run) are both :class:`RunEnded`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bridge.opencode.models import (
    MessageInfo,
    Part,
    PathInfo,
    Request,
    RunError,
    SessionInfo,
    SessionState,
)

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
elif TYPE_CHECKING:  # a type checker for 3.10 reads it from typing_extensions' stubs
    from typing_extensions import dataclass_transform
else:  # a marker only type checkers read

    def dataclass_transform(**_: Any) -> Any:
        return lambda cls: cls


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass_transform(frozen_default=True)
class WireEvent:
    """An event read from the wire: a subclass names its wire event in its header
    (``class X(WireEvent, wire="…")``, ``also`` for more names that mean the same) and
    becomes a frozen dataclass of its fields."""

    WIRE: ClassVar[str]
    ALSO_WIRE: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, *, wire: str, also: tuple[str, ...] = ()) -> None:
        super().__init_subclass__()
        cls.WIRE, cls.ALSO_WIRE = wire, also
        dataclass(frozen=True)(cls)


class SessionStatus(WireEvent, wire="session.status"):
    """A session is busy, or retrying (idle is :class:`RunEnded`)."""

    session_id: str
    state: SessionState


class RunEnded(WireEvent, wire="session.idle", also=("session.status",)):  # with status idle
    """The session's run is over: finished, stopped or failed (then after its SessionError)."""

    session_id: str


class SessionError(WireEvent, wire="session.error"):
    """A run failed, or was aborted (``error.name`` is ``MessageAbortedError``)."""

    session_id: str | None
    error: RunError | None


class SessionUpdated(WireEvent, wire="session.updated"):
    """A session's info changed (its title, its summary of changed files)."""

    info: SessionInfo


class SessionDiff(WireEvent, wire="session.diff"):
    """The session's changes as a whole; empty only after a revert of everything."""

    diff: tuple[Any, ...]


class MessageUpdated(WireEvent, wire="message.updated"):
    """A message's info changed: created, finished, its tokens, cost or error."""

    session_id: str | None
    info: MessageInfo


class PartUpdated(WireEvent, wire="message.part.updated"):
    """A part of a message was created or changed: text, a tool step, a patch."""

    session_id: str | None
    part: Part


class PartDelta(WireEvent, wire="message.part.delta"):
    """Text added to a part as it streams."""

    session_id: str | None
    message_id: str | None
    part_id: str | None
    field: str  # "text" for the text the model writes
    delta: str


class PermissionAsked(WireEvent, wire="permission.asked"):
    """The agent waits for a permission: to edit, run a command, read outside."""

    request: Request


class PermissionReplied(WireEvent, wire="permission.replied"):
    """A permission was answered, here or elsewhere (the TUI, another editor)."""

    request_id: str | None
    session_id: str | None
    reply: str | None  # once | always | reject


class QuestionAsked(WireEvent, wire="question.asked"):
    """The agent asks the user a question with options, and waits."""

    request: Request


class QuestionAnswered(WireEvent, wire="question.replied", also=("question.rejected",)):
    """A question was answered (here or elsewhere), or dismissed without an answer."""

    request_id: str | None
    rejected: bool


class FileEdited(WireEvent, wire="file.edited"):
    """The agent wrote a file (a path as OpenCode names it)."""

    file: str


class TuiSessionSelect(WireEvent, wire="tui.session.select"):
    """The TUI switched to a session."""

    session_id: str


class Connected(WireEvent, wire="server.connected"):
    """The stream is (re)connected. The server replays nothing, so the stream fetched, once,
    what is in progress; a field is ``None`` when fetching it failed (change nothing then)."""

    statuses: Mapping[str, SessionState] | None  # the sessions not idle
    permissions: tuple[Request, ...] | None
    questions: tuple[Request, ...] | None
    path: PathInfo | None  # where the server's relative paths start


@dataclass(frozen=True)
class Unknown:
    """An event the bridge does not handle (or could not read): ignored by everyone."""

    type: str
    properties: Any


Event = (
    SessionStatus
    | RunEnded
    | SessionError
    | SessionUpdated
    | SessionDiff
    | MessageUpdated
    | PartUpdated
    | PartDelta
    | PermissionAsked
    | PermissionReplied
    | QuestionAsked
    | QuestionAnswered
    | FileEdited
    | TuiSessionSelect
    | Connected
    | Unknown
)

# Every event the bridge reads, for the contract test (Connected is built by the stream from
# server.connected and the refetch; session.status idle also parses to RunEnded).
KNOWN: tuple[type[WireEvent], ...] = (
    SessionStatus,
    RunEnded,
    SessionError,
    SessionUpdated,
    SessionDiff,
    MessageUpdated,
    PartUpdated,
    PartDelta,
    PermissionAsked,
    PermissionReplied,
    QuestionAsked,
    QuestionAnswered,
    FileEdited,
    TuiSessionSelect,
    Connected,
)


def session_of(event: Event) -> str | None:
    """The session an event is about, if it names one."""
    match event:
        case (
            SessionStatus(session_id=session_id)
            | RunEnded(session_id=session_id)
            | SessionError(session_id=session_id)
            | MessageUpdated(session_id=session_id)
            | PartUpdated(session_id=session_id)
            | PartDelta(session_id=session_id)
            | PermissionReplied(session_id=session_id)
            | TuiSessionSelect(session_id=session_id)
        ):
            return session_id
    return None


def parse_event(wire: Mapping[str, Any]) -> Event:
    """One wire event (``{type, properties}``) -> its typed event."""
    kind = str(wire.get("type"))
    props = wire.get("properties")
    parsed = _parse(kind, props) if isinstance(props, dict) else None
    return Unknown(kind, props) if parsed is None else parsed


def _parse(kind: str, props: dict[str, Any]) -> Event | None:  # noqa: C901 - one case a type
    session_id = _str(props.get("sessionID"))
    # Most events of a run are text deltas: they are looked for first.
    if kind == "message.part.delta":
        delta = props.get("delta")
        if not isinstance(delta, str):
            return None
        field = props.get("field", "text")
        return PartDelta(
            session_id,
            _str(props.get("messageID")),
            _str(props.get("partID")),
            field if isinstance(field, str) else "",
            delta,
        )
    if kind in (PermissionAsked.WIRE, QuestionAsked.WIRE):
        request = Request.from_wire(props)
        if request is None:
            return None
        return PermissionAsked(request) if kind == PermissionAsked.WIRE else QuestionAsked(request)
    request_id = _str(props.get("requestID"))
    if kind == "session.status":
        state = SessionState.from_wire(props.get("status"))
        if session_id is None or state is None:
            return None
        return RunEnded(session_id) if state.type == "idle" else SessionStatus(session_id, state)
    if kind == "session.idle":
        return None if session_id is None else RunEnded(session_id)
    if kind == "session.error":
        return SessionError(session_id, RunError.from_wire(props.get("error")))
    if kind == "session.updated":
        info = SessionInfo.from_wire(props.get("info"))
        return None if info is None else SessionUpdated(info)
    if kind == "session.diff":
        diff = props.get("diff")
        return SessionDiff(tuple(diff) if isinstance(diff, list) else ())
    if kind == "message.updated":
        message = MessageInfo.from_wire(props.get("info"))
        return None if message is None else MessageUpdated(session_id, message)
    if kind == "message.part.updated":
        part = Part.from_wire(props.get("part"))
        return None if part is None else PartUpdated(session_id, part)
    if kind == "permission.replied":
        return PermissionReplied(request_id, session_id, _str(props.get("reply")))
    if kind in ("question.replied", "question.rejected"):
        return QuestionAnswered(request_id, rejected=kind == "question.rejected")
    if kind == "file.edited":
        file = props.get("file")
        return FileEdited(file) if isinstance(file, str) else None
    if kind == "tui.session.select":
        return None if session_id is None else TuiSessionSelect(session_id)
    return None
