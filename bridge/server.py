"""The language server: the only layer that speaks LSP.

It holds what every feature shares (settings, workspace folders and their link to OpenCode,
messages to the user, diagnostics per owner) and hands each LSP message and OpenCode event to
the features (``bridge/feature.py``). It imports no feature: ``bridge/features/__init__.py``
lists them and builds the server from that list. Handlers are thin: they check arguments,
answer at once, and leave the work to background tasks.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.uris import to_fs_path

from bridge import __version__
from bridge.core.settings import Settings, parse_settings, unwrap
from bridge.errors import BridgeError
from bridge.feature import ASK_KIND, Feature, command_name
from bridge.folders import Folder
from bridge.logs import register_secret

if TYPE_CHECKING:  # the HTTP stack is imported on connecting: see connect()
    from bridge.opencode.connect import ServerHandle
    from bridge.opencode.events import Event

log = logging.getLogger(__name__)

STATUS_METHOD = "opencode/status"
MAX_SPAWN_RESTARTS = 3
CONNECTION_KEYS = (
    "server_url",
    "server_url_refused",
    "attach_url",
    "username",
    "password",
    "spawn",
    "command",
)

F = TypeVar("F", bound=Feature)


@dataclass(frozen=True)
class FeatureEntry:
    """A feature as the server knows it before loading it: where it lives, and the commands
    and LSP methods it answers (the editor learns them from the ``initialize`` result, which
    is sent before any feature module is imported)."""

    module: str
    feature: str  # the Feature subclass in that module
    commands: tuple[str, ...] = ()
    lsp_methods: tuple[str, ...] = ()


@dataclass
class Choices:
    """The model and agent picked in the editor (``opencode.model.select``,
    ``opencode.agent.select``): they win over the settings until the bridge restarts."""

    model: str | None = None  # provider/model
    agent: str | None = None


class BridgeProtocol(LanguageServerProtocol):
    """pygls answers nothing to a request whose params it cannot read, and an editor that
    waits for the answer (eglot) would wait forever: answer InvalidParams instead.

    The one place that reaches into pygls's private parts: they may change with pygls."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException:
            if "id" not in data or "method" not in data:
                raise
            log.warning("Refused a malformed %s request", data.get("method"))
            error = JsonRpcInvalidParams(f"Malformed parameters for {data['method']}")
            self._send_response(data["id"], error=error.to_response_error())
            # Handled: hand pygls a notification it ignores ("$/" methods are optional).
            return JsonRPCNotification(method="$/opencode/ignored", params=None, jsonrpc="2.0")

    def to_json(self, value: Any) -> Any:
        """An lsprotocol object as the JSON an editor would send (for command arguments)."""
        return self._converter.unstructure(value)

    def request_unparsed(self, method: str, params: Any, request_id: str) -> Future[Any]:
        """Send a request whose answer is handed over as sent, not parsed into its result
        type: an editor answering ``{}`` to showMessageRequest (Kate, on dismissal) would
        otherwise fail to parse and leave the request unanswered forever."""
        sent: Future[Any] = self.send_request(method, params, msg_id=request_id)
        self._result_types.pop(request_id, None)
        return sent

    def replace_handler(self, method: str, handler: Callable[..., Any], *, command: bool) -> None:
        """Put a loaded feature's handler where its placeholder stood."""
        if command:
            self.fm.commands.pop(method, None)
            self.fm.command(method)(handler)
        else:
            self.fm.features.pop(method, None)
            self.fm.feature(method)(handler)


