"""The edit modules of bridge.core (patch_parsing, patch_applying, line_diff, text_positions,
file_changes, workspace_edits, paths.resolve_in_workspace): patches applied exactly or refused
whole, edits in every position encoding."""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lsprotocol import types as lsp

from bridge.core.file_changes import FileChange, change_from_contents, changes_from_patch
from bridge.core.line_diff import map_lines, merge3, text_edits
from bridge.core.patch_applying import _skip_lines, apply_file_patch, patch_text_edits
from bridge.core.patch_parsing import FilePatch, parse_patch
from bridge.core.paths import resolve_in_workspace
from bridge.core.text_positions import PositionEncoding
from bridge.core.workspace_edits import (
    DocumentChange,
    build_workspace_edit,
    document_edit,
    versioned_edit,
)
from bridge.errors import EditRefused, PathOutsideWorkspace

ENCODINGS: list[PositionEncoding] = ["utf-8", "utf-16", "utf-32"]


# --- helpers ------------------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """Lines on "\\n" only, endings kept: what unified diffs are made of."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def make_patch(a: str, b: str, old: str = "a/f.txt", new: str = "b/f.txt", n: int = 3) -> str:
    """A unified diff as git/OpenCode write it, with the "\\ No newline" markers difflib lacks."""
    out = [f"--- {old}\n", f"+++ {new}\n"]
    body = difflib.unified_diff(split_lines(a), split_lines(b), n=n)
    for line in list(body)[2:]:  # difflib's own ---/+++ lines
        if line.startswith("@@"):
            out.append(line)
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def apply_edits(text: str, edits: Sequence[object], encoding: PositionEncoding) -> str:
    """Reference applier: LSP lines break on \\r\\n, \\r and \\n; positions count ``encoding``
    units and must fall on a character of a line (never inside a line break); ranges are
    relative to the original text, non-overlapping and in document order."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def offset(position: lsp.Position) -> int:
        assert position.line < len(starts), "line past the end"
        at = starts[position.line]
        if position.line + 1 < len(starts):
            following = starts[position.line + 1]
            end = following - (2 if text[following - 2 : following] == "\r\n" else 1)
        else:
            end = len(text)
        units = 0
        while units < position.character:
            assert at < end, "character past the end of the line"
            char = text[at]
            if encoding == "utf-8":
                units += len(char.encode("utf-8"))
            elif encoding == "utf-16":
                units += 2 if ord(char) > 0xFFFF else 1
            else:
                units += 1
            at += 1
        assert units == position.character, "position inside a character"
        return at

    spans = []
    for edit in edits:
        assert isinstance(edit, lsp.TextEdit)
        spans.append((offset(edit.range.start), offset(edit.range.end), edit.new_text))
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, "edits overlap or are out of order"
    pieces, done = [], 0
    for start, end, new_text in spans:
        assert start <= end
        pieces += [text[done:start], new_text]
        done = end
    return "".join(pieces) + text[done:]


def one(patch: str) -> FilePatch:
    files = parse_patch(patch)
    assert len(files) == 1
    return files[0]


# --- parsing and applying: examples -------------------------------------------------------


OPENCODE_PATCH = (
    "Index: /home/me/proj/src/a.py\n"
    "===================================================================\n"
    "--- /home/me/proj/src/a.py\n"
    "+++ /home/me/proj/src/a.py\n"
    "@@ -1,4 +1,4 @@\n"
    " def f():\n"
    "-    return 1\n"
    "+    return 2\n"
    " \n"
    " x = f()\n"
)


def test_opencode_index_form_with_absolute_paths() -> None:
    patch = one(OPENCODE_PATCH)
    assert patch.path == "/home/me/proj/src/a.py"
    assert patch.old_path == patch.new_path
    text = "def f():\n    return 1\n\nx = f()\n"
    assert apply_file_patch(text, patch) == "def f():\n    return 2\n\nx = f()\n"


def test_jsdiff_headers_with_tab_and_timestamps() -> None:
    patch = "--- a.py\t\n+++ a.py\t2024-05-01 10:00:00.000000000 +0200\n@@ -1 +1 @@\n-a\n+b\n"
    parsed = one(patch)
    assert (parsed.old_path, parsed.new_path) == ("a.py", "a.py")
    assert apply_file_patch("a\n", parsed) == "b\n"


def test_git_form_strips_prefixes_and_skips_extended_headers() -> None:
    patch = (
        "diff --git a/src/m.py b/src/m.py\n"
        "index 83db48f..bf269f4 100644\n"
        "--- a/src/m.py\n"
        "+++ b/src/m.py\n"
        "@@ -2 +2 @@ def g():\n"
        "-    pass\n"
        "+    return None\n"
    )
    parsed = one(patch)
    assert parsed.path == "src/m.py"
    assert apply_file_patch("def g():\n    pass\n", parsed) == "def g():\n    return None\n"


def test_paths_keep_a_folder_named_a_when_not_both_prefixed() -> None:
    parsed = one("--- a/x.py\n+++ a/x.py\n@@ -1 +1 @@\n-1\n+2\n")
    assert parsed.path == "a/x.py"


def test_git_quoted_path() -> None:
    parsed = one(
        '--- "a/sp\\303\\251cial\\tname.py"\n+++ "b/sp\\303\\251cial\\tname.py"\n'
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    assert parsed.path == "spécial\tname.py"


def test_count_omitted_hunk_headers() -> None:
    parsed = one("--- a/f\n+++ b/f\n@@ -2 +2,2 @@\n-b\n+B\n+C\n@@ -4,0 +6 @@\n+E\n")
    assert apply_file_patch("a\nb\nc\nd\n", parsed) == "a\nB\nC\nc\nd\nE\n"


def test_new_file_with_dev_null() -> None:
    parsed = one("--- /dev/null\n+++ b/new/mod.py\n@@ -0,0 +1,2 @@\n+x = 1\n+y = 2\n")
    assert parsed.old_path is None and parsed.path == "new/mod.py"
    assert changes_from_patch([parsed], lambda path: None) == [
        FileChange("new/mod.py", None, "x = 1\ny = 2\n")
    ]


def test_new_file_in_jsdiff_form_is_created_when_absent() -> None:
    patch = (
        "Index: n.py\n====\n--- n.py\n+++ n.py\n"
        "@@ -0,0 +1,1 @@\n+hello\n\\ No newline at end of file\n"
    )
    assert changes_from_patch(parse_patch(patch), lambda path: None) == [
        FileChange("n.py", None, "hello")
    ]


def test_new_file_refused_when_it_exists() -> None:
    parsed = parse_patch("--- /dev/null\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n")
    with pytest.raises(EditRefused, match=r"creates n\.py, but that file already exists"):
        changes_from_patch(parsed, lambda path: "something\n")


def test_empty_new_file_in_git_form_without_hunks() -> None:
    patch = "diff --git a/empty.txt b/empty.txt\nnew file mode 100644\nindex 0000000..e69de29\n"
    assert parse_patch(patch) == [FilePatch(None, "empty.txt", ())]
    assert changes_from_patch(parse_patch(patch), lambda path: None) == [
        FileChange("empty.txt", None, "")
    ]


def test_deleted_file() -> None:
    parsed = parse_patch("--- a/old.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n")
    assert changes_from_patch(parsed, lambda path: "a\nb\n") == [
        FileChange("old.py", "a\nb\n", None)
    ]


def test_deleted_file_refused_when_it_has_more_lines() -> None:
    parsed = parse_patch("--- a/old.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n")
    with pytest.raises(EditRefused, match=r"deletes old\.py, but the file has lines"):
        changes_from_patch(parsed, lambda path: "a\nb\nc\n")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("a\nb", "a\nc\n"),  # marker on the old side
        ("a\nb\n", "a\nc"),  # marker on the new side
        ("a\nb", "a\nc"),  # on both
        ("x\ny\nz", "X\ny\nz"),  # on a context line
        ("", "only"),
        ("only", ""),
    ],
)
def test_no_newline_markers(before: str, after: str) -> None:
    patch = make_patch(before, after)
    assert "\\ No newline at end of file" in patch
    assert apply_file_patch(before, one(patch)) == after


def test_no_newline_marker_refused_when_text_has_a_newline() -> None:
    parsed = one(make_patch("a\nb", "a\nc"))
    with pytest.raises(
        EditRefused, match="expects line 2 to end with no newline, but it ends with LF"
    ):
        apply_file_patch("a\nb\n", parsed)


def test_crlf_lines_round_trip() -> None:
    before = "one\r\ntwo\r\nthree\r\n"
    after = "one\r\nTWO\r\nthree\r\nfour\r\n"
    patch = make_patch(before, after)
    assert "-two\r\n+TWO\r\n" in patch
    parsed = one(patch)
    assert apply_file_patch(before, parsed) == after
    for encoding in ENCODINGS:
        assert apply_edits(before, patch_text_edits(before, parsed, encoding), encoding) == after


def test_crlf_patch_refused_on_lf_text() -> None:
    parsed = one(make_patch("one\r\ntwo\r\n", "one\r\n2\r\n"))
    with pytest.raises(EditRefused, match="expects line 1 to end with CRLF, but it ends with LF"):
        apply_file_patch("one\ntwo\n", parsed)


def test_several_files_in_one_patch() -> None:
    patch = make_patch("a\n", "A\n", "a/one.txt", "b/one.txt") + make_patch(
        "b\n", "B\n", "a/two.txt", "b/two.txt"
    )
    texts = {"one.txt": "a\n", "two.txt": "b\n"}
    changes = changes_from_patch(parse_patch(patch), texts.get)
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("one.txt", "a\n", "A\n"),
        ("two.txt", "b\n", "B\n"),
    ]


def test_hunk_found_at_an_offset_when_lines_were_added_above() -> None:
    before = "".join(f"line {i}\n" for i in range(20))
    after = before.replace("line 10\n", "LINE 10\n")
    parsed = one(make_patch(before, after))
    edited = "new 1\nnew 2\n" + before
    assert apply_file_patch(edited, parsed) == "new 1\nnew 2\n" + after


def test_hunk_without_context_is_not_searched_for() -> None:
    parsed = one("--- a/f\n+++ b/f\n@@ -3 +3 @@\n-}\n+};\n")
    assert apply_file_patch("a\nb\n}\n", parsed) == "a\nb\n};\n"
    with pytest.raises(EditRefused, match="expects line 3 to be '}', but it is 'b'"):
        apply_file_patch("added\na\nb\n}\n", parsed)


def test_mismatch_refused_naming_file_and_hunk_and_nothing_applied() -> None:
    good = make_patch("a\nb\n", "a\nB\n", "a/ok.txt", "b/ok.txt")
    bad = make_patch("x\ny\nz\n", "x\nY\nz\n", "a/bad.txt", "b/bad.txt")
    texts = {"ok.txt": "a\nb\n", "bad.txt": "x\nchanged\nz\n"}
    snapshot = dict(texts)
    with pytest.raises(EditRefused) as refused:
        changes_from_patch(parse_patch(good + bad), texts.get)
    message = str(refused.value)
    assert "bad.txt" in message and "hunk 1" in message
    assert "expects line 2 to be 'y', but it is 'changed'" in message
    assert texts == snapshot


def test_second_hunk_mismatch_refuses_the_whole_file() -> None:
    before = "".join(f"{i}\n" for i in range(30))
    after = before.replace("2\n", "two\n", 1).replace("25\n", "twenty-five\n")
    parsed = one(make_patch(before, after, n=1))
    assert len(parsed.hunks) == 2
    with pytest.raises(EditRefused, match="hunk 2"):
        apply_file_patch(before.replace("25\n", "XX\n"), parsed)


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        (
            "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n",
            "hunk at line 3 of the patch for f is truncated",
        ),
        ("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+c\nIndex: g\n", "is truncated: line 7"),
        ("--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-b\n+c\n+d\n", "more lines than its header counts"),
        (
            "--- a/f\n+++ b/f\n@@ -x +1 @@\n-b\n+c\n",
            "header at line 3 of the patch for f is malformed",
        ),
        ("--- a/f\n+++ b/f\n@@ -3 +3 @@\n-b\n+c\n@@ -1 +1 @@\n-a\n+A\n", "out of order"),
        ("@@ -1 +1 @@\n-a\n+b\n", "no ---/+++ file header"),
        ("Index: f.py\n=====\n", "Index: line but no ---/+++ file headers"),
        ("--- a/f\n", "truncated"),
        ("just some words\n", "not a unified patch"),
        ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n\\ No newline at end of file\n-a\n+b\n", "misplaced"),
        (
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n\\ No newline at end of file\n-b\n+a\n+b\n",
            "after",
        ),
    ],
)
def test_malformed_patches_refused(patch: str, reason: str) -> None:
    with pytest.raises(EditRefused, match=re.escape(reason)):
        parse_patch(patch)


@pytest.mark.parametrize(
    "patch",
    [
        "diff --git a/logo.png b/logo.png\nindex 1..2 100644\n"
        "Binary files a/logo.png and b/logo.png differ\n",
        "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nabc\n",
        "Index: logo.png\n===\nBinary files a/logo.png and b/logo.png differ\n",
    ],
)
def test_binary_patches_refused(patch: str) -> None:
    with pytest.raises(EditRefused, match=r"patch for logo\.png is a binary patch"):
        parse_patch(patch)


def test_renames_refused() -> None:
    patch = "diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to y\n"
    with pytest.raises(EditRefused, match="renames or copies"):
        parse_patch(patch)


def test_empty_patch_is_no_files() -> None:
    assert parse_patch("") == []
    assert parse_patch("\n") == []


def test_blank_context_line_whose_space_was_stripped() -> None:
    parsed = one("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n")
    assert apply_file_patch("a\n\nb\n", parsed) == "a\n\nB\n"


def test_patch_without_final_newline_is_read_whole() -> None:
    parsed = one("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b")
    assert apply_file_patch("a\n", parsed) == "b\n"


def test_git_signature_after_the_last_file_is_ignored() -> None:
    patch = make_patch("a\n", "b\n") + "-- \n2.39.5\n\n"
    assert apply_file_patch("a\n", one(patch)) == "b\n"


# --- text edits and positions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "encoding", "expected"),
    [
        ("héllo\n", "hèllo\n", "utf-16", (0, 1, 0, 2, "è")),
        ("héllo\n", "hèllo\n", "utf-8", (0, 1, 0, 3, "è")),
        ("héllo\n", "hèllo\n", "utf-32", (0, 1, 0, 2, "è")),
        ("a😀b\n", "a😀c\n", "utf-16", (0, 3, 0, 4, "c")),
        ("a😀b\n", "a😀c\n", "utf-8", (0, 5, 0, 6, "c")),
        ("a😀b\n", "a😀c\n", "utf-32", (0, 2, 0, 3, "c")),
        ("中文x", "中文y", "utf-16", (0, 2, 0, 3, "y")),
        ("中文x", "中文y", "utf-8", (0, 6, 0, 7, "y")),
        ("x\ry\rz", "x\ry\rZ", "utf-16", (2, 0, 2, 1, "Z")),  # a lone \r breaks LSP lines
        ("a\r\nb\r\n", "a\r\nb\r\nc\r\n", "utf-16", (2, 0, 2, 0, "c\r\n")),
    ],
)
def test_text_edit_positions(
    old: str, new: str, encoding: PositionEncoding, expected: tuple[int, int, int, int, str]
) -> None:
    [edit] = text_edits(old, new, encoding)
    r = edit.range
    assert (r.start.line, r.start.character, r.end.line, r.end.character, edit.new_text) == expected


def test_text_edits_accept_the_lsprotocol_enum() -> None:
    [edit] = text_edits("a😀b", "a😀c", lsp.PositionEncodingKind.Utf8)
    assert edit.range.start.character == 5


def test_no_edit_lands_between_cr_and_lf() -> None:
    old, new = "a\r\nb\r\n", "a\r\r\nb\r\n"
    for encoding in ENCODINGS:
        edits = text_edits(old, new, encoding)
        assert apply_edits(old, edits, encoding) == new


def test_identical_texts_give_no_edits() -> None:
    assert text_edits("same\n", "same\n") == []


def test_edits_are_minimal_within_changed_lines() -> None:
    old = "".join(f"line {i}\n" for i in range(100))
    new = old.replace("line 50\n", "line 5O\n")
    [edit] = text_edits(old, new)
    assert (edit.range.start.line, edit.range.start.character, edit.new_text) == (50, 6, "O")


def test_before_after_pair_gives_the_same_edits_as_text_edits() -> None:
    before, after = "a\nb\nc\n", "a\nB\nc\n"
    change = change_from_contents("f.py", before, after, before)
    assert change == FileChange("f.py", before, after)
    assert text_edits(change.old or "", change.new or "") == text_edits(before, after)


def test_before_after_merged_with_unsaved_user_changes() -> None:
    before = "a\nb\nc\nd\ne\n"
    after = "a\nb\nc\nd\nE\n"
    buffer = "A\nb\nc\nd\ne\n"
    assert change_from_contents("f.py", before, after, buffer) == FileChange(
        "f.py", buffer, "A\nb\nc\nd\nE\n"
    )
    with pytest.raises(EditRefused, match=r"f\.py has changes in the same lines"):
        change_from_contents("f.py", before, after, "a\nb\nc\nd\nuser\n")


def test_before_after_added_and_deleted_files() -> None:
    assert change_from_contents("n.py", None, "x\n", None) == FileChange("n.py", None, "x\n")
    assert change_from_contents("o.py", "x\n", None, "x\n") == FileChange("o.py", "x\n", None)
    with pytest.raises(EditRefused, match="changes the agent did not see"):
        change_from_contents("o.py", "x\n", None, "x\nmine\n")


# --- property tests -----------------------------------------------------------------------

CHARS = st.sampled_from(list("ab \té中😀𝄞") + ["\r"])
LINE_BODIES = st.text(alphabet=CHARS, max_size=4)
ENDINGS = st.sampled_from(["\n", "\r\n"])


@st.composite
def texts(draw: st.DrawFn, max_lines: int = 12) -> str:
    lines = draw(st.lists(st.tuples(LINE_BODIES, ENDINGS), max_size=max_lines))
    text = "".join(body + ending for body, ending in lines)
    if text and draw(st.booleans()):  # no final newline
        text = text.rstrip("\n")
        text = text[:-1] if text.endswith("\r") and draw(st.booleans()) else text
    return text


@st.composite
def text_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A text and an edited version of it: splices of lines and characters, endings toggled."""
    a = draw(texts())
    if draw(st.booleans()):
        return a, draw(texts())
    b = split_lines(a)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(b)))
        drop = draw(st.integers(0, 2))
        b[at : at + drop] = split_lines(draw(texts(max_lines=3)).rstrip("\n") + "\n")
    text = "".join(b)
    if draw(st.booleans()):
        text = text.rstrip("\n")
    return a, text


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text_pairs(), st.integers(0, 3))
def test_property_patch_applied_gives_the_new_text(pair: tuple[str, str], context: int) -> None:
    a, b = pair
    assert apply_file_patch(a, one(make_patch(a, b, n=context))) == b


