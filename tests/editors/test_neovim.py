"""Headless Neovim 0.11 with editor-configs/neovim: its own LSP client starts the bridge,
which spawns the real ``opencode serve``; the scripted model stands in for the provider.

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

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.editors.conftest import CONFIGS, failed
from tests.editors.editors import Neovim, neovim, require_nvim, wait_until

INIT = Path(__file__).parent / "nvim_init.lua"
SCREEN = (80, 24)  # a terminal's size: messages longer than a line would raise "Press ENTER"
LEADER = "\\"  # Neovim's default <leader>; the module maps <leader>o…


@pytest.fixture
def nvim(
    request: pytest.FixtureRequest,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
) -> Iterator[Neovim]:
    """Neovim on src/a.py with the bridge attached and initialized."""
    binary = require_nvim()
    env = {
        **editor_env,
        "EDITOR_CONFIGS_NEOVIM": str(CONFIGS / "neovim"),
        "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(bridge_options),
    }
    with neovim(binary, INIT, [project / "src/a.py"], project, env, ui=SCREEN) as editor:
        try:
            wait_until(lambda: attached(editor), 60, "opencode-lsp to attach to src/a.py")
            yield editor
        finally:
            if failed(request):  # shown by pytest under "Captured stdout teardown"
                print("--- nvim\n" + editor.log_text())  # noqa: T201
                print("--- :messages\n" + messages(editor))  # noqa: T201
                print("--- lsp.log\n" + lsp_log(editor_env))  # noqa: T201


def lsp_log(env: dict[str, str]) -> str:
    log = Path(env["XDG_STATE_HOME"]) / "nvim" / "lsp.log"
    return log.read_text(errors="replace")[-6000:] if log.exists() else ""


def attached(editor: Neovim) -> bool:
    return bool(
        editor.lua(
            """local c = vim.lsp.get_clients({ name = "opencode", bufnr = 0 })[1]
            return c ~= nil and c.initialized == true"""
        )
    )


def messages(editor: Neovim) -> str:
    try:
        return str(editor.nvim.command_output("messages"))
    except Exception as exc:  # the editor may be gone
        return f"(no :messages: {exc})"


def shown(editor: Neovim) -> list[str]:
    """Every message the user was shown: :messages (one line each, as on the screen) and the
    whole texts the module keeps for :OpenCodeMessages."""
    return messages(editor).splitlines() + list(
        editor.lua("return require('opencode_lsp').messages")
    )


def statusline(editor: Neovim) -> str:
    return str(editor.lua("return require('opencode_lsp').statusline()"))


def wait_shown(editor: Neovim, text: str, timeout: float = 60) -> None:
    wait_until(lambda: any(text in m for m in shown(editor)), timeout, f"the message {text!r}")


def choose_code_action(editor: Neovim, title: str) -> None:
    """The user's pick in the code-action menu (vim.ui.select): the item titled ``title``.
    The titles offered are kept in ``_G.offered``."""
    editor.lua(
        """local wanted = ...
        vim.ui.select = function(items, opts, on_choice)
          _G.offered = vim.tbl_map(opts.format_item, items)
          for i, item in ipairs(items) do
            if opts.format_item(item) == wanted then return on_choice(item, i) end
          end
          on_choice(nil)
        end""",
        title,
    )


def test_code_action_on_selected_lines_reaches_opencode(
    nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    release = threading.Event()
    answer = "foo returns the square root of x plus 42."
    scripted_model.push(Reply.text(answer, hold=release))
    choose_code_action(nvim, "OpenCode: Explain")

    # Select lines 3-4 line-wise and press <leader>oo: OpenCode's code actions.
    nvim.nvim.input(f"3GVj{LEADER}oo")

    [request] = scripted_model.wait_for_requests(1, timeout=90)
    sent = request.user_text()
    assert "def foo(x):" in sent and "return math.sqrt(x) + 42" in sent  # the selection
    assert "return foo(4)" not in sent  # and only the selection
    assert "Explain what the selected code in src/a.py (lines 3-4) does." in sent
    # The menu the user picked from held the OpenCode templates.
    assert {"OpenCode: Explain", "OpenCode: Review", "OpenCode: Write tests"} <= set(
        nvim.lua("return _G.offered")
    )

    # While the model holds its answer the run is busy, and the statusline says so.
    wait_until(lambda: statusline(nvim).startswith("OpenCode: busy"), 30, "busy statusline")
    release.set()
    wait_shown(nvim, f"OpenCode: {answer}")
    wait_until(lambda: statusline(nvim).startswith("OpenCode: idle"), 30, "idle statusline")

    # The whole answer, which Neovim itself only logs, opens in a scratch buffer.
    nvim.nvim.command("OpenCodeAnswer")
    assert nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)") == [answer]


def test_free_text_prompt_typed_in_the_input(nvim: Neovim, scripted_model: ScriptedModel) -> None:
    scripted_model.push(Reply.text("There are two Python files."))

    # <leader>oa opens the prompt input (vim.ui.input); the user types and presses Enter.
    nvim.nvim.input(f"{LEADER}oa")
    nvim.nvim.input("How many Python files are there?<CR>")

    [request] = scripted_model.wait_for_requests(1, timeout=90)
    assert "How many Python files are there?" in request.user_text()
    wait_shown(nvim, "OpenCode: There are two Python files.")


def test_keymaps_follow_the_servers_command_list(nvim: Neovim) -> None:
    """Every keymap for a server command exists exactly when the server offers it."""
    offered = set(nvim.lua("return require('opencode_lsp').commands()"))
    assert "opencode.ask" in offered
    keys = nvim.lua("return require('opencode_lsp').keys")
    mapped = set(
        nvim.lua(
            """local lhs = {}
            for _, map in ipairs(vim.api.nvim_buf_get_keymap(0, "n")) do
              if vim.startswith(map.desc or "", "OpenCode") then table.insert(lhs, map.lhs) end
            end
            return lhs"""
        )
    )
    for suffix, _modes, action, _desc in keys:
        lhs = f"{LEADER}o{suffix}"
        if action.startswith("opencode."):
            assert (lhs in mapped) == (action in offered), (action, sorted(offered))
        else:
            assert lhs in mapped, action


def test_agent_edit_arrives_in_the_open_buffer(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    """The agent edits the open file; the buffer follows (buffer sync) without a reload:
    the change is in the buffer and in its undo history."""
    path = project / "src/a.py"
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    wait_shown(nvim, "OpenCode: Changed 42 to 43.", 90)
    assert "return math.sqrt(x) + 43" in path.read_text()  # the agent wrote the file

    def buffer_line() -> str:
        return str(nvim.lua("return vim.api.nvim_buf_get_lines(0, 3, 4, true)[1]"))

    try:
        wait_until(lambda: buffer_line().endswith("+ 43"), 20, "the edit in the buffer")
    except AssertionError:
        raise AssertionError(
            "the agent's edit reached the disk but not the Neovim buffer "
            f"(line 4 is still {buffer_line()!r}): buffer sync (file.edited -> "
            "workspace/applyEdit) did not bring it"
        ) from None
    assert nvim.lua("return vim.fn.undotree().seq_last") > 0  # an edit, undoable
    assert (
        nvim.lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, true), '\\n')") + ("\n")
        == path.read_text()
    )
