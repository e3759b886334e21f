"""A session's conversation as a live Markdown document. Pure: typed messages, parts and events
in, text out.

The document is a header, the conversation (the *body*), a blank line, the marker line, and the
prompt area below it (docs/conversation.md). A :class:`Follower` turns what happens in a session
into the text to append to the body; the same follower renders a whole session (fed its
messages as if they were happening), so a document rendered afresh and one that grew live read
the same. Each part is written once: fed again (after a reconnection, the messages refetched)
only what is new is written.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bridge.core.permission_views import (
    PermissionView,
    QuestionView,
    describe_permission,
    describe_question,
)
from bridge.core.runs import one_line
from bridge.core.session_markdown import (
    cost_and_tokens,
    describe_tool,
    files_changed,
    inline_code,
    timestamp,
)
from bridge.opencode.events import (
    Event,
    MessageUpdated,
    PartDelta,
    PartUpdated,
    PermissionAsked,
    PermissionReplied,
    QuestionAnswered,
    QuestionAsked,
)
from bridge.opencode.models import (
    FileDiff,
    Message,
    MessageInfo,
    Part,
    Request,
    SessionInfo,
    Usage,
)

MARKER = (
    "<!-- opencode: write your next prompt below this line, "
    'then run the code action "OpenCode: Send" -->'
)
SEND_TITLE = "OpenCode: Send"
EDIT_TOOLS = frozenset({"edit", "write", "apply_patch", "patch", "multiedit"})
REPLIES = {"once": "allowed once", "always": "allowed always", "reject": "rejected"}
LINE_CHARS = 300  # a request's sentence, on one line

_HEADING = re.compile(r"^## (\d+)\. ")
_REQUEST = re.compile(r"^> \*\*(?:Permission|Question)\*\* `([^`]+)`")
_EDIT_STEP = re.compile(r"^- (\w+) ")
_REFERENCE = re.compile(r"(?<![\w@/])@([^\s#@`\"'<>()\[\]]+)(?:#L?(\d+)(?:-L?(\d+))?)?")
_SLASH = re.compile(r"^/([A-Za-z0-9][\w.:-]*)(?:\s+|$)")


def header(session: SessionInfo) -> str:
    """The document's first lines: title, session, folder (never rewritten afterwards)."""
    lines = [f"# {one_line(session.title or session.id, LINE_CHARS)}", ""]
    lines.append(f"- Session: {inline_code(session.id)}")
    if session.directory:
        lines.append(f"- Folder: {inline_code(session.directory)}")
    return "\n".join(lines)


def document(body: str, prompt: str = "") -> str:
    """The whole document: the body, a blank line, the marker line and the prompt area."""
    return f"{body}\n\n{MARKER}\n{prompt}"


# --- the parts of a document ----------------------------------------------------------------


def marker_offset(text: str) -> int | None:
    """Where the last marker line starts (None if the user deleted it)."""
    at = len(text)
    while True:
        at = text.rfind(MARKER, 0, at)
        if at < 0:
            return None
        before_ok = at == 0 or text[at - 1] == "\n"
        end = at + len(MARKER)
        after_ok = end == len(text) or text[end] in "\r\n"
        if before_ok and after_ok:
            return at
        if at == 0:
            return None


def prompt_of(text: str) -> str | None:
    """The prompt area's text (None without a marker line)."""
    at = marker_offset(text)
    if at is None:
        return None
    rest = text[at + len(MARKER) :]
    return rest[1:] if rest.startswith("\n") else rest[2:] if rest.startswith("\r\n") else rest


def body_of(text: str) -> str:
    """The conversation above the marker line (the line break and blank line before it left
    out)."""
    at = marker_offset(text)
    return text if at is None else text[: _body_end(text, at)]


def _body_end(text: str, at: int) -> int:
    """Back from the marker line over the body's line break and the blank line."""
    for _ in range(2):
        if text.endswith("\r\n", 0, at):
            at -= 2
        elif text.endswith("\n", 0, at):
            at -= 1
    return at


def prompt_range(text: str) -> tuple[int, int] | None:
    """The character span of the prompt area (None without a marker line)."""
    at = marker_offset(text)
    if at is None:
        return None
    start = at + len(MARKER)
    start += 2 if text.startswith("\r\n", start) else 1 if text.startswith("\n", start) else 0
    return start, len(text)


def insertion(text: str, addition: str) -> tuple[int, str]:
    """Where ``addition`` (body text) goes in the document ``text``, and what to insert there:
    at the end of the body, above the blank line and the marker line; without a marker line,
    at the end, bringing a new marker line."""
    at = marker_offset(text)
    if at is None:
        return len(text), f"{addition}\n\n{MARKER}\n"
    return _body_end(text, at), addition


