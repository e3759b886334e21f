"""What the person reads, in real editors (issue 11, items 1 and 12-15): no warning at start
with the configs as the docs give them, and the messages for an abort, a reject, an ask queued
behind a waiting request, and a model the server does not have.

Neovim runs headless with the shipped ``editor-configs/neovim`` (or the README's snippet) and
is read through its RPC: ``:messages`` (where ``window/showMessage`` lands) plus everything that
went through ``vim.notify``, and the statusline component. Emacs runs in batch with Eglot and
prints its ``*Messages*`` buffer. Assertions are on meaning ("stopped", the model's name), not
on layout, which the editors' configs may change.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel, opencode_config
from tests.editors.conftest import CONFIGS, REPO_ROOT, failed
from tests.editors.editors import Neovim, neovim, require_nvim, wait_until
from tests.editors.messages_emacs import printed_messages, run_eglot
from tests.support.real_opencode import require_opencode

HERE = Path(__file__).parent
LEADER = "\\"
MISSING_MODEL = "anthropic/claude-sonnet-4-5"  # the docs' own example; the server has none

# Every message the user is shown, whatever the config does with it.
CAPTURE = """
_G.shown = {}
local notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(_G.shown, message)
  return notify(message, level, opts)
end
_G.statuses = {}
"""

# Test-only: record opencode/status (the README form has no statusline) without touching the
# settings under test.
RECORD_STATUS = """
vim.lsp.config("opencode", {
  handlers = {
    ["opencode/status"] = function(_, params) table.insert(_G.statuses, params) end,
  },
})
"""


def readme_neovim_snippet() -> str:
    """The Lua block under README.md's "Neovim 0.11" heading, as a user copies it."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Neovim 0.11", 1)[1]
    match = re.search(r"```lua\n(.*?)```", section, re.S)
    assert match, "README.md has no Lua block under 'Neovim 0.11'"
    return match.group(1)


def messages(editor: Neovim) -> str:
    try:
        return str(editor.nvim.command_output("messages"))
    except Exception as exc:  # the editor may be gone
        return f"(no :messages: {exc})"


def shown(editor: Neovim) -> list[str]:
    """``:messages``, what vim.notify was given (where a test captures it), and the whole texts
    the shipped module keeps for ``:OpenCodeMessages`` (it shows each as one line)."""
    kept = editor.lua(
        "local ok, m = pcall(require, 'opencode_lsp')\n"
        "return vim.list_extend(vim.deepcopy(_G.shown or {}), ok and m.messages or {})"
    )
    return [str(m) for m in kept] + messages(editor).splitlines()  # whole texts first


def ours(editor: Neovim) -> list[str]:
    """Lines the bridge or its config put on screen (settings warnings included)."""
    return [m for m in shown(editor) if "opencode" in m.lower() or "setting" in m.lower()]


def statusline(editor: Neovim) -> str:
    return str(editor.lua("return require('opencode_lsp').statusline()"))


def wait_shown(editor: Neovim, text: str, timeout: float = 90) -> str:
    found: str = wait_until(
        lambda: next((m for m in shown(editor) if text in m), None),
        timeout,
        f"the message {text!r}",
    )
    return found


def opencode_path(env: dict[str, str]) -> dict[str, str]:
    """The pinned opencode first on PATH, as a user who installed it has it: the configs
    under test then need no ``command`` setting."""
    binary = Path(require_opencode())
    return {**env, "PATH": os.pathsep.join([str(binary.parent), env["PATH"]])}


@pytest.fixture
def start_nvim(
    request: pytest.FixtureRequest, project: Path, editor_env: dict[str, str], tmp_path: Path
) -> Iterator[Any]:
    """``start_nvim(init_lua, options=None)``: Neovim on src/a.py with ``init_lua`` as its
    init file; ``options`` (JSON) are what tests/editors/nvim_init.lua adds to the config."""
    binary = require_nvim()
    started: list[Any] = []

    def start(init: str | Path, options: dict[str, Any] | None = None) -> Neovim:
        if isinstance(init, str):
            path = tmp_path / f"init{len(started)}.lua"
            path.write_text(init)
            init = path
        env = {
            **opencode_path(editor_env),
            "EDITOR_CONFIGS_NEOVIM": str(CONFIGS / "neovim"),
            "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(options or {}),
        }
        context = neovim(binary, init, [project / "src/a.py"], project, env)
        editor = context.__enter__()
        started.append((context, editor))
        return editor

    yield start
    for context, editor in started:
        if failed(request):
            print("--- nvim\n" + editor.log_text())  # noqa: T201
            print("--- :messages\n" + messages(editor))  # noqa: T201
            log = Path(editor_env["XDG_STATE_HOME"]) / "nvim" / "lsp.log"
            if log.exists():
                print("--- lsp.log\n" + log.read_text(errors="replace")[-6000:])  # noqa: T201
        context.__exit__(None, None, None)


