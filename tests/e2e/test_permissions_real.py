"""Permission requests and questions against the real ``opencode serve`` and the scripted model:
each answer reaches the server and has its effect on the run (the command ran or not, the file
changed or not, the feedback reached the model).

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

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.lsp import (
    EditorClient,
    StartEditor,
    code_actions,
    execute,
    line_range,
    open_file,
)
from tests.support.real_opencode import RealOpenCode

ASK = {"bash": "ask", "edit": "ask"}
Answer = Callable[[types.ShowMessageRequestParams], Any]
Connect = Callable[..., Awaitable[EditorClient]]
StartOpenCode = Callable[..., RealOpenCode]

pytestmark = pytest.mark.dialects("v1", "v2")  # each test once per API the bridge speaks

OLD_LINE = "    return math.sqrt(x) + 42"
NEW_LINE = "    return math.sqrt(x) + 43"


@pytest.fixture
def permission() -> dict[str, str]:
    return ASK


@pytest.fixture
def connect(git_repo: Path, server: RealOpenCode, start_bridge: StartEditor) -> Connect:
    """``await connect(answer, **settings)``: an editor on the bridge, attached to the real
    server, answering each prompt with ``answer(params)``."""

    async def start(answer: Answer = lambda params: None, **settings: Any) -> EditorClient:
        editor = await start_bridge(git_repo, {"serverUrl": server.url, **settings})
        editor.answer_request = answer
        return editor

    return start


async def run_ends(editor: EditorClient, text: str) -> None:
    """The run's last answer, as the editor shows it."""
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"the answer {text!r}"
    )


async def pending(
    server: RealOpenCode, dialect: str, kind: str = "permission"
) -> list[dict[str, Any]]:
    """The server's pending requests of `kind` ("permission", "question") in `dialect`."""
    async with server.async_client() as client:
        response = await client.get(f"/api/{kind}/request" if dialect == "v2" else f"/{kind}")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result["data"] if dialect == "v2" else result  # type: ignore[call-overload]


async def prompt_elsewhere(server: RealOpenCode, dialect: str, text: str) -> None:
    """Another client (the TUI) starts a run in a new session, in `dialect`."""
    async with server.async_client() as client:
        if dialect == "v2":
            session = (await client.post("/api/session", json={})).json()["data"]
            route, body = f"/api/session/{session['id']}/prompt", {"prompt": {"text": text}}
        else:
            session = (await client.post("/session", json={})).json()
            parts = [{"type": "text", "text": text}]
            route, body = f"/session/{session['id']}/prompt_async", {"parts": parts}
        (await client.post(route, json=body)).raise_for_status()


async def answer_elsewhere(
    server: RealOpenCode, dialect: str, session_id: str, request_id: str
) -> None:
    """Another client allows a request once."""
    route = f"/permission/{request_id}/reply"
    if dialect == "v2":
        route = f"/api/session/{session_id}{route}"
    async with server.async_client() as client:
        (await client.post(route, json={"reply": "once"})).raise_for_status()


async def abort_elsewhere(server: RealOpenCode, dialect: str, session_id: str) -> None:
    """Another client stops the session's run."""
    route = f"/api/session/{session_id}/interrupt" if dialect == "v2" else None
    async with server.async_client() as client:
        if route is None:
            (await client.post(f"/session/{session_id}/abort")).raise_for_status()
        else:
            (await client.post(route, json={})).raise_for_status()


def run_over(editor: EditorClient) -> bool:
    """The session was busy and is idle again (``opencode/status``)."""
    states = [s["state"] for s in editor.statuses if s.get("sessionID")]
    return "busy" in states and states[-1] == "idle"


async def waiting(editor: EditorClient) -> None:
    """The prompt was dismissed and the bridge said how else to answer."""
    await editor.wait_for(
        lambda: [m for m in editor.shown() if "waiting for your answer" in m], 60, "the hint"
    )


def ours(editor: EditorClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in editor.diagnostics.get(uri, []) if d.source == "opencode"]


def exists(path: Path) -> bool:
    return path.exists()


# --- bash -----------------------------------------------------------------------------------------


