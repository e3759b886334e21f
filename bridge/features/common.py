"""What the features share: the folder a command
is about, the current session (remembered across restarts), and choices through
``window/showMessageRequest``."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.core import arguments
from bridge.errors import BridgeError, InvalidArgument
from bridge.folders import Folder
from bridge.remembered import RememberedSessions, state_dir
from bridge.server import OpenCodeLanguageServer

log = logging.getLogger(__name__)

T = TypeVar("T")


class NoSession(BridgeError):
    """A command about "the current session" in a folder that has none."""

    def __init__(self, command: str) -> None:
        super().__init__(
            f"No current OpenCode session here; pass a sessionID to {command}, or start one "
            "with opencode.session.new (opencode.session.list lists them)."
        )


# --- which folder, which session ----------------------------------------------------------------


def command_path(ls: OpenCodeLanguageServer) -> str | None:
    """The file the user last touched: commands without a file act on its folder."""
    return to_fs_path(ls.last_uri) if ls.last_uri else None


def known_folder(ls: OpenCodeLanguageServer) -> Folder | None:
    """The command's folder if the bridge is connected already (no waiting)."""
    return ls.folder_for(command_path(ls)) if ls.folders else None


async def command_folder(ls: OpenCodeLanguageServer) -> Folder:
    folder = await ls.ready_folder(command_path(ls))
    return folder


def session_state(folder: Folder, session_id: str) -> str:
    return "busy" if session_id in folder.tracker.runs else "idle"


_remembered: dict[str, RememberedSessions] = {}


def remembered(ls: OpenCodeLanguageServer) -> RememberedSessions:
    path = state_dir(ls.environ) / "sessions.json"
    store = _remembered.get(str(path))
    if store is None:
        store = _remembered[str(path)] = RememberedSessions(path)
    return store


def set_current(
    ls: OpenCodeLanguageServer, folder: Folder, session_id: str | None, why: str
) -> None:
    """Make ``session_id`` the folder's current session, remember it, and say so."""
    folder.session_id = session_id
    remembered(ls).set(folder.root, session_id)
    state = session_state(folder, session_id) if session_id else "idle"
    ls.notify_status(state, session_id, why)


def id_argument(options: dict[str, Any], key: str, prefix: str, what: str) -> str | None:
    """An optional OpenCode id (``ses_…``, ``msg_…``): a wrong one is InvalidParams here,
    not a 404 later."""
    value = arguments.optional_str(options, key, max_len=200)
    if value is not None and not value.startswith(prefix):
        raise InvalidArgument(key, f"expected an OpenCode {what} id ({prefix}_…)")
    return value


def session_id_argument(options: dict[str, Any], key: str = "sessionID") -> str | None:
    return id_argument(options, key, "ses", "session")


async def target_session(
    ls: OpenCodeLanguageServer, session_id: str | None, command: str
) -> tuple[Folder, str]:
    folder = await command_folder(ls)
    target = session_id or folder.session_id
    if target is None:
        raise NoSession(command)
    return folder, target


def fallback_id(ls: OpenCodeLanguageServer, session_id: str | None) -> str | None:
    """What a command that answers at once can say it acts on."""
    folder = known_folder(ls)
    return session_id or (folder.session_id if folder else None)


async def new_session(ls: OpenCodeLanguageServer, folder: Folder, title: str | None = None) -> str:
    rules = (
        [{"permission": "edit", "pattern": "*", "action": "ask"}]
        if ls.settings.edit_approval == "ask"
        else None
    )
    session = await folder.client.create_session(title, rules)
    folder.session_id = session.id
    ls.notify_status("idle", folder.session_id, "new session")
    return folder.session_id


# --- asking the user to pick ---------------------------------------------------------------------


async def choose(ls: OpenCodeLanguageServer, message: str, titles: list[str]) -> str | None:
    """The title the user picked, or None when the editor cannot ask (Helix answers
    MethodNotFound), the user dismissed it (null, or ``{}`` from Kate), or the answer is
    not one of the titles."""
    try:
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=message,
                actions=[types.MessageActionItem(title=title) for title in titles],
            )
        )
    except Exception as exc:  # MethodNotFound, or an answer that is not a MessageActionItem
        log.info("The editor did not offer the choice: %s", exc)
        return None
    title = getattr(answer, "title", None)
    return title if title in titles else None


def not_chosen(ls: OpenCodeLanguageServer, what: str, example: str) -> None:
    ls.tell(
        types.MessageType.Warning,
        f"Nothing picked. If your editor cannot show a choice, pass {what}: {example}",
    )


def conversation_document(ls: OpenCodeLanguageServer, uri: str) -> bool:
    """Whether ``uri`` is a session's conversation document: no code of the workspace, so
    nothing to ask about or to show a TUI as the selection."""
    # Imported here: the conversation feature itself builds on the features that ask this.
    from bridge.features.conversation import Conversation

    try:
        return ls.get(Conversation).owns(uri)
    except LookupError:  # a server built without it
        return False
