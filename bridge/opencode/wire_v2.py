"""OpenCode's V2 objects (``/api/*``) read into the same typed objects as V1's (models.py).

V2 wraps answers (``{data}``, ``{data, cursor}``, ``{location, data}``) and names fields its own
way (``action``/``resources`` for a permission's ``permission``/``patterns``, ``type`` for a
message's role, ``content`` for its parts). Everything here is data in, data out; the client
(client_v2.py) and the event parser (events_v2.py) use it, and no feature sees a V2 shape.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.opencode.models import (
    Agent,
    Command,
    FileDiff,
    Message,
    MessageInfo,
    Part,
    PathInfo,
    PermissionMetadata,
    Provider,
    Request,
    RunError,
    SessionInfo,
    ToolState,
    Usage,
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def data(wire: Any) -> Any:
    """What a V2 answer wraps in ``data`` (``None`` when it wraps nothing)."""
    return _dict(wire).get("data")


def listed(wire: Any) -> list[Any] | None:
    """The list a V2 answer wraps (``{data: [...]}``), ``None`` when it is not one."""
    items = data(wire)
    return items if isinstance(items, list) else None


def model_name(wire: Any) -> str | None:
    """A V2 ``ModelRef`` (``{providerID, id}``) as ``provider/model``."""
    model = _dict(wire)
    provider, model_id = _str(model.get("providerID")), _str(model.get("id"))
    return f"{provider}/{model_id}" if provider and model_id else None


def session(wire: Any) -> SessionInfo | None:
    """A ``SessionV2Info``; its ``location.directory`` is V1's ``directory``."""
    if not isinstance(wire, dict):
        return None
    directory = _str(_dict(wire.get("location")).get("directory")) or _str(wire.get("directory"))
    return SessionInfo.from_wire({**wire, "directory": directory})


def sessions(wire: Any, roots: bool = False) -> tuple[SessionInfo, ...] | None:
    """``GET /api/session``; ``roots``: only those a person started (no subagent's)."""
    items = listed(wire)
    if items is None:
        return None
    found = (session(item) for item in items if not (roots and _dict(item).get("parentID")))
    return tuple(info for info in found if info is not None)


def location(wire: Any) -> PathInfo:
    """``GET /api/location``: the directory, and the project's (V1's worktree)."""
    where = _dict(wire)
    project = _str(_dict(where.get("project")).get("directory"))
    return PathInfo(project, _str(where.get("directory")))


def file_diffs(wire: Any) -> tuple[FileDiff, ...]:
    """A tool's ``structured.files`` (``{file, patch, additions, deletions, status}``)."""
    files = _dict(wire).get("files")
    return tuple(FileDiff.from_wire(item) for item in files) if isinstance(files, list) else ()


def tool_changes(structured: Any, tool_input: Any) -> tuple[FileDiff, ...]:
    """The files a finished tool call changed: ``edit`` reports a patch per file; ``write``
    names its file (``resource``) and whether it ``existed``, and its input holds the text (a
    file it created is a diff from nothing; one it overwrote, a file changed, contents unknown)."""
    found = file_diffs(structured)
    result = _dict(structured)
    resource = _str(result.get("resource"))
    if found or result.get("operation") != "write" or not resource:
        return found
    content = _dict(tool_input).get("content")
    if result.get("existed") is False and isinstance(content, str):
        return (FileDiff(resource, before="", after=content, status="added"),)
    return (FileDiff(resource, status="modified"),)


def tool_part(
    session_id: str | None,
    message_id: str | None,
    call_id: str | None,
    tool: str | None,
    **state: Any,
) -> Part:
    """A V1-shaped tool part: the parts features read are built the one way."""
    return Part(
        type="tool",
        id=call_id,
        session_id=session_id,
        message_id=message_id,
        tool=tool,
        call_id=call_id,
        state=ToolState.from_wire(state),
    )


def _content_text(content: Any) -> str | None:
    """A tool's ``content`` (``[{type: text, text}]``) as its output text."""
    if not isinstance(content, list):
        return None
    texts = [_str(_dict(item).get("text")) for item in content]
    joined = "\n".join(text for text in texts if text)
    return joined or None


