"""The editor-context endpoint, seen by a client that speaks the TUI's protocol (as OpenCode
1.18.33's ``cli/cmd/tui/context/editor.ts`` does): it finds the lock file in
``$HOME/.claude/ide``, connects with the lock's token, sends ``initialize``, and reads
``selection_changed`` and ``at_mentioned``.

The bridge runs over stdio as an editor starts it, against the scripted fake OpenCode (the
endpoint needs no OpenCode; the fallback to ``/tui/append-prompt`` is recorded there).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import (
    EditorClient,
    StartEditor,
    code_actions,
    execute,
    line_range,
    open_file,
)

HEADER = "x-claude-code-ide-authorization"


def lock_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["HOME"]) / ".claude" / "ide").glob("*.lock"))


async def wait_for_lock(editor: EditorClient, env: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    [path] = await editor.wait_for(lambda: lock_files(env), 30, "the lock file")
    return path, json.loads(path.read_text())


class Tui:
    """The TUI's side of the protocol."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def initialize(self) -> dict[str, Any]:
        await self.connection.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "opencode", "version": "0.0.0"},
                    },
                }
            )
        )
        reply = await self.next()
        await self.connection.send(
            json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        )
        return reply

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(
            await asyncio.wait_for(self.connection.recv(), timeout)
        )
        return message

    async def next_notification(self, method: str, timeout: float = 10) -> dict[str, Any]:
        while True:
            message = await self.next(timeout)
            if message.get("method") == method:
                params: dict[str, Any] = message["params"]
                return params


async def connect_tui(port: int, token: str) -> Tui:
    connection = await connect(f"ws://127.0.0.1:{port}", additional_headers={HEADER: token})
    return Tui(connection)


