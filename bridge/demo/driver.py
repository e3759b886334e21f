"""``opencode-lsp demo``: the whole job, offline, driven the way an editor drives it.

A temporary git repository, a scripted model on loopback, and the bridge started over stdio;
the bridge spawns its own private ``opencode serve`` there (as it would for a user), and
this driver plays the editor and prints what an editor would show:

1. code actions on a selection → the ask → progress → the answer;
2. with unsaved text in the open buffer, a request that makes the agent edit that file →
   the permission prompt (answered Allow once) → the edit arriving in the buffer as a
   versioned edit merged with the unsaved text (the buffer before and after) → revert.

The exit status is 0 only when every step was seen.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument

from bridge.demo.scripted_model import RecordedRequest, Reply, ScriptedModel, isolated_env
from bridge.demo.scripted_model import opencode_config as model_config

PINNED_OPENCODE = "1.18.33"
SAMPLE = """def mean(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)
"""
# What the user types and leaves unsaved, away from the lines the agent changes.
UNSAVED = '"""Small statistics helpers."""\n\n' + SAMPLE
AGENT_OLD = "    return total / len(values)"
AGENT_NEW = "    return total / len(values) if values else 0.0"
MERGED = UNSAVED.replace(AGENT_OLD, AGENT_NEW)
REQUEST = "In src/stats.py, make mean() return 0.0 for an empty list."
STEP_TIMEOUT = 60.0  # seconds for any one step (the first starts OpenCode)

STEPS = (
    "code actions on the selection",
    "the ask answered at once",
    "progress: begin, report, end",
    "the answer, about the selected lines",
    "the permission prompt, answered Allow once",
    "the edit in the open buffer: versioned, merged with the unsaved text",
    "revert: the agent's change out of the buffer, the unsaved text kept",
)


def find_opencode(explicit: str | None = None) -> str | None:
    """The pinned binary the set-up installs, else ``$OPENCODE_BIN``, else PATH."""
    repo_cache = Path(__file__).resolve().parents[2] / ".cache/opencode/node_modules/.bin/opencode"
    for candidate in (explicit, os.environ.get("OPENCODE_BIN"), str(repo_cache)):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("opencode")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def explaining_reply(request: RecordedRequest) -> Reply:
    """Answer like a model that read the selection: quote the lines it was given."""
    seen = [line for line in SAMPLE.splitlines() if line.strip() and line in request.user_text()]
    return Reply.text(
        f"This function computes the arithmetic mean; I was shown {len(seen)} lines, "
        f"starting with `{seen[0].strip() if seen else '?'}`. It fails with "
        "ZeroDivisionError on an empty list: guard that case."
    )


def _make_repo(root: Path, model_url: str) -> Path:
    source = root / "src" / "stats.py"
    source.parent.mkdir(parents=True)
    source.write_text(SAMPLE)
    # Edits ask first, so that the demo shows the permission prompt.
    config = model_config(model_url, permission={"edit": "ask"})
    (root / "opencode.json").write_text(json.dumps(config))
    git = ["git", "-c", "user.name=demo", "-c", "user.email=demo@example.invalid"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "."], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-qm", "demo"], check=True)
    return source


def code_action_converter() -> Any:
    """lsprotocol reads a CodeAction that carries a command as a bare Command; pick
    Command only when ``command`` is a string, which is the shape of a bare Command."""
    converter = default_converter()

    def structure(obj: Any, _: Any) -> Any:
        if isinstance(obj, dict) and isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    # typing.Union, not `|`: the hook is looked up by the very type lsprotocol declares.
    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007
    return converter


class DemoEditor(LanguageClient):
    """The editor's state the demo prints and checks: one open buffer, the messages shown,
    the prompts asked, and which of the demo's steps were seen."""

    def __init__(self) -> None:
        super().__init__("opencode-lsp-demo", "1", converter_factory=code_action_converter)
        self.buffer: TextDocument | None = None
        self.seen: set[str] = set()
        self.progress_kinds: set[str] = set()
        self.log_lines: list[str] = []
        self.shown: list[str] = []
        self.prompts: list[str] = []
        self.allowed = False  # the user answered a prompt with Allow once
        self.edit_versions: list[int | None] = []
        self.failure: str | None = None
        self._last_status: str | None = None
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self._changed.set()

    async def until(self, what: str, ready: Callable[[], bool]) -> None:
        """Wait until ``ready()``, woken by every message from the bridge."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while not ready():
            if self.failure is not None:
                raise RuntimeError(self.failure)
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise RuntimeError(f"no {what} within {STEP_TIMEOUT:.0f} s")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                continue

    def showing(self, start: str) -> bool:
        """Whether a message starting with ``start`` was shown."""
        return any(message.startswith(start) for message in self.shown)

    def step(self, name: str) -> None:
        assert name in STEPS, name
        self.seen.add(name)
        _say(f"  ✓ {name}")

    # --- the buffer ----------------------------------------------------------------------

    def open(self, uri: str, text: str) -> None:
        self.buffer = TextDocument(uri, text, version=1, language_id="python")
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )

    def type(self, text: str) -> None:
        """The user changes the buffer (unsaved)."""
        assert self.buffer is not None
        self.buffer.apply_change(types.TextDocumentContentChangeWholeDocument(text=text))
        self._did_change()

    def _did_change(self) -> None:
        assert self.buffer is not None and self.buffer.version is not None
        self.buffer.version += 1
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.buffer.uri, version=self.buffer.version
                ),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(text=self.buffer.source)
                ],
            )
        )

    def apply(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        """Apply a workspace edit as an editor does: a versioned edit of an older version
        of the buffer is refused; the buffer's new text is sent back with didChange."""
        buffer = self.buffer
        changes = [c for c in edit.document_changes or [] if isinstance(c, types.TextDocumentEdit)]
        mine = [c for c in changes if buffer is not None and c.text_document.uri == buffer.uri]
        if buffer is None or not mine or len(mine) != len(edit.document_changes or []):
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="not open here")
        for change in mine:
            self.edit_versions.append(change.text_document.version)
            if change.text_document.version != buffer.version:
                _say(f"  refused  an edit of version {change.text_document.version}")
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="outdated workspace edit"
                )
        _say(f"editor: workspace/applyEdit to src/stats.py, version {buffer.version}")
        for change in mine:
            edits = [e for e in change.edits if isinstance(e, types.TextEdit)]
            for text_edit in sorted(
                edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
            ):
                buffer.apply_change(
                    types.TextDocumentContentChangePartial(
                        range=text_edit.range, text=text_edit.new_text
                    )
                )
        self._did_change()
        self.changed()
        return types.ApplyWorkspaceEditResult(applied=True)


