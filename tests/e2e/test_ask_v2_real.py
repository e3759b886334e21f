"""The spine in OpenCode's V2 dialect (``api: v2``) against the real ``opencode serve``: code
actions, the ask (the selection in the prompt's text), progress, the answer, and the
TUI commands refused in one sentence.

src/a.py in the test repository:
    1 import math
    2
    3 def foo(x):
    4     return math.sqrt(x) + 42
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

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


@pytest.fixture
async def editor(git_repo: Path, server: RealOpenCode, start_bridge: StartEditor) -> EditorClient:
    """An editor whose bridge speaks V2 to the real server."""
    return await start_bridge(git_repo, {"serverUrl": server.url, "api": "v2"})


async def wait_answer(editor: EditorClient, text: str) -> None:
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"the answer {text!r}"
    )


async def test_ask_sends_the_selected_lines_and_shows_progress_and_the_answer(
    editor: EditorClient, git_repo: Path, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.text("foo adds 42 to the square root of x."))
    uri = open_file(editor, git_repo / "src/a.py")
    actions = await code_actions(editor, uri, line_range(2, 3))
    [explain] = [a for a in actions if a.title == "OpenCode: Explain"]
    assert explain.command is not None

    result = await execute(editor, "opencode.ask", *explain.command.arguments or [])

    assert result == {"sessionID": None}
    await wait_answer(editor, "foo adds 42 to the square root of x.")
    sent = scripted_model.last_request().user_text()
    # No file attachment in V2: the lines travel in the text, with their path and numbers.
    assert "Lines 3-4 of src/a.py:" in sent
    assert "def foo(x):\n    return math.sqrt(x) + 42" in sent
    assert "Explain what the selected code in src/a.py (lines 3-4) does." in sent
    [values] = [v for v in editor.progress_reports.values() if v]
    kinds = [value.kind for value in values]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert values[-1].message.startswith("Done: foo adds 42")
    await editor.wait_for(
        lambda: "OpenCode: foo adds 42 to the square root of x." in editor.shown(),
        10,
        "the shortened answer",
    )
    states = [status["state"] for status in editor.statuses]
    assert "busy" in states and states[-1] == "idle"


async def test_unsaved_selected_lines_reach_the_model_as_the_editor_shows_them(
    editor: EditorClient, git_repo: Path, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.text("Looked."))
    typed = (git_repo / "src/a.py").read_text().replace("+ 42", "+ 4242")
    uri = open_file(editor, git_repo / "src/a.py", typed)  # not saved

    await execute(
        editor, "opencode.ask", {"uri": uri, "range": line_range(3, 3), "prompt": "Check it."}
    )

    await wait_answer(editor, "Looked.")
    sent = scripted_model.last_request().user_text()
    assert "The editor's buffer for src/a.py has unsaved changes; lines 4" in sent
    assert "return math.sqrt(x) + 4242" in sent


async def test_tui_commands_say_the_server_has_no_tui(
    editor: EditorClient, git_repo: Path, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.text("Connected."))
    uri = open_file(editor, git_repo / "src/a.py")
    await execute(editor, "opencode.ask", {"prompt": "Say hi."})
    await wait_answer(editor, "Connected.")  # connected: the dialect is known

    with pytest.raises(JsonRpcException) as refused:
        await execute(editor, "opencode.tui.submitPrompt")
    assert "This OpenCode server (V2) has no TUI control." in str(refused.value)
    with pytest.raises(JsonRpcException) as refused:
        await execute(editor, "opencode.tui.appendPrompt", {"text": "hello"})
    assert "no TUI control" in str(refused.value)
    titles = [a.title for a in await code_actions(editor, uri, line_range(2, 3))]
    assert "OpenCode: Add selection to the TUI prompt" not in titles
    assert "OpenCode: Explain" in titles
