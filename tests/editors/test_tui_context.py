"""The real OpenCode TUI (the pinned ``opencode``, in tmux, in the project) beside real
headless Neovim (editor-configs/neovim): the TUI finds the bridge's endpoint by itself
(the lock file in ``$HOME/.claude/ide``), shows the lines selected in Neovim under its prompt,
and sends them with the next prompt typed in it, which the scripted model receives.

src/a.py in the test repository:
    1 import math
    2
    3 def foo(x):
    4     return math.sqrt(x) + 42
    ...
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel, isolated_env
from tests.editors import test_neovim
from tests.editors.conftest import CONFIGS, failed
from tests.editors.editors import (
    Neovim,
    missing,
    require_emacs,
    wait_until,
)
from tests.editors.test_neovim import shown
from tests.support.real_opencode import require_opencode

HERE = Path(__file__).parent


class Tmux:
    """A private tmux server (its own socket) running one command in one pane."""

    def __init__(self, socket_path: Path, command: list[str], cwd: Path, env: dict[str, str]):
        binary = shutil.which("tmux")
        if binary is None:
            missing("tmux is not installed: apt-get install tmux")
        assert binary is not None
        self.base = [binary, "-S", str(socket_path), "-f", "/dev/null"]
        # The server takes the environment of the command that starts it: the pane's too.
        subprocess.run(
            [
                *self.base,
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "35",
                "-c",
                str(cwd),
                "--",
                *command,
            ],
            env=env,
            check=True,
            timeout=30,
        )

    def screen(self) -> str:
        done = subprocess.run(
            [*self.base, "capture-pane", "-p"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.stdout

    def type(self, text: str) -> None:
        subprocess.run([*self.base, "send-keys", "-l", text], check=True, timeout=30)

    def press(self, key: str) -> None:
        subprocess.run([*self.base, "send-keys", key], check=True, timeout=30)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=30, check=False)


nvim = test_neovim.nvim  # the fixture: Neovim on src/a.py with the bridge attached


@pytest.fixture
def tui(
    request: pytest.FixtureRequest, project: Path, editor_env: dict[str, str], tmp_path: Path
) -> Iterator[Tmux]:
    """The pinned OpenCode TUI in the project: the same HOME as the editor (where lock files
    are), OpenCode's own folders apart from the bridge's server."""
    env = {**editor_env, **isolated_env(tmp_path / "tui-home"), "TERM": "xterm-256color"}
    env["HOME"] = editor_env["HOME"]
    terminal = Tmux(tmp_path / "tmux.sock", [require_opencode()], project, env)
    try:
        wait_until(lambda: "ctrl+p commands" in terminal.screen(), 90, "the TUI's prompt")
        yield terminal
    finally:
        if failed(request):
            print("--- TUI screen\n" + terminal.screen())  # noqa: T201
        terminal.close()


def lock_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["HOME"]) / ".claude" / "ide").glob("*.lock"))


def status_message(nvim: Neovim) -> str:
    nvim.nvim.command("OpenCodeCommand opencode.status")
    wait_until(lambda: any("TUI context:" in m for m in shown(nvim)), 60, "the status message")
    return [m for m in shown(nvim) if "TUI context:" in m][-1]


def test_lines_selected_in_neovim_are_the_tuis_context(
    nvim: Neovim,
    tui: Tmux,
    project: Path,
    scripted_model: ScriptedModel,
    editor_env: dict[str, str],
) -> None:
    [lock] = wait_until(lambda: lock_files(editor_env), 30, "the bridge's lock file")

    # Select lines 3-4 line-wise; the TUI shows them under its prompt, by itself.
    nvim.nvim.input("3GVj")
    wait_until(lambda: "a.py#3-4" in tui.screen(), 60, "a.py#3-4 on the TUI's screen")
    assert "TUI context: 1 TUI connected" in status_message(nvim)

    # The next prompt typed in the TUI carries the selection to the model.
    scripted_model.push(Reply.text("foo adds 42 to a square root."))
    tui.type("What does this do?")
    tui.press("Enter")
    [request] = scripted_model.wait_for_requests(1, timeout=90)
    sent = request.user_text()
    assert "What does this do?" in sent
    assert f'The user selected #3-4 from "{project / "src" / "a.py"}"' in sent
    assert "def foo(x):\n    return math.sqrt(x) + 42" in sent
    assert "return foo(4)" not in sent
    wait_until(lambda: "foo adds 42 to a square root." in tui.screen(), 60, "the answer")

    # "Add the selection to the TUI prompt" (<leader>ot) mentions it in the TUI's prompt.
    nvim.nvim.input("<Esc>3GVj\\ot")
    wait_until(lambda: "@src/a.py#3-4" in tui.screen(), 60, "@src/a.py#3-4 in the TUI's prompt")

    # A new selection replaces it, unsaved typing included.
    nvim.nvim.input("<Esc>")
    nvim.nvim.command("normal! 8Gofoo(1)  # typed")
    nvim.nvim.input("9GV")
    wait_until(lambda: "a.py#9" in tui.screen(), 60, "a.py#9 on the TUI's screen")

    # The editor crashes: its bridge ends, and the lock file and the endpoint go with it.
    port = int(lock.stem)
    os.kill(nvim.process.pid, signal.SIGKILL)
    wait_until(lambda: not lock.exists(), 30, "the lock file to be removed")
    wait_until(lambda: refused(port), 30, "the port to close")
    with contextlib.suppress(Exception):
        nvim.nvim.close()


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("client", ["eglot", "lsp-mode"])
def test_the_region_in_emacs_is_the_tuis_context(
    client: str,
    tui: Tmux,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    tmp_path: Path,
) -> None:
    emacs = require_emacs(client)
    done = tmp_path / "emacs-done"
    config = CONFIGS / "emacs" / f"opencode-{'eglot' if client == 'eglot' else 'lsp-mode'}.el"
    process = subprocess.Popen(
        [emacs, "--batch", "-l", str(config), "-l", str(HERE / "selection_driver.el")],
        cwd=project,
        env={
            **editor_env,
            "EDITOR_TEST_FILE": str(project / "src/a.py"),
            "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(bridge_options),
            "EDITOR_TEST_CLIENT": client,
            "EDITOR_TEST_DONE": str(done),
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: "a.py#3-4" in tui.screen() or process.poll() is not None,
            120,
            "a.py#3-4 on the TUI's screen",
        )
        assert process.poll() is None, process.communicate()[0]
    finally:
        done.touch()
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
