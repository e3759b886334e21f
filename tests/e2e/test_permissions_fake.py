"""Permission requests and questions against the scripted fake server: the editors that cannot
answer a prompt (MethodNotFound, null, {}), answers from elsewhere, outages, faults and bad
input — the cases a real server cannot be made to produce on demand.

src/a.py in the test repository (0-based line numbers):
    0 import math
    1
    2 def foo(x):
    3     return math.sqrt(x) + 42
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcMethodNotFound

from tests.e2e.conftest import ConnectFake
from tests.support.fake_opencode import FakeOpenCode, RecordedRequest, event
from tests.support.lsp import (
    EditorClient,
    code_actions,
    execute,
    hold_message_requests,
    line_range,
    open_file,
)

Connect = Callable[..., Awaitable[EditorClient]]

EDIT_MESSAGE = "OpenCode wants to edit src/a.py (+2 \u22121)"
BASH_MESSAGE = "OpenCode wants to run: rm -rf build"
PERMISSION_TITLES = ["Allow once", "Allow always", "Reject"]


@pytest.fixture
def connect(connect_fake: ConnectFake, fake: FakeOpenCode) -> Connect:
    """``await connect(answer)``: an editor on the bridge, connected to the fake, that answers
    every prompt with ``answer(params)`` (a title, None, {}, or an exception to raise)."""

    async def start(answer: Callable[[Any], Any] = lambda params: None) -> EditorClient:
        editor = await connect_fake(answer=answer)
        await fake.wait_for_request_async("GET", "/question", timeout=10)  # refetched
        return editor

    return start


def busy_session(fake: FakeOpenCode) -> str:
    """A session whose run is going on (a request of an idle session is an orphan)."""
    session_id = str(fake.create_session()["id"])
    fake.publish(event("session.status", sessionID=session_id, status={"type": "busy"}))
    return session_id


def ask_edit(fake: FakeOpenCode, repo: Path, session_id: str) -> str:
    path = repo / "src/a.py"
    diff = (
        f"Index: {path}\n"
        "===================================================================\n"
        f"--- {path}\n+++ {path}\n"
        "@@ -3,2 +3,3 @@\n"
        " def foo(x):\n"
        "-    return math.sqrt(x) + 42\n"
        "+    return math.sqrt(x) + 43\n"
        "+    # more\n"
    )
    return fake.ask_permission(
        session_id,
        "edit",
        patterns=["src/a.py"],
        metadata={"filepath": str(path), "diff": diff},
        always=["*"],
    )


def ask_bash(fake: FakeOpenCode, session_id: str, command: str = "rm -rf build") -> str:
    return fake.ask_permission(
        session_id,
        "bash",
        patterns=[command],
        metadata={"command": command},
        always=[command.split()[0] + " *"],
    )


async def elsewhere(fake: FakeOpenCode, path: str, body: Any = None) -> Any:
    """A request from another client (the TUI, another editor) straight to the server."""
    async with httpx.AsyncClient(base_url=fake.url) as client:
        response = await client.post(path, json=body)
        response.raise_for_status()
        return response.json()


def uri_of(path: Path) -> str:
    return path.as_uri()


async def touch(editor: EditorClient, path: Path) -> str:
    """Open ``path`` and wait until the bridge has seen it (its last touched document)."""
    uri = open_file(editor, path)
    await execute(editor, "opencode.permission.list")  # answered after didOpen is handled
    return uri


def replies(fake: FakeOpenCode, request_id: str) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if r.method == "POST" and r.path in (f"/permission/{request_id}/reply",)
    ]


def question_posts(fake: FakeOpenCode, request_id: str) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if r.method == "POST" and r.path.startswith(f"/question/{request_id}/")
    ]


def ours(editor: EditorClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in editor.diagnostics.get(uri, []) if d.source == "opencode"]


def pending_ids(fake: FakeOpenCode) -> set[str]:
    return {p["id"] for p in fake.pending_permissions}


async def run_fix(editor: EditorClient, action: types.CodeAction) -> Any:
    assert action.command is not None
    return await execute(editor, action.command.command, *(action.command.arguments or []))


async def quick_fixes(
    editor: EditorClient, uri: str, line: int, diagnostics: list[types.Diagnostic] | None = None
) -> list[types.CodeAction]:
    """The quick fixes on ``line`` (other features offer other kinds of actions there)."""
    actions = await code_actions(editor, uri, line_range(line, line), diagnostics)
    return [a for a in actions if a.kind == types.CodeActionKind.QuickFix]


def fix_titled(actions: list[types.CodeAction], prefix: str) -> types.CodeAction:
    [found] = [a for a in actions if a.title.startswith(prefix)]
    return found


# --- the prompt -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "reply"), [("Allow once", "once"), ("Allow always", "always"), ("Reject", "reject")]
)
async def test_the_prompt_says_what_and_how_much_and_the_choice_reaches_opencode(
    connect: Connect, fake: FakeOpenCode, repo: Path, title: str, reply: str
) -> None:
    editor = await connect(lambda params: title)
    request_id = ask_edit(fake, repo, busy_session(fake))

    await editor.wait_for(lambda: replies(fake, request_id), 10, "the reply")
    [prompt] = editor.message_requests
    assert prompt.message.split("\n") == [
        EDIT_MESSAGE,
        "Allow always: every edit request, until OpenCode restarts.",
    ]
    assert [a.title for a in prompt.actions or []] == [*PERMISSION_TITLES, "Show diff"]
    assert prompt.type == types.MessageType.Warning
    assert replies(fake, request_id)[0].body == {"reply": reply}
    assert request_id not in pending_ids(fake)
    # While it was pending it was also a diagnostic on the changed line; now it is withdrawn.
    await editor.wait_for(lambda: ours(editor, uri_of(repo / "src/a.py")) == [], 10, "withdrawn")
    assert editor.shown(types.MessageType.Error) == []


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda p: None, id="dismissed (null)"),
        pytest.param(lambda p: {}, id="Kate's {}"),
        pytest.param(lambda p: "Something else", id="a title never offered"),
        pytest.param(lambda p: JsonRpcInternalError(message="boom"), id="an error"),
        pytest.param(lambda p: JsonRpcMethodNotFound(), id="MethodNotFound (Helix)"),
    ],
)
async def test_no_answer_never_approves_and_the_request_stays_answerable(
    connect: Connect, fake: FakeOpenCode, repo: Path, answer: Callable[[Any], Any]
) -> None:
    editor = await connect(answer)
    request_id = ask_edit(fake, repo, busy_session(fake))
    uri = uri_of(repo / "src/a.py")

    told = await editor.wait_for(
        lambda: [m for m in editor.shown(types.MessageType.Info) if "waiting" in m], 10, "a hint"
    )
    assert told == [
        f"{EDIT_MESSAGE} — OpenCode is waiting for your answer: use the OpenCode quick fix on "
        "src/a.py:4, or opencode.permission.reply."
    ]
    assert pending_ids(fake) == {request_id} and replies(fake, request_id) == []
    [diagnostic] = ours(editor, uri)
    assert diagnostic.range == types.Range(
        start=types.Position(3, 0), end=types.Position(3, len("    return math.sqrt(x) + 42"))
    )
    assert diagnostic.message.startswith(EDIT_MESSAGE + "\n")
    assert diagnostic.code == request_id and diagnostic.severity == types.DiagnosticSeverity.Warning

    # Still answerable here: the user approves later through the command.
    await execute(editor, "opencode.permission.reply", {"id": request_id, "reply": "once"})
    await editor.wait_for(lambda: replies(fake, request_id), 10, "the reply")
    assert replies(fake, request_id)[0].body == {"reply": "once"}


async def test_an_editor_that_never_answers_stops_nothing_else(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    held = hold_message_requests(editor)
    session_id = busy_session(fake)
    first = ask_edit(fake, repo, session_id)
    await editor.wait_for(lambda: held.open, 10, "the first prompt")
    await touch(editor, repo / "src/b.py")
    second = ask_bash(fake, busy_session(fake))  # another run: a reject there leaves `first`

    # The second request is not prompted while the first prompt is open, but it is visible and
    # answerable, and the bridge answers commands.
    b_uri = uri_of(repo / "src/b.py")
    await editor.wait_for(lambda: ours(editor, b_uri), 10, "the second diagnostic")
    listed = await execute(editor, "opencode.permission.list")
    assert [item["id"] for item in listed] == [first, second]
    reject = fix_titled(await quick_fixes(editor, b_uri, 0), "OpenCode: Reject")
    await run_fix(editor, reject)
    await editor.wait_for(lambda: replies(fake, second), 10, "the reply")
    assert replies(fake, second)[0].body == {"reply": "reject"}
    assert pending_ids(fake) == {first} and replies(fake, first) == []
    assert len(held.open) == 1
    held.dismiss_all()


# --- the fallback: quick fixes and the command ----------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda p: JsonRpcMethodNotFound(), id="MethodNotFound"),
        pytest.param(lambda p: None, id="null"),
    ],
)
async def test_approve_and_reject_through_the_quick_fixes(
    connect: Connect, fake: FakeOpenCode, repo: Path, answer: Callable[[Any], Any]
) -> None:
    editor = await connect(answer)
    b_uri = await touch(editor, repo / "src/b.py")  # the document the user last touched
    session_id = busy_session(fake)
    edit = ask_edit(fake, repo, session_id)
    bash = ask_bash(fake, session_id)
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: ours(editor, a_uri) and ours(editor, b_uri), 10, "diagnostics")

    # The edit is marked on the changed line of a.py (not open), and, so the user sees it
    # where they are, on the first line of b.py, where the command's request is too.
    on_a = await quick_fixes(editor, a_uri, 3, list(ours(editor, a_uri)))
    assert [a.title for a in on_a] == [
        "OpenCode: Allow once — edit src/a.py",
        "OpenCode: Allow always — edit src/a.py",
        "OpenCode: Reject — edit src/a.py",
        "OpenCode: Show diff — edit src/a.py",
    ]
    assert {d.code for d in ours(editor, b_uri)} == {edit, bash}
    on_b = await quick_fixes(editor, b_uri, 0)
    assert "OpenCode: Reject — run: rm -rf build" in [a.title for a in on_b]

    await run_fix(editor, fix_titled(on_a, "OpenCode: Allow once"))
    await run_fix(editor, fix_titled(on_b, "OpenCode: Reject — run"))
    await editor.wait_for(lambda: replies(fake, edit) and replies(fake, bash), 10, "replies")
    assert replies(fake, edit)[0].body == {"reply": "once"}
    assert replies(fake, bash)[0].body == {"reply": "reject"}
    await editor.wait_for(
        lambda: ours(editor, a_uri) == [] and ours(editor, b_uri) == [], 10, "withdrawn"
    )
    assert await execute(editor, "opencode.permission.list") == []


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda p: JsonRpcMethodNotFound(), id="MethodNotFound"),
        pytest.param(lambda p: None, id="null"),
    ],
)
async def test_approve_and_reject_with_feedback_through_the_command(
    connect: Connect, fake: FakeOpenCode, repo: Path, answer: Callable[[Any], Any]
) -> None:
    editor = await connect(answer)
    await touch(editor, repo / "src/b.py")
    session_id = busy_session(fake)
    edit = ask_edit(fake, repo, session_id)
    bash = ask_bash(fake, session_id)
    await editor.wait_for(lambda: len(editor.diagnostics) >= 2, 10, "diagnostics")

    assert await execute(editor, "opencode.permission.reply", {"id": edit, "reply": "always"}) == {
        "id": edit,
        "reply": "always",
    }
    await execute(
        editor,
        "opencode.permission.reply",
        {"id": bash, "reply": "reject", "message": "Use `make clean` instead."},
    )
    await editor.wait_for(lambda: replies(fake, edit) and replies(fake, bash), 10, "replies")
    assert replies(fake, edit)[0].body == {"reply": "always"}
    assert replies(fake, bash)[0].body == {
        "reply": "reject",
        "message": "Use `make clean` instead.",
    }
    if isinstance(answer(None), JsonRpcMethodNotFound):  # not asked again after MethodNotFound
        assert len(editor.message_requests) == 1


async def test_the_list_shows_every_pending_request(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    b_uri = await touch(editor, repo / "src/b.py")
    session_id = busy_session(fake)
    edit = ask_edit(fake, repo, session_id)
    bash = ask_bash(fake, session_id)
    await editor.wait_for(lambda: len(ours(editor, b_uri)) == 2, 10, "diagnostics")

    assert await execute(editor, "opencode.permission.list") == [
        {
            "id": edit,
            "sessionID": session_id,
            "message": EDIT_MESSAGE
            + "\nAllow always: every edit request, until OpenCode restarts.",
            "permission": "edit",
            "patterns": ["src/a.py"],
            "always": ["*"],
            "uri": uri_of(repo / "src/a.py"),
            "line": 3,
        },
        {
            "id": bash,
            "sessionID": session_id,
            "message": BASH_MESSAGE + "\nAllow always: rm *, until OpenCode restarts.",
            "permission": "bash",
            "patterns": ["rm -rf build"],
            "always": ["rm *"],
            "uri": b_uri,
            "line": 0,
        },
    ]


# --- answered elsewhere, the run ending, reconnects -----------------------------------------------


async def test_an_answer_from_another_client_withdraws_the_prompt_and_the_diagnostic(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    held = hold_message_requests(editor)
    session_id = busy_session(fake)
    request_id = ask_edit(fake, repo, session_id)
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: held.open and ours(editor, a_uri), 10, "prompt and diagnostic")

    # The TUI (or another editor) answers.
    assert await elsewhere(fake, f"/permission/{request_id}/reply", {"reply": "once"}) is True
    await editor.wait_for(lambda: ours(editor, a_uri) == [], 10, "the diagnostic withdrawn")
    await editor.wait_for(lambda: held.withdrawn == 1, 10, "the prompt withdrawn")
    assert await execute(editor, "opencode.permission.list") == []

    # The user's late answer in this editor sends nothing: the next prompt can only come once
    # the first prompt's task is over, so by then a second reply would have been sent.
    held.answer(0, "Reject")
    ask_bash(fake, session_id)
    await editor.wait_for(lambda: len(held.open) == 2, 10, "the next prompt")
    assert len(replies(fake, request_id)) == 1  # the other client's
    held.dismiss_all()


@pytest.mark.parametrize("how", ["session.idle", "status idle", "session.error", "abort"])
async def test_the_run_ending_withdraws_its_requests(
    connect: Connect, fake: FakeOpenCode, repo: Path, how: str
) -> None:
    editor = await connect()
    session_id = busy_session(fake)
    other_session = busy_session(fake)
    request_id = ask_edit(fake, repo, session_id)
    await touch(editor, repo / "src/b.py")
    other = ask_bash(fake, other_session)
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: ours(editor, a_uri), 10, "the diagnostic")

    if how == "session.idle":
        fake.publish(event("session.idle", sessionID=session_id))
    elif how == "status idle":
        fake.publish(event("session.status", sessionID=session_id, status={"type": "idle"}))
    elif how == "session.error":
        fake.publish(
            event(
                "session.error",
                sessionID=session_id,
                error={"name": "MessageAbortedError", "data": {"message": "Aborted"}},
            )
        )
    else:
        await elsewhere(fake, f"/session/{session_id}/abort")

    await editor.wait_for(lambda: ours(editor, a_uri) == [], 10, "withdrawn")
    listed = await execute(editor, "opencode.permission.list")
    assert [item["id"] for item in listed] == [other]  # another run's request stays
    assert replies(fake, request_id) == []
    with pytest.raises(JsonRpcInvalidParams, match="no pending permission has this id"):
        await execute(editor, "opencode.permission.reply", {"id": request_id, "reply": "once"})


async def test_a_reconnect_loses_nothing_and_shows_nothing_twice(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    await touch(editor, repo / "src/b.py")
    session_id = busy_session(fake)
    before = ask_edit(fake, repo, session_id)
    await editor.wait_for(lambda: len(editor.message_requests) == 1, 10, "the first prompt")

    fake.stop()
    await editor.wait_for(
        lambda: any(s["state"] == "disconnected" for s in editor.statuses), 10, "disconnected"
    )
    during = ask_bash(fake, session_id)  # nobody hears the event: only GET /permission has it
    idle_session = str(fake.create_session()["id"])
    ask_bash(fake, idle_session, "echo orphan")  # an aborted run's leftover: not shown
    question = fake.ask_question(session_id)
    fake.clear_requests()
    fake.start()

    await editor.wait_for(lambda: len(editor.message_requests) == 3, 10, "the missed requests")
    messages = [m.message.split("\n")[0] for m in editor.message_requests]
    assert messages == [EDIT_MESSAGE, BASH_MESSAGE, "OpenCode asks: Continue: Go on?"]
    listed = await execute(editor, "opencode.permission.list")
    assert [item["id"] for item in listed] == [before, during]
    assert [q["id"] for q in await execute(editor, "opencode.question.list")] == [question]

    # A second outage: everything is still pending, and nothing is asked again.
    fake.stop()
    fake.start()
    await editor.wait_for(
        lambda: editor.shown().count("Reconnected to OpenCode.") == 2, 10, "the second reconnect"
    )
    await fake.wait_for_request_async("GET", "/question", timeout=10)
    await fake.wait_for_request_async("GET", "/question", timeout=10)
    assert len(editor.message_requests) == 3
    assert len(await execute(editor, "opencode.permission.list")) == 2


async def test_a_request_answered_during_an_outage_is_withdrawn_after_it(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    request_id = ask_edit(fake, repo, busy_session(fake))
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: ours(editor, a_uri), 10, "the diagnostic")

    fake.fail("GET", "/event", 503)  # the event stream stays away; the rest of the API works
    fake.disconnect_streams()
    await editor.wait_for(
        lambda: any(s["state"] == "disconnected" for s in editor.statuses), 10, "disconnected"
    )
    await elsewhere(fake, f"/permission/{request_id}/reply", {"reply": "reject"})
    assert ours(editor, a_uri)  # nothing told the bridge yet
    fake.clear_faults()

    await editor.wait_for(lambda: ours(editor, a_uri) == [], 10, "withdrawn after reconnecting")
    assert await execute(editor, "opencode.permission.list") == []


async def test_two_requests_at_once_are_asked_one_after_the_other_and_both_answered(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    held = hold_message_requests(editor)
    session_id = busy_session(fake)
    edit = ask_edit(fake, repo, session_id)
    bash = ask_bash(fake, session_id)
    await editor.wait_for(lambda: held.open, 10, "the first prompt")
    assert len(held.open) == 1  # one prompt at a time: editors stack them badly

    held.answer(0, "Allow once")
    await editor.wait_for(lambda: len(held.open) == 2, 10, "the second prompt")
    assert held.open[1][0].message.startswith(BASH_MESSAGE)
    held.answer(1, "Allow always")
    await editor.wait_for(lambda: replies(fake, edit) and replies(fake, bash), 10, "replies")
    assert replies(fake, edit)[0].body == {"reply": "once"}
    assert replies(fake, bash)[0].body == {"reply": "always"}


# --- faults ---------------------------------------------------------------------------------------


async def test_a_stale_reply_404_is_quiet(connect: Connect, fake: FakeOpenCode, repo: Path) -> None:
    editor = await connect()
    request_id = ask_edit(fake, repo, busy_session(fake))
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: ours(editor, a_uri), 10, "the diagnostic")
    fake.fail(
        "POST",
        f"/permission/{request_id}/reply",
        404,
        times=1,
        body={
            "_tag": "PermissionNotFoundError",
            "requestID": request_id,
            "message": f"Permission request not found: {request_id}",
        },
    )

    await execute(editor, "opencode.permission.reply", {"id": request_id, "reply": "once"})
    await editor.wait_for(lambda: ours(editor, a_uri) == [], 10, "withdrawn")
    assert editor.shown(types.MessageType.Error) == []


async def test_a_failed_reply_is_told_and_the_request_stays_answerable(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    request_id = ask_edit(fake, repo, busy_session(fake))
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: ours(editor, a_uri), 10, "the diagnostic")
    fake.fail("POST", f"/permission/{request_id}/reply", 500, times=1)

    await execute(editor, "opencode.permission.reply", {"id": request_id, "reply": "once"})
    [error] = await editor.wait_for(lambda: editor.shown(types.MessageType.Error), 10, "error")
    assert error.endswith("The request is still waiting: edit src/a.py.")
    assert ours(editor, a_uri) and pending_ids(fake) == {request_id}

    await execute(editor, "opencode.permission.reply", {"id": request_id, "reply": "once"})
    await editor.wait_for(lambda: ours(editor, a_uri) == [], 10, "answered on the second try")
    assert request_id not in pending_ids(fake)


# --- Show diff ------------------------------------------------------------------------------------


async def test_show_diff_opens_the_change_outside_the_workspace_then_asks_again(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    answers = iter(["Show diff", "Allow once"])
    editor = await connect(lambda params: next(answers))
    request_id = ask_edit(fake, repo, busy_session(fake))

    await editor.wait_for(lambda: replies(fake, request_id), 10, "the reply")
    [shown] = editor.shown_documents
    path = Path(types.ShowDocumentParams(uri=shown.uri).uri.removeprefix("file://"))
    assert path.suffix == ".diff" and path.name.startswith("a.py.")
    assert not path.is_relative_to(repo)
    assert "+    return math.sqrt(x) + 43\n+    # more\n" in await asyncio.to_thread(path.read_text)
    assert shown.take_focus is True
    first, second = editor.message_requests
    assert first.message == second.message
    assert replies(fake, request_id)[0].body == {"reply": "once"}


async def test_show_diff_is_a_quick_fix_too(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect(lambda params: JsonRpcMethodNotFound())
    request_id = ask_edit(fake, repo, busy_session(fake))
    a_uri = uri_of(repo / "src/a.py")
    await editor.wait_for(lambda: ours(editor, a_uri), 10, "the diagnostic")

    actions = await quick_fixes(editor, a_uri, 3)
    assert await run_fix(editor, fix_titled(actions, "OpenCode: Show diff")) == {"id": request_id}
    await editor.wait_for(lambda: editor.shown_documents, 10, "the diff shown")
    assert editor.shown_documents[0].uri.endswith(".diff")
    assert pending_ids(fake) == {request_id}  # showing is not answering


# --- questions ------------------------------------------------------------------------------------

QUESTIONS = [
    {
        "question": "Which database?",
        "header": "Database",
        "options": [
            {"label": "Postgres", "description": "A server"},
            {"label": "SQLite", "description": "A file"},
        ],
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
]


async def test_each_question_is_a_prompt_and_the_answers_go_back_in_order(
    connect: Connect, fake: FakeOpenCode
) -> None:
    picks = {"Which database?": "SQLite", "Which features?": "Billing"}
    editor = await connect(lambda params: next(v for k, v in picks.items() if k in params.message))
    request_id = fake.ask_question(busy_session(fake), QUESTIONS)

    await editor.wait_for(lambda: question_posts(fake, request_id), 10, "the answers")
    first, second = editor.message_requests
    assert first.message == (
        "OpenCode asks (1/2): Database: Which database?\nPostgres: A server\nSQLite: A file\n"
        "(an answer of your own: opencode.question.reply)"
    )
    assert [a.title for a in first.actions or []] == ["Postgres", "SQLite", "Dismiss"]
    assert second.message.startswith("OpenCode asks (2/2): Features: Which features?")
    assert second.message.endswith(
        "(several choices or an answer of your own: opencode.question.reply)"
    )
    [post] = question_posts(fake, request_id)
    assert post.path == f"/question/{request_id}/reply"
    assert post.body == {"answers": [["SQLite"], ["Billing"]]}
    assert fake.pending_questions == []


async def test_dismiss_rejects_the_question_only_when_chosen(
    connect: Connect, fake: FakeOpenCode
) -> None:
    editor = await connect(lambda params: "Dismiss")
    request_id = fake.ask_question(busy_session(fake))
    await editor.wait_for(lambda: question_posts(fake, request_id), 10, "the rejection")
    assert [p.path for p in question_posts(fake, request_id)] == [f"/question/{request_id}/reject"]


async def test_an_unanswered_question_stays_and_the_command_takes_several_and_own_answers(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect(lambda params: None)
    b_uri = await touch(editor, repo / "src/b.py")
    request_id = fake.ask_question(busy_session(fake), QUESTIONS)
    await editor.wait_for(
        lambda: [m for m in editor.shown() if "waiting" in m], 10, "the first prompt dismissed"
    )
    assert len(editor.message_requests) == 1  # the first question was dismissed: stop there
    [diagnostic] = ours(editor, b_uri)
    assert diagnostic.message.startswith(
        "OpenCode asks 2 questions:\n1. Which database? (Postgres, SQLite)\n"
        "2. Which features? (Auth, Billing)\n"
    )
    assert [q["id"] for q in fake.pending_questions] == [request_id]

    result = await execute(
        editor,
        "opencode.question.reply",
        {"id": request_id, "answers": [["postgres"], ["Auth", "Reports, my own"]]},
    )
    assert result == {"id": request_id, "answers": [["Postgres"], ["Auth", "Reports, my own"]]}
    await editor.wait_for(lambda: question_posts(fake, request_id), 10, "the answers")
    assert question_posts(fake, request_id)[0].body == {
        "answers": [["Postgres"], ["Auth", "Reports, my own"]]
    }
    await editor.wait_for(lambda: ours(editor, b_uri) == [], 10, "withdrawn")


async def test_a_question_through_quick_fixes_in_an_editor_without_prompts(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect(lambda params: JsonRpcMethodNotFound())
    b_uri = await touch(editor, repo / "src/b.py")
    session_id = busy_session(fake)
    answered = fake.ask_question(session_id)
    dismissed = fake.ask_question(
        session_id,
        [
            {
                "question": "Delete it?",
                "header": "Delete",
                "options": [{"label": "Yes", "description": ""}],
            }
        ],
    )
    await editor.wait_for(lambda: len(ours(editor, b_uri)) == 2, 10, "diagnostics")

    actions = await quick_fixes(editor, b_uri, 0)
    assert [a.title for a in actions] == [
        "OpenCode: Answer 'Yes' — Go on?",
        "OpenCode: Answer 'No' — Go on?",
        "OpenCode: Dismiss — Go on?",
        "OpenCode: Answer 'Yes' — Delete it?",
        "OpenCode: Dismiss — Delete it?",
    ]
    await run_fix(editor, fix_titled(actions, "OpenCode: Answer 'No'"))
    await run_fix(editor, fix_titled(actions, "OpenCode: Dismiss — Delete"))
    await editor.wait_for(
        lambda: question_posts(fake, answered) and question_posts(fake, dismissed), 10, "answers"
    )
    assert question_posts(fake, answered)[0].body == {"answers": [["No"]]}
    assert question_posts(fake, dismissed)[0].path.endswith("/reject")
    await editor.wait_for(lambda: ours(editor, b_uri) == [], 10, "withdrawn")


async def test_a_question_answered_elsewhere_is_withdrawn(
    connect: Connect, fake: FakeOpenCode, repo: Path
) -> None:
    editor = await connect()
    b_uri = await touch(editor, repo / "src/b.py")
    request_id = fake.ask_question(busy_session(fake))
    await editor.wait_for(lambda: ours(editor, b_uri), 10, "the diagnostic")
    await elsewhere(fake, f"/question/{request_id}/reply", {"answers": [["Yes"]]})
    await editor.wait_for(lambda: ours(editor, b_uri) == [], 10, "withdrawn")
    assert await execute(editor, "opencode.question.list") == []


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "arguments", "named"),
    [
        ("opencode.permission.reply", [], "arguments"),
        ("opencode.permission.reply", [{"reply": "once"}], "id"),
        ("opencode.permission.reply", [{"id": 7, "reply": "once"}], "id"),
        ("opencode.permission.reply", [{"id": "ID"}], "reply"),
        ("opencode.permission.reply", [{"id": "ID", "reply": "yes"}], "reply"),
        ("opencode.permission.reply", [{"id": "ID", "reply": "once", "message": "x"}], "message"),
        ("opencode.permission.reply", [{"id": "ID", "reply": "reject", "message": 3}], "message"),
        ("opencode.permission.reply", [{"id": "per_unknown", "reply": "once"}], "id"),
        ("opencode.permission.showDiff", [{"id": "per_unknown"}], "id"),
        ("opencode.question.reply", [{"id": "QID"}], "answers"),
        ("opencode.question.reply", [{"id": "QID", "answers": [["Yes"], ["No"]]}], "answers"),
        ("opencode.question.reply", [{"id": "QID", "answers": [["Yes", "No"]]}], "answers[0]"),
        ("opencode.question.reply", [{"id": "QID", "answers": [[1]]}], "answers[0]"),
        ("opencode.question.reply", [{"id": "ID", "answers": [["Yes"]]}], "id"),
        ("opencode.question.reject", [{}], "id"),
        ("opencode.question.reject", [{"id": "que_unknown"}], "id"),
    ],
)
async def test_bad_arguments_are_invalid_params_naming_the_argument(
    connect: Connect, fake: FakeOpenCode, repo: Path, command: str, arguments: list[Any], named: str
) -> None:
    editor = await connect()
    b_uri = await touch(editor, repo / "src/b.py")
    session_id = busy_session(fake)
    request_id = ask_bash(fake, session_id)
    question_id = fake.ask_question(session_id)
    await editor.wait_for(lambda: len(ours(editor, b_uri)) == 2, 10, "diagnostics")
    ids = {"ID": request_id, "QID": question_id}
    arguments = [
        {**a, "id": ids.get(a["id"], a["id"])} if isinstance(a, dict) and "id" in a else a
        for a in arguments
    ]

    with pytest.raises(JsonRpcInvalidParams) as raised:
        await execute(editor, command, *arguments)
    assert f"Invalid argument '{named}'" in str(raised.value)
    assert pending_ids(fake) == {request_id}
    assert [q["id"] for q in fake.pending_questions] == [question_id]
