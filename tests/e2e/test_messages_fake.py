"""What the person reads about settings and odd servers (issue 11, items 1 and 16), against the
scripted fake server or a plain HTTP server: no warning for empty settings, serverUrl taken as
written or refused (never another server instead), and a non-OpenCode answer described as it was.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import BRIDGE_COMMAND, EditorClient, capabilities, execute, make_editor


async def start_raw(
    root: Path, init_options: Any, configuration: Any, env: dict[str, str]
) -> EditorClient:
    """An editor that sends ``init_options`` exactly as given (Neovim sends an empty Lua table
    as ``[]``) and answers ``workspace/configuration`` for "opencode" with ``configuration``."""
    client = make_editor()
    client.set_configuration(configuration, section="opencode")
    await client.start_io(*BRIDGE_COMMAND, env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            client_info=types.ClientInfo(name="test-editor", version="1"),
            root_uri=from_fs_path(str(root)),
            workspace_folders=[
                types.WorkspaceFolder(uri=from_fs_path(str(root)) or "", name=root.name)
            ],
            initialization_options=init_options,
        )
    )
    return client


@contextlib.asynccontextmanager
async def raw_editor(root: Path, init_options: Any, configuration: Any, env: dict[str, str]):
    client = await start_raw(root, init_options, configuration, env)
    try:
        yield client
    finally:
        await client.shutdown_session()
        await client.stop()


def connected(editor: EditorClient) -> list[dict[str, Any]]:
    return [s for s in editor.statuses if str(s.get("message", "")).startswith("OpenCode ")]


@pytest.mark.parametrize(
    "init_options",
    [[], {}, None, {"opencode": []}, {"opencode": None}],
    ids=["[]", "{}", "null", "opencode=[]", "opencode=null"],
)
async def test_empty_settings_start_without_a_warning(
    repo: Path, fake: FakeOpenCode, editor_env: dict[str, str], init_options: Any
) -> None:
    # The server comes from workspace/configuration; initializationOptions are "no settings".
    env = {**os.environ, **editor_env}
    async with raw_editor(repo, init_options, {"serverUrl": fake.url}, env) as editor:
        [status] = await editor.wait_for(lambda: connected(editor), 20, "the connection")
        assert fake.url in status["message"]
        # The same empty forms pushed later are no settings either (null used to crash it).
        for empty in ([], {}, None, {"opencode": None}, {"opencode": []}):
            editor.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=empty)
            )
        await execute(editor, "opencode.ask", {"prompt": "hello"})
        await editor.wait_for(lambda: editor.shown(), 10, "the answer")
        assert editor.shown() == ["OpenCode: Hello from the fake OpenCode server."]


async def test_a_server_url_without_a_scheme_is_that_server_over_http(
    repo: Path, fake: FakeOpenCode, start_bridge: Any
) -> None:
    without_scheme = fake.url.removeprefix("http://").replace("127.0.0.1", "localhost")
    editor = await start_bridge(repo, {"serverUrl": without_scheme, "command": ["/nonexistent"]})
    [status] = await editor.wait_for(lambda: connected(editor), 20, "the connection")
    assert f"http://{without_scheme}" in status["message"]
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: editor.shown(), 10, "the answer")
    assert editor.shown() == ["OpenCode: Hello from the fake OpenCode server."]


async def test_a_server_url_that_is_not_a_url_connects_to_nothing(
    repo: Path, start_bridge: Any, tmp_path: Path
) -> None:
    # Spawning is on and attachUrl points nowhere: falling back would start this "opencode",
    # which records that it ran.
    ran = tmp_path / "spawned"
    opencode = tmp_path / "opencode"
    opencode.write_text(f"#!/bin/sh\ntouch {ran}\nsleep 30\n")
    opencode.chmod(0o755)
    editor = await start_bridge(
        repo, {"serverUrl": "http://localhost:port", "command": [str(opencode)], "attachUrl": None}
    )
    [warning] = await editor.wait_for(
        lambda: editor.shown(types.MessageType.Warning), 10, "the warning"
    )
    assert "serverUrl" in warning and "connects to no OpenCode server" in warning
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    [error] = await editor.wait_for(lambda: editor.shown(types.MessageType.Error), 10, "error")
    assert "serverUrl is not a URL" in error
    assert not ran.exists()
    assert editor.statuses[0]["state"] == "disconnected"


class _JsonWithoutType(BaseHTTPRequestHandler):
    """Some other service on the port: JSON, and no Content-Type header."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def json_without_type() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JsonWithoutType)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_json_without_a_content_type_is_described_as_it_is(
    repo: Path, start_bridge: Any, json_without_type: str
) -> None:
    editor = await start_bridge(repo, {"serverUrl": json_without_type})
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    errors = await editor.wait_for(lambda: editor.shown(types.MessageType.Error), 10, "error")
    for error in errors:  # on connecting, and again for the ask
        assert "answered GET /global/health with JSON but no content type" in error
        assert "web page" not in error
        assert "check that serverUrl points at an OpenCode 1.x server" in error
