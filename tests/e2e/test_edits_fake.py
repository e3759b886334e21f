"""Buffer sync, session diffs and review against the scripted fake server: the cases a real
server cannot be made to produce (a malicious diff, a race with the user's typing, editors
without versioned edits or file operations).

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

import asyncio
import difflib
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from tests.e2e.conftest import ConnectFake
from tests.support.editor_buffers import Buffers
from tests.support.fake_opencode import FakeOpenCode, event
from tests.support.lsp import EditorClient, capabilities, code_actions, execute
from tests.support.real_opencode import SAMPLE_FILES

A_PY = SAMPLE_FILES["src/a.py"]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace, with a file the agent must never reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.py").write_text("TOKEN = 'keep me'\n")
    return folder


async def start(
    connect_fake: ConnectFake,
    fake: FakeOpenCode,
    options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[EditorClient, Buffers]:
    editor = await connect_fake(options, **kwargs)
    await fake.wait_for_request_async("GET", "/path", timeout=10)
    return editor, Buffers(editor)


@pytest.fixture
async def editor(connect_fake: ConnectFake, fake: FakeOpenCode) -> tuple[EditorClient, Buffers]:
    return await start(connect_fake, fake)


def jsdiff(name: str, before: str, after: str) -> str:
    """A patch in OpenCode's form (``Index:`` line, file named on both sides)."""
    lines = list(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), name, name
        )
    )
    return f"Index: {name}\n{'=' * 67}\n" + "".join(lines)


def agent_writes(path: Path, text: str, fake: FakeOpenCode) -> None:
    """What OpenCode does after an edit tool call: the file, then ``file.edited``."""
    path.write_text(text)
    fake.publish(event("file.edited", file=str(path)))


def edits_to(editor: EditorClient, uri: str) -> list[types.ApplyWorkspaceEditParams]:
    return [params for params in editor.applied_edits if uri in str(params.edit)]


def warnings(editor: EditorClient) -> list[str]:
    return editor.shown(types.MessageType.Warning)


async def handled(client: EditorClient, fake: FakeOpenCode) -> None:
    """Wait until the bridge has handled every event published so far: it handles them in
    order, and a run starting shows in ``opencode/status``."""
    session_id = fake.new_id("ses")
    fake.publish(event("session.status", sessionID=session_id, status={"type": "busy"}))
    await client.wait_for(
        lambda: any(s.get("sessionID") == session_id for s in client.statuses),
        10,
        "the bridge to handle the events",
    )


async def synced(client: EditorClient, buffers: Buffers, fake: FakeOpenCode, repo: Path) -> None:
    """Wait until the bridge has done its buffer work for every event so far: that work runs in
    order, so a merge into a sentinel buffer arriving proves the rest is done."""
    sentinel = repo / f"sentinel{len(buffers.texts)}.py"
    sentinel.write_text("a\n\n\nb\n")
    uri = await buffers.opened(sentinel)
    await buffers.typed(uri, "a\n\n\nB\n")
    agent_writes(sentinel, "A\n\n\nb\n", fake)
    await client.wait_for(lambda: buffers.texts[uri] == "A\n\n\nB\n", 10, "the sentinel")


# --- buffer sync -------------------------------------------------------------------------