class OpenCodeLanguageServer(LanguageServer):
    """Holds the bridge's state and hands every LSP message and OpenCode event to the
    features, in the order they are listed."""

    protocol: BridgeProtocol

    def __init__(self, entries: Sequence[FeatureEntry] = ()) -> None:
        super().__init__("opencode-lsp", __version__, protocol_cls=BridgeProtocol)
        self.entries = tuple(entries)
        self.features: list[Feature] = []
        self._handlers: dict[str, list[Callable[..., Any]]] = {}  # see to_features
        self.settings = Settings()
        self.choices = Choices()
        self._diagnostics: dict[str, dict[str, list[types.Diagnostic]]] = {}
        self.environ: dict[str, str] = dict(os.environ)
        self.folders: dict[str, Folder] = {}
        self.handle: ServerHandle | None = None
        self.connect_error: BridgeError | None = None
        self.connected = asyncio.Event()
        self.connect_task: asyncio.Task[None] | None = None
        self.client_name = ""
        self.last_uri: str | None = None
        self._warned: set[str] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._told_disconnected = False
        self._initialization_options: dict[str, Any] = {}
        self.spawn_restarts = 0
        register_lsp_handlers(self)
        # The editor learns the commands and methods from the initialize result, sent before
        # the features are loaded: placeholders stand for them until then.
        for entry in self.entries:
            for name in entry.commands:
                self.command(name)(functools.partial(_not_started, name))
            for method in entry.lsp_methods:
                self.feature(method)(functools.partial(_not_started, method))

    # --- features -------------------------------------------------------------------------------

    def load_features(self) -> None:
        """Import the features and put their handlers in place; done right after ``initialize``
        is answered, so an editor's start never waits for them (benchmark 1)."""
        if self.features or not self.entries:
            return
        for entry in self.entries:
            kind = getattr(importlib.import_module(entry.module), entry.feature)
            feature: Feature = kind(self)
            self.features.append(feature)
            offered = {command_name(handler): handler for handler in kind.commands}
            if set(offered) != set(entry.commands) or set(kind.lsp_methods) != set(
                entry.lsp_methods
            ):
                raise RuntimeError(f"{entry.feature} does not offer what its entry lists")
            for name, handler in offered.items():
                self.protocol.replace_handler(name, handler, command=True)
            for method, attribute in kind.lsp_methods.items():
                handler = _without_ls(getattr(feature, attribute))
                self.protocol.replace_handler(method, handler, command=False)
        self._handlers.clear()
        self.to_features("on_settings")
        # The start is over. cli froze lsprotocol's objects, garbage and all, to keep the
        # start's collections short: collect that garbage now (~0.6 MiB), and freeze what
        # lives on so later collections skip it too.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def get(self, kind: type[F]) -> F:
        """The loaded feature of that class (``ls.get(BufferSync)``)."""
        self.load_features()
        for loaded in self.features:
            if isinstance(loaded, kind):
                return loaded
        raise LookupError(f"{kind.__name__} is not a feature of this server")

    def to_features(self, method: str, *args: Any) -> None:
        """Call ``method`` of every feature that has one of its own, in order; one feature's
        bug must not keep the others from theirs."""
        handlers = self._handlers.get(method)
        if handlers is None:  # looked up once: an event reaches only the features it concerns
            default = getattr(Feature, method)
            handlers = self._handlers[method] = [
                getattr(feature, method)
                for feature in self.features
                if getattr(type(feature), method) is not default
            ]
        for handler in handlers:
            try:
                handler(*args)
            except Exception:
                log.exception("%s failed", handler.__qualname__)

    # --- plumbing -------------------------------------------------------------------------------

    def background(self, work: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run ``work`` in the background, keep it referenced, and report its failure."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                return
            error = finished.exception()
            if isinstance(error, BridgeError):
                self.tell(types.MessageType.Error, str(error))
            elif error is not None:
                log.error("%s failed", what, exc_info=error)
                self.tell(types.MessageType.Error, f"OpenCode: {what} failed; see the log.")

        task.add_done_callback(done)
        return task

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls would show "Error in server: <exception>" to the user. What the user can act
        on is told by the features in sentences; internal errors go to the log only."""
        log.error("Internal error (%s): %s", getattr(source, "__name__", source), error)

    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None:
        """LSP keeps one list of diagnostics per file per server, and several features publish
        their own: a list sent here (the permissions feature's) or with ``publish_owned`` only
        replaces that feature's, and the editor gets them all together."""
        self.publish_owned("", params.uri, list(params.diagnostics))

    def publish_owned(self, owner: str, uri: str, diagnostics: list[types.Diagnostic]) -> None:
        lists = self._diagnostics.setdefault(uri, {})
        if diagnostics:
            lists[owner] = diagnostics
        else:
            lists.pop(owner, None)
        merged = [diagnostic for name in sorted(lists) for diagnostic in lists[name]]
        if not lists:
            del self._diagnostics[uri]
        super().text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=merged)
        )

    def tell(self, kind: types.MessageType, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def tell_once(self, kind: types.MessageType, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.tell(kind, message)

    def notify_status(
        self, state: str, session_id: str | None = None, message: str | None = None
    ) -> None:
        params: dict[str, Any] = {"state": state}
        if session_id:
            params["sessionID"] = session_id
        if message:
            params["message"] = message
        if model := self.model():
            params["model"] = model
        if agent := self.agent():
            params["agent"] = agent
        self.protocol.notify(STATUS_METHOD, params)

    def model(self) -> str | None:
        """``provider/model`` for the bridge's prompts (None: OpenCode's default)."""
        return self.choices.model or self.settings.model

    def agent(self) -> str | None:
        return self.choices.agent or self.settings.agent

    # --- settings -------------------------------------------------------------------------------

    def apply_settings(self, options: Any) -> None:
        settings, warnings = parse_settings(options, self.environ)
        for warning in warnings:
            self.tell_once(types.MessageType.Warning, warning)
        old = self.settings
        self.settings = settings
        register_secret(settings.password, settings.username)
        self.to_features("on_settings")
        changed = any(getattr(old, key) != getattr(settings, key) for key in CONNECTION_KEYS)
        if changed and self.connect_task is not None:
            log.info("Connection settings changed: reconnecting")
            self.background(self.reconnect(), "reconnecting")

    async def pull_configuration(self) -> None:
        """Settings from ``workspace/configuration``, when the client offers it."""
        workspace = self.client_capabilities.workspace
        if not (workspace and workspace.configuration):
            return
        try:
            result = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="opencode")])
            )
        except Exception as exc:  # the client may not answer: keep what we have
            log.warning("workspace/configuration failed: %s", exc)
            return
        section = unwrap(result[0]) if isinstance(result, (list, tuple)) and result else None
        if isinstance(section, dict) and section:  # null, {} or []: nothing set there
            merged = dict(self._initialization_options)
            merged.update(section)
            self.apply_settings(merged)

    # --- connection -------------------------------------------------------------------------------

    def folder_roots(self) -> list[str]:
        folders = self.workspace.folders
        roots = [to_fs_path(folder.uri) for folder in folders.values()]
        if not roots and self.workspace.root_path:
            roots = [self.workspace.root_path]
        return [root for root in roots if root] or [os.getcwd()]

    def known_folders(self) -> dict[str, Folder]:
        """The workspace folders, kept across reconnects (their current sessions with them)."""
        roots = self.folder_roots()
        self.folders = {root: self.folders.get(root) or Folder(root) for root in roots}
        return self.folders

    def folder_for(self, path: str | None) -> Folder:
        """The folder a file belongs to (the deepest root containing it), else the first."""
        if not self.folders:  # asked before the connection started: folders are known anyway
            self.known_folders()
        best: Folder | None = None
        for folder in self.folders.values():
            root = folder.root.rstrip(os.sep) + os.sep
            if path and (path + os.sep).startswith(root):
                if best is None or len(folder.root) > len(best.root):
                    best = folder
        return best or next(iter(self.folders.values()))

    async def connect(self) -> None:
        # Imported here, not at the top: the HTTP stack (httpx and all it imports) is about a
        # tenth of a start, and initialize is answered before it is needed (benchmark 1).
        from bridge.opencode.connect import find_server, insecure_url_warning
        from bridge.opencode.stream import EventStream

        roots = list(self.known_folders())
        self.connected.clear()
        if self.settings.server_url:  # warn before the first byte is sent
            warning = insecure_url_warning(self.settings.server_url, bool(self.settings.password))
            if warning:
                self.tell_once(types.MessageType.Warning, warning)
        try:
            self.handle = await find_server(self.settings, roots[0], self.environ)
        except BridgeError as exc:
            self.connect_error = exc
            self.notify_status("disconnected", message=str(exc))
            if not self.settings.server_url_refused:  # the settings warning said it already
                self.tell(types.MessageType.Error, str(exc))
            return
        register_secret(self.handle.password, self.handle.username)
        self.connect_error = None
        for folder in self.folders.values():
            folder.link(self.handle.client_for(folder.root, self.settings.request_timeout))
            stream = EventStream(
                folder.client,
                on_event=functools.partial(self.on_event, folder),
                on_connected=functools.partial(self.on_stream_connected, folder),
                on_text_delta=functools.partial(self.to_features, "on_text_delta", folder),
                on_disconnected=functools.partial(self.on_stream_lost, folder),
            )
            folder.stream_task = self.background(stream.run(), "the OpenCode event stream")
        self.connected.set()
        self.notify_status("idle", message=f"OpenCode {self.handle.version} at {self.handle.url}")

    async def disconnect(self) -> None:
        for folder in self.folders.values():
            if folder.stream_task is not None:
                folder.stream_task.cancel()
            if folder.connected:
                client = folder.client
                folder.link(None)
                await client.aclose()
        if self.handle is not None:
            handle, self.handle = self.handle, None
            await handle.close()
        self.connected.clear()

    async def reconnect(self) -> None:
        if self.connect_task is not None and not self.connect_task.done():
            self.connect_task.cancel()
        await self.disconnect()
        self.connect_task = self.background(self.connect(), "connecting to OpenCode")

    async def ready_folder(self, path: str | None) -> Folder:
        """The folder's link once connected; a failed connection is retried once per use."""
        if self.connect_task is None or (self.connect_task.done() and self.connect_error):
            self.connect_task = self.background(self.connect(), "connecting to OpenCode")
        await asyncio.shield(self.connect_task)
        if self.connect_error is not None:
            raise self.connect_error
        return self.folder_for(path)

    def on_stream_connected(self, folder: Folder) -> None:
        """Say once that an outage is over (the stream refetched what is in progress)."""
        if self._told_disconnected:
            self._told_disconnected = False
            self.tell(types.MessageType.Info, "Reconnected to OpenCode.")
            self.notify_status("idle", message="reconnected")

    def on_stream_lost(self, folder: Folder, error: BridgeError) -> None:
        self.to_features("on_disconnected", folder, error)
        if not self._told_disconnected:  # one message per outage, not one per folder or retry
            self._told_disconnected = True
            self.tell(types.MessageType.Warning, str(error))
            if self.handle is not None and self.handle.spawned is not None:
                self.background(self.revive_spawned(self.handle), "restarting OpenCode")

    async def revive_spawned(self, handle: ServerHandle) -> None:
        """Our own server died: start a new one, a few times at most."""
        spawned = handle.spawned
        if spawned is None or spawned.process is None:
            return  # stopped on purpose
        try:
            await asyncio.wait_for(spawned.process.wait(), 2.0)
        except asyncio.TimeoutError:
            return  # still running: the stream dropped for another reason; it reconnects
        if handle is not self.handle:
            return
        self.spawn_restarts += 1
        if self.spawn_restarts > MAX_SPAWN_RESTARTS:
            self.tell(
                types.MessageType.Error,
                f"OpenCode stopped again (exit code {spawned.exit_code}) after "
                f"{MAX_SPAWN_RESTARTS} restarts; see the log, then restart the language server.",
            )
            return
        self.tell(
            types.MessageType.Warning,
            f"OpenCode stopped (exit code {spawned.exit_code}); starting it again.",
        )
        self._told_disconnected = False
        await self.reconnect()

    def shutdown_spawned(self) -> None:
        """Stop what must not outlive the bridge (also from the SIGTERM handler)."""
        self.to_features("on_exit")  # guarded: the spawned server must still be stopped
        if self.handle is not None and self.handle.spawned is not None:
            self.handle.spawned.terminate_now()

    def shutdown(self) -> None:
        """pygls calls this when the connection ends, however it ends: no orphan server."""
        self.shutdown_spawned()
        super().shutdown()  # type: ignore[no-untyped-call]

    # --- events ---------------------------------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        self.to_features("on_event", folder, event)


