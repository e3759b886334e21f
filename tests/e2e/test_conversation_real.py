"""The conversation document against the real ``opencode serve`` and the scripted model: it opens
beside the code on the first ask, the answer streams into the editor's buffer as versioned
edits appended above the prompt area, the user continues from it, allows a permission from it,
and closing and reopening it loses nothing.

src/a.py in the test repository:
    1 import math
    2
    3 def foo(x):
    4     return math.sqrt(x) + 42
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from bridge.core.conversation_text import MARKER, marker_line, prompt_of
from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.editor_buffers import Buffers, read_exactly
from tests.support.lsp import EditorClient, StartEditor, code_actions, execute
from tests.support.real_opencode import RealOpenCode

ANSWER = "The first answer arrives in pieces, streamed into the conversation as it comes."


@pytest.fixture
def permission() -> dict[str, str]:
    return {"bash": "ask"}


def conversation_edits(editor: EditorClient, uri: str) -> list[types.TextDocumentEdit]:
    found = []
    for params in editor.applied_edits:
        for change in params.edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
                found.append(change)
    return found


def at_line(text: str, line: int) -> types.Range:
    here = types.Position(line=line, character=0)
    return types.Range(start=here, end=here)


def line_of(text: str, needle: str) -> int:
    for index, line in enumerate(text.splitlines()):
        if needle in line:
            return index
    raise AssertionError(f"{needle!r} is not in the conversation:\n{text}")


async def run_action(editor: EditorClient, action: types.CodeAction) -> Any:
    assert action.command is not None
    return await execute(editor, action.command.command, *(action.command.arguments or []))


async def shown_conversation(editor: EditorClient, count: int = 1) -> types.ShowDocumentParams:
    await editor.wait_for(lambda: len(editor.shown_documents) >= count, 60, "showDocument")
    return editor.shown_documents[count - 1]


async def test_ask_opens_it_streams_into_it_and_the_user_continues_from_it(
    git_repo: Path,
    server: RealOpenCode,
    scripted_model: ScriptedModel,
    start_bridge: StartEditor,
    editor_env: dict[str, str],
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url, "openConversation": True})
    buffers = Buffers(editor)
    held = threading.Event()
    scripted_model.push(Reply.text(ANSWER, chunk_delay=0.05, hold=held))
    await execute(editor, "opencode.ask", {"prompt": "Say something long"})

    shown = await shown_conversation(editor)
    assert shown.take_focus is False
    path = Path(to_fs_path(shown.uri) or "")
    assert path.parent == Path(editor_env["XDG_STATE_HOME"]) / "opencode-lsp" / "conversations"
    assert git_repo not in path.parents
    on_disk = await asyncio.to_thread(read_exactly, path)
    assert "Say something long" in on_disk and on_disk.rstrip("\n").endswith(MARKER)
    uri = await buffers.opened(path)  # the editor reads the file, as showDocument does
    held.set()  # the rest of the answer streams now, into the open buffer

    await editor.wait_for(lambda: ANSWER in buffers.texts[uri], 60, "the streamed answer")
    await editor.wait_for(lambda: "tokens (" in buffers.texts[uri], 60, "the answer's cost")
    text = buffers.texts[uri]
    assert text.count(ANSWER) == 1
    assert text.index("## 1. You") < text.index("Say something long") < text.index(ANSWER)
    assert text.index(ANSWER) < text.index("tokens (") < text.index(MARKER)
    assert prompt_of(text) == ""
    edits = conversation_edits(editor, uri)
    assert len(edits) >= 2  # streamed, not written once at the end
    for edit in edits:  # each an insertion, versioned, above the marker line
        assert edit.text_document.version is not None
        [one] = edit.edits
        assert one.range.start == one.range.end
    # Nothing was written on disk while the editor had it open.
    assert await asyncio.to_thread(read_exactly, path) == on_disk
    assert not any("OpenCode: " + ANSWER[:40] in m for m in editor.shown())  # not repeated

    # The user writes a follow-up in the prompt area and runs "OpenCode: Send".
    follow_up = "Now explain @src/a.py#L3-4 please"
    await buffers.typed(uri, text + follow_up + "\n")
    line = marker_line(buffers.texts[uri])
    assert line is not None
    actions = await code_actions(editor, uri, at_line(buffers.texts[uri], line + 1))
    [send] = [a for a in actions if a.title == "OpenCode: Send"]
    assert send.command is not None and list(send.command.arguments or []) == [{"uri": uri}]
    scripted_model.push(Reply.text("The second answer, below the first."))
    asked = len(scripted_model.chat_requests())
    await run_action(editor, send)

    await editor.wait_for(
        lambda: len(scripted_model.chat_requests()) > asked, 60, "the follow-up at the model"
    )
    request = scripted_model.chat_requests()[asked]
    assert follow_up in request.last_user_text()
    assert "return math.sqrt(x) + 42" in request.prompt_text()  # the file part's lines
    await editor.wait_for(
        lambda: "The second answer, below the first." in buffers.texts[uri], 60, "the answer"
    )
    await editor.wait_for(lambda: buffers.texts[uri].count("tokens (") == 2, 60, "its cost")
    text = buffers.texts[uri]
    assert prompt_of(text) == ""  # the prompt area cleared
    assert text.index(ANSWER) < text.index("## 2. You") < text.index(follow_up)
    assert text.index(follow_up) < text.index("The second answer") < text.index(MARKER)
    # The conversation is no workspace file: nothing asks about it, nothing synced it.
    assert await asyncio.to_thread(read_exactly, path) == on_disk


async def test_a_permission_is_allowed_from_the_conversation(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(editor)
    opened = await execute(editor, "opencode.session.open")
    session_id = opened["sessionID"]
    shown = await shown_conversation(editor)
    assert shown.uri == opened["uri"] and shown.take_focus is False
    uri = await buffers.opened(Path(opened["path"]))
    assert "*No messages yet.*" in buffers.texts[uri]

    scripted_model.push(Reply.bash("touch allowed-here.txt"), Reply.text("Made the file."))
    await execute(editor, "opencode.ask", {"prompt": "make a file", "sessionID": session_id})
    await editor.wait_for(lambda: "**Permission**" in buffers.texts[uri], 60, "the permission")
    text = buffers.texts[uri]
    line = line_of(text, "**Permission**")
    assert "touch allowed-here.txt" in text.splitlines()[line]
    actions = await code_actions(editor, uri, at_line(text, line))
    titles = [a.title for a in actions]
    assert [t.split(" — ")[0] for t in titles] == [
        "OpenCode: Allow once",
        "OpenCode: Allow always",
        "OpenCode: Reject",
    ]
    await run_action(editor, actions[0])

    await editor.wait_for(lambda: "Made the file." in buffers.texts[uri], 60, "the answer")
    assert (git_repo / "allowed-here.txt").exists()
    text = buffers.texts[uri]
    assert "allowed once" in text
    assert "- bash `touch allowed-here.txt` — completed" in text
    # Settled: the permission's line offers nothing any more.
    actions = await code_actions(editor, uri, at_line(text, line_of(text, "**Permission**")))
    assert not [a for a in actions if "Allow" in a.title]


async def test_closing_writes_it_and_reopening_loses_nothing(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(editor)
    opened = await execute(editor, "opencode.session.open", {"takeFocus": True})
    assert (await shown_conversation(editor)).take_focus is True
    uri = await buffers.opened(Path(opened["path"]))
    scripted_model.push(Reply.text("An answer to keep."))
    await execute(editor, "opencode.ask", {"prompt": "remember", "sessionID": opened["sessionID"]})
    await editor.wait_for(lambda: "tokens (" in buffers.texts[uri], 60, "the answer")
    draft = "a draft I have not sent yet\n"
    await buffers.typed(uri, buffers.texts[uri] + draft)
    before = buffers.texts[uri]

    editor.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    buffers.open_uris.discard(uri)
    path = Path(opened["path"])
    await editor.wait_for(lambda: path.read_text(encoding="utf-8") == before, 30, "the file")

    # What happens while it is closed goes to the file; reopening shows all of it.
    scripted_model.push(Reply.text("An answer while it was closed."))
    await execute(editor, "opencode.ask", {"prompt": "more", "sessionID": opened["sessionID"]})
    await editor.wait_for(
        lambda: "An answer while it was closed." in path.read_text(encoding="utf-8"), 60, "file"
    )
    await execute(editor, "opencode.session.open", {"sessionID": opened["sessionID"]})
    await shown_conversation(editor, 2)
    uri = await buffers.opened(path)
    text = buffers.texts[uri]
    assert text.startswith(before[: before.index(MARKER)].rstrip("\n"))
    assert "An answer while it was closed." in text
    assert prompt_of(text) == draft
    # Reopened, it is followed again.
    scripted_model.push(Reply.text("An answer after reopening."))
    await execute(editor, "opencode.ask", {"prompt": "again", "sessionID": opened["sessionID"]})
    await editor.wait_for(lambda: "An answer after reopening." in buffers.texts[uri], 60, "live")
    assert prompt_of(buffers.texts[uri]) == draft


async def test_several_conversations_are_open_at_once(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(editor)
    first = await execute(editor, "opencode.session.open")
    second = await execute(editor, "opencode.session.new", {"title": "second"})
    second = await execute(editor, "opencode.session.open", {"sessionID": second["sessionID"]})
    assert first["path"] != second["path"]
    await shown_conversation(editor, 2)
    uris = [await buffers.opened(Path(each["path"])) for each in (first, second)]
    for index, each in enumerate((first, second)):
        scripted_model.push(Reply.text(f"Answer number {index} only here."))
        await execute(editor, "opencode.ask", {"prompt": "hi", "sessionID": each["sessionID"]})
        answer, uri = f"Answer number {index} only here.", uris[index]
        await editor.wait_for(lambda: answer in buffers.texts[uri], 60, answer)  # noqa: B023
    assert "Answer number 1" not in buffers.texts[uris[0]]
    assert "Answer number 0" not in buffers.texts[uris[1]]


async def test_send_needs_an_open_conversation_and_a_prompt(
    git_repo: Path, server: RealOpenCode, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(editor)
    a_file = await buffers.opened(git_repo / "src/a.py")
    with pytest.raises(JsonRpcInvalidParams, match="uri"):
        await execute(editor, "opencode.session.send", {"uri": a_file})
    opened = await execute(editor, "opencode.session.open")
    # An editor without showDocument opens the answer's path at once, maybe before the file
    # is there (an empty buffer): the bridge fills it.
    uri = await buffers.opened(Path(opened["path"]), "")
    await editor.wait_for(lambda: MARKER in buffers.texts[uri], 30, "the conversation's text")
    assert buffers.texts[uri].startswith("# ")
    with pytest.raises(Exception, match="Write your prompt below the line"):
        await execute(editor, "opencode.session.send", {"uri": uri})
    # Asking about a selection is not offered in the conversation.
    selection = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=2, character=0)
    )
    actions = await code_actions(editor, uri, selection)
    assert "OpenCode: Send" not in [a.title for a in actions]  # not in the prompt area
    assert not [a for a in actions if a.title.startswith("OpenCode: Explain")]


async def test_an_edit_offers_its_diff_and_a_revert_and_a_slash_command_runs_from_there(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(editor)
    opened = await execute(editor, "opencode.session.open")
    await shown_conversation(editor)
    uri = await buffers.opened(Path(opened["path"]))
    a_py = git_repo / "src/a.py"
    original = a_py.read_text()
    scripted_model.push(
        Reply.edit(a_py, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed it."),
    )
    await execute(editor, "opencode.ask", {"prompt": "bump", "sessionID": opened["sessionID"]})
    await editor.wait_for(lambda: "tokens (" in buffers.texts[uri], 60, "the answer")
    assert "+ 43" in a_py.read_text()
    text = buffers.texts[uri]
    actions = await code_actions(editor, uri, at_line(text, line_of(text, "- edit `src/a.py`")))
    by_title = {a.title: a for a in actions}
    assert set(by_title) >= {"OpenCode: Show this turn's diff", "OpenCode: Revert this turn"}
    revert = by_title["OpenCode: Revert this turn"]
    assert revert.command is not None
    [target] = revert.command.arguments or []
    assert target["sessionID"] == opened["sessionID"]
    assert str(target["messageID"]).startswith("msg")
    await run_action(editor, revert)
    await editor.wait_for(lambda: a_py.read_text() == original, 60, "the revert")

    # "/init" in the prompt area runs OpenCode's own slash command in this session.
    scripted_model.push(Reply.text("Wrote the agents file."))
    asked = len(scripted_model.chat_requests())
    await buffers.typed(uri, buffers.texts[uri] + "/init\n")
    await execute(editor, "opencode.session.send", {"uri": uri})
    await editor.wait_for(
        lambda: len(scripted_model.chat_requests()) > asked, 60, "the command at the model"
    )
    assert "AGENTS.md" in scripted_model.chat_requests()[asked].user_text()
    await editor.wait_for(lambda: "Wrote the agents file." in buffers.texts[uri], 60, "answer")
    assert prompt_of(buffers.texts[uri]) == ""


async def test_a_conversation_opened_after_a_restart_is_followed_again(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    first = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(first)
    opened = await execute(first, "opencode.session.open")
    await shown_conversation(first)
    uri = await buffers.opened(Path(opened["path"]))
    scripted_model.push(Reply.text("Before the restart."))
    await execute(first, "opencode.ask", {"prompt": "one", "sessionID": opened["sessionID"]})
    await first.wait_for(lambda: "tokens (" in buffers.texts[uri], 60, "the answer")
    await buffers.typed(uri, buffers.texts[uri] + "my draft\n")
    first.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    path = Path(opened["path"])
    before = buffers.texts[uri]
    await first.wait_for(lambda: path.read_text(encoding="utf-8") == before, 30, "the file")
    await first.shutdown_session()
    await first.stop()

    # A new bridge; the user opens the file from the editor's recent files.
    second = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(second)
    await second.wait_for(lambda: second.statuses, 30, "the connection")
    uri = await buffers.opened(path)
    scripted_model.push(Reply.text("After the restart."))
    await execute(second, "opencode.ask", {"prompt": "two", "sessionID": opened["sessionID"]})
    await second.wait_for(lambda: "After the restart." in buffers.texts[uri], 60, "followed")
    text = buffers.texts[uri]
    assert text.index("Before the restart.") < text.index("After the restart.")
    assert prompt_of(text) == "my draft\n"


async def test_a_question_is_answered_from_the_conversation(
    git_repo: Path, server: RealOpenCode, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    buffers = Buffers(editor)
    opened = await execute(editor, "opencode.session.open")
    await shown_conversation(editor)
    uri = await buffers.opened(Path(opened["path"]))
    question = {
        "question": "Which database?",
        "header": "Database",
        "options": [
            {"label": "Postgres", "description": "A server"},
            {"label": "SQLite", "description": "A file"},
        ],
    }
    scripted_model.push(Reply.tool("question", {"questions": [question]}), Reply.text("Noted."))
    await execute(editor, "opencode.ask", {"prompt": "set up", "sessionID": opened["sessionID"]})
    await editor.wait_for(lambda: "**Question**" in buffers.texts[uri], 60, "the question")
    text = buffers.texts[uri]
    assert "Options (code actions on this line): Postgres · SQLite" in text
    actions = await code_actions(editor, uri, at_line(text, line_of(text, "Options (code")))
    [sqlite] = [a for a in actions if a.title.startswith("OpenCode: Answer 'SQLite'")]
    await run_action(editor, sqlite)
    await editor.wait_for(lambda: "Noted." in buffers.texts[uri], 60, "the answer")
    [result] = scripted_model.last_request().tool_results()
    assert '"Which database?"="SQLite"' in result
    assert "`: answered" in buffers.texts[uri]
