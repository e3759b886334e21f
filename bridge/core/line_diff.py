"""The line diff of two texts, and what is built from it: minimal ``TextEdit``s, where lines
moved, and the three-way merge of the user's and the agent's changes. Pure.

difflib is quadratic on large inputs, so large diffs are first cut at lines unique to both sides
(patience diff's anchors); see ``_diff_range``.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate

from lsprotocol import types as lsp

from bridge.core.text_positions import (
    PositionEncoding,
    common_prefix_len,
    common_suffix_len,
    spans_to_edits,
    split_lines,
    trim_span,
)

# difflib is used on at most this many line pairs; larger diffs are cut at unique lines first,
# at most this many times deep.
_DIFFLIB_AREA = 4_000_000
_ANCHOR_DEPTH = 8


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
        trim_span(old, a_starts[i1], a_starts[i2], new[b_starts[j1] : b_starts[j2]])
        for i1, i2, j1, j2 in changed_regions(a, b)
    ]
    return spans_to_edits(old, spans, encoding)


def changed_regions(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int, int]]:
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
    prefix = common_prefix_len(a[a_lo:a_hi], b[b_lo:b_hi])
    a_lo, b_lo = a_lo + prefix, b_lo + prefix
    suffix = common_suffix_len(a[a_lo:a_hi], b[b_lo:b_hi])
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


def map_lines(old: str, new: str, lines: Iterable[int]) -> list[tuple[int, bool]]:
    """Where each 0-based line of ``old`` is in ``new``, and whether it is unchanged there.

    The same line diff as ``text_edits`` and ``merge3``. An unchanged line maps to its own
    line; a changed or deleted one to the matching line of what replaced it (or where the
    replacement starts), so a caller wanting only exact lines drops the ``False`` ones. A line
    past the end of ``old`` moves with the end.
    """
    regions = changed_regions(split_lines(old), split_lines(new))
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
    mine = changed_regions(base_lines, our_lines)
    other = changed_regions(base_lines, their_lines)
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
