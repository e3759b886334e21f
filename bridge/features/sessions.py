"""``opencode.session.*``: the folder's current session, managed from the editor.

The current session of each folder is remembered outside the workspace (see
``bridge/remembered.py``) and restored after each connection; it follows the TUI when the TUI
is told to select a session (``tui.session.select``). Commands whose result is data
(``new``, ``list``, ``select`` with an id, ``fork``) await one quick request; the others
answer at once and work in the background.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from bridge.core import arguments
from bridge.core.session_info import session_choices, session_rows
from bridge.errors import BridgeError, InvalidArgument, NotFound, OpenCodeError
from bridge.feature import Feature, command
from bridge.features.common import (
    choose,
    command_folder,
    fallback_id,
    new_session,
    not_chosen,
    remembered,
    session_id_argument,
    session_state,
    set_current,
    target_session,
)
from bridge.features.control import run_slash_command
from bridge.folders import Folder
from bridge.opencode.events import Connected, Event, TuiSessionSelect
from bridge.server import OpenCodeLanguageServer

log = logging.getLogger(__name__)

SELECT_EXAMPLE = 'opencode.session.select {"sessionID": "ses_…"} (opencode.session.list lists them)'


def background_on_session(
    ls: OpenCodeLanguageServer, args: tuple[Any, ...], command: str, what: str, work: Any
) -> dict[str, Any]:
    """Check ``{sessionID?}``, answer at once, and run ``work(ls, folder, sessionID)``."""
    options = arguments.single_object(list(args), required=False)
    session_id = session_id_argument(options)

    async def run() -> None:
        folder, target = await target_session(ls, session_id, command)
        await work(ls, folder, target)

    ls.background(run(), what)
    return {"sessionID": fallback_id(ls, session_id)}


# --- remembering and following ------------------------------------------------------------------

_saved: dict[str, str | None] = {}  # folder root -> the session last written to the state file


def remember_changes(ls: OpenCodeLanguageServer, folder: Folder, event: Event) -> None:
    """Persist the current session whenever it changed (an ask that started a new one, too);
    after a (re)connection, bring back the remembered one."""
    match event:
        case TuiSessionSelect(session_id) if session_id != folder.session_id:
            set_current(ls, folder, session_id, "selected in the TUI")
        case Connected():
            ls.background(restore_session(ls, folder), "restoring the remembered session")
    if folder.session_id is not None and _saved.get(folder.root) != folder.session_id:
        _saved[folder.root] = folder.session_id
        remembered(ls).set(folder.root, folder.session_id)


async def restore_session(ls: OpenCodeLanguageServer, folder: Folder) -> None:
    """After a (re)connection: bring back the folder's remembered session if it still exists."""
    if folder.session_id is not None or not folder.connected:
        return
    session_id = remembered(ls).get(folder.root)
    if session_id is None:
        return
    try:
        session = await folder.client.get_session(session_id)
    except NotFound:
        remembered(ls).set(folder.root, None)
        return
    except OpenCodeError as error:  # a warning in the log, as for any refetch on connecting
        log.warning("Restoring the remembered session failed: %s", error)
        return
    if folder.session_id is not None:  # an ask or a selection made one current meanwhile
        return
    _saved[folder.root] = session_id
    title = session.title
    folder.session_id = session_id
    ls.notify_status(
        session_state(folder, session_id), session_id, f"restored session {title or session_id}"
    )


# --- commands -------------------------------------------------------------------------------


