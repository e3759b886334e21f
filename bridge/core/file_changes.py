"""Whole file changes: every file a patch changes, or a change given as whole contents merged
with the user's unsaved text, as texts before and after. Pure; all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from bridge.core.line_diff import merge3
from bridge.core.patch_applying import apply_file_patch
from bridge.core.patch_parsing import FilePatch
from bridge.errors import EditRefused


class FileChange(NamedTuple):
    """A file's text before and after a change; None means the file does not exist.

    ``patch`` is set when the change came from exactly one file patch, so that the edits can be
    built from its hunks (linear) rather than by diffing the two texts.
    """

    path: str
    old: str | None
    new: str | None
    patch: FilePatch | None = None


def changes_from_patch(
    patches: Sequence[FilePatch], read_text: Callable[[str], str | None]
) -> list[FileChange]:
    """Every file a parsed patch changes, with its text before and after; all or nothing.

    ``read_text(path)`` gets each path as the patch names it (resolve it with
    ``resolve_in_workspace`` first) and returns the text the patch applies to (the editor's
    buffer, else the disk), or None when the file does not exist. If any file fails, the whole
    patch is refused. Files the patch leaves unchanged are omitted.
    """
    before: dict[str, str | None] = {}
    after: dict[str, str | None] = {}
    used: dict[str, list[FilePatch]] = {}
    for patch in patches:
        path = patch.path
        if path not in before:
            before[path] = after[path] = read_text(path)
        text = after[path]
        if patch.old_path is None:
            if text:
                raise EditRefused(f"The patch creates {path}, but that file already exists.")
            text = ""
        elif text is None:
            if any(hunk.old_lines for hunk in patch.hunks):
                raise EditRefused(f"The patch changes {path}, but that file does not exist.")
            text = ""  # jsdiff's form of a new file: same name on both sides, only insertions
        if patch.new_path is None and after[path] is None:
            raise EditRefused(f"The patch deletes {path}, but that file does not exist.")
        new_text = apply_file_patch(text, patch)
        after[path] = None if patch.new_path is None else new_text
        used.setdefault(path, []).append(patch)
    changes: list[FileChange] = []
    for path, old in before.items():
        new = after[path]
        if old == new:
            continue
        single = used[path][0] if len(used[path]) == 1 and None not in (old, new) else None
        changes.append(FileChange(path, old, new, single))
    return changes


def change_from_contents(
    path: str, before: str | None, after: str | None, current: str | None
) -> FileChange:
    """A change given as whole contents (older 1.x servers' ``{file, before, after}``).

    ``before``/``after`` are the agent's versions (None: the file did not exist / was deleted);
    ``current`` is the text now (the editor's buffer, else the disk; None: absent). When the user
    changed the file since ``before``, the agent's changes are merged in with ``merge3``; if they
    overlap, refused.
    """
    if current is None:
        if before and after is not None:
            raise EditRefused(f"The agent changed {path}, but that file no longer exists.")
        return FileChange(path, None, after)
    if after is None:
        if current != (before or ""):
            raise EditRefused(
                f"The agent deleted {path}, but it has changes the agent did not see, "
                "so it was kept."
            )
        return FileChange(path, current, None)
    if current == (before or ""):
        return FileChange(path, current, after)
    merged = merge3(before or "", current, after)
    if merged is None:
        raise EditRefused(
            f"{path} has changes in the same lines the agent changed, so the agent's version was "
            "not applied."
        )
    return FileChange(path, current, merged)
