"""The session's conversation document (issue 15, docs/conversation.md) in headless Neovim
0.11 with editor-configs/neovim, against the real ``opencode serve`` and the scripted model:
what the user sees in Neovim's own windows and buffers.

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

import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.editors.editors import Neovim, wait_until
from tests.editors.test_neovim import (
    LEADER,
    asking,
    messages,
    nvim,
    statusline,
    watch_file_changes,
)

__all__ = ["asking", "nvim"]  # the fixtures, from the Neovim tests

MARKER = (
    "<!-- opencode: write your next prompt below this line, "
    'then run the code action "OpenCode: Send" -->'
)


@pytest.fixture
def bridge_options(bridge_options: dict[str, Any]) -> dict[str, Any]:
    """The editor tests' settings, with the conversation opened on the first ask."""
    return {**bridge_options, "openConversation": True}


def conversation(editor: Neovim) -> dict[str, Any] | None:
    """The conversation buffer (the first buffer of a conversations/*.md file) as the editor
    has it, and where the user is; None while there is none."""
    state: dict[str, Any] | None = editor.lua(
        """for _, buf in ipairs(vim.api.nvim_list_bufs()) do
          local name = vim.api.nvim_buf_get_name(buf)
          if name:match("/conversations/[^/]+%.md$") then
            return {
              buf = buf, name = name, loaded = vim.api.nvim_buf_is_loaded(buf),
              lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false),
              modified = vim.bo[buf].modified, buftype = vim.bo[buf].buftype,
              windows = vim.fn.win_findbuf(buf),
              attached = #vim.lsp.get_clients({ name = "opencode", bufnr = buf }),
              current_win = vim.api.nvim_get_current_win(),
              current_buf = vim.api.nvim_buf_get_name(0),
              layout = vim.fn.winlayout(),
            }
          end
        end"""
    )
    return state


def text_of(editor: Neovim) -> str:
    state = conversation(editor)
    return "\n".join(state["lines"]) if state else ""


def prompt_area(editor: Neovim) -> str:
    """What is below the (last) marker line."""
    text = text_of(editor)
    return text.rsplit(MARKER, 1)[1].strip() if MARKER in text else "(no marker line)"


def turn_ended(editor: Neovim, answer: str) -> bool:
    """The turn that gave ``answer`` is over in the conversation: its cost line is there."""
    text = text_of(editor)
    return (
        answer in text
        and re.search(r"^\*\$[0-9.]+ · .*tokens", text.split(answer)[-1], re.M) is not None
    )


def choose_code_action(editor: Neovim, prefix: str) -> None:
    """The user's pick in every menu (vim.ui.select): the first item whose title starts with
    ``prefix``; a menu without one is dismissed (Esc). Each menu's titles go to ``_G.menus``."""
    editor.lua(
        """local wanted = ...
        _G.menus = _G.menus or {}
        vim.ui.select = function(items, opts, on_choice)
          local titles = vim.tbl_map(opts.format_item or tostring, items)
          table.insert(_G.menus, titles)
          for i, item in ipairs(items) do
            if vim.startswith(titles[i], wanted) then return on_choice(item, i) end
          end
          on_choice(nil)
        end""",
        prefix,
    )