@PROPERTY
@given(text_pairs(), st.sampled_from(ENCODINGS), st.integers(0, 3))
def test_property_edits_applied_give_the_new_text(
    pair: tuple[str, str], encoding: PositionEncoding, context: int
) -> None:
    a, b = pair
    assert apply_edits(a, text_edits(a, b, encoding), encoding) == b
    if a != b:
        parsed = one(make_patch(a, b, n=context))
        assert apply_edits(a, patch_text_edits(a, parsed, encoding), encoding) == b


@PROPERTY
@given(text_pairs(), st.integers(0, 3))
def test_property_patch_on_a_changed_text_is_refused(pair: tuple[str, str], context: int) -> None:
    a, b = pair
    assume(a != b)
    parsed = one(make_patch(a, b, n=context))
    first = next((h for h in parsed.hunks if h.old_lines), None)
    assume(first is not None)
    assert first is not None
    target = first.old_lines[0]
    mutated = "".join("MUTATED\n" if line == target else line for line in split_lines(a))
    texts_by_path = {parsed.path: mutated}
    with pytest.raises(EditRefused, match=re.escape(parsed.path)):
        changes_from_patch([parsed], texts_by_path.get)
    with pytest.raises(EditRefused):
        patch_text_edits(mutated, parsed)
    assert texts_by_path == {parsed.path: mutated}


