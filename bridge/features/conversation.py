"""The conversation document: a session as Markdown that the bridge keeps current while the
editor shows it, and from which the user continues the session (docs/conversation.md).

Each session has one document, ``<state>/conversations/<sessionID>.md``, outside every
workspace. While the editor has it open the bridge only sends it versioned edits inserted
above the prompt area (coalesced, at most ~10 a second, one in flight); while it is closed the
bridge keeps following the session in memory and writes the file (at most once a second), so
reopening it is instant. What to write is decided by the pure
:class:`bridge.core.conversation_text.Follower`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from bridge.core import arguments, conversation_text
from bridge.core.conversation_text import Follower, document, insertion, prompt_of, prompt_range
from bridge.core.line_diff import text_edits
from bridge.core.paths import resolve_in_workspace
from bridge.core.prompts import Selection
from bridge.core.session_info import command_names
from bridge.core.session_markdown import file_name
from bridge.core.text_positions import spans_to_edits
from bridge.core.workspace_edits import document_edit
from bridge.errors import BridgeError, EditRefused, InvalidArgument, OpenCodeError
from bridge.feature import Feature, command, command_action
from bridge.features.ask import ask
from bridge.features.buffers import BufferSync
from bridge.features.common import command_folder, new_session, session_id_argument
from bridge.features.control import run_slash_command
from bridge.features.permissions import Approvals
from bridge.features.sessions import background_on_session, show_document, summary_model
from bridge.folders import Folder
from bridge.opencode.events import (
    Connected,
    Event,
    PartDelta,
    PermissionAsked,
    QuestionAsked,
    RunEnded,
    SessionStatus,
    session_of,
)
from bridge.remembered import state_dir
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import read_text_or_none

log = logging.getLogger(__name__)

OPEN = "opencode.session.open"
SEND = "opencode.session.send"
LABEL = "OpenCode conversation"
EDIT_GAP = 0.1  # seconds between two edits of one document: at most ~10 a second
# The most text one edit inserts: an editor applies each edit at once, so a flood of text
# (100,000 deltas in a few seconds) goes in pieces, one every EDIT_GAP, and never freezes it.
EDIT_CHARS = 16 * 1024
WRITE_GAP = 1.0  # seconds between two writes of a closed document
CHANGE_WAIT = 2.0  # seconds to wait for the editor's didChange after it applied an edit
SUMMARIZE = frozenset({"compact", "summarize"})  # the TUI's commands, not the server's


@dataclass(eq=False)
class Doc:
    """One session's conversation document."""

    session_id: str
    root: str  # the workspace folder the session belongs to
    path: Path
    uri: str
    follower: Follower
    text: str = ""  # the whole document as last known: the file's, or the editor's when open
    open: bool = False  # the editor has it open (didOpen … didClose)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    early: list[Event] = field(default_factory=list)  # events that came while loading
    unsent: str = ""  # appended text the editor does not have yet
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a didChange came
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one edit in flight
    last_edit: float = -math.inf
    edits: int = 0
    written: str | None = None  # the text last written to the file
    pump: asyncio.Task[None] | None = None


def _write_file(path: Path, text: str) -> None:
    """Write then rename: an editor opening it meanwhile never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp", newline=""
    ) as file:
        file.write(text)
    os.replace(file.name, path)


# --- commands ---------------------------------------------------------------------------------


@command(OPEN)
async def session_open(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Open the session's conversation: ``{sessionID, uri, path}`` once the session is known
    (a new one when the folder has none); it is written and shown in the background."""
    options = arguments.single_object(list(args), required=False)
    session_id = session_id_argument(options)
    focus = options.get("takeFocus", False)
    if not isinstance(focus, bool):
        raise InvalidArgument("takeFocus", "expected true or false")
    folder = await command_folder(ls)
    target = session_id or folder.session_id or await new_session(ls, folder)
    conversation = ls.get(Conversation)
    path = conversation.path_for(target)
    ls.background(conversation.show(folder, target, focus=focus), "opening the conversation")
    return {"sessionID": target, "uri": from_fs_path(str(path)), "path": str(path)}


