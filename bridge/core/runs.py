"""OpenCode events -> what the editor should show about a run. Pure: no LSP, no I/O.

The server layer feeds every event to :class:`RunTracker` with the current time and carries
out the actions it returns (``$/progress`` begin/report/end, ``opencode/status``, messages).
Reports are throttled here, so the limit holds whatever the event rate: at most one report
per session every ``MIN_REPORT_INTERVAL`` seconds; the latest text wins.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bridge.opencode.events import (
    Connected,
    Event,
    MessageUpdated,
    PartDelta,
    PartUpdated,
    PermissionReplied,
    RunEnded,
    SessionError,
    SessionStatus,
)
from bridge.opencode.models import Part, RunError, SessionState

# Just over 0.1 s: at most 10 reports in any one second at the editor, even when their delivery
# jitters (at exactly 0.1 s, a report sent late and the next on time made 11 in a second).
MIN_REPORT_INTERVAL = 0.11
TAIL_CHARS = 80
MAX_ANSWER_CHARS = 200_000
MAX_REMEMBERED_MESSAGES = 2_000
JOIN_EVERY = 256  # a streamed part's deltas are joined this many at a time


@dataclass(frozen=True)
class RunProgress:
    """A step of a run's ``$/progress``: it began, has news, or ended (``message`` says how)."""

    stage: Literal["begin", "report", "end"]
    session_id: str
    message: str


@dataclass(frozen=True)
class Status:
    state: str  # idle | busy | error | disconnected
    session_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Answer:
    """The final text of a run the bridge asked for."""

    session_id: str
    text: str


@dataclass(frozen=True)
class Unfinished:
    """A run the bridge asked for ended without its answer: ``stopped`` (aborted, by the
    user or anyone) or failed. ``text`` is what it had written, for the log only."""

    session_id: str
    text: str
    stopped: bool


@dataclass(frozen=True)
class Failed:
    """A run failed: ``message`` is the one sentence to show; ``detail`` is OpenCode's own
    text (a stack trace, say) when it differs, for the log only."""

    session_id: str | None
    message: str
    detail: str | None = None


@dataclass(frozen=True)
class Logged:
    """Something for the bridge's log, not for a message (a run's failure told again)."""

    message: str


@dataclass(frozen=True)
class FlushLater:
    """A report was held back by the throttle: call ``flush`` after ``delay`` seconds."""

    session_id: str
    delay: float


Action = RunProgress | Status | Answer | Unfinished | Failed | Logged | FlushLater


class _Text:
    """A text part as it streams in. Deltas are kept as pieces, joined a batch at a time, so a
    part of n deltas costs O(n) rather than O(n²) (adding each delta to one string copied the
    whole text every time); its last characters are kept apart for the progress reports."""

    __slots__ = ("pieces", "size", "last")

    def __init__(self, text: str = "") -> None:
        text = text[:MAX_ANSWER_CHARS]
        self.pieces = [text]
        self.size = len(text)
        self.last = text[-TAIL_CHARS * 2 :]

    def add(self, delta: str) -> None:
        if self.size < MAX_ANSWER_CHARS:
            self.pieces.append(delta)
            self.size += len(delta)
            if len(self.pieces) >= JOIN_EVERY:
                self.pieces = ["".join(self.pieces)]
        self.last = (self.last + delta)[-TAIL_CHARS * 2 :]

    def text(self) -> str:
        return "".join(self.pieces)


@dataclass
class _Run:
    texts: dict[str, _Text] = field(default_factory=dict)  # partID -> text, in arrival order
    steps: int = 0
    last_report_at: float = float("-inf")
    # What the throttle holds back: a message, or a part whose tail is taken when it is sent
    # (most deltas are held, so most tails would never be shown).
    pending: str | _Text | None = None
    flush_scheduled: bool = False
    stopped: bool = False  # aborted
    failed: str | None = None  # the sentence shown for its failure
    rejects: int = 0  # permission requests rejected whose tool has not failed yet
    rejected: list[str] = field(default_factory=list)  # the steps the user rejected


def one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    line = " ".join(text[-limit * 2 :].split())
    return line if len(line) <= limit else "…" + line[-(limit - 1) :]


_ERROR_PREFIX = re.compile(r"^[A-Z]\w*(?:Error|Exception): ")
_MISSING_MODEL = re.compile(r"Model not found: (\S+?)\.?(?:\s|$)")
MODEL_HINT = "opencode.model.select lists the ones it has"


