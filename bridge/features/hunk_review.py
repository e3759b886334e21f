"""Review mode: an edit the agent asks permission for, accepted or refused hunk by hunk.

``preview_edit_permission(ls, folder, request)`` is the one entry point; the command
``opencode.edit.review {id}`` and a code action on the permission's diagnostic (published by the
permissions feature, source ``opencode``, code = the request id) call it. In an editor that
supports change annotations (VS Code's refactor preview) the proposed change is sent as one
workspace edit whose hunks are each annotated ``needsConfirmation``; elsewhere each hunk is put to
the user with ``window/showMessageRequest``. Then:

- every hunk accepted: the request is allowed once, and OpenCode writes the file itself;
- some accepted: the bridge writes them to the file and rejects the request with a message
  telling the agent which hunks are in the file and which were refused;
- none: the request is rejected with a message saying so.

The file must have no unsaved changes (the proposal is against the disk); review is refused
otherwise, and the request stays pending for the usual prompt.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from lsprotocol import types

from bridge.core import arguments
from bridge.core.hunks import (
    ReviewHunk,
    accepted_hunks,
    apply_hunks,
    edit_diff,
    hunk_edits,
    hunk_preview,
    proposed_text,
    review_hunks,
    review_message,
)
from bridge.core.paths import display_path
from bridge.core.text_positions import PositionEncoding
from bridge.core.workspace_edits import versioned_edit
from bridge.errors import (
    EditRefused,
    InvalidArgument,
    NotConnected,
    PathOutsideWorkspace,
)
from bridge.feature import Feature, command, command_action
from bridge.features.buffers import BufferSync
from bridge.folders import Folder
from bridge.opencode.events import (
    Connected,
    Event,
    PartUpdated,
    PermissionAsked,
    PermissionReplied,
    RunEnded,
    SessionError,
)
from bridge.opencode.models import Part, Request
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import read_text, write_text

log = logging.getLogger(__name__)

EDIT_REVIEW = "opencode.edit.review"
REVIEW_KIND = "quickfix.opencode.review"
MAX_TOOL_INPUTS = 200
ANSWER_WAIT = 5.0  # seconds for the editor's didChange after it applied a previewed edit

APPLY, SKIP, APPLY_REST, SKIP_REST = "Apply", "Skip", "Apply the rest", "Skip the rest"


@dataclass(frozen=True)
class ReviewOutcome:
    """What the user chose, and what OpenCode was told."""

    accepted: tuple[bool, ...]
    reply: str  # "once" or "reject"
    message: str | None


class Reviews(Feature):
    """The edit requests pending in every folder, and the tool calls behind them."""

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        self.requests: dict[str, tuple[Folder, Request]] = {}
        self.tool_inputs: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self.active: set[str] = set()

    @property
    def sync(self) -> BufferSync:
        return self.ls.get(BufferSync)

    # --- events ---------------------------------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        match event:
            case PartUpdated(part=part) if part.type == "tool":
                self.remember_tool(part)
            case PermissionAsked(request):
                self.add(folder, request)
            case PermissionReplied(request_id=request_id):
                self.requests.pop(str(request_id), None)
            case RunEnded(session_id) | SessionError(session_id):
                self.drop_session(session_id)
            case Connected(permissions=pending) if pending is not None:
                # Nothing is replayed after a reconnect: the refetched edit requests.
                for request_id, (known, _) in list(self.requests.items()):
                    if known.root == folder.root:
                        del self.requests[request_id]
                for request in pending:
                    self.add(folder, request)

    def remember_tool(self, part: Part) -> None:
        call_id, tool, tool_input = part.call_id, part.tool, part.state.input
        if call_id is not None and tool is not None and tool_input:
            self.tool_inputs[call_id] = (tool, dict(tool_input))
            self.tool_inputs.move_to_end(call_id)
            while len(self.tool_inputs) > MAX_TOOL_INPUTS:
                self.tool_inputs.popitem(last=False)

    def add(self, folder: Folder, request: Request) -> None:
        if request.permission == "edit":
            self.requests[request.id] = (folder, request)

    def drop_session(self, session_id: Any) -> None:
        for request_id, (_, request) in list(self.requests.items()):
            if request.session_id == session_id:
                del self.requests[request_id]

    # --- code action ------------------------------------------------------------------------------

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions: list[types.CodeAction] = []
        for diagnostic in params.context.diagnostics:
            request_id = diagnostic.code
            if diagnostic.source != "opencode" or not isinstance(request_id, str):
                continue
            found = self.requests.get(request_id)
            if found is None:
                continue
            name = request_name(found[1], found[0])
            title = f"OpenCode: Review hunk by hunk — edit {name}"
            args = {"id": request_id}
            actions.append(command_action(title, EDIT_REVIEW, args, REVIEW_KIND, [diagnostic]))
        return actions

    # --- the review -------------------------------------------------------------------------------

    async def tool_call(self, folder: Folder, request: Request) -> tuple[str, dict[str, Any]]:
        """The tool name and input behind an edit request (from the events, else the server)."""
        call_id = request.tool_call_id
        if call_id is None:
            raise EditRefused("This edit request names no tool call, so it cannot be reviewed.")
        known = self.tool_inputs.get(call_id)
        if known is not None:
            return known
        message_id, session_id = request.tool_message_id, request.session_id
        if folder.connected and message_id is not None and session_id is not None:
            message = await folder.client.message(session_id, message_id)
            for part in message.parts:
                if part.call_id == call_id:
                    self.remember_tool(part)
        known = self.tool_inputs.get(call_id)
        if known is None:
            raise EditRefused(
                "OpenCode did not say what this edit changes, so it cannot be reviewed."
            )
        return known

    async def with_diff(self, folder: Folder, request: Request) -> Request:
        """An edit request that carries no diff (V2's) with the one its tool call's input
        makes, and the absolute path of its file."""
        tool, tool_input = await self.tool_call(folder, request)
        raw_path = tool_input.get("filePath", tool_input.get("path")) or request.metadata.filepath
        if not isinstance(raw_path, str) or not raw_path:
            raise EditRefused("This edit request names no file.")
        path = await asyncio.to_thread(self.sync.resolve, folder, raw_path)
        name = display_path(path, folder.root)
        before = await asyncio.to_thread(read_text, path)
        diff = edit_diff(name, before or "", proposed_text(tool, tool_input, before, name))
        return replace(request, metadata=replace(request.metadata, filepath=path, diff=diff))

    async def review(self, folder: Folder, request: Request) -> ReviewOutcome | None:
        request_id = request.id
        if request_id in self.active:
            raise EditRefused("This edit is being reviewed already.")
        self.active.add(request_id)
        try:
            return await self._review(folder, request, request_id)
        finally:
            self.active.discard(request_id)

    async def _review(
        self, folder: Folder, request: Request, request_id: str
    ) -> ReviewOutcome | None:
        tool, tool_input = await self.tool_call(folder, request)
        raw_path = tool_input.get("filePath", tool_input.get("path"))  # V1, V2
        if not isinstance(raw_path, str):
            raw_path = request.metadata.filepath
        if not isinstance(raw_path, str) or not raw_path:
            raise EditRefused("This edit request names no file, so it cannot be reviewed.")
        try:
            path = await asyncio.to_thread(self.sync.resolve, folder, raw_path)
        except PathOutsideWorkspace as error:
            raise EditRefused(f"{error} Answer the request itself instead.") from error
        name = display_path(path, folder.root)
        before = await asyncio.to_thread(read_text, path)  # Unreadable is an EditRefused
        after = proposed_text(tool, tool_input, before, name)
        hunks = review_hunks(before or "", after)
        if not hunks:
            raise EditRefused(f"The agent's edit does not change {name}; allow or reject it.")
        document = self.sync.open_document(path)
        if document is not None and document.source != (before or ""):
            raise EditRefused(
                f"{name} has unsaved changes; save or revert them, then review the edit again."
            )
        if document is not None and before is not None and self.sync.change_annotations():
            accepted = await self.preview(document, name, before, hunks)
        elif self.can_prompt():
            accepted = await self.prompt(name, hunks)
        else:
            raise EditRefused(
                "This editor can neither preview an edit nor ask about each hunk; allow or "
                "reject the request whole."
            )
        if accepted is None:
            return None
        return await self.answer(folder, request, path, name, before, hunks, accepted)

    def can_prompt(self) -> bool:
        window = self.ls.client_capabilities.window
        return bool(window and window.show_message)

    async def preview(
        self, document: Any, name: str, before: str, hunks: list[ReviewHunk]
    ) -> tuple[bool, ...] | None:
        """One annotated edit; the editor shows each hunk for confirmation and applies the ones
        the user keeps. Which those are is read back from the buffer."""
        encoding: PositionEncoding = self.sync.encoding()
        annotations: dict[str, types.ChangeAnnotation] = {}
        edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = []
        for index, (hunk, hunk_edit) in enumerate(
            zip(hunks, hunk_edits(before, hunks, encoding), strict=True), 1
        ):
            annotation = f"opencode-hunk-{index}"
            annotations[annotation] = types.ChangeAnnotation(
                label=f"Hunk {index} ({hunk.where})",
                needs_confirmation=True,
                description=f"OpenCode wants to change {name}",
            )
            edits.extend(
                types.AnnotatedTextEdit(
                    range=edit.range, new_text=edit.new_text, annotation_id=annotation
                )
                for edit in hunk_edit
            )
        key = unquote(document.uri)
        tracked = self.sync.docs.get(key)
        if tracked is not None:
            tracked.changed.clear()
        edit = types.WorkspaceEdit(
            document_changes=[versioned_edit(document.uri, document.version, edits)],
            change_annotations=annotations,
        )
        result = await self.sync.send(edit, f"OpenCode wants to edit {name}")
        if not result.applied:
            return tuple(False for _ in hunks)
        current = self.ls.workspace.text_documents.get(key)
        if current is not None and current.source == before and tracked is not None:
            try:  # the editor's didChange may follow its answer
                await asyncio.wait_for(tracked.changed.wait(), ANSWER_WAIT)
            except asyncio.TimeoutError:
                pass  # nothing changed: every hunk was unticked
        current = self.ls.workspace.text_documents.get(key)
        now = current.source if current is not None else before
        accepted = accepted_hunks(before, hunks, now)
        if accepted is None:
            self.ls.tell(
                types.MessageType.Warning,
                f"OpenCode: {name} changed while you reviewed it, so the bridge cannot tell "
                "which hunks you kept; the request is still waiting: answer it yourself.",
            )
        return accepted

    async def prompt(self, name: str, hunks: list[ReviewHunk]) -> tuple[bool, ...] | None:
        """Each hunk in turn with ``window/showMessageRequest``; None when the user dismissed
        a prompt (the request then stays pending)."""
        choices: list[bool] = []
        rest: bool | None = None
        for index, hunk in enumerate(hunks, 1):
            if rest is not None:
                choices.append(rest)
                continue
            try:
                answer = await self.ls.window_show_message_request_async(
                    types.ShowMessageRequestParams(
                        type=types.MessageType.Info,
                        message=(
                            f"OpenCode wants to edit {name}: hunk {index} of {len(hunks)} "
                            f"({hunk.where})\n{hunk_preview(hunk)}"
                        ),
                        actions=[
                            types.MessageActionItem(title=title)
                            for title in (APPLY, SKIP, APPLY_REST, SKIP_REST)
                        ],
                    )
                )
            except Exception as error:  # MethodNotFound, or an answer that is not an item
                log.info("The editor did not ask about the hunk: %s", error)
                answer = None
            title = getattr(answer, "title", None)
            if title not in (APPLY, SKIP, APPLY_REST, SKIP_REST):
                self.ls.tell(
                    types.MessageType.Info,
                    f"OpenCode: review of the edit to {name} stopped; the request is still "
                    "waiting for your answer.",
                )
                return None
            choices.append(title in (APPLY, APPLY_REST))
            if title in (APPLY_REST, SKIP_REST):
                rest = title == APPLY_REST
        return tuple(choices)

    async def answer(
        self,
        folder: Folder,
        request: Request,
        path: str,
        name: str,
        before: str | None,
        hunks: list[ReviewHunk],
        accepted: tuple[bool, ...],
    ) -> ReviewOutcome | None:
        """Tell OpenCode; write the accepted hunks first when only some were accepted."""
        request_id, session_id = request.id, request.session_id
        if request_id not in self.requests:
            self.ls.tell(
                types.MessageType.Warning,
                f"OpenCode: the edit to {name} was answered elsewhere while you reviewed it; "
                "nothing was sent. Hunks you kept in the editor are unsaved changes: undo them "
                "if the edit was rejected.",
            )
            return None
        if not folder.connected:
            raise NotConnected("Not connected to OpenCode; the request is still waiting.")
        client = folder.client
        if all(accepted):
            await client.reply_permission(request_id, "once", session_id=session_id)
            outcome = ReviewOutcome(accepted, "once", None)
        else:
            message = review_message(name, hunks, accepted)
            if any(accepted):
                now = await asyncio.to_thread(read_text, path)
                if now != before:
                    raise EditRefused(
                        f"{name} changed on disk during the review; nothing was written and the "
                        "request is still waiting."
                    )
                text = apply_hunks(before or "", hunks, accepted)
                await asyncio.to_thread(write_text, path, text, create=before is None)
            await client.reply_permission(request_id, "reject", message, session_id=session_id)
            outcome = ReviewOutcome(accepted, "reject", message)
        self.requests.pop(request_id, None)
        kept = sum(accepted)
        self.ls.tell(
            types.MessageType.Info,
            f"OpenCode: {name}: {kept} of {len(hunks)} hunks applied"
            + ("" if all(accepted) else "; the agent was told which ones")
            + ".",
        )
        document = self.sync.open_document(path)
        if document is not None and any(accepted) and not all(accepted):
            await self.sync.sync(unquote(document.uri), self.sync.command_mode(), folder)
        return outcome


def request_name(request: Request, folder: Folder) -> str:
    if request.metadata.filepath:
        return display_path(request.metadata.filepath, folder.root)
    return request.patterns[0] if request.patterns else "a file"


async def preview_edit_permission(
    ls: OpenCodeLanguageServer, folder: Folder, request: Request
) -> ReviewOutcome | None:
    """Review the edit permission ``request`` (``permission.asked``'s properties) hunk by hunk
    and answer it. None: the user stopped, or the request was answered elsewhere meanwhile (it
    then needs no answer, or still waits for one). Raises ``EditRefused`` (with the sentence to
    show) when the edit cannot be reviewed; the request is then left pending."""
    ls.get(Reviews).add(folder, request)
    return await ls.get(Reviews).review(folder, request)


@command(EDIT_REVIEW)
def edit_review(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Review a pending edit request hunk by hunk: ``{id}`` (opencode.permission.list)."""
    options = arguments.single_object(list(args))
    request_id = arguments.required_str(options, "id", max_len=200)
    found = ls.get(Reviews).requests.get(request_id)
    if found is None:
        raise InvalidArgument("id", "no pending edit request has this id")
    folder, request = found

    async def run() -> None:
        try:
            await ls.get(Reviews).review(folder, request)
        except EditRefused as error:
            ls.tell(types.MessageType.Warning, f"OpenCode: {error}")

    ls.background(run(), "reviewing the agent's edit")
    return {"id": request_id}


# Its commands, named once the functions below the class are defined.
Reviews.commands = (edit_review,)
