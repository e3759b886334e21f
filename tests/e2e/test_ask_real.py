"""The spine against the real ``opencode serve``: code actions, ask, progress, the answer.

src/a.py in the test repository:
    1 import math
    2
    3 def foo(x):
    4     return math.sqrt(x) + 42
    5
    6
    7 def bar():
    8     return foo(4)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from lsprotocol import types

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.lsp import EditorClient, code_actions, execute, line_range, open_file, to_json

pytestmark = pytest.mark.dialects("v1", "v2")  # each test once per API the bridge speaks


async def server_sessions(url: str, directory: Path) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/session", params={"directory": str(directory)})
        return list(response.json())


async def ask_actions(editor: EditorClient, *args: Any) -> list[types.CodeAction]:
    """The code actions that ask about the selection (other features add their own)."""
    actions = await code_actions(editor, *args)
    asks = ("opencode.ask", "opencode.review")  # Review's findings come as diagnostics
    return [a for a in actions if a.command is not None and a.command.command in asks]


async def wait_answer(editor: EditorClient, text: str) -> None:
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"the answer {text!r}"
    )


async def test_code_actions_offer_templates_on_a_selection_only(
    spawning_editor: EditorClient, git_repo: Path
) -> None:
    uri = open_file(spawning_editor, git_repo / "src/a.py")

    actions = await ask_actions(spawning_editor, uri, line_range(2, 3))
    titles = [action.title for action in actions]
    assert titles == [
        "OpenCode: Explain",
        "OpenCode: Review",
        "OpenCode: Write tests",
        "OpenCode: Document",
    ]
    assert {action.kind for action in actions} == {"refactor.opencode"}
    command = actions[0].command
    assert command is not None and command.command == "opencode.ask"
    assert list(command.arguments or []) == [
        {"uri": uri, "range": to_json(spawning_editor, line_range(2, 3)), "template": "explain"}
    ]

    empty = types.Range(start=types.Position(line=3, character=2), end=types.Position(3, 2))
    assert await code_actions(spawning_editor, uri, empty) == []

    problem = types.Diagnostic(
        range=types.Range(start=types.Position(3, 4), end=types.Position(3, 10)),
        message="undefined name 'sqrtt'",
        severity=types.DiagnosticSeverity.Error,
        source="pyflakes",
    )
    with_problem = await code_actions(spawning_editor, uri, empty, [problem])
    assert "OpenCode: Fix the diagnostics" in [action.title for action in with_problem]


async def test_ask_streams_progress_and_shows_the_answer(
    spawning_editor: EditorClient, git_repo: Path, scripted_model: ScriptedModel
) -> None:
    editor = spawning_editor
    scripted_model.push(Reply.text("foo adds 42 to the square root of x."))
    uri = open_file(editor, git_repo / "src/a.py")
    [explain, *_] = await ask_actions(editor, uri, line_range(2, 3))
    assert explain.command is not None

    result = await execute(editor, "opencode.ask", *explain.command.arguments or [])

    # The command answered before the prompt could reach the model: nothing waits on OpenCode.
    assert result == {"sessionID": None}
    assert scripted_model.chat_requests() == []
    await wait_answer(editor, "foo adds 42 to the square root of x.")

    sent = scripted_model.last_request().user_text()
    assert "return math.sqrt(x) + 42" in sent  # the selected lines reached the model
    assert "Explain what the selected code in src/a.py (lines 3-4) does." in sent

    [values] = [v for v in editor.progress_reports.values() if v]
    kinds = [value.kind for value in values]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    assert values[0].cancellable is True
    assert values[-1].message.startswith("Done: foo adds 42")
    # The short form follows the whole answer (logMessage first): wait for it too.
    await editor.wait_for(
        lambda: "OpenCode: foo adds 42 to the square root of x." in editor.shown(),
        10,
        "the shortened answer",
    )
    states = [status["state"] for status in editor.statuses]
    assert "busy" in states and states[-1] == "idle"


async def test_unsaved_buffer_text_and_diagnostics_reach_the_model(
    spawning_editor: EditorClient, git_repo: Path, scripted_model: ScriptedModel
) -> None:
    editor = spawning_editor
    scripted_model.push(Reply.text("Fixed."))
    typed = (git_repo / "src/a.py").read_text().replace("math.sqrt(x)", "math.sqrtt(x)")
    uri = open_file(editor, git_repo / "src/a.py", typed)  # not saved: disk still says sqrt
    problem = types.Diagnostic(
        range=types.Range(start=types.Position(3, 11), end=types.Position(3, 21)),
        message="module 'math' has no attribute 'sqrtt'",
        severity=types.DiagnosticSeverity.Error,
        source="pylsp",
    )
    actions = await ask_actions(editor, uri, line_range(3, 3), [problem])
    [fix] = [action for action in actions if action.title == "OpenCode: Fix the diagnostics"]
    assert fix.command is not None

    await execute(editor, "opencode.ask", *fix.command.arguments or [])
    await wait_answer(editor, "Fixed.")

    sent = scripted_model.last_request().user_text()
    assert "line 4: error: module 'math' has no attribute 'sqrtt' (pylsp)" in sent
    assert "has unsaved changes" in sent
    assert "return math.sqrtt(x) + 42" in sent  # the buffer's text, which disk does not have


@pytest.mark.dialects("v1")  # V1 attaches the lines as a file part OpenCode reads; V2 has none
async def test_a_selection_below_unsaved_lines_sends_the_disk_lines_opencode_reads(
    spawning_editor: EditorClient, git_repo: Path, scripted_model: ScriptedModel
) -> None:
    editor = spawning_editor
    scripted_model.push(Reply.text("bar calls foo."), Reply.text("Those are comments."))
    disk = (git_repo / "src/a.py").read_text()
    typed = disk.replace("def bar", "# one\n# two\n# three\n# four\n# five\ndef bar")
    uri = open_file(editor, git_repo / "src/a.py", typed)  # not saved: bar is at 12-13 here

    # def bar() is lines 7-8 on disk: OpenCode reads those, not 12-13 (past the file's end).
    bar = {"uri": uri, "range": to_json(editor, line_range(11, 12)), "template": "explain"}
    await execute(editor, "opencode.ask", bar)
    await wait_answer(editor, "bar calls foo.")
    sent = scripted_model.last_request().last_user_text()
    assert "lines 12-13 as the user sees them (lines 7-8 of the file on disk)" in sent
    assert '"offset":7,"limit":2' in sent  # the Read OpenCode made for the file part
    assert "7: def bar():\n8:     return foo(4)" in sent  # the model got the right lines

    # Lines that exist only in the buffer: their text goes, no range OpenCode would misread.
    comments = {"uri": uri, "range": to_json(editor, line_range(7, 8)), "template": "explain"}
    await execute(editor, "opencode.ask", comments)
    await wait_answer(editor, "Those are comments.")
    sent = scripted_model.last_request().last_user_text()
    assert "lines 8-9 as the user sees them (not in the file on disk yet)" in sent
    assert "```python\n# two\n# three\n```" in sent
    assert "Called the Read tool" not in sent
    assert not [m for m in editor.shown() if "out of range" in m]


async def test_free_text_prompt_without_a_selection(
    spawning_editor: EditorClient, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.text("There are two Python files."))
    await execute(spawning_editor, "opencode.ask", {"prompt": "How many Python files are there?"})
    await wait_answer(spawning_editor, "There are two Python files.")
    assert "How many Python files are there?" in scripted_model.last_request().user_text()


async def test_a_deleted_session_is_replaced_by_a_new_one(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode, start_bridge
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url)
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    scripted_model.push(Reply.text("first"), Reply.text("second"))
    await execute(editor, "opencode.ask", {"prompt": "one"})
    await wait_answer(editor, "first")
    [session] = await server_sessions(server.url, git_repo)

    # The user deletes the session elsewhere (the TUI, another editor).
    async with httpx.AsyncClient() as http:
        (await http.delete(f"{server.url}/session/{session['id']}")).raise_for_status()
    assert await execute(editor, "opencode.ask", {"prompt": "two"}) == {"sessionID": session["id"]}
    await wait_answer(editor, "second")

    assert "The OpenCode session was gone; started a new one." in editor.shown()
    sessions = await server_sessions(server.url, git_repo)
    assert [s["id"] for s in sessions] != [session["id"]] and len(sessions) == 1


async def test_session_error_is_shown_with_the_providers_message(
    spawning_editor: EditorClient, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.error("quota exceeded for mock-model", status=400))
    await execute(spawning_editor, "opencode.ask", {"prompt": "hello"})
    await spawning_editor.wait_for(
        lambda: any("quota exceeded" in m for m in spawning_editor.shown(types.MessageType.Error)),
        60,
        "the provider's error",
    )
    await spawning_editor.wait_for(  # the status follows the message
        lambda: any(status["state"] == "error" for status in spawning_editor.statuses),
        30,
        "the error status",
    )


async def test_wrong_password_says_which_variable_to_check(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode, start_bridge
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, password="right")
    editor = await start_bridge(git_repo, {"serverUrl": server.url, "password": "wrong"})
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: editor.shown(types.MessageType.Error), 30, "an error")
    for message in editor.shown(types.MessageType.Error):
        assert "refused the password; check OPENCODE_SERVER_PASSWORD" in message
        assert "wrong" not in message and "right" not in message


async def test_right_password_from_the_environment_connects(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode, start_bridge, editor_env
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, password="s3cret")
    scripted_model.push(Reply.text("authenticated answer"))
    env = {**editor_env, "OPENCODE_SERVER_PASSWORD": "s3cret"}
    editor = await start_bridge(git_repo, {"serverUrl": server.url}, env=env)
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await wait_answer(editor, "authenticated answer")
    assert not editor.shown(types.MessageType.Error)


async def test_a_running_opencode_in_the_workspace_is_attached_to(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode, start_bridge
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url)
    scripted_model.push(Reply.text("from the running server"))
    # attachUrl stands for the TUI's 127.0.0.1:4096; spawn off proves no server was started.
    editor = await start_bridge(git_repo, {"attachUrl": server.url, "spawn": False})
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await wait_answer(editor, "from the running server")
    sessions = await server_sessions(server.url, git_repo)
    assert len(sessions) == 1


async def test_a_running_opencode_elsewhere_is_not_attached_to(
    git_repo: Path, tmp_path: Path, scripted_model: ScriptedModel, start_opencode, start_bridge
) -> None:
    from tests.support.real_opencode import make_git_repo

    other = make_git_repo(tmp_path / "other")
    server = start_opencode(other, model_base_url=scripted_model.base_url)
    editor = await start_bridge(git_repo, {"attachUrl": server.url, "spawn": False})
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: editor.shown(types.MessageType.Error), 30, "an error")
    assert "No OpenCode server for this workspace" in editor.shown(types.MessageType.Error)[0]