def message(wire: Any, session_id: str | None) -> Message:
    """A V2 message (``type`` user or assistant; a user's ``text``, an answer's ``content``)."""
    item = _dict(wire)
    message_id = _str(item.get("id"))
    role = _str(item.get("type"))
    error = item.get("error")
    info = MessageInfo(
        id=message_id,
        role=role,
        session_id=session_id,
        error=RunError.from_wire(error) if isinstance(error, dict) else None,
        created=_dict(item.get("time")).get("created"),
        agent=_str(item.get("agent")),
        model=model_name(item.get("model")),
        usage=Usage.from_wire(item.get("cost"), item.get("tokens"))
        if "cost" in item or "tokens" in item
        else None,
    )
    parts: list[Part] = []
    if role == "user" and isinstance(item.get("text"), str):
        parts.append(Part("text", f"{message_id}/text", session_id, message_id, item["text"]))
    for index, piece in enumerate(item.get("content") or []):
        piece = _dict(piece)
        kind = piece.get("type")
        if kind == "text" and isinstance(piece.get("text"), str):
            part_id = f"{message_id}/{piece.get('id') or index}"
            parts.append(Part("text", part_id, session_id, message_id, piece["text"]))
        elif kind == "tool":
            state = _dict(piece.get("state"))
            parts.append(
                tool_part(
                    session_id,
                    message_id,
                    _str(piece.get("id")),
                    _str(piece.get("name")),
                    status=state.get("status"),
                    input=state.get("input"),
                    output=_content_text(state.get("content")),
                    error=_str(_dict(state.get("error")).get("message")),
                )
            )
    return Message(info, tuple(parts))


def messages(wire: Any, session_id: str) -> tuple[Message, ...] | None:
    """``GET /api/session/{id}/message`` (newest first) as V1's list, oldest first. A user
    message's ``diffs`` (V1's ``summary.diffs``) are the patches its run's tools reported; a
    file changed twice keeps its last patch."""
    items = listed(wire)
    if items is None:
        return None
    found: list[Message] = []
    user: int | None = None  # the index of the user message whose run this is
    changed: dict[str, FileDiff] = {}
    for item in reversed(items):
        read = message(item, session_id)
        if read.info is not None and read.info.role == "user":
            _close_run(found, user, changed)
            user, changed = len(found), {}
        else:
            for piece in _dict(item).get("content") or []:
                state = _dict(_dict(piece).get("state"))
                for diff in tool_changes(state.get("structured"), state.get("input")):
                    if diff.patch is not None or diff.after is not None:
                        changed[diff.file] = diff
        found.append(read)
    _close_run(found, user, changed)
    return tuple(found)


def _close_run(found: list[Message], user: int | None, changed: dict[str, FileDiff]) -> None:
    """Give the user message at ``user`` the files its run changed."""
    if user is None or not changed:
        return
    info = found[user].info
    if info is not None:
        found[user] = Message(replace(info, diffs=tuple(changed.values())), found[user].parts)


def permission(wire: Any) -> Request | None:
    """A ``PermissionV2Request``: ``action`` on ``resources``; ``save`` is what "always"
    would allow. V2 sends no diff: the change is the asking tool call's input."""
    if not isinstance(wire, dict) or not isinstance(wire.get("id"), str):
        return None
    resources = _strings(wire.get("resources"))
    action = _str(wire.get("action"))
    source = _dict(wire.get("source"))
    metadata = _dict(wire.get("metadata"))
    return Request(
        id=wire["id"],
        session_id=_str(wire.get("sessionID")),
        permission=action,
        patterns=resources,
        always=_strings(wire.get("save")),
        metadata=PermissionMetadata(
            filepath=resources[0] if action in ("edit", "write") and resources else None,
            command=_str(metadata.get("command"))
            or (resources[0] if action == "bash" and resources else None),
        ),
        tool_message_id=_str(source.get("messageID")),
        tool_call_id=_str(source.get("callID")),
    )


def question(wire: Any) -> Request | None:
    """A ``QuestionV2Request``: the same fields as V1's question."""
    return Request.from_wire(wire)


def requests(wire: Any, read: Any) -> tuple[Request, ...] | None:
    items = listed(wire)
    if items is None:
        return None
    found = (read(item) for item in items)
    return tuple(request for request in found if request is not None)


def agents(wire: Any) -> tuple[Agent, ...]:
    """``GET /api/agent``: V2 names an agent by its ``id``."""
    found = []
    for item in listed(wire) or []:
        item = _dict(item)
        name = _str(item.get("id")) or _str(item.get("name"))
        if name:
            found.append(Agent(name, _str(item.get("mode")), bool(item.get("hidden"))))
    return tuple(found)


def commands(wire: Any) -> tuple[Command, ...]:
    found = (_str(_dict(item).get("name")) for item in listed(wire) or [])
    return tuple(Command(name) for name in found if name)


def command_template(wire: Any, name: str) -> str | None:
    """The template of the slash command ``name`` in ``GET /api/command``."""
    for item in listed(wire) or []:
        if _dict(item).get("name") == name:
            return _str(_dict(item).get("template"))
    return None


def providers(wire: Any) -> tuple[Provider, ...]:
    """``GET /api/model`` (a flat list of models) grouped by provider."""
    grouped: dict[str, list[str]] = {}
    for item in listed(wire) or []:
        item = _dict(item)
        provider, model_id = _str(item.get("providerID")), _str(item.get("id"))
        if provider and model_id and item.get("enabled") is not False:
            grouped.setdefault(provider, []).append(model_id)
    return tuple(Provider(provider, tuple(ids)) for provider, ids in grouped.items())
