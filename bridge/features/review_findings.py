"""The agent's review as diagnostics on the lines it is about.

``opencode.review {uri?, range?, scope?}`` (and the ``OpenCode: Review`` code action) sends a
review prompt in a session of its own with ``format: {type: "json_schema"}`` (OpenCode 1.18.33
cannot list the messages of a session holding such a prompt, so it never becomes the current
session). The model answers through OpenCode's ``StructuredOutput`` tool; the assistant
message's ``structured`` value (``message.updated``) holds the findings, checked whole by
``bridge.core.findings.parse_findings`` when the session goes idle.
Each becomes a diagnostic (source
``OpenCode``) in every file it names; quick fixes apply its suggestion, ask to fix or explain
it, or dismiss it. Edits in open buffers (didChange) and on disk (``file.edited``) move the
findings with their lines. A model that gives no structured answer (OpenCode's
``StructuredOutputError``) gets its prose shown instead, with one sentence saying so.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.core import arguments
from bridge.core.findings import (
    ANSWER_INSTRUCTIONS,
    FINDINGS_SCHEMA,
    SOURCE,
    FindingStore,
    NotStructured,
    Placed,
    Scope,
    parse_findings,
    suggested_text,
    summary_sentence,
    text_lines,
)
from bridge.core.paths import display_path
from bridge.core.prompts import Selection, file_part, prompt_parts
from bridge.core.runs import Answer
from bridge.core.workspace_edits import DocumentChange, build_workspace_edit
from bridge.errors import BridgeError, EditRefused, InvalidArgument, PathOutsideWorkspace
from bridge.feature import Feature, command, command_action
from bridge.features.ask import ask, selection_for
from bridge.features.buffers import BufferSync, uri_of
from bridge.features.progress import Progress
from bridge.folders import Folder
from bridge.opencode.events import (
    Event,
    FileEdited,
    MessageUpdated,
    PartUpdated,
    RunEnded,
    SessionError,
    session_of,
)
from bridge.opencode.models import ABSENT
from bridge.server import OpenCodeLanguageServer
from bridge.workspace_files import read_text_or_none

log = logging.getLogger(__name__)

REVIEW = "opencode.review"
CLEAR = "opencode.review.clear"
APPLY = "opencode.review.apply"
FIX = "opencode.review.fix"
EXPLAIN = "opencode.review.explain"
DISMISS = "opencode.review.dismiss"
FIX_KIND = "quickfix.opencode.finding"
OWNER = "findings"  # this feature's diagnostics, beside the other features' (publish_owned)
SCOPES = ("selection", "file", "changes")
MAX_CHANGED_FILES = 50
RETRIES = 1  # OpenCode's retryCount: one more turn when the model answers without the tool
NO_STRUCTURE = "StructuredOutputError"


@dataclass
class Run:
    """A review on its way: what it looks at, and what its session has said so far."""

    folder: Folder
    scope: Scope
    what: str
    structured: Any = None
    answered: bool = False  # a structured value arrived
    no_structure: str | None = None  # OpenCode's StructuredOutputError message
    failed: bool = False  # session.error (told by the run tracker) or aborted
    user_messages: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)  # partID -> text, in arrival order


class ReviewFindings(Feature):
    template_commands = {"review": REVIEW}

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        self.store = FindingStore()
        self.runs: dict[str, Run] = {}  # review sessionID -> run
        self.severities_shown = ls.settings.review_severities

    @property
    def buffers(self) -> BufferSync:
        return self.ls.get(BufferSync)

    def on_settings(self) -> None:
        if self.ls.settings.review_severities != self.severities_shown:
            self.severities_shown = self.ls.settings.review_severities
            self.publish(self.store.paths())

    # --- publishing -----------------------------------------------------------------------------

    def publish(self, paths: set[str]) -> None:
        encoding = self.buffers.encoding()
        shown = self.ls.settings.review_severities
        for path in sorted(paths):
            diagnostics = self.store.diagnostics(path, shown, encoding)
            self.ls.publish_owned(OWNER, uri_of(path), diagnostics)

    # --- the review -----------------------------------------------------------------------------

    async def start(self, scope_kind: str, selection: Selection | None, buffer: str | None) -> None:
        path = str(selection.path) if selection else None
        folder = await self.ls.ready_folder(path)
        if scope_kind == "changes":
            files = await changed_files(folder.root)
            if not files:
                self.ls.tell(
                    types.MessageType.Info,
                    "OpenCode: no files changed in the working tree, so there is nothing to "
                    "review.",
                )
                return
            selections = [await self.whole_file(folder, file) for file in files]
            names = ", ".join(s.relative_path for s in selections)
            what = f"the files changed in the working tree ({names})"
            scope = Scope("changes", tuple(str(s.path) for s in selections))
            first: Selection | None = selections[0]
        else:
            assert selection is not None
            if buffer is not None and selection.on_disk:
                disk = await asyncio.to_thread(read_text_or_none, str(selection.path))
                if disk != buffer:
                    selection = Selection(**{**selection.__dict__, "unsaved": True})
            selections = [selection]
            first = selection
            if scope_kind == "selection":
                what = f"the selected code in {selection.relative_path} (lines {selection.lines})"
                scope = Scope(
                    "selection",
                    (str(selection.path),),
                    selection.start_line - 1,
                    selection.end_line - 1,
                )
            else:
                what = selection.relative_path
                scope = Scope("file", (str(selection.path),))
        instruction = render_review(self.ls.settings.review_prompt, what, first)
        parts = prompt_parts(f"{instruction}\n\n{ANSWER_INSTRUCTIONS}", selections[0], [])
        parts += [file_part(s) for s in selections[1:] if s.on_disk]
        body: dict[str, Any] = {
            "parts": parts,
            "format": {"type": "json_schema", "schema": FINDINGS_SCHEMA, "retryCount": RETRIES},
        }
        if model := self.ls.model():
            provider, _, model_id = model.partition("/")
            body["model"] = {"providerID": provider, "modelID": model_id}
        if agent := self.ls.agent():
            body["agent"] = agent
        # A review only reads: its session may not edit files, whatever the agent decides.
        rules = [{"permission": "edit", "pattern": "*", "action": "deny"}]
        title = f"Review: {what}"[:200]
        session = await folder.client.create_session(title, rules)
        session_id = session.id
        self.runs[session_id] = Run(folder, scope, what)
        try:
            await folder.client.prompt_async(session_id, body)
        except BaseException:
            self.runs.pop(session_id, None)
            raise

    async def whole_file(self, folder: Folder, relative: str) -> Selection:
        path = os.path.join(folder.root, relative)
        uri = uri_of(path)
        document = self.buffers.open_document(path)
        if document is not None:
            selection, _ = selection_for(self.ls, document.uri, None)
            disk = await asyncio.to_thread(read_text_or_none, path)
            return Selection(**{**selection.__dict__, "unsaved": disk != document.source})
        selection, _ = await asyncio.to_thread(selection_for, self.ls, uri, None)
        return selection

    # --- events -------------------------------------------------------------------------------

    def on_event(self, folder: Folder, event: Event) -> None:
        if isinstance(event, FileEdited):
            if self.store.findings:
                self.ls.background(self.disk_changed(folder, event.file), "moving review findings")
            return
        run = self.runs.get(str(session_of(event)))
        if run is None:
            return
        match event:
            case MessageUpdated(info=info) if info.role == "user":
                run.user_messages.add(str(info.id))
            case MessageUpdated(info=info) if info.role == "assistant":
                if info.structured is not ABSENT:
                    run.structured, run.answered = info.structured, True
                error = info.error
                if error is not None and error.name == NO_STRUCTURE:
                    run.no_structure = error.message or "no structured output"
            case PartUpdated(part=part) if (
                part.type == "text"
                and part.text is not None
                and part.message_id not in run.user_messages
                and not part.synthetic
            ):
                run.texts[str(part.id)] = part.text
            case SessionError():
                run.failed = True  # the run tracker has told the user why
            case RunEnded(session_id):
                self.runs.pop(session_id, None)
                self.ls.background(self.finish(session_id, run), "showing the review's findings")

    async def finish(self, session_id: str, run: Run) -> None:
        if run.failed and not run.answered:
            return
        prose = "\n\n".join(text for text in run.texts.values() if text.strip())
        if not run.answered:
            log.info("Review %s ended without findings: %s", session_id, run.no_structure)
            self.fall_back(
                run.folder,
                session_id,
                prose,
                "OpenCode could not give this review as findings on lines (the model answered "
                "without the structured form asked for), so its answer is shown as text.",
            )
            return
        try:
            found, summary = parse_findings(run.structured)
        except NotStructured as problem:
            self.fall_back(
                run.folder,
                session_id,
                prose,
                f"OpenCode's review did not come back in the form asked for ({problem}), so no "
                "findings were shown" + (" and its answer is shown as text." if prose else "."),
            )
            return
        located = await self.locate_all(run.folder, {finding.file for finding in found})
        placed, dropped, touched = self.store.replace(run.scope, found, located.get, session_id)
        self.publish(touched)
        shown = set(self.ls.settings.review_severities)
        hidden = sum(1 for finding in placed if finding.severity not in shown)
        self.ls.tell(
            types.MessageType.Info,
            summary_sentence(run.what, placed, dropped, hidden, summary),
        )

    def fall_back(self, folder: Folder, session_id: str, prose: str, sentence: str) -> None:
        self.ls.tell(types.MessageType.Warning, sentence)
        if prose:
            self.ls.get(Progress).show_answer(folder, Answer(session_id, prose))

    async def locate_all(
        self, folder: Folder, files: set[str]
    ) -> dict[str, tuple[str, str, list[str]] | None]:
        """Each named file's path, name as shown, and lines now (the editor's buffer, else
        the disk); None for a file outside the workspace, missing, or not text."""
        located: dict[str, tuple[str, str, list[str]] | None] = {}
        for file in files:
            try:
                path = await asyncio.to_thread(self.buffers.resolve, folder, file)
            except PathOutsideWorkspace as error:
                log.info("Dropped a finding: %s", error)
                located[file] = None
                continue
            document = self.buffers.open_document(path)
            if document is not None:
                text: str | None = document.source
            else:
                text = await asyncio.to_thread(read_text_or_none, path)
            located[file] = (
                None if text is None else (path, display_path(path, folder.root), text_lines(text))
            )
        return located

    # --- findings follow the text ---------------------------------------------------------------

    def on_document(self, method: str, params: Any) -> None:
        path = to_fs_path(params.text_document.uri)
        if not path or path not in self.store.texts:
            return
        if method == types.TEXT_DOCUMENT_DID_CLOSE:  # the editor shows the disk again
            self.ls.background(self.reread(path), "moving review findings")
            return
        if method == types.TEXT_DOCUMENT_DID_SAVE:
            return
        document = self.ls.workspace.text_documents.get(unquote(params.text_document.uri))
        if document is None:
            document = self.ls.workspace.text_documents.get(params.text_document.uri)
        if document is not None and self.store.text_changed(path, text_lines(document.source)):
            self.publish({path})

    async def disk_changed(self, folder: Folder, raw: str) -> None:
        try:
            path = await asyncio.to_thread(self.buffers.resolve, folder, raw)
        except PathOutsideWorkspace:
            return
        if path in self.store.texts and self.buffers.open_document(path) is None:
            await self.reread(path)

    async def reread(self, path: str) -> None:
        text = await asyncio.to_thread(read_text_or_none, path)
        if self.buffers.open_document(path) is not None:
            return  # opened again meanwhile: the buffer is the truth
        lines = text_lines(text) if text is not None else []
        if self.store.text_changed(path, lines):
            self.publish({path})

    # --- quick fixes ----------------------------------------------------------------------------

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        path = to_fs_path(params.text_document.uri)
        if not path or not self.store.findings:
            return []
        wanted = {str(d.code) for d in params.context.diagnostics if d.source == SOURCE and d.code}
        first, last = params.range.start.line, params.range.end.line
        actions: list[types.CodeAction] = []
        for finding in self.store.in_file(path):
            if finding.id not in wanted and (finding.end < first or finding.start > last):
                continue
            actions += self.actions_for(finding)
        return actions

    def actions_for(self, finding: Placed) -> list[types.CodeAction]:
        encoding = self.buffers.encoding()
        [diagnostic] = [
            d
            for d in self.store.diagnostics(finding.path, [finding.severity], encoding)
            if d.code == finding.id
        ]
        actions = []
        edit = self.suggestion_edit(finding)
        if edit is not None:
            # The edit itself, not a command that sends it: the editor applies it against the
            # version it was made for (and Eglot 1.9 would leave a workspace/applyEdit that
            # follows a command's answer unread until the server sends something else).
            actions.append(
                types.CodeAction(
                    title="OpenCode: Apply the suggestion",
                    kind=FIX_KIND,
                    diagnostics=[diagnostic],
                    edit=edit,
                )
            )
        for title, name in (
            ("OpenCode: Fix this", FIX),
            ("OpenCode: Explain this finding", EXPLAIN),
            ("OpenCode: Dismiss", DISMISS),
        ):
            args = {"id": finding.id}
            actions.append(command_action(title, name, args, FIX_KIND, [diagnostic]))
        return actions

    def suggestion_edit(self, finding: Placed) -> types.WorkspaceEdit | None:
        """The versioned edit that puts the suggestion in the open buffer, while the
        finding's lines read as they did when it was placed."""
        document = self.buffers.open_document(finding.path)
        if finding.suggestion is None or document is None:
            return None
        text = document.source
        span = slice(finding.start, finding.end + 1)
        if text_lines(text)[span] != self.store.lines_of(finding):
            return None
        change = DocumentChange(document.uri, text, suggested_text(text, finding), document.version)
        try:
            return build_workspace_edit(
                [change],
                document_changes=self.buffers.document_changes(),
                encoding=self.buffers.encoding(),
            )
        except EditRefused:
            return None

    def finding(self, options: dict[str, Any]) -> Placed:
        finding_id = arguments.required_str(options, "id", max_len=200)
        finding = self.store.findings.get(finding_id)
        if finding is None:
            raise InvalidArgument("id", "no review finding has this id (it may have gone)")
        return finding

    async def apply(self, finding: Placed) -> None:
        """The suggestion as a versioned edit of the finding's lines, only while those lines
        read as they did when the finding was placed."""
        document = self.buffers.open_document(finding.path)
        if document is not None:
            text: str | None = document.source
            version: int | None = document.version
        else:
            text, version = await asyncio.to_thread(read_text_or_none, finding.path), None
        then = self.store.lines_of(finding)
        now = text_lines(text) if text is not None else []
        if finding.id not in self.store.findings or now[finding.start : finding.end + 1] != then:
            raise EditRefused(
                f"{finding.where} changed since the review, so the suggestion was not applied."
            )
        assert text is not None and finding.suggestion is not None
        uri = document.uri if document is not None else uri_of(finding.path)
        change = DocumentChange(uri, text, suggested_text(text, finding), version)
        result = await self.buffers.apply(
            [change], f"OpenCode: apply the suggestion ({finding.where})"
        )
        if not result.applied:
            reason = f" ({result.reason})" if result.reason else ""
            raise EditRefused(
                f"The editor did not apply the suggestion for {finding.where}{reason}."
            )
        if self.store.withdraw(finding.id) is not None:
            self.publish({finding.path})

    def ask_about(self, finding: Placed, instruction: str, what: str) -> None:
        """Ask the current session about the finding, its lines attached (as opencode.ask)."""
        document = self.buffers.open_document(finding.path)
        uri = document.uri if document is not None else uri_of(finding.path)
        range_ = types.Range(  # line-wise: up to the start of the line after it
            start=types.Position(line=finding.start, character=0),
            end=types.Position(line=finding.end + 1, character=0),
        )
        selection, buffer = selection_for(self.ls, uri, range_)
        self.ls.background(ask(self.ls, instruction, selection, buffer, [], None), what)


