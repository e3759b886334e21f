"""Permission requests and questions in the editor: prompts, the diagnostic fallback, commands.

Every request OpenCode is waiting on is shown in three ways at once, so that it reaches the
user in any editor: a ``window/showMessageRequest`` (one at a time, in a background task), a
diagnostic with quick fixes (on the edited file's changed line, else on the document the user
last touched), and the workspace commands ``opencode.permission.*`` / ``opencode.question.*``.
Requests are keyed by id, so a refetch after a reconnect shows each once. Only an explicit
choice is sent to OpenCode: a dismissed, failed or unanswered prompt leaves the request
pending, and an answer that arrives after the request was settled elsewhere is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound
from pygls.uris import from_fs_path, to_fs_path

from bridge.core import arguments, permission_views
from bridge.core.paths import display_path
from bridge.core.permission_views import PermissionView, QuestionView
from bridge.errors import BridgeError, InvalidArgument, NotConnected, NotFound, OpenCodeError
from bridge.feature import Feature, command, command_action
from bridge.features.hunk_review import Reviews
from bridge.folders import Folder
from bridge.opencode.events import (
    Connected,
    Event,
    PermissionAsked,
    PermissionReplied,
    QuestionAsked,
    QuestionRejected,
    QuestionReplied,
    RunEnded,
    SessionError,
)
from bridge.opencode.models import Request
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import read_text_or_none

log = logging.getLogger(__name__)

SOURCE = "opencode"
PERMISSION_REPLY = "opencode.permission.reply"
PERMISSION_LIST = "opencode.permission.list"
PERMISSION_DIFF = "opencode.permission.showDiff"
QUESTION_REPLY = "opencode.question.reply"
QUESTION_REJECT = "opencode.question.reject"
QUESTION_LIST = "opencode.question.list"
MAX_CLOSED = 5_000  # ids remembered as settled, so a late event or refetch cannot revive one
MAX_MESSAGE = 100_000

T = TypeVar("T")


@dataclass(eq=False)
class Pending:
    """One request OpenCode waits on, as the bridge shows it."""

    kind: Literal["permission", "question"]
    folder: Folder
    view: PermissionView | QuestionView
    targets: list[tuple[str, types.Range]] = field(default_factory=list)
    placed: asyncio.Event = field(default_factory=asyncio.Event)  # targets are known
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    told: bool = False  # the "still waiting" message was sent

    @property
    def id(self) -> str:
        return self.view.id

    @property
    def session_id(self) -> str:
        return self.view.session_id


class Settled:
    """The request was answered or withdrawn while the editor was still asked."""


@dataclass
class PromptFailed:
    error: BaseException


class Approvals(Feature):
    """The requests pending in every folder, and how each is put before the user."""

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        self.pending: dict[str, Pending] = {}
        self.closed: OrderedDict[str, None] = OrderedDict()
        # One showMessageRequest at a time, in the order OpenCode asked: editors stack
        # concurrent prompts badly (or answer only the last).
        self.prompts: asyncio.Queue[Pending] = asyncio.Queue()
        self.prompter: asyncio.Task[None] | None = None
        self.prompts_unsupported = False  # the editor answered MethodNotFound
        self._diff_dir: Path | None = None
        self._unpublished: set[str] = set()

    # --- events ---------------------------------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        match event:
            case PermissionAsked(request):
                self.add(folder, "permission", request)
            case QuestionAsked(request):
                self.add(folder, "question", request)
            case (
                PermissionReplied(request_id=request_id)
                | QuestionReplied(request_id)
                | QuestionRejected(request_id)
            ) if request_id is not None:
                self.settle(request_id, "answered")
            case RunEnded(session_id) | SessionError(session_id) if session_id is not None:
                # the run ended or was aborted: nothing waits
                for entry in list(self.pending.values()):
                    if entry.session_id == session_id and entry.folder.root == folder.root:
                        self.settle(entry.id, "the run ended")
            case Connected():
                self.connected(folder, event)

    def connected(self, folder: Folder, event: Connected) -> None:
        """Nothing is replayed after a reconnect: bring back what is pending, once."""
        for entry in self.pending.values():
            if entry.folder.root == folder.root:
                entry.folder = folder  # a reconnect after a settings change makes new folders
        if event.permissions is None or event.questions is None or event.statuses is None:
            return  # the refetch failed (and was logged): change nothing
        busy = list(event.statuses)
        refetched: tuple[tuple[Literal["permission", "question"], tuple[Request, ...]], ...] = (
            ("permission", event.permissions),
            ("question", event.questions),
        )
        for kind, fetched in refetched:
            shown = [e.id for e in self.pending.values() if e.kind == kind and e.folder is folder]
            found = permission_views.reconcile(shown, fetched, busy, self.closed)
            for request_id in found.gone:
                self.settle(request_id, "no longer pending")
            for request in found.new:
                self.add(folder, kind, request)

    # --- the set of pending requests -----------------------------------------------------------

    def add(
        self, folder: Folder, kind: Literal["permission", "question"], request: Request
    ) -> None:
        request_id = request.id
        if request_id in self.pending or request_id in self.closed:
            return
        view: PermissionView | QuestionView | None
        if kind == "permission":
            view = permission_views.describe_permission(request, folder.root)
        else:
            view = permission_views.describe_question(request)
        if view is None:
            log.warning("Ignored a %s request OpenCode sent without id or content", kind)
            return
        entry = Pending(kind, folder, view)
        self.pending[request_id] = entry  # listed and answerable from now on
        no_diffs = folder.connected and not folder.client.sends_edit_diffs
        if no_diffs and kind == "permission" and lacks_diff(request):
            self.ls.background(self.show_with_diff(entry, request), "showing an OpenCode request")
            return
        self.show(entry)

    def show(self, entry: Pending) -> None:
        """Place the request's diagnostics and prompt for it (in turn)."""
        log.info("OpenCode waits on %s %s: %s", entry.kind, entry.id, entry.view.message)
        self.ls.background(self.place(entry), "showing an OpenCode request")
        self.prompts.put_nowait(entry)
        if self.prompter is None or self.prompter.done():
            self.prompter = self.ls.background(
                self.prompt_each(), "asking you about OpenCode requests"
            )

    async def show_with_diff(self, entry: Pending, request: Request) -> None:
        """An edit request without its diff (V2 sends none) is shown with the diff its tool
        call's input makes, so the prompt counts the lines, the diagnostic sits on the changed
        line and "Show diff" is offered, as for V1's."""
        folder = entry.folder
        try:
            request = await self.ls.get(Reviews).with_diff(folder, request)
            entry.view = permission_views.describe_permission(request, folder.root) or entry.view
        except BridgeError as exc:  # shown without a diff, as OpenCode sent it
            log.info("No diff for %s: %s", request.id, exc)
        if not entry.settled.is_set():
            self.show(entry)

    def settle(self, request_id: str, why: str) -> None:
        """The request needs no answer from this editor any more: withdraw it."""
        self.closed[request_id] = None
        self.closed.move_to_end(request_id)
        while len(self.closed) > MAX_CLOSED:
            self.closed.popitem(last=False)
        entry = self.pending.pop(request_id, None)
        if entry is None:
            return
        log.info("Withdrew %s %s: %s", entry.kind, request_id, why)
        entry.settled.set()
        self.publish({uri for uri, _ in entry.targets})

    # --- showing one request -------------------------------------------------------------------

    async def place(self, entry: Pending) -> None:
        """Publish the request's diagnostics."""
        try:
            entry.targets = await self.targets_for(entry)
        finally:
            entry.placed.set()
        if not entry.settled.is_set():
            self.publish({uri for uri, _ in entry.targets})

    async def prompt_each(self) -> None:
        """Prompt for each request in turn; a request settled meanwhile is skipped."""
        while True:
            entry = await self.prompts.get()
            try:
                await entry.placed.wait()  # the hint names where the diagnostic is
                if entry.settled.is_set():
                    continue
                if self.prompts_unsupported:
                    self.tell_waiting(entry)
                elif entry.kind == "permission":
                    await self.prompt_permission(entry)
                else:
                    await self.prompt_question(entry)
            except BridgeError as exc:
                self.ls.tell(types.MessageType.Error, str(exc))
            except Exception:  # one request's failure must not stop the prompts for the others
                log.exception("Asking about %s failed", entry.id)

    async def targets_for(self, entry: Pending) -> list[tuple[str, types.Range]]:
        """Where the diagnostic goes: the edited file at its first changed line (and, when
        that file is not open, also the document the user last touched), else that document."""
        places: list[tuple[str, int]] = []
        view = entry.view
        if isinstance(view, PermissionView) and view.file:
            uri = from_fs_path(view.file)
            is_open = uri is not None and uri in self.ls.workspace.text_documents
            if uri and (is_open or await asyncio.to_thread(os.path.isfile, view.file)):
                line = view.line or 0
                document = self.ls.workspace.text_documents.get(uri) if is_open else None
                if document is not None:  # the diff counts disk lines; the user sees the buffer
                    disk = await asyncio.to_thread(_read_text, view.file)
                    line = await asyncio.to_thread(
                        permission_views.line_in_buffer, line, disk, document.source
                    )
                places.append((uri, line))
                if is_open:
                    return [await self.range_in(uri, line) for uri, line in places]
        last = self.ls.last_uri
        if last and all(uri != last for uri, _ in places):
            places.append((last, 0))
        return [await self.range_in(uri, line) for uri, line in places]

    async def range_in(self, uri: str, line: int) -> tuple[str, types.Range]:
        """The whole of ``line`` (clamped to the document), from the buffer or the disk."""
        document = self.ls.workspace.text_documents.get(uri)
        if document is not None:
            lines = document.lines
        else:
            path = to_fs_path(uri)
            lines = await asyncio.to_thread(_read_lines, path) if path else []
        line, length = permission_views.line_span(line, lines)
        return uri, types.Range(
            start=types.Position(line=line, character=0),
            end=types.Position(line=line, character=length),
        )

    def diagnostic(self, entry: Pending, range_: types.Range) -> types.Diagnostic:
        command = PERMISSION_REPLY if entry.kind == "permission" else QUESTION_REPLY
        return types.Diagnostic(
            range=range_,
            message=permission_views.diagnostic_message(entry.view.message, command),
            severity=types.DiagnosticSeverity.Warning,
            source=SOURCE,
            code=entry.id,
            data={"opencode": entry.id},
        )

    def publish(self, uris: set[str]) -> None:
        """Send every diagnostic of ``uris`` (an empty list withdraws them) once the current
        burst of events is handled: a burst of requests on one file sends one list, not one
        growing list per request."""
        if not uris:
            return
        if not self._unpublished:
            asyncio.get_running_loop().call_soon(self._publish_now)
        self._unpublished |= uris

    def _publish_now(self) -> None:
        uris, self._unpublished = self._unpublished, set()
        for uri in sorted(uris):
            diagnostics = [
                self.diagnostic(entry, range_)
                for entry in self.pending.values()
                for target, range_ in entry.targets
                if target == uri
            ]
            self.ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
            )

    def where(self, entry: Pending) -> str:
        for uri, range_ in entry.targets:
            path = to_fs_path(uri) or uri
            return f"{display_path(path, entry.folder.root)}:{range_.start.line + 1}"
        return ""

    def waiting_for(self, folder: Folder, session_id: str) -> str | None:
        """What a session's run waits on the person for, if anything: for an ask that OpenCode
        will queue behind it."""
        for entry in self.pending.values():
            if (
                entry.session_id == session_id
                and entry.folder.root == folder.root
                and not entry.settled.is_set()
            ):
                headline = entry.view.message.split("\n", 1)[0]
                return permission_views.queued_message(headline, self.where(entry))
        return None

    def tell_waiting(self, entry: Pending) -> None:
        """Once per request: it is still pending, and how to answer it here."""
        if entry.told or entry.settled.is_set():
            return
        entry.told = True
        command = PERMISSION_REPLY if entry.kind == "permission" else QUESTION_REPLY
        where = self.where(entry)
        how = f"the OpenCode quick fix on {where}, or" if where else "the command"
        headline = entry.view.message.split("\n", 1)[0]
        self.ls.tell(
            types.MessageType.Info,
            f"{headline} — OpenCode is waiting for your answer: use {how} {command}.",
        )

    # --- prompts -------------------------------------------------------------------------------

    async def until_settled(self, entry: Pending, work: Awaitable[T]) -> T | Settled | PromptFailed:
        """``work``'s result, unless the request is settled first (then its late result is
        dropped) or it fails."""
        future = asyncio.ensure_future(work)
        settled = asyncio.ensure_future(entry.settled.wait())
        try:
            await asyncio.wait({future, settled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            settled.cancel()
        if not future.done() or entry.settled.is_set():
            future.add_done_callback(_drop)
            return Settled()
        error = future.exception()
        return PromptFailed(error) if error is not None else future.result()

    async def ask(
        self, entry: Pending, kind: types.MessageType, message: str, titles: tuple[str, ...]
    ) -> Any:
        """``window/showMessageRequest``; the editor's raw answer, Settled or PromptFailed."""
        params = types.ShowMessageRequestParams(
            type=kind,
            message=message,
            actions=[types.MessageActionItem(title=title) for title in titles],
        )
        request_id = f"opencode-ask-{uuid.uuid4().hex}"
        protocol = self.ls.protocol
        sent = protocol.request_unparsed(types.WINDOW_SHOW_MESSAGE_REQUEST, params, request_id)
        answer = await self.until_settled(entry, asyncio.wrap_future(sent))
        if isinstance(answer, Settled):  # withdraw the prompt where the editor can
            protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        return answer

    def not_answered(self, entry: Pending, answer: Any) -> bool:
        """True (and the user is told how to answer elsewhere) unless ``answer`` is an
        answer. A dismissal, ``{}`` or an error answer leaves the request pending."""
        if isinstance(answer, Settled):
            return True
        if isinstance(answer, PromptFailed):
            if isinstance(answer.error, JsonRpcMethodNotFound):
                log.info("The editor has no window/showMessageRequest: diagnostics only")
                self.prompts_unsupported = True
            else:
                log.info("The editor answered the prompt with an error: %s", answer.error)
        self.tell_waiting(entry)
        return True

    async def prompt_permission(self, entry: Pending) -> None:
        view = entry.view
        assert isinstance(view, PermissionView)
        while not entry.settled.is_set():
            answer = await self.ask(entry, types.MessageType.Warning, view.message, view.actions)
            choice = (
                None
                if isinstance(answer, (Settled, PromptFailed))
                else permission_views.permission_choice(answer, view)
            )
            if choice is None:
                self.not_answered(entry, answer)
                return
            if choice != "diff":
                await self.reply_permission(entry, choice, None)
                return
            await self.show_diff(entry)  # then ask again

    async def prompt_question(self, entry: Pending) -> None:
        view = entry.view
        assert isinstance(view, QuestionView)
        answers: list[list[str]] = []
        for index in range(len(view.items)):
            message, titles = permission_views.question_prompt(view, index)
            answer = await self.ask(entry, types.MessageType.Info, message, titles)
            choice = (
                None
                if isinstance(answer, (Settled, PromptFailed))
                else permission_views.question_choice(answer, view, index)
            )
            if choice is None:
                self.not_answered(entry, answer)
                return
            if choice[0] == "dismiss":
                await self.reject_question(entry)
                return
            answers.append([choice[1]])
        await self.reply_question(entry, answers)

    # --- answers -------------------------------------------------------------------------------

    async def send(self, entry: Pending, what: str, work: Awaitable[Any]) -> bool:
        """Send an answer; on success or a 404 (settled meanwhile) withdraw the request; on
        any other failure tell the user and leave it pending, to be answered again. True
        when OpenCode took the answer."""
        try:
            await work
        except NotFound:
            log.info("OpenCode no longer waits on %s (404): dropped the answer", entry.id)
            self.settle(entry.id, "already answered elsewhere")
            return False
        except OpenCodeError as exc:
            self.ls.tell(
                types.MessageType.Error,
                f"{exc} The request is still waiting: {entry.view.short}.",
            )
            return False
        self.ls.window_log_message(
            types.LogMessageParams(type=types.MessageType.Info, message=f"OpenCode: {what}")
        )
        self.settle(entry.id, what)
        return True

    def client_of(self, entry: Pending) -> Any:
        if not entry.folder.connected:
            raise NotConnected(
                "Not connected to OpenCode; the request is still waiting. Try again when "
                "the connection is back."
            )
        return entry.folder.client

    async def reply_permission(
        self, entry: Pending, reply: permission_views.Reply, message: str | None
    ) -> None:
        if entry.settled.is_set():
            log.info("Dropped an answer to %s: already settled", entry.id)
            return
        client = self.client_of(entry)
        what = f"{permission_views.REPLY_WORDS[reply]}: {entry.view.short}"
        sent = await self.send(
            entry,
            what,
            client.reply_permission(entry.id, reply, message, session_id=entry.view.session_id),
        )
        if sent and reply == "reject":  # the run's end alone would not say why it ended
            self.ls.tell(
                types.MessageType.Info, permission_views.rejected_message(entry.view.short, message)
            )

    async def reply_question(self, entry: Pending, answers: list[list[str]]) -> None:
        if entry.settled.is_set():
            log.info("Dropped an answer to %s: already settled", entry.id)
            return
        client = self.client_of(entry)
        shown = "; ".join(", ".join(answer) for answer in answers)
        replied = client.reply_question(entry.id, answers, session_id=entry.view.session_id)
        await self.send(entry, f"answered {shown}", replied)

    async def reject_question(self, entry: Pending) -> None:
        if entry.settled.is_set():
            return
        client = self.client_of(entry)
        rejected = client.reject_question(entry.id, session_id=entry.view.session_id)
        await self.send(entry, f"dismissed: {entry.view.short}", rejected)

    # --- Show diff -----------------------------------------------------------------------------

    def diff_dir(self) -> Path:
        """A folder of this bridge's own, outside every workspace, for diff documents."""
        if self._diff_dir is None or not self._diff_dir.is_dir():
            self._diff_dir = Path(tempfile.mkdtemp(prefix="opencode-lsp-diffs-"))
        return self._diff_dir

    async def show_diff(self, entry: Pending) -> None:
        view = entry.view
        if not isinstance(view, PermissionView) or not view.diff:
            return
        name = Path(view.file).name if view.file else "change"
        path = self.diff_dir() / f"{name}.{_safe(view.id)}.diff"
        await asyncio.to_thread(path.write_text, view.diff, encoding="utf-8")
        uri = from_fs_path(str(path)) or path.as_uri()
        window = self.ls.client_capabilities.window
        shown = False
        if window and window.show_document and window.show_document.support:
            result = await self.until_settled(
                entry,
                self.ls.window_show_document_async(
                    types.ShowDocumentParams(uri=uri, take_focus=True)
                ),
            )
            shown = isinstance(result, types.ShowDocumentResult) and result.success
        if not shown and not entry.settled.is_set():
            self.ls.window_log_message(
                types.LogMessageParams(type=types.MessageType.Info, message=view.diff)
            )
            self.ls.tell(
                types.MessageType.Info, f"The change OpenCode proposes is in {path} (and the log)."
            )

    # --- code actions --------------------------------------------------------------------------

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        asked = {
            d.code for d in params.context.diagnostics if d.source == SOURCE and d.code is not None
        }
        actions: list[types.CodeAction] = []
        for entry in self.pending.values():
            ranges = [range_ for target, range_ in entry.targets if target == uri]
            if not ranges:
                continue
            if entry.id not in asked and not any(_overlaps(r, params.range) for r in ranges):
                continue
            diagnostic = self.diagnostic(entry, ranges[0])
            actions.extend(_quick_fixes(entry, diagnostic))
        return actions

    # --- what the commands show ----------------------------------------------------------------

    def listed(self, kind: Literal["permission", "question"]) -> list[dict[str, Any]]:
        listed = []
        for entry in self.pending.values():
            if entry.kind != kind:
                continue
            view = entry.view
            item: dict[str, Any] = {
                "id": entry.id,
                "sessionID": entry.session_id,
                "message": view.message,
            }
            if isinstance(view, PermissionView):
                item.update(
                    permission=view.permission,
                    patterns=list(view.patterns),
                    always=list(view.always),
                )
            else:
                item["questions"] = [
                    {
                        "question": q.question,
                        "header": q.header,
                        "options": list(q.labels),
                        "multiple": q.multiple,
                        "custom": q.custom,
                    }
                    for q in view.items
                ]
            if entry.targets:
                uri, range_ = entry.targets[0]
                item.update(uri=uri, line=range_.start.line)
            listed.append(item)
        return listed

    def entry(self, request_id: str, kind: Literal["permission", "question"]) -> Pending:
        entry = self.pending.get(request_id)
        if entry is None or entry.kind != kind:
            raise InvalidArgument(
                "id", f"no pending {kind} has this id (opencode.{kind}.list shows them)"
            )
        return entry


def lacks_diff(request: Request) -> bool:
    """An edit request that says nothing of the change (V2's), but names its tool call."""
    metadata = request.metadata
    return (
        request.permission in ("edit", "write")
        and metadata.diff is None
        and not metadata.files
        and request.tool_call_id is not None
    )


def _read_text(path: str) -> str | None:
    """Only to find lines in: a file that is not UTF-8 keeps its lines where they are."""
    return read_text_or_none(path, lossy=True)


def _read_lines(path: str) -> list[str]:
    return (_read_text(path) or "").splitlines(keepends=True)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:100]


def _drop(future: asyncio.Future[Any]) -> None:
    """A late answer nobody waits for: read it so asyncio does not warn about it."""
    if not future.cancelled():
        future.exception()


def _overlaps(a: types.Range, b: types.Range) -> bool:
    return a.start.line <= b.end.line and b.start.line <= a.end.line


def _action(title: str, name: str, args: dict[str, Any], diagnostic: types.Diagnostic) -> Any:
    return command_action(title, name, args, types.CodeActionKind.QuickFix, [diagnostic])


def _quick_fixes(entry: Pending, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    view = entry.view
    about = view.short
    if isinstance(view, PermissionView):
        fixes = [
            _action(
                f"OpenCode: {title} — {about}",
                PERMISSION_REPLY,
                {"id": entry.id, "reply": permission_views.TITLE_REPLIES[title]},
                diagnostic,
            )
            for title in (
                permission_views.ALLOW_ONCE,
                permission_views.ALLOW_ALWAYS,
                permission_views.REJECT,
            )
        ]
        if view.diff:
            fixes.append(
                _action(
                    f"OpenCode: {permission_views.SHOW_DIFF} — {about}",
                    PERMISSION_DIFF,
                    {"id": entry.id},
                    diagnostic,
                )
            )
        return fixes
    fixes = []
    if len(view.items) == 1:  # several questions need several answers: the command
        fixes = [
            _action(
                f"OpenCode: Answer {label!r} — {about}",
                QUESTION_REPLY,
                {"id": entry.id, "answers": [[label]]},
                diagnostic,
            )
            for label in view.items[0].labels
        ]
    fixes.append(
        _action(
            f"OpenCode: {view.dismiss_title} — {about}",
            QUESTION_REJECT,
            {"id": entry.id},
            diagnostic,
        )
    )
    return fixes


# --- commands: each answers at once; the answer goes to OpenCode in the background --------------


def _request_id(options: dict[str, Any]) -> str:
    return arguments.required_str(options, "id", max_len=200)


@command(PERMISSION_REPLY)
def permission_reply(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    options = arguments.single_object(list(args))
    request_id = _request_id(options)
    reply = permission_views.check_reply(options.get("reply"))
    message = arguments.optional_str(options, "message", max_len=MAX_MESSAGE)
    if message is not None and not message.strip():
        message = None
    if message is not None and reply != "reject":
        raise InvalidArgument("message", 'feedback goes only with reply "reject"')
    entry = ls.get(Approvals).entry(request_id, "permission")
    ls.background(ls.get(Approvals).reply_permission(entry, reply, message), "answering OpenCode")
    return {"id": entry.id, "reply": reply}


@command(PERMISSION_LIST)
def permission_list(ls: OpenCodeLanguageServer, *args: Any) -> list[dict[str, Any]]:
    arguments.single_object(list(args), required=False)
    return ls.get(Approvals).listed("permission")


@command(PERMISSION_DIFF)
def permission_show_diff(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    options = arguments.single_object(list(args))
    entry = ls.get(Approvals).entry(_request_id(options), "permission")
    if not (isinstance(entry.view, PermissionView) and entry.view.diff):
        raise InvalidArgument("id", "this request has no change to show")
    ls.background(ls.get(Approvals).show_diff(entry), "showing the proposed change")
    return {"id": entry.id}


@command(QUESTION_REPLY)
def question_reply(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    options = arguments.single_object(list(args))
    entry = ls.get(Approvals).entry(_request_id(options), "question")
    assert isinstance(entry.view, QuestionView)
    answers = permission_views.check_answers(options.get("answers"), entry.view)
    ls.background(ls.get(Approvals).reply_question(entry, answers), "answering OpenCode")
    return {"id": entry.id, "answers": answers}


@command(QUESTION_REJECT)
def question_reject(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    options = arguments.single_object(list(args))
    entry = ls.get(Approvals).entry(_request_id(options), "question")
    ls.background(ls.get(Approvals).reject_question(entry), "dismissing the OpenCode question")
    return {"id": entry.id}


@command(QUESTION_LIST)
def question_list(ls: OpenCodeLanguageServer, *args: Any) -> list[dict[str, Any]]:
    arguments.single_object(list(args), required=False)
    return ls.get(Approvals).listed("question")


# Its commands, named once the functions below the class are defined.
Approvals.commands = (
    permission_reply,
    permission_list,
    permission_show_diff,
    question_reply,
    question_reject,
    question_list,
)
