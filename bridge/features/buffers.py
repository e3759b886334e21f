"""Buffer sync: the agent's changes reach the open buffers as versioned, undoable edits, and
never overwrite what the user typed.

For every open document the bridge remembers its *base*: the text last known to match the file
on disk (read at didOpen, the buffer's text at didSave, the disk's text once an edit of ours has
reached the buffer). When OpenCode says the agent changed a file (``file.edited``, a ``patch``
part's files, the user message's ``summary.diffs``, a revert), each open buffer of those files is
compared with the disk (``bridge.core.sync.plan_sync``): a clean buffer is brought to the
disk's text, unsaved changes are merged three ways (base, buffer, disk) and applied only when
the merge is clean, and a conflict leaves the buffer alone and tells the user. Before each such edit
the ``opencode/willSync`` notification names the file text it accounts for, so an editor can count
the file as read (Neovim's config does; others ignore it). Edits are versioned
``documentChanges``; one the editor refuses for a stale version is rebuilt against the new text
and sent again, a bounded number of times. Every path from the server is checked with
``resolve_in_workspace`` before anything is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from bridge.core.patch_applying import patch_text_edits
from bridge.core.patch_parsing import FilePatch
from bridge.core.paths import display_path, resolve_in_workspace
from bridge.core.sync import (
    SyncCause,
    SyncMode,
    conflict_message,
    diff_entries,
    entry_patch,
    map_path,
    merged_message,
    plan_sync,
    reverse_patch,
    single_hunks,
    sync_mode,
    takes_document_changes,
)
from bridge.core.text_positions import PositionEncoding
from bridge.core.workspace_edits import DocumentChange, build_workspace_edit, document_edit
from bridge.errors import BridgeError, EditRefused, PathOutsideWorkspace
from bridge.feature import ASK_KIND, Feature, command_action
from bridge.folders import Folder
from bridge.opencode.events import (
    Connected,
    Event,
    FileEdited,
    MessageUpdated,
    PartUpdated,
    SessionDiff,
    SessionUpdated,
)
from bridge.opencode.models import FileDiff, MessageInfo, PathInfo, SessionInfo
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import Unreadable, read_text

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # an edit refused for a stale version is rebuilt and sent this many times
STALE_WAIT = 1.0  # seconds to wait for the editor's didChange after a refusal
REVERT_KIND = f"{ASK_KIND}.revert"
# Sent before each edit that brings a buffer up to date with its file: {uri, sha256 of the
# file's text the edit accounts for, merged: the buffer's unsaved changes are kept}.
WILL_SYNC_METHOD = "opencode/willSync"
MAX_RECORDED = 500  # files whose latest agent change is kept for the revert code action
READ_AT_ONCE = 1_000_000  # bytes: an opened file up to this size is read in the didOpen handler


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- state --------------------------------------------------------------------------------


@dataclass(eq=False)
class Tracked:
    """What the bridge knows about one open document."""

    uri: str
    base: str | None = None  # the text last known to match the file on disk
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # base has been read
    pending: tuple[str, str] | None = None  # (text our edit leads to, the disk's text then)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set on every didChange
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    told: set[str] = field(default_factory=set)  # messages given about this buffer


@dataclass(frozen=True)
class AgentChange:
    """The latest change the agent made to a file, from a user message's ``summary.diffs``."""

    session_id: str
    message_id: str
    patch: FilePatch


@dataclass(frozen=True)
class Applied:
    applied: bool
    reason: str | None = None


