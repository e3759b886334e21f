"""The issue's "done when", with default settings (``api: auto``): the real server behind a
filter that speaks only V2 (tests/support/v2_only.py) is recognised as V2 from its ``/doc``,
and the editor gets the OpenCode actions, the selected lines reach the model, progress begins
and ends, the answer arrives, an edit's permission prompt appears, allowing it changes the file
on disk and in the open buffer, and the TUI commands say why they cannot work. The same real
server without the filter is spoken to in V1.

src/a.py in the test repository (0-based line numbers):
    0 import math
    1
    2 def foo(x):
    3     return math.sqrt(x) + 42
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.editor_buffers import Buffers, read_exactly
from tests.support.lsp import StartEditor, code_actions, execute, line_range
from tests.support.real_opencode import SAMPLE_FILES, RealOpenCode
from tests.support.v2_only import V2OnlyProxy

OLD_LINE = "    return math.sqrt(x) + 42"
NEW_LINE = "    return math.sqrt(x) + 43"


@pytest.fixture
def permission() -> dict[str, str]:
    return {"edit": "ask"}


async def test_a_v2_only_server_works_with_default_settings(
    v2_only: V2OnlyProxy, git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": v2_only.url})
    editor.answer_request = lambda params: "Allow once"
    buffers = Buffers(editor)
    target = git_repo / "src/a.py"
    uri = await buffers.opened(target)

    titles = [a.title for a in await code_actions(editor, uri, line_range(2, 3))]
    assert "OpenCode: Explain" in titles
    scripted_model.push(
        Reply.edit(target, OLD_LINE, NEW_LINE), Reply.text("Made it 43, as you selected.")
    )
    await execute(
        editor, "opencode.ask", {"uri": uri, "range": line_range(2, 3), "prompt": "Use 43."}
    )

    await editor.wait_for(
        lambda: any("Made it 43" in m.message for m in editor.log_messages), 60, "the answer"
    )
    sent = scripted_model.chat_requests()[0].user_text()
    assert "Lines 3-4 of src/a.py:" in sent and OLD_LINE in sent
    [prompt] = editor.message_requests
    assert prompt.message.split("\n")[0] == "OpenCode wants to edit src/a.py (+1 \u22121)"
    assert NEW_LINE in await asyncio.to_thread(read_exactly, target)
    await editor.wait_for(
        lambda: buffers.texts[uri] == SAMPLE_FILES["src/a.py"].replace(OLD_LINE, NEW_LINE),
        30,
        "the buffer follows the disk",
    )
    [values] = [v for v in editor.progress_reports.values() if v]
    assert values[0].kind == "begin" and values[-1].kind == "end"
    assert values[-1].message.startswith("Done: Made it 43")

    titles = [a.title for a in await code_actions(editor, uri, line_range(2, 3))]
    assert "OpenCode: Add selection to the TUI prompt" not in titles
    with pytest.raises(JsonRpcException) as refused:
        await execute(editor, "opencode.tui.openHelp")
    assert "This OpenCode server (V2) has no TUI control." in str(refused.value)
    # Only V2 routes (and the document) were asked for: none was refused by the filter.
    assert v2_only.refused() == []
    assert {r.path.split("?")[0] for r in v2_only.requests} >= {"/doc", "/api/event"}


async def test_the_same_server_unfiltered_is_spoken_to_in_v1(
    server: RealOpenCode, git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    scripted_model.push(Reply.text("Hello from V1."))
    uri = (git_repo / "src/a.py").as_uri()
    await execute(
        editor, "opencode.ask", {"uri": uri, "range": line_range(2, 3), "prompt": "Explain."}
    )
    await editor.wait_for(
        lambda: any("Hello from V1." in m.message for m in editor.log_messages), 60, "the answer"
    )
    # V1's prompt carries the selection as a file part OpenCode reads itself.
    sent = scripted_model.last_request().user_text()
    assert "Lines 3-4 of src/a.py:" not in sent
    titles = [a.title for a in await code_actions(editor, uri, line_range(2, 3))]
    assert "OpenCode: Add selection to the TUI prompt" in titles


async def test_doctor_says_which_api_and_why(
    v2_only: V2OnlyProxy, server: RealOpenCode, git_repo: Path, editor_env: dict[str, str]
) -> None:
    async def doctor(url: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            "doctor",
            "--server-url",
            url,
            "--directory",
            str(git_repo),
            env=editor_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, out.decode() + err.decode()
        return out.decode()

    v2 = await doctor(v2_only.url)
    assert "api          V2 (its /doc lists the V2 routes but not /global/health" in v2
    assert "status       ok" in v2
    v1 = await doctor(server.url)
    assert "api          V1 (its /doc lists the V1 routes)" in v1