def _editor() -> DemoEditor:
    editor = DemoEditor()

    @editor.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def create(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @editor.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        value: Any = params.value
        kind = value.get("kind") if isinstance(value, dict) else None
        text = " ".join(str(value.get(k)) for k in ("title", "message") if value.get(k))
        _say(f"  progress {kind:<6} {text}")
        editor.progress_kinds.add(str(kind))
        editor.changed()

    @editor.feature("opencode/status")
    def status(params: Any) -> None:
        state = getattr(params, "state", None) or params.get("state")
        if state != editor._last_status:
            _say(f"  status   {state}")
        editor._last_status = state

    @editor.feature(types.WINDOW_SHOW_MESSAGE)
    def show(params: types.ShowMessageParams) -> None:
        _say(f"  message  [{params.type.name}] {params.message}")
        editor.shown.append(params.message)
        if params.type == types.MessageType.Error:
            editor.failure = params.message
        editor.changed()

    @editor.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def prompt(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        titles = [action.title for action in params.actions or []]
        _say("  prompt   " + params.message.replace("\n", "\n           "))
        _say(f"  buttons  {' | '.join(titles)}")
        editor.prompts.append(params.message)
        editor.changed()
        if "Allow once" not in titles:
            return None
        _say("editor: the user clicks Allow once")
        editor.allowed = True
        return types.MessageActionItem(title="Allow once")

    @editor.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        return editor.apply(params.edit)

    @editor.feature(types.WINDOW_LOG_MESSAGE)
    def log_message(params: types.LogMessageParams) -> None:
        editor.log_lines.append(params.message)
        editor.changed()

    @editor.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: types.PublishDiagnosticsParams) -> None:
        for diagnostic in params.diagnostics:
            first = diagnostic.message.split("\n", 1)[0]
            _say(f"  diagnostic line {diagnostic.range.start.line + 1}: {first}")

    @editor.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [None for _ in params.items]

    return editor


def _show_buffer(title: str, text: str) -> None:
    _say(f"editor: {title}")
    for number, line in enumerate(text.splitlines(), 1):
        _say(f"  {number:>3} | {line}")


async def run_demo(opencode: str | None = None) -> int:
    binary = find_opencode(opencode)
    if binary is None:
        _say(
            f"No opencode binary found. Run `bash .ci/setup` (it installs opencode-ai@"
            f"{PINNED_OPENCODE}) or pass --opencode PATH."
        )
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="opencode-lsp-demo-") as tmp,
        ScriptedModel(default=explaining_reply) as model,
    ):
        root = Path(tmp) / "project"
        source = _make_repo(root, model.base_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
        env.update(isolated_env(Path(tmp) / "opencode-home"))
        log_file = Path(tmp) / "bridge.log"
        editor = _editor()
        _say(f"workspace: {root}")
        await editor.start_io(sys.executable, "-m", "bridge", "--log-file", str(log_file), env=env)
        try:
            await _drive(editor, root, source, binary, model)
        except Exception as exc:
            _say(f"demo failed: {exc}")
            _say(log_file.read_text()[-3000:] if log_file.exists() else "(no bridge log)")
        finally:
            if not editor.stopped:
                await editor.shutdown_async(None)
                editor.exit(None)
                await editor.stop()
        missing = [name for name in STEPS if name not in editor.seen]
        if missing:
            _say("demo: not seen: " + "; ".join(missing))
            return 1
        _say(f"demo: all {len(STEPS)} steps seen")
        return 0


async def _drive(
    editor: DemoEditor, root: Path, source: Path, binary: str, model: ScriptedModel
) -> None:
    uri = from_fs_path(str(root)) or ""
    await editor.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(
                    work_done_progress=True,
                    show_message=types.ShowMessageRequestClientCapabilities(),
                ),
                workspace=types.WorkspaceClientCapabilities(
                    configuration=True,
                    apply_edit=True,
                    workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
                ),
            ),
            client_info=types.ClientInfo(name="opencode-lsp-demo", version="1"),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name=root.name)],
            initialization_options={"command": [binary], "attachUrl": None},
        )
    )
    editor.initialized(types.InitializedParams())
    doc = from_fs_path(str(source)) or ""
    editor.open(doc, SAMPLE)
    await _ask_about_a_selection(editor, doc, model)
    await _edit_an_open_buffer(editor, doc, source, model)


