"""Permission requests and questions from OpenCode <-> what a person decides on. Pure.

A permission request (``permission.asked`` / ``GET /permission``) becomes a
:class:`PermissionView`: one sentence saying what, where and how much (``OpenCode wants to
edit src/a.py (+3 −1)``), the actions to offer, and where in the workspace to show it as a
diagnostic. A question (``question.asked`` / ``GET /question``) becomes a
:class:`QuestionView`, one prompt per question. Editors' answers map back to replies here:
only a title the bridge offered counts as an answer; ``null``, ``{}`` or anything else is
"not answered here", and the request stays pending. Nothing is ever approved by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bridge.core.line_diff import map_lines
from bridge.core.paths import display_path
from bridge.core.runs import one_line
from bridge.errors import InvalidArgument
from bridge.opencode.models import PatchFile, PermissionMetadata, Request

ALLOW_ONCE = "Allow once"
ALLOW_ALWAYS = "Allow always"
REJECT = "Reject"
SHOW_DIFF = "Show diff"
DISMISS = "Dismiss"
DISMISS_FALLBACK = "Dismiss the question"  # when an option is itself called "Dismiss"

Reply = Literal["once", "always", "reject"]
REPLIES: tuple[Reply, ...] = ("once", "always", "reject")
PermissionChoice = Literal["once", "always", "reject", "diff"]

TITLE_REPLIES: dict[str, Reply] = {ALLOW_ONCE: "once", ALLOW_ALWAYS: "always", REJECT: "reject"}
REPLY_WORDS: dict[str, str] = {
    "once": "allowed once",
    "always": "allowed always",
    "reject": "rejected",
}

COMMAND_CHARS = 200  # a command longer than this is shortened in the prompt
SHORT_CHARS = 60  # what a code action's title quotes
MAX_FILES_LISTED = 3

MINUS = "\u2212"  # "−", as a person writes a count of removed lines

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


# --- diffs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffStats:
    additions: int
    deletions: int
    first_line: int | None  # 0-based line of the first change, in the file as it is on disk
    creates: bool  # the diff only adds lines to an empty (new) file


def diff_stats(diff: str) -> DiffStats:
    """Count a unified diff's added and removed lines and find its first change.

    Hunk headers give the line counts, so a removed line that starts with ``--`` is not
    mistaken for a file header.
    """
    additions = deletions = 0
    first: int | None = None
    hunks = 0
    creates = True
    old_left = new_left = 0
    old_next = 0  # 1-based number of the next line of the old file
    for line in diff.splitlines():
        if old_left <= 0 and new_left <= 0:
            match = _HUNK.match(line)
            if match:
                hunks += 1
                start = int(match.group(1))
                old_left = int(match.group(2)) if match.group(2) is not None else 1
                new_left = int(match.group(4)) if match.group(4) is not None else 1
                # With an empty old range, ``start`` is the line after which lines are added.
                old_next = start + 1 if old_left == 0 else start
                if start != 0 or old_left != 0:
                    creates = False
            continue
        if line.startswith("\\"):  # "\ No newline at end of file"
            continue
        if line.startswith("-"):
            deletions += 1
            first = old_next - 1 if first is None else first
            old_next += 1
            old_left -= 1
        elif line.startswith("+"):
            additions += 1
            first = max(old_next - 1, 0) if first is None else first
            new_left -= 1
        else:  # context (a blank line in a hunk is a context line that lost its space)
            old_next += 1
            old_left -= 1
            new_left -= 1
    return DiffStats(additions, deletions, first, creates and hunks > 0 and deletions == 0)


# --- permissions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionView:
    """A permission request as a person decides on it."""

    id: str
    session_id: str
    permission: str
    message: str  # what, where, how much; a second line says what "Allow always" covers
    short: str  # a few words for a code action's title: "edit src/a.py", "run: make"
    actions: tuple[str, ...]  # the titles offered, in order
    file: str | None  # the absolute path it concerns (an edit's file), if any
    line: int | None  # 0-based line of the first change in that file, if known
    diff: str | None  # the proposed change, for Show diff
    patterns: tuple[str, ...]
    always: tuple[str, ...]

    @property
    def headline(self) -> str:
        return self.message.split("\n", 1)[0]


def _counts(additions: int, deletions: int) -> str:
    return f"(+{additions} {MINUS}{deletions})"


def _describe_edit(
    metadata: PermissionMetadata, patterns: tuple[str, ...], root: str | Path | None
) -> tuple[str, str, str | None, int | None, str | None]:
    """message, short, file, line, diff of an ``edit`` (or ``write``) request."""
    file = metadata.filepath
    name = display_path(file, root) if file else (patterns[0] if patterns else "a file")
    diff = metadata.diff
    if diff is None:
        return f"OpenCode wants to edit {name}", f"edit {name}", file, None, None
    stats = diff_stats(diff)
    if stats.creates:
        message = f"OpenCode wants to create {name} (+{stats.additions})"
        return message, f"create {name}", file, None, diff
    message = f"OpenCode wants to edit {name} {_counts(stats.additions, stats.deletions)}"
    return message, f"edit {name}", file, stats.first_line, diff


_PATCH_VERBS = {"add": "create", "update": "edit", "delete": "delete", "move": "move"}


def _describe_patch(
    metadata: PermissionMetadata, root: str | Path | None
) -> tuple[str, str, str | None, int | None, str | None] | None:
    """An ``apply_patch`` request, which may touch several files."""
    files = metadata.files
    if not files:
        return None
    diff = metadata.diff or "\n".join(f.patch for f in files if f.patch)
    additions = sum(f.additions for f in files)
    deletions = sum(f.deletions for f in files)

    def name(entry: PatchFile) -> str:
        path = entry.file_path
        return entry.relative_path or (display_path(path, root) if path else "a file")

    first = files[0]
    first_path = first.file_path
    line = diff_stats(first.patch).first_line if first.patch else None
    if len(files) == 1:
        kind = first.type or "update"
        verb = _PATCH_VERBS.get(kind, "change")
        target = name(first)
        if kind == "move" and first.move_path:
            target = f"{target} to {display_path(first.move_path, root)}"
        counts = "" if kind == "delete" else f" {_counts(additions, deletions)}"
        message = f"OpenCode wants to {verb} {target}{counts}"
        return message, f"{verb} {name(first)}", first_path, line, diff or None
    names = [name(f) for f in files]
    listed = ", ".join(names[:MAX_FILES_LISTED])
    if len(names) > MAX_FILES_LISTED:
        listed += f" and {len(names) - MAX_FILES_LISTED} more"
    message = (
        f"OpenCode wants to change {len(files)} files {_counts(additions, deletions)}: {listed}"
    )
    return message, f"change {len(files)} files", first_path, line, diff or None


def _describe_other(
    permission: str,
    metadata: PermissionMetadata,
    patterns: tuple[str, ...],
    root: str | Path | None,
) -> tuple[str, str]:
    """message, short for everything but edits."""
    joined = ", ".join(patterns)
    if permission == "bash":
        command = metadata.command or joined or "a command"
        return (
            f"OpenCode wants to run: {one_line(command, COMMAND_CHARS)}",
            f"run: {one_line(command, SHORT_CHARS)}",
        )
    if permission == "external_directory":
        directories = metadata.directories
        ran = metadata.command
        if directories or ran:
            where = ", ".join(directories) or joined
            message = f"OpenCode wants to work outside the project: {where}"
            if ran:
                message += f" (to run: {one_line(ran, COMMAND_CHARS)})"
            return message, f"work outside the project: {one_line(where, SHORT_CHARS)}"
        where = metadata.parent_dir or metadata.filepath or joined
        return (
            f"OpenCode wants to read outside the project: {where}",
            f"read outside the project: {one_line(where, SHORT_CHARS)}",
        )
    if permission == "webfetch":
        url = metadata.url or joined
        return f"OpenCode wants to fetch {url}", f"fetch {one_line(url, SHORT_CHARS)}"
    if permission in ("websearch", "codesearch"):
        query = metadata.query or joined
        return (
            f"OpenCode wants to search the web for: {query}",
            f"search: {one_line(query, SHORT_CHARS)}",
        )
    if permission == "task":
        agent = metadata.subagent_type or joined or "a"
        description = metadata.description
        message = f"OpenCode wants to start the {agent} subagent"
        return (message + (f": {description}" if description else ""), f"start {agent}")
    if permission == "doom_loop":
        tool = metadata.tool or joined or "a tool"
        message = f"OpenCode wants to call {tool} again with the same input (it may be stuck)"
        return message, f"repeat {tool}"
    if permission == "skill":
        return f"OpenCode wants to load the skill {joined}", f"load skill {joined}"
    verbs = {"read": "read", "list": "list", "glob": "search for files", "grep": "search for"}
    if permission in verbs and patterns:
        shown = ", ".join(display_path(p, root) for p in patterns)
        return f"OpenCode wants to {verbs[permission]} {shown}", f"{verbs[permission]} {shown}"
    message = f"OpenCode asks permission for {permission}" + (f": {joined}" if joined else "")
    return message, f"{permission} {joined}".strip()


def _always_note(permission: str, always: tuple[str, ...]) -> str | None:
    if not always:
        return None
    if always == ("*",):
        return f"Allow always: every {permission} request, until OpenCode restarts."
    return f"Allow always: {', '.join(always)}, until OpenCode restarts."


def describe_permission(request: Request, root: str | Path | None = None) -> PermissionView | None:
    """The view of a permission request, or None when it has no id or session."""
    request_id, session_id = request.id, request.session_id
    if not request_id or not session_id:
        return None
    permission = request.permission or "unknown"
    metadata, patterns, always = request.metadata, request.patterns, request.always
    file: str | None = None
    line: int | None = None
    diff: str | None = None
    described = None
    if permission == "apply_patch" or metadata.files:
        described = _describe_patch(metadata, root)
    if described is None and permission in ("edit", "write", "apply_patch"):
        described = _describe_edit(metadata, patterns, root)
    if described is not None:
        headline, short, file, line, diff = described
    else:
        headline, short = _describe_other(permission, metadata, patterns, root)
    note = _always_note(permission, always)
    actions = [ALLOW_ONCE, ALLOW_ALWAYS, REJECT]
    if diff:
        actions.append(SHOW_DIFF)
    return PermissionView(
        id=request_id,
        session_id=session_id,
        permission=permission,
        message=headline + (f"\n{note}" if note else ""),
        short=one_line(short, SHORT_CHARS),
        actions=tuple(actions),
        file=file,
        line=line,
        diff=diff,
        patterns=patterns,
        always=always,
    )


def answer_title(answer: Any) -> str | None:
    """The title an editor picked: a ``MessageActionItem`` (object or JSON), or None."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, Mapping):
        title = answer.get("title")
    else:
        title = getattr(answer, "title", None)
    return title if isinstance(title, str) else None


