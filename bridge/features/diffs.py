"""Session diffs as editor actions: ``opencode.diff.apply``, ``opencode.diff.show``,
``opencode.session.revert`` and ``opencode.session.unrevert``.

Every command checks its arguments, answers at once and works in the background; what
happened is told with ``window/showMessage``. ``diff.apply`` sends one workspace edit for the
whole diff or nothing (a file the diff cannot be applied to refuses it all, with the reason);
revert and unrevert resync the open buffers afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsprotocol import types

from bridge.core import arguments
from bridge.core.file_changes import FileChange
from bridge.core.paths import display_path, resolve_in_workspace
from bridge.core.sync import (
    diff_entries,
    last_user_message,
    latest_changing_message,
    prompt_line,
    session_changes,
    unified_diff,
    user_messages,
)
from bridge.core.workspace_edits import DocumentChange
from bridge.errors import EditRefused, PathOutsideWorkspace
from bridge.feature import Feature, command
from bridge.features.buffers import (
    MAX_ATTEMPTS,
    BufferSync,
    uri_of,
)
from bridge.features.common import (
    fallback_id,
    id_argument,
    session_id_argument,
    target_session,
)
from bridge.folders import Folder
from bridge.opencode.models import FileDiff, Message
from bridge.remembered import cache_dir
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import read_text, write_text

log = logging.getLogger(__name__)

DIFF_APPLY = "opencode.diff.apply"
DIFF_SHOW = "opencode.diff.show"
SESSION_REVERT = "opencode.session.revert"
SESSION_UNREVERT = "opencode.session.unrevert"


# --- arguments ----------------------------------------------------------------------------


def session_and_message(args: tuple[Any, ...]) -> tuple[str | None, str | None]:
    options = arguments.single_object(list(args), required=False)
    return (
        session_id_argument(options),
        id_argument(options, "messageID", "msg", "message"),
    )


# --- opencode.diff.apply ------------------------------------------------------------------


@command(DIFF_APPLY)
def diff_apply(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Apply a session's changes (default: the latest user message that changed files) to the
    workspace as one workspace edit."""
    session_id, message_id = session_and_message(args)
    ls.background(apply_session_diff(ls, session_id, message_id), "applying the session's changes")
    return {"sessionID": fallback_id(ls, session_id), "messageID": message_id}


async def pick_message(
    ls: OpenCodeLanguageServer, session_id: str | None, message_id: str | None, name: str
) -> tuple[Folder, str, str | None, tuple[Message, ...] | None]:
    """The folder, session, message (given, else the latest that changed files) and the
    session's messages (None when not fetched)."""
    folder, session = await target_session(ls, session_id, name)
    if message_id is not None:
        return folder, session, message_id, None
    messages = await folder.client.messages(session)
    return folder, session, latest_changing_message(messages), messages


async def fetch_entries(
    folder: Folder, session: str, message_id: str, messages: tuple[Message, ...] | None
) -> list[FileDiff]:
    """The message's diff (``GET /session/{id}/diff``), else its ``summary.diffs``."""
    entries = diff_entries(await folder.client.session_diff(session, message_id))
    if entries or messages is None:
        return entries
    for info in user_messages(messages):
        if info.id == message_id:
            return diff_entries(info.diffs)
    return []


async def apply_session_diff(
    ls: OpenCodeLanguageServer, session_id: str | None, message_id: str | None
) -> None:
    folder, session, message, messages = await pick_message(ls, session_id, message_id, DIFF_APPLY)
    if message is None:
        ls.tell(types.MessageType.Info, f"OpenCode: session {session} has no messages yet.")
        return
    entries = await fetch_entries(folder, session, message, messages)
    if not entries:
        ls.tell(types.MessageType.Info, f"OpenCode: message {message} changed no files.")
        return
    try:
        await apply_entries(ls, ls.get(BufferSync), folder, message, entries)
    except EditRefused as error:
        reason = str(error)
        for root in sorted({f.root for f in ls.folders.values()}, key=len, reverse=True):
            reason = reason.replace(root.rstrip("/") + "/", "")  # names as the user sees them
        ls.tell(
            types.MessageType.Error,
            f"OpenCode: the changes of message {message} were not applied: {reason} "
            "Nothing was changed.",
        )


