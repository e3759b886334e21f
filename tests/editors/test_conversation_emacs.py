"""The session's conversation document (issue 15, docs/conversation.md) in Emacs with
editor-configs/emacs: Emacs 28 with Eglot 1.9 (no window/showDocument of its own: the config
adds it), Emacs 28 with lsp-mode 8, and Emacs 30 with its built-in Eglot, in batch mode
(conversation_driver.el), against the real ``opencode serve`` and the scripted model.
What is asserted is what Emacs itself shows: its windows, the selected one, the buffer's
text and modified flag, the questions it asked."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.editors.editors import require_emacs
from tests.editors.test_emacs import CLIENTS, EMACS_CLIENTS, ask_for_permission

DRIVER = Path(__file__).parent / "conversation_driver.el"
MARKER = (
    "<!-- opencode: write your next prompt below this line, "
    'then run the code action "OpenCode: Send" -->'
)


@pytest.fixture
def bridge_options(bridge_options: dict[str, Any]) -> dict[str, Any]:
    """The editor tests' settings, with the conversation opened on the first ask."""
    return {**bridge_options, "openConversation": True}


def run_driver(
    project: Path,
    env: dict[str, str],
    options: dict[str, Any],
    client: str,
    scenario: str,
    typed: list[str],
    extra: dict[str, str],
    on_partial: threading.Event | None = None,
) -> dict[str, Any]:
    """``emacs -Q --batch`` with the shipped config and conversation_driver.el; the user's
    typing on standard input. ``on_partial`` is set when the driver prints "TEST: partial".
    Returns what the editor showed (its TEST-JSON)."""
    newer = client.endswith("-emacs30")
    client = client.removesuffix("-emacs30")
    emacs = require_emacs(client, newer=newer)
    process = subprocess.Popen(
        [emacs, "-Q", "--batch", "-l", str(CLIENTS[client][0]), "-l", str(DRIVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=project,
        env={
            **env,
            "EDITOR_TEST_CLIENT": client,
            "EDITOR_TEST_FILE": str(project / "src/a.py"),
            "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(options),
            "EDITOR_TEST_SCENARIO": scenario,
            **extra,
        },
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("".join(line + "\n" for line in typed))
    process.stdin.close()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if on_partial is not None and line.startswith("TEST: partial"):
                on_partial.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process.wait(300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if on_partial is not None:
            on_partial.set()  # never leave the model holding
    reader.join(10)
    printed = "".join(output)
    assert process.returncode == 0, printed
    assert "error in process filter" not in printed, printed
    seen: dict[str, Any] = json.loads(printed.split("TEST-JSON: ", 1)[1].splitlines()[0])
    return seen


def prompt_area(text: str) -> str:
    return text.rsplit(MARKER, 1)[1].strip()


def assert_beside_without_focus(view: dict[str, Any], project: Path) -> None:
    assert view["conversationShown"] and view["besideCode"], view
    assert view["selectedIsCode"] and view["selectedFile"] == str(project / "src/a.py")
    assert view["managed"], "the client does not manage the conversation's buffer"
    assert view["servers"] == 1  # no second server for a file outside the project
    assert not view["modified"]
    assert not view["file"].startswith(str(project))


def git_status(project: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_ask_opens_the_conversation_beside_it_streams_and_the_user_continues_from_it(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    before = git_status(project)
    first = "foo returns the square root of x plus 42, as a float."
    second = "bar calls foo with 4, so it returns 44.0."
    release = threading.Event()
    scripted_model.push(Reply.text(first, hold=release), Reply.text(second))

    seen = run_driver(
        project,
        editor_env,
        bridge_options,
        client,
        "continue",
        ["Explain this", "OpenCode: Send"],
        {"EDITOR_TEST_PARTIAL": first[:8], "EDITOR_TEST_ANSWERS": f"{first}|{second}"},
        on_partial=release,
    )

    requests = scripted_model.wait_for_requests(2, timeout=10)
    assert "def foo(x):" in requests[0].user_text() and "Explain this" in requests[0].user_text()
    # Opened beside the code, the code's window still selected, served by the one bridge.
    assert_beside_without_focus(seen["opened"], project)
    # Streamed: the answer's start was there while the model held the rest.
    assert first not in seen["partial"]["text"]
    assert_beside_without_focus(seen["answered"], project)
    assert first in seen["answered"]["text"]
    # The follow-up typed at the end was sent by OpenCode: Send, and answered below.
    assert seen["typed"] == "And what does bar return?"
    assert "And what does bar return?" in requests[1].user_text()
    text = seen["continued"]["text"]
    assert text.index(first) < text.index("And what does bar return?") < text.index(second)
    assert text.rindex(second) < text.rindex(MARKER) and prompt_area(text) == ""
    assert not seen["continued"]["modified"]
    # Killed with an unsent prompt (no "modified" to ask about) and opened again: all there.
    assert not seen["beforeKill"]["modified"]
    assert prompt_area(seen["kept"]) == "Not sent yet"
    assert seen["reopened"]["text"] == seen["kept"]
    assert_beside_without_focus(seen["reopened"], project)
    # Opened as a file (C-x C-f): the same one server manages it, nothing lost.
    as_file = seen["openedAsFile"]
    assert as_file["managed"] and as_file["servers"] == 1 and as_file["text"] == seen["kept"]
    # The only questions: the code-action menu (no "save?", no "changed on disk").
    asked = {question["function"] for question in seen["questions"]}
    assert asked <= {"completing-read"}, seen["questions"]
    assert git_status(project) == before  # nothing written into the workspace


@pytest.mark.parametrize("client", EMACS_CLIENTS)
def test_a_permission_is_allowed_from_the_conversation(
    client: str,
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
) -> None:
    ask_for_permission(project, scripted_model)
    path = project / "src/a.py"
    scripted_model.push(
        Reply.edit(path, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )

    seen = run_driver(
        project,
        editor_env,
        bridge_options,
        client,
        "permission",
        ["Change 42 to 43 in foo", "OpenCode: Allow once — edit src/a.py"],
        {
            "EDITOR_TEST_CTRL_G": "OpenCode wants to edit",
            "EDITOR_TEST_ANSWERS": "Changed 42 to 43.",
        },
    )

    assert "return math.sqrt(x) + 43" in path.read_text()
    assert_beside_without_focus(seen["asked"], project)
    assert "Changed 42 to 43." in seen["allowed"]["text"]
    assert not seen["allowed"]["modified"] and not seen["codeModified"]
    menus = [q for q in seen["questions"] if "OpenCode wants" not in q["prompt"]]
    assert [q["function"] for q in menus] == ["completing-read"]  # the code-action menu