def marker_line(text: str) -> int | None:
    """The 0-based line of the marker (None without one)."""
    at = marker_offset(text)
    return None if at is None else text.count("\n", 0, at)


# --- what the cursor is on --------------------------------------------------------------------


def request_at(lines: Sequence[str], line: int) -> str | None:
    """The permission or question whose block the cursor is in: ``line`` or the line above."""
    for index in (line, line - 1):
        if 0 <= index < len(lines):
            if found := _REQUEST.match(lines[index]):
                return found.group(1)
    return None


def turn_at(lines: Sequence[str], line: int) -> int | None:
    """On a ``Files changed:`` line or an edit step: the number of the turn it belongs to."""
    if not 0 <= line < len(lines):
        return None
    text = lines[line]
    step = _EDIT_STEP.match(text)
    if not (text.startswith("Files changed: ") or (step and step.group(1) in EDIT_TOOLS)):
        return None
    for index in range(line, -1, -1):
        if found := _HEADING.match(lines[index]):
            return int(found.group(1))
    return None


# --- what the user wrote ----------------------------------------------------------------------


class Reference(NamedTuple):
    """``@path``, ``@path#L10`` or ``@path#L10-20`` in a prompt (lines 1-based, inclusive)."""

    path: str
    start: int | None
    end: int | None


def references(prompt: str) -> list[Reference]:
    found: list[Reference] = []
    for match in _REFERENCE.finditer(prompt):
        path = match.group(1)
        start = int(match.group(2)) if match.group(2) else None
        end = int(match.group(3)) if match.group(3) else start
        if start is None:
            path = path.rstrip(".,;:!?")  # the sentence's punctuation, not the name's
        if start is not None and end is not None and end < start:
            start, end = end, start
        if path and Reference(path, start, end) not in found:
            found.append(Reference(path, start, end))
    return found


def slash_command(prompt: str) -> tuple[str, str] | None:
    """``/name arguments`` → ``(name, arguments)``; None for a prompt."""
    match = _SLASH.match(prompt.strip())
    if match is None:
        return None
    return match.group(1), prompt.strip()[match.end() :].strip()


# --- following a session ----------------------------------------------------------------------


def _sum(usages: Iterable[Usage]) -> Usage | None:
    listed = list(usages)
    if not listed:
        return None
    fields = [f.name for f in dataclasses.fields(Usage)]
    return Usage(**{name: sum(getattr(u, name) for u in listed) for name in fields})


@dataclass
class _Turn:
    number: int
    user: MessageInfo
    headed: bool = False  # "## N. You" written
    answered: bool = False  # "## N. OpenCode" written
    answers: dict[str, MessageInfo] = field(default_factory=dict)
    patches: list[Part] = field(default_factory=list)
    ended: bool = False  # its footer is written


