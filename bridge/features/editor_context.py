"""The selection in the editor as live context for an OpenCode TUI beside it (docs/tui.md).

The bridge serves the editor-context endpoint (``bridge/editor_endpoint.py``) while the
``editorContext`` setting is on, and learns what the user selects from:

- the range of every ``textDocument/codeAction`` request (VS Code asks on each selection
  change; other editors when the user asks for code actions);
- ``opencode/selection {uri, range}``, which the shipped Neovim and Emacs configs send;
- the position of ``textDocument/documentHighlight`` requests (the cursor): a hint of the
  file the user looks at, never over a selection in that file.

It sends ``selection_changed`` to every connected TUI, debounced, with the text as the
buffer has it (unsaved typing included).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.core import arguments
from bridge.core.ide_protocol import (
    Selected,
    lock_folders,
    mention_params,
    replaces,
    selected,
    selection_params,
)
from bridge.errors import InvalidArgument
from bridge.feature import Feature
from bridge.features.common import conversation_document
from bridge.server import OpenCodeLanguageServer

if TYPE_CHECKING:  # websockets loads when the endpoint starts, after initialize (benchmark 1)
    from bridge.editor_endpoint import Endpoint

log = logging.getLogger(__name__)

SELECTION_METHOD = "opencode/selection"
DEBOUNCE = 0.05  # seconds: a drag or a held key sends one selection, not dozens


class EditorContext(Feature):
    """The endpoint's life (it follows the ``editorContext`` setting) and the selection."""

    # Hover is not offered for the same purpose: advertising it would make Neovim map K to an
    # LSP hover (away from 'keywordprg') in every buffer the bridge attaches to, with nothing
    # to show. Highlights are asked where the cursor is (VS Code, Eglot, Sublime, Kate) and
    # cost no key.
    lsp_methods = {
        SELECTION_METHOD: "on_selection",
        types.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT: "on_highlight",
    }

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        self.endpoint: Endpoint | None = None
        self.current: Selected | None = None
        self.sent: Selected | None = None
        self._starting: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # --- the endpoint follows the setting ---------------------------------------------------

    def on_settings(self) -> None:
        wanted = self.ls.settings.editor_context
        if wanted and self.endpoint is None and self._starting is None:
            self._starting = self.ls.background(self._start(), "starting the editor context")
        elif not wanted and self.endpoint is not None:
            endpoint, self.endpoint = self.endpoint, None
            self.ls.background(endpoint.close(), "stopping the editor context")

    async def _start(self) -> None:
        from bridge.editor_endpoint import Endpoint

        folders = lock_folders(self.ls.folder_roots())
        endpoint = Endpoint(folders, self.ls.client_name, self.ls.environ)
        try:
            await endpoint.start()
        except OSError as exc:
            self.ls.tell_once(
                types.MessageType.Warning,
                f"OpenCode: the editor context for the TUI could not start ({exc}); set "
                "editorContext to false to stop trying.",
            )
            await endpoint.close()
            return
        finally:
            self._starting = None
        if not self.ls.settings.editor_context:  # turned off meanwhile
            await endpoint.close()
            return
        self.endpoint = endpoint
        if self.current is not None:
            endpoint.latest_selection = None
            self._send()

    def on_exit(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close_now()

    # --- the selection ----------------------------------------------------------------------

    def on_selection(self, params: Any) -> None:
        """``{uri, range?}`` from the shipped editor configs (range null: the cursor's file)."""
        selected = selection_of(params)
        if selected is not None:
            self.note(*selected)

    def on_highlight(self, params: types.DocumentHighlightParams) -> None:
        """No highlights of our own: where they are asked tells which file the user looks at."""
        cursor = types.Range(start=params.position, end=params.position)
        self.note(params.text_document.uri, cursor, hint=True)

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        """Offers nothing: the range of the request is the editor's selection."""
        self.note(params.text_document.uri, params.range)
        return []

    def note(self, uri: str, range_: types.Range | None, *, hint: bool = False) -> None:
        """The user selected ``range_`` in ``uri`` (None: the file, with nothing selected)."""
        if not self.ls.settings.editor_context:
            return
        document = self.ls.workspace.text_documents.get(uri)
        path = to_fs_path(uri)
        if document is None or not path:
            return  # not a buffer the editor synchronises: nothing to read the text from
        if conversation_document(self.ls, uri):
            return  # the conversation is not code of the workspace
        source = document.source
        if range_ is None:
            start = end = 0
        else:
            start = _offset(document, source, range_.start)
            end = _offset(document, source, range_.end)
        new = selected(path, source, start, end)
        if not replaces(self.current, new, hint=hint):
            return
        self.current = new
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(DEBOUNCE, self._send)

    def _send(self) -> None:
        self._timer = None
        if self.endpoint is None or self.current is None or self.current == self.sent:
            return
        self.sent = self.current
        self.endpoint.broadcast("selection_changed", selection_params(self.current))

    def mention(self, path: str, first_line: int, last_line: int) -> bool:
        """``at_mentioned`` to the connected TUIs; False when none is connected."""
        if self.endpoint is None or not self.endpoint.tuis:
            return False
        self.endpoint.broadcast("at_mentioned", mention_params(path, first_line, last_line))
        return True

    def status(self) -> dict[str, Any]:
        """For ``opencode.status``: on or off, where, and how many TUIs are connected."""
        if self.endpoint is None or self.endpoint.port is None:
            return {"enabled": self.ls.settings.editor_context, "port": None, "tuis": 0}
        return {"enabled": True, "port": self.endpoint.port, "tuis": len(self.endpoint.tuis)}


def _offset(document: Any, source: str, position: types.Position) -> int:
    """The offset of an LSP position (in the client's units); past the end is the end."""
    if position.line >= len(document.lines):
        return len(source)
    return int(document.offset_at_position(position))


def status_line(status: dict[str, Any]) -> str:
    """The line ``opencode.status`` shows about the TUI beside the editor."""
    if not status["enabled"]:
        return "TUI context: off (the editorContext setting)"
    if status["port"] is None:
        return "TUI context: starting"
    tuis = status["tuis"]
    who = "no TUI connected" if tuis == 0 else f"{tuis} TUI{'s' if tuis > 1 else ''} connected"
    return f"TUI context: {who} (127.0.0.1:{status['port']})"


def _plain(value: Any) -> Any:
    """pygls hands a custom notification's params over as namedtuples: back to JSON data."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def selection_of(params: Any) -> tuple[str, types.Range | None] | None:
    """The ``opencode/selection`` notification's ``{uri, range?}``; None if malformed."""
    try:
        options = arguments.single_object([_plain(params)])
        uri = arguments.optional_uri(options)
        range_ = arguments.optional_range(options)
    except InvalidArgument as exc:  # a notification has no answer: the log says why
        log.warning("Ignored %s: %s", SELECTION_METHOD, exc)
        return None
    if uri is None:
        log.warning("Ignored %s: uri is missing", SELECTION_METHOD)
        return None
    return uri, range_
