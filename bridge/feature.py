"""What a feature is to the server: the interface every part of the bridge implements, and the
one decorator that makes a function a workspace command.

A feature (``bridge/features/*.py``) is a :class:`Feature` subclass. The server creates one of
each (``bridge/features/__init__.py`` lists them), hands it every OpenCode event, every loss of
a folder's event stream, every change of the open documents and settings, and asks it for code
actions; the feature overrides only what it needs. Its workspace
commands are plain functions marked with :func:`command`, listed in ``commands``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from bridge.errors import BridgeError, InvalidArgument

if TYPE_CHECKING:
    from bridge.errors import OpenCodeError
    from bridge.folders import Folder
    from bridge.opencode.events import Event, PartDelta
    from bridge.server import OpenCodeLanguageServer

ASK_KIND = "refactor.opencode"  # our code actions' kind, so clients can filter for them
REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was fine, the work was not

CommandHandler = Callable[..., Any]
C = TypeVar("C", bound=CommandHandler)


class Feature:
    """One part of the bridge. Every method is a no-op here; the server calls them in the order
    the features are listed, and one feature's failure never keeps the others from theirs."""

    # The workspace commands this feature offers (functions marked with @command).
    commands: ClassVar[tuple[CommandHandler, ...]] = ()
    # Other LSP methods it answers (method -> name of a method of the feature).
    lsp_methods: ClassVar[dict[str, str]] = {}
    # Prompt templates whose code action runs another command than opencode.ask.
    template_commands: ClassVar[dict[str, str]] = {}

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        self.ls = ls

    def on_event(self, folder: Folder, event: Event) -> None:
        """An OpenCode event of ``folder``'s stream, typed. The first after each (re)connection
        is ``Connected``, with what the server does not replay (fetched once for all)."""

    def on_text_delta(self, folder: Folder, delta: PartDelta) -> None:
        """A piece of a run's streamed text: thousands a run, so they come apart from
        ``on_event``, only to the features that read them."""

    def on_disconnected(self, folder: Folder, error: OpenCodeError) -> None:
        """``folder``'s event stream dropped (once per outage)."""

    def on_document(self, method: str, params: Any) -> None:
        """didOpen/didChange/didSave/didClose, after pygls has updated the workspace."""

    def on_settings(self) -> None:
        """The settings changed (also the first time)."""

    def on_exit(self) -> None:
        """The bridge ends, however it ends: synchronous, stop what must not outlive it."""

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return []

    def waiting_for(self, folder: Folder, session_id: str) -> str | None:
        """A sentence saying what this session's run waits on the person for, if it does."""
        return None


def command_action(
    title: str,
    command: str,
    arguments: dict[str, Any],
    kind: str = ASK_KIND,
    diagnostics: list[types.Diagnostic] | None = None,
) -> types.CodeAction:
    """A code action that runs a workspace command (the work happens when it is chosen)."""
    return types.CodeAction(
        title=title,
        kind=kind,
        diagnostics=diagnostics,
        command=types.Command(title=title, command=command, arguments=[arguments]),
    )


def command(name: str) -> Callable[[C], C]:
    """Mark ``handler(ls, *args)`` (plain or ``async``) as the workspace command ``name``.

    A bad argument becomes InvalidParams naming it; a failure the user can act on becomes
    RequestFailed with its sentence; a StopIteration (which pygls would answer as a silent
    null result) becomes an internal error."""

    def mark(handler: C) -> C:
        if asyncio.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(ls: OpenCodeLanguageServer, *args: Any) -> Any:
                try:
                    return await handler(ls, *args)
                except Exception as exc:
                    _raise_as_lsp_error(exc)

            wrapper: Any = run_async
        else:

            @functools.wraps(handler)
            def run(ls: OpenCodeLanguageServer, *args: Any) -> Any:
                try:
                    return handler(ls, *args)
                except Exception as exc:
                    _raise_as_lsp_error(exc)

            wrapper = run
        wrapper.command_name = name
        return wrapper  # type: ignore[no-any-return]

    return mark


def command_name(handler: CommandHandler) -> str:
    name = getattr(handler, "command_name", None)
    if not isinstance(name, str):
        raise TypeError(f"{handler!r} is not marked with @command")
    return name


def _raise_as_lsp_error(error: Exception) -> NoReturn:
    if isinstance(error, InvalidArgument):
        raise JsonRpcInvalidParams(str(error)) from error
    if isinstance(error, BridgeError):
        raise JsonRpcException(str(error), code=REQUEST_FAILED) from error
    if isinstance(error, StopIteration):
        raise RuntimeError("a command handler raised StopIteration") from error
    raise error
