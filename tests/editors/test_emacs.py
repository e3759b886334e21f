"""``emacs -Q`` in batch mode with editor-configs/emacs/ (opencode-eglot.el: Eglot, built in
from Emacs 29, Debian's elpa-eglot on 28; opencode-lsp-mode.el: lsp-mode) starts the bridge,
which spawns the real ``opencode serve``; the scripted model stands in for the provider.
The user's typing reaches the minibuffer on standard input, as batch mode reads it; the
agent-edit tests also count every question Emacs asks (edit_driver.el)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel, opencode_config
from tests.editors.conftest import CONFIGS
from tests.editors.editors import require_emacs

HERE = Path(__file__).parent
CLIENTS = {
    "eglot": (CONFIGS / "emacs/opencode-eglot.el", HERE / "eglot_driver.el"),
    "lsp-mode": (CONFIGS / "emacs/opencode-lsp-mode.el", HERE / "lsp_mode_driver.el"),
}


def run_emacs(
    project: Path,
    env: dict[str, str],
    options: dict[str, Any],
    action: str,
    typed: str,
    client: str = "eglot",
) -> str:
    """Emacs opens src/a.py, M-x eglot (or M-x lsp), then the action; returns what it
    printed."""
    emacs = require_emacs(client)
    config, driver = CLIENTS[client]
    result = subprocess.run(
        [emacs, "-Q", "--batch", "-l", str(config), "-l", str(driver)],  # -Q: as the docs say
        input=typed,
        capture_output=True,
        text=True,
        cwd=project,
        env={
            **env,
            "EDITOR_TEST_FILE": str(project / "src/a.py"),
            "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(options),
            "EDITOR_TEST_ACTION": action,
        },
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_eglot_code_action_on_the_region_reaches_opencode(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    answer = "foo returns the square root of x plus 42."
    scripted_model.push(Reply.text(answer))

    # Lines 3-4 in the region, M-x opencode-eglot-code-actions, the user picks Explain.
    output = run_emacs(project, editor_env, bridge_options, "code-action", "OpenCode: Explain\n")

    sent = scripted_model.last_request().user_text()
    assert "def foo(x):" in sent and "return math.sqrt(x) + 42" in sent  # the region
    assert "return foo(4)" not in sent
    assert "Explain what the selected code in src/a.py (lines 3-4) does." in sent
    assert f"Server reports (type=3): OpenCode: {answer}" in output  # the echo area
    assert f"TEST: answer: {answer}" in output  # whole, for M-x opencode-eglot-show-answer
    states = output.split("TEST: states: ")[1].splitlines()[0].split()
    assert "busy" in states and states[-1] == "idle"  # what the mode line showed
    assert "TEST: mode line: OpenCode: idle" in output


def test_eglot_free_text_prompt_reaches_opencode(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.push(Reply.text("There are two Python files."))

    output = run_emacs(
        project, editor_env, bridge_options, "ask", "How many Python files are there?\n"
    )

    assert "How many Python files are there?" in scripted_model.last_request().user_text()
    assert "OpenCode: There are two Python files." in output


def test_lsp_mode_code_action_on_the_region_reaches_opencode(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    answer = "foo returns the square root of x plus 42."
    scripted_model.push(Reply.text(answer))

    output = run_emacs(
        project, editor_env, bridge_options, "code-action", "OpenCode: Explain\n", "lsp-mode"
    )

    sent = scripted_model.last_request().user_text()
    assert "def foo(x):" in sent and "return math.sqrt(x) + 42" in sent
    assert "Explain what the selected code in src/a.py (lines 3-4) does." in sent
    assert f"OpenCode: {answer}" in output
    assert "TEST: mode line: OpenCode: idle" in output


def test_lsp_mode_free_text_prompt_reaches_opencode(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.push(Reply.text("There are two Python files."))

    output = run_emacs(
        project, editor_env, bridge_options, "ask", "How many Python files are there?\n", "lsp-mode"
    )

    assert "How many Python files are there?" in scripted_model.last_request().user_text()
    assert "TEST: answer: There are two Python files." in output


# --- An agent edit, as the user lives it (Eglot and lsp-mode) -----------------------------
#
# src/a.py:  1 import math / 2 / 3 def foo(x): / 4     return math.sqrt(x) + 42 / 5 / 6 /
#            7 def bar(): / 8     return foo(4)

EDIT_DRIVER = HERE / "edit_driver.el"
# Debian's Emacs 28 with elpa-eglot 1.9 and with elpa-lsp-mode 8; Emacs 30 of
# bookworm-backports (unpacked beside it by .ci/setup) with its built-in Eglot.
EMACS_CLIENTS = [
    pytest.param("eglot", id="emacs28-eglot"),
    pytest.param("lsp-mode", id="emacs28-lsp-mode"),
    pytest.param("eglot-emacs30", id="emacs30-eglot"),
]
CHOICES = ["Allow once", "Allow always", "Reject", "Show diff"]
EDITED = "    return math.sqrt(x) + 43"


def ask_for_permission(project: Path, scripted_model: ScriptedModel) -> None:
    """OpenCode's own configuration asks before every edit."""
    config = opencode_config(scripted_model.base_url, {"edit": "ask"})
    (project / "opencode.json").write_text(json.dumps(config))


