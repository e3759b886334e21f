"""Unified patches -> parsed ``FilePatch``es of ``Hunk``s, or ``EditRefused``. Pure.

OpenCode describes a file change as a unified patch: jsdiff's ``Index:``/``====`` form, or git's
``a/``/``b/`` form. Lines keep their endings (``"\\r\\n"`` stays in the line's text), as in unified
diffs; a malformed, truncated or binary patch is refused whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter

from bridge.core.text_positions import split_lines
from bridge.errors import EditRefused

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


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
