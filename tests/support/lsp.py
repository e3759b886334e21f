"""A test editor: pytest-lsp's client, started on ``python -m bridge`` over stdio.

It records what a user would see (messages, progress, ``opencode/status``, prompts) and
answers the server's requests the way the test says an editor would.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

from bridge.demo.driver import code_action_converter

# INFO, not DEBUG: pygls logs whole messages at DEBUG, and pytest-lsp's stderr forwarding
# stalls on lines over 64 KB.
BRIDGE_COMMAND = [sys.executable, "-m", "bridge"]

# ``await start_bridge(root, options, env=...)``, the fixture in tests/conftest.py
StartEditor = Callable[..., Awaitable["EditorClient"]]

# window/showMessageRequest answers: a title to pick, None for dismissal, or an exception.
RequestAnswer = Callable[[types.ShowMessageRequestParams], Any]


class EditorClient(LanguageClient):
    """pytest-lsp's client plus what the bridge sends that pytest-lsp does not keep."""

    def __init__(self) -> None:
        super().__init__(converter_factory=code_action_converter)
        self.statuses: list[dict[str, Any]] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.answer_request: RequestAnswer = lambda params: None
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.apply_edit: Callable[[types.ApplyWorkspaceEditParams], bool] = lambda p: True
        self.server_capabilities: types.ServerCapabilities | None = None

    @property
    def server_commands(self) -> list[str]:
        """The commands the server advertised in its ``initialize`` result."""
        provider = self.server_capabilities and self.server_capabilities.execute_command_provider
        return list(provider.commands) if provider else []

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
    ) -> Any:
        """Poll until ``predicate()`` is truthy; fail with ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def shown(self, kind: types.MessageType | None = None) -> list[str]:
        return [m.message for m in self.messages if kind is None or m.type == kind]

    def progress_values(self) -> list[Any]:
        return [value for values in self.progress_reports.values() for value in values]


def make_editor() -> EditorClient:
    client = EditorClient()
    register_lsp_features(client)

    @client.feature("opencode/status")
    def on_status(params: Any) -> None:
        # pygls hands custom notifications over as namedtuples
        client.statuses.append(params._asdict() if hasattr(params, "_asdict") else dict(params))

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams) -> Any:
        client.message_requests.append(params)
        answer = client.answer_request(params)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, str):
            return types.MessageActionItem(title=answer)
        return answer

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=client.apply_edit(params))

    return client


def capabilities(*, progress: bool = True, message_request: bool = True) -> Any:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(
            work_done_progress=progress,
            show_message=types.ShowMessageRequestClientCapabilities() if message_request else None,
            show_document=types.ShowDocumentClientCapabilities(support=True),
        ),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=True,
                resource_operations=[
                    types.ResourceOperationKind.Create,
                    types.ResourceOperationKind.Delete,
                ],
            ),
        ),
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=["refactor"])
                )
            )
        ),
    )


async def start_editor(
    root: Path,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    client_name: str = "test-editor",
    client_capabilities: Any = None,
    log_file: Path | None = None,
    log_level: str = "INFO",
) -> EditorClient:
    """Start the bridge as an editor would: stdio, one workspace folder, initialize."""
    client = make_editor()
    command = [*BRIDGE_COMMAND, "--log-level", log_level]
    command += ["--log-file", str(log_file)] if log_file else []
    await client.start_io(*command, env=dict(env if env is not None else os.environ))
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities or capabilities(),
            client_info=types.ClientInfo(name=client_name, version="1"),
            root_uri=from_fs_path(str(root)),
            workspace_folders=[
                types.WorkspaceFolder(uri=from_fs_path(str(root)) or "", name=root.name)
            ],
            initialization_options=dict(options or {}),
        )
    )
    client.server_capabilities = result.capabilities
    return client


def open_file(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = from_fs_path(str(path)) or ""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="python",
                version=version,
                text=path.read_text() if text is None else text,
            )
        )
    )
    return uri


def line_range(first: int, last: int) -> types.Range:
    """Whole lines ``first..last`` (0-based, inclusive), as a line-wise selection sends them."""
    return types.Range(
        start=types.Position(line=first, character=0),
        end=types.Position(line=last + 1, character=0),
    )


async def code_actions(
    client: LanguageClient,
    uri: str,
    range_: types.Range,
    diagnostics: list[types.Diagnostic] | None = None,
) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=range_,
            context=types.CodeActionContext(diagnostics=diagnostics or []),
        )
    )
    return [action for action in result or [] if isinstance(action, types.CodeAction)]


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


def to_json(client: LanguageClient, value: Any) -> Any:
    return client.protocol._converter.unstructure(value)


class HeldRequests:
    """``window/showMessageRequest`` prompts left open until the test answers them: an editor
    whose user has not chosen yet. ``withdrawn`` counts prompts the server cancelled."""

    def __init__(self) -> None:
        self.open: list[tuple[types.ShowMessageRequestParams, asyncio.Future[Any]]] = []
        self.withdrawn = 0

    def answer(self, index: int, answer: Any) -> None:
        """Answer prompt ``index`` with a title, None, an object, or an exception."""
        future = self.open[index][1]
        if future.done():
            return
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)

    def dismiss_all(self) -> None:
        """Answer every open prompt with null. Call it before the test ends: pygls's client
        cannot stop while one of its request handlers is still waiting."""
        for index in range(len(self.open)):
            self.answer(index, None)


def hold_message_requests(client: EditorClient) -> HeldRequests:
    """Make ``client`` keep each ``window/showMessageRequest`` open (recorded in
    ``client.message_requests`` too) until ``HeldRequests.answer``."""
    held = HeldRequests()

    async def on_request(params: types.ShowMessageRequestParams) -> Any:
        client.message_requests.append(params)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        held.open.append((params, future))
        try:
            answer = await future
        except asyncio.CancelledError:
            held.withdrawn += 1
            raise
        return types.MessageActionItem(title=answer) if isinstance(answer, str) else answer

    client.protocol.fm.features[types.WINDOW_SHOW_MESSAGE_REQUEST] = on_request
    return held