def git_status(project: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def code_window(editor: Neovim) -> int:
    return int(editor.lua("return vim.api.nvim_get_current_win()"))


def test_ask_opens_the_conversation_beside_it_streams_and_the_user_continues_from_it(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    before = git_status(project)
    watch_file_changes(nvim)  # W11/W12: Neovim finding a file changed under its buffer
    code_win = code_window(nvim)
    release = threading.Event()
    first = "foo returns the square root of x plus 42, as a float."
    scripted_model.push(Reply.text(first, hold=release))

    # Lines 3-4 selected, <leader>oa, the question typed.
    nvim.nvim.input(f"3GVj{LEADER}oa")
    nvim.nvim.input("Explain this<CR>")
    [request] = scripted_model.wait_for_requests(1, timeout=90)
    assert "def foo(x):" in request.user_text() and "Explain this" in request.user_text()

    # The conversation opens beside the code; the cursor stays in the code's window.
    opened = wait_until(lambda: conversation(nvim), 60, "the conversation to open")
    assert opened["current_win"] == code_win
    assert opened["current_buf"] == str(project / "src/a.py")
    assert nvim.nvim.api.get_mode()["mode"] == "n"
    [conv_win] = opened["windows"]
    assert opened["layout"] == ["row", [["leaf", code_win], ["leaf", conv_win]]]  # side by side
    assert not opened["name"].startswith(str(project))  # outside the project
    wait_until(lambda: conversation(nvim)["attached"] == 1, 30, "the bridge on the document")

    # The answer streams in: its start is there while the model still holds the rest.
    wait_until(lambda: first[:8] in text_of(nvim), 60, "the answer's first words")
    assert first not in text_of(nvim)
    release.set()
    wait_until(lambda: first in text_of(nvim), 60, "the whole answer")
    assert code_window(nvim) == code_win  # still where the user was
    state = conversation(nvim)
    assert state is not None and not state["modified"]
    assert "Explain this" in text_of(nvim) and MARKER in text_of(nvim)

    wait_until(lambda: statusline(nvim).startswith("OpenCode: idle"), 30, "the turn's end")

    # The user goes to the conversation, writes a follow-up at its end and runs OpenCode: Send.
    second = "bar calls foo with 4, so it returns 44.0."
    scripted_model.push(Reply.text(second))
    choose_code_action(nvim, "OpenCode: Send")
    nvim.nvim.input("<C-w>lGoAnd what does bar return?<Esc>")
    wait_until(lambda: prompt_area(nvim) == "And what does bar return?", 20, "the typed prompt")
    nvim.nvim.input(f"{LEADER}oo")

    requests = scripted_model.wait_for_requests(2, timeout=90)
    assert "And what does bar return?" in requests[1].user_text()
    wait_until(lambda: second in text_of(nvim), 60, "the second answer")
    text = text_of(nvim)
    assert text.index(first) < text.index("And what does bar return?") < text.index(second)
    assert text.rindex(second) < text.rindex(MARKER)  # above the prompt area
    wait_until(lambda: prompt_area(nvim) == "", 20, "the prompt area to clear")
    state = conversation(nvim)
    assert state is not None and not state["modified"]
    assert any("OpenCode: Send" in menu for menu in nvim.lua("return _G.menus"))
    assert nvim.prompts == []  # no "Press ENTER", no confirm
    nvim.nvim.command("checktime")
    assert nvim.lua("return _G.changed_on_disk") == []  # never "changed since editing started"
    assert nvim.lua("return _G.writes") == 0  # Neovim never wrote it
    assert git_status(project) == before  # nothing written into the workspace


def test_closing_and_reopening_the_conversation_loses_nothing(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    answer = "foo returns the square root of x plus 42."
    scripted_model.push(Reply.text(answer))
    watch_file_changes(nvim)
    nvim.nvim.command("OpenCodeAsk What does foo return?")
    wait_until(lambda: answer in text_of(nvim), 90, "the answer in the conversation")
    wait_until(lambda: turn_ended(nvim, answer), 30, "the turn's cost and tokens")

    # A prompt written but not sent, then :bdelete (no !) in the conversation's window.
    nvim.nvim.input("<C-w>lGoNot sent yet<Esc>")
    wait_until(lambda: prompt_area(nvim) == "Not sent yet", 20, "the typed prompt")
    kept = conversation(nvim)
    assert kept is not None
    nvim.nvim.input(":bdelete<CR>")
    wait_until(lambda: not conversation(nvim)["loaded"], 20, "the conversation to close")
    assert "E89" not in messages(nvim) and nvim.prompts == []  # nothing asked to save it
    path = Path(kept["name"])
    wait_until(
        lambda: path.read_text().rstrip("\n").split("\n") == kept["lines"],
        20,
        "the bridge to write what the editor had",
    )

    # <leader>ov opens it again, beside, with everything in it.
    nvim.nvim.input(f"{LEADER}ov")
    again = wait_until(
        lambda: (state := conversation(nvim)) and state["loaded"] and state["windows"] and state,
        30,
        "the conversation to open again",
    )
    assert again["lines"] == kept["lines"]
    assert again["current_win"] != again["windows"][0]  # without taking the focus
    wait_until(lambda: conversation(nvim)["attached"] == 1, 30, "the bridge on it again")

    # Closed again and opened as a file (:edit): the same bridge attaches, nothing lost.
    nvim.nvim.command(f"bdelete {again['buf']}")
    nvim.nvim.command(f"edit {path}")
    wait_until(lambda: conversation(nvim)["attached"] == 1, 30, "the bridge on the file")
    state = conversation(nvim)
    assert state is not None and state["lines"] == kept["lines"] and state["buftype"] == "nowrite"
    assert nvim.lua("return #vim.lsp.get_clients({ name = 'opencode' })") == 1  # no second
    nvim.nvim.command("checktime")
    assert nvim.lua("return _G.changed_on_disk") == [] and nvim.prompts == []


def test_a_permission_is_allowed_from_the_conversation(
    asking: Path, nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    path = asking / "src/a.py"
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    choose_code_action(nvim, "OpenCode: Allow once")  # any other prompt is dismissed (Esc)
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")

    wait_until(
        lambda: "> **Permission**" in text_of(nvim), 90, "the permission in the conversation"
    )
    assert "return math.sqrt(x) + 42" in path.read_text()  # nothing allowed yet
    # The user goes to its line in the conversation and picks Allow once from the code actions.
    nvim.nvim.input("<C-w>l")
    nvim.nvim.command(r"call search('^> \*\*Permission\*\*')")
    nvim.nvim.input(f"{LEADER}oo")

    wait_until(lambda: "return math.sqrt(x) + 43" in path.read_text(), 60, "the allowed edit")
    wait_until(lambda: "Changed 42 to 43." in text_of(nvim), 60, "the answer after the edit")
    menus = nvim.lua("return _G.menus")
    assert any(title.startswith("OpenCode: Allow once") for menu in menus for title in menu)
    code_line = nvim.lua(
        "return vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 3, 4, true)[1]", str(path)
    )
    assert code_line.endswith("+ 43")  # the code's buffer follows
    state = conversation(nvim)
    assert state is not None and not state["modified"]
    assert nvim.prompts == []  # no "Press ENTER", no confirm
