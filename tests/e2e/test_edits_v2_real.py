"""The agent's edits in OpenCode's V2 dialect (``api: v2``) against the real ``opencode serve``:
an edit reaches the open buffer (V2's ``tool.success`` patches), unsaved text elsewhere is kept,
the session's diff is shown, and revert / unrevert resync the buffer.

src/a.py in the test repository:
    1 import math
    ...
    8     return foo(4)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.editor_buffers import Buffers, read_exactly
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import SAMPLE_FILES, RealOpenCode

A_PY = SAMPLE_FILES["src/a.py"]
NINE = A_PY.replace("foo(4)", "foo(9)")


@pytest.fixture
def permission() -> dict[str, str]:
    return {"edit": "allow"}


@pytest.fixture
async def v2_editor(
    git_repo: Path, server: RealOpenCode, start_bridge: StartEditor
) -> tuple[EditorClient, Buffers]:
    client = await start_bridge(git_repo, {"serverUrl": server.url, "api": "v2"})
    return client, Buffers(client)


async def ask(client: EditorClient, scripted_model: ScriptedModel, *replies: Reply) -> None:
    scripted_model.push(*replies, Reply.text("Done."))
    await execute(client, "opencode.ask", {"prompt": "change the code"})
    await client.wait_for(
        lambda: any(m.message == "Done." for m in client.log_messages), 60, "the answer"
    )
    client.log_messages.clear()


async def test_an_edit_reaches_the_buffer_and_unsaved_text_elsewhere_is_kept(
    v2_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, buffers = v2_editor
    a = git_repo / "src/a.py"
    uri = await buffers.opened(a)
    mine = A_PY.replace("import math\n", "import math\nimport os\n")
    await buffers.typed(uri, mine)

    await ask(client, scripted_model, Reply.edit(a, "return foo(4)", "return foo(9)"))

    both = mine.replace("foo(4)", "foo(9)")
    await client.wait_for(lambda: buffers.texts[uri] == both, 30, "the merge")
    assert await asyncio.to_thread(read_exactly, a) == NINE


async def test_diff_show_opens_the_sessions_changes(
    v2_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, _ = v2_editor
    a = git_repo / "src/a.py"
    await ask(client, scripted_model, Reply.edit(a, "return foo(4)", "return foo(9)"))

    await execute(client, "opencode.diff.show")

    await client.wait_for(lambda: client.shown_documents, 30, "showDocument")
    [shown] = client.shown_documents
    path = to_fs_path(shown.uri)
    assert path and not Path(path).is_relative_to(git_repo)
    text = await asyncio.to_thread(read_exactly, Path(path))
    assert "# Message msg_" in text and ": change the code" in text
    assert "-    return foo(4)\n+    return foo(9)\n" in text


async def test_revert_and_unrevert_resync_the_buffer(
    v2_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, buffers = v2_editor
    a = git_repo / "src/a.py"
    uri = await buffers.opened(a)
    await ask(client, scripted_model, Reply.edit(a, "return foo(4)", "return foo(9)"))
    await client.wait_for(lambda: buffers.texts[uri] == NINE, 30, "the agent's change")

    await execute(client, "opencode.session.revert")
    await client.wait_for(lambda: buffers.texts[uri] == A_PY, 30, "the revert")
    assert await asyncio.to_thread(read_exactly, a) == A_PY
    await client.wait_for(
        lambda: any("reverted the agent's changes from message msg_" in m for m in client.shown()),
        30,
        "the report",
    )

    await execute(client, "opencode.session.unrevert")
    await client.wait_for(lambda: buffers.texts[uri] == NINE, 30, "the unrevert")
    assert await asyncio.to_thread(read_exactly, a) == NINE


async def test_review_hunk_by_hunk_applies_the_accepted_hunk(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_opencode: Callable[..., RealOpenCode],
    start_bridge: StartEditor,
) -> None:
    # V2 requests carry no diff: the hunks come from the tool call's input.
    server = start_opencode(
        git_repo, model_base_url=scripted_model.base_url, permission={"edit": "ask"}
    )
    client = await start_bridge(git_repo, {"serverUrl": server.url, "api": "v2"})
    buffers = Buffers(client)
    a = git_repo / "src/a.py"
    uri = await buffers.opened(a)

    def answer(params: types.ShowMessageRequestParams) -> str | None:
        if "hunk 1 of 2" in params.message:
            return "Apply"
        if "hunk 2 of 2" in params.message:
            return "Skip"
        return None  # the permission prompt: left for the review to answer

    client.answer_request = answer
    old = "    return math.sqrt(x) + 42\n\n\ndef bar():\n    return foo(4)"
    new = "    return math.sqrt(x) + 43\n\n\ndef bar():\n    return foo(5)"
    scripted_model.push(Reply.edit(a, old, new), Reply.text("Done."))
    await execute(client, "opencode.ask", {"prompt": "change the code"})
    async with server.async_client() as http:
        pending: Any = []
        for _ in range(600):
            pending = (await http.get("/api/permission/request")).json()["data"]
            if pending:
                break
            await asyncio.sleep(0.1)
    assert pending, "OpenCode never asked to edit"
    [request] = pending
    assert await execute(client, "opencode.edit.review", {"id": request["id"]}) == {
        "id": request["id"]
    }
    await client.wait_for(
        lambda: any(m.message == "Done." for m in client.log_messages), 60, "the answer"
    )

    one = A_PY.replace("+ 42", "+ 43")
    assert await asyncio.to_thread(read_exactly, a) == one  # hunk 1 only, written by the bridge
    assert buffers.texts[uri] == one
    # The edit was answered "reject" (the bridge wrote hunk 1 itself). OpenCode 1.18.33's V2
    # engine tells the model only that the edit failed, not the reason the bridge gave.
    [told] = scripted_model.last_request().tool_results()
    assert "Unable to edit" in told