@PROPERTY
@given(
    st.lists(st.sampled_from(["", "x", "yy", "z" * 300, "é😀"]), max_size=400),
    st.integers(0, 500),
    st.integers(0, 50),
)
def test_property_skip_lines_lands_on_the_right_line(
    bodies: list[str], count: int, first: int
) -> None:
    """The fast path's line jumping agrees with counting line by line (very uneven lengths)."""
    text = "".join(body + "\n" for body in bodies) + ("tail" if first % 2 else "")
    lines = split_lines(text)
    first = min(first, len(bodies))
    start = sum(map(len, lines[:first]))
    average = len(text) / (text.count("\n") + 1)
    wanted = first + count
    expected = sum(map(len, lines[:wanted])) if wanted <= len(bodies) else None
    assert _skip_lines(text, start, count, average) == expected


@pytest.mark.parametrize("seed", range(5))
def test_uneven_lines_many_hunks_apply_at_their_lines(seed: int) -> None:
    rng = random.Random(seed)
    old_lines = [
        rng.choice(["", "}", "x = 1", "y" * rng.randint(1, 400)]) + "\n" for _ in range(3000)
    ]
    new_lines = list(old_lines)
    for i in sorted(rng.sample(range(3000), 150)):
        new_lines[i] = f"changed {i}\n"
    old, new = "".join(old_lines), "".join(new_lines)
    parsed = one(make_patch(old, new, n=rng.randint(0, 3)))
    assert apply_file_patch(old, parsed) == new
    assert apply_edits(old, patch_text_edits(old, parsed, "utf-16"), "utf-16") == new


