"""Real VS Code: code-server with the packaged extension from editor-configs/vscode, in
headless Chromium. The extension starts ``opencode-lsp`` from PATH (its default), which spawns
the real ``opencode serve``; the scripted model stands in for the provider. Every assertion
reads the workbench's DOM: what the person sees. A failing test saves a screenshot.

One code-server and one browser serve the whole module (starting them is the slow part); each
test gets its own repository, scripted model, VS Code window (so its own extension host, bridge
and opencode) and a fresh browser context.

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
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import Reply, ScriptedModel, isolated_env, opencode_config
from tests.editors.conftest import failed
from tests.editors.vscode_support import (
    CodeServer,
    Workbench,
    browser,
    normal,
    one_line,
    require_vscode,
    workspace_settings,
)
from tests.support.real_opencode import require_opencode

A_PY = (
    "import math\n\ndef foo(x):\n    return math.sqrt(x) + 42\n\n\ndef bar():\n    return foo(4)\n"
)

# Every text the extension's status bar item shows, in order, recorded from the first paint.
STATUS_RECORDER = """
window.__opencodeStatus = [];
new MutationObserver(() => {
  const items = document.querySelectorAll('.statusbar-item[id^="opencode-lsp.opencode-lsp"]');
  for (const item of items) {
    const text = item.innerText.replace(/\\s+/g, ' ').trim();
    const seen = window.__opencodeStatus;
    if (text.includes('OpenCode:') && seen[seen.length - 1] !== text) seen.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def vscode_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """code-server's environment, which its extension hosts and so the bridges inherit:
    OpenCode's folders isolated and HOME in the test's folder. VS Code takes PATH from a
    login shell, so ``opencode-lsp`` is where pipx puts it, ``~/.local/bin``, which
    Debian's ``~/.profile`` adds to PATH; the extension starts it by that name."""
    base = tmp_path_factory.mktemp("vscode-env")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env.update(isolated_env(base / "opencode-home"))
    home = base / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "opencode-lsp").symlink_to(
        Path(sys.executable).parent / "opencode-lsp"
    )
    (home / ".profile").write_text(
        'if [ -d "$HOME/.local/bin" ] ; then PATH="$HOME/.local/bin:$PATH"; fi\n'
    )
    env["HOME"] = str(home)
    # No extension gallery: VS Code's queries go to a closed port on loopback.
    env["EXTENSIONS_GALLERY"] = json.dumps(
        {"serviceUrl": "http://127.0.0.1:9/gallery", "itemUrl": "http://127.0.0.1:9/item"}
    )
    return env


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_vscode()


@pytest.fixture(scope="module")
def code_server(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, vscode_env: dict[str, str]
) -> Iterator[CodeServer]:
    server = CodeServer(tmp_path_factory.mktemp("code-server"), vscode_env)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def chromium_browser(chromium: str) -> Iterator[Any]:
    with browser(chromium) as launched:
        yield launched


@pytest.fixture
def open_vscode(
    request: pytest.FixtureRequest,
    code_server: CodeServer,
    chromium_browser: Any,
    tmp_path: Path,
) -> Iterator[Any]:
    """``open_vscode(folder, **settings)``: a VS Code window on ``folder``, with the pinned
    opencode and no probe of 127.0.0.1:4096 in its workspace settings."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(STATUS_RECORDER)
    windows: list[Workbench] = []

    def start(folder: Path, **settings: Any) -> Workbench:
        workspace_settings(
            folder,
            {"opencode.command": [require_opencode()], "opencode.attachUrl": None, **settings},
        )
        window = Workbench(context.new_page(), code_server.url, folder)
        windows.append(window)
        return window

    try:
        yield start
    finally:
        if failed(request):
            for number, window in enumerate(windows):
                shot = tmp_path / f"vscode-{number}.png"
                try:
                    window.page.screenshot(path=str(shot))
                    print(f"--- screenshot: {shot}")  # noqa: T201
                    print("--- notifications", window.notifications())  # noqa: T201
                    print("--- status history", statuses(window))  # noqa: T201
                except Exception as exc:  # the page may be gone
                    print(f"--- no screenshot: {exc}")  # noqa: T201
            print("--- code-server\n" + code_server.log_text())  # noqa: T201
        # The window's extension host, and with it the bridge, stops when code-server's
        # reconnection grace time is over (or at the latest with code-server).
        context.close()


def statuses(window: Workbench) -> list[str]:
    return list(window.page.evaluate("() => window.__opencodeStatus"))


def wait_status(window: Workbench, start: str, timeout: float = 90) -> str:
    def reads() -> str | None:
        status = window.status()
        if status.startswith("OpenCode: error"):  # the server did not start: no use waiting
            raise AssertionError(f"{status} (notifications: {window.notifications()})")
        return status if status.startswith(start) else None

    return str(
        window.wait(
            reads,
            timeout,
            f"the status bar to read {start!r} (it reads {window.status()!r})",
        )
    )


CHECKBOX = "[role=checkbox], .monaco-checkbox, .monaco-custom-toggle, input[type=checkbox]"


def checked(checkbox: Any) -> bool:
    return bool(
        checkbox.get_attribute("aria-checked") == "true"
        or "checked" in (checkbox.get_attribute("class") or "").split()
    )


def ask_config(project: Path, scripted_model: ScriptedModel) -> None:
    """OpenCode asks before every edit."""
    config = opencode_config(scripted_model.base_url, {"edit": "ask"})
    (project / "opencode.json").write_text(json.dumps(config))


def ask_by_palette(window: Workbench, prompt: str) -> None:
    window.run_command("OpenCode: Ask…")
    # The extension's input box (its prompt reads "Ask OpenCode"), not the palette before it.
    window.quick_input().locator(".quick-input-message", has_text="Ask").wait_for(
        state="visible", timeout=30_000
    )
    window.type(prompt)
    window.press("Enter")


# --- the tests ---------------------------------------------------------------------------------


def test_vscode_languageclient_arguments_start_the_server() -> None:
    """vscode-languageclient appends ``--stdio`` (TransportKind.stdio) and node clients
    ``--clientProcessId=N``: the server starts on them and answers ``initialize``."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}},
        }
    ).encode()
    frame = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    server = subprocess.run(
        [sys.executable, "-m", "bridge", "--stdio", "--clientProcessId=1"],
        input=frame,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b'"capabilities"' in server.stdout, server.stderr.decode()
    refused = subprocess.run(
        [sys.executable, "-m", "bridge", "--stdio", "--tcp"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "--stdio and --tcp" in refused.stderr


def test_status_bar_and_explain_code_action(
    open_vscode: Any, project: Path, scripted_model: ScriptedModel
) -> None:
    window = open_vscode(project)
    wait_status(window, "OpenCode: idle")
    window.open_file("src/a.py")

    release = threading.Event()
    answer = "foo returns the square root of x plus 42. It is used by bar with 4."
    scripted_model.push(Reply.text(answer, hold=release))
    window.select_lines(3, 4)
    offered = window.code_actions()
    assert {"OpenCode: Explain", "OpenCode: Review", "OpenCode: Write tests"} <= set(offered)
    window.choose_code_action("OpenCode: Explain")

    [request] = scripted_model.wait_for_requests(1, timeout=90)
    sent = request.user_text()
    assert "def foo(x):" in sent and "return math.sqrt(x) + 42" in sent  # the selection
    assert "return foo(4)" not in sent  # and only the selection

    # While the model holds its answer: busy in the extension's item, and the run's progress
    # in VS Code's own progress item beside it (with the answer's start as it streams).
    wait_status(window, "OpenCode: busy", 30)
    window.wait(
        lambda: window.progress().startswith("OpenCode:"), 30, "the progress in the status bar"
    )
    release.set()

    window.wait_notification("OpenCode: foo returns the square root")
    idle = wait_status(window, "OpenCode: idle · foo returns")
    history = statuses(window)
    assert history[0].startswith("OpenCode: starting"), history
    assert any(s.startswith("OpenCode: busy") for s in history), history
    assert history.index(next(s for s in history if s.startswith("OpenCode: busy"))) < (
        history.index(idle)
    )

    # The whole answer is in the OpenCode output channel.
    window.show_output("OpenCode")
    window.wait(
        lambda: answer in " ".join(window.output_text().split()),
        30,
        f"the whole answer in the output channel ({window.output_text()[-300:]!r})",
    )


def test_permission_notification_show_diff_then_allow_once(
    open_vscode: Any, project: Path, scripted_model: ScriptedModel
) -> None:
    ask_config(project, scripted_model)
    window = open_vscode(project)
    wait_status(window, "OpenCode: idle")
    window.open_file("src/a.py")
    a = project / "src/a.py"
    scripted_model.push(
        Reply.edit(a, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    ask_by_palette(window, "Change 42 to 43 in foo")

    asked = window.wait_notification("src/a.py", 90)
    buttons = window.buttons("src/a.py")
    assert buttons[:4] == ["Allow once", "Allow always", "Reject", "Show diff"], asked
    assert a.read_text() == A_PY  # nothing written before the answer

    window.click_button("src/a.py", "Show diff")
    # VS Code's diff editor: the file as it is on the left, the proposed change on the right.
    diff = window.page.locator(".editor-group-container.active .monaco-diff-editor").first
    diff.wait_for(state="visible", timeout=30_000)

    def side(which: str) -> list[str]:
        return [normal(t) for t in diff.locator(f".editor.{which} .view-line").all_inner_texts()]

    window.wait(
        lambda: "    return math.sqrt(x) + 43" in side("modified"),
        30,
        "the proposed line in the diff editor",
    )
    assert "    return math.sqrt(x) + 42" in side("original")
    assert "    return math.sqrt(x) + 42" not in side("modified")
    assert window.active_tab_name().startswith("a.py↔"), window.active_tab_name()
    # The request is put again after the diff: the same four buttons.
    window.wait_notification("src/a.py", 30)
    window.click_button("src/a.py", "Allow once")

    window.wait_notification("OpenCode: Changed 42 to 43.", 90)
    assert a.read_text() == A_PY.replace("+ 42", "+ 43")
    window.open_file("src/a.py")  # the clean editor follows the file on disk
    window.wait(
        lambda: "    return math.sqrt(x) + 43" in window.editor_lines(),
        30,
        "the allowed edit in the editor",
    )
    # VS Code reloaded it from disk (the bridge leaves clean buffers to it): nothing to save.
    assert not window.tab_dirty()


def test_agent_edit_merges_into_the_unsaved_editor(
    open_vscode: Any, project: Path, scripted_model: ScriptedModel
) -> None:
    window = open_vscode(project)
    wait_status(window, "OpenCode: idle")
    window.open_file("src/a.py")
    # The user types at the end of the file and does not save.
    window.press("Control+End")
    window.type("# mine")
    window.wait(window.tab_dirty, 10, "the tab marked unsaved")
    a = project / "src/a.py"
    assert a.read_text() == A_PY

    scripted_model.push(
        Reply.edit(a, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43."),
    )
    ask_by_palette(window, "Change 42 to 43 in foo")
    window.wait_notification("OpenCode: Changed 42 to 43.", 90)
    assert a.read_text() == A_PY.replace("+ 42", "+ 43")  # the agent wrote the file

    both = A_PY.replace("+ 42", "+ 43") + "# mine"
    window.wait(
        lambda: window.editor_text() == both,
        30,
        f"the agent's edit merged into the buffer (it shows {window.editor_lines()})",
    )
    assert window.tab_dirty()  # still the user's unsaved work

    window.focus_editor()
    window.press("Control+S")
    window.wait(lambda: not window.tab_dirty(), 30, "the save")
    assert a.read_text() == both
    window.page.wait_for_timeout(1000)  # a conflict would show as a notification now
    assert not [n for n in window.notifications() if "newer" in n or "Failed to save" in n]


def test_review_hunks_in_the_refactor_preview(
    open_vscode: Any, project: Path, scripted_model: ScriptedModel
) -> None:
    ask_config(project, scripted_model)
    window = open_vscode(project)
    wait_status(window, "OpenCode: idle")
    window.open_file("src/a.py")
    a = project / "src/a.py"
    old = "    return math.sqrt(x) + 42\n\n\ndef bar():\n    return foo(4)"
    new = "    return math.sqrt(x) + 43\n\n\ndef bar():\n    return foo(5)"
    scripted_model.push(Reply.edit(a, old, new), Reply.text("Done."))
    ask_by_palette(window, "change the code")
    window.wait_notification("src/a.py", 90)  # the permission request

    window.focus_editor()
    window.select_lines(4, 4)
    offered = window.code_actions()
    review = "OpenCode: Review hunk by hunk — edit src/a.py"
    assert review in offered, offered
    window.choose_code_action(review)

    # The refactor preview: the file, and each hunk with a checkbox, unticked (VS Code asks
    # for each change that needs confirmation). The user ticks the first hunk and applies.
    preview = window.page.locator(".bulk-edit-panel, [id='refactorPreview']").first
    preview.wait_for(state="visible", timeout=60_000)
    rows = preview.locator(".monaco-list-row")
    window.wait(lambda: rows.count() >= 3, 30, "the hunks in the preview")
    texts = [" ".join(t.split()) for t in rows.all_inner_texts()]
    assert texts[1:] == ["return math.sqrt(x) + 423", "return foo(45)"], texts  # old+new

    def box(row: int) -> Any:
        return rows.nth(row).locator(CHECKBOX).first

    assert [box(row).count() for row in (1, 2)] == [1, 1], rows.nth(1).inner_html()
    assert not checked(box(1)) and not checked(box(2))
    box(1).click()
    window.wait(lambda: checked(box(1)), 10, "hunk 1 ticked")
    assert not checked(box(2))
    preview.locator(".monaco-button", has_text="Apply").first.click()

    window.wait_notification("OpenCode: Done.", 90)
    one = A_PY.replace("+ 42", "+ 43")
    assert a.read_text() == one  # the ticked hunk only
    window.wait(
        lambda: window.editor_text() == one,
        30,
        f"the ticked hunk in the editor ({window.editor_lines()})",
    )
    told = "\n".join(scripted_model.last_request().tool_results())
    assert "Applied by the user (the file on disk has them now): hunk 1 (line 4)." in told
    assert "Refused (not applied): hunk 2 (line 8)." in told


def test_palette_entries_run_and_answer_in_sentences(
    open_vscode: Any, project: Path, scripted_model: ScriptedModel
) -> None:
    window = open_vscode(project)
    wait_status(window, "OpenCode: idle")

    window.run_command("OpenCode: New Session")
    started = window.wait_notification("OpenCode: started session", 60)
    assert "the next prompt goes to it." in started, started

    window.run_command("OpenCode: Select Session…")
    window.quick_input().locator(".quick-input-title", has_text="which session").wait_for(
        state="visible", timeout=60_000
    )
    [listed] = window.wait(lambda: window.quick_items(), 30, "the sessions listed")
    assert "current" in listed, listed
    window.pick(listed.split()[0])
    window.wait_notification("OpenCode: the next prompt goes to session", 60)

    window.run_command("OpenCode: Select Model…")
    window.wait_notification("which model for the next prompts?", 60)
    window.click_button("which model", "mock/mock-model")
    wait_status(window, "OpenCode: idle · model mock/mock-model", 30)

    release = threading.Event()
    scripted_model.push(Reply.text("A long answer that never ends.", hold=release))
    ask_by_palette(window, "Explain everything")
    scripted_model.wait_for_requests(1, timeout=90)
    wait_status(window, "OpenCode: busy", 30)
    window.run_command("OpenCode: Stop the Answer")
    window.wait_notification("OpenCode: stopping the answer in session ses_", 30)
    wait_status(window, "OpenCode: idle", 60)
    release.set()


# --- the conversation document (docs/conversation.md) ------------------------------------------

CONVERSATION_TAB = r"ses_\w+\.md"  # the tab of a session's conversation (<sessionID>.md)


def conversation_text(window: Workbench) -> str:
    """The conversation's lines on screen as one text, whitespace collapsed (Markdown is
    word-wrapped in VS Code: a long line shows as several)."""
    return one_line(" ".join(window.group_lines(CONVERSATION_TAB)))


def wait_conversation(window: Workbench, text: str, timeout: float = 90) -> str:
    return str(
        window.wait(
            lambda: conversation_text(window) if text in conversation_text(window) else None,
            timeout,
            f"{text!r} in the conversation (it shows {conversation_text(window)[-600:]!r})",
        )
    )


def focus_conversation(window: Workbench) -> None:
    """Click into the conversation's editor, then go to its end (the prompt area)."""
    window.group_locator(CONVERSATION_TAB).locator(".monaco-editor .view-lines").first.click()
    window.wait(
        lambda: re.match(CONVERSATION_TAB, window.focused_tab()), 10, "the conversation focused"
    )
    window.press("Control+End")


def test_conversation_beside_the_code_streams_continues_and_allows(
    open_vscode: Any, project: Path, scripted_model: ScriptedModel, vscode_env: dict[str, str]
) -> None:
    ask_config(project, scripted_model)
    window = open_vscode(project, **{"opencode.openConversation": True})
    wait_status(window, "OpenCode: idle")
    window.open_file("src/a.py")
    a = project / "src/a.py"

    # Ask on a selection: the conversation opens beside the code while the answer streams,
    # and the code keeps the focus.
    release = threading.Event()
    answer = "Foo adds 42 to the square root of x. Bar calls foo with 4 and returns that."
    first_chunk = answer[: -(-len(answer) // 4)].strip()  # the scripted model streams 4 chunks
    scripted_model.push(Reply.text(answer, hold=release))
    window.select_lines(3, 4)
    window.code_actions()
    window.choose_code_action("OpenCode: Explain")
    scripted_model.wait_for_requests(1, timeout=90)
    wait_conversation(window, first_chunk)
    assert "returns that." not in conversation_text(window)  # the rest is still held
    shown = window.group_editor(CONVERSATION_TAB)
    assert shown is not None and not shown["active"], shown  # beside, not in the code's group
    assert window.active_tab_name() == "a.py", window.active_tab_name()
    assert window.focused_tab() == "a.py", window.focused_tab()
    release.set()
    wait_conversation(window, answer)
    assert window.focused_tab() == "a.py"

    # The user writes a follow-up at the end and runs the code action OpenCode: Send.
    follow_up = "Now change 42 to 43 in foo."
    scripted_model.push(
        Reply.edit(a, "return math.sqrt(x) + 42", "return math.sqrt(x) + 43"),
        Reply.text("Changed 42 to 43 as asked."),
    )
    focus_conversation(window)
    window.type(follow_up)
    offered = window.code_actions()
    assert "OpenCode: Send" in offered, offered
    assert "OpenCode: Explain" not in offered, offered  # no ask about the conversation itself
    asked = len(scripted_model.chat_requests())
    window.choose_code_action("OpenCode: Send")
    requests = scripted_model.wait_for_requests(asked + 1, timeout=90)
    assert follow_up in requests[asked].user_text()

    # The edit needs permission: it shows in the conversation, allowed from its line.
    wait_conversation(window, "**Permission**")
    assert a.read_text() == A_PY
    focus_conversation(window)
    line = window.group_line_number(CONVERSATION_TAB, "**Permission**")
    assert line is not None, window.group_lines(CONVERSATION_TAB)
    window.go_to_line(line)
    offered = window.code_actions()
    allow = next((t for t in offered if t.startswith("OpenCode: Allow once")), None)
    assert allow is not None, offered
    window.choose_code_action(allow)
    window.wait(lambda: a.read_text() == A_PY.replace("+ 42", "+ 43"), 60, "the allowed edit")
    text = wait_conversation(window, "Changed 42 to 43 as asked.")
    assert text.index(follow_up) < text.index("**Permission**")  # in the order it happened
    assert text.index("**Permission**") < text.index("Changed 42 to 43 as asked.")
    # The turn's end: the files it changed, then its cost and tokens.
    window.wait(
        lambda: "tokens (" in conversation_text(window).partition("Files changed: `src/a.py`")[2],
        30,
        f"the turn's end in the conversation ({conversation_text(window)[-300:]!r})",
    )

    # The extension keeps it saved: nothing to save, nothing in the workspace.
    window.wait(
        lambda: not window.group_editor(CONVERSATION_TAB)["dirty"], 10, "the conversation saved"
    )
    [saved] = (Path(vscode_env["XDG_STATE_HOME"]) / "opencode-lsp" / "conversations").glob("*.md")
    assert "Changed 42 to 43 as asked." in saved.read_text()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".md" not in changed, changed

    # A draft left unsent; the tab closed (no "save changes?") and opened again: all there.
    draft = "Then write a test for foo."
    focus_conversation(window)
    window.type(draft)
    window.wait(lambda: not window.group_editor(CONVERSATION_TAB)["dirty"], 10, "the draft saved")
    window.group_locator(CONVERSATION_TAB).locator(
        ".tab.active .tab-actions .action-label"
    ).first.click()
    window.wait(
        lambda: window.group_editor(CONVERSATION_TAB) is None and not window.dialogs(),
        10,
        f"the conversation closed without a question (dialogs: {window.dialogs()})",
    )
    before = saved.read_text()
    window.run_command("OpenCode: Open the Conversation")
    window.wait(lambda: window.group_editor(CONVERSATION_TAB), 30, "the conversation opened again")
    assert window.active_tab_name() == "a.py"  # still without taking the focus
    focus_conversation(window)
    text = wait_conversation(window, draft)
    assert "Changed 42 to 43 as asked." in text
    assert saved.read_text() == before

    # The draft goes with the palette's OpenCode: Send.
    scripted_model.push(Reply.text("A test for foo is next."))
    asked = len(scripted_model.chat_requests())
    window.run_command("OpenCode: Send")
    requests = scripted_model.wait_for_requests(asked + 1, timeout=90)
    assert draft in requests[asked].user_text()
    wait_conversation(window, "A test for foo is next.")

    # Ctrl+Enter in the conversation sends too, and so does the send button in its title bar.
    for prompt, answer, how in (
        ("Keep it short.", "Short it is.", "Control+Enter"),
        ("And thanks.", "You are welcome.", "the title bar"),
    ):
        scripted_model.push(Reply.text(answer))
        focus_conversation(window)
        window.type(prompt)
        asked = len(scripted_model.chat_requests())
        if how == "Control+Enter":
            window.press("Control+Enter")
        else:
            window.group_locator(CONVERSATION_TAB).locator(
                ".editor-actions .action-label.codicon-send"
            ).first.click()
        requests = scripted_model.wait_for_requests(asked + 1, timeout=90)
        assert prompt in requests[asked].user_text(), how
        wait_conversation(window, answer)
