"""Permission requests and questions -> what a person decides on, and answers -> replies."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from bridge.core import permission_views
from bridge.core.permission_views import (
    DiffStats,
    PermissionView,
    QuestionView,
    answer_title,
    check_answers,
    check_reply,
    diagnostic_message,
    diff_stats,
    line_in_buffer,
    line_span,
    permission_choice,
    question_choice,
    question_prompt,
    reconcile,
)
from bridge.errors import InvalidArgument
from bridge.opencode.models import Request, requests

ROOT = "/work/project"


def edit_diff(path: str, body: str, header: str) -> str:
    return (
        f"Index: {path}\n===================================================================\n"
        f"--- {path}\n+++ {path}\n{header}\n{body}"
    )


def permission(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "per_1",
        "sessionID": "ses_1",
        "permission": kind,
        "patterns": [],
        "metadata": {},
        "always": ["*"],
        **fields,
    }


def describe_permission(wire: dict[str, Any], root: str | None = None) -> PermissionView | None:
    """The view of a request as the server sends it."""
    request = Request.from_wire(wire)
    return None if request is None else permission_views.describe_permission(request, root)


def describe_question(wire: dict[str, Any]) -> QuestionView | None:
    request = Request.from_wire(wire)
    return None if request is None else permission_views.describe_question(request)


def view_of(request: dict[str, Any]) -> PermissionView:
    view = describe_permission(request, ROOT)
    assert view is not None
    return view


# --- diffs ----------------------------------------------------------------------------------------


def test_diff_stats_counts_lines_and_finds_the_first_change_in_a_full_context_hunk() -> None:
    # OpenCode 1.18.33 sends the whole file as context.
    diff = edit_diff(
        "/p/a.py",
        " import math\n \n def foo(x):\n-    return math.sqrt(x) + 42\n+    return 43\n"
        "+    # more\n \n \n def bar():\n     return foo(4)\n",
        "@@ -1,8 +1,9 @@",
    )
    assert diff_stats(diff) == DiffStats(additions=2, deletions=1, first_line=3, creates=False)


def test_removed_lines_that_look_like_headers_are_counted() -> None:
    diff = edit_diff("/p/a.sql", "--- a comment\n-- another\n+++ added\n x\n", "@@ -4,3 +4,2 @@")
    assert diff_stats(diff) == DiffStats(additions=1, deletions=2, first_line=3, creates=False)


def test_a_pure_insertion_points_at_the_line_it_goes_before() -> None:
    diff = edit_diff("/p/a.py", " a\n+b\n c\n", "@@ -10,2 +10,3 @@")
    assert diff_stats(diff).first_line == 10


def test_a_new_file_is_a_creation() -> None:
    diff = edit_diff("/p/new.txt", "+hello\n+world\n", "@@ -0,0 +1,2 @@")
    assert diff_stats(diff) == DiffStats(additions=2, deletions=0, first_line=0, creates=True)


def test_several_hunks_and_no_newline_markers() -> None:
    diff = edit_diff(
        "/p/a.py",
        "-a\n+A\n\\ No newline at end of file\n@@ -20 +20 @@\n-x\n+y\n",
        "@@ -5 +5 @@",
    )
    assert diff_stats(diff) == DiffStats(additions=2, deletions=2, first_line=4, creates=False)


def test_no_hunk_no_change() -> None:
    assert diff_stats("") == DiffStats(0, 0, None, False)
    assert diff_stats("Index: x\n--- x\n+++ x\n") == DiffStats(0, 0, None, False)


@given(st.lists(st.sampled_from([" ctx", "-old", "+new"]), min_size=1, max_size=30))
def test_counts_match_the_hunk_whatever_its_lines(lines: list[str]) -> None:
    old = sum(1 for line in lines if line[0] in " -")
    new = sum(1 for line in lines if line[0] in " +")
    start = 1 if old else 0  # an empty old range names the line it follows
    header = f"@@ -{start},{old} +1,{new} @@"
    diff = edit_diff("/p/f", "".join(line + "\n" for line in lines), header)
    stats = diff_stats(diff)
    assert stats.additions == sum(1 for line in lines if line[0] == "+")
    assert stats.deletions == sum(1 for line in lines if line[0] == "-")
    changed = [i for i, line in enumerate(lines) if line[0] != " "]
    if changed:
        assert stats.first_line == sum(1 for line in lines[: changed[0]] if line[0] == " ")


# --- what, where, how much ------------------------------------------------------------------------


def test_an_edit_says_which_file_and_how_much() -> None:
    diff = edit_diff(f"{ROOT}/src/a.py", " a\n-b\n+B\n+C\n+D\n c\n", "@@ -1,3 +1,5 @@")
    view = view_of(
        permission(
            "edit", patterns=["src/a.py"], metadata={"filepath": f"{ROOT}/src/a.py", "diff": diff}
        )
    )
    assert view.message == (
        "OpenCode wants to edit src/a.py (+3 \u22121)\n"
        "Allow always: every edit request, until OpenCode restarts."
    )
    assert view.headline == "OpenCode wants to edit src/a.py (+3 \u22121)"
    assert view.short == "edit src/a.py"
    assert view.actions == ("Allow once", "Allow always", "Reject", "Show diff")
    assert (view.file, view.line, view.diff) == (f"{ROOT}/src/a.py", 1, diff)


def test_a_new_file_is_a_creation_and_a_file_outside_keeps_its_absolute_path() -> None:
    diff = edit_diff("/tmp/new.txt", "+x\n", "@@ -0,0 +1,1 @@")
    view = view_of(permission("edit", metadata={"filepath": "/tmp/new.txt", "diff": diff}))
    assert view.headline == "OpenCode wants to create /tmp/new.txt (+1)"
    assert view.line is None


def test_an_edit_without_a_diff_offers_no_show_diff() -> None:
    view = view_of(permission("edit", patterns=["src/a.py"]))
    assert view.headline == "OpenCode wants to edit src/a.py"
    assert view.actions == ("Allow once", "Allow always", "Reject")


def test_a_command_is_quoted_on_one_shortened_line() -> None:
    view = view_of(
        permission(
            "bash", patterns=["rm -rf build"], metadata={"command": "rm -rf build"}, always=["rm *"]
        )
    )
    assert view.message == (
        "OpenCode wants to run: rm -rf build\nAllow always: rm *, until OpenCode restarts."
    )
    assert view.short == "run: rm -rf build"
    assert view.actions == ("Allow once", "Allow always", "Reject")
    assert view.file is None

    long = "make \\\n  " + "x" * 500
    view = view_of(permission("bash", metadata={"command": long}))
    assert view.headline.startswith("OpenCode wants to run: make \\ xxx")
    assert view.headline.endswith("\u2026") and len(view.headline) < 250
    assert len(view.short) <= 60


def test_leaving_the_project() -> None:
    read = view_of(
        permission(
            "external_directory",
            patterns=["/etc/*"],
            metadata={"filepath": "/etc/hostname", "parentDir": "/etc"},
            always=["/etc/*"],
        )
    )
    assert read.message == (
        "OpenCode wants to read outside the project: /etc\n"
        "Allow always: /etc/*, until OpenCode restarts."
    )
    command = view_of(
        permission(
            "external_directory",
            patterns=["/var/*"],
            metadata={"command": "cd /var && ls", "directories": ["/var"]},
        )
    )
    assert command.headline == (
        "OpenCode wants to work outside the project: /var (to run: cd /var && ls)"
    )


def test_apply_patch_with_one_and_several_files() -> None:
    one = view_of(
        permission(
            "apply_patch",
            metadata={
                "files": [
                    {
                        "filePath": f"{ROOT}/src/a.py",
                        "relativePath": "src/a.py",
                        "type": "update",
                        "patch": "@@ -2,1 +2,1 @@\n-a\n+b\n",
                        "additions": 1,
                        "deletions": 1,
                    }
                ]
            },
        )
    )
    assert one.headline == "OpenCode wants to edit src/a.py (+1 \u22121)"
    assert (one.file, one.line) == (f"{ROOT}/src/a.py", 1)
    assert "Show diff" in one.actions

    files = [
        {
            "filePath": f"{ROOT}/a.py",
            "relativePath": "a.py",
            "type": "update",
            "patch": "p1",
            "additions": 3,
            "deletions": 1,
        },
        {
            "filePath": f"{ROOT}/b.py",
            "relativePath": "b.py",
            "type": "add",
            "patch": "p2",
            "additions": 10,
            "deletions": 0,
        },
        {
            "filePath": f"{ROOT}/c.py",
            "relativePath": "c.py",
            "type": "delete",
            "patch": "p3",
            "additions": 0,
            "deletions": 7,
        },
        {
            "filePath": f"{ROOT}/d.py",
            "relativePath": "d.py",
            "type": "move",
            "patch": "p4",
            "additions": 0,
            "deletions": 0,
            "movePath": f"{ROOT}/e.py",
        },
    ]
    several = view_of(permission("apply_patch", metadata={"files": files}))
    assert several.headline == (
        "OpenCode wants to change 4 files (+13 \u22128): a.py, b.py, c.py and 1 more"
    )
    assert several.short == "change 4 files"
    assert several.diff == "p1\np2\np3\np4"

    moved = view_of(permission("apply_patch", metadata={"files": files[3:]}))
    assert moved.headline == "OpenCode wants to move d.py to e.py (+0 \u22120)"
    deleted = view_of(permission("apply_patch", metadata={"files": files[2:3]}))
    assert deleted.headline == "OpenCode wants to delete c.py"


@pytest.mark.parametrize(
    ("kind", "fields", "headline"),
    [
        (
            "webfetch",
            {"metadata": {"url": "https://example.com"}},
            "OpenCode wants to fetch https://example.com",
        ),
        (
            "websearch",
            {"metadata": {"query": "pygls"}},
            "OpenCode wants to search the web for: pygls",
        ),
        (
            "task",
            {"metadata": {"subagent_type": "general", "description": "Find bugs"}},
            "OpenCode wants to start the general subagent: Find bugs",
        ),
        (
            "doom_loop",
            {"metadata": {"tool": "bash"}},
            "OpenCode wants to call bash again with the same input (it may be stuck)",
        ),
        ("skill", {"patterns": ["pdf"]}, "OpenCode wants to load the skill pdf"),
        ("read", {"patterns": [f"{ROOT}/.env"]}, "OpenCode wants to read .env"),
        ("grep", {"patterns": ["TODO"]}, "OpenCode wants to search for TODO"),
        (
            "teleport",
            {"patterns": ["mars", "venus"]},
            "OpenCode asks permission for teleport: mars, venus",
        ),
        ("teleport", {}, "OpenCode asks permission for teleport"),
    ],
)
def test_other_kinds_say_what_they_are(kind: str, fields: dict[str, Any], headline: str) -> None:
    assert view_of(permission(kind, **fields)).headline == headline


def test_malformed_requests_are_not_views() -> None:
    assert describe_permission({"permission": "bash"}) is None
    assert describe_permission({"id": "per_1"}) is None
    view = view_of({"id": "per_1", "sessionID": "ses_1", "metadata": "junk", "patterns": 3})
    assert view.headline == "OpenCode asks permission for unknown"
    assert view.message == view.headline  # no "always" list, no note about it


# --- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ("Allow once", "Allow once"),
        ({"title": "Reject"}, "Reject"),
        ({"title": "Reject", "extra": 1}, "Reject"),  # Neovim sends the whole item back
        (types.MessageActionItem(title="Allow always"), "Allow always"),
        (None, None),
        ({}, None),  # Kate, dismissed
        ({"title": 3}, None),
        ([], None),
    ],
)
def test_answer_title(answer: Any, title: str | None) -> None:
    assert answer_title(answer) == title


def test_only_an_offered_title_is_a_choice() -> None:
    bash = view_of(permission("bash", metadata={"command": "ls"}))
    assert permission_choice({"title": "Allow once"}, bash) == "once"
    assert permission_choice({"title": "Allow always"}, bash) == "always"
    assert permission_choice({"title": "Reject"}, bash) == "reject"
    for answer in (None, {}, {"title": "allow once"}, {"title": "Show diff"}, "Yes", 1):
        assert permission_choice(answer, bash) is None  # not answered: stays pending
    diff = edit_diff("/p/a", "-a\n+b\n", "@@ -1 +1 @@")
    edit = view_of(permission("edit", metadata={"filepath": "/p/a", "diff": diff}))
    assert permission_choice({"title": "Show diff"}, edit) == "diff"


def test_check_reply() -> None:
    assert [check_reply(r) for r in ("once", "always", "reject")] == ["once", "always", "reject"]
    for bad in ("Once", "allow", None, 1):
        with pytest.raises(InvalidArgument, match="'reply'"):
            check_reply(bad)


# --- questions ------------------------------------------------------------------------------------

QUESTIONS = {
    "id": "que_1",
    "sessionID": "ses_1",
    "questions": [
        {
            "question": "Which database?",
            "header": "Database",
            "options": [
                {"label": "Postgres", "description": "A server"},
                {"label": "SQLite", "description": ""},
            ],
            "custom": False,
        },
        {
            "question": "Which features?",
            "header": "Features",
            "multiple": True,
            "options": [
                {"label": "Auth", "description": "Log in"},
                {"label": "Billing", "description": "Pay"},
            ],
        },
    ],
}


def question_view(request: dict[str, Any] = QUESTIONS) -> QuestionView:
    view = describe_question(request)
    assert view is not None
    return view


def test_a_question_becomes_one_prompt_per_question() -> None:
    view = question_view()
    assert view.message == (
        "OpenCode asks 2 questions:\n1. Which database? (Postgres, SQLite)\n"
        "2. Which features? (Auth, Billing)"
    )
    assert view.short == "Which database?"
    assert question_prompt(view, 0) == (
        "OpenCode asks (1/2): Database: Which database?\nPostgres: A server",
        ("Postgres", "SQLite", "Dismiss"),
    )
    assert question_prompt(view, 1) == (
        "OpenCode asks (2/2): Features: Which features?\nAuth: Log in\nBilling: Pay\n"
        "(several choices or an answer of your own: opencode.question.reply)",
        ("Auth", "Billing", "Dismiss"),
    )


def test_one_question_without_header_or_options() -> None:
    view = question_view(
        {
            "id": "que_2",
            "sessionID": "ses_1",
            "questions": [{"question": "Why?", "header": "Why?", "options": []}],
        }
    )
    assert view.message == "OpenCode asks: Why?"
    assert question_prompt(view, 0) == (
        "OpenCode asks: Why?\n(an answer of your own: opencode.question.reply)",
        ("Dismiss",),
    )


def test_an_option_called_dismiss_does_not_hide_the_explicit_dismissal() -> None:
    view = question_view(
        {
            "id": "que_3",
            "sessionID": "ses_1",
            "questions": [
                {
                    "question": "What now?",
                    "header": "",
                    "options": [{"label": "Dismiss", "description": ""}, {"label": "Dismiss"}],
                }
            ],
        }
    )
    assert question_prompt(view, 0)[1] == ("Dismiss", "Dismiss the question")
    assert question_choice({"title": "Dismiss"}, view, 0) == ("answer", "Dismiss")
    assert question_choice({"title": "Dismiss the question"}, view, 0) == ("dismiss", None)


def test_question_choices() -> None:
    view = question_view()
    assert question_choice({"title": "SQLite"}, view, 0) == ("answer", "SQLite")
    assert question_choice("Dismiss", view, 1) == ("dismiss", None)
    for answer in (None, {}, {"title": "Auth"}, {"title": "sqlite"}):
        assert question_choice(answer, view, 0) is None  # Auth is question 2's option


def test_malformed_questions_are_not_views() -> None:
    assert describe_question({"id": "que_1", "sessionID": "ses_1", "questions": []}) is None
    assert describe_question({"id": "que_1", "questions": QUESTIONS["questions"]}) is None
    assert describe_question({"id": "que_1", "sessionID": "s", "questions": ["x", 1]}) is None


def test_check_answers_resolves_labels_and_keeps_own_answers() -> None:
    view = question_view()
    assert check_answers([["sqlite"], ["AUTH", "Reports too"]], view) == [
        ["SQLite"],
        ["Auth", "Reports too"],
    ]
    assert check_answers(["Postgres", "my own words"], view) == [["Postgres"], ["my own words"]]
    assert check_answers([["a"], "b"], None) == [["a"], ["b"]]  # unknown question: as given


@pytest.mark.parametrize(
    ("answers", "argument", "problem"),
    [
        (None, "answers", "one answer per question"),
        ([], "answers", "one answer per question"),
        ("Postgres", "answers", "one answer per question"),
        ([["Postgres"]], "answers", "expected 2 answers"),
        ([["Postgres", "SQLite"], ["Auth"]], "answers[0]", "takes one answer"),
        ([["MySQL"], ["Auth"]], "answers[0]", "'MySQL' is not an option"),
        ([["Postgres"], []], "answers[1]", "at least one"),
        ([["Postgres"], ["  "]], "answers[1]", "at least one"),
        ([["Postgres"], [1]], "answers[1]", "option labels"),
        ([["Postgres"], {"a": 1}], "answers[1]", "option labels"),
    ],
)
def test_check_answers_names_what_is_wrong(answers: Any, argument: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_answers(answers, question_view())
    assert raised.value.argument == argument
    assert problem in str(raised.value)


# --- the fallback ---------------------------------------------------------------------------------


def test_diagnostic_message_and_line_span() -> None:
    assert diagnostic_message("OpenCode wants to run: ls", "opencode.permission.reply") == (
        "OpenCode wants to run: ls\n"
        "Answer with a quick fix (code action), or the command opencode.permission.reply."
    )
    lines = ["import math\n", "\n", "def foo():\r\n"]
    assert line_span(0, lines) == (0, 11)
    assert line_span(2, lines) == (2, 10)
    assert line_span(99, lines) == (2, 10)  # the file got shorter: the last line
    assert line_span(-1, lines) == (0, 11)
    assert line_span(5, []) == (0, 0)


def test_reconcile_shows_each_request_once_and_withdraws_the_gone() -> None:
    fetched = [
        {"id": "per_shown", "sessionID": "ses_busy"},
        {"id": "per_new", "sessionID": "ses_busy"},
        {"id": "per_orphan", "sessionID": "ses_aborted"},  # 1.18.33 keeps these after abort
        {"id": "per_closed", "sessionID": "ses_busy"},
        {"sessionID": "ses_busy"},
        "junk",
    ]
    typed = requests(fetched + [{"id": "per_idle", "sessionID": "ses_aborted"}])
    assert typed is not None and len(typed) == 5  # the two without an id are no requests
    result = reconcile(
        shown=["per_shown", "per_answered", "per_idle"],
        fetched=typed,
        busy_sessions=["ses_busy"],
        closed=["per_closed"],
    )
    assert [item.id for item in result.new] == ["per_new"]
    assert result.gone == {"per_answered", "per_idle"}


def test_an_answer_that_is_not_a_list_is_unknown_not_nothing_pending() -> None:
    # None: the refetch changes nothing (an empty list would withdraw every shown request)
    assert requests({"error": "x"}) is None
    assert requests([]) == ()


def test_a_reject_says_what_was_rejected_and_that_the_agent_was_told() -> None:
    from bridge.core.permission_views import rejected_message

    plain = rejected_message("run: touch x.txt", None)
    assert "rejected “run: touch x.txt”" in plain and "agent was told" in plain
    assert "stops" in plain
    with_feedback = rejected_message("edit src/a.py", "use 44")
    assert "edit src/a.py" in with_feedback and "with your feedback" in with_feedback
    assert "stops" not in with_feedback


def test_a_queued_prompt_names_the_waiting_request_and_where_it_is() -> None:
    from bridge.core.permission_views import queued_message

    message = queued_message("OpenCode wants to edit src/a.py (+1 −1)", "src/a.py:4")
    assert "queued your prompt" in message
    assert "“OpenCode wants to edit src/a.py (+1 −1)” at src/a.py:4" in message
    assert " at " not in queued_message("OpenCode asks: Which?", "")


DISK = "import math\n\ndef foo(x):\n    return math.sqrt(x) + 42\n"


def test_the_diff_line_is_moved_to_where_the_unsaved_buffer_shows_it() -> None:
    shifted = "# one\n# two\n" + DISK  # two unsaved lines typed at the top
    assert line_in_buffer(3, DISK, shifted) == 5
    assert line_in_buffer(3, DISK, DISK) == 3  # saved: the same line
    assert line_in_buffer(3, None, shifted) == 3  # the disk unreadable: the diff's line
    below = DISK + "# typed below\n"
    assert line_in_buffer(3, DISK, below) == 3
    edited = DISK.replace("+ 42", "+ 41")  # the user edited the very line: still that line
    assert line_in_buffer(3, DISK, "# one\n" + edited) == 4
    removed = DISK.replace("import math\n\n", "")  # lines above deleted
    assert line_in_buffer(3, DISK, removed) == 1