async def apply_entries(
    ls: OpenCodeLanguageServer,
    sync: BufferSync,
    folder: Folder,
    message: str,
    entries: list[FileDiff],
) -> None:
    """Resolve, read, plan and send one edit; rebuilt when the editor says it is stale."""
    local: list[FileDiff] = []
    for entry in entries:
        try:
            path = await asyncio.to_thread(sync.resolve, folder, entry.file)
        except PathOutsideWorkspace as error:
            raise EditRefused(str(error)) from error
        local.append(dataclasses.replace(entry, file=path))
    reason = ""
    for _ in range(MAX_ATTEMPTS):
        texts: dict[str, str | None] = {}
        versions: dict[str, tuple[str, int]] = {}
        for entry in local:
            document = sync.open_document(entry.file)
            if document is not None:
                texts[entry.file] = document.source
                versions[entry.file] = (document.uri, document.version)
            else:  # a file that is not UTF-8: Unreadable, an EditRefused, refuses the diff
                texts[entry.file] = await asyncio.to_thread(read_text, entry.file)
        planned = session_changes(local, texts.get)
        names = [display_path(change.path, folder.root) for change in planned.changes]
        already = [display_path(path, folder.root) for path in planned.already]
        if not planned.changes:
            ls.tell(
                types.MessageType.Info,
                f"OpenCode: the workspace already has the changes of message {message} "
                f"({', '.join(already)}).",
            )
            return
        in_edit, create, keep = split_by_support(sync, planned.changes)
        changes = [
            DocumentChange(
                versions[c.path][0] if c.path in versions else uri_of(c.path),
                c.old,
                c.new,
                versions[c.path][1] if c.path in versions else None,
                c.patch,
            )
            for c in in_edit
        ]
        result = await sync.apply(changes, f"OpenCode: changes of message {message}")
        if result.applied or not changes:
            for change in create:
                assert change.new is not None
                await asyncio.to_thread(write_text, change.path, change.new, create=True)
            report_applied(ls, folder, message, names, already, keep)
            return
        reason = result.reason or ""
        stale = any(
            (document := sync.open_document(path)) is not None
            and (document.uri, document.version) != version
            for path, version in versions.items()
        )
        if not stale:
            break
        log.info("The edit of message %s was stale; rebuilding it", message)
    raise EditRefused(f"the editor refused the edit{f' ({reason})' if reason else ''}.")


def split_by_support(
    sync: BufferSync, changes: list[FileChange]
) -> tuple[list[FileChange], list[FileChange], list[FileChange]]:
    """(changes the edit carries, files the bridge creates itself, deletions left to the user)
    for an editor that cannot create or delete files through a workspace edit."""
    operations = sync.resource_operations()
    in_edit: list[FileChange] = []
    create: list[FileChange] = []
    keep: list[FileChange] = []
    for change in changes:
        if change.old is None and "create" not in operations:
            create.append(change)  # a new file hurts nothing: the bridge writes it
        elif change.new is None and "delete" not in operations:
            keep.append(change)  # deleting is the user's call
        else:
            in_edit.append(change)
    return in_edit, create, keep


def report_applied(
    ls: OpenCodeLanguageServer,
    folder: Folder,
    message: str,
    names: list[str],
    already: list[str],
    keep: list[FileChange],
) -> None:
    kept = {display_path(change.path, folder.root) for change in keep}
    done = [name for name in names if name not in kept]
    text = f"OpenCode: applied the changes of message {message} to {', '.join(done) or 'no file'}"
    if already:
        text += f"; already there: {', '.join(already)}"
    text += "."
    if kept:
        text += (
            f" The agent deleted {', '.join(sorted(kept))}; this editor cannot delete files "
            "through an edit, so delete them yourself."
        )
    ls.tell(types.MessageType.Info, text)


# --- opencode.diff.show -------------------------------------------------------------------