def describe_failure(error: RunError | None) -> tuple[str, str]:
    """A run's error -> (one sentence to show, OpenCode's whole text for the log).

    OpenCode sends some failures twice, the second time as ``Name: message`` and a
    JavaScript stack trace; only the first line, without the name, is for a person."""
    detail = error.message if error is not None else None
    if detail is None and error is not None:
        detail = error.name
    detail = detail or "the run failed"
    first = next((line.strip() for line in detail.splitlines() if line.strip()), detail)
    first = _ERROR_PREFIX.sub("", first)
    model = error.model if error is not None else None  # ProviderModelNotFoundError
    if model is None and (match := _MISSING_MODEL.search(first)):
        model = match.group(1)
    if model is not None:
        # OpenCode's "Did you mean" names catalogue models this server may not have at all.
        return f"the server has no model {model}; {MODEL_HINT}.", detail
    return first, detail


class RunTracker:
    """Follows every session of one directory; remembers only runs in progress."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.runs: dict[str, _Run] = {}
        self.asked: set[str] = set()  # sessions whose answer the editor waits for
        self._roles: OrderedDict[str, str] = OrderedDict()  # messageID -> role
        # Sessions whose last run failed (and no run began since): OpenCode tells some
        # failures twice, the second time after the run ended.
        self._failed_last: OrderedDict[str, None] = OrderedDict()

    # --- inputs -------------------------------------------------------------------------------

    def expect_answer(self, session_id: str) -> None:
        self.asked.add(session_id)

    def on_event(self, event: Event, now: float) -> list[Action]:
        if type(event) is PartDelta:  # most events of a run: no pattern matching for them
            return self._delta(event, now)
        match event:
            case SessionStatus(session_id, state):
                return self._status(session_id, state, now)
            case RunEnded(session_id):
                return self._end(session_id)
            case SessionError(session_id, error):
                return self._failed(session_id, error)
            case PermissionReplied(session_id=session_id, reply=reply):
                run = self.runs.get(session_id) if session_id is not None else None
                if run is not None and reply == "reject":
                    run.rejects += 1  # the tool that asked fails next: it was rejected
            case MessageUpdated(info=info) if info.id is not None:
                self._remember_role(info.id, str(info.role))
            case PartUpdated(part=part):
                return self._part(part, now)
            case Connected(statuses=statuses) if statuses is not None:
                return self._connected(statuses, now)
        return []

    def _status(self, session_id: str, state: SessionState, now: float) -> list[Action]:
        if state.type == "busy":
            return self._begin(session_id)
        if state.type == "retry" and session_id in self.runs:
            message = f"retrying (attempt {state.attempt if state.attempt is not None else '?'})"
            if state.message is not None:
                message += f": {one_line(state.message, 60)}"
            return self._report(session_id, message, now)
        return []

    def _connected(self, statuses: Mapping[str, SessionState], now: float) -> list[Action]:
        """Nothing is replayed after a reconnect: end the runs no longer in progress, begin
        the ones that are."""
        actions: list[Action] = []
        for session_id in list(self.runs):
            if session_id not in statuses:
                actions += self._end(session_id)
        for session_id, state in statuses.items():
            if state.type == "idle":
                actions += self._end(session_id)
            else:
                actions += self._status(session_id, state, now)
        return actions

    def flush(self, session_id: str, now: float) -> list[Action]:
        """Send the report the throttle held back, if the run still wants it."""
        run = self.runs.get(session_id)
        if run is None:
            return []
        run.flush_scheduled = False
        if run.pending is None:
            return []
        message, run.pending = run.pending, None
        return self._report(session_id, message, now)

    def disconnected(self, message: str, replayed: bool = False) -> list[Action]:
        """The event stream is gone: end every run (nothing more will arrive for them).
        ``replayed``: the server replays what is missed (V2), so the answers still awaited
        will come after the reconnect: keep waiting for them."""
        actions: list[Action] = [
            RunProgress("end", session_id, "Disconnected from OpenCode") for session_id in self.runs
        ]
        self.runs.clear()
        if not replayed:
            self.asked.clear()  # their answers may never come: do not hold them forever
        actions.append(Status("disconnected", None, message))
        return actions

    # --- transitions --------------------------------------------------------------------------

    def _begin(self, session_id: str) -> list[Action]:
        if session_id in self.runs:
            return []
        self.runs[session_id] = _Run()
        self._failed_last.pop(session_id, None)
        return [RunProgress("begin", session_id, "working"), Status("busy", session_id)]

    def _end(self, session_id: str) -> list[Action]:
        run = self.runs.pop(session_id, None)
        if run is None:
            return []
        texts = (part.text() for part in run.texts.values())
        answer = "\n\n".join(text for text in texts if text.strip())
        asked = session_id in self.asked
        self.asked.discard(session_id)
        if run.failed is not None or run.stopped:
            # Not an answer: what it had written goes to the log, and the status says why.
            unfinished: list[Action] = []
            if asked:
                unfinished.append(Unfinished(session_id, answer, run.stopped))
            if run.failed is not None:
                end, status = "Failed", Status("error", session_id, run.failed)
            else:
                end, status = "Stopped", Status("idle", session_id, "stopped")
            return [RunProgress("end", session_id, end), *unfinished, status]
        if answer:
            summary = one_line(answer, 80)
        elif run.rejected:
            summary = f"stopped: you rejected {'; '.join(run.rejected)}"
        else:
            summary = f"{run.steps} step{'s' * (run.steps != 1)}"
        actions: list[Action] = [RunProgress("end", session_id, f"Done: {summary}")]
        if asked and answer:
            actions.append(Answer(session_id, answer))
        actions.append(Status("idle", session_id, summary))
        return actions

    def _failed(self, session_id: str | None, error: RunError | None) -> list[Action]:
        run = self.runs.get(session_id) if session_id is not None else None
        if error is not None and error.name == "MessageAbortedError":
            if run is not None:
                run.stopped = True  # the idle that follows ends the run as stopped
            return []
        message, detail = describe_failure(error)
        told = run.failed is not None if run is not None else session_id in self._failed_last
        if told:
            return [Logged(f"OpenCode run {session_id} failed: {detail}")]
        if run is not None:
            run.failed = message
        if session_id is not None:
            self._failed_last[session_id] = None
            while len(self._failed_last) > MAX_REMEMBERED_MESSAGES:
                self._failed_last.popitem(last=False)
        return [
            Failed(session_id, message, detail if detail != message else None),
            Status("error", session_id, message),
        ]

    def _part(self, part: Part, now: float) -> list[Action]:
        session_id = part.session_id
        run = self.runs.get(session_id) if session_id is not None else None
        if run is None or self._roles.get(str(part.message_id)) == "user":
            return []
        assert session_id is not None
        if part.type == "text" and part.text is not None:
            run.texts[str(part.id)] = _Text(part.text)
            return []
        if part.type == "tool":
            status = part.state.status
            if status == "running":
                run.steps += 1
                return self._report(session_id, self.describe_step(part), now)
            if status == "error" and run.rejects > 0:
                run.rejects -= 1
                run.rejected.append(self.describe_step(part))
                return self._report(session_id, self.describe_step(part) + ": rejected", now)
            if status == "error":
                return self._report(session_id, self.describe_step(part) + " failed", now)
        return []

    def _delta(self, delta: PartDelta, now: float) -> list[Action]:
        session_id = delta.session_id
        run = self.runs.get(session_id) if session_id is not None else None
        if run is None or delta.field != "text":
            return []
        if self._roles.get(str(delta.message_id)) == "user":
            return []
        assert session_id is not None
        part_id = str(delta.part_id)
        text = run.texts.get(part_id)
        if text is None:
            text = run.texts[part_id] = _Text()
        text.add(delta.delta)
        return self._report(session_id, text, now)

    def _report(self, session_id: str, message: str | _Text, now: float) -> list[Action]:
        run = self.runs[session_id]
        wait = run.last_report_at + MIN_REPORT_INTERVAL - now
        if wait > 0:
            run.pending = message
            if run.flush_scheduled:
                return []
            run.flush_scheduled = True
            return [FlushLater(session_id, wait)]
        run.last_report_at = now
        run.pending = None
        return [
            RunProgress(
                "report", session_id, message if isinstance(message, str) else tail(message.last)
            )
        ]

    def _remember_role(self, message_id: str, role: str) -> None:
        self._roles[message_id] = role
        self._roles.move_to_end(message_id)
        while len(self._roles) > MAX_REMEMBERED_MESSAGES:
            self._roles.popitem(last=False)

    # --- wording ------------------------------------------------------------------------------

    def describe_step(self, part: Part) -> str:
        """``edit a.py``, ``bash: pytest``: the step as a person would say it."""
        tool = part.tool or "tool"
        args = part.state.input
        if tool == "bash" and isinstance(args.get("command"), str):
            return f"bash: {one_line(args['command'], 60)}"
        for key in ("filePath", "path", "pattern", "url"):
            if isinstance(args.get(key), str):
                return f"{tool} {self._short_path(args[key])}"
        title = part.state.title
        return f"{tool}: {one_line(title, 60)}" if title else tool

    def _short_path(self, path: str) -> str:
        if self.root is not None:
            try:
                return Path(path).relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path
