"""What the person reads when a run does not simply answer (issue 11, items 12-15), against the
real ``opencode serve`` and the scripted model: an abort, a reject, an ask while a request
waits, and a model the server does not have.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.dialects import v2_fails
from tests.support.lsp import EditorClient, StartEditor, execute, open_file
from tests.support.real_opencode import RealOpenCode

pytestmark = pytest.mark.dialects("v1", "v2")  # each test once per API the bridge speaks

MISSING_MODEL = "anthropic/claude-sonnet-4-5"  # the docs' own example; the server has no such


@pytest.fixture
def permission() -> dict[str, str]:
    return {"bash": "ask"}


async def connect(
    start_bridge: StartEditor, root: Path, server: RealOpenCode, **settings: Any
) -> EditorClient:
    editor: EditorClient = await start_bridge(root, {"serverUrl": server.url, **settings})
    return editor


def session_statuses(editor: EditorClient) -> list[dict[str, Any]]:
    return [s for s in editor.statuses if s.get("sessionID")]


def run_over(editor: EditorClient) -> bool:
    states = [s["state"] for s in session_statuses(editor)]
    return "busy" in states and states[-1] != "busy"


def reports(editor: EditorClient) -> list[str]:
    return [str(v.message) for v in editor.progress_values() if v.kind == "report"]


async def test_an_abort_says_the_run_was_stopped(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await connect(start_bridge, git_repo, server)
    never = threading.Event()  # the model writes its first words, then nothing
    scripted_model.push(Reply.text("Partial words, then the rest that never comes.", hold=never))
    await execute(editor, "opencode.ask", {"prompt": "explain"})
    await editor.wait_for(
        lambda: any("Partial" in r for r in reports(editor)), 90, "the first words"
    )
    [busy] = [s for s in session_statuses(editor) if s["state"] == "busy"]

    await execute(editor, "opencode.session.abort", {"sessionID": busy["sessionID"]})
    await editor.wait_for(lambda: run_over(editor), 60, "the run ends")
    await editor.wait_for(lambda: editor.shown(), 10, "the message")

    [shown] = editor.shown()
    assert "stopped" in shown
    assert "Partial" not in shown  # the partial text is not shown as if it were the answer
    assert session_statuses(editor)[-1]["state"] == "idle"
    assert "stopped" in session_statuses(editor)[-1]["message"]
    assert "Partial" not in session_statuses(editor)[-1]["message"]
    assert editor.progress_values()[-1].message == "Stopped"
    # What it had written is kept in the log, marked as unfinished.
    [logged] = [m.message for m in editor.log_messages if "Partial" in m.message]
    assert "stopped before it finished" in logged


@pytest.mark.dialects("v1", "v2")
async def test_a_reject_says_what_was_rejected_and_that_the_agent_was_told(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await connect(start_bridge, git_repo, server)
    editor.answer_request = lambda params: "Reject"
    scripted_model.push(Reply.bash("touch rejected.txt"), Reply.text("never said"))
    await execute(editor, "opencode.ask", {"prompt": "make a file"})
    await editor.wait_for(lambda: run_over(editor), 90, "the run ends")
    await editor.wait_for(lambda: editor.shown(), 10, "the message")

    [shown] = editor.shown()
    assert "rejected" in shown and "touch rejected.txt" in shown
    assert "agent was told" in shown
    last = session_statuses(editor)[-1]
    assert last["state"] == "idle"
    assert "rejected" in last["message"] and "touch rejected.txt" in last["message"]
    assert not (git_repo / "rejected.txt").exists()


async def test_an_ask_while_a_request_waits_says_it_is_queued_and_where_the_request_is(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await connect(start_bridge, git_repo, server)  # prompts dismissed: still waiting
    open_file(editor, git_repo / "src/a.py")
    scripted_model.push(Reply.bash("touch first.txt"), Reply.text("First done."))
    await execute(editor, "opencode.ask", {"prompt": "make a file"})
    await editor.wait_for(lambda: editor.message_requests, 90, "the permission prompt")
    await editor.wait_for(
        lambda: any("waiting for your answer" in m for m in editor.shown()), 30, "the hint"
    )

    scripted_model.push(Reply.text("Second done."))
    await execute(editor, "opencode.ask", {"prompt": "and then explain"})
    [queued] = await editor.wait_for(
        lambda: [m for m in editor.shown() if "queued" in m], 30, "the queued message"
    )
    assert "OpenCode wants to run: touch first.txt" in queued  # what it waits on
    assert "src/a.py:1" in queued  # where its quick fix is

    # Answering the request lets the run go on, and the queued prompt reaches the model.
    [request] = await execute(editor, "opencode.permission.list")
    await execute(editor, "opencode.permission.reply", {"id": request["id"], "reply": "once"})
    await editor.wait_for(
        lambda: any("and then explain" in r.prompt_text() for r in scripted_model.chat_requests()),
        90,
        "the queued prompt at the model",
    )
    assert (git_repo / "first.txt").exists()


@pytest.mark.dialects(
    "v1",
    v2_fails(
        "in V2 an ask with a model the server lacks is refused in one sentence before any "
        "run (1.18.33's V2 engine would take it and run nothing), so no run fails"
    ),
)
async def test_an_unknown_model_is_one_sentence_and_no_stack_trace(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await connect(start_bridge, git_repo, server, model=MISSING_MODEL)
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: run_over(editor), 90, "the run ends")

    # The sentence says how to find the models that exist; doing so lets the next ask through
    # (and, the stream being in order, OpenCode's second report of the failure came before).
    assert await execute(editor, "opencode.model.select", {"model": "mock/mock-model"})
    scripted_model.push(Reply.text("Hello from the mock model."))
    await execute(editor, "opencode.ask", {"prompt": "hello again"})
    await editor.wait_for(
        lambda: any("Hello from the mock model." in m for m in editor.shown()), 90, "the answer"
    )

    [error] = editor.shown(types.MessageType.Error)  # once, though OpenCode says it twice
    assert MISSING_MODEL in error and "opencode.model.select" in error
    assert "\n" not in error and " at " not in error and "Error:" not in error
    for status in editor.statuses:
        message = str(status.get("message", ""))
        assert "\n" not in message and "ProviderModelNotFoundError" not in message
        assert "0 steps" not in message
    failed = [s for s in session_statuses(editor) if s["state"] == "error"]
    assert failed and all(MISSING_MODEL in s["message"] for s in failed)
    ends = [v.message for v in editor.progress_values() if v.kind == "end"]
    assert ends[0] == "Failed" and "Done: 0 steps" not in ends