def permission_choice(answer: Any, view: PermissionView) -> PermissionChoice | None:
    """What the user chose, or None when the answer is not one of the offered titles."""
    title = answer_title(answer)
    if title is None or title not in view.actions:
        return None
    if title == SHOW_DIFF:
        return "diff"
    return TITLE_REPLIES[title]


def check_reply(value: Any) -> Reply:
    if value not in REPLIES:
        raise InvalidArgument("reply", 'expected "once", "always" or "reject"')
    reply: Reply = value
    return reply


# --- questions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionItem:
    question: str
    header: str
    labels: tuple[str, ...]
    descriptions: tuple[str, ...]
    multiple: bool
    custom: bool  # the user may type an answer of their own (OpenCode's default)


@dataclass(frozen=True)
class QuestionView:
    id: str
    session_id: str
    items: tuple[QuestionItem, ...]
    message: str  # all questions in one text, for a diagnostic
    short: str

    @property
    def dismiss_title(self) -> str:
        labels = {label for item in self.items for label in item.labels}
        return DISMISS_FALLBACK if DISMISS in labels else DISMISS


def describe_question(request: Request) -> QuestionView | None:
    request_id, session_id = request.id, request.session_id
    if not request_id or not session_id:
        return None
    items = []
    for asked in request.questions:
        labels: list[str] = []
        descriptions: list[str] = []
        for option in asked.options:
            if option.label in labels:  # a title must pick one option
                continue
            labels.append(option.label)
            descriptions.append(option.description or "")
        items.append(
            QuestionItem(
                question=asked.question or asked.header or "?",
                header=asked.header or "",
                labels=tuple(labels),
                descriptions=tuple(descriptions),
                multiple=asked.multiple,
                custom=asked.custom,
            )
        )
    if not items:
        return None
    lines = []
    for item in items:
        choices = f" ({', '.join(item.labels)})" if item.labels else ""
        lines.append(f"{item.question}{choices}")
    if len(items) == 1:
        message = f"OpenCode asks: {lines[0]}"
    else:
        message = f"OpenCode asks {len(items)} questions:\n" + "\n".join(
            f"{n}. {line}" for n, line in enumerate(lines, 1)
        )
    short = one_line(items[0].question, SHORT_CHARS)
    return QuestionView(request_id, session_id, tuple(items), message, short)