def push_edit(project: Path, scripted_model: ScriptedModel) -> None:
    scripted_model.push(
        Reply.edit(project / "src/a.py", "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )


def edit_session(
    project: Path,
    env: dict[str, str],
    options: dict[str, Any],
    typed: list[str],
    *,
    unsaved: str | None = None,
    ctrl_g: str | None = None,
    client: str = "eglot",
) -> tuple[dict[str, Any], str]:
    """Emacs -Q with the shipped config opens src/a.py, M-x eglot (or M-x lsp), C-c o a with
    the first typed line; the agent edits line 4.  Returns what the editor showed
    (edit_driver.el) and everything it printed (the echo area, in batch mode)."""
    newer = client.endswith("-emacs30")
    client = client.removesuffix("-emacs30")
    emacs = require_emacs(client, newer=newer)
    extra = {"EDITOR_TEST_CLIENT": client}
    if unsaved:
        extra["EDITOR_TEST_UNSAVED"] = unsaved
    if ctrl_g:
        extra["EDITOR_TEST_CTRL_G"] = ctrl_g
    result = subprocess.run(
        [emacs, "-Q", "--batch", "-l", str(CLIENTS[client][0]), "-l", str(EDIT_DRIVER)],
        input="".join(line + "\n" for line in typed),
        capture_output=True,
        text=True,
        cwd=project,
        env={
            **env,
            "EDITOR_TEST_FILE": str(project / "src/a.py"),
            "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(options),
            "EDITOR_TEST_EXPECT": EDITED,
            **extra,
        },
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    shown = json.loads(output.split("TEST-JSON: ", 1)[1].splitlines()[0])
    assert "error in process filter" not in output, output
    return shown, output


def assert_in_step_and_saved_silently(shown: dict[str, Any], file_text: str) -> None:
    """Emacs does not consider the file changed on disk, and C-x C-s asks nothing."""
    assert shown["modtimeHolds"], "verify-visited-file-modtime: the buffer looks stale"
    assert shown["saveQuestions"] == []
    assert not shown["modifiedAfterSave"]
    assert shown["fileAfterSave"] == file_text


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_agent_edit_without_permission_asks_nothing_and_leaves_a_clean_buffer(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    push_edit(project, scripted_model)

    shown, _ = edit_session(
        project, editor_env, bridge_options, ["Change 42 to 43 in foo"], client=client
    )

    assert shown["questions"] == []  # no "Proceed?", no "changed on disk"
    assert EDITED in shown["buffer"]
    assert shown["buffer"] == (project / "src/a.py").read_text()
    assert not shown["modified"]
    assert_in_step_and_saved_silently(shown, shown["buffer"])


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_agent_edit_with_permission_asks_exactly_once_listing_every_choice(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    ask_for_permission(project, scripted_model)
    push_edit(project, scripted_model)

    shown, _ = edit_session(
        project, editor_env, bridge_options, ["Change 42 to 43 in foo", "Allow once"], client=client
    )

    [question] = shown["questions"]
    assert question["function"] == "completing-read"
    assert question["prompt"].startswith("OpenCode wants to edit src/a.py (+1 −1)")
    assert question["initial"] is None  # nothing pre-filled: TAB lists every choice
    assert sorted(question["completions"]) == sorted(CHOICES)
    assert not shown["modified"] and EDITED in shown["buffer"]
    assert_in_step_and_saved_silently(shown, shown["buffer"])


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_agent_edit_merges_into_unsaved_text_and_saving_keeps_both(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    push_edit(project, scripted_model)

    shown, output = edit_session(
        project,
        editor_env,
        bridge_options,
        ["Change 42 to 43 in foo"],
        unsaved="8:    return foo(5)",
        client=client,
    )

    assert shown["questions"] == []
    assert EDITED in shown["buffer"] and "return foo(5)" in shown["buffer"]
    assert shown["modified"]  # by the user's own unsaved change only
    assert "merged the agent's change to src/a.py into your unsaved buffer" in output
    assert_in_step_and_saved_silently(shown, shown["buffer"])  # both changes in the file


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_ctrl_g_on_the_prompt_leaves_the_diagnostic_and_c_c_o_o_answers_it(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    ask_for_permission(project, scripted_model)
    push_edit(project, scripted_model)

    shown, output = edit_session(
        project,
        editor_env,
        bridge_options,
        ["Change 42 to 43 in foo", "OpenCode: Allow once — edit src/a.py"],
        ctrl_g="OpenCode wants to edit",
        client=client,
    )

    assert "TEST: C-g" in output  # and no "error in process filter: Quit" (edit_session)
    # The request's diagnostic came without another command:
    assert re.search(r"TEST: diagnostic: .*OpenCode wants to edit src/a.py", output), output
    prompt, menu = shown["questions"]
    assert prompt["prompt"].startswith("OpenCode wants to edit src/a.py")
    offered = menu["completions"]  # C-c o o on the diagnostic's line
    for choice in CHOICES:
        assert f"OpenCode: {choice} — edit src/a.py" in offered, offered
    assert EDITED in shown["buffer"] and not shown["modified"]
    assert_in_step_and_saved_silently(shown, shown["buffer"])


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_show_diff_opens_the_change_in_diff_mode(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    ask_for_permission(project, scripted_model)
    push_edit(project, scripted_model)

    shown, _ = edit_session(
        project,
        editor_env,
        bridge_options,
        ["Change 42 to 43 in foo", "Show diff", "Allow once"],
        client=client,
    )

    [diff] = shown["diffs"]
    assert diff["mode"] == "diff-mode" and diff["shown"]
    assert "+    return math.sqrt(x) + 43" in diff["text"]
    first, again = shown["questions"]  # Show diff, then the same request again
    assert first["prompt"] == again["prompt"]
    assert EDITED in shown["buffer"] and not shown["modified"]