async def until_tuis(editor: EditorClient, count: int, timeout: float = 10) -> None:
    """Wait until the bridge counts ``count`` connected TUIs (``opencode.status``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await execute(editor, "opencode.status"))["editorContext"]["tuis"] != count:
        assert asyncio.get_running_loop().time() < deadline, f"never {count} TUIs connected"
        await asyncio.sleep(0.05)


@pytest.fixture
async def editor(
    start_bridge: StartEditor, repo: Path, fake: FakeOpenCode
) -> AsyncIterator[EditorClient]:
    yield await start_bridge(repo, {"serverUrl": fake.url})


@pytest.fixture
async def tui(editor: EditorClient, editor_env: dict[str, str]) -> AsyncIterator[Tui]:
    path, lock = await wait_for_lock(editor, editor_env)
    client = await connect_tui(int(path.stem), lock["authToken"])
    await client.initialize()
    yield client
    await client.connection.close()


async def test_the_lock_file_names_the_endpoint_and_the_handshake_answers(
    editor: EditorClient, editor_env: dict[str, str], repo: Path
) -> None:
    path, lock = await wait_for_lock(editor, editor_env)
    assert editor._server is not None
    assert lock["pid"] == editor._server.pid
    assert str(repo) in lock["workspaceFolders"]
    assert lock["transport"] == "ws" and lock["ideName"] == "opencode-lsp (test-editor)"
    assert len(lock["authToken"]) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # no other user reads the token

    tui = await connect_tui(int(path.stem), lock["authToken"])
    reply = await tui.initialize()
    assert reply["id"] == 1
    assert reply["result"]["protocolVersion"] == "2025-11-25"
    assert reply["result"]["serverInfo"]["name"] == "opencode-lsp"
    await tui.connection.close()


async def test_a_connection_without_the_token_is_refused(
    editor: EditorClient, editor_env: dict[str, str]
) -> None:
    path, lock = await wait_for_lock(editor, editor_env)
    url = f"ws://127.0.0.1:{path.stem}"
    for headers in ({}, {HEADER: "wrong"}, {HEADER: lock["authToken"][:-1]}):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 401


async def test_selection_changed_carries_the_unsaved_text_of_the_buffer(
    editor: EditorClient, tui: Tui, repo: Path
) -> None:
    path = repo / "src" / "a.py"
    on_disk = path.read_text()
    typed = on_disk.replace("def foo(x):", "def foo(x, y):  # typed, not saved")
    uri = open_file(editor, path, typed)

    # VS Code asks for code actions on every selection change: its range is the selection.
    await code_actions(editor, uri, line_range(2, 3))  # lines 3-4, line-wise

    params = await tui.next_notification("selection_changed")
    assert params["filePath"] == str(path)
    assert params["text"] == "".join(typed.splitlines(keepends=True)[2:4])
    assert "def foo(x, y):  # typed, not saved" in params["text"]
    assert params["selection"]["start"] == {"line": 3, "character": 1}
    assert params["selection"]["end"]["line"] == 4  # shown as a.py#3-4 in the TUI
    assert path.read_text() == on_disk  # nothing written


async def test_opencode_selection_and_hints(editor: EditorClient, tui: Tui, repo: Path) -> None:
    a, b = repo / "src" / "a.py", repo / "src" / "b.py"
    a_uri, b_uri = open_file(editor, a), open_file(editor, b)

    # The configs' notification: characters 4-7 of line 3 ("foo").
    editor.protocol.notify(
        "opencode/selection",
        {
            "uri": a_uri,
            "range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 7}},
        },
    )
    params = await tui.next_notification("selection_changed")
    assert params["text"] == "foo"
    assert params["selection"] == {
        "start": {"line": 3, "character": 5},
        "end": {"line": 3, "character": 8},
    }

    # Highlights asked at the cursor in the same file leave the selection alone; asked in
    # another file, they tell the TUI which file the user looks at, with nothing selected.
    position = types.Position(line=0, character=0)
    for uri in (a_uri, b_uri):
        await editor.text_document_document_highlight_async(
            types.DocumentHighlightParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=position
            )
        )
    params = await tui.next_notification("selection_changed")
    assert params["filePath"] == str(b) and params["text"] == ""

    # A malformed notification is ignored; the bridge goes on.
    editor.protocol.notify("opencode/selection", {"uri": "not a uri", "range": 3})
    editor.protocol.notify("opencode/selection", {"uri": a_uri, "range": None})
    params = await tui.next_notification("selection_changed")
    assert params["filePath"] == str(a) and params["text"] == ""


async def test_a_tui_that_connects_later_gets_the_current_selection(
    editor: EditorClient, editor_env: dict[str, str], tui: Tui, repo: Path
) -> None:
    uri = open_file(editor, repo / "src" / "a.py")
    await code_actions(editor, uri, line_range(0, 0))
    first = await tui.next_notification("selection_changed")

    path, lock = await wait_for_lock(editor, editor_env)
    second = await connect_tui(int(path.stem), lock["authToken"])
    await second.initialize()
    assert await second.next_notification("selection_changed") == first
    await second.connection.close()


async def test_append_prompt_mentions_in_the_connected_tui(
    editor: EditorClient, tui: Tui, repo: Path, fake: FakeOpenCode
) -> None:
    path = repo / "src" / "a.py"
    uri = open_file(editor, path)
    range_json = {"start": {"line": 2, "character": 0}, "end": {"line": 4, "character": 0}}
    result = await execute(editor, "opencode.tui.appendPrompt", {"uri": uri, "range": range_json})
    assert result["via"] == "editorContext"
    mention = await tui.next_notification("at_mentioned")
    assert mention == {"filePath": str(path), "lineStart": 3, "lineEnd": 4}

    status = await execute(editor, "opencode.status")
    assert status["editorContext"]["tuis"] == 1
    await editor.wait_for(
        lambda: any("TUI context: 1 TUI connected" in m for m in editor.shown()),
        10,
        "the status message",
    )

    # With no TUI connected, the reference goes to the TUI attached to the server.
    await tui.connection.close()
    await until_tuis(editor, 0)
    result = await execute(editor, "opencode.tui.appendPrompt", {"uri": uri, "range": range_json})
    assert result == {"text": "@src/a.py#L3-4 ", "via": "server"}
    await editor.wait_for(
        lambda: [r for r in fake.requests if r.path == "/tui/append-prompt"],
        10,
        "POST /tui/append-prompt",
    )


async def test_the_setting_turns_it_off(
    start_bridge: StartEditor, repo: Path, fake: FakeOpenCode, editor_env: dict[str, str]
) -> None:
    editor = await start_bridge(repo, {"serverUrl": fake.url, "editorContext": False})
    status = await execute(editor, "opencode.status")
    assert status["editorContext"] == {"enabled": False, "port": None, "tuis": 0}
    assert lock_files(editor_env) == []
    editor.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"opencode": {"serverUrl": fake.url, "editorContext": True}}
        )
    )
    await wait_for_lock(editor, editor_env)


# --- the lock file and the endpoint never outlive the bridge --------------------------------


def refused(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("how", ["shutdown", "stdin", "sigterm"])
async def test_the_lock_file_and_endpoint_end_with_the_bridge(
    editor: EditorClient, editor_env: dict[str, str], tui: Tui, how: str
) -> None:
    path, _ = await wait_for_lock(editor, editor_env)
    bridge = editor._server
    assert bridge is not None
    if how == "shutdown":
        await editor.shutdown_session()
    elif how == "stdin":  # what the bridge sees when its editor crashes
        assert bridge.stdin is not None
        bridge.stdin.close()
    else:
        bridge.send_signal(signal.SIGTERM)
    await asyncio.wait_for(bridge.wait(), 10)
    assert not path.exists()
    assert refused(int(path.stem))


async def test_a_killed_bridges_stale_lock_is_removed_by_the_next(
    start_bridge: StartEditor, repo: Path, fake: FakeOpenCode, editor_env: dict[str, str]
) -> None:
    first = await start_bridge(repo, {"serverUrl": fake.url})
    stale, _ = await wait_for_lock(first, editor_env)
    assert first._server is not None
    os.kill(first._server.pid, signal.SIGKILL)  # nothing can clean up after SIGKILL
    await asyncio.wait_for(first._server.wait(), 10)
    assert stale.exists()
    foreign = stale.with_name("1.lock")  # another tool's lock: not ours to remove
    foreign.write_text(
        json.dumps(
            {
                "pid": 999999999,
                "ideName": "Visual Studio Code",
                "workspaceFolders": [str(repo)],
                "authToken": "t",
            }
        )
    )

    second = await start_bridge(repo, {"serverUrl": fake.url})
    await second.wait_for(lambda: not stale.exists(), 30, "the stale lock to be removed")
    assert foreign.exists()
    [fresh] = [p for p in lock_files(editor_env) if p != foreign]
    assert json.loads(fresh.read_text())["pid"] == second._server.pid  # type: ignore[union-attr]


async def test_doctor_says_whether_a_tui_is_connected(
    editor: EditorClient, editor_env: dict[str, str], tui: Tui, repo: Path, fake: FakeOpenCode
) -> None:
    path, _ = await wait_for_lock(editor, editor_env)

    async def doctor() -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            "doctor",
            "--directory",
            str(repo / "src"),
            "--server-url",
            fake.url,
            env=editor_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        return output.decode()

    assert (
        f"tui context  opencode-lsp (test-editor) on 127.0.0.1:{path.stem}: 1 TUI(s) connected"
    ) in await doctor()
    await tui.connection.close()
    await until_tuis(editor, 0)
    output = await doctor()
    assert f"127.0.0.1:{path.stem}: no TUI connected" in output


ENDPOINT_ALONE = """
import asyncio, json, sys
from bridge.editor_endpoint import Endpoint

async def main():
    endpoint = Endpoint([sys.argv[1]], "test", {"HOME": sys.argv[1]})
    await endpoint.start()
    print(json.dumps([endpoint.port, endpoint.token, "websockets" in sys.modules]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(json.dumps(["websockets" in sys.modules, len(endpoint.tuis)]), flush=True)
    await endpoint.close()

asyncio.run(main())
"""


async def test_the_websocket_library_loads_only_when_a_tui_connects(tmp_path: Path) -> None:
    """Most sessions never start a TUI: the endpoint listens from the start, but its
    WebSocket library (~1.4 MiB idle) loads when the first TUI knocks, which it then serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ENDPOINT_ALONE,
        str(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        port, token, loaded_at_start = json.loads(await process.stdout.readline())
        assert loaded_at_start is False
        tui = await connect_tui(port, token)
        reply = await tui.initialize()
        assert reply["id"] == 1 and "result" in reply
        process.stdin.write(b"\n")
        loaded_after, tuis = json.loads(await process.stdout.readline())
        assert loaded_after is True and tuis == 1
        await tui.connection.close()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
