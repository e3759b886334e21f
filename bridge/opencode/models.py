"""The OpenCode objects the bridge reads, typed once where they enter it.

Each ``from_wire`` checks the wire object once: it answers ``None`` when a field the bridge
cannot do without is missing, and fills optional fields it lacks with empty values, so no
reader further in has to test types again. Fields the bridge hands on unread keep their wire
form (``Any``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bridge.errors import server_message


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _text(value: Any) -> str | None:
    """A string that says something: an empty one is none."""
    return value if isinstance(value, str) and value else None


def _texts(
    wire: Mapping[str, Any], keys: str, read: Callable[[Any], str | None] = _text
) -> dict[str, Any]:
    """The strings (non-empty ones unless ``read`` says otherwise) under the wire ``keys``
    (space-separated), by field name: ``filePath`` fills ``file_path`` (None where none is)."""
    return {re.sub("([A-Z])", r"_\1", key).lower(): read(wire.get(key)) for key in keys.split()}


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


T = TypeVar("T")


def _listed(parse: Callable[[Any], T | None], wire: Any) -> tuple[T, ...]:
    """Each item of a list parsed, those that are not what they should be left out."""
    found = map(parse, wire if isinstance(wire, list) else [])
    return tuple(item for item in found if item is not None)


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
            additions=_count(diff.get("additions")),
            deletions=_count(diff.get("deletions")),
            **_texts(diff, "patch before after status", _str),  # an empty patch is one
        )


def file_diffs(wire: Any) -> tuple[FileDiff, ...] | None:
    """A list of file diffs (an empty answer is none); ``None`` when it is not a list."""
    if wire is None:
        return ()
    if not isinstance(wire, list):
        return None
    return tuple(map(FileDiff.from_wire, wire))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


@dataclass(frozen=True)
class Usage:
    """What a session or an answer cost: dollars and tokens (0 where not said)."""

    cost: float = 0.0
    input: float = 0.0
    output: float = 0.0
    reasoning: float = 0.0
    cached: float = 0.0  # read from the cache and written to it
    total: float = 0.0  # the server's own total, else the sum

    @classmethod
    def from_wire(cls, cost: Any, tokens: Any) -> Usage:
        spent = _dict(tokens)
        cache = _dict(spent.get("cache"))
        counts = (
            _number(spent.get("input")),
            _number(spent.get("output")),
            _number(spent.get("reasoning")),
            _number(cache.get("read")) + _number(cache.get("write")),
        )
        total = _number(spent.get("total")) or sum(counts)
        return cls(_number(cost), *counts, total)


@dataclass(frozen=True)
class RunError:
    """Why a run failed (``session.error``, an answer's ``error``): OpenCode's NamedError
    ``{name, data: {message…}}``."""

    name: str | None = None  # MessageAbortedError when the run was aborted
    message: str | None = None  # data.message, else message
    model: str | None = None  # ProviderModelNotFoundError: the provider/model asked for

    @classmethod
    def from_wire(cls, wire: Any) -> RunError | None:
        if not isinstance(wire, dict):
            return None
        data = _dict(wire.get("data"))
        provider, model = _str(data.get("providerID")), _str(data.get("modelID"))
        return cls(
            name=_str(wire.get("name")),
            message=server_message(wire),
            model=f"{provider}/{model}" if provider is not None and model is not None else None,
        )


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
        return cls(input=_dict(state.get("input")), **_texts(state, "status title output error"))


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
    error: RunError | None = None  # when the run failed
    diffs: tuple[FileDiff, ...] = ()  # a user message's summary.diffs
    created: Any = None  # milliseconds since the epoch, as sent
    agent: str | None = None
    model: str | None = None  # an answer's provider/model
    summary: bool = False  # an answer that summarizes the conversation (compaction)
    usage: Usage | None = None  # an answer's cost, if the server said

    @classmethod
    def from_wire(cls, wire: Any) -> MessageInfo | None:
        if not isinstance(wire, dict):
            return None
        diffs = _dict(wire.get("summary")).get("diffs")
        provider, model = _str(wire.get("providerID")), _str(wire.get("modelID"))
        return cls(
            id=_str(wire.get("id")),
            role=_str(wire.get("role")),
            session_id=_str(wire.get("sessionID")),
            structured=wire["structured"] if "structured" in wire else ABSENT,
            error=RunError.from_wire(wire.get("error")),
            diffs=file_diffs(diffs) or (),
            created=_dict(wire.get("time")).get("created"),
            agent=_str(wire.get("agent")),
            model=f"{provider}/{model}" if provider is not None and model is not None else None,
            summary=wire.get("summary") is True,
            usage=Usage.from_wire(wire.get("cost"), wire.get("tokens"))
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
    usage: Usage = field(default_factory=Usage)

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
            usage=Usage.from_wire(wire.get("cost"), wire.get("tokens")),
        )


def sessions(wire: Any) -> tuple[SessionInfo, ...] | None:
    """``GET /session``; ``None`` when the answer is not a list."""
    return _listed(SessionInfo.from_wire, wire) if isinstance(wire, list) else None


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
class PatchFile:
    """One file an ``apply_patch`` permission request would change (``metadata.files``)."""

    additions: int = 0  # lines the patch adds and removes
    deletions: int = 0
    type: str | None = None  # add, update, delete or move
    file_path: str | None = None
    relative_path: str | None = None
    move_path: str | None = None
    patch: str | None = None

    @classmethod
    def from_wire(cls, wire: Any) -> PatchFile | None:
        if not isinstance(wire, dict):
            return None
        return cls(
            additions=_int(wire.get("additions")),
            deletions=_int(wire.get("deletions")),
            **_texts(wire, "type filePath relativePath movePath patch"),
        )


@dataclass(frozen=True)
class PermissionMetadata:
    """What a permission request tells about itself (each kind sends its own fields)."""

    filepath: str | None = None  # edit, write, external_directory
    diff: str | None = None  # edit, apply_patch
    files: tuple[PatchFile, ...] = ()  # apply_patch
    command: str | None = None  # bash, external_directory
    directories: tuple[str, ...] = ()  # external_directory
    parent_dir: str | None = None  # external_directory
    url: str | None = None  # webfetch
    query: str | None = None  # websearch, codesearch
    subagent_type: str | None = None  # task
    description: str | None = None  # task
    tool: str | None = None  # doom_loop

    @classmethod
    def from_wire(cls, wire: Any) -> PermissionMetadata:
        data = _dict(wire)
        return cls(
            files=_listed(PatchFile.from_wire, data.get("files")),
            directories=_strings(data.get("directories")),
            **_texts(
                data, "filepath diff command parentDir url query subagent_type description tool"
            ),
        )


@dataclass(frozen=True)
class QuestionOption:
    label: str
    description: str | None = None


@dataclass(frozen=True)
class Question:
    """One question of a question request, with the options offered."""

    question: str | None = None
    header: str | None = None
    options: tuple[QuestionOption, ...] = ()  # each with a label
    multiple: bool = False  # several options may be picked
    custom: bool = True  # the user may type an answer of their own (OpenCode's default)

    @classmethod
    def from_wire(cls, wire: Any) -> Question | None:
        if not isinstance(wire, dict):
            return None
        options = wire.get("options")
        return cls(
            question=_text(wire.get("question")),
            header=_text(wire.get("header")),
            options=tuple(
                QuestionOption(o["label"], _text(o.get("description")))
                for o in (options if isinstance(options, list) else [])
                if isinstance(o, dict) and _text(o.get("label"))
            ),
            multiple=wire.get("multiple") is True,
            custom=wire.get("custom") is not False,
        )


@dataclass(frozen=True)
class Request:
    """A permission request or a question OpenCode waits on."""

    id: str
    session_id: str | None
    permission: str | None = None  # edit, bash…; None for a question
    patterns: tuple[str, ...] = ()  # what a permission is asked for (paths, commands)
    always: tuple[str, ...] = ()  # what "allow always" would allow
    metadata: PermissionMetadata = field(default_factory=PermissionMetadata)
    tool_message_id: str | None = None  # the tool call asking, when the request names it
    tool_call_id: str | None = None
    questions: tuple[Question, ...] = ()  # a question request's questions

    @classmethod
    def from_wire(cls, wire: Any) -> Request | None:
        if not isinstance(wire, dict) or not isinstance(wire.get("id"), str):
            return None
        tool = _dict(wire.get("tool"))
        return cls(
            id=wire["id"],
            session_id=_str(wire.get("sessionID")),
            permission=_str(wire.get("permission")),
            patterns=_strings(wire.get("patterns")),
            always=_strings(wire.get("always")),
            metadata=PermissionMetadata.from_wire(wire.get("metadata")),
            tool_message_id=_str(tool.get("messageID")),
            tool_call_id=_str(tool.get("callID")),
            questions=_listed(Question.from_wire, wire.get("questions")),
        )


def requests(wire: Any) -> tuple[Request, ...] | None:
    """``GET /permission`` or ``GET /question``; ``None`` when the answer is not a list."""
    return _listed(Request.from_wire, wire) if isinstance(wire, list) else None


@dataclass(frozen=True)
class Message:
    """``GET /session/{id}/message/{id}``: a message and its parts."""

    info: MessageInfo | None
    parts: tuple[Part, ...]

    @classmethod
    def from_wire(cls, wire: Any) -> Message:
        message = _dict(wire)
        return cls(
            MessageInfo.from_wire(message.get("info")),
            _listed(Part.from_wire, message.get("parts")),
        )


def messages(wire: Any) -> tuple[Message, ...] | None:
    """``GET /session/{id}/message``; ``None`` when the answer is not a list."""
    if not isinstance(wire, list):
        return None
    return tuple(map(Message.from_wire, wire))


@dataclass(frozen=True)
class Provider:
    """A provider of ``GET /config/providers`` and the ids of its models."""

    id: str
    models: tuple[str, ...]

    @classmethod
    def from_wire(cls, wire: Any) -> Provider | None:
        provider = _dict(wire)
        if not isinstance(provider.get("id"), str):
            return None
        models = _dict(provider.get("models"))
        return cls(provider["id"], tuple(str(_dict(m).get("id") or k) for k, m in models.items()))


def providers(wire: Any) -> tuple[Provider, ...]:
    """``GET /config/providers``'s providers (none when it sends something else)."""
    return _listed(Provider.from_wire, _dict(wire).get("providers"))


@dataclass(frozen=True)
class Agent:
    """An agent of ``GET /agent``: ``mode`` primary, subagent or all."""

    name: str
    mode: str | None = None
    hidden: bool = False

    @classmethod
    def from_wire(cls, wire: Any) -> Agent | None:
        agent = _dict(wire)
        if not isinstance(agent.get("name"), str):
            return None
        return cls(agent["name"], _str(agent.get("mode")), bool(agent.get("hidden")))


@dataclass(frozen=True)
class Command:
    """A slash command of ``GET /command``."""

    name: str

    @classmethod
    def from_wire(cls, wire: Any) -> Command | None:
        name = _dict(wire).get("name")
        return cls(name) if isinstance(name, str) else None


def agents(wire: Any) -> tuple[Agent, ...]:
    """``GET /agent`` (none when it sends something else)."""
    return _listed(Agent.from_wire, wire)


def commands(wire: Any) -> tuple[Command, ...]:
    """``GET /command`` (none when it sends something else)."""
    return _listed(Command.from_wire, wire)


@dataclass(frozen=True)
class LspServer:
    """A language server OpenCode runs (``GET /lsp``)."""

    name: str | None
    status: str | None  # connected or error


@dataclass(frozen=True)
class Formatter:
    """A formatter OpenCode knows (``GET /formatter``)."""

    name: str | None
    enabled: bool


def lsp_servers(wire: Any) -> tuple[LspServer, ...]:
    return _listed(lambda item: LspServer(**_texts(_dict(item), "name status", _str)), wire)


def formatters(wire: Any) -> tuple[Formatter, ...]:
    def formatter(item: Any) -> Formatter:
        return Formatter(_str(_dict(item).get("name")), bool(_dict(item).get("enabled")))

    return _listed(formatter, wire)


def mcp_statuses(wire: Any) -> dict[str, str | None]:
    """``GET /mcp``: each MCP server's status (connected, disabled, failed…)."""
    return {str(name): _str(_dict(item).get("status")) for name, item in _dict(wire).items()}


@dataclass(frozen=True)
class HealthInfo:
    """``GET /global/health``."""

    healthy: bool
    version: str | None

    @classmethod
    def from_wire(cls, wire: Any) -> HealthInfo:
        return cls(bool(_dict(wire).get("healthy")), _text(_dict(wire).get("version")))


@dataclass(frozen=True)
class ConfigInfo:
    """``GET /config``: the defaults the bridge falls back on (the rest is not read)."""

    model: str | None  # provider/model
    default_agent: str | None

    @classmethod
    def from_wire(cls, wire: Any) -> ConfigInfo:
        return cls(**_texts(_dict(wire), "model default_agent"))


@dataclass(frozen=True)
class PathInfo:
    """``GET /path``: where the server's relative paths start."""

    worktree: str | None
    directory: str | None

    @classmethod
    def from_wire(cls, wire: Any) -> PathInfo:
        path = _dict(wire)
        return cls(_str(path.get("worktree")), _str(path.get("directory")))