def render_review(template: str, what: str, selection: Selection | None) -> str:
    values = {
        "{what}": what,
        "{file}": selection.relative_path if selection else "",
        "{lines}": selection.lines if selection else "",
        "{language}": selection.language if selection else "",
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


async def _git(root: str, *args: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=root,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        raise BridgeError(
            f"Reviewing the changed files needs git, which could not be run ({error.strerror})."
        ) from error
    out, err = await process.communicate()
    if process.returncode != 0:
        first = err.decode("utf-8", "replace").strip().splitlines()[:1]
        raise BridgeError(
            f"git could not list the changed files in {root} ({first[0] if first else 'failed'});"
            " review a file or a selection instead."
        )
    return out.decode("utf-8", "surrogateescape")


async def changed_files(root: str) -> list[str]:
    """Files changed in the working tree (tracked and changed since HEAD, or untracked and not
    ignored), relative to ``root``; deleted files are left out."""
    tracked = await _git(root, "diff", "--name-only", "-z", "--relative", "--diff-filter=d", "HEAD")
    untracked = await _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    names = [name for name in (tracked + untracked).split("\0") if name]
    files = await asyncio.to_thread(
        lambda: [n for n in dict.fromkeys(names) if os.path.isfile(os.path.join(root, n))]
    )
    if len(files) > MAX_CHANGED_FILES:
        raise BridgeError(
            f"{len(files)} files changed in the working tree, more than the {MAX_CHANGED_FILES} "
            "a review takes at once; review them a file at a time."
        )
    return files


@command(REVIEW)
def review_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Answer at once; the review runs in the background and its findings are published."""
    options = arguments.single_object(list(args), required=False)
    uri = arguments.optional_uri(options)
    range_ = arguments.optional_range(options)
    scope = arguments.optional_str(options, "scope", max_len=20)
    if scope is not None and scope not in SCOPES:
        raise InvalidArgument("scope", f"expected one of {', '.join(SCOPES)}")
    if scope is None:
        scope = "changes" if uri is None else "selection" if range_ is not None else "file"
    if scope != "changes" and uri is None:
        raise InvalidArgument("uri", f"required for scope {scope}")
    if scope == "selection" and range_ is None:
        raise InvalidArgument("range", "required for scope selection")
    selection, buffer = (None, None)
    if uri is not None:
        selection, buffer = selection_for(ls, uri, range_ if scope == "selection" else None)
        ls.last_uri = uri
    ls.background(ls.get(ReviewFindings).start(scope, selection, buffer), "reviewing")
    return {"scope": scope}


@command(CLEAR)
def clear_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    """Remove every review finding."""
    arguments.single_object(list(args), required=False)
    count = len(ls.get(ReviewFindings).store.findings)
    ls.get(ReviewFindings).publish(ls.get(ReviewFindings).store.clear())
    return {"cleared": count}


@command(DISMISS)
def dismiss_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    finding = ls.get(ReviewFindings).finding(arguments.single_object(list(args)))
    ls.get(ReviewFindings).store.dismiss(finding.id)
    ls.get(ReviewFindings).publish({finding.path})
    return {"id": finding.id}


@command(APPLY)
def apply_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    finding = ls.get(ReviewFindings).finding(arguments.single_object(list(args)))
    if finding.suggestion is None:
        raise InvalidArgument("id", "this finding carries no suggestion")

    async def run() -> None:
        try:
            await ls.get(ReviewFindings).apply(finding)
        except EditRefused as error:
            ls.tell(types.MessageType.Warning, f"OpenCode: {error}")

    ls.background(run(), "applying the suggestion")
    return {"id": finding.id}


@command(FIX)
def fix_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    return ask_about_finding(ls, args, fix_instruction, "asking OpenCode to fix a finding")


@command(EXPLAIN)
def explain_command(ls: OpenCodeLanguageServer, *args: Any) -> dict[str, Any]:
    return ask_about_finding(ls, args, explain_instruction, "asking OpenCode about a finding")


def ask_about_finding(
    ls: OpenCodeLanguageServer,
    args: tuple[Any, ...],
    instruction: Callable[[Placed], str],
    what: str,
) -> dict[str, Any]:
    findings = ls.get(ReviewFindings)
    finding = findings.finding(arguments.single_object(list(args)))
    findings.ask_about(finding, instruction(finding), what)
    return {"id": finding.id}


def fix_instruction(finding: Placed) -> str:
    instruction = (
        f"Fix this problem a review found in {finding.where} ({finding.severity}): "
        f"{finding.message}"
    )
    if finding.suggestion is not None:
        instruction += f"\n\nThe review suggested these lines instead:\n{finding.suggestion}"
    return instruction


def explain_instruction(finding: Placed) -> str:
    return (
        f"Explain this finding of a review of {finding.where} ({finding.severity}): "
        f"{finding.message}\nWhy is it a problem here, and what would fix it? Do not change "
        "files."
    )


# Its commands, named once the functions below the class are defined.
ReviewFindings.commands = (
    review_command,
    clear_command,
    dismiss_command,
    apply_command,
    fix_command,
    explain_command,
)