@command(DIFF_SHOW)
def diff_show(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Open the session's diff (one message's, or every message's in order) as a document
    written outside the workspace."""
    session_id, message_id = session_and_message(args)
    ls.background(show_session_diff(ls, session_id, message_id), "showing the session's changes")
    return {"sessionID": fallback_id(ls, session_id), "messageID": message_id}


_diff_dir: Path | None = None


def diff_dir(ls: OpenCodeLanguageServer) -> Path:
    """A folder of the bridge's own for diff documents, never inside a workspace folder."""
    global _diff_dir
    if _diff_dir is not None and _diff_dir.is_dir():
        return _diff_dir
    roots = ls.get(BufferSync).roots()
    for candidate in _diff_dirs(ls):
        try:
            resolve_in_workspace(str(candidate / "x.diff"), roots)
        except PathOutsideWorkspace:
            _diff_dir = candidate
            return candidate
    raise EditRefused("Every folder for diff documents is inside the workspace.")


def _diff_dirs(ls: OpenCodeLanguageServer) -> Iterator[Path]:
    yield Path(tempfile.mkdtemp(prefix="opencode-lsp-diffs-"))
    fallback = cache_dir(ls.environ) / "diffs"
    fallback.mkdir(parents=True, exist_ok=True)
    yield fallback


async def session_diff_text(
    ls: OpenCodeLanguageServer, folder: Folder, session: str, message_id: str | None
) -> str:
    """The diff document: a header, then each message's patches, in order."""
    messages = await folder.client.messages(session)
    by_id = {m.info.id: m for m in messages if m.info is not None and m.info.id is not None}
    chosen = (
        [message_id]
        if message_id
        else [info.id for info in user_messages(messages) if info.diffs and info.id]
    )
    out = [f"# OpenCode session {session}\n"]
    for message in chosen:
        entries = await fetch_entries(folder, session, message, messages)
        if not entries:
            continue
        line = prompt_line(by_id.get(message))
        out.append(f"\n# Message {message}" + (f": {line}" if line else "") + "\n")
        for entry in entries:
            if entry.patch is not None:
                out.append(entry.patch if entry.patch.endswith("\n") else entry.patch + "\n")
            else:
                before = None if entry.status == "added" else entry.before
                after = None if entry.status == "deleted" else entry.after
                out.append(unified_diff(entry.file, before, after))
    return "".join(out) if len(out) > 1 else ""


async def show_session_diff(
    ls: OpenCodeLanguageServer, session_id: str | None, message_id: str | None
) -> None:
    folder, session = await target_session(ls, session_id, DIFF_SHOW)
    text = await session_diff_text(ls, folder, session, message_id)
    if not text:
        what = f"message {message_id}" if message_id else f"session {session}"
        ls.tell(types.MessageType.Info, f"OpenCode: {what} changed no files.")
        return
    path = diff_dir(ls) / f"{session}-{message_id or 'all'}.diff"
    await asyncio.to_thread(path.write_text, text, encoding="utf-8", newline="")
    window = ls.client_capabilities.window
    shown = False
    if window and window.show_document and window.show_document.support:
        try:
            result = await ls.window_show_document_async(
                types.ShowDocumentParams(uri=uri_of(str(path)), take_focus=True)
            )
            shown = bool(result and result.success)
        except Exception as error:  # the editor could not open it: say where it is
            log.info("window/showDocument failed: %s", error)
    if not shown:
        ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=text))
        ls.tell(types.MessageType.Info, f"OpenCode: the session's changes are in {path}.")


# --- revert and unrevert ------------------------------------------------------------------


@command(SESSION_REVERT)
def session_revert(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Undo the agent's file changes from a message on (default: the last user message not
    reverted yet), then resync the open ls.get(BufferSync)."""
    session_id, message_id = session_and_message(args)
    ls.background(revert(ls, session_id, message_id), "reverting the agent's changes")
    return {"sessionID": fallback_id(ls, session_id), "messageID": message_id}


async def revert(
    ls: OpenCodeLanguageServer, session_id: str | None, message_id: str | None
) -> None:
    folder, session = await target_session(ls, session_id, SESSION_REVERT)
    if message_id is None:
        reverted = (await folder.client.get_session(session)).revert_message_id
        message_id = last_user_message(await folder.client.messages(session), reverted)
        if message_id is None:
            ls.tell(types.MessageType.Info, f"OpenCode: nothing to revert in session {session}.")
            return
    await folder.client.revert(session, message_id)
    await ls.get(BufferSync).resync_folder(folder, ls.get(BufferSync).command_mode(), "revert")
    ls.tell(
        types.MessageType.Info,
        f"OpenCode: reverted the agent's changes from message {message_id} on; "
        "opencode.session.unrevert brings them back.",
    )


@command(SESSION_UNREVERT)
def session_unrevert(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Bring back what the last revert undid, then resync the open ls.get(BufferSync)."""
    options = arguments.single_object(list(args), required=False)
    session_id = session_id_argument(options)
    ls.background(unrevert(ls, session_id), "restoring the agent's changes")
    return {"sessionID": fallback_id(ls, session_id)}


async def unrevert(ls: OpenCodeLanguageServer, session_id: str | None) -> None:
    folder, session = await target_session(ls, session_id, SESSION_UNREVERT)
    await folder.client.unrevert(session)
    await ls.get(BufferSync).resync_folder(folder, ls.get(BufferSync).command_mode(), "unrevert")
    ls.tell(types.MessageType.Info, f"OpenCode: restored the reverted changes of {session}.")


class Diffs(Feature):
    commands = (diff_apply, diff_show, session_revert, session_unrevert)