async def test_allow_once_runs_the_command(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path, dialect: str
) -> None:
    editor = await connect(lambda params: "Allow once")
    scripted_model.push(Reply.bash("touch ran-once.txt"), Reply.text("Made the file."))
    await execute(editor, "opencode.ask", {"prompt": "make a file"})
    await run_ends(editor, "Made the file.")

    [prompt] = editor.message_requests
    # What "always" would allow is the server's: V1 the command's first word, V2 the command.
    always = "touch ran-once.txt" if dialect == "v2" else "touch *"
    assert prompt.message == (
        "OpenCode wants to run: touch ran-once.txt\n"
        f"Allow always: {always}, until OpenCode restarts."
    )
    assert [a.title for a in prompt.actions or []] == ["Allow once", "Allow always", "Reject"]
    assert await asyncio.to_thread(exists, git_repo / "ran-once.txt")
    assert len(scripted_model.chat_requests()) == 2  # the command's result went back


@pytest.mark.dialects("v1")  # V2 saves the exact command ("touch first.txt"): nothing else matches
async def test_allow_always_is_asked_once_for_every_matching_command(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    editor = await connect(lambda params: "Allow always")
    scripted_model.push(
        Reply.bash("touch first.txt"), Reply.bash("touch second.txt"), Reply.text("Both made.")
    )
    await execute(editor, "opencode.ask", {"prompt": "make two files"})
    await run_ends(editor, "Both made.")

    assert len(editor.message_requests) == 1  # "touch *" was allowed for the rest
    for name in ("first.txt", "second.txt"):
        assert await asyncio.to_thread(exists, git_repo / name)


async def test_reject_does_not_run_the_command_and_stops_the_run(
    connect: Connect,
    scripted_model: ScriptedModel,
    git_repo: Path,
    server: RealOpenCode,
    dialect: str,
) -> None:
    editor = await connect(lambda params: "Reject")
    scripted_model.push(Reply.bash("touch rejected.txt"), Reply.text("never said"))
    await execute(editor, "opencode.ask", {"prompt": "make a file"})
    await editor.wait_for(lambda: editor.message_requests, 60, "the prompt")
    await editor.wait_for(lambda: run_over(editor), 60, "the run ends")

    assert not await asyncio.to_thread(exists, git_repo / "rejected.txt")
    assert len(scripted_model.chat_requests()) == 1  # the model was not asked to go on
    assert await pending(server, dialect) == []


async def test_reject_with_feedback_continues_the_run_with_it(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path, dialect: str
) -> None:
    editor = await connect(lambda params: None)  # dismissed: the command answers instead
    scripted_model.push(Reply.bash("rm -rf src"), Reply.text("I will not delete src."))
    await execute(editor, "opencode.ask", {"prompt": "clean up"})
    await waiting(editor)
    [request] = await execute(editor, "opencode.permission.list")
    assert request["message"].startswith("OpenCode wants to run: rm -rf src")

    await execute(
        editor,
        "opencode.permission.reply",
        {"id": request["id"], "reply": "reject", "message": "Never delete src; move it aside."},
    )
    await run_ends(editor, "I will not delete src.")
    assert await asyncio.to_thread(exists, git_repo / "src/a.py")
    [result] = scripted_model.last_request().tool_results()
    if dialect == "v2":  # 1.18.33's V2 engine tells the model no more than this
        assert "Unable to execute command: rm -rf src" in result
    else:
        assert result == (
            "The user rejected permission to use this specific tool call with the following "
            "feedback: Never delete src; move it aside."
        )


# --- edits ----------------------------------------------------------------------------------------


async def test_allow_once_edits_the_file(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    editor = await connect(lambda params: "Allow once")
    target = git_repo / "src/a.py"
    scripted_model.push(Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text("Now 43."))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})
    await run_ends(editor, "Now 43.")

    [prompt] = editor.message_requests
    assert prompt.message.split("\n")[0] == "OpenCode wants to edit src/a.py (+1 \u22121)"
    assert [a.title for a in prompt.actions or []][-1] == "Show diff"
    assert NEW_LINE in await asyncio.to_thread(target.read_text)


async def test_show_diff_then_reject_leaves_the_file_alone(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    answers = iter(["Show diff", "Reject"])
    editor = await connect(lambda params: next(answers))
    target = git_repo / "src/a.py"
    before = await asyncio.to_thread(target.read_text)
    scripted_model.push(Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text("never said"))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})
    await editor.wait_for(lambda: len(editor.message_requests) == 2, 60, "asked again")
    await editor.wait_for(lambda: run_over(editor), 60, "the run ends")

    [shown] = editor.shown_documents
    assert shown.uri.endswith(".diff") and str(git_repo) not in shown.uri
    diff = await asyncio.to_thread(Path(shown.uri.removeprefix("file://")).read_text)
    assert f"-{OLD_LINE}\n+{NEW_LINE}\n" in diff
    assert await asyncio.to_thread(target.read_text) == before


