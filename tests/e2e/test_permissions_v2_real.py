"""Permission requests in OpenCode's V2 dialect (``api: v2``) against the real ``opencode
serve``: the prompt (with the diff V2 does not send, rebuilt from the tool call), allowing an
edit (the file changes on disk and in the open buffer, the user's unsaved text kept), Show diff
and reject, the diagnostic fallback, and a request answered elsewhere.

The V2 engine's ``edit`` tool takes ``path`` (V1: ``filePath``).

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
from tests.support.editor_buffers import Buffers, read_exactly
from tests.support.lsp import EditorClient, StartEditor, code_actions, execute, line_range
from tests.support.real_opencode import SAMPLE_FILES, RealOpenCode

Answer = Callable[[types.ShowMessageRequestParams], Any]
Connect = Callable[..., Awaitable[EditorClient]]

OLD_LINE = "    return math.sqrt(x) + 42"
NEW_LINE = "    return math.sqrt(x) + 43"


def edit(path: str, old: str, new: str) -> Reply:
    """The V2 engine's edit call."""
    return Reply.tool("edit", {"path": path, "oldString": old, "newString": new})


@pytest.fixture
def permission() -> dict[str, str]:
    return {"edit": "ask"}


@pytest.fixture
def connect(git_repo: Path, server: RealOpenCode, start_bridge: StartEditor) -> Connect:
    async def start(answer: Answer = lambda params: None) -> EditorClient:
        editor = await start_bridge(git_repo, {"serverUrl": server.url, "api": "v2"})
        editor.answer_request = answer
        return editor

    return start


async def run_ends(editor: EditorClient, text: str) -> None:
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"the answer {text!r}"
    )


def run_over(editor: EditorClient) -> bool:
    states = [s["state"] for s in editor.statuses if s.get("sessionID")]
    return "busy" in states and states[-1] == "idle"


def ours(editor: EditorClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in editor.diagnostics.get(uri, []) if d.source == "opencode"]


async def pending(server: RealOpenCode) -> list[dict[str, Any]]:
    async with server.async_client() as client:
        response = await client.get("/api/permission/request")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["data"]
        return found


async def test_allow_once_changes_the_file_on_disk_and_in_the_buffer_keeping_unsaved_text(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    editor = await connect(lambda params: "Allow once")
    buffers = Buffers(editor)
    target = git_repo / "src/a.py"
    uri = await buffers.opened(target)
    mine = SAMPLE_FILES["src/a.py"].replace("import math\n", "import math\nimport os\n")
    await buffers.typed(uri, mine)  # unsaved, away from the agent's line
    scripted_model.push(edit("src/a.py", OLD_LINE, NEW_LINE), Reply.text("Now 43."))

    await execute(editor, "opencode.ask", {"prompt": "use 43"})

    await run_ends(editor, "Now 43.")
    [prompt] = editor.message_requests
    assert prompt.message.split("\n")[0] == "OpenCode wants to edit src/a.py (+1 \u22121)"
    assert [a.title for a in prompt.actions or []] == [
        "Allow once",
        "Allow always",
        "Reject",
        "Show diff",
    ]
    on_disk = await asyncio.to_thread(read_exactly, target)
    assert on_disk == SAMPLE_FILES["src/a.py"].replace(OLD_LINE, NEW_LINE)
    both = mine.replace(OLD_LINE, NEW_LINE)
    await editor.wait_for(lambda: buffers.texts[uri] == both, 30, "the merged buffer")


async def test_show_diff_then_reject_leaves_the_file_alone(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path, server: RealOpenCode
) -> None:
    answers = iter(["Show diff", "Reject"])
    editor = await connect(lambda params: next(answers))
    target = git_repo / "src/a.py"
    before = await asyncio.to_thread(target.read_text)
    scripted_model.push(edit("src/a.py", OLD_LINE, NEW_LINE), Reply.text("never said"))

    await execute(editor, "opencode.ask", {"prompt": "use 43"})

    await editor.wait_for(lambda: len(editor.message_requests) == 2, 60, "asked again")
    await editor.wait_for(lambda: run_over(editor), 60, "the run ends")
    [shown] = editor.shown_documents
    assert shown.uri.endswith(".diff") and str(git_repo) not in shown.uri
    diff = await asyncio.to_thread(Path(shown.uri.removeprefix("file://")).read_text)
    assert f"-{OLD_LINE}\n+{NEW_LINE}\n" in diff
    assert await asyncio.to_thread(target.read_text) == before
    assert await pending(server) == []


async def test_an_editor_without_prompts_allows_through_the_quick_fix(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path
) -> None:
    editor = await connect(lambda params: JsonRpcMethodNotFound())
    target = git_repo / "src/a.py"
    uri = target.as_uri()
    scripted_model.push(edit("src/a.py", OLD_LINE, NEW_LINE), Reply.text("Now 43."))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})

    [diagnostic] = await editor.wait_for(lambda: ours(editor, uri), 60, "the diagnostic")
    assert diagnostic.range.start.line == 3  # the line that changes
    [listed] = await execute(editor, "opencode.permission.list")
    assert listed["message"].startswith("OpenCode wants to edit src/a.py")
    actions = await code_actions(editor, uri, line_range(3, 3), [diagnostic])
    [allow] = [a for a in actions if a.title == "OpenCode: Allow once — edit src/a.py"]
    assert allow.command is not None
    await execute(editor, allow.command.command, *(allow.command.arguments or []))

    await run_ends(editor, "Now 43.")
    assert NEW_LINE in await asyncio.to_thread(target.read_text)
    await editor.wait_for(lambda: ours(editor, uri) == [], 10, "the diagnostic withdrawn")


async def test_a_request_answered_elsewhere_is_withdrawn(
    connect: Connect, scripted_model: ScriptedModel, git_repo: Path, server: RealOpenCode
) -> None:
    editor = await connect(lambda params: JsonRpcMethodNotFound())
    uri = (git_repo / "src/a.py").as_uri()
    scripted_model.push(edit("src/a.py", OLD_LINE, NEW_LINE), Reply.text("Now 43."))
    await execute(editor, "opencode.ask", {"prompt": "use 43"})
    [diagnostic] = await editor.wait_for(lambda: ours(editor, uri), 60, "the diagnostic")

    [request] = await pending(server)
    assert request["id"] == diagnostic.code
    async with server.async_client() as client:  # another client answers
        reply = f"/api/session/{request['sessionID']}/permission/{request['id']}/reply"
        (await client.post(reply, json={"reply": "once"})).raise_for_status()

    await editor.wait_for(lambda: ours(editor, uri) == [], 30, "the diagnostic withdrawn")
    await run_ends(editor, "Now 43.")
    assert await execute(editor, "opencode.permission.list") == []


async def test_questions_are_asked_and_the_answers_reach_the_model(
    connect: Connect, scripted_model: ScriptedModel
) -> None:
    editor = await connect(lambda params: "SQLite")
    question = {
        "question": "Which database?",
        "header": "Database",
        "options": [
            {"label": "Postgres", "description": "A server"},
            {"label": "SQLite", "description": "A file"},
        ],
    }
    scripted_model.push(Reply.tool("question", {"questions": [question]}), Reply.text("Noted."))

    await execute(editor, "opencode.ask", {"prompt": "set up the app"})

    await run_ends(editor, "Noted.")
    [prompt] = editor.message_requests
    assert prompt.message.split("\n")[0] == "OpenCode asks: Database: Which database?"
    [result] = scripted_model.last_request().tool_results()
    assert "SQLite" in result