class Follower:
    """What to append to one session's document as its messages and events come."""

    def __init__(self, session_id: str, root: str = "", turns: int = 0) -> None:
        self.session_id = session_id
        self.root = root
        self.turns = turns  # how many turns were written before (a document read back)
        self.turn: _Turn | None = None
        self.turn_messages: dict[int, str] = {}  # turn number -> its user message's id
        self.opened: set[str] = set()  # the user messages that opened a turn
        self.assigned: set[str] = set()  # the answers counted in a turn
        self.infos: dict[str, MessageInfo] = {}
        self.part_types: dict[str, str] = {}
        self.written: dict[str, str] = {}  # text part id -> its text written so far
        self.steps: set[str] = set()  # tool parts whose line is written
        self.requests: set[str] = set()  # permissions and questions shown
        # Text parts read mid-stream: their deltas cannot be placed (which came before the
        # read?), so their text is completed from their final update instead.
        self.frozen: set[str] = set()
        self.tail: str | None = None  # the text part whose text ends the body
        self.listing = False  # the body ends with a list line
        self.trailing = 0  # newlines ending the body
        self.empty = True  # nothing written yet (after the header)
        self.out: list[str] = []

    # --- writing ------------------------------------------------------------------------------

    def _emit(self, text: str) -> None:
        if not text:
            return
        self.out.append(text)
        stripped = text.rstrip("\n")
        self.trailing = len(text) - len(stripped) if stripped else self.trailing + len(text)
        self.empty = False

    def _block(self, text: str) -> None:
        """A paragraph of its own: after a blank line."""
        self._emit("\n" * max(0, 2 - self.trailing) + text)
        self.tail, self.listing = None, False

    def _list_line(self, text: str) -> None:
        if self.listing and self.trailing <= 1:
            self._emit("\n" * (1 - self.trailing) + text)
        else:
            self._block(text)
        self.tail, self.listing = None, True

    def take(self) -> str:
        """The text written since the last call."""
        text, self.out = "".join(self.out), []
        return text

    # --- turns --------------------------------------------------------------------------------

    def _start_turn(self, info: MessageInfo) -> _Turn:
        if self.turn is not None and self.turn.user.id == info.id:
            self.turn.user = info
            return self.turn
        if self.turn is not None and self.turn.answered:
            self._end_turn(None)
        self.turns += 1
        self.turn = _Turn(self.turns, info)
        if info.id is not None:
            self.turn_messages[self.turns] = info.id
            self.opened.add(info.id)
        return self.turn

    def _heading_you(self, turn: _Turn) -> None:
        if not turn.headed:
            when = timestamp(turn.user.created)
            self._block(f"## {turn.number}. You" + (f" · {when}" if when else ""))
            turn.headed = True

    def _heading_answer(self, info: MessageInfo) -> _Turn:
        turn = self.turn
        if turn is None:  # an answer before any question the follower saw
            turn = self._start_turn(MessageInfo(None, role="user"))
            turn.headed = True
        if info.id is not None and info.id not in self.assigned:
            turn.answers[info.id] = info
            self.assigned.add(info.id)
        if not turn.answered:
            who = ["OpenCode"]
            if info.agent:
                who.append(info.agent)
            if info.model:
                who.append(info.model)
            if info.summary:
                who.append("summary")
            self._block(f"## {turn.number}. " + " · ".join(who))
            turn.answered = True
        return turn

    def _end_turn(self, diffs: Sequence[FileDiff] | None) -> None:
        turn = self.turn
        if turn is None or turn.ended or not turn.answered:
            return
        turn.ended = True
        user = turn.user if diffs is None else dataclasses.replace(turn.user, diffs=tuple(diffs))
        answers = [self.infos.get(key, info) for key, info in turn.answers.items()]
        for info in answers:
            if info.error is not None:
                if info.error.name == "MessageAbortedError":
                    self._block("*(stopped)*")
                else:
                    text = info.error.message or info.error.name or "the run failed"
                    self._block(f"**Error:** {one_line(text, LINE_CHARS)}")
        changed = files_changed(user, turn.patches, self.root)
        if changed:
            self._block(changed)
        usage = _sum(info.usage for info in answers if info.usage is not None)
        if usage is not None:
            self._block(f"*{cost_and_tokens(usage)}*")

    # --- messages and parts -------------------------------------------------------------------

    def message(self, info: MessageInfo) -> None:
        if info.id is None or (info.session_id not in (None, self.session_id)):
            return
        self.infos[info.id] = info
        if info.role == "user":
            if info.id not in self.opened or (self.turn and self.turn.user.id == info.id):
                self._start_turn(info)
        elif self.turn is not None and (
            info.id not in self.assigned or info.id in self.turn.answers
        ):
            self.turn.answers[info.id] = info
            self.assigned.add(info.id)

    def part(self, part: Part) -> None:
        if part.id is None or part.session_id not in (None, self.session_id):
            return
        kind = part.type or ""
        self.part_types[part.id] = kind
        info = self.infos.get(part.message_id or "")
        if info is None:
            return  # a part of a message not seen yet: it comes again with its message
        if info.role == "user":
            self._user_part(info, part)
        else:
            self._answer_part(info, part)

    def _user_part(self, info: MessageInfo, part: Part) -> None:
        if part.id in self.steps or part.id in self.written:
            return
        turn = self.turn
        if turn is None or turn.user.id != info.id:
            if info.id in self.opened:
                return  # a turn long past
            turn = self._start_turn(info)
        if part.type == "text" and not part.synthetic and part.text and part.text.strip():
            self._heading_you(turn)
            self._block(part.text.strip())
            self.written[part.id or ""] = part.text
        elif part.type == "file":
            self._heading_you(turn)
            self._list_line(f"- attached {inline_code(part.file_name or 'a file')}")
            self.steps.add(part.id or "")
        elif part.type == "compaction":
            self._heading_you(turn)
            self._block("*(asked to summarize the conversation)*")
            self.steps.add(part.id or "")

    def _answer_part(self, info: MessageInfo, part: Part) -> None:
        part_id = part.id or ""
        if part.type == "text" and not part.synthetic and part.text:
            self._text(info, part_id, part.text)
        elif part.type == "tool" and part_id not in self.steps:
            if part.state.status in ("completed", "error"):
                self._heading_answer(info)
                self._list_line(self._step(part))
                self.steps.add(part_id)
        elif part.type == "subtask" and part_id not in self.steps:
            self._heading_answer(info)
            what = " ".join((part.description or "").split())
            self._list_line(f"- subtask for {part.agent or 'a subagent'}: {what}")
            self.steps.add(part_id)
        elif part.type == "patch" and part_id not in self.steps and self.turn is not None:
            self.turn.patches.append(part)
            self.steps.add(part_id)

    def _step(self, part: Part) -> str:
        line = describe_tool(part, self.root)
        output = part.state.output
        if part.tool == "bash" and part.state.status == "completed" and output is not None:
            count = len(output.rstrip("\n").splitlines())
            line += f" ({count} line{'s' if count != 1 else ''} of output)" if count else ""
        return line

    def _text(self, info: MessageInfo, part_id: str, text: str) -> None:
        """A text part's whole text so far: write what is not written yet."""
        written = self.written.get(part_id, "")
        if len(text) <= len(written) or not text.startswith(written):
            return  # nothing new (or rewritten: what was shown stays)
        self._more_text(info, part_id, text[len(written) :])

    def _more_text(self, info: MessageInfo, part_id: str, more: str) -> None:
        written = self.written.get(part_id, "")
        if self.tail == part_id:
            self._emit(more)
        else:
            self._heading_answer(info)
            if not written:
                more = more.lstrip("\n")
                if not more:
                    return
            self._block(more)
        self.written[part_id] = written + more
        self.tail, self.listing = part_id, False

    def delta(self, delta: PartDelta) -> None:
        """Streamed text of a text part of an answer (other parts' deltas are not shown)."""
        part_id = delta.part_id
        if part_id is None or delta.field != "text" or self.part_types.get(part_id) != "text":
            return
        if part_id in self.frozen:
            return
        info = self.infos.get(delta.message_id or "")
        if info is None or info.role == "user" or not delta.delta:
            return
        self._more_text(info, part_id, delta.delta)

    # --- requests -----------------------------------------------------------------------------

    def request(self, request: Request, kind: str) -> None:
        """A permission or question the run waits on, where it happened."""
        if request.session_id != self.session_id:
            return
        if kind == "permission":
            self.show(describe_permission(request, self.root))
        else:
            self.show(describe_question(request))

    def show(self, view: PermissionView | QuestionView | None) -> None:
        """A request as the permissions feature describes it, with the code actions it offers
        named on its line (once)."""
        if view is None or view.session_id != self.session_id or view.id in self.requests:
            return
        self.requests.add(view.id)
        if isinstance(view, PermissionView):
            offered = "Allow once · Allow always · Reject" + (" · Show diff" if view.diff else "")
            self._block(
                f"> **Permission** {inline_code(view.id)}: {one_line(view.message, LINE_CHARS)}\n"
                f"> Code actions on this line: {offered}"
            )
            return
        options = " · ".join(label for item in view.items for label in item.labels)
        block = f"> **Question** {inline_code(view.id)}: {one_line(view.message, LINE_CHARS)}"
        if options:
            block += f"\n> Options (code actions on this line): {options}"
        self._block(block)

    def settled(self, request_id: str | None, what: str) -> None:
        if request_id is not None and request_id in self.requests:
            self._block(f"> {inline_code(request_id)}: {what}")

    # --- inputs -------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        match event:
            case MessageUpdated(info=info):
                self.message(info)
            case PartUpdated(part=part):
                self.part(part)
            case PermissionAsked(request):
                self.request(request, "permission")
            case QuestionAsked(request):
                self.request(request, "question")
            case PermissionReplied(request_id=request_id, reply=reply):
                self.settled(request_id, REPLIES.get(reply or "", "answered"))
            case QuestionAnswered(request_id, rejected):
                self.settled(request_id, "dismissed" if rejected else "answered")
            case PartDelta():
                self.delta(event)

    def run_ended(self, diffs: Sequence[FileDiff] | None = None) -> None:
        """The run is over: the turn's footer (``diffs``: its files, when fetched)."""
        self._end_turn(diffs)

    def catch_up(self, messages: Iterable[Message], *, finished: bool) -> None:
        """Feed the session's messages (oldest first): what was not written yet is written;
        ``finished``: no run is in progress, so the last turn ends too."""
        last: Message | None = None
        for message in messages:
            if message.info is None:
                continue
            last = message
            self.message(message.info)
            for part in message.parts:
                self.part(part)
        if finished:
            self._end_turn(None)
        elif last is not None:
            self.frozen.update(p.id for p in last.parts if p.id is not None and p.type == "text")

    def turn_message(self, number: int) -> str | None:
        """The user message that opened turn ``number``."""
        return self.turn_messages.get(number)


def render(
    session: SessionInfo,
    messages: Sequence[Message],
    *,
    finished: bool = True,
    pending: Iterable[PermissionView | QuestionView] = (),
) -> tuple[str, Follower]:
    """The body of a whole session, and the follower that continues it."""
    follower = Follower(session.id, session.directory or "")
    follower.catch_up(messages, finished=finished)
    for view in pending:
        follower.show(view)
    body = follower.take()
    if follower.empty:
        follower._block("*No messages yet.*")
        body = follower.take()
    return header(session) + body, follower