@command("opencode.session.new")
async def session_new(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Start a session and make it current: ``{sessionID, title}``."""
    options = arguments.single_object(list(args), required=False)
    title = arguments.optional_str(options, "title", max_len=1000)
    folder = await command_folder(ls)
    session_id = await new_session(ls, folder, title)  # current now, and announced
    remembered(ls).set(folder.root, session_id)
    return {"sessionID": session_id, "title": title}


@command("opencode.session.list")
async def session_list(ls: OpenCodeLanguageServer, *args: Any) -> list[dict[str, Any]]:
    """The workspace's sessions, newest first."""
    arguments.single_object(list(args), required=False)
    folder = await command_folder(ls)
    return session_rows(await folder.client.root_sessions(), folder.session_id)


@command("opencode.session.select")
async def session_select(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any] | None:
    """With ``sessionID``: make it current (checked first). Without: ask which, newest first."""
    options = arguments.single_object(list(args), required=False)
    session_id = session_id_argument(options)
    if session_id is None:
        ls.background(pick_session(ls), "choosing a session")
        return None
    folder = await command_folder(ls)
    sessions = session_rows(await folder.client.list_sessions())
    found = [row for row in sessions if row["sessionID"] == session_id]
    if not found:
        raise InvalidArgument("sessionID", "no such session in this workspace")
    set_current(ls, folder, session_id, "session selected")
    return {"sessionID": session_id, "title": found[0]["title"]}


async def pick_session(ls: OpenCodeLanguageServer) -> None:
    folder = await command_folder(ls)
    rows = session_rows(await folder.client.root_sessions(), folder.session_id)
    if not rows:
        ls.tell(types.MessageType.Info, "No OpenCode sessions in this workspace yet.")
        return
    choices = session_choices(rows)
    picked = await choose(ls, "OpenCode: which session?", [label for label, _ in choices])
    if picked is None:
        not_chosen(ls, "the sessionID", SELECT_EXAMPLE)
        return
    session_id = dict(choices)[picked]
    set_current(ls, folder, session_id, "session selected")


@command("opencode.session.abort")
async def session_abort(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    async def work(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> None:
        await folder.client.abort(session_id)

    return background_on_session(ls, args, "opencode.session.abort", "aborting the session", work)


@command("opencode.session.fork")
async def session_fork(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Fork the session (whole, or up to ``messageID``); the fork becomes current."""
    options = arguments.single_object(list(args), required=False)
    session_id = session_id_argument(options)
    message_id = arguments.optional_str(options, "messageID", max_len=200)
    if message_id is not None and not message_id.startswith("msg"):
        raise InvalidArgument("messageID", "expected an OpenCode message id (msg_…)")
    folder = await command_folder(ls)
    source = session_id or folder.session_id
    if source is None:  # the editor waits for this one: say which argument would do
        raise InvalidArgument("sessionID", "required: this folder has no current session yet")
    try:
        fork = await folder.client.fork_session(source, message_id)
    except NotFound as exc:
        raise InvalidArgument("sessionID", f"OpenCode does not know {source}") from exc
    set_current(ls, folder, fork.id, "forked session")
    return {"sessionID": fork.id, "title": fork.title, "forkedFrom": source}


@command("opencode.session.share")
async def session_share(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    async def work(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> None:
        url = (await folder.client.share_session(session_id)).share_url
        if not url:
            raise BridgeError(
                "OpenCode did not share the session: sharing is off on that server "
                '(OPENCODE_DISABLE_SHARE, or "share": "disabled" in its config).'
            )
        ls.tell(types.MessageType.Info, f"OpenCode: session shared at {url}")
        await show_document(ls, types.ShowDocumentParams(uri=url, external=True, take_focus=True))

    return background_on_session(ls, args, "opencode.session.share", "sharing the session", work)


@command("opencode.session.unshare")
async def session_unshare(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    async def work(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> None:
        await folder.client.unshare_session(session_id)
        ls.tell(types.MessageType.Info, "OpenCode: the session is no longer shared.")

    return background_on_session(
        ls, args, "opencode.session.unshare", "unsharing the session", work
    )


async def summary_model(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> str:
    """The model to summarize with: the editor's choice or setting, else the session's
    last model, else OpenCode's configured default."""
    if model := ls.model():
        return model
    used = (await folder.client.get_session(session_id)).model
    if used is not None:
        return used
    default = (await folder.client.config()).model
    if default is not None and "/" in default:
        return default
    raise BridgeError(
        "OpenCode has no default model to summarize with; pick one with opencode.model.select."
    )


@command("opencode.session.summarize")
async def session_summarize(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    async def work(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> None:
        provider, _, model = (await summary_model(ls, folder, session_id)).partition("/")
        await folder.client.summarize_session(session_id, provider, model)
        ls.tell(types.MessageType.Info, "OpenCode: the session is summarized.")

    return background_on_session(
        ls, args, "opencode.session.summarize", "summarizing the session", work
    )


@command("opencode.session.delete")
async def session_delete(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    async def work(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> None:
        await folder.client.delete_session(session_id)
        for each in ls.folders.values():
            if each.session_id == session_id:
                set_current(ls, each, None, "session deleted")
                _saved.pop(each.root, None)
        ls.tell(types.MessageType.Info, f"OpenCode: deleted session {session_id}.")

    return background_on_session(ls, args, "opencode.session.delete", "deleting the session", work)


@command("opencode.session.init")
async def session_init(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Run OpenCode's ``/init`` (writes AGENTS.md) in the current session, or a new one."""
    arguments.single_object(list(args), required=False)
    ls.background(run_slash_command(ls, "init", ""), "running /init")
    return {"sessionID": fallback_id(ls, None)}


# --- showing documents -------------------------------------------------------------------------


async def show_document(ls: OpenCodeLanguageServer, params: types.ShowDocumentParams) -> bool:
    """``window/showDocument`` if the editor offers it; whether it showed the document."""
    window = ls.client_capabilities.window
    if not (window and window.show_document and window.show_document.support):
        return False
    try:
        result = await ls.window_show_document_async(params)
    except Exception as exc:  # an editor that advertises it may still fail it
        log.info("window/showDocument failed: %s", exc)
        return False
    return bool(result and result.success)


class Sessions(Feature):
    """The current session of each folder: remembered across restarts, followed when the TUI
    selects another, and the session commands."""

    commands = (
        session_new,
        session_list,
        session_select,
        session_abort,
        session_fork,
        session_share,
        session_unshare,
        session_summarize,
        session_delete,
        session_init,
    )

    def on_event(self, folder: Folder, event: Event) -> None:
        remember_changes(self.ls, folder, event)
