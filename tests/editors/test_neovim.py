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

from bridge.demo.scripted_model import Reply, ScriptedModel, opencode_config
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


# --- what the person sees (issue 11) -------------------------------------------------------


@pytest.fixture
def asking(project: Path, scripted_model: ScriptedModel) -> Path:
    """The project, with OpenCode asking before every edit (permission ``edit: ask``)."""
    config = opencode_config(scripted_model.base_url, {"edit": "ask"})
    (project / "opencode.json").write_text(json.dumps(config))
    return project


def watch_file_changes(editor: Neovim) -> None:
    """Record every FileChangedShell (Neovim finding the file changed under the buffer: the
    W11/W12 warnings) and every write of a buffer."""
    editor.lua(
        """_G.changed_on_disk, _G.writes = {}, 0
        vim.api.nvim_create_autocmd("FileChangedShell", { callback = function(event)
          table.insert(_G.changed_on_disk, vim.v.fcs_reason .. " " .. event.file)
        end })
        vim.api.nvim_create_autocmd("BufWritePost", { callback = function()
          _G.writes = _G.writes + 1
        end })"""
    )


def lines(editor: Neovim) -> list[str]:
    return list(editor.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, true)"))


def modified(editor: Neovim) -> bool:
    return bool(editor.lua("return vim.bo.modified"))


def mode(editor: Neovim) -> str:
    return str(editor.nvim.api.get_mode()["mode"])


def check_and_write(editor: Neovim) -> None:
    """:checktime, then :w typed as a user would: neither may find the file changed on
    disk, nor stop at a prompt, and :w writes."""
    editor.nvim.command("checktime")
    editor.nvim.input(":w<CR>")
    wait_until(lambda: editor.lua("return _G.writes") == 1, 20, ":w to write the file")
    assert editor.lua("return _G.changed_on_disk") == []
    assert editor.prompts == []
    assert not modified(editor)


def pending_permissions(editor: Neovim) -> list[dict[str, Any]]:
    return list(
        editor.lua(
            """local client = require('opencode_lsp').client()
            local params = { command = 'opencode.permission.list', arguments = {} }
            local response = client:request_sync('workspace/executeCommand', params, 10000, 0)
            return response.result"""
        )
    )


