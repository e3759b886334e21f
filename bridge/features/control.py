"""Steering the agent from the editor: model and agent, slash commands, shell commands,
the status report, and ``opencode:`` comments as instructions.

A command whose argument names something on the server (a model, an agent, a slash command)
checks it with one quick request before answering, so a wrong name is an InvalidParams error
that says which names exist. Runs (slash commands, shell commands, comments) go on in the
background and report like an ask does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.core import arguments
from bridge.core.runs import one_line
from bridge.core.session_info import (
    command_names,
    model_ids,
    primary_agents,
    shell_output,
    state_from_statuses,
    status_report,
    status_text,
)
from bridge.core.tui_text import Instruction, enclosing_block, find_instruction
from bridge.core.workspace_edits import document_edit
from bridge.errors import BridgeError, InvalidArgument
from bridge.feature import Feature, command, command_action
from bridge.features import editor_context
from bridge.features.ask import ask, selection_for
from bridge.features.common import (
    choose,
    command_folder,
    known_folder,
    new_session,
    not_chosen,
    session_state,
)
from bridge.folders import Folder
from bridge.server import OpenCodeLanguageServer

MAX_LISTED = 100  # more choices than this: ask for the argument instead
ChoiceKind = Literal["model", "agent"]
DO_COMMENT_TITLE = "OpenCode: Do what this comment says"


def listed(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def announce_choice(ls: OpenCodeLanguageServer, what: str) -> None:
    folder = known_folder(ls)
    session_id = folder.session_id if folder else None
    state = session_state(folder, session_id) if folder and session_id else "idle"
    ls.notify_status(state, session_id, what)


# --- model and agent --------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What ``opencode.model.select`` and ``opencode.agent.select`` say about their choice."""

    a: str  # "a model"
    max_len: int
    unknown: str  # the InvalidArgument problem, {} for the known ones
    example: str


CHOICES: dict[ChoiceKind, Choice] = {
    "model": Choice(
        "a model",
        500,
        "OpenCode has no such model (it has {})",
        'opencode.model.select {"model": "provider/model"}',
    ),
    "agent": Choice(
        "an agent",
        200,
        "no such primary agent (there are {})",
        'opencode.agent.select {"agent": "plan"}',
    ),
}


@command("opencode.model.select")
async def model_select(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any] | None:
    """``{model?: "provider/model"}``: the model of the bridge's next prompts. Without a
    model, a choice of every model ``GET /config/providers`` lists."""
    return await select(ls, args, "model")


@command("opencode.agent.select")
async def agent_select(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any] | None:
    """``{agent?}``: the primary agent of the bridge's next prompts (a choice without one)."""
    return await select(ls, args, "agent")


async def select(
    ls: OpenCodeLanguageServer, args: tuple[Any, ...], what: ChoiceKind
) -> dict[str, Any] | None:
    choice = CHOICES[what]
    options = arguments.single_object(list(args), required=False)
    value = arguments.optional_str(options, what, max_len=choice.max_len)
    if value is None:
        ls.background(pick(ls, what), f"choosing {choice.a}")
        return None
    if what == "model" and "/" not in value.strip("/"):
        raise InvalidArgument("model", "expected provider/model")
    known = await known_choices(ls, what)
    if value not in known:
        raise InvalidArgument(what, choice.unknown.format(listed(known)))
    return make_choice(ls, what, value)


async def pick(ls: OpenCodeLanguageServer, what: ChoiceKind) -> None:
    known = await known_choices(ls, what)
    example = CHOICES[what].example
    if len(known) > MAX_LISTED:
        ls.window_log_message(
            types.LogMessageParams(type=types.MessageType.Info, message="\n".join(known))
        )
        ls.tell(
            types.MessageType.Info,
            f"OpenCode has {len(known)} {what}s, too many to offer here (the log lists them); "
            f"pass one: {example}",
        )
        return
    picked = await choose(ls, f"OpenCode: which {what} for the next prompts?", known)
    if picked is None:
        not_chosen(ls, f"the {what}", example)
        return
    make_choice(ls, what, picked)


async def known_choices(ls: OpenCodeLanguageServer, what: ChoiceKind) -> list[str]:
    """The models (``provider/model``) or primary agents the OpenCode server offers."""
    client = (await command_folder(ls)).client
    if what == "model":
        return model_ids(await client.config_providers())
    return primary_agents(await client.agents())


def make_choice(ls: OpenCodeLanguageServer, what: ChoiceKind, value: str) -> dict[str, Any]:
    setattr(ls.choices, what, value)
    announce_choice(ls, f"{what} {value}")
    return {what: value}


# --- slash commands and shell -----------------------------------------------------------------


async def session_for_run(ls: OpenCodeLanguageServer, folder: Folder) -> str:
    return folder.session_id or await new_session(ls, folder)


