"""Parsed patches applied to texts: the exact new text, or minimal ``TextEdit``s built from the
hunks (no diff of the whole file). Pure: a hunk that does not match raises ``EditRefused``
before anything is produced, so nothing is ever half-applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

from lsprotocol import types as lsp

from bridge.core.patch_parsing import FilePatch, Hunk
from bridge.core.text_positions import PositionEncoding, spans_to_edits, split_lines, trim_span
from bridge.errors import EditRefused

# A hunk whose context is not at its stated line is looked for this many lines around it, as
# `patch` does (the user may have typed above it); bounded so applying stays linear.
MAX_HUNK_OFFSET = 1000
# ...but only for a hunk with this much context: a bare "-}" could match the wrong brace.
_MIN_CONTEXT_TO_SEARCH = 2


def apply_file_patch(text: str, patch: FilePatch) -> str:
    """The text after applying one file's hunks; any hunk that does not match: refused, untouched.

    Pass ``""`` for a file the patch creates. A hunk must match exactly at its stated line
    (shifted by the previous hunk's offset) or, if it has at least two context lines, within
    ``MAX_HUNK_OFFSET`` lines of it, nearest first.
    """
    out: list[str] = []
    done = 0
    for (start, end), hunk in zip(_locate_hunks(text, patch), patch.hunks, strict=True):
        out.append(text[done:start])
        out.extend(hunk.new_lines)
        done = end
    out.append(text[done:])
    return "".join(out)


def patch_text_edits(
    text: str, patch: FilePatch, encoding: PositionEncoding = "utf-16"
) -> list[lsp.TextEdit]:
    """The edits that turn ``text`` into ``apply_file_patch(text, patch)``, built from the hunks.

    Linear in the size of the text and the patch (no diff of the whole file); refused like
    ``apply_file_patch``.
    """
    spans: list[tuple[int, int, str]] = []
    for (start, _), hunk in zip(_locate_hunks(text, patch), patch.hunks, strict=True):
        offsets = list(accumulate(map(len, hunk.old_lines), initial=start))
        for old_from, old_to, new_from, new_to in hunk.changes:
            replacement = "".join(hunk.new_lines[new_from:new_to])
            spans.append(trim_span(text, offsets[old_from], offsets[old_to], replacement))
    return spans_to_edits(text, spans, encoding)


def _locate_hunks(text: str, patch: FilePatch) -> list[tuple[int, int]]:
    """The character span of each hunk's old lines in ``text``; refused when one is not found.

    The usual case, every hunk exactly where it says, is checked without splitting the text
    into lines (C-speed scans); only otherwise are lines split and searched around.
    """
    spans = _locate_exactly(text, patch)
    if spans is None:
        lines = tuple(split_lines(text))
        starts = list(accumulate(map(len, lines), initial=0))
        spans = [
            (starts[position], starts[position + len(hunk.old_lines)])
            for position, hunk in zip(_search_hunks(lines, patch), patch.hunks, strict=True)
        ]
    total_lines = text.count("\n") + (not text.endswith("\n") and bool(text))
    for number, ((start, end), hunk) in enumerate(zip(spans, patch.hunks, strict=True), 1):
        if hunk.new_lines and not hunk.new_lines[-1].endswith("\n") and end != len(text):
            raise EditRefused(
                f"The patch for {patch.path} does not apply: hunk {number} ends the file without "
                "a newline but is not at the end of the file."
            )
        if not hunk.old_lines and hunk.new_lines and start == len(text) and text:
            if not text.endswith("\n"):
                raise EditRefused(
                    f"The patch for {patch.path} does not apply: hunk {number} adds lines after "
                    "the last line, which has no newline."
                )
    if patch.new_path is None and (
        any(hunk.new_lines for hunk in patch.hunks)
        or sum(len(hunk.old_lines) for hunk in patch.hunks) != total_lines
    ):
        raise EditRefused(
            f"The patch deletes {patch.path}, but the file has lines the patch does not remove."
        )
    return spans


def _locate_exactly(text: str, patch: FilePatch) -> list[tuple[int, int]] | None:
    """The hunks' spans if every hunk matches at its stated line, else None."""
    spans: list[tuple[int, int]] = []
    average = len(text) / (text.count("\n") + 1)  # to jump over lines: see _skip_lines
    line = offset = 0  # ``offset`` is where line ``line`` starts
    for hunk in patch.hunks:
        start = _skip_lines(text, offset, hunk.old_start - line, average)
        if start is None:
            return None
        old = "".join(hunk.old_lines)
        end = start + len(old)
        if not text.startswith(old, start) or (old and old[-1] != "\n" and end != len(text)):
            return None
        spans.append((start, end))
        line, offset = hunk.old_start + len(hunk.old_lines), end
    return spans


def _skip_lines(text: str, offset: int, count: int, average: float) -> int | None:
    """Where the line ``count`` lines after the one starting at ``offset`` starts; None: past end.

    Jumps over chunks holding fewer newlines than needed, counting them with ``str.count``, so
    the cost is a few C scans per hunk rather than Python work per line.
    """
    if count < 0:
        return None
    span = int(count * average * 0.8) + 1
    while count > 4:
        stop = min(offset + span, len(text))
        crossed = text.count("\n", offset, stop)
        if crossed < count:
            if stop == len(text):
                return None
            offset, count = stop, count - crossed
            span = int(count * average * 0.8) + 1
        else:
            span //= 2
    for _ in range(count):
        found = text.find("\n", offset)
        if found < 0:
            return None
        offset = found + 1
    return offset


def _search_hunks(lines: Sequence[str], patch: FilePatch) -> list[int]:
    """The line where each hunk's old lines are, searching around its stated line if needed."""
    positions: list[int] = []
    offset = 0
    floor = 0
    for number, hunk in enumerate(patch.hunks, 1):
        wanted = hunk.old_start + offset
        changed = sum(old_to - old_from for old_from, old_to, _, _ in hunk.changes)
        search = len(hunk.old_lines) - changed >= _MIN_CONTEXT_TO_SEARCH
        position = _find_hunk(lines, hunk.old_lines, wanted, floor, search)
        if position is None:
            raise EditRefused(_mismatch(lines, patch, number, hunk, wanted))
        positions.append(position)
        offset = position - hunk.old_start
        floor = position + len(hunk.old_lines)
    return positions


def _find_hunk(
    lines: Sequence[str], old: tuple[str, ...], wanted: int, floor: int, search: bool
) -> int | None:
    """The position nearest ``wanted`` (not before ``floor``) where ``old`` is; None if none."""
    size = len(old)
    last = len(lines) - size
    if size == 0:  # nothing to check an offset against: only the stated position
        return wanted if floor <= wanted <= len(lines) else None
    if floor <= wanted <= last and lines[wanted : wanted + size] == old:
        return wanted
    if not search:
        return None
    first = old[0]
    for delta in range(1, MAX_HUNK_OFFSET + 1):
        below, above = wanted + delta, wanted - delta
        if below > last and above < floor:
            break
        for position in (below, above):
            if (
                floor <= position <= last
                and lines[position] == first
                and lines[position : position + size] == old
            ):
                return position
    return None


def _mismatch(lines: Sequence[str], patch: FilePatch, number: int, hunk: Hunk, wanted: int) -> str:
    """The sentence saying where a hunk stopped matching the text."""
    prefix = f"The patch for {patch.path} does not apply: hunk {number}"
    for k, expected in enumerate(hunk.old_lines):
        at = wanted + k
        if at >= len(lines):
            return (
                f"{prefix} expects line {at + 1} to be {_show(expected)}, but the file has only "
                f"{len(lines)} lines."
            )
        found = lines[at]
        if found != expected:
            if found.rstrip("\r\n") == expected.rstrip("\r\n"):
                return (
                    f"{prefix} expects line {at + 1} to end with {_ending(expected)}, "
                    f"but it ends with {_ending(found)}."
                )
            return (
                f"{prefix} expects line {at + 1} to be {_show(expected)}, but it is {_show(found)}."
            )
    return f"{prefix} (line {hunk.patch_line} of the patch) is beyond the end of the file."


def _ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "CRLF"
    return "LF" if line.endswith("\n") else "no newline"


def _show(line: str) -> str:
    body = line.rstrip("\r\n")
    return repr(body if len(body) <= 60 else body[:57] + "...")