def test_agent_edit_leaves_a_clean_buffer_clean(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    path = project / "src/a.py"
    watch_file_changes(nvim)
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    wait_until(lambda: lines(nvim)[3].endswith("+ 43"), 90, "the agent's edit in the buffer")
    wait_shown(nvim, "OpenCode: Changed 42 to 43.")

    # The buffer is the file: not modified, and Neovim does not see the file as changed.
    assert "\n".join(lines(nvim)) + "\n" == path.read_text()
    assert not modified(nvim)
    assert nvim.lua("return _G.changed_on_disk") == []
    # Undo takes the agent's change out (then the buffer differs from the file); redo is clean.
    nvim.nvim.command("undo")
    assert lines(nvim)[3].endswith("+ 42") and modified(nvim)
    nvim.nvim.command("redo")
    assert lines(nvim)[3].endswith("+ 43") and not modified(nvim)
    check_and_write(nvim)
    assert "return math.sqrt(x) + 43" in path.read_text()
    assert not any("Workspace edit" in line for line in shown(nvim))


def test_agent_edit_merged_into_unsaved_text_then_saved_without_warning(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    path = project / "src/a.py"
    watch_file_changes(nvim)
    nvim.nvim.input("Go# mine<Esc>")  # the user's own unsaved line at the end
    wait_until(lambda: lines(nvim)[-1] == "# mine" and mode(nvim) == "n", 10, "the typed line")
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    wait_until(lambda: lines(nvim)[3].endswith("+ 43"), 90, "the agent's edit merged")
    wait_shown(nvim, "OpenCode: merged the agent's change to src/a.py")

    assert lines(nvim)[-1] == "# mine"  # the user's text stays
    assert modified(nvim)  # by the user's own change only
    assert "# mine" not in path.read_text()
    assert nvim.lua("return _G.changed_on_disk") == []
    # Undo takes the agent's change out and leaves the user's.
    nvim.nvim.command("undo")
    assert lines(nvim)[3].endswith("+ 42") and lines(nvim)[-1] == "# mine"
    nvim.nvim.command("redo")
    check_and_write(nvim)
    written = path.read_text()
    assert "return math.sqrt(x) + 43" in written and written.endswith("# mine\n")


def test_keys_typed_before_a_permission_prompt_never_answer_it(
    asking: Path, nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    """The user types in Insert mode while OpenCode asks; "1<CR>" would allow the edit in
    Neovim's own prompt. The prompt waits for Normal mode; the keys go to the buffer."""
    path = asking / "src/a.py"
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    nvim.nvim.input("ggO")
    typed = 0

    def asked() -> bool:
        nonlocal typed
        nvim.nvim.input("x1 ab2<CR>")
        typed += 1
        return (
            nvim.lua("return require('opencode_lsp').waiting_prompts() > 0")
            or "+ 43" in path.read_text()  # a prompt took "1<CR>" as Allow once
            or any("waiting for your answer" in line for line in shown(nvim))  # or dismissed
        )

    wait_until(asked, 90, "OpenCode to ask for the edit", interval=0.2)
    assert "+ 42" in path.read_text(), "keys typed before the prompt allowed the edit"
    for _ in range(3):  # and typing goes on after it asked
        nvim.nvim.input("1<CR>")
        typed += 1
    wait_until(lambda: lines(nvim).count("1") == 3, 10, "the typed keys in the buffer")

    assert mode(nvim) == "i"  # still typing: no prompt took the keys
    assert lines(nvim).count("x1 ab2") == typed - 3
    [request] = pending_permissions(nvim)  # not answered
    assert request["message"].startswith("OpenCode wants to edit src/a.py")
    assert "+ 42" in path.read_text()
    assert any("OpenCode asks (opens in Normal mode)" in line for line in shown(nvim))

    # Back in Normal mode the prompt opens; now "1<CR>" is the user's answer: Allow once.
    nvim.nvim.input("<Esc>")
    wait_until(lambda: mode(nvim) == "c", 20, "the permission prompt")
    nvim.nvim.input("1<CR>")
    wait_until(lambda: "+ 43" in path.read_text(), 60, "the allowed edit on disk")
    wait_until(
        lambda: "    return math.sqrt(x) + 43" in lines(nvim), 30, "the edit merged into the buffer"
    )
    assert lines(nvim).count("x1 ab2") == typed - 3  # the typed text is all there
    assert nvim.prompts == []


def test_routine_messages_are_one_line_without_press_enter(
    nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    answer = "\n".join(f"Line {n} of a long answer about foo and bar and math." for n in range(12))
    scripted_model.push(Reply.text(answer))
    nvim.nvim.command("OpenCodeAsk Explain everything")
    wait_until(
        lambda: nvim.lua("return require('opencode_lsp').answers[1]") == answer,
        90,
        "the answer",
    )
    wait_until(lambda: statusline(nvim).startswith("OpenCode: idle"), 30, "idle statusline")
    echoed = messages(nvim).splitlines()[-1]
    assert echoed.startswith("OpenCode: Line 0 of a long answer")
    width = nvim.lua("return vim.v.echospace")
    assert len(echoed) <= width and nvim.lua("return vim.o.cmdheight") == 1
    assert nvim.prompts == [] and mode(nvim) == "n"

    # A command's result is a sentence, never a Lua table.
    nvim.nvim.input(f"{LEADER}on")
    wait_shown(nvim, "OpenCode: started a new session")
    assert not any("sessionID" in line or "{" in line for line in shown(nvim))
    assert nvim.prompts == []

    # The status report the user asks for is shown whole, and waits for Enter as :ls does.
    nvim.nvim.input(f"{LEADER}os")
    wait_until(lambda: nvim.prompts == ["r"], 30, "the whole status report")
    [report] = [m for m in nvim.lua("return require('opencode_lsp').messages") if "Model:" in m]
    assert "\nSession: " in report and "\nWaiting for you: " in report


def test_pending_permission_answered_from_the_picker(
    asking: Path, nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    path = asking / "src/a.py"
    # Every vim.ui.select: record it and take the scripted pick (false: dismiss).
    nvim.lua(
        """_G.picks, _G.pickers = { false, "OpenCode wants to edit src/a.py", "Allow once" }, {}
        vim.ui.select = function(items, opts, on_choice)
          local format = opts.format_item or tostring
          local shown = vim.tbl_map(format, items)
          table.insert(_G.pickers, shown)
          local wanted = table.remove(_G.picks, 1)
          for i, item in ipairs(items) do
            if wanted and vim.startswith(shown[i], wanted) then return on_choice(item, i) end
          end
          on_choice(nil)
        end"""
    )
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    # The prompt is dismissed; the request waits. <leader>op picks it and allows it once.
    wait_until(lambda: nvim.lua("return #_G.pickers") == 1, 90, "the permission prompt")
    wait_until(lambda: len(pending_permissions(nvim)) == 1, 10, "the pending request")
    nvim.nvim.input(f"{LEADER}op")
    wait_until(lambda: "+ 43" in path.read_text(), 60, "the allowed edit on disk")
    requests, choices = nvim.lua("return _G.pickers")[1:]
    assert requests[0].startswith("OpenCode wants to edit src/a.py")
    assert requests[0].endswith("(src/a.py:4)")
    assert choices == ["Allow once", "Allow always", "Reject", "Show diff"]
    wait_shown(nvim, "OpenCode: sent your answer (allow once).")
    wait_shown(nvim, "OpenCode: Changed 42 to 43.", 60)
    assert pending_permissions(nvim) == []
    assert nvim.prompts == []


def test_outside_a_project_says_why(nvim: Neovim, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "notes.txt"
    outside.parent.mkdir()
    outside.write_text("some notes\n")
    nvim.nvim.command(f"edit {outside}")
    assert nvim.lua("return #vim.lsp.get_clients({ bufnr = 0 })") == 0

    why = "OpenCode is off for"
    nvim.nvim.command("OpenCodeAsk what is this")
    wait_shown(nvim, why)
    [said] = [m for m in nvim.lua("return require('opencode_lsp').messages") if why in m]
    assert "notes.txt" in said and "no .git or opencode.json" in said
    assert "git init" in said  # and what to do

    # The keys are there and say the same, instead of typing into the buffer.
    nvim.nvim.input(f"{LEADER}oa")
    nvim.nvim.input(f"{LEADER}oo")
    wait_until(
        lambda: (
            len([m for m in nvim.lua("return require('opencode_lsp').messages") if why in m]) == 3
        ),
        10,
        "the keys to explain",
    )
    assert lines(nvim) == ["some notes"] and not modified(nvim)


def test_a_waiting_prompt_answered_from_the_picker_does_not_open(
    asking: Path, nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    """OpenCode asks while the user types; the user answers from the picker without leaving
    Insert mode (<C-o>); back in Normal mode no stale prompt opens."""
    path = asking / "src/a.py"
    nvim.lua(
        """_G.picks, _G.pickers = { "OpenCode wants to edit src/a.py", "Reject" }, {}
        vim.ui.select = function(items, opts, on_choice)
          local shown = vim.tbl_map(opts.format_item or tostring, items)
          table.insert(_G.pickers, shown)
          local wanted = table.remove(_G.picks, 1)
          for i, item in ipairs(items) do
            if wanted and vim.startswith(shown[i], wanted) then return on_choice(item, i) end
          end
          on_choice(nil)
        end"""
    )
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Left it as it is."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    nvim.nvim.input("ggOtyping")
    wait_until(
        lambda: nvim.lua("return require('opencode_lsp').waiting_prompts() > 0"),
        90,
        "OpenCode to ask for the edit",
    )
    nvim.nvim.input("<C-o>:OpenCodePending<CR>")
    wait_until(lambda: pending_permissions(nvim) == [], 30, "the request to be answered")
    wait_shown(nvim, "OpenCode: sent your answer (reject).")
    nvim.nvim.input("<Esc>")
    wait_until(
        lambda: nvim.lua("return require('opencode_lsp').waiting_prompts()") == 0,
        10,
        "the waiting prompt to be dropped",
    )
    assert len(nvim.lua("return _G.pickers")) == 2  # the request, then the answer; no prompt
    assert mode(nvim) == "n"
    assert "+ 42" in path.read_text() and lines(nvim)[0] == "typing"
    assert nvim.prompts == []


def test_a_permission_diagnostic_sits_on_the_line_the_unsaved_buffer_shows(
    asking: Path, nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    """Two lines typed at the top and not saved: the edit's line is 3 on disk (0-based) but 5
    in the buffer, and the diagnostic goes where the user sees that line."""
    path = asking / "src/a.py"
    nvim.lua(  # every prompt dismissed: the request stays, as a diagnostic
        """vim.ui.select = function(items, opts, on_choice) on_choice(nil) end"""
    )
    nvim.nvim.input("ggO# one<CR># two<Esc>")
    wait_until(lambda: lines(nvim)[:2] == ["# one", "# two"] and mode(nvim) == "n", 10, "typed")
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Left it as it is."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")

    def ours() -> list[int]:
        return list(
            nvim.lua(
                """local found = vim.tbl_filter(function(d) return d.source == 'opencode' end,
                  vim.diagnostic.get(0))
                return vim.tbl_map(function(d) return d.lnum end, found)"""
            )
        )

    wait_until(lambda: ours() != [], 90, "the permission's diagnostic")
    assert ours() == [5]
    assert lines(nvim)[5] == "    return math.sqrt(x) + 42"  # the line the agent wants to change
    assert modified(nvim) and "# one" not in path.read_text()
    [request] = pending_permissions(nvim)
    nvim.lua(
        """local client = require('opencode_lsp').client()
        local params = { command = 'opencode.permission.reply',
                         arguments = { { id = ..., reply = 'reject' } } }
        client:request_sync('workspace/executeCommand', params, 10000, 0)""",
        request["id"],
    )
    wait_until(lambda: ours() == [], 30, "the diagnostic withdrawn")
    assert "+ 42" in path.read_text()


def test_ask_on_lines_below_unsaved_ones_reaches_the_model_as_the_disk_has_them(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    """bar() is at lines 9-10 of the buffer after two unsaved lines, 7-8 of the file: OpenCode
    reads the file, so the ask names 7-8 (9-10 is past the end of the 8-line file)."""
    nvim.nvim.input("ggO# one<CR># two<Esc>")
    wait_until(lambda: lines(nvim)[:2] == ["# one", "# two"] and mode(nvim) == "n", 10, "typed")
    assert lines(nvim)[8:10] == ["def bar():", "    return foo(4)"]
    scripted_model.push(Reply.text("bar calls foo."))
    nvim.nvim.command("9,10OpenCodeAsk What does this do?")
    wait_until(
        lambda: nvim.lua("return require('opencode_lsp').answers[1]") == "bar calls foo.",
        90,
        "the answer",
    )
    sent = scripted_model.last_request().last_user_text()
    assert "lines 9-10 as the user sees them (lines 7-8 of the file on disk)" in sent
    assert "7: def bar():\n8:     return foo(4)" in sent  # what OpenCode read from disk
    assert modified(nvim) and "# one" not in (project / "src/a.py").read_text()


def test_a_revert_merged_into_unsaved_text_says_it_was_a_revert(
    nvim: Neovim, project: Path, scripted_model: ScriptedModel
) -> None:
    path = project / "src/a.py"
    nvim.nvim.input("Go# mine<Esc>")
    wait_until(lambda: lines(nvim)[-1] == "# mine" and mode(nvim) == "n", 10, "the typed line")
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    nvim.nvim.command("OpenCodeAsk Change 42 to 43 in foo")
    wait_until(lambda: lines(nvim)[3].endswith("+ 43"), 90, "the agent's edit merged")
    wait_shown(nvim, "OpenCode: merged the agent's change to src/a.py")
    wait_until(lambda: statusline(nvim).startswith("OpenCode: idle"), 60, "the run to end")
    merges = sum("merged the agent's change" in m for m in shown(nvim))

    nvim.nvim.command("OpenCodeCommand opencode.session.revert")
    wait_until(lambda: lines(nvim)[3].endswith("+ 42"), 60, "the revert in the buffer")
    wait_shown(nvim, "OpenCode: the revert undid the agent's change to src/a.py")
    assert sum("merged the agent's change" in m for m in shown(nvim)) == merges  # none new
    assert lines(nvim)[-1] == "# mine" and modified(nvim)  # the user's line stays, unsaved
    assert "+ 42" in path.read_text() and "# mine" not in path.read_text()
