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