def question_prompt(view: QuestionView, index: int) -> tuple[str, tuple[str, ...]]:
    """The message and titles of the prompt for question ``index``: its options, then an
    explicit Dismiss (the only title that rejects the question)."""
    item = view.items[index]
    counter = f" ({index + 1}/{len(view.items)})" if len(view.items) > 1 else ""
    head = f"{item.header}: " if item.header and item.header != item.question else ""
    lines = [f"OpenCode asks{counter}: {head}{item.question}"]
    for label, description in zip(item.labels, item.descriptions, strict=True):
        if description:
            lines.append(f"{label}: {description}")
    hints = []
    if item.multiple:
        hints.append("several choices")
    if item.custom:
        hints.append("an answer of your own")
    if hints:
        lines.append(f"({' or '.join(hints)}: opencode.question.reply)")
    return "\n".join(lines), (*item.labels, view.dismiss_title)


QuestionChoice = tuple[Literal["answer"], str] | tuple[Literal["dismiss"], None]


def question_choice(answer: Any, view: QuestionView, index: int) -> QuestionChoice | None:
    title = answer_title(answer)
    if title is None:
        return None
    if title == view.dismiss_title:
        return ("dismiss", None)
    if title in view.items[index].labels:
        return ("answer", title)
    return None


def check_answers(raw: Any, view: QuestionView | None) -> list[list[str]]:
    """``answers`` of ``opencode.question.reply``: one entry per question, in order; each a
    list of labels (one unless the question allows several) or a string of the user's own.
    A label matches its option whatever its case."""
    if not isinstance(raw, list) or not raw:
        raise InvalidArgument("answers", "expected a list with one answer per question")
    if view is not None and len(raw) != len(view.items):
        raise InvalidArgument(
            "answers", f"expected {len(view.items)} answers, one per question, got {len(raw)}"
        )
    answers: list[list[str]] = []
    for index, entry in enumerate(raw):
        key = f"answers[{index}]"
        picked = [entry] if isinstance(entry, str) else entry
        if not isinstance(picked, list) or not all(isinstance(p, str) for p in picked):
            raise InvalidArgument(key, "expected a list of option labels, or a text")
        picked = [p for p in picked if p.strip()]
        if not picked:
            raise InvalidArgument(key, "choose at least one option, or write an answer")
        if view is None:
            answers.append(picked)
            continue
        item = view.items[index]
        if len(picked) > 1 and not item.multiple:
            raise InvalidArgument(key, "this question takes one answer")
        canonical = {label.casefold(): label for label in item.labels}
        resolved = []
        for choice in picked:
            label = canonical.get(choice.strip().casefold())
            if label is None and not item.custom:
                known = ", ".join(item.labels)
                raise InvalidArgument(key, f"{choice!r} is not an option (options: {known})")
            resolved.append(label or choice)
        answers.append(resolved)
    return answers