# --- three-way merge ----------------------------------------------------------------------


BASE = "one\ntwo\nthree\nfour\nfive\nsix\n"


def test_map_lines_follows_lines_shifted_by_insertions_and_deletions() -> None:
    old = "a\nb\nc\nd\ne\n"
    assert map_lines(old, "x\ny\n" + old, range(6)) == [(n + 2, True) for n in range(6)]
    assert map_lines(old, "a\nc\nd\ne\n", [0, 1, 2, 4]) == [
        (0, True),
        (1, False),
        (1, True),
        (3, True),  # b deleted: it maps to where it was
    ]
    assert map_lines(old, "a\nB\nc\nd\ne\n", [1, 2]) == [(1, False), (2, True)]
    assert map_lines(old, old, [3]) == [(3, True)]


@given(
    st.lists(st.sampled_from("abcde"), max_size=12),
    st.lists(st.sampled_from("abcdx"), max_size=12),
)
def test_map_lines_maps_unchanged_lines_to_equal_lines_in_order(
    old_chars: list[str], new_chars: list[str]
) -> None:
    old, new = "".join(c + "\n" for c in old_chars), "".join(c + "\n" for c in new_chars)
    mapped = map_lines(old, new, range(len(old_chars)))
    same = [(line, at) for line, (at, unchanged) in enumerate(mapped) if unchanged]
    assert all(old_chars[line] == new_chars[at] for line, at in same)
    assert [at for _, at in same] == sorted({at for _, at in same})  # in order, once each
    assert all(0 <= at <= len(new_chars) for at, _ in mapped)  # at most just past the end