def connected_statuses(editor: Neovim) -> list[Any]:
    return [
        s
        for s in editor.lua("return _G.statuses")
        if str(s.get("message") or "").startswith("OpenCode 1.")
    ]


def a_bad_setting_is_seen(editor: Neovim) -> None:
    """The control: a warning from the bridge does reach the screen here, so the absence of
    one above means something."""
    editor.lua(
        """local client = vim.lsp.get_clients({ name = "opencode" })[1]
        client:notify("workspace/didChangeConfiguration", { settings = { model = "nonsense" } })"""
    )
    warning = wait_shown(editor, "must look like provider/model", 30)
    assert "model" in warning


# --- item 1: no warning at start -------------------------------------------------------------


def test_neovim_shipped_config_starts_without_a_warning(start_nvim: Any) -> None:
    # editor-configs/neovim as docs/editors.md says: on 'runtimepath', init.lua sourced; every
    # option in lsp/opencode.lua and init.lua is commented out, so Neovim sends [].
    editor = start_nvim(
        CAPTURE
        + "vim.opt.runtimepath:prepend(vim.env.EDITOR_CONFIGS_NEOVIM)\n"
        + "dofile(vim.env.EDITOR_CONFIGS_NEOVIM .. '/init.lua')\n"
    )
    wait_until(lambda: "OpenCode 1." in statusline(editor), 90, "the connection")
    assert editor.lua("return vim.lsp.config.opencode.init_options") in ({}, [])
    assert ours(editor) == [], ours(editor)
    a_bad_setting_is_seen(editor)


def test_neovim_readme_snippet_starts_without_a_warning(start_nvim: Any) -> None:
    snippet = readme_neovim_snippet()
    assert "init_options = { model = nil, agent = nil }" in snippet  # the form of issue 11
    editor = start_nvim(CAPTURE + snippet + RECORD_STATUS)
    wait_until(lambda: connected_statuses(editor), 90, "the connection")
    assert ours(editor) == [], ours(editor)
    a_bad_setting_is_seen(editor)


# --- items 12-15: what a run that does not simply answer says --------------------------------


@pytest.fixture
def asking_project(project: Path, scripted_model: ScriptedModel) -> Path:
    """Commands ask for permission; edits do not."""
    config = opencode_config(scripted_model.base_url, {"edit": "allow", "bash": "ask"})
    (project / "opencode.json").write_text(json.dumps(config))
    return project


def shipped(start_nvim: Any, bridge_options: dict[str, Any], **settings: Any) -> Neovim:
    editor: Neovim = start_nvim(HERE / "nvim_init.lua", {**bridge_options, **settings})
    wait_until(lambda: "OpenCode 1." in statusline(editor), 90, "the connection")
    return editor


def pick_in_prompts(editor: Neovim, choice: str | None) -> None:
    """The user's choice in every vim.ui.select menu (where Neovim puts
    window/showMessageRequest): the item titled ``choice``, or dismissal (None)."""
    editor.lua(
        """local wanted = ...
        vim.ui.select = function(items, opts, on_choice)
          _G.shown = _G.shown or {}
          table.insert(_G.shown, "PROMPT: " .. (opts.prompt or ""))
          for i, item in ipairs(items) do
            local title = opts.format_item and opts.format_item(item) or tostring(item)
            if title == wanted then return on_choice(item, i) end
          end
          on_choice(nil)
        end""",
        choice,
    )


def test_neovim_abort_says_the_run_was_stopped(
    start_nvim: Any, bridge_options: dict[str, Any], scripted_model: ScriptedModel
) -> None:
    editor = shipped(start_nvim, bridge_options)
    never = threading.Event()
    scripted_model.push(Reply.text("Partial words, then the rest that never comes.", hold=never))
    editor.nvim.command("OpenCodeAsk explain foo")
    wait_until(lambda: "Partial" in statusline(editor), 90, "the first words in the statusline")

    editor.nvim.input(f"{LEADER}ox")  # OpenCode: abort the run
    said = wait_shown(editor, "stopped")
    assert "Partial" not in said  # not the partial text as if it were the answer
    assert not [m for m in shown(editor) if "OpenCode: Partial" in m]
    wait_until(lambda: "stopped" in statusline(editor).lower(), 30, "the statusline to say so")
    assert "Partial" not in statusline(editor)


