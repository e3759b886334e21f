"""``opencode.tui.*``: drive the OpenCode TUI that runs beside the editor.

Each command checks its arguments, answers at once, and sends ``POST /tui/...`` in the
background. The server publishes a ``tui.*`` event and answers ``true`` whether or not a TUI
is attached, so "nothing happened" usually means no TUI is attached to that server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from bridge.core import arguments
from bridge.core.tui_text import TOAST_VARIANTS, reference
from bridge.errors import NO_TUI, InvalidArgument, NotFound, NotOffered
from bridge.feature import CommandHandler, Feature, command, command_action
from bridge.features import editor_context
from bridge.features.ask import selection_for
from bridge.features.common import command_folder, session_id_argument
from bridge.server import OpenCodeLanguageServer

if TYPE_CHECKING:  # httpx loads on connecting, not at start (benchmark 1)
    from bridge.opencode.client import OpenCodeClient, TuiAction

ADD_TO_PROMPT_TITLE = "OpenCode: Add selection to the TUI prompt"


TuiCall = Callable[["OpenCodeClient"], Awaitable[Any]]


def has_tui(ls: OpenCodeLanguageServer) -> bool:
    """False once connected to a server without ``/tui/*`` (V2); before, it is not known."""
    handle = ls.handle
    return handle is None or handle.speaks.has_tui


def send(ls: OpenCodeLanguageServer, call: TuiCall, what: str) -> None:
    """Make ``call`` in the background, once connected; refused at once on a server without
    TUI control (the V2 client refuses it too, for a call made before connecting)."""
    if not has_tui(ls):
        raise NotOffered(NO_TUI)

    async def post() -> None:
        folder = await command_folder(ls)
        await call(folder.client)

    ls.background(post(), f"telling the TUI to {what}")


def no_arguments(args: tuple[Any, ...]) -> None:
    arguments.single_object(list(args), required=False)


@command("opencode.tui.appendPrompt")
def append_prompt(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """``{text}``, or ``{uri, range?}`` for a ``@src/a.py#L10-20`` reference: sent as
    ``at_mentioned`` to the TUIs connected to the editor context, else through
    ``/tui/append-prompt`` to the TUI attached to the OpenCode server."""
    options = arguments.single_object(list(args))
    text = arguments.optional_str(options, "text")
    uri = arguments.optional_uri(options)
    range_ = arguments.optional_range(options)
    if (text is None) == (uri is None):
        raise InvalidArgument("text", "give either text or uri (with an optional range)")
    if range_ is not None and uri is None:
        raise InvalidArgument("uri", "required with range")
    if uri is not None:
        selection, _ = selection_for(ls, uri, range_)
        lines = (selection.start_line, selection.end_line) if range_ is not None else (None, None)
        text = reference(selection.relative_path, *lines) + " "
        ls.last_uri = uri
        path = str(selection.path)
        if ls.get(editor_context.EditorContext).mention(
            path, selection.start_line, selection.end_line
        ):
            return {"text": text, "via": "editorContext"}
    assert text is not None
    if not text:
        raise InvalidArgument("text", "must not be empty")
    appended = text
    send(ls, lambda client: client.tui_append_prompt(appended), "append to its prompt")
    return {"text": text, "via": "server"}


def _simple(name: str, route: TuiAction, what: str) -> CommandHandler:
    def handler(ls: OpenCodeLanguageServer, *args: Any) -> None:
        no_arguments(args)
        send(ls, lambda client: client.tui_action(route), what)

    handler.__name__ = name.rpartition(".")[2]
    handler.__doc__ = f"No arguments: tell the TUI to {what}."
    return command(name)(handler)


SIMPLE_COMMANDS = (
    _simple("opencode.tui.submitPrompt", "/tui/submit-prompt", "submit its prompt"),
    _simple("opencode.tui.clearPrompt", "/tui/clear-prompt", "clear its prompt"),
    _simple("opencode.tui.openHelp", "/tui/open-help", "open its help"),
    _simple("opencode.tui.openSessions", "/tui/open-sessions", "open its sessions"),
    _simple("opencode.tui.openThemes", "/tui/open-themes", "open its themes"),
    _simple("opencode.tui.openModels", "/tui/open-models", "open its models"),
)


@command("opencode.tui.showToast")
def show_toast(ls: OpenCodeLanguageServer, *args: Any) -> None:
    """``{message, title?, variant?: info|success|warning|error, duration?: ms}``."""
    options = arguments.single_object(list(args))
    message = arguments.required_str(options, "message", max_len=10_000)
    title = arguments.optional_str(options, "title", max_len=1_000)
    variant = arguments.optional_str(options, "variant", max_len=20) or "info"
    if variant not in TOAST_VARIANTS:
        raise InvalidArgument("variant", f"expected one of {', '.join(TOAST_VARIANTS)}")
    duration = options.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0
    ):
        raise InvalidArgument("duration", "expected a positive number of milliseconds")
    body: dict[str, Any] = {"message": message, "variant": variant}
    if title:
        body["title"] = title
    if duration is not None:
        body["duration"] = duration
    send(ls, lambda client: client.tui_show_toast(body), "show a toast")


@command("opencode.tui.executeCommand")
def execute_command(ls: OpenCodeLanguageServer, *args: Any) -> None:
    """``{command}``: a TUI command such as ``session_new`` or ``agent_cycle``."""
    options = arguments.single_object(list(args))
    name = arguments.required_str(options, "command", max_len=200)
    name = name.strip()
    send(ls, lambda client: client.tui_execute_command(name), f"run {name}")


@command("opencode.tui.selectSession")
def select_session(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """``{sessionID}``: the TUI shows that session (and the editor follows it)."""
    options = arguments.single_object(list(args))
    session_id = session_id_argument(options)
    if session_id is None:
        raise InvalidArgument("sessionID", "required")

    if not has_tui(ls):
        raise NotOffered(NO_TUI)

    async def post() -> None:
        folder = await command_folder(ls)
        try:
            await folder.client.tui_select_session(session_id)
        except NotFound as exc:
            raise NotFound(
                f"OpenCode has no session {session_id}; opencode.session.list lists them."
            ) from exc

    ls.background(post(), "telling the TUI to select a session")
    return {"sessionID": session_id}


def add_to_prompt_action(
    ls: OpenCodeLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    if params.range.start == params.range.end or not has_tui(ls):
        return []
    args = {
        "uri": params.text_document.uri,
        "range": ls.protocol.to_json(params.range),
    }
    return [command_action(ADD_TO_PROMPT_TITLE, "opencode.tui.appendPrompt", args)]


class Tui(Feature):
    commands = (append_prompt, show_toast, execute_command, select_session, *SIMPLE_COMMANDS)

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return add_to_prompt_action(self.ls, params)