async def test_an_editor_without_prompts_approves_through_the_quick_fix(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    editor = await connect(lambda params: JsonRpcMethodNotFound())  # Helix 25.07
    target = git_repo / "src/a.py"
    uri = target.as_uri()
    scripted_model.push(Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text("Now 43."))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})

    [diagnostic] = await editor.wait_for(lambda: ours(editor, uri), 60, "the diagnostic")
    assert diagnostic.range.start.line == 3  # the line that changes
    actions = await code_actions(editor, uri, line_range(3, 3), [diagnostic])
    [allow] = [a for a in actions if a.title == "OpenCode: Allow once — edit src/a.py"]
    assert allow.kind == types.CodeActionKind.QuickFix and allow.command is not None
    await execute(editor, allow.command.command, *(allow.command.arguments or []))

    await run_ends(editor, "Now 43.")
    assert NEW_LINE in await asyncio.to_thread(target.read_text)
    await editor.wait_for(lambda: ours(editor, uri) == [], 10, "the diagnostic withdrawn")


async def test_the_diagnostic_is_on_the_line_the_unsaved_buffer_shows(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    editor = await connect(lambda params: JsonRpcMethodNotFound())  # the diagnostic is the way
    target = git_repo / "src/a.py"
    typed = "# one\n# two\n" + await asyncio.to_thread(target.read_text)
    uri = open_file(editor, target, typed)  # not saved: the changed line is 5 here, 3 on disk
    scripted_model.push(Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text("Now 43."))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})

    [diagnostic] = await editor.wait_for(lambda: ours(editor, uri), 60, "the diagnostic")
    assert diagnostic.range.start.line == 5 and diagnostic.range.end.character == len(OLD_LINE)
    assert typed.splitlines()[5] == OLD_LINE  # the line the user sees change
    actions = await code_actions(editor, uri, line_range(5, 5), [diagnostic])
    [reject] = [a for a in actions if a.title == "OpenCode: Reject — edit src/a.py"]
    assert reject.command is not None
    await execute(editor, reject.command.command, *(reject.command.arguments or []))
    await editor.wait_for(lambda: run_over(editor), 60, "the run ends")
    assert OLD_LINE in await asyncio.to_thread(target.read_text)


@pytest.mark.dialects("v1")  # a V2 session takes no permission rules of its own
@pytest.mark.parametrize("approval", ["ask", "config"])
async def test_edit_approval_ask_reviews_every_edit_even_when_opencode_allows_them(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_opencode: StartOpenCode,
    start_bridge: StartEditor,
    approval: str,
) -> None:
    # OpenCode's own config asks for commands only: edits are allowed.
    server = start_opencode(
        git_repo, model_base_url=scripted_model.base_url, permission={"bash": "ask"}
    )
    editor = await start_bridge(git_repo, {"serverUrl": server.url, "editApproval": approval})
    editor.answer_request = lambda params: "Allow once"
    target = git_repo / "src/a.py"
    scripted_model.push(Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text("Now 43."))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})
    await run_ends(editor, "Now 43.")

    assert NEW_LINE in await asyncio.to_thread(target.read_text)
    prompts = [m.message.split("\n")[0] for m in editor.message_requests]
    if approval == "ask":
        assert prompts == ["OpenCode wants to edit src/a.py (+1 \u22121)"]
    else:
        assert prompts == []


# --- answered elsewhere, never lost ---------------------------------------------------------------


