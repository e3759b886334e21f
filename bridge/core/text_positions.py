"""Texts as LSP addresses them: lines, position encodings, and character spans -> ``TextEdit``s.

Lines here are split on ``"\\n"`` only and keep their endings (``"\\r\\n"`` stays in the line), as
in unified diffs; LSP positions, which also break lines on a lone ``"\\r"``, are computed from
character offsets at the end (``spans_to_edits``). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from lsprotocol import types as lsp

PositionEncoding = lsp.PositionEncodingKind | Literal["utf-8", "utf-16", "utf-32"]

# Where str.splitlines() also breaks lines, unlike unified diffs and LSP.
_OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


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


def spans_to_edits(
    text: str, spans: Iterable[tuple[int, int, str]], encoding: PositionEncoding
) -> list[lsp.TextEdit]:
    """``TextEdit``s for sorted ``(start, end, new_text)`` character spans of ``text``.

    Positions are found by scanning forward from the previous one (C-speed ``str.count``), so
    the whole text is scanned once, however many edits and however long its lines.
    """
    count_units = unit_counter(encoding)
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


def unit_counter(encoding: PositionEncoding) -> Callable[[str], int]:
    """How many code units of ``encoding`` a string takes (LSP ``character`` offsets)."""
    if encoding == "utf-16":
        return lambda s: len(s) if s.isascii() else len(s.encode("utf-16-le", "surrogatepass")) // 2
    if encoding == "utf-8":
        return lambda s: len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len
    raise ValueError(f"unknown position encoding {encoding!r}")


def trim_span(text: str, start: int, end: int, new: str) -> tuple[int, int, str]:
    """Shrink the replacement of ``text[start:end]`` by ``new`` to the characters that differ.

    Never leaves a boundary between "\\r" and "\\n", which no LSP position can name.
    """
    old = text[start:end]
    prefix = common_prefix_len(old, new)
    suffix = common_suffix_len(old[prefix:], new[prefix:])
    start, end = start + prefix, end - suffix
    new = new[prefix : len(new) - suffix]
    if 0 < start < len(text) and text[start - 1] == "\r" and text[start] == "\n":
        start -= 1
        new = "\r" + new
    if 0 < end < len(text) and text[end - 1] == "\r" and text[end] == "\n":
        end += 1
        new += "\n"
    return start, end, new


def common_prefix_len(a: Sequence[object], b: Sequence[object]) -> int:
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


def common_suffix_len(a: Sequence[object], b: Sequence[object]) -> int:
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
