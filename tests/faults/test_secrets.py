"""Secrets stay secret, and nobody else gets in.

Every scenario runs with a known password; afterwards everything the user or an
administrator could see — the bridge's debug log, every LSP message, progress and status,
``doctor``'s output — is searched for the password and its Basic-auth form.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types

from bridge.demo.scripted_model import Reply, ScriptedModel, opencode_config
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import require_opencode

PASSWORD = "correct-horse-battery-staple-7"


def forms(password: str, username: str = "opencode") -> list[str]:
    return [password, base64.b64encode(f"{username}:{password}".encode()).decode()]


def everything_shown(editor: EditorClient) -> str:
    """All the bridge told the editor, as text."""
    parts: list[Any] = [m.message for m in editor.messages]
    parts += [m.message for m in editor.log_messages]
    parts += [json.dumps(s) for s in editor.statuses]
    parts += [repr(v) for v in editor.progress_values()]
    parts += [repr(r) for r in editor.message_requests]
    return "\n".join(str(p) for p in parts)


def assert_absent(secret_forms: list[str], *texts: str) -> None:
    for text in texts:
        for secret in secret_forms:
            assert secret not in text


async def answer(editor: EditorClient, text: str) -> None:
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"answer {text!r}"
    )


async def test_no_password_in_logs_or_messages_with_a_password_protected_server(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_opencode: Any,
    start_bridge: StartEditor,
    editor_env: dict[str, str],
    tmp_path: Path,
) -> None:
    server = start_opencode(git_repo, model_base_url=scripted_model.base_url, password=PASSWORD)
    scripted_model.push(Reply.text("a protected answer"))
    log = tmp_path / "bridge.log"
    # The password arrives both ways: the environment, and the settings (which pygls logs).
    env = {**editor_env, "OPENCODE_SERVER_PASSWORD": PASSWORD}
    editor = await start_bridge(
        git_repo,
        {"serverUrl": server.url, "password": PASSWORD},
        env=env,
        log_file=log,
        log_level="DEBUG",  # the most a log can hold: every message pygls sends and receives
    )
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await answer(editor, "a protected answer")

    wrong = await start_bridge(
        git_repo,
        {"serverUrl": server.url, "password": PASSWORD + "-wrong"},
        log_file=tmp_path / "wrong.log",
        log_level="DEBUG",
    )
    await execute(wrong, "opencode.ask", {"prompt": "hello"})
    await wrong.wait_for(lambda: wrong.shown(types.MessageType.Error), 30, "the 401 message")

    doctor = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "doctor",
        "--server-url",
        server.url,
        "--directory",
        str(git_repo),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await doctor.communicate()
    assert doctor.returncode == 0, err.decode()
    assert "status       ok" in out.decode()

    assert "a protected answer" in everything_shown(editor)  # we did look at real output
    assert_absent(
        forms(PASSWORD) + forms(PASSWORD + "-wrong"),
        log.read_text(),
        (tmp_path / "wrong.log").read_text(),
        everything_shown(editor),
        everything_shown(wrong),
        out.decode(),
        err.decode(),
    )


def spawned_server_password(bridge_pid: int) -> tuple[int, str, list[str]]:
    """The opencode the bridge started: its pid, password (from its environment) and argv."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != bridge_pid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        variables = dict(v.decode().split("=", 1) for v in environ if b"=" in v)
        return int(entry.name), variables["OPENCODE_SERVER_PASSWORD"], [a.decode() for a in argv]
    raise AssertionError("no spawned opencode")


async def test_a_spawned_server_is_loopback_only_with_a_fresh_password(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_bridge: StartEditor,
    tmp_path: Path,
) -> None:
    (git_repo / "opencode.json").write_text(json.dumps(opencode_config(scripted_model.base_url)))
    scripted_model.push(Reply.text("spawned answer"), Reply.text("second spawned answer"))
    options = {"command": [require_opencode()], "attachUrl": None}
    passwords = []
    for run in range(2):
        log = tmp_path / f"bridge-{run}.log"
        editor = await start_bridge(git_repo, options, log_file=log, log_level="DEBUG")
        await execute(editor, "opencode.ask", {"prompt": "hello"})
        await answer(editor, "spawned answer")
        assert editor._server is not None
        _, password, argv = spawned_server_password(editor._server.pid)
        passwords.append(password)

        assert argv[argv.index("--hostname") + 1] == "127.0.0.1"
        port = argv[argv.index("--port") + 1]
        async with httpx.AsyncClient() as http:  # without the password: refused
            refused = await http.get(f"http://127.0.0.1:{port}/session")
        assert refused.status_code == 401
        assert_absent(forms(password), log.read_text(), everything_shown(editor))
        await editor.shutdown_session()

    assert len(set(passwords)) == 2 and all(len(p) >= 24 for p in passwords)
    assert os.environ.get("OPENCODE_SERVER_PASSWORD") not in passwords
