"""The language server: the only layer that speaks LSP.

Handlers are thin: they check arguments, answer at once, and leave the work to background
tasks that call the OpenCode client and the pure modules.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.uris import to_fs_path

from bridge import __version__
from bridge.core import arguments
from bridge.core.prompts import (
    Problem,
    Selection,
    against_disk,
    prompt_parts,
    render_template,
    uses_diagnostics,
)
from bridge.core.runs import (
    Action,
    Answer,
    Begin,
    End,
    Failed,
    FlushLater,
    Logged,
    Report,
    RunTracker,
    Status,
    Unfinished,
    one_line,
)
from bridge.core.settings import Settings, parse_settings, unwrap
from bridge.errors import BridgeError, InvalidArgument, NotFound
from bridge.logs import register_secret
from bridge.opencode.events import Connected, Event

if TYPE_CHECKING:  # the HTTP stack is imported on connecting: see connect()
    from bridge.opencode.client import OpenCodeClient
    from bridge.opencode.connect import ServerHandle

log = logging.getLogger(__name__)

ASK_KIND = "refactor.opencode"  # a kind of our own, so clients can filter for it
STATUS_METHOD = "opencode/status"
SHORT_ANSWER_CHARS = 200
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

PROMPT_TITLES = {
    "explain": "Explain",
    "review": "Review",
    "fix": "Fix the diagnostics",
    "tests": "Write tests",
    "document": "Document",
}

SEVERITIES = {1: "error", 2: "warning", 3: "information", 4: "hint"}

T = TypeVar("T")


class ProgressChannel:
    """One run's ``$/progress`` token. Begin waits for ``workDoneProgress/create``; what
    comes meanwhile is held (only the latest report) and sent after it."""

    def __init__(self, token: str, session_id: str) -> None:
        self.token = token
        self.session_id = session_id
        self.ready = False
        self.held_report: str | None = None
        self.held_end: str | None = None


class Folder:
    """A workspace folder and its link to OpenCode: client, event stream, current session."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.client: OpenCodeClient | None = None
        self.stream_task: asyncio.Task[None] | None = None
        self.session_id: str | None = None
        self.tracker = RunTracker(Path(root))
        self.channels: dict[str, ProgressChannel] = {}  # sessionID -> channel


@dataclass
class Choices:
    """The model and agent picked in the editor (``opencode.model.select``,
    ``opencode.agent.select``): they win over the settings until the bridge restarts."""

    model: str | None = None  # provider/model
    agent: str | None = None


EventHook = Callable[[Folder, Event], None]
TranscriptOpener = Callable[[str], Coroutine[Any, Any, None]]
ConnectHook = Callable[[Folder], Awaitable[None]]
# (LSP method, its params), after pygls has updated ``workspace`` (didOpen/didChange/didSave/
# didClose)
DocumentHook = Callable[[str, Any], None]
# (folder, sessionID) -> a sentence saying what that session's run waits on the person for
WaitingHook = Callable[[Folder, str], "str | None"]
CodeActionProvider = Callable[
    ["OpenCodeLanguageServer", types.CodeActionParams], list[types.CodeAction]
]


class BridgeProtocol(LanguageServerProtocol):
    """pygls answers nothing to a request whose params it cannot read, and an editor that
    waits for the answer (eglot) would wait forever: answer InvalidParams instead."""

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