async def test_a_clean_buffer_follows_the_disk(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    uri = await buffers.opened(repo / "src/a.py")
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await client.wait_for(lambda: "foo(9)" in buffers.texts[uri], 10, "the agent's change")
    assert buffers.texts[uri] == (repo / "src/a.py").read_text()
    [applied] = client.applied_edits
    [document_edit] = applied.edit.document_changes or []
    assert isinstance(document_edit, types.TextDocumentEdit)
    assert document_edit.text_document.version == 1
    assert [e.new_text for e in document_edit.edits] == ["9"]  # minimal, not the whole file


async def test_a_stale_edit_is_rebuilt_against_the_new_text_and_sent_again(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    uri = await buffers.opened(repo / "src/a.py")
    typed = "# typed while the edit was on its way\n" + A_PY
    # The user types at the top just before the editor looks at the bridge's first edit.
    buffers.before_answer = lambda params: buffers.type(uri, typed)
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await client.wait_for(lambda: "foo(9)" in buffers.texts[uri], 10, "the rebuilt edit")

    assert buffers.refused == ["outdated workspace edit"]
    assert buffers.texts[uri] == typed.replace("foo(4)", "foo(9)")  # both survive
    versions = [
        op.text_document.version
        for params in client.applied_edits
        for op in params.edit.document_changes or []
        if isinstance(op, types.TextDocumentEdit)
    ]
    assert versions == [1, 2]


async def test_unsaved_changes_elsewhere_are_merged_and_the_user_is_told(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    uri = await buffers.opened(repo / "src/a.py")
    await buffers.typed(uri, A_PY.replace("import math", "import math, os"))
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await client.wait_for(lambda: "foo(9)" in buffers.texts[uri], 10, "the merge")
    assert buffers.texts[uri] == A_PY.replace("import math", "import math, os").replace(
        "foo(4)", "foo(9)"
    )
    assert (repo / "src/a.py").read_text() == A_PY.replace("foo(4)", "foo(9)")  # not saved
    await client.wait_for(
        lambda: any("merged the agent's change to src/a.py" in m for m in client.shown()),
        5,
        "the merge message",
    )


async def test_a_conflict_leaves_the_buffer_alone_and_is_told_once(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    uri = await buffers.opened(repo / "src/a.py")
    mine = A_PY.replace("foo(4)", "foo(5)")
    await buffers.typed(uri, mine)
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await client.wait_for(lambda: warnings(client), 10, "the conflict warning")
    mine = "# still typing\n" + mine
    await buffers.typed(uri, mine)
    # The same change is announced again by a patch part and the user message, twice.
    patch = jsdiff("src/a.py", A_PY, A_PY.replace("foo(4)", "foo(9)"))
    fake.publish(
        event(
            "message.part.updated",
            sessionID="ses_1",
            part={"type": "patch", "hash": "h", "files": [str(repo / "src/a.py")]},
        )
    )
    for _ in range(2):
        fake.publish(
            event(
                "message.updated",
                sessionID="ses_1",
                info={
                    "id": "msg_1",
                    "sessionID": "ses_1",
                    "role": "user",
                    "summary": {
                        "diffs": [{"file": "src/a.py", "patch": patch, "status": "modified"}]
                    },
                },
            )
        )
    await client.wait_for(lambda: warnings(client), 10, "the conflict warning")
    await synced(client, buffers, fake, repo)
    [message] = warnings(client)
    assert "OpenCode changed src/a.py on disk in the lines you changed too" in message
    assert "your buffer was left as it is" in message
    assert buffers.texts[uri] == mine
    assert edits_to(client, uri) == []


async def test_saving_makes_the_saved_text_the_base(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    uri = await buffers.opened(repo / "src/a.py")
    saved = A_PY.replace("foo(4)", "foo(5)")
    await buffers.typed(uri, saved)
    buffers.save(uri)
    await buffers.roundtrip(uri)
    # The agent changes the line the user changed and saved: no conflict, the buffer was clean.
    agent_writes(repo / "src/a.py", saved.replace("foo(5)", "foo(6)"), fake)
    await client.wait_for(lambda: "foo(6)" in buffers.texts[uri], 10, "the agent's change")
    assert warnings(client) == []


async def test_an_editor_that_reloads_clean_buffers_gets_only_its_unsaved_ones_merged(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    client, buffers = await start(connect_fake, fake, client_name="Visual Studio Code")
    (repo / "src/c.py").write_text("one\n\n\ntwo\n")
    clean = await buffers.opened(repo / "src/a.py")
    dirty = await buffers.opened(repo / "src/c.py")
    await buffers.typed(dirty, "ONE\n\n\ntwo\n")
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    agent_writes(repo / "src/c.py", "one\n\n\nTWO\n", fake)
    await client.wait_for(lambda: "TWO" in buffers.texts[dirty], 10, "the merge")
    assert buffers.texts[dirty] == "ONE\n\n\nTWO\n"  # done after a.py's turn
    assert buffers.texts[clean] == A_PY  # VS Code reloads it itself
    assert len(client.applied_edits) == 1


def plain_capabilities(*, document_changes: bool, resources: bool) -> Any:
    caps = capabilities()
    caps.workspace.workspace_edit = types.WorkspaceEditClientCapabilities(
        document_changes=document_changes,
        resource_operations=[types.ResourceOperationKind.Create, types.ResourceOperationKind.Delete]
        if resources
        else None,
    )
    return caps


async def test_without_versioned_edits_auto_leaves_buffers_alone(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    client, buffers = await start(
        connect_fake,
        fake,
        client_capabilities=plain_capabilities(document_changes=False, resources=False),
    )
    uri = await buffers.opened(repo / "src/a.py")
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await handled(client, fake)  # nothing is queued when syncing is off
    assert client.applied_edits == [] and buffers.texts[uri] == A_PY


async def test_without_versioned_edits_sync_on_sends_plain_changes(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    client, buffers = await start(
        connect_fake,
        fake,
        {"syncBuffers": "on"},
        client_capabilities=plain_capabilities(document_changes=False, resources=False),
    )
    uri = await buffers.opened(repo / "src/a.py")
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await client.wait_for(lambda: "foo(9)" in buffers.texts[uri], 10, "the agent's change")
    [applied] = client.applied_edits
    assert applied.edit.document_changes is None and list(applied.edit.changes or {}) == [uri]
    assert buffers.texts[uri] == (repo / "src/a.py").read_text()


async def test_sync_off_leaves_buffers_alone(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    client, buffers = await start(connect_fake, fake, {"syncBuffers": "off"})
    uri = await buffers.opened(repo / "src/a.py")
    agent_writes(repo / "src/a.py", A_PY.replace("foo(4)", "foo(9)"), fake)
    await handled(client, fake)  # nothing is queued when syncing is off
    assert client.applied_edits == [] and buffers.texts[uri] == A_PY


# --- paths outside the workspace ---------------------------------------------------------


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "symlink"])
async def test_a_change_outside_the_workspace_is_refused_and_reported(
    editor: tuple[EditorClient, Buffers],
    repo: Path,
    outside: Path,
    fake: FakeOpenCode,
    how: str,
) -> None:
    client, buffers = editor
    (repo / "link").symlink_to(outside)
    secret = outside / "secret.py"
    opened = {"dot-dot": secret, "absolute": secret, "symlink": repo / "link/secret.py"}[how]
    reported = {
        "dot-dot": f"{repo}/../outside/secret.py",
        "absolute": str(secret),
        "symlink": str(repo / "link/secret.py"),
    }[how]
    uri = await buffers.opened(opened)  # the user has the file open
    secret.write_text("TOKEN = 'changed on disk'\n")
    fake.publish(event("file.edited", file=reported))
    await client.wait_for(lambda: warnings(client), 10, "the refusal")
    [message] = warnings(client)
    assert reported in message and "outside the workspace" in message
    assert "did not read or change it" in message
    await synced(client, buffers, fake, repo)
    assert buffers.texts[uri] == "TOKEN = 'keep me'\n"
    assert all(str(outside) not in str(e.edit) for e in client.applied_edits)


@pytest.mark.parametrize(
    "name", ["../outside/secret.py", "ABSOLUTE", "link/secret.py", "src/../../outside/secret.py"]
)
async def test_a_session_diff_reaching_outside_is_refused_whole(
    editor: tuple[EditorClient, Buffers],
    repo: Path,
    outside: Path,
    fake: FakeOpenCode,
    name: str,
) -> None:
    client, buffers = editor
    (repo / "link").symlink_to(outside)
    if name == "ABSOLUTE":
        name = str(outside / "secret.py")
    session = fake.create_session()
    fake.set_diff(
        session["id"],
        "msg_1",
        [
            {
                "file": "src/a.py",
                "patch": jsdiff("src/a.py", A_PY, A_PY.replace("foo(4)", "foo(9)")),
                "status": "modified",
            },
            {
                "file": name,
                "patch": jsdiff(name, "TOKEN = 'keep me'\n", "TOKEN = 'stolen'\n"),
                "status": "modified",
            },
        ],
    )
    await execute(client, "opencode.diff.apply", {"sessionID": session["id"], "messageID": "msg_1"})
    await client.wait_for(lambda: client.shown(types.MessageType.Error), 10, "the refusal")
    [message] = client.shown(types.MessageType.Error)
    assert "not inside any workspace folder" in message and "Nothing was changed" in message
    assert client.applied_edits == []
    assert (outside / "secret.py").read_text() == "TOKEN = 'keep me'\n"
    assert (repo / "src/a.py").read_text() == A_PY


# --- commands ------------------------------------------------------------------------------


async def test_diff_apply_needs_a_session_and_checks_its_arguments(
    editor: tuple[EditorClient, Buffers],
) -> None:
    client, _ = editor
    with pytest.raises(JsonRpcInvalidParams, match="sessionID"):
        await execute(client, "opencode.diff.apply", {"sessionID": 5})
    with pytest.raises(JsonRpcInvalidParams, match="messageID"):
        await execute(client, "opencode.diff.show", {"messageID": "nope"})
    with pytest.raises(JsonRpcInvalidParams, match="arguments"):
        await execute(client, "opencode.session.revert", "ses_1")
    assert await execute(client, "opencode.diff.apply") == {"sessionID": None, "messageID": None}
    await client.wait_for(lambda: client.shown(types.MessageType.Error), 10, "the error")
    assert "No current OpenCode session here" in client.shown(types.MessageType.Error)[0]


async def test_diff_apply_creates_and_deletes_files_the_editor_cannot(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    client, buffers = await start(
        connect_fake,
        fake,
        client_capabilities=plain_capabilities(document_changes=True, resources=False),
    )
    session = fake.create_session()
    readme = (repo / "README.md").read_text()
    fake.set_diff(
        session["id"],
        "msg_1",
        [
            {
                "file": "src/a.py",
                "status": "modified",
                "patch": jsdiff("src/a.py", A_PY, A_PY.replace("foo(4)", "foo(9)")),
            },
            {"file": "src/new.py", "status": "added", "patch": jsdiff("src/new.py", "", "x = 1\n")},
            {"file": "README.md", "status": "deleted", "patch": jsdiff("README.md", readme, "")},
        ],
    )
    await execute(client, "opencode.diff.apply", {"sessionID": session["id"], "messageID": "msg_1"})
    await client.wait_for(lambda: client.shown(types.MessageType.Info), 10, "the report")
    [report] = client.shown(types.MessageType.Info)
    assert "applied the changes of message msg_1 to src/a.py, src/new.py" in report
    assert "The agent deleted README.md" in report and "delete them yourself" in report
    assert (repo / "src/new.py").read_text() == "x = 1\n"  # written by the bridge
    assert (repo / "README.md").read_text() == readme  # deleting is the user's call
    assert buffers.text(repo / "src/a.py") == A_PY.replace("foo(4)", "foo(9)")  # unsaved buffer
    [applied] = client.applied_edits
    kinds = [type(op).__name__ for op in applied.edit.document_changes or []]
    assert kinds == ["TextDocumentEdit"]


async def test_diff_apply_uses_file_operations_and_the_open_buffer(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    typed = A_PY.replace("import math", "import math, os")
    uri = await buffers.opened(repo / "src/a.py", typed)  # unsaved: the patch applies to this
    session = fake.create_session()
    fake.set_diff(
        session["id"],
        "msg_1",
        [
            {
                "file": "src/a.py",
                "status": "modified",
                "patch": jsdiff("src/a.py", A_PY, A_PY.replace("foo(4)", "foo(9)")),
            },
            {"file": "src/new.py", "status": "added", "patch": jsdiff("src/new.py", "", "x = 1\n")},
        ],
    )
    await execute(client, "opencode.diff.apply", {"sessionID": session["id"], "messageID": "msg_1"})
    await client.wait_for(lambda: client.shown(types.MessageType.Info), 10, "the report")
    assert buffers.texts[uri] == typed.replace("foo(4)", "foo(9)")
    [applied] = client.applied_edits
    kinds = [type(op).__name__ for op in applied.edit.document_changes or []]
    assert kinds == ["TextDocumentEdit", "CreateFile", "TextDocumentEdit"]
    assert (repo / "src/new.py").exists()


async def test_diff_apply_defaults_to_the_latest_message_that_changed_files(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    session = fake.create_session()
    patch = jsdiff("src/a.py", A_PY, A_PY.replace("foo(4)", "foo(9)"))
    diffs = [{"file": "src/a.py", "status": "modified", "patch": patch}]
    for message_id, summary in (("msg_1", diffs), ("msg_2", [])):
        fake.publish(
            event(
                "message.updated",
                sessionID=session["id"],
                info={
                    "id": message_id,
                    "sessionID": session["id"],
                    "role": "user",
                    "summary": {"diffs": summary},
                },
            )
        )
    fake.set_diff(session["id"], "msg_1", diffs)
    await execute(client, "opencode.diff.apply", {"sessionID": session["id"]})
    await client.wait_for(lambda: client.shown(types.MessageType.Info), 10, "the report")
    assert "applied the changes of message msg_1 to src/a.py" in client.shown()[0]
    assert buffers.text(repo / "src/a.py") == A_PY.replace("foo(4)", "foo(9)")

    # The same again: the edit was not saved, the buffer has it, so nothing is left to apply.
    await execute(client, "opencode.diff.apply", {"sessionID": session["id"]})
    await client.wait_for(lambda: len(client.shown()) == 2, 10, "the second report")
    assert "already has the changes of message msg_1 (src/a.py)" in client.shown()[1]


async def test_diff_apply_refuses_a_patch_that_does_not_match(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, _ = editor
    session = fake.create_session()
    other = A_PY.replace("foo(4)", "foo(7)")
    fake.set_diff(
        session["id"],
        "msg_1",
        [
            {
                "file": "src/a.py",
                "status": "modified",
                "patch": jsdiff("src/a.py", other, other.replace("foo(7)", "foo(8)")),
            },
        ],
    )
    await execute(client, "opencode.diff.apply", {"sessionID": session["id"], "messageID": "msg_1"})
    await client.wait_for(lambda: client.shown(types.MessageType.Error), 10, "the refusal")
    [message] = client.shown(types.MessageType.Error)
    assert "src/a.py does not apply" in message and "Nothing was changed" in message
    assert client.applied_edits == []


async def test_diff_show_writes_the_diff_outside_the_workspace_and_opens_it(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, _ = editor
    session = fake.create_session()
    patch = jsdiff("src/a.py", A_PY, A_PY.replace("foo(4)", "foo(9)"))
    fake.publish(
        event(
            "message.updated",
            sessionID=session["id"],
            info={
                "id": "msg_1",
                "sessionID": session["id"],
                "role": "user",
                "summary": {"diffs": [{"file": "src/a.py", "status": "modified", "patch": patch}]},
            },
        )
    )
    fake.publish(
        event(
            "message.part.updated",
            sessionID=session["id"],
            part={
                "id": "prt_1",
                "sessionID": session["id"],
                "messageID": "msg_1",
                "type": "text",
                "text": "Use nine\nplease",
            },
        )
    )
    fake.set_diff(
        session["id"], "msg_1", [{"file": "src/a.py", "status": "modified", "patch": patch}]
    )
    await execute(client, "opencode.diff.show", {"sessionID": session["id"]})
    await client.wait_for(lambda: client.shown_documents, 10, "showDocument")
    [shown] = client.shown_documents
    path = to_fs_path(shown.uri)
    assert path and not Path(path).is_relative_to(repo)
    text = await asyncio.to_thread(Path(path).read_text)
    assert f"# OpenCode session {session['id']}" in text
    assert "# Message msg_1: Use nine" in text
    assert patch in text


async def test_revert_resyncs_open_buffers_and_a_busy_session_is_told(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    session = fake.create_session()
    uri = await buffers.opened(repo / "src/a.py")
    (repo / "src/a.py").write_text(A_PY.replace("foo(4)", "foo(0)"))  # what a revert does
    await execute(
        client, "opencode.session.revert", {"sessionID": session["id"], "messageID": "msg_1"}
    )
    await client.wait_for(lambda: "foo(0)" in buffers.texts[uri], 10, "the resync")
    request = await fake.wait_for_request_async("POST", f"/session/{session['id']}/revert")
    assert request.body == {"messageID": "msg_1"}
    await client.wait_for(lambda: client.shown(types.MessageType.Info), 10, "the report")
    assert "reverted the agent's changes from message msg_1 on" in client.shown()[0]

    fake.fail("POST", f"/session/{session['id']}/unrevert", 409)
    await execute(client, "opencode.session.unrevert", {"sessionID": session["id"]})
    await client.wait_for(lambda: client.shown(types.MessageType.Error), 10, "busy")
    assert "busy" in client.shown(types.MessageType.Error)[0]


async def test_the_revert_code_action_undoes_one_hunk_in_the_buffer(
    editor: tuple[EditorClient, Buffers], repo: Path, fake: FakeOpenCode
) -> None:
    client, buffers = editor
    before = A_PY + "\n\n\ndef baz():\n    return 1\n"
    after = before.replace("import math", "import cmath").replace("return 1", "return 2")
    (repo / "src/a.py").write_text(after)
    uri = await buffers.opened(repo / "src/a.py")
    patch = jsdiff("src/a.py", before, after)
    fake.publish(
        event(
            "message.updated",
            sessionID="ses_1",
            info={
                "id": "msg_1",
                "sessionID": "ses_1",
                "role": "user",
                "summary": {"diffs": [{"file": "src/a.py", "status": "modified", "patch": patch}]},
            },
        )
    )
    await handled(client, fake)
    line = types.Range(start=types.Position(12, 4), end=types.Position(12, 4))
    actions = await code_actions(client, uri, line)
    titles = [a.title for a in actions]
    assert titles == [
        "OpenCode: Undo the agent's change here (line 13)",
        "OpenCode: Revert the agent's changes from this message on (all files)",
    ]
    undo = actions[0]
    assert undo.edit is not None
    assert buffers.apply(types.ApplyWorkspaceEditParams(edit=undo.edit))
    assert buffers.texts[uri] == after.replace("return 2", "return 1")  # only that hunk
    revert = actions[1].command
    assert revert is not None and list(revert.arguments or []) == [
        {"sessionID": "ses_1", "messageID": "msg_1"}
    ]
    nowhere = types.Range(start=types.Position(6, 0), end=types.Position(6, 0))
    assert await code_actions(client, uri, nowhere) == []


# --- review mode ---------------------------------------------------------------------------


TWELVE = "".join(f"line {n}\n" for n in range(1, 13))


def ask_edit(fake: FakeOpenCode, repo: Path, session_id: str, old: str, new: str) -> str:
    """A running edit tool call, then its permission request, as OpenCode sends them."""
    path = str(repo / "src/five.py")
    fake.publish(
        event(
            "message.part.updated",
            sessionID=session_id,
            part={
                "id": "prt_t",
                "sessionID": session_id,
                "messageID": "msg_a",
                "type": "tool",
                "tool": "edit",
                "callID": "call_1",
                "state": {
                    "status": "running",
                    "input": {"filePath": path, "oldString": old, "newString": new},
                },
            },
        )
    )
    return fake.ask_permission(
        session_id,
        "edit",
        patterns=["src/five.py"],
        metadata={"filepath": path, "diff": "display only"},
        tool={"messageID": "msg_a", "callID": "call_1"},
    )


def annotating_capabilities() -> Any:
    caps = capabilities()
    caps.workspace.workspace_edit.change_annotation_support = types.ChangeAnnotationsSupportOptions(
        groups_on_label=False
    )
    return caps


def replies(fake: FakeOpenCode, request_id: str) -> list[Any]:
    return [r.body for r in fake.requests if r.path == f"/permission/{request_id}/reply"]


async def test_review_preview_applies_the_kept_hunks_and_tells_the_agent(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    (repo / "src/five.py").write_text(TWELVE)
    client, buffers = await start(
        connect_fake,
        fake,
        {"editApproval": "ask"},
        client_capabilities=annotating_capabilities(),
    )
    uri = await buffers.opened(repo / "src/five.py")
    buffers.keep = lambda annotation: annotation == "opencode-hunk-1"
    session = fake.create_session()
    old = "".join(f"line {n}\n" for n in range(2, 11))
    new = old.replace("line 2\n", "line two\n").replace("line 10\n", "line ten\n")
    request_id = ask_edit(fake, repo, session["id"], old, new)

    # The permissions feature puts the request on the file as a diagnostic; review is offered
    # among its quick fixes.
    [diagnostic] = await client.wait_for(
        lambda: [d for d in client.diagnostics.get(uri, []) if d.code == request_id],
        10,
        "the request's diagnostic",
    )
    actions = await code_actions(client, uri, diagnostic.range, [diagnostic])
    [review] = [a for a in actions if "hunk by hunk" in a.title]
    assert review.title == "OpenCode: Review hunk by hunk — edit src/five.py"
    assert review.command is not None
    await execute(client, review.command.command, *review.command.arguments or [])

    await client.wait_for(lambda: replies(fake, request_id), 10, "the reply")
    [preview] = client.applied_edits
    annotations = preview.edit.change_annotations or {}
    assert sorted(annotations) == ["opencode-hunk-1", "opencode-hunk-2"]
    assert all(a.needs_confirmation for a in annotations.values())
    assert annotations["opencode-hunk-2"].label == "Hunk 2 (line 10)"
    [reply] = replies(fake, request_id)
    assert reply["reply"] == "reject"
    applied = "Applied by the user (the file on disk has them now): hunk 1 (line 2)."
    assert applied in reply["message"]
    assert "Refused (not applied): hunk 2 (line 10)" in reply["message"]
    expected = TWELVE.replace("line 2\n", "line two\n")
    assert (repo / "src/five.py").read_text() == expected
    assert buffers.texts[uri] == expected


async def test_review_by_prompts_when_the_editor_cannot_preview(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    (repo / "src/five.py").write_text(TWELVE)
    client, buffers = await start(connect_fake, fake)
    answers = iter(["Apply", "Apply the rest"])
    client.answer_request = lambda params: next(answers)
    session = fake.create_session()
    old = "".join(f"line {n}\n" for n in range(2, 11))
    request_id = ask_edit(fake, repo, session["id"], old, old.replace("line", "LINE"))
    await handled(client, fake)
    assert await execute(client, "opencode.edit.review", {"id": request_id}) == {"id": request_id}
    await client.wait_for(lambda: replies(fake, request_id), 10, "the reply")
    assert replies(fake, request_id) == [{"reply": "once"}]  # every hunk: OpenCode writes it
    prompts = [p.message for p in client.message_requests if "hunk" in p.message]
    assert prompts[0].startswith("OpenCode wants to edit src/five.py: hunk 1 of 1 (lines 2-10)")
    assert "- line 2\n" in prompts[0] and "+ LINE 2\n" in prompts[0]


async def test_review_refuses_a_buffer_with_unsaved_changes_and_unknown_ids(
    repo: Path, fake: FakeOpenCode, connect_fake: ConnectFake
) -> None:
    (repo / "src/five.py").write_text(TWELVE)
    client, buffers = await start(connect_fake, fake)
    with pytest.raises(JsonRpcInvalidParams, match="'id'"):
        await execute(client, "opencode.edit.review", {"id": "per_unknown"})
    uri = await buffers.opened(repo / "src/five.py")
    await buffers.typed(uri, "mine\n" + TWELVE)
    session = fake.create_session()
    request_id = ask_edit(fake, repo, session["id"], "line 3\n", "line three\n")
    await handled(client, fake)
    await execute(client, "opencode.edit.review", {"id": request_id})
    await client.wait_for(lambda: warnings(client), 10, "the refusal")
    assert "src/five.py has unsaved changes" in warnings(client)[0]
    assert replies(fake, request_id) == []
