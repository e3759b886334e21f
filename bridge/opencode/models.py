"""The OpenCode objects the bridge reads, typed once where they enter it.

Each ``from_wire`` checks the wire object once: it answers ``None`` when a field the bridge
cannot do without is missing, and fills optional fields it lacks with empty values, so no
reader further in has to test types again. Fields the bridge hands on unread keep their wire
form (``Any``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
    return int(number) if number > 0 else 0


@dataclass(frozen=True)
class FileDiff:
    """One file of ``GET /session/{id}/diff`` or of a user message's ``summary.diffs``
    (``SnapshotFileDiff``): a unified ``patch`` (1.18) or whole ``before``/``after`` contents
    (older 1.x servers). ``file`` is "" when the server named none (the reader refuses it);
    ``status``: added, deleted or modified (None: not said)."""

    file: str
    patch: str | None = None
    before: str | None = None
    after: str | None = None
    status: str | None = None
    additions: int = 0
    deletions: int = 0

    @classmethod
    def from_wire(cls, wire: Any) -> FileDiff:
        diff = _dict(wire)
        return cls(
            file=_str(diff.get("file")) or "",
            patch=_str(diff.get("patch")),
            before=_str(diff.get("before")),
            after=_str(diff.get("after")),
            status=_str(diff.get("status")),
            additions=_count(diff.get("additions")),
            deletions=_count(diff.get("deletions")),
        )


def file_diffs(wire: Any) -> tuple[FileDiff, ...] | None:
    """A list of file diffs (an empty answer is none); ``None`` when it is not a list."""
    if wire is None:
        return ()
    if not isinstance(wire, list):
        return None
    return tuple(map(FileDiff.from_wire, wire))


@dataclass(frozen=True)
class ToolState:
    """Where a tool call is: ``pending``, ``running``, ``completed`` or ``error``."""

    status: str | None = None
    input: Mapping[str, Any] = field(default_factory=dict)  # the tool's own arguments
    title: str | None = None
    output: str | None = None  # completed
    error: str | None = None  # error

    @classmethod
    def from_wire(cls, wire: Any) -> ToolState:
        state = _dict(wire)
        return cls(
            _str(state.get("status")),
            _dict(state.get("input")),
            _str(state.get("title")),
            _str(state.get("output")),
            _str(state.get("error")),
        )


@dataclass(frozen=True)
class Part:
    """One part of a message: ``text``, ``tool``, ``patch``, ``file``… (only the fields of
    the kinds the bridge reads are kept)."""

    type: str | None
    id: str | None = None
    session_id: str | None = None
    message_id: str | None = None
    text: str | None = None  # text parts
    synthetic: bool = False  # text the server wrote, not the model
    tool: str | None = None  # tool parts
    call_id: str | None = None
    state: ToolState = field(default_factory=ToolState)
    files: tuple[str, ...] = ()  # patch parts: the files the step changed
    file_name: str | None = None  # file parts: the source's path, else filename, else url
    name: str | None = None  # agent parts
    agent: str | None = None  # subtask parts
    description: str | None = None  # subtask parts: the description, else the prompt

    @classmethod
    def from_wire(cls, wire: Any) -> Part | None:
        if not isinstance(wire, dict):
            return None
        files = wire.get("files")
        shown = _dict(wire.get("source")).get("path") or wire.get("filename") or wire.get("url")
        told = wire.get("description") or wire.get("prompt")
        return cls(
            type=_str(wire.get("type")),
            id=_str(wire.get("id")),
            session_id=_str(wire.get("sessionID")),
            message_id=_str(wire.get("messageID")),
            text=_str(wire.get("text")),
            synthetic=bool(wire.get("synthetic")),
            tool=_str(wire.get("tool")),
            call_id=_str(wire.get("callID")),
            state=ToolState.from_wire(wire.get("state")),
            files=tuple(f for f in files if isinstance(f, str) and f)
            if isinstance(files, list)
            else (),
            file_name=str(shown) if shown else None,
            name=_str(wire.get("name")),
            agent=str(wire["agent"]) if wire.get("agent") else None,
            description=str(told) if told else None,
        )


ABSENT: Any = object()  # MessageInfo.structured when the message carries none


@dataclass(frozen=True)
class MessageInfo:
    """A message without its parts."""

    id: str | None
    role: str | None = None
    session_id: str | None = None
    structured: Any = ABSENT  # the structured output asked for, when it came
    error: Mapping[str, Any] | None = None  # {name, data: {message…}} when the run failed
    diffs: tuple[FileDiff, ...] = ()  # a user message's summary.diffs
    created: Any = None  # milliseconds since the epoch, as sent
    agent: str | None = None
    model: str | None = None  # an answer's provider/model
    summary: bool = False  # an answer that summarizes the conversation (compaction)
    usage: tuple[Any, Any] | None = None  # an answer's (cost, tokens) as sent, if either came

    @classmethod
    def from_wire(cls, wire: Any) -> MessageInfo | None:
        if not isinstance(wire, dict):
            return None
        error = wire.get("error")
        diffs = _dict(wire.get("summary")).get("diffs")
        provider, model = _str(wire.get("providerID")), _str(wire.get("modelID"))
        return cls(
            id=_str(wire.get("id")),
            role=_str(wire.get("role")),
            session_id=_str(wire.get("sessionID")),
            structured=wire["structured"] if "structured" in wire else ABSENT,
            error=error if isinstance(error, dict) else None,
            diffs=file_diffs(diffs) or (),
            created=_dict(wire.get("time")).get("created"),
            agent=_str(wire.get("agent")),
            model=f"{provider}/{model}" if provider is not None and model is not None else None,
            summary=wire.get("summary") is True,
            usage=(wire.get("cost"), wire.get("tokens"))
            if "cost" in wire or "tokens" in wire
            else None,
        )


@dataclass(frozen=True)
class SessionInfo:
    """A session: its id, title, the message it is reverted to and the model it last used,
    if any, and the facts a transcript shows."""

    id: str
    title: str | None = None
    revert_message_id: str | None = None
    model: str | None = None  # provider/model
    created: Any = None  # milliseconds since the epoch, as sent
    updated: Any = None
    archived: bool = False
    share_url: str | None = None
    directory: str | None = None
    cost: Any = None  # as sent
    tokens: Any = None

    @classmethod
    def from_wire(cls, wire: Any) -> SessionInfo | None:
        if not isinstance(wire, dict) or not isinstance(wire.get("id"), str):
            return None
        revert = _dict(wire.get("revert")).get("messageID")
        used = _dict(wire.get("model"))
        model = (
            f"{used['providerID']}/{used['id']}"
            if used.get("providerID") and used.get("id")
            else None
        )
        times = _dict(wire.get("time"))
        return cls(
            id=wire["id"],
            title=_str(wire.get("title")),
            revert_message_id=_str(revert),
            model=model,
            created=times.get("created"),
            updated=times.get("updated"),
            archived=bool(times.get("archived")),
            share_url=_str(_dict(wire.get("share")).get("url")),
            directory=_str(wire.get("directory")),
            cost=wire.get("cost"),
            tokens=wire.get("tokens"),
        )


def sessions(wire: Any) -> tuple[SessionInfo, ...] | None:
    """``GET /session``; ``None`` when the answer is not a list."""
    if not isinstance(wire, list):
        return None
    return tuple(s for s in map(SessionInfo.from_wire, wire) if s is not None)


@dataclass(frozen=True)
class SessionState:
    """A session's status: ``idle``, ``busy`` or ``retry`` (with the attempt and why)."""

    type: str
    attempt: Any = None
    message: str | None = None

    @classmethod
    def from_wire(cls, wire: Any) -> SessionState | None:
        if not isinstance(wire, dict) or not isinstance(wire.get("type"), str):
            return None
        return cls(wire["type"], wire.get("attempt"), _str(wire.get("message")))


