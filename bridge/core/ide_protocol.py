"""The editor-context protocol an OpenCode TUI speaks to the editor beside it. Pure: data
in, data out.

OpenCode's TUI (``cli/cmd/tui/context/editor.ts``; 1.18.33) reads ``~/.claude/ide/<port>.lock``
files (the format Claude Code's editor plugins write), picks the one whose
``workspaceFolders`` contain its directory (the longest folder, then the newest file),
connects to ``ws://127.0.0.1:<port>`` with the lock's ``authToken`` in the
``x-claude-code-ide-authorization`` header and sends ``initialize``. It then takes two
notifications: ``selection_changed`` (shown under its prompt as ``a.py#3-5`` and sent with
the next prompt) and ``at_mentioned`` (a ``@a.py#3-5`` reference inserted in its prompt).

Lines and characters sent are 1-based: the TUI prints the line numbers as they are
(``a.py#3-5``, and "The user selected #3-5" to the model), and its own Zed reader produces
1-based positions too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = "2025-11-25"  # the MCP version the TUI announces
AUTH_HEADER = "x-claude-code-ide-authorization"
IDE_NAME_PREFIX = "opencode-lsp"  # marks our own lock files (stale ones are ours to remove)
STATUS_METHOD = "opencode-lsp/status"  # what ``opencode-lsp doctor`` asks an endpoint

METHOD_NOT_FOUND = -32601
INVALID_REQUEST = -32600


# --- the lock file ------------------------------------------------------------------------------


def lock_content(pid: int, folders: list[str], editor: str, token: str) -> dict[str, Any]:
    """What ``<port>.lock`` holds: the TUI reads ``workspaceFolders``, ``transport`` and
    ``authToken``; ``pid`` says whether the bridge that wrote it still runs."""
    name = f"{IDE_NAME_PREFIX} ({editor})" if editor else IDE_NAME_PREFIX
    return {
        "pid": pid,
        "workspaceFolders": folders,
        "ideName": name,
        "transport": "ws",
        "authToken": token,
    }


def lock_folders(roots: list[str]) -> list[str]:
    """The editor's workspace folders, each also as its real path when that differs: the
    TUI compares them with its own directory without resolving links."""
    folders: list[str] = []
    for root in roots:
        for path in (os.path.abspath(root), os.path.realpath(root)):
            if path not in folders:
                folders.append(path)
    return folders


def parse_lock(text: str) -> dict[str, Any] | None:
    try:
        content = json.loads(text)
    except ValueError:
        return None
    return content if isinstance(content, dict) else None


def is_ours(content: Mapping[str, Any]) -> bool:
    return str(content.get("ideName", "")).startswith(IDE_NAME_PREFIX)


def is_stale(content: Mapping[str, Any], alive: Callable[[int], bool]) -> bool:
    """One of our lock files whose bridge is gone (killed: it could not remove it)."""
    pid = content.get("pid")
    return is_ours(content) and isinstance(pid, int) and not alive(pid)


def serves(content: Mapping[str, Any], directory: str) -> bool:
    """Whether a TUI started in ``directory`` would take this lock (as the TUI decides)."""
    if content.get("transport") not in (None, "ws"):
        return False
    folders = content.get("workspaceFolders")
    target = os.path.abspath(directory)
    for folder in folders if isinstance(folders, list) else []:
        if not isinstance(folder, str):
            continue
        relative = os.path.relpath(target, os.path.abspath(folder))
        if relative == "." or not (relative.startswith("..") or os.path.isabs(relative)):
            return True
    return False


# --- what the editor sends ----------------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """What the user looks at: a file, and a range in it (offsets into its text)."""

    path: str
    start: int
    end: int
    text: str  # the selected text, as the buffer has it (unsaved typing included)
    start_position: tuple[int, int]  # 1-based line, character
    end_position: tuple[int, int]

    @property
    def empty(self) -> bool:
        return self.start == self.end


def _position(source: str, offset: int) -> tuple[int, int]:
    line_start = source.rfind("\n", 0, offset) + 1
    return source.count("\n", 0, offset) + 1, offset - line_start + 1


def selected(path: str, source: str, start: int, end: int) -> Selected:
    """``source[start:end]`` of the file at ``path``, with 1-based positions. A selection of
    whole lines ends after a line break; its end is shown on the last selected line."""
    start = max(0, min(start, len(source)))
    end = max(start, min(end, len(source)))
    shown_end = end - 1 if end > start and source[end - 1] == "\n" else end
    return Selected(
        path=path,
        start=start,
        end=end,
        text=source[start:end],
        start_position=_position(source, start),
        end_position=_position(source, max(shown_end, start)),
    )


def replaces(current: Selected | None, new: Selected, *, hint: bool) -> bool:
    """Whether ``new`` becomes the selection. A selection the editor reports (a code-action
    range, ``opencode/selection``) always does. A hint (the position of a highlight request:
    the cursor) only says which file the user looks at: it never replaces a selection made
    in the same file (VS Code asks for highlights as you click around a selection)."""
    if not hint or current is None:
        return True
    return current.path != new.path or current.empty


def selection_params(selection: Selected) -> dict[str, Any]:
    """``selection_changed``'s params."""
    (start_line, start_char), (end_line, end_char) = (
        selection.start_position,
        selection.end_position,
    )
    return {
        "filePath": selection.path,
        "text": selection.text,
        "selection": {
            "start": {"line": start_line, "character": start_char},
            "end": {"line": end_line, "character": end_char},
        },
    }


def mention_params(path: str, first_line: int, last_line: int) -> dict[str, Any]:
    """``at_mentioned``'s params: lines 1-based and inclusive (the TUI inserts
    ``@path#first-last``)."""
    return {"filePath": path, "lineStart": first_line, "lineEnd": last_line}


def notification(method: str, params: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params})


# --- what the TUI sends -------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """One message from a TUI, understood: the reply to send (None for none), and whether
    it was the ``initialize`` request (after which the TUI takes notifications)."""

    reply: str | None
    initialized: bool = False


def answer(raw: str | bytes, server_version: str, status: Mapping[str, Any]) -> Incoming:
    """The reply to one JSON-RPC message from a TUI (or from ``opencode-lsp doctor``)."""
    try:
        message = json.loads(raw)
    except ValueError:
        return Incoming(_error(None, INVALID_REQUEST, "not JSON"))
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        if isinstance(message, dict) and "id" not in message:
            return Incoming(None)
        request_id = message.get("id") if isinstance(message, dict) else None
        return Incoming(_error(request_id, INVALID_REQUEST, "expected a JSON-RPC request"))
    method, request_id = message["method"], message.get("id")
    if request_id is None:
        return Incoming(None)  # a notification (notifications/initialized, ...): nothing to say
    if method == "initialize":
        result = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "serverInfo": {"name": IDE_NAME_PREFIX, "version": server_version},
        }
        return Incoming(_result(request_id, result), initialized=True)
    if method == "tools/list":  # asked by MCP clients such as Claude Code: we offer no tools
        return Incoming(_result(request_id, {"tools": []}))
    if method == STATUS_METHOD:
        return Incoming(_result(request_id, dict(status)))
    return Incoming(_error(request_id, METHOD_NOT_FOUND, f"{method} is not offered"))


def _result(request_id: Any, result: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def _error(request_id: Any, code: int, message: str) -> str:
    error = {"code": code, "message": message}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})
