"""Faults of the server's life: OpenCode dying and coming back, and the bridge ending.

All against the real, pinned ``opencode serve``: these are the faults users meet.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from pathlib import Path

from lsprotocol import types

from bridge.demo.scripted_model import Reply, ScriptedModel, opencode_config
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import RealOpenCode, free_port, require_opencode


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def bridge_pid(editor: EditorClient) -> int:
    assert editor._server is not None
    return int(editor._server.pid)


async def spawned_opencode(editor: EditorClient) -> int:
    """The pid of the opencode the bridge started, once it runs."""
    pid = bridge_pid(editor)
    found = await editor.wait_for(
        lambda: [c for c in children(pid) if "opencode" in Path(f"/proc/{c}/cmdline").read_text()],
        60,
        "the spawned opencode",
    )
    return int(found[0])


async def ask_and_wait(editor: EditorClient, text: str) -> None:
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(
        lambda: any(text in m.message for m in editor.log_messages), 60, f"answer {text!r}"
    )


async def spawning(start_bridge: StartEditor, repo: Path, model: ScriptedModel) -> EditorClient:
    (repo / "opencode.json").write_text(json.dumps(opencode_config(model.base_url)))
    return await start_bridge(repo, {"command": [require_opencode()], "attachUrl": None})


async def test_a_spawned_server_that_dies_is_started_again(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    editor = await spawning(start_bridge, git_repo, scripted_model)
    scripted_model.push(Reply.text("before"), Reply.text("after"))
    await ask_and_wait(editor, "before")
    first = await spawned_opencode(editor)

    os.kill(first, signal.SIGKILL)

    await editor.wait_for(
        lambda: "OpenCode stopped (exit code -9); starting it again." in editor.shown(),
        30,
        "the restart message",
    )
    second = await spawned_opencode(editor)
    assert second != first
    await ask_and_wait(editor, "after")
    # The user was told once that the stream was lost, and once that it restarted.
    assert len(editor.shown(types.MessageType.Warning)) == 2


async def test_a_server_killed_mid_run_that_comes_back_is_reconnected(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor, tmp_path: Path
) -> None:
    port = free_port()
    base = tmp_path / "server-home"  # the same data folder: the server comes back whole
    server = RealOpenCode(
        git_repo, model_base_url=scripted_model.base_url, port=port, base_dir=base
    ).start()
    try:
        editor = await start_bridge(git_repo, {"serverUrl": server.url})
        hold = threading.Event()
        scripted_model.push(Reply.text("never finished", hold=hold))
        await execute(editor, "opencode.ask", {"prompt": "a long one"})
        await editor.wait_for(lambda: editor.progress_values(), 60, "the run's progress")
        await asyncio.to_thread(scripted_model.wait_for_requests, 1, 60)  # mid-answer now

        server.stop()
        hold.set()
        await editor.wait_for(
            lambda: any(s["state"] == "disconnected" for s in editor.statuses), 20, "disconnected"
        )
        await asyncio.sleep(1.5)  # the bridge keeps retrying meanwhile, silently
        assert len(editor.shown(types.MessageType.Warning)) == 1
        assert editor.progress_values()[-1].kind == "end"

        server = RealOpenCode(
            git_repo, model_base_url=scripted_model.base_url, port=port, base_dir=base
        ).start()
        await editor.wait_for(
            lambda: "Reconnected to OpenCode." in editor.shown(), 30, "the reconnection"
        )
        scripted_model.push(Reply.text("back again"))
        await ask_and_wait(editor, "back again")
    finally:
        server.stop()


async def stop_and_check_no_orphan(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor, how: str
) -> None:
    editor = await spawning(start_bridge, git_repo, scripted_model)
    scripted_model.push(Reply.text("ready"))
    await ask_and_wait(editor, "ready")
    opencode = await spawned_opencode(editor)
    bridge = editor._server
    assert bridge is not None

    if how == "shutdown":
        await editor.shutdown_session()
    elif how == "stdin":
        assert bridge.stdin is not None
        bridge.stdin.close()
    else:
        bridge.send_signal(signal.SIGTERM)

    await asyncio.wait_for(bridge.wait(), 10)
    await editor.wait_for(lambda: not alive(opencode), 10, "the spawned opencode to be gone")


async def test_shutdown_and_exit_leave_no_orphan(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    await stop_and_check_no_orphan(git_repo, scripted_model, start_bridge, "shutdown")


async def test_closed_stdin_leaves_no_orphan(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    await stop_and_check_no_orphan(git_repo, scripted_model, start_bridge, "stdin")


async def test_sigterm_leaves_no_orphan(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> None:
    await stop_and_check_no_orphan(git_repo, scripted_model, start_bridge, "sigterm")


async def test_a_remote_url_without_password_is_warned_about(
    git_repo: Path, start_bridge: StartEditor
) -> None:
    # 0.0.0.0 is not a loopback address, yet Linux connects it to this machine: no traffic
    # leaves it. Nothing listens there; the warning comes before any request.
    url = f"http://0.0.0.0:{free_port()}"
    editor = await start_bridge(git_repo, {"serverUrl": url})
    await editor.wait_for(lambda: editor.shown(types.MessageType.Warning), 20, "the warning")
    assert editor.shown(types.MessageType.Warning)[0] == (
        f"OpenCode at {url} is not on this machine and has no password: anyone who can "
        "reach it can run commands as you. Set OPENCODE_SERVER_PASSWORD on both sides."
    )
