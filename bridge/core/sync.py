"""Buffer sync and session diffs, decided without an editor. Pure: data in, data out.

The LSP glue (``bridge/features/buffers.py``, ``bridge/features/diffs.py``) reads buffers and
files, asks these functions what to do, and sends the resulting edits. Everything that decides —
whether an editor gets its buffers synced, what an open buffer should become after the agent
changed its file, what a session diff means for the workspace, where the agent changed a file —
is here, so it is tested without an editor or a server.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.core.file_changes import FileChange, change_from_contents, changes_from_patch
from bridge.core.line_diff import merge3
from bridge.core.patch_applying import apply_file_patch
from bridge.core.patch_parsing import FilePatch, Hunk, parse_patch
from bridge.errors import EditRefused
from bridge.opencode.models import FileDiff, Message, MessageInfo

# --- which editors get their buffers synced ----------------------------------------------

SyncMode = Literal["all", "unsaved", "off"]
"""``all``: every open buffer follows the agent's changes. ``unsaved``: only buffers with
unsaved changes (the editor reloads the others itself). ``off``: none."""

# clientInfo names (lower case, matched as prefixes) of editors that reload a file changed on
# disk by themselves when its buffer has no unsaved changes. Their unsaved buffers still need the
# merge: they do not reload those, and saving one would overwrite the agent's change.
RELOADING_CLIENTS = (
    "visual studio code",
    "code - oss",
    "code-server",  # VS Code's workbench served to a browser (found by tests/editors)
    "vscodium",
    "cursor",
    "windsurf",
    "sublime text",
    "zed",
)
# Editors that cannot take an edit the bridge sends on its own: Kate applies workspace edits
# only within 2 s of an executeCommand, and asks the user itself when a file changes on disk.
EDITLESS_CLIENTS = ("kate",)
# Editors that apply versioned edits (documentChanges) without advertising it: Neovim 0.10/0.11
# handles them (and resource operations) but its capabilities leave documentChanges out.
UNADVERTISED_DOCUMENT_CHANGES_CLIENTS = ("neovim",)


def takes_document_changes(client_name: str, advertised: bool) -> bool:
    """Whether versioned edits can be sent: advertised, or known from ``clientInfo``."""
    return advertised or client_name.strip().lower().startswith(
        UNADVERTISED_DOCUMENT_CHANGES_CLIENTS
    )


def sync_mode(setting: str, client_name: str, document_changes: bool) -> tuple[SyncMode, str]:
    """What ``syncBuffers`` means for this editor, and why (for the log)."""
    if setting == "off":
        return "off", "syncBuffers is off"
    if setting == "on":
        return "all", "syncBuffers is on"
    name = client_name.strip().lower()
    shown = client_name or "this editor"
    if name.startswith(EDITLESS_CLIENTS):
        return "off", f"{shown} takes workspace edits only right after a command"
    if not document_changes:
        return "off", (
            f"{shown} does not take versioned edits, so an edit could land on text the user "
            "has changed since; set syncBuffers to on to sync anyway"
        )
    if name.startswith(RELOADING_CLIENTS):
        return "unsaved", f"{shown} reloads unchanged buffers itself; unsaved ones are merged"
    return "all", f"{shown} does not reload changed files by itself"


# --- what an open buffer becomes --------------------------------------------------------


@dataclass(frozen=True)
class SyncPlan:
    """What to do with one open buffer after its file may have changed on disk.

    ``current``: nothing to do (the buffer already has the disk's changes, or the disk did not
    change since the buffer last matched it). ``clean``: the buffer had no unsaved changes and
    becomes ``text`` (the disk). ``merged``: unsaved changes and the disk's changes merged into
    ``text``. ``conflict``: they overlap; the buffer is left alone. ``left``: a clean buffer left
    to an editor that reloads it itself. ``gone``: the file no longer exists on disk.
    """

    kind: Literal["current", "clean", "merged", "conflict", "left", "gone"]
    text: str | None = None


def plan_sync(base: str | None, buffer: str, disk: str | None, mode: SyncMode) -> SyncPlan:
    """``base``: the text the buffer last matched on disk (None: unknown, taken as empty);
    ``buffer``: the editor's text now; ``disk``: the file now (None: absent)."""
    if disk is None:
        return SyncPlan("gone")
    if buffer == disk:
        return SyncPlan("current")
    base_text = base if base is not None else ""
    if disk == base_text:
        return SyncPlan("current")  # only the user changed it
    if buffer == base_text:
        return SyncPlan("left") if mode == "unsaved" else SyncPlan("clean", disk)
    merged = merge3(base_text, buffer, disk)
    if merged is None:
        return SyncPlan("conflict")
    if merged == buffer:
        return SyncPlan("current")
    return SyncPlan("merged", merged)


