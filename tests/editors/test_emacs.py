"""Emacs in batch mode with editor-configs/emacs/opencode-eglot.el: Eglot (built in from
Emacs 29, Debian's elpa-eglot on 28) starts the bridge, which spawns the real
``opencode serve``; the scripted model stands in for the provider.  The user's typing
reaches the minibuffer on standard input, as batch mode reads it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bridge.demo.scripted_model import Reply, ScriptedModel
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
        [emacs, "--batch", "-l", str(config), "-l", str(driver)],
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