async def test_a_request_pending_before_the_editor_came_is_shown_and_answered(
    git_repo: Path,
    scripted_model: ScriptedModel,
    server: RealOpenCode,
    start_bridge: StartEditor,
    dialect: str,
) -> None:
    # The TUI started a run that now waits; then the user opens the editor.
    scripted_model.push(Reply.bash("touch from-tui.txt"), Reply.text("Done from the TUI."))
    await prompt_elsewhere(server, dialect, "make a file")
    for _ in range(600):
        if await pending(server, dialect):
            break
        await asyncio.sleep(0.05)

    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    editor.answer_request = lambda params: "Allow once"
    await editor.wait_for(lambda: editor.message_requests, 30, "the refetched request")
    await editor.wait_for(lambda: scripted_model.pending == 0, 60, "the run goes on")
    for _ in range(600):
        if await asyncio.to_thread(exists, git_repo / "from-tui.txt"):
            break
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(exists, git_repo / "from-tui.txt")
    assert [m.message.split("\n")[0] for m in editor.message_requests] == [
        "OpenCode wants to run: touch from-tui.txt"
    ]


async def test_an_answer_from_another_client_or_an_abort_withdraws_the_request(
    connect: Connect,
    scripted_model: ScriptedModel,
    git_repo: Path,
    server: RealOpenCode,
    dialect: str,
) -> None:
    editor = await connect(lambda params: None)
    b_uri = (git_repo / "src/b.py").as_uri()
    editor.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=b_uri,
                language_id="python",
                version=1,
                text=await asyncio.to_thread((git_repo / "src/b.py").read_text),
            )
        )
    )
    scripted_model.push(
        Reply.bash("touch one.txt"), Reply.bash("touch two.txt"), Reply.text("Both asked.")
    )
    await execute(editor, "opencode.ask", {"prompt": "two commands"})

    [first] = await editor.wait_for(lambda: ours(editor, b_uri), 60, "the first diagnostic")
    [asked] = await execute(editor, "opencode.permission.list")
    await answer_elsewhere(server, dialect, asked["sessionID"], str(first.code))  # the TUI
    [second] = await editor.wait_for(
        lambda: [d for d in ours(editor, b_uri) if d.code != first.code], 60, "the second"
    )
    assert ours(editor, b_uri) == [second]  # the first was withdrawn

    [listed] = await execute(editor, "opencode.permission.list")
    await abort_elsewhere(server, dialect, listed["sessionID"])  # the user, in the TUI
    await editor.wait_for(lambda: ours(editor, b_uri) == [], 60, "withdrawn on abort")
    assert await execute(editor, "opencode.permission.list") == []
    # OpenCode 1.18.33's V1 still lists the aborted run's request (the bridge does not show
    # it); its V2 engine drops it.
    left = [p["id"] for p in await pending(server, dialect)]
    assert left == ([] if dialect == "v2" else [second.code])
    assert await asyncio.to_thread(exists, git_repo / "one.txt")
    assert not await asyncio.to_thread(exists, git_repo / "two.txt")


# --- questions ------------------------------------------------------------------------------------


async def test_questions_are_asked_and_the_answers_reach_the_model(
    connect: Connect, scripted_model: ScriptedModel
) -> None:
    picks = {"Which database?": "SQLite", "Which features?": "Auth"}
    editor = await connect(lambda params: next(v for k, v in picks.items() if k in params.message))
    questions = [
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
    scripted_model.push(Reply.tool("question", {"questions": questions}), Reply.text("Noted."))
    await execute(editor, "opencode.ask", {"prompt": "set up the app"})
    await run_ends(editor, "Noted.")

    assert [m.message.split("\n")[0] for m in editor.message_requests] == [
        "OpenCode asks (1/2): Database: Which database?",
        "OpenCode asks (2/2): Features: Which features?",
    ]
    [result] = scripted_model.last_request().tool_results()
    assert '"Which database?"="SQLite", "Which features?"="Auth"' in result


async def test_a_dismissed_question_is_answered_with_own_words_through_the_command(
    connect: Connect, scripted_model: ScriptedModel, server: RealOpenCode, dialect: str
) -> None:
    editor = await connect(lambda params: None)
    question = {
        "question": "Which name?",
        "header": "Name",
        "options": [{"label": "foo", "description": ""}],
    }
    scripted_model.push(Reply.tool("question", {"questions": [question]}), Reply.text("Named."))
    await execute(editor, "opencode.ask", {"prompt": "name it"})
    await waiting(editor)
    [listed] = await execute(editor, "opencode.question.list")
    assert await pending(server, dialect, "question")  # dismissing is not rejecting

    await execute(editor, "opencode.question.reply", {"id": listed["id"], "answers": ["bar"]})
    await run_ends(editor, "Named.")
    assert '"Which name?"="bar"' in scripted_model.last_request().tool_results()[0]