async def run_slash_command(
    ls: OpenCodeLanguageServer, name: str, text: str, session_id: str | None = None
) -> None:
    """``POST /session/{id}/command`` in ``session_id``, else the current session (a new one
    if none); the run reports through the event stream like an ask, answer included."""
    folder = await command_folder(ls)
    target = session_id or await session_for_run(ls, folder)
    body: dict[str, Any] = {"command": name, "arguments": text}
    if model := ls.model():
        body["model"] = model
    if agent := ls.agent():
        body["agent"] = agent
    folder.tracker.expect_answer(target)
    await folder.client.run_command(target, body)


@command("opencode.command.run")
async def command_run(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """``{name, arguments?}``: a slash command of ``GET /command`` (``init``, ``review``, ...)."""
    options = arguments.single_object(list(args))
    name = arguments.required_str(options, "name", max_len=200).strip().lstrip("/")
    text = arguments.optional_str(options, "arguments") or ""
    folder = await command_folder(ls)
    known = command_names(await folder.client.commands())
    if name not in known:
        raise InvalidArgument("name", f"OpenCode has no command /{name} (it has {listed(known)})")
    ls.background(run_slash_command(ls, name, text), f"running /{name}")
    return {"sessionID": folder.session_id}


async def default_agent(folder: Folder) -> str:
    return (await folder.client.config()).default_agent or "build"


async def run_shell(ls: OpenCodeLanguageServer, line: str) -> None:
    folder = await command_folder(ls)
    target = await session_for_run(ls, folder)
    body: dict[str, Any] = {"command": line, "agent": ls.agent() or await default_agent(folder)}
    if model := ls.model():
        provider, _, model_id = model.partition("/")
        body["model"] = {"providerID": provider, "modelID": model_id}
    answer = await folder.client.run_shell(target, body)
    output = shell_output(answer).rstrip("\n")
    ls.window_log_message(
        types.LogMessageParams(type=types.MessageType.Info, message=f"$ {line}\n{output}")
    )
    shown = one_line(output, 200) if output else "(no output)"
    ls.tell(types.MessageType.Info, f"OpenCode shell `{one_line(line, 60)}`: {shown}")


@command("opencode.shell")
def shell(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """``{command}``: run a shell command in the session, as the TUI's ``!`` does."""
    options = arguments.single_object(list(args))
    line = arguments.required_str(options, "command", max_len=100_000)
    ls.background(run_shell(ls, line), "running the shell command")
    folder = known_folder(ls)
    return {"sessionID": folder.session_id if folder else None}


# --- status ------------------------------------------------------------------------------------


@command("opencode.status")
async def status(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Server, session, model, agent, what waits for the user, and the server's LSP,
    formatter and MCP status; returned, and shown as a message."""
    arguments.single_object(list(args), required=False)
    folder = await command_folder(ls)
    client = folder.client
    assert ls.handle is not None  # set before any folder is connected
    session_id = folder.session_id

    async def session() -> Any:
        return await client.get_session(session_id) if session_id else None

    async def quietly(work: Any) -> Any:  # one part missing must not hide the rest
        try:
            return await work
        except BridgeError:
            return None

    (
        health,
        info,
        statuses,
        config,
        permissions,
        questions,
        lsp,
        formatters,
        mcp,
    ) = await asyncio.gather(
        client.health(),
        quietly(session()),
        quietly(client.session_status()),
        quietly(client.config()),
        quietly(client.pending_permissions()),
        quietly(client.pending_questions()),
        quietly(client.lsp_status()),
        quietly(client.formatter_status()),
        quietly(client.mcp_status()),
    )
    model, source = ls.choices.model, "choice"
    if model is None and ls.settings.model:
        model, source = ls.settings.model, "setting"
    if model is None:
        model, source = (config.model if config is not None else None), "opencode"
    report = status_report(
        url=ls.handle.url,
        version=health.version or "?",
        session=info,
        state=state_from_statuses(session_id, statuses),
        model=model,
        model_source=source,
        agent=ls.agent(),
        permissions=permissions,
        questions=questions,
        lsp=lsp,
        formatters=formatters,
        mcp=mcp,
    )
    report["editorContext"] = ls.get(editor_context.EditorContext).status()
    text = status_text(report) + "\n" + editor_context.status_line(report["editorContext"])
    ls.tell(types.MessageType.Info, text)
    return report


# --- "opencode:" comments ---------------------------------------------------------------------


def comment_actions(
    ls: OpenCodeLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """ "Do what this comment says" on a line (or selection) holding an ``opencode:`` comment."""
    uri = params.text_document.uri
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        return []
    lines = document.lines
    first, last = params.range.start.line, min(params.range.end.line, len(lines) - 1)
    for line in range(first, min(last, first + 500) + 1):
        if find_instruction(lines[line]) is None:
            continue
        args: dict[str, Any] = {"uri": uri, "line": line}
        if params.range.start.line != params.range.end.line:
            args["range"] = ls.protocol.to_json(params.range)
        return [command_action(DO_COMMENT_TITLE, "opencode.comment.do", args)]
    return []


def _line_argument(options: dict[str, Any]) -> int:
    line = options.get("line")
    if isinstance(line, bool) or not isinstance(line, int) or line < 0:
        raise InvalidArgument("line", "expected a 0-based line number")
    return line


@command("opencode.comment.do")
def comment_do(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """``{uri, line, range?}``: send the ``opencode:`` comment on ``line`` with the code around
    it (``range``, else the enclosing block); remove the comment once the prompt is accepted."""
    options = arguments.single_object(list(args))
    uri = arguments.optional_uri(options)
    if uri is None:
        raise InvalidArgument("uri", "required")
    line = _line_argument(options)
    range_ = arguments.optional_range(options)
    path = to_fs_path(uri)
    if not path:
        raise InvalidArgument("uri", f"{uri} is not a file path")
    document = ls.workspace.get_text_document(uri)
    try:
        lines = document.lines
    except OSError as exc:
        raise InvalidArgument("uri", f"{uri} is neither open in the editor nor on disk") from exc
    if line >= len(lines):
        raise InvalidArgument("line", f"past the end of the file ({len(lines)} lines)")
    instruction = find_instruction(lines[line])
    if instruction is None:
        raise InvalidArgument("line", f"line {line + 1} holds no `opencode:` comment")
    if range_ is None or range_.start.line == range_.end.line:
        first, last = enclosing_block(lines, line)
        range_ = types.Range(
            start=types.Position(line=first, character=0),
            end=types.Position(line=last + 1, character=0)
            if last + 1 < len(lines)
            else types.Position(
                line=last, character=document.position_codec.client_num_units(lines[last])
            ),
        )
    selection, buffer = selection_for(ls, uri, range_)
    ls.last_uri = uri
    text = (
        f"{instruction.text}\n\n(This is the `opencode:` comment on line {line + 1} of "
        f"{selection.relative_path}, about the code from line {selection.start_line} to "
        f"{selection.end_line}. The editor removes that comment; leave its line alone.)"
    )
    comment_line = lines[line]

    async def work() -> None:
        await ask(ls, text, selection, buffer, [], None)
        await remove_comment(ls, uri, line, comment_line, instruction)

    ls.background(work(), "sending the comment's instruction")
    folder = known_folder(ls)
    return {"sessionID": folder.session_id if folder else None}


async def remove_comment(
    ls: OpenCodeLanguageServer, uri: str, line: int, original: str, instruction: Instruction
) -> None:
    """Delete the comment through the editor (a versioned edit when the file is open),
    finding it again if lines moved meanwhile."""
    document = ls.workspace.get_text_document(uri)
    lines = document.lines
    candidates = sorted(range(len(lines)), key=lambda index: abs(index - line))
    found = next((i for i in candidates if lines[i] == original), None)
    if found is None:
        ls.tell(
            types.MessageType.Warning,
            "OpenCode: the prompt was sent, but the `opencode:` comment changed meanwhile; "
            "remove it yourself.",
        )
        return
    units = document.position_codec.client_num_units
    text = lines[found]
    if not instruction.own_line:
        first, last = instruction.removal(text)
        start = types.Position(line=found, character=units(text[:first]))
        end = types.Position(line=found, character=units(text[:last]))
    elif found + 1 < len(lines):  # the whole line, its line break included
        start = types.Position(line=found, character=0)
        end = types.Position(line=found + 1, character=0)
    elif found > 0:  # the last line: take the line break before it instead
        before = lines[found - 1]
        start = types.Position(line=found - 1, character=units(before.rstrip("\r\n")))
        end = types.Position(line=found, character=units(text))
    else:
        start = types.Position(line=0, character=0)
        end = types.Position(line=0, character=units(text))
    edit = types.TextEdit(range=types.Range(start=start, end=end), new_text="")
    opened = uri in ls.workspace.text_documents  # else: the file on disk, no version to check
    workspace_edit = document_edit(uri, document.version, [edit], document_changes=opened)
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=workspace_edit, label="Remove the opencode: comment")
    )
    if not result.applied:
        reason = f" ({result.failure_reason})" if result.failure_reason else ""
        ls.tell(
            types.MessageType.Warning,
            f"OpenCode: the prompt was sent, but the editor did not remove the `opencode:` "
            f"comment{reason}; remove it yourself.",
        )


class Control(Feature):
    commands = (model_select, agent_select, command_run, shell, status, comment_do)

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return comment_actions(self.ls, params)