@command("opencode.session.transcript")
def session_transcript(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """The older name: opens the conversation, taking the focus (docs/conversation.md)."""

    async def work(ls: OpenCodeLanguageServer, folder: Folder, session_id: str) -> None:
        await ls.get(Conversation).show(folder, session_id, focus=True)

    return background_on_session(
        ls, args, "opencode.session.transcript", "opening the conversation", work
    )


@command(SEND)
def session_send(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Send the prompt area of the conversation ``uri`` to its session; the area clears."""
    options = arguments.single_object(list(args))
    uri = arguments.required_str(options, "uri", max_len=10_000)
    conversation = ls.get(Conversation)
    doc = conversation.doc_at(uri)
    current = ls.workspace.text_documents.get(uri)
    if doc is None or current is None or not doc.open:
        raise InvalidArgument("uri", "not a conversation document open in the editor")
    prompt = prompt_of(current.source)
    if prompt is None or not prompt.strip():
        raise BridgeError(
            "Write your prompt below the line "
            '"<!-- opencode: write your next prompt below this line … -->" first.'
        )
    ls.background(send(ls, doc, prompt), "sending the prompt")
    return {"sessionID": doc.session_id}


async def send(ls: OpenCodeLanguageServer, doc: Doc, prompt: str) -> None:
    folder = await ls.ready_folder(doc.root)
    slash = conversation_text.slash_command(prompt)
    if slash is not None and slash[0] in SUMMARIZE:
        provider, _, model = (await summary_model(ls, folder, doc.session_id)).partition("/")
        await clear_prompt(ls, doc, prompt)
        await folder.client.summarize_session(doc.session_id, provider, model)
        return
    if slash is not None and slash[0] in command_names(await folder.client.commands()):
        await clear_prompt(ls, doc, prompt)
        await run_slash_command(ls, slash[0], slash[1], doc.session_id)
        return
    references = await asyncio.to_thread(referenced_files, Path(folder.root), prompt)
    await ask(
        ls,
        prompt.strip(),
        None,
        None,
        [],
        doc.session_id,
        references=references,
        folder_path=doc.root,
    )
    await clear_prompt(ls, doc, prompt)


async def clear_prompt(ls: OpenCodeLanguageServer, doc: Doc, sent: str) -> None:
    """Empty the prompt area, if it still holds what was sent (never text typed since)."""
    conversation = ls.get(Conversation)
    async with doc.lock:
        current = conversation.editor_document(doc)
        if current is None:
            return
        source = current.source
        span = prompt_range(source)
        if span is None or source[span[0] : span[1]].strip() != sent.strip():
            return
        await conversation.edit(doc, source, current.version, [(span[0], span[1], "")])


def referenced_files(root: Path, prompt: str) -> list[Selection]:
    """The lines of each ``@path[#L10-20]`` of a file in the workspace folder."""
    found = []
    for reference in conversation_text.references(prompt):
        path = (root / reference.path).resolve()
        try:
            resolve_in_workspace(str(path), [root])
        except EditRefused:
            continue
        text = read_text_or_none(str(path))
        if text is None:
            continue
        lines = text.splitlines(keepends=True)
        count = max(1, len(lines))
        start = min(reference.start or 1, count)
        end = min(reference.end or count, count)
        found.append(Selection(path, root, start, end, "".join(lines[start - 1 : end]), False))
    return found


class Conversation(Feature):
    """Every session's conversation document the bridge has opened since it started."""

    commands = (session_open, session_send, session_transcript)

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        self.docs: dict[str, Doc] = {}  # sessionID -> its document
        self.auto_opened: set[str] = set()  # sessions opened by openConversation once
        self._directory: Path | None = None

    # --- where documents live ------------------------------------------------------------------

    def directory(self) -> Path:
        """``<state>/conversations``, or a private temporary folder when that is inside a
        workspace folder (the document must never be a workspace file)."""
        if self._directory is not None:
            return self._directory
        chosen = state_dir(self.ls.environ) / "conversations"
        roots = self.ls.get(BufferSync).roots()
        try:
            resolve_in_workspace(str(chosen / "x.md"), roots)
        except EditRefused:
            pass  # outside every workspace folder: the one wanted
        else:
            chosen = Path(tempfile.mkdtemp(prefix="opencode-lsp-conversations-"))
        self._directory = chosen
        return chosen

    def path_for(self, session_id: str) -> Path:
        return self.directory() / file_name(session_id)

    def doc_at(self, uri: str) -> Doc | None:
        path = to_fs_path(uri)
        if not path:
            return None
        for doc in self.docs.values():
            if str(doc.path) == path:
                return doc
        return None

    def is_open(self, session_id: str) -> bool:
        doc = self.docs.get(session_id)
        return doc is not None and doc.open

    def owns(self, uri: str) -> bool:
        """Whether ``uri`` is a conversation document (asked by other features)."""
        path = to_fs_path(uri)
        return path is not None and Path(path).parent == self.directory()

    # --- opening --------------------------------------------------------------------------------

    async def show(self, folder: Folder, session_id: str, *, focus: bool) -> None:
        """Make the document current on disk (unless the editor has it) and show it."""
        doc = self.docs.get(session_id)
        if doc is None:
            doc = await self.load(folder, session_id)
        else:
            await doc.loaded.wait()
            if not doc.open:
                await self.write(doc)
        params = types.ShowDocumentParams(uri=doc.uri, take_focus=focus)
        if not await show_document(self.ls, params):
            self.ls.tell(types.MessageType.Info, f"OpenCode: the conversation is in {doc.path}")

    def register(self, folder: Folder, session_id: str) -> Doc:
        """The session's document, followed from now on (its text comes with ``load``)."""
        path = self.path_for(session_id)
        uri = from_fs_path(str(path)) or path.as_uri()
        doc = Doc(session_id, folder.root, path, uri, Follower(session_id, folder.root))
        self.docs[session_id] = doc
        doc.pump = self.ls.background(self.pump(doc), "updating the conversation")
        return doc

    async def load(self, folder: Folder, session_id: str, *, editor_text: str | None = None) -> Doc:
        """Render the session afresh; the unsent prompt text of the file (or of the editor's
        buffer) is kept. Events that come meanwhile are replayed after."""
        doc = self.register(folder, session_id)
        try:
            session, messages = await asyncio.gather(
                folder.client.get_session(session_id), folder.client.messages(session_id)
            )
            draft = (
                await asyncio.to_thread(read_text_or_none, str(doc.path))
                if editor_text is None
                else editor_text
            )
        except BaseException:
            self.forget(doc)
            raise
        pending = [
            entry.view
            for entry in self.ls.get(Approvals).pending.values()
            if entry.session_id == session_id
        ]
        finished = session_id not in folder.tracker.runs
        body, follower = await asyncio.to_thread(
            conversation_text.render, session, messages, finished=finished, pending=pending
        )
        doc.follower = follower
        doc.text = document(body, (prompt_of(draft) or "") if draft else "")
        doc.loaded.set()
        for event in doc.early:
            follower.on_event(event)
        doc.early.clear()
        if editor_text is None:
            await self.write(doc)
        doc.wake.set()
        return doc

    def forget(self, doc: Doc) -> None:
        if self.docs.get(doc.session_id) is doc:
            del self.docs[doc.session_id]
        if doc.pump is not None:
            doc.pump.cancel()

    def live(self, doc: Doc) -> bool:
        """Edits reach the document: the editor has it open and takes workspace edits."""
        return doc.open and self.ls.get(BufferSync).can_apply()

    async def write(self, doc: Doc) -> None:
        """Put the document's text on disk (never while the editor has it open and edits it
        live: no reload prompts)."""
        if self.live(doc):
            return
        doc.text = self._with_unsent(doc)
        if doc.written == doc.text:
            return
        text = doc.text
        try:
            await asyncio.to_thread(_write_file, doc.path, text)
        except OSError as error:
            log.warning("Could not write the conversation %s: %s", doc.path, error)
            return
        doc.written = text

    def _with_unsent(self, doc: Doc) -> str:
        """The closed document's text with what was appended since."""
        more = doc.unsent + doc.follower.take()
        doc.unsent = ""
        if not more:
            return doc.text
        offset, insert = insertion(doc.text, more)
        return doc.text[:offset] + insert + doc.text[offset:]

    # --- keeping it current ---------------------------------------------------------------------

    async def pump(self, doc: Doc) -> None:
        """Send what the follower wrote: to the editor while open, else to the file."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            await doc.wake.wait()
            doc.wake.clear()
            if not doc.loaded.is_set():
                continue
            if not self.live(doc):
                if doc.open:  # an editor without workspace/applyEdit: the file it is
                    self.ls.tell_once(
                        types.MessageType.Info,
                        f"OpenCode: this editor takes no edits from the bridge, so the "
                        f"conversation is written to {doc.path}; reopen it to read more.",
                    )
                if doc.follower.out or doc.unsent:
                    doc.text = self._with_unsent(doc)
                    await asyncio.sleep(WRITE_GAP)  # one write a second
                    await self.write(doc)
                continue
            wait = doc.last_edit + EDIT_GAP - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # coalesce: at most ~10 edits a second
            doc.unsent += doc.follower.take()
            if not doc.unsent:
                continue
            if not doc.open:  # closed meanwhile: to the file, next time round
                doc.wake.set()
                continue
            sent = doc.unsent[:EDIT_CHARS]
            if await self.append(doc, sent):
                failures = 0
                doc.unsent = doc.unsent[len(sent) :]
                if doc.unsent:
                    doc.wake.set()  # the rest, one edit later
            else:  # rebuilt on the editor's new text and sent again, less often each time
                failures += 1
                await asyncio.sleep(min(2.0, EDIT_GAP * 2 ** min(failures, 5)))
                doc.wake.set()

    def wake(self, doc: Doc) -> None:
        if not doc.wake.is_set():
            doc.wake.set()

    def editor_document(self, doc: Doc) -> Any:
        documents = self.ls.workspace.text_documents
        return documents.get(doc.uri) or documents.get(unquote(doc.uri))

    async def append(self, doc: Doc, text: str) -> bool:
        """Insert ``text`` at the end of the body, as one versioned edit; whether the editor
        has it (it said so and its didChange shows it)."""
        async with doc.lock:
            current = self.editor_document(doc)
            if current is None:
                return False
            source, version = current.source, current.version
            offset, insert = insertion(source, text)
            return await self.edit(doc, source, version, [(offset, offset, insert)])

    async def edit(
        self, doc: Doc, source: str, version: int | None, spans: list[tuple[int, int, str]]
    ) -> bool:
        """One ``workspace/applyEdit`` of ``spans`` of ``source`` (the editor's ``version``);
        waits for the editor's didChange so the next edit is built on its text."""
        buffers = self.ls.get(BufferSync)
        edits = spans_to_edits(source, spans, buffers.encoding())
        if not edits:
            return True
        edit = document_edit(doc.uri, version, edits, document_changes=buffers.document_changes())
        doc.changed.clear()
        doc.last_edit = asyncio.get_running_loop().time()
        doc.edits += 1
        applied = await buffers.send(edit, LABEL)
        if not applied.applied:
            log.info("The editor did not apply a conversation edit: %s", applied.reason)
            return False
        try:
            await asyncio.wait_for(self._changed_from(doc, version), CHANGE_WAIT)
        except asyncio.TimeoutError:
            log.info("No didChange came for a conversation edit; sending it again")
            return False
        return True

    async def _changed_from(self, doc: Doc, version: int | None) -> None:
        while True:
            current = self.editor_document(doc)
            if current is None or current.version != version:
                return
            await doc.changed.wait()
            doc.changed.clear()

    # --- events ---------------------------------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        match event:
            case PermissionAsked(request) | QuestionAsked(request):
                session_id = request.session_id
            case Connected():
                for doc in list(self.docs.values()):
                    if doc.root == folder.root and doc.loaded.is_set():
                        self.ls.background(self.catch_up(folder, doc), "updating a conversation")
                return
            case _:
                session_id = session_of(event)
        if session_id is None:  # a reply names its request only: every document may show it
            for each in self.docs.values():
                self.follow(folder, each, event)
            return
        if isinstance(event, SessionStatus) and event.state.type == "busy":
            self.open_on_first_run(folder, session_id)
        followed = self.docs.get(session_id)
        if followed is not None:
            self.follow(folder, followed, event)

    def follow(self, folder: Folder, doc: Doc, event: Event) -> None:
        if doc.root != folder.root:
            return
        if not doc.loaded.is_set():
            doc.early.append(event)
            return
        if isinstance(event, RunEnded):
            self.ls.background(self.end_turn(folder, doc), "ending a turn of the conversation")
            return
        doc.follower.on_event(event)
        if doc.follower.out:
            self.wake(doc)

    def on_text_delta(self, folder: Folder, delta: PartDelta) -> None:
        doc = self.docs.get(delta.session_id or "")
        if doc is None:
            return
        if not doc.loaded.is_set():
            if delta.part_id is not None:  # the fetched text may or may not hold it
                doc.follower.frozen.add(delta.part_id)
            return
        doc.follower.delta(delta)
        if doc.follower.out:
            self.wake(doc)

    async def end_turn(self, folder: Folder, doc: Doc) -> None:
        """The run ended: the files the turn changed (fetched once) and what it cost."""
        turn = doc.follower.turn
        diffs = None
        if turn is not None and turn.user.id is not None and not turn.ended:
            try:
                diffs = await folder.client.session_diff(doc.session_id, turn.user.id)
            except OpenCodeError as error:
                log.info("No diff for the turn: %s", error)
        doc.follower.run_ended(diffs or None)
        self.wake(doc)

    async def catch_up(self, folder: Folder, doc: Doc) -> None:
        """After a reconnection: what the stream missed, from the messages."""
        try:
            messages = await folder.client.messages(doc.session_id)
        except OpenCodeError as error:
            log.info("Could not refetch the conversation: %s", error)
            return
        finished = doc.session_id not in folder.tracker.runs
        doc.follower.catch_up(messages, finished=finished)
        self.wake(doc)

    def open_on_first_run(self, folder: Folder, session_id: str) -> None:
        settings = self.ls.settings
        if not (settings.open_conversation or settings.open_transcript):
            return
        if session_id in self.auto_opened or self.is_open(session_id):
            return
        self.auto_opened.add(session_id)
        self.ls.background(self.show(folder, session_id, focus=False), "opening the conversation")

    # --- the editor's documents -----------------------------------------------------------------

    def on_document(self, method: str, params: Any) -> None:
        uri = params.text_document.uri
        if method == types.TEXT_DOCUMENT_DID_CHANGE:
            doc = self.doc_at(uri)
            if doc is not None and doc.open:
                current = self.editor_document(doc)
                if current is not None:
                    doc.text = current.source  # kept for didClose, when pygls drops it
                doc.changed.set()
        elif method == types.TEXT_DOCUMENT_DID_OPEN:
            self.opened(uri)
        elif method == types.TEXT_DOCUMENT_DID_CLOSE:
            doc = self.doc_at(uri)
            if doc is not None and doc.open:
                doc.open = False
                doc.changed.set()
                doc.written = None  # the editor may have saved it: write ours
                self.ls.background(self.write(doc), "writing the conversation")

    def opened(self, uri: str) -> None:
        doc = self.doc_at(uri)
        if doc is None:
            if not self.owns(uri):
                return
            session_id = Path(to_fs_path(uri) or "").stem
            if not session_id.startswith("ses"):
                return
            self.ls.background(self.adopt(uri, session_id), "following the conversation")
            return
        doc.open = True
        current = self.editor_document(doc)
        if current is not None:
            self.ls.background(self.reconcile(doc), "updating the conversation")

    async def adopt(self, uri: str, session_id: str) -> None:
        """A conversation document opened in the editor that the bridge did not open (a
        restart since): render the session and bring the buffer up to date."""
        folder = await command_folder(self.ls)
        current = self.ls.workspace.text_documents.get(uri)
        doc = await self.load(folder, session_id, editor_text=current.source if current else "")
        doc.open = self.ls.workspace.text_documents.get(uri) is not None
        if doc.open:
            await self.reconcile(doc)

    async def reconcile(self, doc: Doc) -> None:
        """The editor opened the document: make its body the bridge's (the file may be older
        than what the bridge followed since), keeping the prompt area the editor has."""
        await doc.loaded.wait()
        async with doc.lock:
            current = self.editor_document(doc)
            if current is None:
                return
            wanted = self._with_unsent(doc)
            editor_prompt = prompt_of(current.source)
            wanted = document(
                conversation_text.body_of(wanted),
                editor_prompt if editor_prompt is not None else (prompt_of(wanted) or ""),
            )
            doc.text = wanted
            if current.source == wanted:
                return
            encoding = self.ls.get(BufferSync).encoding()
            edits = text_edits(current.source, wanted, encoding)
            buffers = self.ls.get(BufferSync)
            edit = document_edit(
                doc.uri, current.version, edits, document_changes=buffers.document_changes()
            )
            doc.changed.clear()
            applied = await buffers.send(edit, LABEL)
            if not applied.applied:
                log.info("The editor did not take the conversation's update: %s", applied.reason)

    # --- code actions ---------------------------------------------------------------------------

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        doc = self.doc_at(uri)
        current = self.ls.workspace.text_documents.get(uri)
        if doc is None or current is None:
            return []
        lines = current.lines
        line = params.range.start.line
        actions: list[types.CodeAction] = []
        marker = conversation_text.marker_line(current.source)
        if marker is not None and params.range.end.line >= marker:
            actions.append(command_action(conversation_text.SEND_TITLE, SEND, {"uri": uri}))
        request_id = conversation_text.request_at(lines, line)
        if request_id is not None:
            actions.extend(self.ls.get(Approvals).request_actions(request_id))
        turn = conversation_text.turn_at(lines, line)
        message_id = doc.follower.turn_message(turn) if turn is not None else None
        if message_id is not None:
            target = {"sessionID": doc.session_id, "messageID": message_id}
            actions.append(
                command_action("OpenCode: Show this turn's diff", "opencode.diff.show", target)
            )
            actions.append(
                command_action("OpenCode: Revert this turn", "opencode.session.revert", target)
            )
        return actions

    def on_exit(self) -> None:
        for doc in self.docs.values():
            if doc.pump is not None:
                doc.pump.cancel()