def test_merge3_keeps_both_non_overlapping_changes() -> None:
    ours = BASE.replace("one", "ONE")
    theirs = BASE.replace("five", "FIVE")
    assert merge3(BASE, ours, theirs) == "ONE\ntwo\nthree\nfour\nFIVE\nsix\n"


def test_merge3_keeps_insertions_and_deletions() -> None:
    ours = BASE.replace("two\n", "")
    theirs = BASE + "seven\n"
    assert merge3(BASE, ours, theirs) == "one\nthree\nfour\nfive\nsix\nseven\n"


def test_merge3_overlapping_changes_conflict() -> None:
    assert merge3(BASE, BASE.replace("three", "3"), BASE.replace("three", "III")) is None


def test_merge3_adjacent_changes_conflict() -> None:
    assert merge3(BASE, BASE.replace("three", "3"), BASE.replace("four", "4")) is None


def test_merge3_identical_changes_merge_once() -> None:
    ours = BASE.replace("three", "3")
    theirs = BASE.replace("three", "3").replace("six", "6")
    assert merge3(BASE, ours, ours) == ours
    assert merge3(BASE, ours, ours.replace("one", "1")) == "1\ntwo\n3\nfour\nfive\nsix\n"
    assert merge3(BASE, theirs, theirs) == theirs