SyncCause = Literal["change", "revert", "unrevert"]
"""Why the file changed on disk: the agent's change, a revert of it, or an unrevert."""


def merged_message(name: str, cause: SyncCause) -> str:
    """What the user is told when the disk's change went into their unsaved buffer."""
    if cause == "revert":
        return (
            f"OpenCode: the revert undid the agent's change to {name} in your unsaved buffer "
            "too; your own changes are kept (undo brings the agent's change back)."
        )
    if cause == "unrevert":
        return (
            f"OpenCode: the unrevert brought the agent's change to {name} back into your "
            "unsaved buffer too; your own changes are kept (undo takes it out)."
        )
    return (
        f"OpenCode: merged the agent's change to {name} into your unsaved buffer "
        "(undo takes it out)."
    )


def conflict_message(name: str, cause: SyncCause) -> str:
    """What the user is told when the disk's change and their unsaved one touch the same lines."""
    if cause == "revert":
        return (
            f"OpenCode: the revert of the agent's change to {name} touches lines you changed "
            "too (unsaved); your buffer was left as it is, with the agent's change still in it. "
            "Saving it will write the agent's change back; to take the reverted file, revert "
            "the buffer to the file."
        )
    if cause == "unrevert":
        return (
            f"OpenCode: the unrevert of the agent's change to {name} touches lines you changed "
            "too (unsaved); your buffer was left as it is, without the agent's change. Saving "
            "it will undo the change again; to take it, revert the buffer to the file."
        )
    return (
        f"OpenCode changed {name} on disk in the lines you changed too (unsaved); "
        "your buffer was left as it is. Saving it will overwrite the agent's "
        "change; to take the agent's version, revert the buffer to the file "
        "(opencode.diff.show shows what the agent changed)."
    )


# --- paths from the server ----------------------------------------------------------------


def map_path(path: str, path_map: Iterable[tuple[str, str]]) -> str:
    """``path`` with the longest matching server prefix replaced by its local one.

    Prefixes match whole path components (``/srv/app`` maps ``/srv/app/x`` but not
    ``/srv/apple``). Relative paths and paths no prefix matches are returned as they are.
    """
    best: tuple[str, str] | None = None
    for remote, local in path_map:
        stem = remote.rstrip("/\\")
        if not stem:
            continue
        if path == stem or path.startswith((stem + "/", stem + "\\")):
            if best is None or len(stem) > len(best[0]):
                best = (stem, local.rstrip("/\\") or local)
    if best is None:
        return path
    return best[1] + path[len(best[0]) :]


# --- session diffs ------------------------------------------------------------------------


def diff_entries(diffs: Iterable[FileDiff]) -> list[FileDiff]:
    """The files of ``GET /session/{id}/diff`` or a user message's ``summary.diffs``, checked.

    A diff naming no file, or giving neither a patch nor contents, is refused: a session diff
    the bridge cannot read is never half-applied.
    """
    entries: list[FileDiff] = []
    for index, diff in enumerate(diffs):
        if not diff.file:
            raise EditRefused(f"Entry {index + 1} of OpenCode's session diff names no file.")
        if diff.patch is None and diff.before is None and diff.after is None:
            raise EditRefused(
                f"OpenCode's session diff gives neither a patch nor contents for {diff.file}."
            )
        entries.append(diff)
    return entries


def entry_patch(entry: FileDiff) -> FilePatch | None:
    """The entry's patch as one file patch naming ``entry.file`` on the sides that exist.

    The patch's own headers are not trusted for the name (the session diff's ``file`` is what
    the bridge resolved and checked); a patch holding several files is refused.
    """
    if entry.patch is None:
        return None
    files = parse_patch(entry.patch)
    if not files:
        return FilePatch(entry.file, entry.file, ())
    if len(files) != 1:
        raise EditRefused(f"The session diff's patch for {entry.file} changes several files.")
    [parsed] = files
    old_path = None if parsed.old_path is None or entry.status == "added" else entry.file
    new_path = None if parsed.new_path is None or entry.status == "deleted" else entry.file
    return FilePatch(old_path, new_path, parsed.hunks)


@dataclass(frozen=True)
class SessionChanges:
    """What a session diff does to the workspace: ``changes`` to make, files ``already`` in
    the state the diff leads to (skipped)."""

    changes: list[FileChange]
    already: list[str]