def session_states(wire: Any) -> dict[str, SessionState] | None:
    """``GET /session/status``: session id -> state (idle sessions are not listed); ``None``
    when the answer is not an object."""
    if not isinstance(wire, dict):
        return None
    states = {key: SessionState.from_wire(value) for key, value in wire.items()}
    return {key: state for key, state in states.items() if state is not None}


@dataclass(frozen=True)
class Request:
    """A permission request or a question OpenCode waits on. ``wire`` is the request as sent:
    what it asks is read by :mod:`bridge.core.permission_views`."""

    id: str
    session_id: str | None
    wire: Mapping[str, Any]

    @property
    def permission(self) -> str | None:
        """The permission asked for (``edit``, ``bash``…); ``None`` for a question."""
        return _str(self.wire.get("permission"))

    @property
    def patterns(self) -> Any:
        """What a permission is asked for (paths, commands), as sent."""
        return self.wire.get("patterns")

    @property
    def questions(self) -> list[Any]:
        """The text of each question a question request asks."""
        items = self.wire.get("questions")
        return [_dict(item).get("question") for item in items] if isinstance(items, list) else []

    @classmethod
    def from_wire(cls, wire: Any) -> Request | None:
        if not isinstance(wire, dict) or not isinstance(wire.get("id"), str):
            return None
        return cls(wire["id"], _str(wire.get("sessionID")), wire)


def requests(wire: Any) -> tuple[Request, ...] | None:
    """``GET /permission`` or ``GET /question``; ``None`` when the answer is not a list."""
    if not isinstance(wire, list):
        return None
    return tuple(r for r in map(Request.from_wire, wire) if r is not None)


@dataclass(frozen=True)
class Message:
    """``GET /session/{id}/message/{id}``: a message and its parts."""

    info: MessageInfo | None
    parts: tuple[Part, ...]

    @classmethod
    def from_wire(cls, wire: Any) -> Message:
        parts = _dict(wire).get("parts")
        found = map(Part.from_wire, parts if isinstance(parts, list) else [])
        return cls(MessageInfo.from_wire(_dict(wire).get("info")), tuple(p for p in found if p))


def messages(wire: Any) -> tuple[Message, ...] | None:
    """``GET /session/{id}/message``; ``None`` when the answer is not a list."""
    if not isinstance(wire, list):
        return None
    return tuple(map(Message.from_wire, wire))


@dataclass(frozen=True)
class PathInfo:
    """``GET /path``: where the server's relative paths start."""

    worktree: str | None
    directory: str | None

    @classmethod
    def from_wire(cls, wire: Any) -> PathInfo:
        path = _dict(wire)
        return cls(_str(path.get("worktree")), _str(path.get("directory")))
