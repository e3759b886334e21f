"""``opencode-lsp demo``: the whole path, offline, driven the way an editor drives it.

A temporary git repository, a scripted model on loopback, and the bridge started over stdio;
the bridge spawns its own private ``opencode serve`` there (as it would for a user), and
this driver plays the editor: open a file, ask for code actions on a selection, run one,
and print what an editor would show (progress, status, the answer).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import default_converter
from pygls.uris import from_fs_path

from bridge.demo.scripted_model import RecordedRequest, Reply, ScriptedModel, isolated_env
from bridge.demo.scripted_model import opencode_config as model_config

PINNED_OPENCODE = "1.18.33"
SAMPLE = '''def mean(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)
'''


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
    (root / "opencode.json").write_text(__import__("json").dumps(model_config(model_url)))
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
    def __init__(self) -> None:
        super().__init__("opencode-lsp-demo", "1", converter_factory=code_action_converter)
        self.answer: asyncio.Future[str] = asyncio.get_event_loop().create_future()


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

    @editor.feature("opencode/status")
    def status(params: Any) -> None:
        state = getattr(params, "state", None) or params.get("state")
        _say(f"  status   {state}")

    @editor.feature(types.WINDOW_SHOW_MESSAGE)
    def show(params: types.ShowMessageParams) -> None:
        _say(f"  message  [{params.type.name}] {params.message}")
        if params.type == types.MessageType.Error and not editor.answer.done():
            editor.answer.set_exception(RuntimeError(params.message))

    @editor.feature(types.WINDOW_LOG_MESSAGE)
    def log_message(params: types.LogMessageParams) -> None:
        if params.message.startswith("This function") and not editor.answer.done():
            editor.answer.set_result(params.message)

    @editor.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [None for _ in params.items]

    return editor


async def run_demo(opencode: str | None = None) -> int:
    binary = find_opencode(opencode)
    if binary is None:
        _say(
            f"No opencode binary found. Run `bash .ci/setup` (it installs opencode-ai@"
            f"{PINNED_OPENCODE}) or pass --opencode PATH."
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="opencode-lsp-demo-") as tmp, ScriptedModel(
        default=explaining_reply
    ) as model:
        root = Path(tmp) / "project"
        source = _make_repo(root, model.base_url)
        env = {**os.environ, **isolated_env(Path(tmp) / "opencode-home")}
        env.pop("OPENCODE_SERVER_PASSWORD", None)
        log_file = Path(tmp) / "bridge.log"
        editor = _editor()
        _say(f"workspace: {root}")
        await editor.start_io(
            sys.executable, "-m", "bridge", "--log-file", str(log_file), env=env
        )
        try:
            return await _drive(editor, root, source, binary, model)
        except Exception as exc:
            _say(f"demo failed: {exc}")
            _say(log_file.read_text()[-3000:] if log_file.exists() else "(no bridge log)")
            return 1
        finally:
            if not editor.stopped:
                await editor.shutdown_async(None)
                editor.exit(None)
                await editor.stop()


async def _drive(
    editor: DemoEditor, root: Path, source: Path, binary: str, model: ScriptedModel
) -> int:
    uri = from_fs_path(str(root)) or ""
    await editor.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            client_info=types.ClientInfo(name="opencode-lsp-demo", version="1"),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name=root.name)],
            initialization_options={"command": [binary], "attachUrl": None},
        )
    )
    editor.initialized(types.InitializedParams())
    doc = from_fs_path(str(source)) or ""
    editor.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=doc, language_id="python", version=1, text=SAMPLE
            )
        )
    )
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
    _say(f"editor: run {command.command} (the bridge starts OpenCode {PINNED_OPENCODE} itself)")
    result = await editor.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    _say(f"  answered {result}")
    answer = await asyncio.wait_for(editor.answer, 120)
    _say(f"editor: the answer, in full:\n  {answer}")
    received = model.last_request().user_text()
    _say(f"model: received the selected lines: {'return total / len(values)' in received}")
    return 0
