"""Unified patches and whole contents -> exact new texts, minimal LSP edits, workspace edits.

OpenCode describes a file change as a unified patch (jsdiff's ``Index:``/``====`` form, or git's
``a/``/``b/`` form) or, on older 1.x servers, as whole ``before``/``after`` contents. This module
turns either into the new text, minimal ``TextEdit``s in the negotiated position encoding and a
``WorkspaceEdit``; it keeps paths inside the workspace and merges the agent's version with unsaved
editor changes. It is pure (data in, data out): a change that cannot be applied exactly raises
``EditRefused`` before anything is produced, so nothing is ever half-applied.

Lines here are split on ``"\\n"`` only and keep their endings (``"\\r\\n"`` stays in the line), as
in unified diffs; LSP positions, which also break lines on a lone ``"\\r"``, are computed from
character offsets at the end.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress
from operator import itemgetter
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlparse
from urllib.request import url2pathname

from lsprotocol import types as lsp

from bridge.errors import EditRefused, PathOutsideWorkspace

PositionEncoding = lsp.PositionEncodingKind | Literal["utf-8", "utf-16", "utf-32"]

# A hunk whose context is not at its stated line is looked for this many lines around it, as
# `patch` does (the user may have typed above it); bounded so applying stays linear.
MAX_HUNK_OFFSET = 1000
# ...but only for a hunk with this much context: a bare "-}" could match the wrong brace.
_MIN_CONTEXT_TO_SEARCH = 2

# difflib is used on at most this many line pairs; larger diffs are cut at unique lines first,
# at most this many times deep.
_DIFFLIB_AREA = 4_000_000
_ANCHOR_DEPTH = 8

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
# Where str.splitlines() also breaks lines, unlike unified diffs and LSP.
_OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


# --- parsed patches -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hunk:
    """One ``@@`` hunk; lines keep their endings, and a line without one ends its file.

    ``old_start`` is the 0-based index of the first old line (the insertion point when the old
    side is empty). ``changes`` are the runs of ``-``/``+`` lines between context lines, as
    ``(old_from, old_to, new_from, new_to)`` indexes into ``old_lines``/``new_lines``: edits are
    built from them directly, without diffing the whole file again.
    """

    old_start: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    changes: tuple[tuple[int, int, int, int], ...]
    patch_line: int  # 1-based line of the ``@@`` header in the patch text, for messages


@dataclass(frozen=True, slots=True)
class FilePatch:
    """The hunks for one file. ``old_path`` None: the file is created; ``new_path`` None: deleted.

    jsdiff (OpenCode) names the file on both sides even when it is added or deleted: an added
    file is recognised when it does not exist and the patch only inserts; a deleted one looks
    like a file emptied (mark it with ``dataclasses.replace(patch, new_path=None)`` if the
    session diff's ``status`` says "deleted").
    """

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        """The file the patch is about: its new name, else its old one."""
        name = self.new_path if self.new_path is not None else self.old_path
        return name if name is not None else ""


class FileChange(NamedTuple):
    """A file's text before and after a change; None means the file does not exist.

    ``patch`` is set when the change came from exactly one file patch, so that the edits can be
    built from its hunks (linear) rather than by diffing the two texts.
    """

    path: str
    old: str | None
    new: str | None
    patch: FilePatch | None = None


class DocumentChange(NamedTuple):
    """One file of a workspace edit: its URI, texts (None: absent) and the editor's version."""

    uri: str
    old: str | None
    new: str | None
    version: int | None
    patch: FilePatch | None = None


# --- parsing ------------------------------------------------------------------------------


def parse_patch(patch: str) -> list[FilePatch]:
    """Parse a unified patch of one or more files; malformed, truncated or binary: refused.

    Accepts jsdiff's ``Index:``/``====`` lines, git's ``diff --git`` headers (with ``a/``/``b/``
    prefixes, ``new file mode``/``deleted file mode``), timestamps after a tab, ``/dev/null``,
    omitted hunk counts, ``\\ No newline at end of file`` on either side and CRLF lines (kept in
    the line's text). Lines before, between and after file patches that are not part of one are
    ignored, as ``patch`` and ``git apply`` do.
    """
    lines = split_lines(patch)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # a patch cut after its last line: only a marker says "no newline"
    kinds = "".join(map(itemgetter(0), lines))  # each line's first character, for _plain_hunk
    files: list[FilePatch] = []
    git: _GitHeader | None = None
    index_name: str | None = None  # an ``Index:`` line still waiting for its file headers
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if _is_file_header(lines, i):
            old_path = _header_path(line[4:])
            new_path = _header_path(lines[i + 1][4:])
            if old_path is None and new_path is None:
                raise EditRefused(
                    f"The patch names /dev/null on both sides at line {i + 1}, "
                    "so it changes no file."
                )
            if (old_path is None or old_path.startswith("a/")) and (
                new_path is None or new_path.startswith("b/")
            ):
                old_path = None if old_path is None else old_path[2:]
                new_path = None if new_path is None else new_path[2:]
            name = new_path if new_path is not None else str(old_path)
            hunks, i = _parse_hunks(lines, kinds, i + 2, name)
            files.append(FilePatch(old_path, new_path, tuple(hunks)))
            git, index_name = None, None
            continue
        stripped = line.rstrip("\r\n")
        if line.startswith("diff --git ") or line.startswith("Index: "):
            _flush_headers(files, git, index_name)
            git, index_name = None, None
            if line.startswith("Index: "):
                index_name = stripped[len("Index: ") :]
            else:
                git = _GitHeader(i + 1, _git_names(stripped[len("diff --git ") :]))
        elif stripped == "GIT binary patch" or line.startswith("Binary files "):
            name = _display_name(git, index_name, stripped)
            raise EditRefused(
                f"The patch for {name} is a binary patch, which the bridge cannot apply."
            )
        elif line.startswith(("rename from ", "copy from ")) and git is not None:
            name = _display_name(git, index_name, stripped)
            raise EditRefused(
                f"The patch renames or copies {name}, which the bridge does not apply; "
                "ask for the change as an edit of the file's text."
            )
        elif git is not None and line.startswith("new file mode"):
            git.created = True
        elif git is not None and line.startswith("deleted file mode"):
            git.deleted = True
        elif line.startswith("@@ "):
            raise EditRefused(
                f"The hunk at line {i + 1} of the patch has no ---/+++ file header before it."
            )
        elif line.startswith("--- ") and i + 1 == n:
            raise EditRefused(
                f"The patch ends after a --- file header at line {i + 1}: it is truncated."
            )
        i += 1
    _flush_headers(files, git, index_name)
    if not files and patch.strip():
        raise EditRefused("The text is not a unified patch: it has no ---/+++ file headers.")
    return files


@dataclass
class _GitHeader:
    """A ``diff --git`` line and the extended header lines after it."""

    line: int
    names: tuple[str, str] | None
    created: bool = False
    deleted: bool = False


def _flush_headers(files: list[FilePatch], git: _GitHeader | None, index_name: str | None) -> None:
    """End a file section that had no ---/+++ headers: an empty new or deleted file, or an error."""
    if index_name is not None:
        raise EditRefused(
            f"The patch for {index_name} has an Index: line but no ---/+++ file headers: "
            "it is truncated or not a text patch."
        )
    if git is None or not (git.created or git.deleted):
        return  # a mode change only: no text changes
    if git.names is None:
        raise EditRefused(
            f"The diff --git line at line {git.line} of the patch names no clear file."
        )
    old_name, new_name = git.names
    files.append(
        FilePatch(None if git.created else old_name, None if git.deleted else new_name, ())
    )


def _display_name(git: _GitHeader | None, index_name: str | None, line: str) -> str:
    if index_name is not None:
        return index_name
    if git is not None and git.names is not None:
        return git.names[1]
    if line.startswith("Binary files "):
        return line[len("Binary files ") :].split(" and ", 1)[0]
    return "a file"


def _is_file_header(lines: Sequence[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _header_path(raw: str) -> str | None:
    """A ---/+++ header's path: before a tab (a timestamp follows), C-unquoted; /dev/null: None."""
    raw = raw.rstrip("\r\n")
    name = _unquote_c(raw)[0] if raw.startswith('"') else raw.split("\t", 1)[0]
    return None if name == "/dev/null" else name


def _git_names(rest: str) -> tuple[str, str] | None:
    """The two names of ``diff --git a/X b/X``, without prefixes; None when ambiguous."""
    if rest.startswith('"'):
        first, tail = _unquote_c(rest)
        tail = tail.lstrip(" ")
        second = _unquote_c(tail)[0] if tail.startswith('"') else tail
    else:
        half = (len(rest) - 1) // 2  # unquoted names are the same on both sides: split the middle
        first, second = rest[:half], rest[half + 1 :]
        if first[2:] != second[2:]:
            return None
    if first.startswith("a/") and second.startswith("b/"):
        return first[2:], second[2:]
    return None


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote_c(text: str) -> tuple[str, str]:
    """A C-quoted name as git writes unusual paths, and the text after its closing quote."""
    out = bytearray()
    i = 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return out.decode("utf-8", "surrogateescape"), text[i + 1 :]
        if char == "\\" and i + 1 < len(text):
            escape = text[i + 1]
            if escape in _C_ESCAPES:
                out.append(_C_ESCAPES[escape])
                i += 2
                continue
            if escape in "01234567":
                out.append(int(text[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
        out.extend(char.encode("utf-8", "surrogateescape"))
        i += 1
    raise EditRefused(f"The quoted file name {text} in the patch has no closing quote.")


def _parse_hunks(lines: Sequence[str], kinds: str, i: int, name: str) -> tuple[list[Hunk], int]:
    """The hunks of one file from line ``i`` on; returns them and the first line after them."""
    hunks: list[Hunk] = []
    n = len(lines)
    old_ended = new_ended = False  # a side's line without newline was seen: nothing may follow
    floor = 0  # hunks must come in order and not overlap
    while i < n and lines[i].startswith("@@"):
        header_line = i + 1
        match = _HUNK_HEADER.match(lines[i])
        if match is None:
            raise EditRefused(
                f"The hunk header at line {header_line} of the patch for {name} is malformed."
            )
        old_first = int(match[1])
        old_left = 1 if match[2] is None else int(match[2])
        new_left = 1 if match[4] is None else int(match[4])
        if old_left and not old_first:
            raise EditRefused(
                f"The hunk header at line {header_line} of the patch for {name} starts at line 0."
            )
        start = old_first if old_left == 0 else old_first - 1
        if start < floor:
            raise EditRefused(
                f"The hunk at line {header_line} of the patch for {name} overlaps the hunk before "
                "it or is out of order."
            )
        plain = (
            None if old_ended or new_ended else _plain_hunk(lines, kinds, i + 1, old_left, new_left)
        )
        if plain is not None:
            old_lines, new_lines, plain_changes, i = plain
            hunks.append(Hunk(start, old_lines, new_lines, plain_changes, header_line))
            floor = start + len(old_lines)
            continue
        old: list[str] = []
        new: list[str] = []
        changes: list[tuple[int, int, int, int]] = []
        run: tuple[int, int] | None = None  # where the current run of -/+ lines started
        last = ""  # kind of the previous body line, which a "\ No newline" marker refers to
        i += 1
        while i < n:
            line = lines[i]
            kind = line[:1]
            if kind == "\\":
                if last == "" or last == "\\":
                    raise EditRefused(
                        f"The hunk at line {header_line} of the patch for {name} has a misplaced "
                        f"'No newline at end of file' marker at line {i + 1}."
                    )
                if last in " -":
                    old[-1] = old[-1][:-1]
                    old_ended = True
                if last in " +":
                    new[-1] = new[-1][:-1]
                    new_ended = True
                last = "\\"
                i += 1
                continue
            if old_left == 0 and new_left == 0:
                break
            if kind == " " or line == "\n" or line == "\r\n":  # a bare line break: a blank
                if run is not None:  # context line whose space an editor or mailer stripped
                    changes.append((run[0], len(old), run[1], len(new)))
                    run = None
                text = line[1:] if kind == " " else line
                old.append(text)
                new.append(text)
                old_left -= 1
                new_left -= 1
                kind = " "
            elif kind == "-" or kind == "+":
                if run is None:
                    run = (len(old), len(new))
                if kind == "-":
                    old.append(line[1:])
                    old_left -= 1
                else:
                    new.append(line[1:])
                    new_left -= 1
            else:
                raise EditRefused(
                    f"The hunk at line {header_line} of the patch for {name} is truncated: "
                    f"line {i + 1} is not part of it."
                )
            if old_left < 0 or new_left < 0:
                raise EditRefused(
                    f"The hunk at line {header_line} of the patch for {name} has more lines than "
                    "its header counts."
                )
            if (old_ended and kind in " -") or (new_ended and kind in " +"):
                raise EditRefused(
                    f"The hunk at line {header_line} of the patch for {name} has lines after "
                    "'No newline at end of file'."
                )
            last = kind
            i += 1
        if old_left or new_left:
            raise EditRefused(
                f"The hunk at line {header_line} of the patch for {name} is truncated."
            )
        if run is not None:
            changes.append((run[0], len(old), run[1], len(new)))
        hunks.append(Hunk(start, tuple(old), tuple(new), tuple(changes), header_line))
        floor = start + len(old)
    if (
        i < n
        and lines[i][:1] in (" ", "+", "-")
        and lines[i].rstrip("\r\n") != "-- "
        and not _is_file_header(lines, i)
    ):
        # "-- " is the signature line git format-patch appends after the last file
        raise EditRefused(
            f"A hunk of the patch for {name} has more lines than its header counts (line {i + 1})."
        )
    return hunks, i


_BODY_RUN = re.compile(r"[ +\-]*")
_CHANGE_RUN = re.compile(r"[+\-]+")
_WITHOUT_KIND = itemgetter(slice(1, None))
_OLD_SIDE = bytes.maketrans(b" -+", b"\x01\x01\x00")  # selectors for itertools.compress
_NEW_SIDE = bytes.maketrans(b" -+", b"\x01\x00\x01")


def _plain_hunk(
    lines: Sequence[str], kinds: str, i: int, old_count: int, new_count: int
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[int, int, int, int], ...], int] | None:
    """A hunk body of only " ", "-" and "+" lines, parsed with C-speed scans of ``kinds``.

    Returns its old lines, new lines, changes and the line after it; None when the body has
    anything else (a "No newline" marker, a blank line, a count that does not add up): the
    caller then reads it line by line, which also says what is wrong.
    """
    run = _BODY_RUN.match(kinds, i)
    end = run.end() if run else i
    context = kinds.count(" ", i, end)
    if (
        context + kinds.count("-", i, end) != old_count
        or context + kinds.count("+", i, end) != new_count
        or kinds.startswith("\\", end)
    ):
        return None
    body_kinds = kinds[i:end]
    texts = list(map(_WITHOUT_KIND, lines[i:end]))
    kind_bytes = body_kinds.encode("ascii")
    old = tuple(compress(texts, kind_bytes.translate(_OLD_SIDE)))
    new = tuple(compress(texts, kind_bytes.translate(_NEW_SIDE)))
    changes: list[tuple[int, int, int, int]] = []
    old_at = new_at = done = 0
    for change in _CHANGE_RUN.finditer(body_kinds):
        first, last = change.span()
        old_at, new_at = old_at + first - done, new_at + first - done  # context lines between
        removed = body_kinds.count("-", first, last)
        added = last - first - removed
        changes.append((old_at, old_at + removed, new_at, new_at + added))
        old_at, new_at, done = old_at + removed, new_at + added, last
    return old, new, tuple(changes), end


# --- applying -----------------------------------------------------------------------------


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
            spans.append(_trim_span(text, offsets[old_from], offsets[old_to], replacement))
    return _spans_to_edits(text, spans, encoding)


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


def split_lines(text: str) -> list[str]:
    """Lines split on "\\n" only, each keeping its ending: the unit of unified diffs."""
    if text.count("\r") == text.count("\r\n") and not any(c in text for c in _OTHER_BREAKS):
        return text.splitlines(keepends=True)  # the same lines, at C speed
    lines = text.split("\n")
    last = lines.pop()
    out = [line + "\n" for line in lines]
    if last:
        out.append(last)
    return out


# --- text edits ---------------------------------------------------------------------------


def text_edits(old: str, new: str, encoding: PositionEncoding = "utf-16") -> list[lsp.TextEdit]:
    """Minimal-ish non-overlapping edits, in document order, that turn ``old`` into ``new``.

    A line diff (common prefix and suffix lines, lines unique to both as anchors when large,
    difflib between), then each changed region trimmed to the characters that differ. Ranges
    are relative to ``old``, in ``encoding``. With a patch at hand, ``patch_text_edits`` is
    cheaper.
    """
    if old == new:
        return []
    a, b = split_lines(old), split_lines(new)
    a_starts = list(accumulate(map(len, a), initial=0))
    b_starts = list(accumulate(map(len, b), initial=0))
    spans = [
        _trim_span(old, a_starts[i1], a_starts[i2], new[b_starts[j1] : b_starts[j2]])
        for i1, i2, j1, j2 in _changed_regions(a, b)
    ]
    return _spans_to_edits(old, spans, encoding)


def _changed_regions(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """The ``(a_from, a_to, b_from, b_to)`` line ranges that differ, separated by equal lines."""
    regions: list[tuple[int, int, int, int]] = []
    _diff_range(a, 0, len(a), b, 0, len(b), regions, 0)
    return regions


def _diff_range(
    a: Sequence[str],
    a_lo: int,
    a_hi: int,
    b: Sequence[str],
    b_lo: int,
    b_hi: int,
    out: list[tuple[int, int, int, int]],
    depth: int,
) -> None:
    """Diff ``a[a_lo:a_hi]`` against ``b[b_lo:b_hi]`` into ``out``.

    Common prefix and suffix lines first; difflib when what is left is small. difflib is
    quadratic on large inputs (minutes for 100k lines with 5k scattered changes), so a large
    middle is first cut at lines that occur once on each side, in order (patience diff's
    anchors); what cannot be cut becomes one replaced region: correct, if not minimal.
    """
    prefix = _common_prefix_len(a[a_lo:a_hi], b[b_lo:b_hi])
    a_lo, b_lo = a_lo + prefix, b_lo + prefix
    suffix = _common_suffix_len(a[a_lo:a_hi], b[b_lo:b_hi])
    a_hi, b_hi = a_hi - suffix, b_hi - suffix
    if a_lo == a_hi and b_lo == b_hi:
        return
    if a_lo == a_hi or b_lo == b_hi:
        out.append((a_lo, a_hi, b_lo, b_hi))
        return
    if (a_hi - a_lo) * (b_hi - b_lo) <= _DIFFLIB_AREA:
        matcher = difflib.SequenceMatcher(None, a[a_lo:a_hi], b[b_lo:b_hi])
        out.extend(
            (a_lo + i1, a_lo + i2, b_lo + j1, b_lo + j2)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != "equal"
        )
        return
    anchors = _unique_anchors(a, a_lo, a_hi, b, b_lo, b_hi) if depth < _ANCHOR_DEPTH else []
    if not anchors:
        out.append((a_lo, a_hi, b_lo, b_hi))
        return
    for a_at, b_at in anchors:
        _diff_range(a, a_lo, a_at, b, b_lo, b_at, out, depth + 1)
        a_lo, b_lo = a_at + 1, b_at + 1
    _diff_range(a, a_lo, a_hi, b, b_lo, b_hi, out, depth + 1)


def _unique_anchors(
    a: Sequence[str], a_lo: int, a_hi: int, b: Sequence[str], b_lo: int, b_hi: int
) -> list[tuple[int, int]]:
    """Pairs of equal lines that occur once in each range, the longest chain in order on both."""
    a_counts, b_counts = Counter(a[a_lo:a_hi]), Counter(b[b_lo:b_hi])
    in_a = {
        line: i
        for i, line in enumerate(a[a_lo:a_hi], a_lo)
        if a_counts[line] == 1 and b_counts.get(line) == 1
    }
    pairs = [(in_a[line], j) for j, line in enumerate(b[b_lo:b_hi], b_lo) if line in in_a]
    # longest chain increasing in a (pairs are in b order): patience sorting, O(k log k)
    tails: list[int] = []  # tails[k]: the pair ending the best chain of length k + 1
    tail_a: list[int] = []
    back = [-1] * len(pairs)
    for n, (i, _) in enumerate(pairs):
        k = bisect_left(tail_a, i)
        if k:
            back[n] = tails[k - 1]
        if k == len(tails):
            tails.append(n)
            tail_a.append(i)
        else:
            tails[k], tail_a[k] = n, i
    chain: list[tuple[int, int]] = []
    n = tails[-1] if tails else -1
    while n >= 0:
        chain.append(pairs[n])
        n = back[n]
    chain.reverse()
    return chain


def _common_prefix_len(a: Sequence[object], b: Sequence[object]) -> int:
    """Length of the common prefix, by halving slice comparisons (C speed, linear)."""
    if not a or not b or a[0] != b[0]:
        return 0
    low, high = 1, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while high - low > 1:  # a[:low] == b[:low] and a[:high] != b[:high]
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _common_suffix_len(a: Sequence[object], b: Sequence[object]) -> int:
    if not a or not b or a[-1] != b[-1]:
        return 0
    low, high = 1, min(len(a), len(b))
    if a[len(a) - high :] == b[len(b) - high :]:
        return high
    while high - low > 1:  # the last ``low`` items match, the last ``high`` do not
        middle = (low + high) // 2
        if a[len(a) - middle : len(a) - low] == b[len(b) - middle : len(b) - low]:
            low = middle
        else:
            high = middle
    return low


def _trim_span(text: str, start: int, end: int, new: str) -> tuple[int, int, str]:
    """Shrink the replacement of ``text[start:end]`` by ``new`` to the characters that differ.

    Never leaves a boundary between "\\r" and "\\n", which no LSP position can name.
    """
    old = text[start:end]
    prefix = _common_prefix_len(old, new)
    suffix = _common_suffix_len(old[prefix:], new[prefix:])
    start, end = start + prefix, end - suffix
    new = new[prefix : len(new) - suffix]
    if 0 < start < len(text) and text[start - 1] == "\r" and text[start] == "\n":
        start -= 1
        new = "\r" + new
    if 0 < end < len(text) and text[end - 1] == "\r" and text[end] == "\n":
        end += 1
        new += "\n"
    return start, end, new


def _spans_to_edits(
    text: str, spans: Iterable[tuple[int, int, str]], encoding: PositionEncoding
) -> list[lsp.TextEdit]:
    """``TextEdit``s for sorted ``(start, end, new_text)`` character spans of ``text``.

    Positions are found by scanning forward from the previous one (C-speed ``str.count``), so
    the whole text is scanned once, however many edits and however long its lines.
    """
    count_units = _unit_counter(encoding)
    has_cr = "\r" in text  # a lone "\r" also ends an LSP line
    line = anchor = column = 0  # ``anchor``: an offset on ``line`` whose ``column`` is known

    def position(offset: int) -> lsp.Position:
        nonlocal line, anchor, column
        breaks = text.count("\n", anchor, offset)
        last_break = text.rfind("\n", anchor, offset)
        if has_cr:
            cr_breaks = text.count("\r", anchor, offset) - text.count("\r\n", anchor, offset)
            breaks += cr_breaks
            if cr_breaks:
                last_break = max(last_break, text.rfind("\r", anchor, offset))
        if breaks:
            line += breaks
            anchor, column = last_break + 1, 0
        column += count_units(text[anchor:offset])
        anchor = offset
        return lsp.Position(line=line, character=column)

    edits: list[lsp.TextEdit] = []
    for start, end, new_text in spans:
        if start == end and not new_text:
            continue
        edits.append(
            lsp.TextEdit(range=lsp.Range(position(start), position(end)), new_text=new_text)
        )
    return edits


def _unit_counter(encoding: PositionEncoding) -> Callable[[str], int]:
    """How many code units of ``encoding`` a string takes (LSP ``character`` offsets)."""
    if encoding == "utf-16":
        return lambda s: len(s) if s.isascii() else len(s.encode("utf-16-le", "surrogatepass")) // 2
    if encoding == "utf-8":
        return lambda s: len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len
    raise ValueError(f"unknown position encoding {encoding!r}")


def map_lines(old: str, new: str, lines: Iterable[int]) -> list[tuple[int, bool]]:
    """Where each 0-based line of ``old`` is in ``new``, and whether it is unchanged there.

    The same line diff as ``text_edits`` and ``merge3``. An unchanged line maps to its own
    line; a changed or deleted one to the matching line of what replaced it (or where the
    replacement starts), so a caller wanting only exact lines drops the ``False`` ones. A line
    past the end of ``old`` moves with the end.
    """
    regions = _changed_regions(split_lines(old), split_lines(new))
    out: list[tuple[int, bool]] = []
    for line in lines:
        mapped = (line, True)
        for a_from, a_to, b_from, b_to in regions:  # in order; an insertion at line is before it
            if a_to <= line:
                mapped = (line + b_to - a_to, True)
            elif a_from <= line:
                mapped = (min(b_from + line - a_from, max(b_from, b_to - 1)), False)
                break
            else:
                break
        out.append(mapped)
    return out


# --- three-way merge ----------------------------------------------------------------------


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """Both sides' changes to ``base`` in one text, or None when they conflict.

    ``ours`` is the user's buffer, ``theirs`` the agent's version. Line-based, endings kept. Two
    changes conflict when their base line ranges overlap or touch: at least one unchanged base
    line must separate them (an insertion next to a changed line, or two insertions at the same
    place, conflict). The same change made on both sides is taken once. Conservative on purpose:
    a merge never drops either side's change.
    """
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    base_lines, our_lines, their_lines = (
        split_lines(base),
        split_lines(ours),
        split_lines(theirs),
    )
    mine = _changed_regions(base_lines, our_lines)
    other = _changed_regions(base_lines, their_lines)
    out: list[str] = []
    done = 0
    i = j = 0
    while i < len(mine) or j < len(other):
        x = mine[i] if i < len(mine) else None
        y = other[j] if j < len(other) else None
        if x is not None and (y is None or x[1] < y[0]):
            region, source = x, our_lines
            i += 1
        elif y is not None and (x is None or y[1] < x[0]):
            region, source = y, their_lines
            j += 1
        elif (
            x is not None
            and y is not None
            and x[:2] == y[:2]
            and our_lines[x[2] : x[3]] == their_lines[y[2] : y[3]]
        ):
            region, source = x, our_lines
            i += 1
            j += 1
        else:
            return None
        out.extend(base_lines[done : region[0]])
        out.extend(source[region[2] : region[3]])
        done = region[1]
    out.extend(base_lines[done:])
    return "".join(out)


# --- paths --------------------------------------------------------------------------------


def resolve_in_workspace(path: str, folders: Sequence[Path], base: Path | None = None) -> Path:
    """The file ``path`` names, refused unless it is inside a workspace folder after symlinks.

    ``path`` is a path or a ``file://`` URI; a relative path is taken from ``base`` (the server's
    worktree; default the first folder). The check uses ``Path.resolve()`` (symlinks followed,
    for a file not yet there its existing parents). The result is spelled from the folder as the
    editor gave it plus the resolved rest, so it matches the editor's URIs even when the
    workspace folder itself is reached through a symlink.
    """
    if "\0" in path:
        raise PathOutsideWorkspace(
            f"{path!r} contains a NUL character, so the bridge will not use it."
        )
    candidate = _path_from_uri(path) if path.startswith("file:") else Path(path)
    if not candidate.is_absolute():
        root = base if base is not None else (folders[0] if folders else None)
        if root is None:
            raise PathOutsideWorkspace(
                f"{path} is a relative path and no workspace folder is open, so the bridge will "
                "not change it."
            )
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
        roots = [(Path(folder).absolute(), Path(folder).resolve()) for folder in folders]
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (before 3.13)
        raise PathOutsideWorkspace(
            f"{path} cannot be resolved ({error}), so the bridge will not change it."
        ) from error
    best: tuple[Path, Path] | None = None
    for given, real in roots:
        if real in resolved.parents and (best is None or len(real.parts) > len(best[1].parts)):
            best = (given, real)
    if best is None:
        raise PathOutsideWorkspace(
            f"{path} is not inside any workspace folder, so the bridge will not change it."
        )
    return best[0] / resolved.relative_to(best[1])


def _path_from_uri(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise PathOutsideWorkspace(
            f"{uri} is not a local file URI, so the bridge will not change it."
        )
    return Path(url2pathname(parsed.path))


# --- whole changes ------------------------------------------------------------------------


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


def build_workspace_edit(
    changes: Iterable[DocumentChange],
    *,
    document_changes: bool,
    resource_operations: Collection[str] = frozenset(),
    encoding: PositionEncoding = "utf-16",
) -> lsp.WorkspaceEdit:
    """One ``WorkspaceEdit`` for all the changes, shaped by what the client supports.

    With ``document_changes``: versioned ``TextDocumentEdit``s, and ``CreateFile``/``DeleteFile``
    when ``resource_operations`` has "create"/"delete" (a new file is created, then its content
    inserted). Without it: plain ``changes``. A new or deleted file the client cannot express is
    refused (the caller writes it itself or tells the user). Unchanged files are left out.
    """
    operations: list[lsp.TextDocumentEdit | lsp.CreateFile | lsp.RenameFile | lsp.DeleteFile] = []
    plain: dict[str, Sequence[lsp.TextEdit]] = {}
    seen: set[str] = set()
    for change in changes:
        if change.uri in seen:
            raise ValueError(f"{change.uri} appears twice in one workspace edit")
        seen.add(change.uri)
        if change.old is None or change.new is None:
            if change.old is None and change.new is None:
                continue
            creating = change.old is None
            operation = "create" if creating else "delete"
            if not document_changes or operation not in resource_operations:
                verb = "create" if creating else "delete"
                raise EditRefused(
                    f"The editor cannot {verb} files through a workspace edit, so "
                    f"{_display_uri(change.uri)} must be {verb}d on disk instead."
                )
            if change.new is None:
                operations.append(lsp.DeleteFile(uri=change.uri))
                continue
            operations.append(lsp.CreateFile(uri=change.uri))
            if change.new:
                start = lsp.Position(line=0, character=0)
                insert = lsp.TextEdit(range=lsp.Range(start, start), new_text=change.new)
                document = lsp.OptionalVersionedTextDocumentIdentifier(uri=change.uri, version=None)
                operations.append(lsp.TextDocumentEdit(text_document=document, edits=[insert]))
            continue
        if change.patch is not None:
            edits = patch_text_edits(change.old, change.patch, encoding)
        else:
            edits = text_edits(change.old, change.new, encoding)
        if not edits:
            continue
        if document_changes:
            document = lsp.OptionalVersionedTextDocumentIdentifier(
                uri=change.uri, version=change.version
            )
            operations.append(lsp.TextDocumentEdit(text_document=document, edits=edits))
        else:
            plain[change.uri] = edits
    if document_changes:
        return lsp.WorkspaceEdit(document_changes=operations)
    return lsp.WorkspaceEdit(changes=plain)


def _display_uri(uri: str) -> str:
    if uri.startswith("file:"):
        try:
            return str(_path_from_uri(uri))
        except PathOutsideWorkspace:
            return uri
    return uri
