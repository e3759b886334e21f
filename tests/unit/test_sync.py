"""bridge.core.sync: which editors are synced, what an open buffer becomes, what a session diff
does to the workspace, and patch reversal."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bridge.core.file_changes import FileChange
from bridge.core.patch_applying import apply_file_patch
from bridge.core.patch_parsing import parse_patch
from bridge.core.sync import (
    SyncPlan,
    conflict_message,
    diff_entries,
    entry_patch,
    is_applied,
    last_user_message,
    latest_changing_message,
    map_path,
    merged_message,
    plan_sync,
    prompt_line,
    reverse_patch,
    session_changes,
    single_hunks,
    sync_mode,
    unified_diff,
)
from bridge.errors import EditRefused
from bridge.opencode.models import FileDiff, Message, file_diffs


def jsdiff(name: str, before: str, after: str, n: int = 3) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), name, name, n=n
    )
    return f"Index: {name}\n{'=' * 67}\n" + "".join(lines)


# --- which editors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "client", "document_changes", "mode"),
    [
        ("auto", "Neovim", True, "all"),
        ("auto", "helix", True, "all"),
        ("auto", "Eglot", True, "all"),
        ("auto", "emacs", True, "all"),
        ("auto", "", True, "all"),
        ("auto", "Visual Studio Code", True, "unsaved"),
        ("auto", "VSCodium", True, "unsaved"),
        ("auto", "Sublime Text LSP", True, "unsaved"),
        ("auto", "Kate", True, "off"),
        ("auto", "Neovim", False, "off"),
        ("on", "Kate", False, "all"),
        ("on", "Visual Studio Code", True, "all"),
        ("off", "Neovim", True, "off"),
    ],
)
def test_sync_mode_per_client(setting: str, client: str, document_changes: bool, mode: str) -> None:
    decided, why = sync_mode(setting, client, document_changes)
    assert decided == mode
    assert why


# --- what an open buffer becomes ----------------------------------------------------------

BASE = "a\n\n\nb\n\n\nc\n"


@pytest.mark.parametrize(
    ("base", "buffer", "disk", "mode", "plan"),
    [
        (BASE, BASE, BASE, "all", SyncPlan("current")),
        (BASE, BASE, BASE.replace("b", "B"), "all", SyncPlan("clean", BASE.replace("b", "B"))),
        (BASE, BASE, BASE.replace("b", "B"), "unsaved", SyncPlan("left")),
        (BASE, BASE.replace("a", "A"), BASE, "all", SyncPlan("current")),  # only the user's
        (
            BASE,
            BASE.replace("a", "A"),
            BASE.replace("c", "C"),
            "unsaved",
            SyncPlan("merged", BASE.replace("a", "A").replace("c", "C")),
        ),
        (BASE, BASE.replace("b", "X"), BASE.replace("b", "Y"), "all", SyncPlan("conflict")),
        (BASE, BASE.replace("b", "B"), BASE.replace("b", "B"), "all", SyncPlan("current")),
        (BASE, BASE, None, "all", SyncPlan("gone")),
        (None, "", "new\n", "all", SyncPlan("clean", "new\n")),  # a file that did not exist
        (None, "mine\n", "theirs\n", "all", SyncPlan("conflict")),
        # the agent added what the user had typed too, and more: merged once
        (BASE, "a\n\n\nb\n\n\nc\nd\n", "a\n\n\nb\n\n\nc\nd\n", "all", SyncPlan("current")),
    ],
)
def test_plan_sync(
    base: str | None, buffer: str, disk: str | None, mode: str, plan: SyncPlan
) -> None:
    assert plan_sync(base, buffer, disk, mode) == plan  # type: ignore[arg-type]


# --- paths --------------------------------------------------------------------------------


def test_map_path_takes_the_longest_prefix_on_whole_components() -> None:
    mapping = [("/srv", "/home/me/srv"), ("/srv/app/", "/home/me/app")]
    assert map_path("/srv/app/src/a.py", mapping) == "/home/me/app/src/a.py"
    assert map_path("/srv/apple/a.py", mapping) == "/home/me/srv/apple/a.py"
    assert map_path("/srv/app", mapping) == "/home/me/app"
    assert map_path("/elsewhere/a.py", mapping) == "/elsewhere/a.py"
    assert map_path("src/a.py", mapping) == "src/a.py"
    assert map_path("C:\\work\\a.py", [("C:\\work", "/mnt/c/work")]) == "/mnt/c/work\\a.py"


# --- session diffs ------------------------------------------------------------------------


def test_diff_entries_of_both_server_generations() -> None:
    raw = [
        {"file": "a.py", "patch": "p", "additions": 1, "deletions": 2, "status": "modified"},
        {"file": "b.py", "before": "x\n", "after": "y\n", "additions": True},
    ]
    assert diff_entries(map(FileDiff.from_wire, raw)) == [
        FileDiff("a.py", "p", None, None, "modified", 1, 2),
        FileDiff("b.py", None, "x\n", "y\n", None, 0, 0),
    ]
    assert file_diffs(None) == ()  # an empty answer
    assert file_diffs({"file": "a.py"}) is None  # the client calls this the server's fault


@pytest.mark.parametrize(
    "raw", [[{"patch": "p"}], [{"file": "", "patch": "p"}], [{"file": "a"}], [3]]
)
def test_malformed_session_diffs_are_refused(raw: list[object]) -> None:
    with pytest.raises(EditRefused):
        diff_entries(map(FileDiff.from_wire, raw))


def test_entry_patch_names_the_entry_file_and_its_status() -> None:
    entry = FileDiff("/w/new.py", jsdiff("new.py", "", "x\n"), status="added")
    patch = entry_patch(entry)
    assert patch is not None and (patch.old_path, patch.new_path) == (None, "/w/new.py")
    gone = FileDiff("/w/old.py", jsdiff("old.py", "x\n", ""), status="deleted")
    patch = entry_patch(gone)
    assert patch is not None and (patch.old_path, patch.new_path) == ("/w/old.py", None)
    two = jsdiff("a", "1\n", "2\n") + jsdiff("b", "1\n", "2\n")
    with pytest.raises(EditRefused, match="several files"):
        entry_patch(FileDiff("/w/a", two))


A = "one\ntwo\nthree\nfour\nfive\n"
A2 = A.replace("two", "TWO")


def test_session_changes_applies_skips_what_is_there_and_refuses_mismatches() -> None:
    entries = [
        FileDiff("/w/a", jsdiff("a", A, A2), status="modified"),
        FileDiff("/w/b", jsdiff("b", A, A2), status="modified"),
        FileDiff("/w/new", jsdiff("new", "", "x\n"), status="added"),
        FileDiff("/w/made", jsdiff("made", "", "x\n"), status="added"),
        FileDiff("/w/old", jsdiff("old", "x\n", ""), status="deleted"),
        FileDiff("/w/gone", jsdiff("gone", "x\n", ""), status="deleted"),
        FileDiff("/w/c", before="1\n", after="2\n"),
    ]
    texts = {"/w/a": A, "/w/b": A2, "/w/made": "x\n", "/w/old": "x\n", "/w/c": "2\n"}
    planned = session_changes(entries, texts.get)
    assert [(c.path, c.old, c.new) for c in planned.changes] == [
        ("/w/a", A, A2),
        ("/w/new", None, "x\n"),
        ("/w/old", "x\n", None),
    ]
    assert planned.already == ["/w/b", "/w/made", "/w/gone", "/w/c"]

    texts["/w/a"] = A.replace("three", "3")
    with pytest.raises(EditRefused, match="does not apply"):
        session_changes(entries, texts.get)


def test_session_changes_of_whole_contents_merge_unsaved_changes() -> None:
    entries = [FileDiff("/w/c", before="a\n\n\nb\n", after="a\n\n\nB\n")]
    planned = session_changes(entries, {"/w/c": "A\n\n\nb\n"}.get)
    assert planned.changes == [FileChange("/w/c", "A\n\n\nb\n", "A\n\n\nB\n")]


def test_session_changes_refuse_a_file_named_twice() -> None:
    entry = FileDiff("/w/a", jsdiff("a", A, A2))
    with pytest.raises(EditRefused, match="twice"):
        session_changes([entry, entry], {"/w/a": A}.get)


def test_a_created_file_that_exists_with_other_content_is_refused() -> None:
    entry = FileDiff("/w/n", jsdiff("n", "", "x\n"), status="added")
    with pytest.raises(EditRefused, match="already exists"):
        session_changes([entry], {"/w/n": "mine\n"}.get)


# --- patches ------------------------------------------------------------------------------

LINES = st.lists(st.sampled_from(["a\n", "b\n", "é😀\n", "x\r\n", "\n"]), max_size=30)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES, LINES, st.integers(0, 3))
def test_property_a_reversed_patch_undoes_it(a: list[str], b: list[str], context: int) -> None:
    old, new = "".join(a), "".join(b)
    assume(old != new)
    [patch] = parse_patch(jsdiff("f", old, new, context))
    assert apply_file_patch(apply_file_patch(old, patch), reverse_patch(patch)) == old
    assert apply_file_patch(new, reverse_patch(patch)) == old
    for single in single_hunks(patch):
        apply_file_patch(old, single)  # each hunk applies alone to the old text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ab\n", max_size=30), st.text(alphabet="ab\n", max_size=30))
def test_property_unified_diff_of_contents_applies(before: str, after: str) -> None:
    patches = parse_patch(unified_diff("f", before, after))
    if before == after:
        assert patches == []
        return
    [patch] = patches
    assert apply_file_patch(before, patch) == after


def test_is_applied_says_no_to_an_unapplied_patch() -> None:
    [patch] = parse_patch(jsdiff("f", A, A2))
    assert not is_applied(A, patch)
    assert is_applied(A2, patch)
    assert not is_applied(A.replace("three", "3"), patch)


# --- messages -----------------------------------------------------------------------------


def message(id_: str, role: str = "user", diffs: list[object] | None = None) -> dict[str, object]:
    info: dict[str, object] = {"id": id_, "role": role}
    if diffs is not None:
        info["summary"] = {"diffs": diffs}
    return {"info": info, "parts": [{"type": "text", "text": f"prompt {id_}\nmore"}]}


MESSAGES = [
    Message.from_wire(m)
    for m in (
        message("msg_1", diffs=[{"file": "a"}]),
        message("msg_2", role="assistant"),
        message("msg_3", diffs=[]),
        message("msg_4"),
    )
]


def test_which_message() -> None:
    assert latest_changing_message(MESSAGES) == "msg_1"
    assert latest_changing_message([Message.from_wire(message("msg_9"))]) == "msg_9"
    assert latest_changing_message([]) is None
    assert last_user_message(MESSAGES) == "msg_4"
    assert last_user_message(MESSAGES, before="msg_3") == "msg_1"
    assert last_user_message(MESSAGES, before="msg_1") is None
    assert prompt_line(MESSAGES[0]) == "prompt msg_1"
    long = Message.from_wire({"parts": [{"type": "text", "text": "x" * 100}]})
    assert prompt_line(long).endswith("…")


def test_path_map_setting() -> None:
    from bridge.core.settings import parse_settings

    settings, warnings = parse_settings({"pathMap": {"/srv/app": "/home/me/app"}}, {})
    assert settings.path_map == (("/srv/app", "/home/me/app"),) and warnings == []
    settings, warnings = parse_settings({"pathMap": {"/srv/app": 3}}, {})
    assert settings.path_map == ()
    assert warnings == [
        "OpenCode setting pathMap must be an object of server path to local path; keeping the "
        "default."
    ]


def test_neovim_takes_versioned_edits_it_does_not_advertise() -> None:
    # Neovim 0.10/0.11 applies documentChanges but leaves them out of its capabilities.
    from bridge.core.sync import sync_mode, takes_document_changes

    assert takes_document_changes("Neovim", advertised=False)
    assert not takes_document_changes("some-editor", advertised=False)
    assert sync_mode("auto", "Neovim", takes_document_changes("Neovim", False))[0] == "all"


def test_a_merge_says_whether_the_agent_changed_the_file_or_a_revert_or_unrevert_did() -> None:
    assert merged_message("src/a.py", "change") == (
        "OpenCode: merged the agent's change to src/a.py into your unsaved buffer "
        "(undo takes it out)."
    )
    reverted = merged_message("src/a.py", "revert")
    assert reverted.startswith("OpenCode: the revert undid the agent's change to src/a.py")
    assert "undo brings the agent's change back" in reverted and "merged" not in reverted
    unreverted = merged_message("src/a.py", "unrevert")
    assert unreverted.startswith("OpenCode: the unrevert brought the agent's change to src/a.py")
    assert "undo takes it out" in unreverted
    assert "OpenCode changed src/a.py on disk" in conflict_message("src/a.py", "change")
    assert "Saving it will write the agent's change back" in conflict_message("src/a.py", "revert")
    assert "Saving it will undo the change again" in conflict_message("src/a.py", "unrevert")