class OpenCodeLanguageServer(LanguageServer):
    """Holds the bridge's state. Features (``bridge/features/``) plug in through hooks:
    every event, every (re)connection of a folder's stream, code actions, and the open
    documents' lifecycle."""

    def __init__(self) -> None:
        super().__init__("opencode-lsp", __version__, protocol_cls=BridgeProtocol)
        self.event_hooks: list[EventHook] = []
        self.connect_hooks: list[ConnectHook] = []
        self.code_action_providers: list[CodeActionProvider] = []
        self.document_hooks: list[DocumentHook] = []
        self.settings_hooks: list[Callable[[], None]] = []  # after each change of settings
        self.exit_hooks: list[Callable[[], None]] = []  # synchronous; run however the bridge ends
        self.waiting_hooks: list[WaitingHook] = []
        self.settings = Settings()
        self.choices = Choices()
        self.open_transcript: TranscriptOpener | None = None  # set by the sessions feature
        # A prompt template whose code action runs another command than opencode.ask (the
        # review findings feature claims "review"), and each feature's diagnostics per URI.
        self.template_commands: dict[str, str] = {}
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
        self._token_counter = 0
        self._told_disconnected = False
        self._initialization_options: dict[str, Any] = {}
        self.spawn_restarts = 0

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

    def run_document_hooks(self, method: str, params: Any) -> None:
        for hook in self.document_hooks:
            try:
                hook(method, params)
            except Exception:  # one feature's failure must not break document sync
                log.exception("A document hook failed on %s", method)

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
        for hook in self.settings_hooks:
            hook()
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
            folder.client = self.handle.client_for(folder.root, self.settings.request_timeout)
            stream = EventStream(
                folder.client,
                on_event=functools.partial(self.on_event, folder),
                on_disconnected=functools.partial(self.on_stream_lost, folder),
            )
            folder.stream_task = self.background(stream.run(), "the OpenCode event stream")
        self.connected.set()
        self.notify_status("idle", message=f"OpenCode {self.handle.version} at {self.handle.url}")

    async def disconnect(self) -> None:
        for folder in self.folders.values():
            if folder.stream_task is not None:
                folder.stream_task.cancel()
            if folder.client is not None:
                await folder.client.aclose()
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
        self.run_actions(folder, folder.tracker.disconnected(str(error)))
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
        for hook in self.exit_hooks:
            try:
                hook()
            except Exception:  # the spawned server must still be stopped
                log.exception("An exit hook failed")
        if self.handle is not None and self.handle.spawned is not None:
            self.handle.spawned.terminate_now()

    def shutdown(self) -> None:
        """pygls calls this when the connection ends, however it ends: no orphan server."""
        self.shutdown_spawned()
        super().shutdown()  # type: ignore[no-untyped-call]

    # --- events -> what the editor shows --------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        if isinstance(event, Connected):
            self.on_stream_connected(folder)
        loop = asyncio.get_running_loop()
        self.run_actions(folder, folder.tracker.on_event(event, loop.time()))
        for hook in self.event_hooks:
            try:
                hook(folder, event)
            except Exception:  # one feature's bug must not starve the others of events
                log.exception("Handling %s failed", type(event).__name__)

    def run_actions(self, folder: Folder, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Begin):
                self.begin_progress(folder, action)
            elif isinstance(action, Report):
                self.report_progress(folder, action.session_id, action.message)
            elif isinstance(action, End):
                self.end_progress(folder, action.session_id, action.message)
            elif isinstance(action, FlushLater):
                loop = asyncio.get_running_loop()
                loop.call_later(action.delay, self.flush_progress, folder, action.session_id)
            elif isinstance(action, Status):
                self.notify_status(action.state, action.session_id, action.message)
            elif isinstance(action, Answer):
                self.show_answer(action)
            elif isinstance(action, Unfinished):
                self.show_unfinished(action)
            elif isinstance(action, Failed):
                if action.detail:  # OpenCode's own text (a stack trace): the log, not a message
                    log.warning("OpenCode run failed: %s", action.detail)
                self.tell(types.MessageType.Error, f"OpenCode: {action.message}")
            elif isinstance(action, Logged):
                log.warning("%s", action.message)

    def flush_progress(self, folder: Folder, session_id: str) -> None:
        now = asyncio.get_running_loop().time()
        self.run_actions(folder, folder.tracker.flush(session_id, now))

    def show_answer(self, answer: Answer) -> None:
        self.window_log_message(
            types.LogMessageParams(type=types.MessageType.Info, message=answer.text)
        )
        if self.settings.open_transcript and self.open_transcript is not None:
            self.background(self.open_transcript(answer.session_id), "opening the transcript")
            return
        self.tell(types.MessageType.Info, "OpenCode: " + one_line(answer.text, SHORT_ANSWER_CHARS))

    def show_unfinished(self, run: Unfinished) -> None:
        """A run asked for and stopped or failed: what it wrote is no answer; log it."""
        if run.text:
            why = "stopped" if run.stopped else "failed"
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Info,
                    message=f"(The run {why} before it finished; what it had written:)\n\n"
                    + run.text,
                )
            )
        if run.stopped:
            logged = " (what it had written is in the log)" if run.text else ""
            self.tell(types.MessageType.Info, f"OpenCode: stopped before it finished{logged}.")

    def begin_progress(self, folder: Folder, action: Begin) -> None:
        window = self.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        self._token_counter += 1
        token = f"opencode/{action.session_id}/{self._token_counter}"
        channel = ProgressChannel(token, action.session_id)
        folder.channels[action.session_id] = channel
        self.background(self._begin_progress(channel, action), "showing progress")

    async def _begin_progress(self, channel: ProgressChannel, action: Begin) -> None:
        try:
            await self.work_done_progress.create_async(channel.token)
        except Exception as exc:
            log.info("The client refused a progress token: %s", exc)
            return
        self.work_done_progress.begin(
            channel.token,
            types.WorkDoneProgressBegin(
                title=action.title, message=action.message, cancellable=True
            ),
        )
        channel.ready = True
        if channel.held_report is not None:
            self._send_report(channel, channel.held_report)
        if channel.held_end is not None:
            self._send_end(channel, channel.held_end)

    def report_progress(self, folder: Folder, session_id: str, message: str) -> None:
        channel = folder.channels.get(session_id)
        if channel is None:
            return
        if channel.ready:
            self._send_report(channel, message)
        else:
            channel.held_report = message

    def end_progress(self, folder: Folder, session_id: str, message: str) -> None:
        channel = folder.channels.pop(session_id, None)
        if channel is None:
            return
        if channel.ready:
            self._send_end(channel, message)
        else:
            channel.held_end = message

    def _send_report(self, channel: ProgressChannel, message: str) -> None:
        self.work_done_progress.report(
            channel.token, types.WorkDoneProgressReport(message=message, cancellable=True)
        )

    def _send_end(self, channel: ProgressChannel, message: str) -> None:
        self.work_done_progress.end(channel.token, types.WorkDoneProgressEnd(message=message))
        self.work_done_progress.tokens.pop(channel.token, None)

    def cancel_progress(self, token: types.ProgressToken) -> None:
        for folder in self.folders.values():
            for session_id, channel in folder.channels.items():
                if channel.token == token and folder.client is not None:
                    self.background(folder.client.abort(session_id), "aborting the run")
                    return

    # --- asking --------------------------------------------------------------------------------

    def selection_for(self, uri: str, range_: types.Range | None) -> tuple[Selection, str | None]:
        """The selection as the editor shows it, and the buffer's whole text (None if the
        file is not open, in which case the disk is the truth)."""
        path = to_fs_path(uri)
        if not path:
            raise InvalidArgument("uri", f"{uri} is not a file path")
        document = self.workspace.text_documents.get(uri)
        if document is None and not os.path.isfile(path):
            raise InvalidArgument("uri", f"{uri} is neither open in the editor nor on disk")
        if document is None:
            document = self.workspace.get_text_document(uri)
            buffer = None
        else:
            buffer = document.source
        lines = document.lines
        count = len(lines)
        if range_ is None:
            start, end = 0, count - 1
        else:
            start, end = range_.start.line, range_.end.line
            if end > count or (end == count and range_.end.character > 0):
                raise InvalidArgument(
                    "range", f"line {end + 1} is past the end of the file ({count} lines)"
                )
            if end > start and range_.end.character == 0:
                end -= 1  # a line-wise selection ends at column 0 of the next line
            end = min(end, count - 1)
            start = min(start, end)
        start, end = max(start, 0), max(end, 0)
        folder = self.folder_for(path)
        selection = Selection(
            path=Path(path),
            root=Path(folder.root),
            start_line=start + 1,
            end_line=end + 1,
            text="".join(lines[start : end + 1]),
            unsaved=False,
            language=document.language_id or "",
            on_disk=os.path.isfile(path),
        )
        return selection, buffer

    async def ask(
        self,
        instruction: str,
        selection: Selection | None,
        buffer: str | None,
        problems: list[Problem],
        session_id: str | None,
    ) -> None:
        if selection is not None and buffer is not None and selection.on_disk:
            disk = await asyncio.to_thread(_read_text, selection.path)
            # OpenCode reads the disk's lines; a line diff of a large file is no work for the loop
            selection = await asyncio.to_thread(against_disk, selection, buffer, disk)
        folder = await self.ready_folder(str(selection.path) if selection else None)
        assert folder.client is not None
        body: dict[str, Any] = {"parts": prompt_parts(instruction, selection, problems)}
        if model := self.model():
            provider, _, model_id = model.partition("/")
            body["model"] = {"providerID": provider, "modelID": model_id}
        if agent := self.agent():
            body["agent"] = agent
        target = session_id or folder.session_id or await self.new_session(folder)
        folder.tracker.expect_answer(target)
        try:
            await folder.client.prompt_async(target, body)
        except NotFound:
            if session_id:  # the user named this session: say so instead of guessing
                raise
            target = await self.new_session(folder)
            folder.tracker.expect_answer(target)
            self.tell(types.MessageType.Info, "The OpenCode session was gone; started a new one.")
            await folder.client.prompt_async(target, body)
        # OpenCode queues a prompt behind a run that waits for the person: say so, and where.
        for waiting in (hook(folder, target) for hook in self.waiting_hooks):
            if waiting:
                self.tell(types.MessageType.Info, waiting)
                break

    async def new_session(self, folder: Folder, title: str | None = None) -> str:
        assert folder.client is not None
        rules = (
            [{"permission": "edit", "pattern": "*", "action": "ask"}]
            if self.settings.edit_approval == "ask"
            else None
        )
        session = await folder.client.create_session(title, rules)
        folder.session_id = str(session["id"])
        self.notify_status("idle", folder.session_id, "new session")
        return folder.session_id