async def _ask_about_a_selection(editor: DemoEditor, doc: str, model: ScriptedModel) -> None:
    _say("\n== 1. Ask about a selection ==")
    selection = types.Range(types.Position(0, 0), types.Position(5, 0))
    _say("editor: code actions for src/stats.py lines 1-5")
    actions = await editor.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc),
            range=selection,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    titles = [action.title for action in actions or []]
    for title in titles:
        _say(f"  action   {title}")
    explain = next(a for a in actions or [] if a.title == "OpenCode: Explain")
    command = explain.command if isinstance(explain, types.CodeAction) else explain
    assert isinstance(command, types.Command)
    editor.step("code actions on the selection")
    _say(f"editor: run {command.command} (the bridge starts OpenCode {PINNED_OPENCODE} itself)")
    result = await editor.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    _say(f"  answered {result}")
    editor.step("the ask answered at once")

    def answer() -> str | None:
        return next((m for m in editor.log_lines if m.startswith("This function")), None)

    await editor.until("answer", lambda: answer() is not None)
    await editor.until("progress end", lambda: "end" in editor.progress_kinds)
    await editor.until("answer on screen", lambda: editor.showing("OpenCode: This function"))
    if {"begin", "report", "end"} <= editor.progress_kinds:
        editor.step("progress: begin, report, end")
    _say(f"editor: the answer, in full (the log):\n  {answer()}")
    received = model.last_request().user_text()
    if "return total / len(values)" in received:
        _say("model: it was sent the selected lines")
        editor.step("the answer, about the selected lines")


async def _edit_an_open_buffer(
    editor: DemoEditor, doc: str, source: Path, model: ScriptedModel
) -> None:
    assert editor.buffer is not None
    _say("\n== 2. The agent edits a file open with unsaved text ==")
    editor.type(UNSAVED)
    _show_buffer(
        f"src/stats.py before (unsaved: line 1 typed by the user), version {editor.buffer.version}",
        editor.buffer.source,
    )
    model.push(
        Reply.edit(source, AGENT_OLD, AGENT_NEW),
        Reply.text("Done: mean() returns 0.0 for an empty list."),
    )
    # A prompt without a selection: OpenCode reads the selected lines from disk, where the
    # buffer's line numbers (shifted by the unsaved text) would point elsewhere.
    _say(f"editor: run opencode.ask {{prompt: {REQUEST!r}}}")
    editor.progress_kinds.clear()
    await editor.workspace_execute_command_async(
        types.ExecuteCommandParams(command="opencode.ask", arguments=[{"prompt": REQUEST}])
    )
    await editor.until("permission prompt", lambda: bool(editor.prompts))
    if editor.allowed and "edit src/stats.py" in editor.prompts[0]:
        editor.step("the permission prompt, answered Allow once")
    await editor.until(
        "merged edit", lambda: editor.buffer is not None and editor.buffer.source == MERGED
    )
    _show_buffer(
        f"src/stats.py after the agent's edit, version {editor.buffer.version}",
        editor.buffer.source,
    )
    agents_only = await asyncio.to_thread(source.read_text) == SAMPLE.replace(AGENT_OLD, AGENT_NEW)
    _say(f"disk: src/stats.py has the agent's change and not the unsaved text: {agents_only}")
    if agents_only and all(version is not None for version in editor.edit_versions):
        editor.step("the edit in the open buffer: versioned, merged with the unsaved text")
    await editor.until("end of the run", lambda: editor.showing("OpenCode: Done:"))

    _say("editor: run opencode.session.revert")
    await editor.workspace_execute_command_async(
        types.ExecuteCommandParams(command="opencode.session.revert", arguments=[])
    )
    await editor.until(
        "revert in the buffer",
        lambda: editor.buffer is not None and editor.buffer.source == UNSAVED,
    )
    await editor.until("revert report", lambda: editor.showing("OpenCode: reverted"))
    _show_buffer(
        f"src/stats.py after the revert, version {editor.buffer.version}", editor.buffer.source
    )
    if await asyncio.to_thread(source.read_text) == SAMPLE:
        editor.step("revert: the agent's change out of the buffer, the unsaved text kept")