def session_changes(
    entries: Sequence[FileDiff], read_text: Callable[[str], str | None]
) -> SessionChanges:
    """Every file change of a session diff against the texts ``read_text`` gives (the open
    buffer, else the disk; None: absent); all or nothing.

    ``entries`` name files as the caller resolved them (absolute local paths). A file that
    already has the diff's result (the server worked in this checkout) is skipped; any file the
    diff cannot be applied to refuses the whole diff, with the reason.
    """
    changes: list[FileChange] = []
    already: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.file in seen:
            raise EditRefused(f"The session diff names {entry.file} twice.")
        seen.add(entry.file)
        current = read_text(entry.file)
        patch = entry_patch(entry)
        if patch is None:
            before = None if entry.status == "added" else (entry.before or "")
            after = None if entry.status == "deleted" else (entry.after or "")
            if current == after:
                already.append(entry.file)
                continue
            changes.append(change_from_contents(entry.file, before, after, current))
            continue
        if current is not None and creates(patch, current):
            already.append(entry.file)  # created already, with this content
            continue
        try:
            found = changes_from_patch([patch], {entry.file: current}.get)
        except EditRefused:
            if current is not None and patch.new_path is not None:
                if is_applied(current, patch):
                    already.append(entry.file)
                    continue
            elif current is None and patch.new_path is None:
                already.append(entry.file)  # deleted already
                continue
            raise
        if not found:
            already.append(entry.file)
        changes.extend(found)
    return SessionChanges(changes, already)


def creates(patch: FilePatch, text: str) -> bool:
    """Whether ``patch`` only inserts lines into an empty file and ``text`` is its result."""
    if patch.new_path is None or any(hunk.old_lines for hunk in patch.hunks):
        return False
    try:
        return apply_file_patch("", patch) == text
    except EditRefused:
        return False


def reverse_patch(patch: FilePatch) -> FilePatch:
    """The patch that undoes ``patch``: hunks' sides swapped, positions in the new text."""
    hunks: list[Hunk] = []
    offset = 0
    for hunk in patch.hunks:
        hunks.append(
            Hunk(
                old_start=hunk.old_start + offset,
                old_lines=hunk.new_lines,
                new_lines=hunk.old_lines,
                changes=tuple((nf, nt, of, ot) for of, ot, nf, nt in hunk.changes),
                patch_line=hunk.patch_line,
            )
        )
        offset += len(hunk.new_lines) - len(hunk.old_lines)
    return FilePatch(patch.new_path, patch.old_path, tuple(hunks))


def is_applied(text: str, patch: FilePatch) -> bool:
    """Whether ``text`` is what ``patch`` produces: its reverse applies, it does not."""
    if not patch.hunks:
        return False
    try:
        apply_file_patch(text, patch)
    except EditRefused:
        pass
    else:
        return False
    try:
        apply_file_patch(text, reverse_patch(patch))
    except EditRefused:
        return False
    return True


def single_hunks(patch: FilePatch) -> list[FilePatch]:
    """One patch per hunk, each positioned in the text the whole patch applies to (a hunk is
    searched for around that position when earlier ones moved the text)."""
    return [dataclasses.replace(patch, hunks=(hunk,)) for hunk in patch.hunks]


def unified_diff(path: str, before: str | None, after: str | None) -> str:
    """A unified diff of whole contents, for showing older servers' ``before``/``after``."""
    old = (before or "").splitlines(keepends=True)
    new = (after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        old,
        new,
        "/dev/null" if before is None else f"a/{path}",
        "/dev/null" if after is None else f"b/{path}",
    )
    out: list[str] = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


# --- which message ------------------------------------------------------------------------


def user_messages(messages: Iterable[Message]) -> list[MessageInfo]:
    """The user messages of ``GET /session/{id}/message`` (those with an id), oldest first."""
    return [
        m.info
        for m in messages
        if m.info is not None and m.info.role == "user" and m.info.id is not None
    ]


def latest_changing_message(messages: Iterable[Message], before: str | None = None) -> str | None:
    """The last user message whose run changed files (its ``summary.diffs`` lists some), else
    the last user message; only messages before ``before`` (a reverted message) count."""
    infos = _before(user_messages(messages), before)
    for info in reversed(infos):
        if info.diffs:
            return info.id
    return infos[-1].id if infos else None


def last_user_message(messages: Iterable[Message], before: str | None = None) -> str | None:
    """The last user message (before ``before``, the message a session is reverted to)."""
    infos = _before(user_messages(messages), before)
    return infos[-1].id if infos else None


def _before(infos: list[MessageInfo], before: str | None) -> list[MessageInfo]:
    if before is None:
        return infos
    for index, info in enumerate(infos):
        if info.id == before:
            return infos[:index]
    return infos


def prompt_line(message: Message | None, limit: int = 80) -> str:
    """The first line of a message's text parts, shortened."""
    for part in message.parts if message is not None else ():
        if part.type == "text" and not part.synthetic:
            text = (part.text or "").strip()
            if text:
                line = text.splitlines()[0]
                return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""
