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

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import RealOpenCode

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
