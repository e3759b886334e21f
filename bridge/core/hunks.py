"""Review mode, decided without an editor: an edit the agent asks permission for, split into
hunks the user accepts or refuses one by one. Pure: data in, data out.

The permission request's ``metadata.diff`` is for display only (OpenCode strips common
indentation, turns CRLF into LF and drops a BOM), so the proposed text is rebuilt from the tool
call's input the way OpenCode's ``edit`` and ``write`` tools apply it; when that cannot be done
exactly, review is refused and the normal permission prompt stays.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types as lsp

from bridge.core.line_diff import text_edits
from bridge.core.text_positions import PositionEncoding, split_lines
from bridge.errors import EditRefused

MAX_HUNK_PREVIEW = 6  # changed lines shown per side in a prompt
MAX_LINE_PREVIEW = 100


def proposed_text(tool: str, tool_input: Mapping[str, Any], current: str | None, name: str) -> str:
    """The file's text if the agent's ``edit``/``write`` call ran on ``current`` (None: absent).

    ``edit`` with an exact match only (once, or everywhere with ``replaceAll``); OpenCode also
    matches loosely (trimmed lines, other indentation), which the bridge does not imitate: such
    an edit is refused here, with the reason, and can still be allowed or rejected whole.
    """
    if tool == "write":
        content = tool_input.get("content")
        if not isinstance(content, str):
            raise EditRefused(f"The agent's write to {name} carries no content to review.")
        return content
    if tool != "edit":
        raise EditRefused(
            f"Only edit and write requests can be reviewed hunk by hunk; this one is {tool}."
        )
    old, new = tool_input.get("oldString"), tool_input.get("newString")
    if not isinstance(old, str) or not isinstance(new, str):
        raise EditRefused(f"The agent's edit of {name} carries no oldString/newString.")
    if old == "":
        return new  # OpenCode writes newString as the whole file
    if current is None:
        raise EditRefused(f"The agent wants to edit {name}, which does not exist.")
    if "\r\n" in current:  # OpenCode edits a CRLF file with CRLF strings
        old, new = _crlf(old), _crlf(new)
    count = current.count(old)
    if count == 0:
        raise EditRefused(
            f"The text the agent replaces in {name} is not in the file exactly (OpenCode may "
            "match it loosely), so the edit cannot be reviewed hunk by hunk."
        )
    if tool_input.get("replaceAll") is True:
        return current.replace(old, new)
    if count > 1:
        raise EditRefused(
            f"The text the agent replaces in {name} occurs {count} times, so OpenCode will "
            "refuse this edit; there is nothing to review."
        )
    return current.replace(old, new, 1)


def edit_diff(name: str, before: str, after: str) -> str:
    """The unified diff of an edit, in the form OpenCode's own requests carry (a V2 request
    carries none: it is built from the tool call's input)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), name, name
    )
    return f"Index: {name}\n{'=' * 67}\n" + "".join(
        line if line.endswith("\n") else line + "\n" for line in lines
    )


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


@dataclass(frozen=True)
class ReviewHunk:
    """One run of changed lines: ``before[start:end]`` becomes ``new_text``.

    ``first_line``/``last_line`` are 1-based lines of the old text (for an insertion,
    ``last_line`` is ``first_line - 1``: the lines go after line ``last_line``).
    """

    start: int
    end: int
    old_text: str
    new_text: str
    first_line: int
    last_line: int

    @property
    def where(self) -> str:
        if self.last_line < self.first_line:
            return f"after line {self.last_line}" if self.last_line else "at the top"
        if self.first_line == self.last_line:
            return f"line {self.first_line}"
        return f"lines {self.first_line}-{self.last_line}"