class BufferSync(Feature):
    """Open documents' bases, and the edits that bring them up to date."""

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        self.docs: dict[str, Tracked] = {}  # unquoted URI (pygls's key) -> state
        self.reverts: dict[str, str | None] = {}  # sessionID -> message it is reverted to
        self.agent_changes: dict[str, AgentChange] = {}  # normalised path -> latest change
        self.worktrees: dict[str, str] = {}  # folder root -> the server's worktree for it
        self.told: set[str] = set()
        self.logged_mode = False
        # Work from events runs in order, one item at a time: a change is never applied before
        # an earlier one, and the same file is looked at once per signal.
        self.queue: asyncio.Queue[tuple[Callable[[], Awaitable[None]], str]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    # --- what the editor supports ----------------------------------------------------------

    def _workspace_edit_caps(self) -> types.WorkspaceEditClientCapabilities | None:
        workspace = self.ls.client_capabilities.workspace
        return workspace.workspace_edit if workspace else None

    def can_apply(self) -> bool:
        workspace = self.ls.client_capabilities.workspace
        return bool(workspace and workspace.apply_edit)

    def document_changes(self) -> bool:
        caps = self._workspace_edit_caps()
        return takes_document_changes(self.ls.client_name, bool(caps and caps.document_changes))

    def resource_operations(self) -> set[str]:
        caps = self._workspace_edit_caps()
        if not caps or not self.document_changes() or not caps.resource_operations:
            return set()
        return {str(getattr(kind, "value", kind)) for kind in caps.resource_operations}

    def change_annotations(self) -> bool:
        caps = self._workspace_edit_caps()
        return bool(caps and caps.change_annotation_support is not None)

    def encoding(self) -> PositionEncoding:
        encoding = self.ls.workspace.position_encoding
        if encoding is None:
            return "utf-16"
        value = str(getattr(encoding, "value", encoding))
        return value if value in ("utf-8", "utf-32") else "utf-16"  # type: ignore[return-value]

    def mode(self) -> SyncMode:
        """What syncBuffers means for this editor (see ``bridge.core.sync.sync_mode``)."""
        if not self.can_apply():
            return "off"
        mode, why = sync_mode(
            self.ls.settings.sync_buffers, self.ls.client_name, self.document_changes()
        )
        if not self.logged_mode:
            self.logged_mode = True
            log.info("Buffer sync: %s (%s)", mode, why)
        return mode

    def command_mode(self) -> SyncMode:
        """Commands the user runs (revert, unrevert) resync every open buffer, unless the
        user turned syncing off."""
        if not self.can_apply() or self.ls.settings.sync_buffers == "off":
            return "off"
        return "all"

    # --- documents ----------------------------------------------------------------------------

    def on_document(self, method: str, params: Any) -> None:
        uri = params.text_document.uri
        key = unquote(uri)
        if method == types.TEXT_DOCUMENT_DID_OPEN:
            if not uri.startswith("file:"):
                return
            tracked = Tracked(uri)
            self.docs[key] = tracked
            if not self._read_base_now(tracked):  # a large file: read in the background
                self.ls.background(self._read_base(key, tracked), "reading an opened file")
        elif method == types.TEXT_DOCUMENT_DID_CHANGE:
            tracked_or_none = self.docs.get(key)
            if tracked_or_none is not None:
                tracked_or_none.changed.set()
                self.promote(tracked_or_none)
        elif method == types.TEXT_DOCUMENT_DID_SAVE:
            tracked_or_none = self.docs.get(key)
            document = self.ls.workspace.text_documents.get(key)
            if tracked_or_none is not None and document is not None:
                tracked_or_none.base = document.source  # what was just written
                tracked_or_none.pending = None
                tracked_or_none.told.clear()
        elif method == types.TEXT_DOCUMENT_DID_CLOSE:
            self.docs.pop(key, None)

    def _read_base_now(self, tracked: Tracked) -> bool:
        """Read the base of a small file at once: the disk's text as close as possible to the
        moment the editor read it (a change the agent makes right after is then seen as one).
        False when the file is large, to be read in the background."""
        path = to_fs_path(tracked.uri)
        try:
            if path and os.path.getsize(path) > READ_AT_ONCE:
                return False
        except OSError:
            pass  # absent or unreadable: said below
        try:
            if path:
                resolve_in_workspace(path, self.roots())
                tracked.base = read_text(path)
        except EditRefused as error:  # PathOutsideWorkspace too
            log.info("No base for %s: %s", tracked.uri, error)
        tracked.ready.set()
        return True

    async def _read_base(self, key: str, tracked: Tracked) -> None:
        """Only files inside the workspace are read: the agent's changes are only there."""
        try:
            path = to_fs_path(tracked.uri)
            if path:
                await asyncio.to_thread(resolve_in_workspace, path, self.roots())
                tracked.base = await asyncio.to_thread(read_text, path)
        except EditRefused as error:  # PathOutsideWorkspace too
            log.info("No base for %s: %s", tracked.uri, error)
        finally:
            tracked.ready.set()

    def promote(self, tracked: Tracked) -> None:
        """Our edit reached the buffer: the disk's text it came from is the base now."""
        if tracked.pending is None:
            return
        document = self.ls.workspace.text_documents.get(unquote(tracked.uri))
        if document is not None and document.source == tracked.pending[0]:
            tracked.base = tracked.pending[1]
            tracked.pending = None

    def open_document(self, path: str) -> Any:
        """The open document of ``path`` (a resolved local path), or None."""
        for document in list(self.ls.workspace.text_documents.values()):
            if unquote(document.uri) in self.docs and to_fs_path(document.uri) == path:
                return document
        return None

    # --- paths from the server ------------------------------------------------------------------

    def roots(self) -> list[Path]:
        roots = [folder.root for folder in self.ls.folders.values()] or self.ls.folder_roots()
        return [Path(root) for root in roots]

    def relative_base(self, folder: Folder) -> str:
        """Where the server's relative paths start: its worktree for this folder, mapped."""
        worktree = self.worktrees.get(folder.root)
        if worktree:
            return map_path(worktree, self.ls.settings.path_map)
        return folder.root

    def resolve(self, folder: Folder, path: str) -> str:
        """A path the server sent, mapped and checked to be inside the workspace (blocking:
        it looks at the disk for symlinks)."""
        mapped = map_path(path, self.ls.settings.path_map)
        base = Path(self.relative_base(folder))
        return str(resolve_in_workspace(mapped, self.roots(), base))

    def refuse_outside(self, path: str, error: PathOutsideWorkspace) -> None:
        log.warning("Refused a path from OpenCode: %s", error)
        self.tell_once(
            types.MessageType.Warning,
            f"OpenCode reported a change to {path}, which is outside the workspace; the bridge "
            "did not read or change it.",
        )

    def tell_once(self, kind: types.MessageType, message: str) -> None:
        if message not in self.told:
            self.told.add(message)
            self.ls.tell(kind, message)

    def connected(self, folder: Folder, path: PathInfo | None) -> None:
        """Learn the server's worktree for the folder (relative paths start there)."""
        if path is None:  # not fetched (logged): relative paths start at the folder
            return
        if path.worktree not in (None, "", "/"):
            self.worktrees[folder.root] = str(path.worktree)
        elif path.directory:
            self.worktrees[folder.root] = path.directory

    # --- events -------------------------------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        match event:
            case FileEdited(path) if path:
                self.files_changed(folder, [path])
            case PartUpdated(part=part) if part.type == "patch":
                self.files_changed(folder, part.files)
            case MessageUpdated(info=info) if info.role == "user" and info.diffs:
                self.message_changed(folder, info)
            case SessionUpdated(info):
                self.session_updated(folder, info)
            case SessionDiff(diff) if diff:  # not [] only after a revert
                self.resync(folder, self.mode(), "revert")
            case Connected(path=path):
                self.connected(folder, path)

    def enqueue(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        self.queue.put_nowait((work, what))
        if self.worker is None or self.worker.done():
            self.worker = self.ls.background(self.run_queue(), "updating open buffers")

    async def run_queue(self) -> None:
        while True:
            work, what = await self.queue.get()
            try:
                await work()
            except BridgeError as error:
                self.ls.tell(types.MessageType.Error, str(error))
            except Exception:  # one file's failure must not stop the others
                log.exception("%s failed", what)
                self.ls.tell(types.MessageType.Error, f"OpenCode: {what} failed; see the log.")

    def files_changed(self, folder: Folder, paths: Iterable[str]) -> None:
        mode = self.mode()
        if mode == "off" or not self.docs:
            return
        wanted = list(paths)
        self.enqueue(lambda: self._sync_paths(folder, wanted, mode), "updating open buffers")

    async def _sync_paths(self, folder: Folder, paths: list[str], mode: SyncMode) -> None:
        for path in paths:
            try:
                local = await asyncio.to_thread(self.resolve, folder, path)
            except PathOutsideWorkspace as error:
                self.refuse_outside(path, error)
                continue
            document = self.open_document(local)
            if document is not None:
                await self.sync(unquote(document.uri), mode, folder)

    def message_changed(self, folder: Folder, info: MessageInfo) -> None:
        """Remember where the agent changed each file (for the revert code action) and bring
        the open buffers of those files up to date."""
        try:
            entries = diff_entries(info.diffs)
        except EditRefused as error:
            log.warning("Ignored a malformed summary.diffs: %s", error)
            return
        session_id, message_id = info.session_id or "", str(info.id)
        self.enqueue(
            lambda: self._record(folder, session_id, message_id, entries),
            "remembering the agent's changes",
        )
        self.files_changed(folder, [entry.file for entry in entries])

    async def _record(
        self, folder: Folder, session_id: str, message_id: str, entries: list[FileDiff]
    ) -> None:
        for entry in entries:
            if entry.patch is None:
                continue
            try:
                local = await asyncio.to_thread(self.resolve, folder, entry.file)
                patch = entry_patch(entry)
            except EditRefused as error:  # outside the workspace (told by the sync), or malformed
                log.info("No revert action for %s: %s", entry.file, error)
                continue
            if patch is not None and patch.hunks:
                self.agent_changes.pop(local, None)
                self.agent_changes[local] = AgentChange(session_id, message_id, patch)
        while len(self.agent_changes) > MAX_RECORDED:
            self.agent_changes.pop(next(iter(self.agent_changes)))

    def session_updated(self, folder: Folder, info: SessionInfo) -> None:
        """A revert or unrevert (from this editor, the TUI or anywhere) changes files without
        ``file.edited``: when the session's revert point moves, resync the open buffers."""
        point = info.revert_message_id
        session_id = info.id
        known = session_id in self.reverts
        before = self.reverts.get(session_id)
        self.reverts[session_id] = point
        if (known and before != self.reverts[session_id]) or (not known and point):
            # a point set (or moved) is a revert; a point cleared, an unrevert
            self.resync(folder, self.mode(), "revert" if point else "unrevert")

    def resync(self, folder: Folder, mode: SyncMode, cause: SyncCause) -> None:
        if mode == "off" or not self.docs:
            return
        what = f"updating open buffers after the {cause}"
        self.enqueue(lambda: self.resync_folder(folder, mode, cause), what)

    async def resync_folder(
        self, folder: Folder, mode: SyncMode, cause: SyncCause = "change"
    ) -> None:
        """Bring every open buffer of the workspace up to date with the disk."""
        if mode == "off":
            return
        for key, tracked in list(self.docs.items()):
            path = to_fs_path(tracked.uri)
            if not path:
                continue
            try:
                await asyncio.to_thread(resolve_in_workspace, path, self.roots())
            except PathOutsideWorkspace:
                continue  # a file outside the workspace is not the agent's
            await self.sync(key, mode, folder, cause)

    # --- one buffer -----------------------------------------------------------------------------

    async def sync(
        self,
        key: str,
        mode: SyncMode,
        folder: Folder | None = None,
        cause: SyncCause = "change",
    ) -> None:
        """Bring one open buffer up to date with its file, as ``plan_sync`` says; ``cause``
        is why the file changed, which the messages name."""
        tracked = self.docs.get(key)
        if tracked is None:
            return
        async with tracked.lock:
            await tracked.ready.wait()
            for _ in range(MAX_ATTEMPTS):
                document = self.ls.workspace.text_documents.get(key)
                path = to_fs_path(tracked.uri)
                if document is None or self.docs.get(key) is not tracked or not path:
                    return
                try:
                    disk = await asyncio.to_thread(read_text, path)
                except Unreadable as error:
                    log.info("Not syncing %s: %s", tracked.uri, error)
                    return
                self.promote(tracked)
                buffer, version = document.source, document.version
                plan = plan_sync(tracked.base, buffer, disk, mode)
                known = folder or self.folder_of(path)
                name = display_path(path, known.root if known else None)
                if plan.kind == "current":
                    if buffer == disk:
                        tracked.base, tracked.pending = disk, None
                    return
                if plan.kind == "left":
                    return
                if plan.kind == "gone":
                    if tracked.base is not None:
                        self.tell_about(
                            tracked,
                            types.MessageType.Warning,
                            f"OpenCode: {name} was deleted on disk; your buffer still holds it "
                            "(saving it writes the file again).",
                        )
                    return
                if plan.kind == "conflict":
                    self.tell_about(
                        tracked,
                        types.MessageType.Warning,
                        conflict_message(name, cause),
                        key=f"conflict:{_digest(disk or '')}",  # once per agent version
                    )
                    return
                assert plan.text is not None and disk is not None
                tracked.changed.clear()
                self.will_sync(tracked.uri, disk, merged=plan.kind == "merged")
                result = await self.apply(
                    [DocumentChange(tracked.uri, buffer, plan.text, version)],
                    f"OpenCode: {name}",
                )
                if result.applied:
                    tracked.pending = (plan.text, disk)
                    self.promote(tracked)
                    if plan.kind == "merged":
                        self.ls.tell(types.MessageType.Info, merged_message(name, cause))
                    return
                if not await self.became_stale(tracked, key, version, buffer):
                    reason = f" ({result.reason})" if result.reason else ""
                    self.tell_about(
                        tracked,
                        types.MessageType.Warning,
                        f"OpenCode: the editor did not take the agent's change to {name}{reason}; "
                        "the file on disk has it, your buffer does not.",
                        key=f"refused:{_digest(disk)}",
                    )
                    return
                log.info("The edit of %s was stale; rebuilding it", tracked.uri)
            self.tell_about(
                tracked,
                types.MessageType.Warning,
                f"OpenCode: {name} kept changing while the agent's change was brought in; the "
                "file on disk has the change, your buffer does not.",
            )

    async def became_stale(self, tracked: Tracked, key: str, version: int, buffer: str) -> bool:
        """After a refusal: did the buffer change under the edit (then it is rebuilt)?"""
        document = self.ls.workspace.text_documents.get(key)
        if document is None:
            return False
        if document.version != version or document.source != buffer:
            return True
        try:  # an editor that sends didChange late (debounced) gets a moment
            await asyncio.wait_for(tracked.changed.wait(), STALE_WAIT)
        except asyncio.TimeoutError:
            return False
        return True

    def will_sync(self, uri: str, disk: str, *, merged: bool) -> None:
        """Say which text of the file the next edit of ``uri`` accounts for, so an editor can
        count the file as read once the edit is in (Neovim: no W12, no warning on :w)."""
        self.ls.protocol.notify(
            WILL_SYNC_METHOD,
            {
                "uri": uri,
                "sha256": hashlib.sha256(disk.encode("utf-8", "surrogatepass")).hexdigest(),
                "merged": merged,
            },
        )

    def tell_about(
        self, tracked: Tracked, kind: types.MessageType, message: str, key: str | None = None
    ) -> None:
        """Say it once for this buffer (until it is saved or closed)."""
        key = key or message
        if key in tracked.told:
            return
        tracked.told.add(key)
        self.ls.tell(kind, message)

    def folder_of(self, path: str) -> Folder | None:
        return self.ls.folder_for(path) if self.ls.folders else None

    # --- sending edits --------------------------------------------------------------------------

    async def apply(self, changes: list[DocumentChange], label: str) -> Applied:
        """One ``workspace/applyEdit`` of ``changes``, shaped by what the editor supports."""
        try:
            edit = build_workspace_edit(
                changes,
                document_changes=self.document_changes(),
                resource_operations=self.resource_operations(),
                encoding=self.encoding(),
            )
        except EditRefused as error:
            return Applied(False, str(error))
        return await self.send(edit, label)

    async def send(self, edit: types.WorkspaceEdit, label: str) -> Applied:
        try:
            result = await self.ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=label)
            )
        except Exception as error:  # an error answer (MethodNotFound, a crash in the editor)
            log.info("workspace/applyEdit failed: %s", error)
            return Applied(False, str(error) or type(error).__name__)
        if result is None:
            return Applied(False, "no answer")
        return Applied(bool(result.applied), result.failure_reason)

    # --- the revert code action -----------------------------------------------------------------

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        """On a region the agent changed (its latest message's diff): undo that hunk in the
        buffer, or revert the whole message with OpenCode."""
        uri = params.text_document.uri
        path = to_fs_path(uri)
        document = self.ls.workspace.text_documents.get(unquote(uri))
        if not path or document is None or not self.agent_changes:
            return []
        change = self.agent_changes.get(path)
        if change is None:
            return []
        text = document.source
        wanted = params.range
        actions: list[types.CodeAction] = []
        for hunk in single_hunks(reverse_patch(change.patch)):
            try:
                edits = patch_text_edits(text, hunk, self.encoding())
            except EditRefused:
                continue  # not in the buffer as the agent left it
            if not edits:
                continue
            first, last = edits[0].range.start.line, edits[-1].range.end.line
            if last < wanted.start.line or first > wanted.end.line:
                continue
            where = f"line {first + 1}" if first == last else f"lines {first + 1}-{last + 1}"
            edit = document_edit(
                uri, document.version, edits, document_changes=self.document_changes()
            )
            actions.append(
                types.CodeAction(
                    title=f"OpenCode: Undo the agent's change here ({where})",
                    kind=REVERT_KIND,
                    edit=edit,
                )
            )
        if actions:
            title = "OpenCode: Revert the agent's changes from this message on (all files)"
            args = {"sessionID": change.session_id, "messageID": change.message_id}
            revert = command_action(title, "opencode.session.revert", args, REVERT_KIND)
            actions.append(revert)
        return actions


def uri_of(path: str) -> str:
    return from_fs_path(path) or Path(path).as_uri()
