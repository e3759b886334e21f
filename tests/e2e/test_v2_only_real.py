"""Every TUI command, on the real ``opencode serve`` behind the V2-only filter with default
settings (``api`` auto), says in one sentence why it cannot work, and the TUI action is not
offered once the server is known. (The ask/permission/edit path of issue 14's "done when" is
tests/e2e/test_auto_v2_real.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.lsp import StartEditor, code_actions, execute, line_range, open_file
from tests.support.v2_only import V2OnlyProxy

# Good arguments for every opencode.tui.* command (each takes what it needs).
VALID_TUI_ARGUMENTS = {"text": "x", "message": "x", "command": "agent_cycle", "sessionID": "ses_x"}


async def test_every_tui_command_says_why_on_a_v2_only_server(
    v2_only: V2OnlyProxy, git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": v2_only.url})  # no `api`: auto
    uri = open_file(editor, git_repo / "src/a.py")
    scripted_model.push(Reply.text("Connected."))
    await execute(editor, "opencode.ask", {"prompt": "Say hi."})
    await editor.wait_for(
        lambda: any("Connected." in m.message for m in editor.log_messages), 60, "the answer"
    )

    titles = [a.title for a in await code_actions(editor, uri, line_range(2, 3))]
    assert "OpenCode: Explain" in titles and not [t for t in titles if "TUI" in t]
    tui = [c for c in editor.server_commands if c.startswith("opencode.tui.")]
    assert "opencode.tui.appendPrompt" in tui and len(tui) >= 5
    for command in tui:  # listed before the server was known: each says why not
        with pytest.raises(JsonRpcException) as refused:
            await execute(editor, command, VALID_TUI_ARGUMENTS)
        assert "This OpenCode server (V2) has no TUI control." in str(refused.value), command
    assert v2_only.refused() == []  # the bridge asked for no V1 route