def review_hunks(before: str, after: str) -> list[ReviewHunk]:
    """The changed line runs of ``before`` → ``after``, separated by unchanged lines."""
    a, b = split_lines(before), split_lines(after)
    a_starts = _offsets(a)
    b_starts = _offsets(b)
    hunks: list[ReviewHunk] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if hunks and hunks[-1].end == a_starts[i1]:  # touching runs: one hunk
            last = hunks.pop()
            hunks.append(
                ReviewHunk(
                    last.start,
                    a_starts[i2],
                    before[last.start : a_starts[i2]],
                    last.new_text + after[b_starts[j1] : b_starts[j2]],
                    last.first_line,
                    i2,
                )
            )
            continue
        hunks.append(
            ReviewHunk(
                a_starts[i1],
                a_starts[i2],
                before[a_starts[i1] : a_starts[i2]],
                after[b_starts[j1] : b_starts[j2]],
                i1 + 1,
                i2,
            )
        )
    return hunks


def _offsets(lines: Sequence[str]) -> list[int]:
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    return offsets


def apply_hunks(before: str, hunks: Sequence[ReviewHunk], accepted: Sequence[bool]) -> str:
    """``before`` with the accepted hunks applied."""
    out: list[str] = []
    done = 0
    for hunk, take in zip(hunks, accepted, strict=True):
        out.append(before[done : hunk.start])
        out.append(hunk.new_text if take else hunk.old_text)
        done = hunk.end
    out.append(before[done:])
    return "".join(out)


def hunk_edits(
    before: str, hunks: Sequence[ReviewHunk], encoding: PositionEncoding = "utf-16"
) -> list[list[lsp.TextEdit]]:
    """For each hunk, the edits (against ``before``) that apply it alone."""
    result: list[list[lsp.TextEdit]] = []
    for index in range(len(hunks)):
        only = [i == index for i in range(len(hunks))]
        result.append(text_edits(before, apply_hunks(before, hunks, only), encoding))
    return result


def accepted_hunks(before: str, hunks: Sequence[ReviewHunk], now: str) -> tuple[bool, ...] | None:
    """Which hunks ``now`` has: the one choice per hunk that turns ``before`` into ``now``,
    or None when no choice does (the text was changed otherwise meanwhile)."""

    def walk(index: int, done: int, at: int) -> tuple[bool, ...] | None:
        if index == len(hunks):
            return () if now[at:] == before[done:] else None
        hunk = hunks[index]
        unchanged = before[done : hunk.start]
        if not now.startswith(unchanged, at):
            return None
        at += len(unchanged)
        for take, text in ((True, hunk.new_text), (False, hunk.old_text)):
            if now.startswith(text, at):
                rest = walk(index + 1, hunk.end, at + len(text))
                if rest is not None:
                    return (take, *rest)
        return None

    return walk(0, 0, 0)


def hunk_preview(hunk: ReviewHunk) -> str:
    """A few ``-``/``+`` lines of the hunk, for a prompt."""
    out: list[str] = []
    for sign, text in (("-", hunk.old_text), ("+", hunk.new_text)):
        lines = text.splitlines()
        for line in lines[:MAX_HUNK_PREVIEW]:
            shown = line if len(line) <= MAX_LINE_PREVIEW else line[: MAX_LINE_PREVIEW - 1] + "…"
            out.append(f"{sign} {shown}")
        if len(lines) > MAX_HUNK_PREVIEW:
            out.append(f"{sign} … ({len(lines) - MAX_HUNK_PREVIEW} more lines)")
    return "\n".join(out)


def review_message(name: str, hunks: Sequence[ReviewHunk], accepted: Sequence[bool]) -> str:
    """What the agent is told when the user accepted only some hunks, or none."""
    numbered = list(enumerate(zip(hunks, accepted, strict=True), 1))
    taken = [f"hunk {i} ({hunk.where})" for i, (hunk, take) in numbered if take]
    refused = [f"hunk {i} ({hunk.where})" for i, (hunk, take) in numbered if not take]
    lines = [f"The user reviewed your edit of {name} hunk by hunk in their editor."]
    if not taken:
        lines.append(f"They refused all of it ({', '.join(refused)}); the file is unchanged.")
    else:
        lines.append(f"Applied by the user (the file on disk has them now): {', '.join(taken)}.")
        lines.append(f"Refused (not applied): {', '.join(refused)}.")
        lines.append(
            "Read the file again before changing it further; do not redo the refused hunks "
            "unless the user asks."
        )
    return "\n".join(lines)
