"""Text the TUI and the agent understand, from what the editor holds. Pure: data in, data out.

- :func:`reference`: a selection as the ``@src/a.py#L10-20`` reference the TUI's prompt takes.
- :func:`find_instruction`: an ``opencode:`` line comment, in any comment syntax.
- :func:`enclosing_block`: the code such a comment is about, when nothing is selected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

TOAST_VARIANTS = ("info", "success", "warning", "error")
MAX_BLOCK_LINES = 200  # an enclosing block longer than this is cut around the comment

_CLOSERS = ("}", ")", "]", "end", "fi", "done", "esac", "</")


def reference(path: str, start_line: int | None = None, end_line: int | None = None) -> str:
    """``@path``, ``@path#L10`` or ``@path#L10-20`` (lines 1-based, inclusive)."""
    if start_line is None:
        return f"@{path}"
    if end_line is None or end_line == start_line:
        return f"@{path}#L{start_line}"
    return f"@{path}#L{start_line}-{end_line}"


# --- comments that are instructions ----------------------------------------------------------

# A comment opener, then "opencode:" (any case), the instruction, and the closer of a block-style
# comment when there is one. The opener starts the line or follows white space, so ``a--b`` or
# ``http://x`` never count.
_INSTRUCTION = re.compile(
    r"""(?P<lead>^|\s)
        (?P<opener>\#+|//+|--+|;+|%+|/\*+|<!--|\{-|\(\*|"|'|(?i:rem)\b)
        [ \t]*opencode:[ \t]*
        (?P<text>.*?)
        [ \t]*(?:\*+/|-->|-\}|\*\))?[ \t]*$""",
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class Instruction:
    """An ``opencode:`` comment on one line."""

    text: str  # what the comment asks for
    column: int  # where the comment starts (after the code, if any)
    own_line: bool  # nothing but white space before it

    def removal(self, line: str) -> tuple[int, int]:
        """Columns ``[start, end)`` to delete to remove the comment but keep the code.
        The caller deletes the whole line (its line break included) when ``own_line``."""
        start = len(line[: self.column].rstrip())
        end = len(line.rstrip("\r\n"))
        return start, end


def find_instruction(line: str) -> Instruction | None:
    """The ``opencode:`` comment on ``line``, if it has one with a non-empty instruction."""
    body = line.rstrip("\r\n")
    match = _INSTRUCTION.search(body)
    if match is None or not match.group("text").strip():
        return None
    column = match.start("opener")
    code = body[:column]
    opener, text = match.group("opener"), match.group("text")
    if code.count('"') % 2 or code.count("'") % 2:
        return None  # the "comment" is inside a string literal
    if opener in ("'", '"') and opener in text:
        return None  # a string literal "opencode: ...", not a Vim or BASIC comment
    return Instruction(text.strip(), column, not code.strip())


# --- the code a comment is about -------------------------------------------------------------


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _blank(line: str) -> bool:
    return not line.strip()


def _closes(line: str) -> bool:
    return line.strip().startswith(_CLOSERS)


def _body_end(lines: Sequence[str], head: int) -> int:
    """The last line of the block that starts at ``head``: every following line indented
    deeper (blank lines inside included), then one closing ``}``/``end`` at the head's level."""
    level = _indent(lines[head])
    end = head
    index = head + 1
    while index < len(lines):
        line = lines[index]
        if _blank(line):
            index += 1
            continue
        if _indent(line) > level:
            end = index
            index += 1
            continue
        if _indent(line) == level and _closes(line):
            end = index
        break
    return end


def enclosing_block(lines: Sequence[str], line: int) -> tuple[int, int]:
    """0-based inclusive lines of the code the comment on ``line`` is about.

    Inside an indented body, that is the enclosing block (from its header, say ``def f():``
    or ``if x {``, to its end). At the top level, it is the block that follows the comment
    (or, for a comment after code, the block that line starts). Indentation decides, so it
    works for any language that is indented as people indent. At most ``MAX_BLOCK_LINES``
    lines, kept around the comment.
    """
    if not lines:
        return 0, 0
    line = max(0, min(line, len(lines) - 1))
    level = _indent(lines[line])
    head = None
    if level > 0:
        for index in range(line - 1, -1, -1):
            if not _blank(lines[index]) and _indent(lines[index]) < level:
                head = index
                break
    if head is None:
        instruction = find_instruction(lines[line])
        head = line
        if instruction is not None and instruction.own_line:
            following = [i for i in range(line + 1, len(lines)) if not _blank(lines[i])]
            if following and _indent(lines[following[0]]) == level:
                head = following[0]
    start = min(head, line)
    end = max(_body_end(lines, head), line)
    if end - start + 1 > MAX_BLOCK_LINES:
        half = MAX_BLOCK_LINES // 2
        start = max(start, line - half)
        end = min(end, start + MAX_BLOCK_LINES - 1)
    return start, end
