"""Issue 14's "done when", end to end: the real ``opencode serve`` behind a filter that makes it a
server speaking only V2 (404 outside ``/api/*``, ``/doc`` listing only ``/api/*``;
tests/support/v2_only.py), and an editor with default settings (``api`` auto).

The editor gets the OpenCode actions, the selected lines reach the model, progress begins and
ends, the answer arrives, the edit's permission prompt appears, allowing it changes the file on
disk and the open buffer (whose unsaved text is kept), and every TUI command says why it cannot
run; the bridge never asked for a V1 route.

src/a.py in the test repository (0-based line numbers):
    0 import math
    1
    2 def foo(x):
    3     return math.sqrt(x) + 42
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.editor_buffers import Buffers, read_exactly
from tests.support.lsp import StartEditor, code_actions, execute, line_range
from tests.support.real_opencode import SAMPLE_FILES
from tests.support.v2_only import V2OnlyProxy

OLD_LINE = "    return math.sqrt(x) + 42"
NEW_LINE = "    return math.sqrt(x) + 43"
ANSWER = "foo now adds 43."
# Good arguments for every opencode.tui.* command (each takes what it needs).
VALID_TUI_ARGUMENTS = {"text": "x", "message": "x", "command": "agent_cycle", "sessionID": "ses_x"}


@pytest.fixture
def permission() -> dict[str, str]:
    return {"edit": "ask"}


async def test_ask_permission_and_edit_through_a_v2_only_server_with_default_settings(
    v2_only: V2OnlyProxy, git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": v2_only.url})  # no `api`: auto
    editor.answer_request = lambda params: "Allow once"
    buffers = Buffers(editor)
    target = git_repo / "src/a.py"
    uri = await buffers.opened(target)
    mine = SAMPLE_FILES["src/a.py"].replace("import math\n", "import math\nimport os\n")
    await buffers.typed(uri, mine)  # unsaved, away from the agent's line: foo is lines 4-5 here

    actions = await code_actions(editor, uri, line_range(3, 4))
    titles = [a.title for a in actions]
    assert {"OpenCode: Explain", "OpenCode: Review", "OpenCode: Write tests"} <= set(titles)
    [explain] = [a for a in actions if a.title == "OpenCode: Explain"]
    assert explain.command is not None
    scripted_model.push(Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text(ANSWER))

    await execute(editor, "opencode.ask", *explain.command.arguments or [])

    await editor.wait_for(
        lambda: any(ANSWER in m.message for m in editor.log_messages), 90, "the answer"
    )
    first = scripted_model.chat_requests()[0].user_text()
    assert "def foo(x):\n    return math.sqrt(x) + 42" in first  # the selected lines
    assert "src/a.py" in first
    [values] = [v for v in editor.progress_reports.values() if v]
    assert values[0].kind == "begin" and values[-1].kind == "end"
    assert values[-1].message.startswith(f"Done: {ANSWER}")

    [prompt] = editor.message_requests
    assert prompt.message.split("\n")[0] == "OpenCode wants to edit src/a.py (+1 \u22121)"
    on_disk = await asyncio.to_thread(read_exactly, target)
    assert on_disk == SAMPLE_FILES["src/a.py"].replace(OLD_LINE, NEW_LINE)
    both = mine.replace(OLD_LINE, NEW_LINE)
    await editor.wait_for(lambda: buffers.texts[uri] == both, 30, "the buffer to follow")

    # Connected, the bridge knows the server has no TUI: no action for it (before the first
    # connection the dialect is not known yet, and the action is offered).
    titles = [a.title for a in await code_actions(editor, uri, line_range(3, 4))]
    assert "OpenCode: Explain" in titles and not [t for t in titles if "TUI" in t]
    tui = [c for c in editor.server_commands if c.startswith("opencode.tui.")]
    assert "opencode.tui.appendPrompt" in tui and len(tui) >= 5
    for command in tui:  # offered before the server was known: each says why not
        with pytest.raises(JsonRpcException) as refused:
            await execute(editor, command, VALID_TUI_ARGUMENTS)
        assert "This OpenCode server (V2) has no TUI control." in str(refused.value), command
    assert v2_only.refused() == []  # the bridge asked for no V1 route
    assert any(r.path == "/doc" for r in v2_only.requests)  # the dialect came from /doc