def test_merge3_keeps_line_endings() -> None:
    base = "a\r\nb\r\nc\r\nd\r\n"
    assert merge3(base, "A\r\nb\r\nc\r\nd\r\n", "a\r\nb\r\nc\r\nD") == "A\r\nb\r\nc\r\nD"


@PROPERTY
@given(texts(), texts())
def test_property_merge3_with_one_side_unchanged(base: str, other: str) -> None:
    assert merge3(base, base, other) == other
    assert merge3(base, other, base) == other


@PROPERTY
@given(st.lists(LINE_BODIES, min_size=1, max_size=20), st.data())
def test_property_merge3_of_separated_changes_keeps_both(
    bodies: list[str], data: st.DataObject
) -> None:
    base_lines = [f"{i}:{body}\n" for i, body in enumerate(bodies)]  # unique lines
    kinds = data.draw(
        st.lists(st.sampled_from("o t .".split()), min_size=len(bodies), max_size=len(bodies))
    )
    for i in range(1, len(kinds)):  # an unchanged line between the two sides' changes
        if kinds[i] != "." and kinds[i - 1] not in (".", kinds[i]):
            kinds[i] = "."
    ours = "".join(
        f"ours {i}\n" if k == "o" else line
        for i, (k, line) in enumerate(zip(kinds, base_lines, strict=True))
    )
    theirs = "".join(
        f"theirs {i}\n" if k == "t" else line
        for i, (k, line) in enumerate(zip(kinds, base_lines, strict=True))
    )
    expected = "".join(
        f"ours {i}\n" if k == "o" else f"theirs {i}\n" if k == "t" else line
        for i, (k, line) in enumerate(zip(kinds, base_lines, strict=True))
    )
    base = "".join(base_lines)
    assert merge3(base, ours, theirs) == expected
    assert merge3(base, theirs, ours) == expected


# --- paths --------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("x\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return root