def _not_started(method: str, ls: OpenCodeLanguageServer, *args: Any) -> None:
    """What stands for a feature's handler until the features are loaded (right after
    ``initialize``): only a client that sends requests before ``initialized`` meets it."""
    ls.load_features()
    raise JsonRpcException(f"opencode-lsp was still starting: {method} did not run; try again.")


def _without_ls(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A feature's bound method for pygls, which passes the server only to a handler whose
    first parameter is ``ls``."""

    if asyncio.iscoroutinefunction(handler):

        async def call_async(params: Any) -> Any:
            return await handler(params)

        return call_async

    def call(params: Any) -> Any:
        return handler(params)

    return call


def initialize(ls: OpenCodeLanguageServer, params: types.InitializeParams) -> None:
    ls.client_name = params.client_info.name if params.client_info else ""
    options = unwrap(params.initialization_options)
    ls._initialization_options = options if isinstance(options, dict) else {}
    ls.apply_settings(options)
    # Right after the initialize result is written, before the next message is read.
    asyncio.get_running_loop().call_soon(ls.load_features)


def initialized(ls: OpenCodeLanguageServer, params: types.InitializedParams) -> None:
    ls.load_features()

    async def start() -> None:
        await ls.pull_configuration()
        if ls.connect_task is None:
            ls.connect_task = ls.background(ls.connect(), "connecting to OpenCode")

    ls.background(start(), "starting up")


def did_change_configuration(
    ls: OpenCodeLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    settings = unwrap(params.settings)
    if isinstance(settings, dict) and settings:
        merged = dict(ls._initialization_options)
        merged.update(settings)
        ls.apply_settings(merged)
    else:  # nothing pushed (null, {} or [], also as the opencode section): ask for them
        ls.background(ls.pull_configuration(), "reading settings")


async def shutdown(ls: OpenCodeLanguageServer, params: None) -> None:
    await ls.disconnect()


def document_changed(method: str) -> Callable[[OpenCodeLanguageServer, Any], None]:
    def handle(ls: OpenCodeLanguageServer, params: Any) -> None:
        if method in (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE):
            ls.last_uri = params.text_document.uri
        ls.to_features("on_document", method, params)

    return handle


def code_action(
    ls: OpenCodeLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    found: list[types.CodeAction] = []
    for feature in ls.features:
        try:
            found.extend(feature.code_actions(params))
        except Exception:
            log.exception("%s.code_actions failed", type(feature).__name__)
    # Quick fixes (answers to pending approvals) first, then the rest in the features' order
    # (the asks first): eglot makes the first action the default, and that should be a fix or
    # "Explain".
    fixes = [a for a in found if str(a.kind or "").startswith("quickfix")]
    actions = fixes + [a for a in found if a not in fixes]
    if params.context.only:
        kinds = [kind for kind in params.context.only if isinstance(kind, str)]
        actions = [a for a in actions if a.kind and any(a.kind.startswith(k) for k in kinds)]
    return actions or None


def register_lsp_handlers(server: OpenCodeLanguageServer) -> None:
    """The LSP messages the server answers itself, whatever the features."""
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    server.feature(types.SHUTDOWN)(shutdown)
    for method in (
        types.TEXT_DOCUMENT_DID_OPEN,
        types.TEXT_DOCUMENT_DID_CHANGE,
        types.TEXT_DOCUMENT_DID_SAVE,
        types.TEXT_DOCUMENT_DID_CLOSE,
    ):
        server.feature(method)(document_changed(method))
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[ASK_KIND, types.CodeActionKind.QuickFix], resolve_provider=False
        ),
    )(code_action)


# After the editor's input ends, the seconds the process has to end by itself.
EXIT_GRACE = 5.0


class EditorInput:
    """The editor's side of stdio, as pygls reads it. When it ends (the editor closed or
    crashed), asyncio.run cancels every task and waits for each to finish before pygls's
    shutdown runs: one that does not finish must not keep an orphan bridge, its lock file and
    its port alive. So the end of input starts a timer that stops what must not outlive the
    bridge and ends the process, unless it has ended by then."""

    def __init__(self, stream: BinaryIO, exit_now: Callable[[], None]) -> None:
        self._stream = stream
        self._exit_now = exit_now
        self._ended = False

    def readline(self) -> bytes:
        return self._seen(self._stream.readline())

    def read(self, size: int = -1) -> bytes:
        return self._seen(self._stream.read(size))

    def _seen(self, data: bytes) -> bytes:
        if not data and not self._ended:
            self._ended = True
            timer = threading.Timer(EXIT_GRACE, self._exit_now)
            timer.daemon = True  # a bridge that ends in time ends with it
            timer.start()
        return data


def run_server(ls: OpenCodeLanguageServer, tcp: tuple[str, int] | None = None) -> None:
    def exit_now() -> None:
        log.warning(
            "The bridge did not end within %.0f s of its editor's input: ending it", EXIT_GRACE
        )
        ls.shutdown_spawned()
        logging.shutdown()
        os._exit(0)

    if tcp:
        ls.start_tcp(*tcp)
    else:
        ls.start_io(stdin=EditorInput(sys.stdin.buffer, exit_now))  # type: ignore[arg-type]
