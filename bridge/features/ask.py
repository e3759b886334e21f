"""Asking: one ``OpenCode: …`` code action per prompt template on a selection or on
diagnostics, and ``opencode.ask``, which answers at once and sends the prompt (the selection
as the editor shows it, with its unsaved text and diagnostics) in the background."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.core import arguments
from bridge.core.prompts import (
    Problem,
    Selection,
    against_disk,
    prompt_parts,
    reference_parts,
    render_template,
    uses_diagnostics,
)
from bridge.errors import InvalidArgument, NotFound
from bridge.feature import Feature, command, command_action
from bridge.features.common import conversation_document, new_session
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import read_text_or_none

PROMPT_TITLES = {
    "explain": "Explain",
    "review": "Review",
    "fix": "Fix the diagnostics",
    "tests": "Write tests",
    "document": "Document",
}

SEVERITIES = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def selection_for(
    ls: OpenCodeLanguageServer, uri: str, range_: types.Range | None
) -> tuple[Selection, str | None]:
    """The selection as the editor shows it, and the buffer's whole text (None if the
    file is not open, in which case the disk is the truth)."""
    path = to_fs_path(uri)
    if not path:
        raise InvalidArgument("uri", f"{uri} is not a file path")
    document = ls.workspace.text_documents.get(uri)
    if document is None and not os.path.isfile(path):
        raise InvalidArgument("uri", f"{uri} is neither open in the editor nor on disk")
    if document is None:
        document = ls.workspace.get_text_document(uri)
        buffer = None
    else:
        buffer = document.source
    lines = document.lines
    count = len(lines)
    if range_ is None:
        start, end = 0, count - 1
    else:
        start, end = range_.start.line, range_.end.line
        if end > count or (end == count and range_.end.character > 0):
            raise InvalidArgument(
                "range", f"line {end + 1} is past the end of the file ({count} lines)"
            )
        if end > start and range_.end.character == 0:
            end -= 1  # a line-wise selection ends at column 0 of the next line
        end = min(end, count - 1)
        start = min(start, end)
    start, end = max(start, 0), max(end, 0)
    folder = ls.folder_for(path)
    selection = Selection(
        path=Path(path),
        root=Path(folder.root),
        start_line=start + 1,
        end_line=end + 1,
        text="".join(lines[start : end + 1]),
        unsaved=False,
        language=document.language_id or "",
        on_disk=os.path.isfile(path),
    )
    return selection, buffer


async def ask(
    ls: OpenCodeLanguageServer,
    instruction: str,
    selection: Selection | None,
    buffer: str | None,
    problems: list[Problem],
    session_id: str | None,
    *,
    references: Sequence[Selection] = (),
    folder_path: str | None = None,
) -> None:
    """Send the prompt; ``references``: more files it names (the conversation's ``@file``),
    ``folder_path``: the folder to ask in when there is no selection."""
    if selection is not None and buffer is not None and selection.on_disk:
        disk = await asyncio.to_thread(read_text_or_none, str(selection.path))
        # OpenCode reads the disk's lines; a line diff of a large file is no work for the loop
        selection = await asyncio.to_thread(against_disk, selection, buffer, disk)
    folder = await ls.ready_folder(str(selection.path) if selection else folder_path)
    inline = not folder.client.takes_file_parts
    parts = [
        *prompt_parts(instruction, selection, problems, inline),
        *reference_parts(references, inline),
    ]
    body: dict[str, Any] = {"parts": parts}
    if model := ls.model():
        provider, _, model_id = model.partition("/")
        body["model"] = {"providerID": provider, "modelID": model_id}
    if agent := ls.agent():
        body["agent"] = agent
    target = session_id or folder.session_id or await new_session(ls, folder)
    folder.tracker.expect_answer(target)
    try:
        await folder.client.prompt_async(target, body)
    except NotFound:
        if session_id:  # the user named this session: say so instead of guessing
            raise
        target = await new_session(ls, folder)
        folder.tracker.expect_answer(target)
        ls.tell(types.MessageType.Info, "The OpenCode session was gone; started a new one.")
        await folder.client.prompt_async(target, body)
    # OpenCode queues a prompt behind a run that waits for the person: say so, and where.
    for feature in ls.features:
        if waiting := feature.waiting_for(folder, target):
            ls.tell(types.MessageType.Info, waiting)
            break


def ask_actions(
    ls: OpenCodeLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """One ``OpenCode: …`` action per prompt template, on a selection or on diagnostics."""
    selected = params.range.start != params.range.end
    # Our own diagnostics (pending approvals) are not problems in the code to ask about.
    diagnostics = [d for d in params.context.diagnostics if d.source != "opencode"]
    if not selected and not diagnostics:
        return []
    uri = params.text_document.uri
    if conversation_document(ls, uri):
        return []  # the conversation is no code to ask about; it has its own actions
    ls.last_uri = uri
    range_json = ls.protocol.to_json(params.range)
    diagnostics_json = ls.protocol.to_json(diagnostics)
    actions = []
    for name, template in ls.settings.prompts.items():
        if uses_diagnostics(template) and not diagnostics:
            continue
        title = f"OpenCode: {PROMPT_TITLES.get(name, name[:1].upper() + name[1:])}"
        args: dict[str, Any] = {"uri": uri, "range": range_json, "template": name}
        if diagnostics:
            args["diagnostics"] = diagnostics_json
        run = template_commands(ls).get(name, "opencode.ask")
        actions.append(command_action(title, run, args, diagnostics=diagnostics or None))
    return actions


def problems_from(raw: list[Any]) -> list[Problem]:
    problems = []
    for index, item in enumerate(raw):
        try:
            line = int(item["range"]["start"]["line"]) + 1
            message = str(item["message"])
        except (TypeError, KeyError, ValueError) as exc:
            raise InvalidArgument(f"diagnostics[{index}]", "expected an LSP Diagnostic") from exc
        severity = SEVERITIES.get(item.get("severity") or 1, "error")
        source = item.get("source") if isinstance(item.get("source"), str) else None
        problems.append(Problem(line, severity, message, source))
    return problems


@command("opencode.ask")
def ask_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Answer at once; the prompt is built and sent in the background."""
    options = arguments.single_object(list(args))
    uri = arguments.optional_uri(options)
    range_ = arguments.optional_range(options)
    template_name = arguments.optional_str(options, "template", max_len=200)
    prompt = arguments.optional_str(options, "prompt")
    session_id = arguments.optional_str(options, "sessionID", max_len=200)
    problems = problems_from(arguments.optional_list(options, "diagnostics"))
    if template_name is None and not (prompt and prompt.strip()):
        raise InvalidArgument("prompt", "give a prompt text or a template name")
    if template_name is not None and template_name not in ls.settings.prompts:
        known = ", ".join(sorted(ls.settings.prompts))
        raise InvalidArgument("template", f"unknown template (known: {known})")
    if range_ is not None and uri is None:
        raise InvalidArgument("uri", "required with range")
    selection, buffer = selection_for(ls, uri, range_) if uri else (None, None)
    template = ls.settings.prompts[template_name] if template_name else ""
    instruction = render_template(template, selection, problems)
    if prompt:
        instruction = f"{instruction}\n\n{prompt}".strip() if instruction else prompt
    if selection is not None:
        ls.last_uri = uri
    folder_session = None
    if ls.folders:
        folder_session = ls.folder_for(str(selection.path) if selection else None).session_id
    ls.background(ask(ls, instruction, selection, buffer, problems, session_id), "asking OpenCode")
    return {"sessionID": session_id or folder_session}


def template_commands(ls: OpenCodeLanguageServer) -> dict[str, str]:
    """Templates whose action runs another command than opencode.ask (``review``)."""
    return {name: cmd for f in ls.features for name, cmd in f.template_commands.items()}


class Ask(Feature):
    commands = (ask_command,)

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return ask_actions(self.ls, params)