# --- the fallback: diagnostics, and what a reconnect brings back -----------------------------


DIAGNOSTIC_HINT = "Answer with a quick fix (code action), or the command {command}."


def rejected_message(short: str, feedback: str | None) -> str:
    """What the person reads once a reject reached OpenCode. Without feedback OpenCode ends
    the run; with it the agent goes on with the feedback as the tool's result."""
    if feedback:
        return f"OpenCode: you rejected “{short}”; the agent was told, with your feedback."
    return f"OpenCode: you rejected “{short}”; the agent was told, and the run stops there."


def queued_message(headline: str, where: str) -> str:
    """An ask while the session's run waits on the person: it runs after that answer."""
    at = f" at {where}" if where else ""
    return f"OpenCode queued your prompt: the run first waits for your answer to “{headline}”{at}."


def diagnostic_message(message: str, command: str) -> str:
    return f"{message}\n{DIAGNOSTIC_HINT.format(command=command)}"


def line_in_buffer(line: int, disk: str | None, buffer: str) -> int:
    """The 0-based ``line`` of the file on disk (a diff's line) where the open buffer shows it:
    unsaved lines above it shift it; a line the user changed maps to what replaced it."""
    if disk is None or disk == buffer:
        return line
    [(at, _)] = map_lines(disk, buffer, [line])
    return at


def line_span(line: int, lines: Sequence[str]) -> tuple[int, int]:
    """The line to mark (clamped to the document) and its length without the line break."""
    if not lines:
        return 0, 0
    line = min(max(line, 0), len(lines) - 1)
    return line, len(lines[line].rstrip("\r\n"))


@dataclass(frozen=True)
class Reconciled:
    new: list[Request]  # pending on the server, not shown yet: show them
    gone: set[str]  # shown, but no longer pending: withdraw them


def reconcile(
    shown: Iterable[str],
    fetched: Iterable[Request],
    busy_sessions: Iterable[str],
    closed: Iterable[str] = (),
) -> Reconciled:
    """After a reconnect: what ``GET /permission`` (or ``/question``) brings back.

    Each request is keyed by id, so one already shown is not shown again. A request of a
    session that is not busy counts as gone: OpenCode 1.18.33 keeps a request listed after
    its run was aborted, though no answer matters to it any more. ``closed`` are ids the
    bridge saw answered or withdrawn meanwhile.
    """
    shown_ids = set(shown)
    busy = set(busy_sessions)
    done = set(closed)
    live = [f for f in fetched if f.session_id in busy]
    new = [f for f in live if f.id not in shown_ids and f.id not in done]
    return Reconciled(new=new, gone=shown_ids - {f.id for f in live})