def _read_text(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", newline="") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


server = OpenCodeLanguageServer()


def command(name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Register a workspace command whose bad arguments become InvalidParams."""

    def register(handler: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(handler)
        def wrapper(ls: OpenCodeLanguageServer, *args: Any) -> T:
            try:
                return handler(ls, *args)
            except InvalidArgument as exc:
                raise JsonRpcInvalidParams(str(exc)) from exc
            except StopIteration as exc:  # pygls would answer it as a silent null result
                raise RuntimeError("a command handler raised StopIteration") from exc

        server.command(name)(wrapper)
        return handler

    return register


@server.feature(types.INITIALIZE)
def initialize(ls: OpenCodeLanguageServer, params: types.InitializeParams) -> None:
    ls.client_name = params.client_info.name if params.client_info else ""
    options = unwrap(params.initialization_options)
    ls._initialization_options = options if isinstance(options, dict) else {}
    ls.apply_settings(options)


@server.feature(types.INITIALIZED)
def initialized(ls: OpenCodeLanguageServer, params: types.InitializedParams) -> None:
    async def start() -> None:
        await ls.pull_configuration()
        if ls.connect_task is None:
            ls.connect_task = ls.background(ls.connect(), "connecting to OpenCode")

    ls.background(start(), "starting up")


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
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


@server.feature(types.SHUTDOWN)
async def shutdown(ls: OpenCodeLanguageServer, params: None) -> None:
    await ls.disconnect()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: OpenCodeLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.last_uri = params.text_document.uri
    ls.run_document_hooks(types.TEXT_DOCUMENT_DID_OPEN, params)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: OpenCodeLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.last_uri = params.text_document.uri
    ls.run_document_hooks(types.TEXT_DOCUMENT_DID_CHANGE, params)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: OpenCodeLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.run_document_hooks(types.TEXT_DOCUMENT_DID_SAVE, params)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: OpenCodeLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.run_document_hooks(types.TEXT_DOCUMENT_DID_CLOSE, params)


@server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
def progress_cancel(ls: OpenCodeLanguageServer, params: types.WorkDoneProgressCancelParams) -> None:
    ls.cancel_progress(params.token)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[ASK_KIND, types.CodeActionKind.QuickFix], resolve_provider=False
    ),
)
def code_action(
    ls: OpenCodeLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    extra = [action for provider in ls.code_action_providers for action in provider(ls, params)]
    # Quick fixes (answers to pending approvals) first, then the asks, then the rest: eglot
    # makes the first action the default, and that should be a fix or "Explain".
    fixes = [a for a in extra if str(a.kind or "").startswith("quickfix")]
    rest = [a for a in extra if a not in fixes]
    actions = fixes + ask_actions(ls, params) + rest
    if params.context.only:
        kinds = [kind for kind in params.context.only if isinstance(kind, str)]
        actions = [a for a in actions if a.kind and any(a.kind.startswith(k) for k in kinds)]
    return actions or None


def ask_actions(
    ls: OpenCodeLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """One ``OpenCode: …`` action per prompt template, on a selection or on diagnostics."""
    selected = params.range.start != params.range.end
    # Our own diagnostics (pending approvals) are not problems in the code to ask about.
    diagnostics = [d for d in params.context.diagnostics if d.source != "opencode"]
    if not selected and not diagnostics:
        return []
    uri = params.text_document.uri
    ls.last_uri = uri
    range_json = ls.protocol._converter.unstructure(params.range)
    diagnostics_json = ls.protocol._converter.unstructure(diagnostics)
    actions = []
    for name, template in ls.settings.prompts.items():
        if uses_diagnostics(template) and not diagnostics:
            continue
        title = f"OpenCode: {PROMPT_TITLES.get(name, name[:1].upper() + name[1:])}"
        args: dict[str, Any] = {"uri": uri, "range": range_json, "template": name}
        if diagnostics:
            args["diagnostics"] = diagnostics_json
        actions.append(
            types.CodeAction(
                title=title,
                kind=ASK_KIND,
                diagnostics=diagnostics or None,
                command=types.Command(
                    title=title,
                    command=ls.template_commands.get(name, "opencode.ask"),
                    arguments=[args],
                ),
            )
        )
    return actions


def problems_from(raw: list[Any]) -> list[Problem]:
    problems = []
    for index, item in enumerate(raw):
        try:
            line = int(item["range"]["start"]["line"]) + 1
            message = str(item["message"])
        except (TypeError, KeyError, ValueError) as exc:
            raise InvalidArgument(f"diagnostics[{index}]", "expected an LSP Diagnostic") from exc
        severity = SEVERITIES.get(item.get("severity") or 1, "error")
        source = item.get("source") if isinstance(item.get("source"), str) else None
        problems.append(Problem(line, severity, message, source))
    return problems


@command("opencode.ask")
def ask_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Answer at once; the prompt is built and sent in the background."""
    options = arguments.single_object(list(args))
    uri = arguments.optional_uri(options)
    range_ = arguments.optional_range(options)
    template_name = arguments.optional_str(options, "template", max_len=200)
    prompt = arguments.optional_str(options, "prompt")
    session_id = arguments.optional_str(options, "sessionID", max_len=200)
    problems = problems_from(arguments.optional_list(options, "diagnostics"))
    if template_name is None and not (prompt and prompt.strip()):
        raise InvalidArgument("prompt", "give a prompt text or a template name")
    if template_name is not None and template_name not in ls.settings.prompts:
        known = ", ".join(sorted(ls.settings.prompts))
        raise InvalidArgument("template", f"unknown template (known: {known})")
    if range_ is not None and uri is None:
        raise InvalidArgument("uri", "required with range")
    selection, buffer = ls.selection_for(uri, range_) if uri else (None, None)
    template = ls.settings.prompts[template_name] if template_name else ""
    instruction = render_template(template, selection, problems)
    if prompt:
        instruction = f"{instruction}\n\n{prompt}".strip() if instruction else prompt
    if selection is not None:
        ls.last_uri = uri
    folder_session = None
    if ls.folders:
        folder_session = ls.folder_for(str(selection.path) if selection else None).session_id
    ls.background(ls.ask(instruction, selection, buffer, problems, session_id), "asking OpenCode")
    return {"sessionID": session_id or folder_session}


# After the editor's input ends, the seconds the process has to end by itself.
EXIT_GRACE = 5.0


class EditorInput:
    """The editor's side of stdio, as pygls reads it. When it ends (the editor closed or
    crashed), asyncio.run cancels every task and waits for each to finish before pygls's
    shutdown runs: one that does not finish must not keep an orphan bridge, its lock file and
    its port alive. So the end of input starts a timer that stops what must not outlive the
    bridge and ends the process, unless it has ended by then."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._ended = False

    def readline(self) -> bytes:
        return self._seen(self._stream.readline())

    def read(self, size: int = -1) -> bytes:
        return self._seen(self._stream.read(size))

    def _seen(self, data: bytes) -> bytes:
        if not data and not self._ended:
            self._ended = True
            timer = threading.Timer(EXIT_GRACE, _exit_now)
            timer.daemon = True  # a bridge that ends in time ends with it
            timer.start()
        return data


def _exit_now() -> None:
    log.warning("The bridge did not end within %.0f s of its editor's input: ending it", EXIT_GRACE)
    server.shutdown_spawned()
    logging.shutdown()
    os._exit(0)


def run_server(tcp: tuple[str, int] | None = None) -> None:
    import bridge.features  # noqa: F401  (registers every feature's commands and hooks)

    if tcp:
        server.start_tcp(*tcp)
    else:
        server.start_io(stdin=EditorInput(sys.stdin.buffer))  # type: ignore[arg-type]
