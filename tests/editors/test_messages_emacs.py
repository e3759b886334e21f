"""What the person reads in real Emacs 28 + Eglot (issue 11, items 12-14) when a run does not
simply answer: an abort, a reject, an ask queued behind a waiting request.

``emacs -Q`` in batch mode with the shipped opencode-eglot.el, as docs/editors.md says, driven
by runs_driver.el: the user's typing (prompts, the answer to the permission prompt) comes on
standard input, every question Emacs asks is recorded where it is asked, and at the end the
driver prints ``*Messages*`` (where Eglot puts window/showMessage), the config's mode-line
text and the answers kept for ``C-c o r``. The Neovim versions are in test_messages.py.
Also: the shipped opencode-lsp-mode.el starts without a warning (item 1, as for Eglot there).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel, opencode_config
from tests.editors.conftest import CONFIGS
from tests.editors.editors import require_emacs
from tests.editors.messages_emacs import eglot_q, printed_messages
from tests.editors.test_messages import opencode_path
from tests.support.real_opencode import EventStream, RealOpenCode

HERE = Path(__file__).parent


@pytest.fixture
def asking_project(project: Path, scripted_model: ScriptedModel) -> Path:
    """Commands ask for permission; edits do not."""
    config = opencode_config(scripted_model.base_url, {"edit": "allow", "bash": "ask"})
    (project / "opencode.json").write_text(json.dumps(config))
    return project


def server_reports(seen: dict[str, Any]) -> list[str]:
    """The window/showMessage lines in *Messages* (Eglot: "[eglot] Server reports …")."""
    return [line for line in seen["messages"].splitlines() if "Server reports" in line]


async def test_emacs_abort_says_the_run_was_stopped(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
    start_opencode: Callable[..., RealOpenCode],
) -> None:
    # An OpenCode of the test's own (serverUrl), so the test sees the first words stream
    # before the user aborts: Eglot 1.9 shows no progress, only "busy".
    server = start_opencode(project, model_base_url=scripted_model.base_url)
    never = threading.Event()
    scripted_model.push(Reply.text("Partial words, then the rest that never comes.", hold=never))

    async with EventStream(server, directory=project) as events:

        async def first_words() -> object:
            return await events.wait_for(
                "message.part.delta", lambda p: "Partial" in str(p.get("delta")), timeout=90
            )

        seen, output = await eglot_q(
            project,
            editor_env,
            {**bridge_options, "serverUrl": server.url},
            "abort",
            # C-c o a …; once the words stream, C-c o c opencode.session.abort, no arguments
            ["explain foo", first_words, "opencode.session.abort", ""],
        )
    assert "TEST: mode line while running: OpenCode: busy" in output  # the first words came
    [said] = [line for line in server_reports(seen) if "stopped" in line]
    assert "OpenCode: stopped before it finished" in said, output
    # Not the partial text as if it were the answer: not in any message, not in the mode line.
    assert "Partial" not in seen["messages"], output
    assert "stopped" in seen["modeLine"] and "Partial" not in seen["modeLine"], seen
    # C-c o r: what it had written is kept, marked as unfinished.
    [kept] = seen["answers"]
    assert kept.startswith("(The run stopped before it finished") and "Partial" in kept


async def test_emacs_reject_says_what_was_rejected_and_that_the_agent_was_told(
    asking_project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.push(Reply.bash("touch rejected.txt"), Reply.text("never said"))
    seen, output = await eglot_q(
        asking_project, editor_env, bridge_options, "reject", ["make a file", "Reject"]
    )
    # The user answered OpenCode's question in Emacs's own prompt, which offered every choice.
    [permission] = [q for q in seen["questions"] if q["prompt"].startswith("OpenCode wants")]
    assert permission["function"] == "completing-read"
    assert "touch rejected.txt" in permission["prompt"]
    assert "Reject" in permission["choices"] and "Allow once" in permission["choices"]

    [said] = [line for line in server_reports(seen) if "agent was told" in line]
    assert "you rejected" in said and "touch rejected.txt" in said, output
    assert "rejected" in seen["modeLine"], seen
    assert "never said" not in seen["messages"]
    assert not (asking_project / "rejected.txt").exists()


async def test_emacs_an_ask_behind_a_waiting_request_says_it_is_queued_and_where(
    asking_project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.push(Reply.bash("touch first.txt"), Reply.text("First done."))
    seen, output = await eglot_q(
        asking_project,
        editor_env,
        bridge_options,
        "queued",
        ["make a file", "and then explain foo"],  # C-g on the permission prompt in between
    )
    assert "TEST: C-g" in output  # the request was left waiting, from Emacs's own prompt
    [said] = [line for line in server_reports(seen) if "queued" in line]
    assert "touch first.txt" in said, output  # what the run waits on
    assert "src/a.py:" in said, output  # where the request's quick fix is (C-c o o there)
    assert not (asking_project / "first.txt").exists()


def test_emacs_lsp_mode_starts_without_a_warning(project: Path, editor_env: dict[str, str]) -> None:
    """The shipped opencode-lsp-mode.el with its own (empty) settings, ``emacs -Q`` as the docs
    say; the control afterwards pushes a bad setting and sees its warning in *Messages*."""
    result = subprocess.run(
        [
            require_emacs("lsp-mode"),
            "-Q",
            "--batch",
            "-l",
            str(CONFIGS / "emacs/opencode-lsp-mode.el"),
            "-l",
            str(HERE / "lsp_mode_start_driver.el"),
        ],
        capture_output=True,
        text=True,
        cwd=project,
        env={**opencode_path(editor_env), "EDITOR_TEST_FILE": str(project / "src/a.py")},
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    at_start, after_control = printed_messages(output)
    # lsp-mode puts window/showMessage in *Messages* as "LSP :: …", the bridge's as
    # "LSP :: OpenCode …" (lsp-mode's own lines name the server "opencode-lsp").
    assert [line for line in at_start if "LSP :: OpenCode" in line] == [], output
    assert [line for line in at_start if "setting" in line.lower()] == [], output
    assert any("must look like provider/model" in line for line in after_control), output