def test_relative_path_inside_is_resolved(workspace: Path) -> None:
    assert resolve_in_workspace("src/a.py", [workspace]) == workspace / "src" / "a.py"
    assert (
        resolve_in_workspace("a.py", [workspace], base=workspace / "src")
        == workspace / "src" / "a.py"
    )


def test_new_file_in_a_new_folder_is_allowed(workspace: Path) -> None:
    assert (
        resolve_in_workspace("pkg/sub/new.py", [workspace]) == workspace / "pkg" / "sub" / "new.py"
    )


@pytest.mark.parametrize(
    "path", ["../outside.txt", "src/../../outside.txt", "new/../../outside.txt"]
)
def test_dot_dot_out_is_refused(workspace: Path, path: str) -> None:
    with pytest.raises(PathOutsideWorkspace, match=re.escape(path)):
        resolve_in_workspace(path, [workspace])


def test_absolute_path_elsewhere_is_refused(workspace: Path) -> None:
    with pytest.raises(PathOutsideWorkspace, match="not inside any workspace folder"):
        resolve_in_workspace("/etc/passwd", [workspace])


def test_the_folder_itself_is_not_a_file_in_it(workspace: Path) -> None:
    with pytest.raises(PathOutsideWorkspace):
        resolve_in_workspace(str(workspace), [workspace])


def test_symlink_pointing_out_is_refused(workspace: Path) -> None:
    (workspace / "link.txt").symlink_to(workspace.parent / "outside.txt")
    (workspace / "linkdir").symlink_to(workspace.parent)
    with pytest.raises(PathOutsideWorkspace, match="link.txt"):
        resolve_in_workspace("link.txt", [workspace])
    with pytest.raises(PathOutsideWorkspace):
        resolve_in_workspace("linkdir/new.txt", [workspace])