def test_neovim_reject_says_what_was_rejected_and_that_the_agent_was_told(
    start_nvim: Any,
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
    asking_project: Path,
) -> None:
    editor = shipped(start_nvim, bridge_options)
    pick_in_prompts(editor, "Reject")
    scripted_model.push(Reply.bash("touch rejected.txt"), Reply.text("never said"))
    editor.nvim.command("OpenCodeAsk make a file")

    said = wait_shown(editor, "agent was told")
    assert "rejected" in said and "touch rejected.txt" in said
    wait_until(lambda: "rejected" in statusline(editor), 30, "the statusline to say so")
    assert not (asking_project / "rejected.txt").exists()


def test_neovim_an_ask_behind_a_waiting_request_says_it_is_queued_and_where(
    start_nvim: Any,
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
    asking_project: Path,
) -> None:
    editor = shipped(start_nvim, bridge_options)
    pick_in_prompts(editor, None)  # the user dismisses the prompt: the request still waits
    scripted_model.push(Reply.bash("touch first.txt"), Reply.text("First done."))
    editor.nvim.command("OpenCodeAsk make a file")
    wait_shown(editor, "waiting for your answer")

    editor.nvim.command("OpenCodeAsk and then explain foo")
    said = wait_shown(editor, "queued")
    assert "touch first.txt" in said  # what the run waits on
    assert "src/a.py:" in said  # where the request's quick fix is


def test_neovim_unknown_model_is_one_sentence_without_a_stack_trace(
    start_nvim: Any, bridge_options: dict[str, Any], scripted_model: ScriptedModel
) -> None:
    editor = shipped(start_nvim, bridge_options, model=MISSING_MODEL)
    editor.nvim.command("OpenCodeAsk hello")
    said = wait_shown(editor, MISSING_MODEL)
    assert "opencode.model.select" in said
    wait_until(lambda: "error" in statusline(editor), 30, "the statusline")
    assert "0 steps" not in statusline(editor) and "Error:" not in statusline(editor)

    # Do what the sentence says; the next answer also proves OpenCode's second report of the
    # failure (with a stack trace) has come and gone.
    editor.lua(
        "require('opencode_lsp').execute('opencode.model.select', { { model = ... } })",
        "mock/mock-model",
    )
    wait_until(lambda: "mock/mock-model" in statusline(editor), 30, "the model chosen")
    scripted_model.push(Reply.text("Hello from the mock model."))
    editor.nvim.command("OpenCodeAsk hello again")
    wait_shown(editor, "Hello from the mock model.")

    # Said once, on one line: in :messages, and among the whole texts the module keeps.
    in_messages = [m for m in messages(editor).splitlines() if MISSING_MODEL in m]
    kept = editor.lua("return require('opencode_lsp').messages")  # each message, whole
    notified = [m for m in kept if MISSING_MODEL in m]
    assert max(len(in_messages), len(notified)) == 1, (in_messages, notified)
    assert all("\n" not in m for m in notified)
    lines = shown(editor)
    assert not [m for m in lines if re.match(r"\s+at ", m) or "ProviderModelNotFoundError" in m]
    assert not [m for m in lines if "Done: 0 steps" in m]


# --- Emacs -------------------------------------------------------------------------------------


def test_emacs_eglot_starts_without_a_warning(project: Path, editor_env: dict[str, str]) -> None:
    """The shipped opencode-eglot.el with its own (empty) settings; the control afterwards
    pushes a bad setting and sees its warning in *Messages*."""
    output = run_eglot(project, opencode_path(editor_env))
    at_start, after_control = printed_messages(output)
    # Eglot puts window/showMessage in *Messages* as "Server reports (type=N): …".
    assert [line for line in at_start if "Server reports" in line] == [], output
    assert [line for line in at_start if "setting" in line.lower()] == [], output
    assert any("must look like provider/model" in line for line in after_control), output


def test_emacs_unknown_model_is_one_sentence_without_a_stack_trace(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.push(Reply.text("Hello from the mock model."))
    output = run_eglot(
        project, editor_env, {**bridge_options, "model": MISSING_MODEL}, "missing-model"
    )
    *_, final = printed_messages(output)
    about = [line for line in final if MISSING_MODEL in line]
    assert len(about) == 1, output  # once, on one line
    assert "opencode.model.select" in about[0]
    assert not [line for line in final if re.match(r"\s+at ", line)], output
    assert not [line for line in final if "ProviderModelNotFoundError" in line], output
    [mode_line] = [line for line in output.splitlines() if line.startswith("TEST: mode line:")]
    assert "error" in mode_line and "0 steps" not in mode_line
