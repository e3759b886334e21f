"""bridge.core.hunks: an edit request's proposed text, its hunks, and which a buffer has."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.hunks import (
    ReviewHunk,
    accepted_hunks,
    apply_hunks,
    hunk_edits,
    hunk_preview,
    proposed_text,
    review_hunks,
    review_message,
)
from bridge.errors import EditRefused
from tests.support.editor_buffers import apply_text_edits

TEXT = "".join(f"line {n}\n" for n in range(1, 13))


def edit(old: str, new: str, **extra: object) -> dict[str, object]:
    return {"filePath": "/w/f.py", "oldString": old, "newString": new, **extra}


# --- the proposed text --------------------------------------------------------------------


def test_an_exact_edit_is_applied_once() -> None:
    assert proposed_text("edit", edit("line 2\n", "two\n"), TEXT, "f.py") == TEXT.replace(
        "line 2\n", "two\n"
    )


def test_a_crlf_file_is_edited_with_crlf_strings_as_opencode_does() -> None:
    crlf = "a = 1\r\n    b = 2\r\nc = 3\r\n"
    changed = proposed_text("edit", edit("    b = 2\nc = 3", "    b = 20\nc = 30"), crlf, "f")
    assert changed == "a = 1\r\n    b = 20\r\nc = 30\r\n"  # what OpenCode 1.18.33 writes


def test_replace_all_and_whole_file_writes() -> None:
    assert proposed_text("edit", edit("line", "L", replaceAll=True), TEXT, "f") == TEXT.replace(
        "line", "L"
    )
    assert proposed_text("edit", edit("", "new\n"), None, "f") == "new\n"
    assert proposed_text("write", {"filePath": "/w/f", "content": "x\n"}, TEXT, "f") == "x\n"


@pytest.mark.parametrize(
    ("tool", "tool_input", "current", "reason"),
    [
        ("edit", edit("nowhere", "x"), TEXT, "not in the file exactly"),
        ("edit", edit("line", "x"), TEXT, "occurs 12 times"),
        ("edit", edit("line 1", "x"), None, "does not exist"),
        ("edit", {"filePath": "/w/f"}, TEXT, "no oldString/newString"),
        ("write", {"filePath": "/w/f"}, TEXT, "no content"),
        ("apply_patch", {"patchText": "*** Begin Patch"}, TEXT, "this one is apply_patch"),
    ],
)
def test_what_cannot_be_previewed_exactly_is_refused(
    tool: str, tool_input: dict[str, object], current: str | None, reason: str
) -> None:
    with pytest.raises(EditRefused, match=reason):
        proposed_text(tool, tool_input, current, "f.py")


# --- hunks --------------------------------------------------------------------------------


def test_hunks_are_runs_of_changed_lines() -> None:
    after = TEXT.replace("line 2\n", "two\n").replace("line 10\nline 11\n", "ten\n")
    after = after.replace("line 5\n", "line 5\nfive and a half\n")
    hunks = review_hunks(TEXT, after)
    assert [(h.where, h.old_text, h.new_text) for h in hunks] == [
        ("line 2", "line 2\n", "two\n"),
        ("after line 5", "", "five and a half\n"),
        ("lines 10-11", "line 10\nline 11\n", "ten\n"),
    ]
    assert apply_hunks(TEXT, hunks, [True, True, True]) == after
    assert apply_hunks(TEXT, hunks, [False, False, False]) == TEXT
    assert apply_hunks(TEXT, hunks, [False, True, False]) == TEXT.replace(
        "line 5\n", "line 5\nfive and a half\n"
    )
    assert review_hunks("", "new\n")[0].where == "at the top"


def test_each_hunks_edits_apply_it_alone() -> None:
    after = "é😀 " + TEXT.replace("line 2\n", "two\n").replace("line 9", "nine")
    hunks = review_hunks(TEXT, after)
    for index, edits in enumerate(hunk_edits(TEXT, hunks)):
        only = [i == index for i in range(len(hunks))]
        assert apply_text_edits(TEXT, edits) == apply_hunks(TEXT, hunks, only)


def test_which_hunks_a_buffer_has() -> None:
    after = TEXT.replace("line 2\n", "two\n").replace("line 9\n", "")
    hunks = review_hunks(TEXT, after)
    assert accepted_hunks(TEXT, hunks, apply_hunks(TEXT, hunks, [False, True])) == (False, True)
    assert accepted_hunks(TEXT, hunks, after) == (True, True)
    assert accepted_hunks(TEXT, hunks, TEXT) == (False, False)
    assert accepted_hunks(TEXT, hunks, "typed\n" + TEXT) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(["a\n", "b\n", "", "c"]), max_size=12),
    st.lists(st.sampled_from(["a\n", "b\n", "x\n", "c"]), max_size=12),
    st.data(),
)
def test_property_the_hunks_read_back_give_the_same_text(
    a: list[str], b: list[str], data: st.DataObject
) -> None:
    before, after = "".join(a), "".join(b)
    hunks = review_hunks(before, after)
    assert apply_hunks(before, hunks, [True] * len(hunks)) == after
    chosen = data.draw(st.lists(st.booleans(), min_size=len(hunks), max_size=len(hunks)))
    now = apply_hunks(before, hunks, chosen)
    found = accepted_hunks(before, hunks, now)
    assert found is not None and apply_hunks(before, hunks, found) == now


# --- words --------------------------------------------------------------------------------


def test_what_the_agent_and_the_user_read() -> None:
    hunks = [
        ReviewHunk(0, 7, "line 1\n", "one\n", 1, 1),
        ReviewHunk(14, 28, "line 3\nline 4\n", "", 3, 4),
    ]
    partial = review_message("src/f.py", hunks, [True, False])
    assert partial.splitlines() == [
        "The user reviewed your edit of src/f.py hunk by hunk in their editor.",
        "Applied by the user (the file on disk has them now): hunk 1 (line 1).",
        "Refused (not applied): hunk 2 (lines 3-4).",
        "Read the file again before changing it further; do not redo the refused hunks "
        "unless the user asks.",
    ]
    none = review_message("src/f.py", hunks, [False, False])
    refused = "They refused all of it (hunk 1 (line 1), hunk 2 (lines 3-4)); the file is unchanged."
    assert refused in none
    assert hunk_preview(hunks[1]) == "- line 3\n- line 4"