def test_symlinked_workspace_keeps_the_editors_spelling(tmp_path: Path, workspace: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(workspace)
    assert resolve_in_workspace("src/a.py", [alias]) == alias / "src" / "a.py"


def test_file_uris(workspace: Path) -> None:
    uri = (workspace / "src" / "a.py").as_uri()
    assert resolve_in_workspace(uri, [workspace]) == workspace / "src" / "a.py"
    spaced = workspace / "with space é.py"
    assert resolve_in_workspace(spaced.as_uri(), [workspace]) == spaced
    with pytest.raises(PathOutsideWorkspace):
        resolve_in_workspace((workspace.parent / "outside.txt").as_uri(), [workspace])
    with pytest.raises(PathOutsideWorkspace, match="not a local file URI"):
        resolve_in_workspace("file://otherhost/x", [workspace])


def test_several_folders(tmp_path: Path, workspace: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_in_workspace(str(other / "b.py"), [workspace, other]) == other / "b.py"


def test_no_folder_and_relative_path_is_refused() -> None:
    with pytest.raises(PathOutsideWorkspace, match="no workspace folder"):
        resolve_in_workspace("a.py", [])


# --- workspace edits ----------------------------------------------------------------------

URI = "file:///ws/a.py"
ORIGIN = lsp.Position(line=0, character=0)


def test_workspace_edit_with_document_changes_is_versioned() -> None:
    edit = build_workspace_edit([DocumentChange(URI, "a\nb\n", "a\nB\n", 7)], document_changes=True)
    assert edit.changes is None
    [document] = edit.document_changes or []
    assert isinstance(document, lsp.TextDocumentEdit)
    assert document.text_document == lsp.OptionalVersionedTextDocumentIdentifier(uri=URI, version=7)
    assert apply_edits("a\nb\n", document.edits, "utf-16") == "a\nB\n"


def test_workspace_edit_without_document_changes_uses_changes() -> None:
    edit = build_workspace_edit(
        [DocumentChange(URI, "a\n", "b\n", None), DocumentChange("file:///ws/same", "s", "s", 1)],
        document_changes=False,
    )
    assert edit.document_changes is None
    assert edit.changes is not None and list(edit.changes) == [URI]


def test_workspace_edit_creates_and_deletes_files() -> None:
    edit = build_workspace_edit(
        [
            DocumentChange("file:///ws/new.py", None, "x = 1\n", None),
            DocumentChange("file:///ws/old.py", "y\n", None, 3),
        ],
        document_changes=True,
        resource_operations={"create", "delete"},
    )
    create, insert, delete = edit.document_changes or []
    assert create == lsp.CreateFile(uri="file:///ws/new.py")
    assert isinstance(insert, lsp.TextDocumentEdit)
    assert insert.text_document.version is None
    assert insert.edits == [lsp.TextEdit(range=lsp.Range(ORIGIN, ORIGIN), new_text="x = 1\n")]
    assert delete == lsp.DeleteFile(uri="file:///ws/old.py")


@pytest.mark.parametrize(
    ("change", "document_changes", "operations", "reason"),
    [
        (DocumentChange("file:///ws/new.py", None, "x\n", None), True, {"delete"}, "cannot create"),
        (
            DocumentChange("file:///ws/new.py", None, "x\n", None),
            False,
            {"create"},
            "cannot create",
        ),
        (DocumentChange("file:///ws/old.py", "x\n", None, 1), True, {"create"}, "cannot delete"),
    ],
)
def test_workspace_edit_refuses_what_the_client_cannot_express(
    change: DocumentChange, document_changes: bool, operations: set[str], reason: str
) -> None:
    with pytest.raises(EditRefused, match=reason + r" files through a workspace edit, so /ws/"):
        build_workspace_edit(
            [change], document_changes=document_changes, resource_operations=operations
        )


def test_workspace_edit_from_patch_uses_the_hunks() -> None:
    before = "".join(f"l{i}\n" for i in range(50))
    after = before.replace("l10\n", "L10\n").replace("l40\n", "l40\nnew\n")
    [change] = changes_from_patch(parse_patch(make_patch(before, after)), lambda path: before)
    assert change.patch is not None
    edit = build_workspace_edit(
        [DocumentChange(URI, change.old, change.new, 2, change.patch)],
        document_changes=True,
        encoding="utf-8",
    )
    [document] = edit.document_changes or []
    assert isinstance(document, lsp.TextDocumentEdit)
    assert apply_edits(before, document.edits, "utf-8") == after


def test_one_document_edit_is_versioned_only_when_the_editor_takes_document_changes() -> None:
    edits = text_edits("a\nb\n", "a\nB\n")
    versioned = document_edit(URI, 4, edits, document_changes=True)
    assert versioned.changes is None
    assert versioned.document_changes == [versioned_edit(URI, 4, edits)]
    [document] = versioned.document_changes
    assert isinstance(document, lsp.TextDocumentEdit)
    assert document.text_document == lsp.OptionalVersionedTextDocumentIdentifier(uri=URI, version=4)
    assert apply_edits("a\nb\n", document.edits, "utf-16") == "a\nB\n"
    plain = document_edit(URI, 4, edits, document_changes=False)
    assert plain.document_changes is None
    assert plain.changes == {URI: edits}


def test_build_workspace_edit_versions_each_document_as_versioned_edit_does() -> None:
    edit = build_workspace_edit([DocumentChange(URI, "a\n", "b\n", 9)], document_changes=True)
    assert edit.document_changes == [versioned_edit(URI, 9, text_edits("a\n", "b\n"))]


# --- size ---------------------------------------------------------------------------------


def big_patch(lines: int, hunks: int, path: str = "big.txt") -> tuple[str, str, str]:
    """A ``lines``-line text, a patch changing one line in ``hunks`` places, the expected result."""
    step = lines // hunks
    old = [f"line {i} of {path}\n" for i in range(lines)]
    new = list(old)
    out = [f"--- a/{path}\n", f"+++ b/{path}\n"]
    for k in range(hunks):
        i = k * step + step // 2
        new[i] = f"changed {i} é😀\n"
        out.append(f"@@ -{i},3 +{i},3 @@\n {old[i - 1]}-{old[i]}+{new[i]} {old[i + 1]}")
    return "".join(old), "".join(out), "".join(new)


def test_large_file_with_many_hunks() -> None:
    old, patch, new = big_patch(100_000, 5_000)
    parsed = one(patch)
    assert len(parsed.hunks) == 5_000
    assert apply_file_patch(old, parsed) == new
    edits = patch_text_edits(old, parsed, "utf-16")
    assert len(edits) == 5_000
    assert apply_edits(old, edits, "utf-16") == new
    diffed = text_edits(old, new, "utf-8")  # too big for plain difflib: cut at unique lines
    assert len(diffed) == 5_000
    assert apply_edits(old, diffed, "utf-8") == new
    theirs = old.replace("line 1 of", "LINE 1 of")
    assert merge3(old, new, theirs) == new.replace("line 1 of", "LINE 1 of")


def test_large_repetitive_texts_still_give_exact_edits() -> None:
    old = "".join(f"{'x' * (i % 7)}\n" for i in range(30_000))
    new = "".join(f"{'x' * (i % 5)}\n" for i in range(30_000))
    assert apply_edits(old, text_edits(old, new), "utf-16") == new
