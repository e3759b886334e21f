"""Progress: a run's events become ``$/progress`` (cancellable: cancelling aborts the run),
``opencode/status`` notifications, the answer as a message, and failures as sentences.

What to show is decided by the pure :class:`bridge.core.runs.RunTracker` of each folder; this
feature only sends it. It comes first in the feature list: the others see a run's state as the
tracker has it after the event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from lsprotocol import types

from bridge.core.runs import (
    Action,
    Answer,
    Begin,
    End,
    Failed,
    FlushLater,
    Logged,
    Report,
    Status,
    Unfinished,
    one_line,
)
from bridge.errors import OpenCodeError
from bridge.feature import Feature
from bridge.features.conversation import Conversation
from bridge.folders import Folder
from bridge.opencode.events import Event, PartDelta
from bridge.server import OpenCodeLanguageServer

log = logging.getLogger(__name__)

SHORT_ANSWER_CHARS = 200


class ProgressChannel:
    """One run's ``$/progress`` token. Begin waits for ``workDoneProgress/create``; what
    comes meanwhile is held (only the latest report) and sent after it."""

    def __init__(self, token: str, session_id: str) -> None:
        self.token = token
        self.session_id = session_id
        self.ready = False
        self.held_report: str | None = None
        self.held_end: str | None = None


class Progress(Feature):
    lsp_methods = {types.WINDOW_WORK_DONE_PROGRESS_CANCEL: "cancel"}

    def __init__(self, ls: OpenCodeLanguageServer) -> None:
        super().__init__(ls)
        # folder root -> sessionID -> its run's channel
        self.channels: defaultdict[str, dict[str, ProgressChannel]] = defaultdict(dict)
        self.token_counter = 0

    def on_event(self, folder: Folder, event: Event) -> None:
        now = asyncio.get_running_loop().time()
        self.run_actions(folder, folder.tracker.on_event(event, now))

    def on_text_delta(self, folder: Folder, delta: PartDelta) -> None:
        self.on_event(folder, delta)

    def on_disconnected(self, folder: Folder, error: OpenCodeError) -> None:
        self.run_actions(folder, folder.tracker.disconnected(str(error)))

    def run_actions(self, folder: Folder, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Begin):
                self.begin_progress(folder, action)
            elif isinstance(action, Report):
                self.report_progress(folder, action.session_id, action.message)
            elif isinstance(action, End):
                self.end_progress(folder, action.session_id, action.message)
            elif isinstance(action, FlushLater):
                loop = asyncio.get_running_loop()
                loop.call_later(action.delay, self.flush_progress, folder, action.session_id)
            elif isinstance(action, Status):
                self.ls.notify_status(action.state, action.session_id, action.message)
            elif isinstance(action, Answer):
                self.show_answer(folder, action)
            elif isinstance(action, Unfinished):
                self.show_unfinished(action)
            elif isinstance(action, Failed):
                if action.detail:  # OpenCode's own text (a stack trace): the log, not a message
                    log.warning("OpenCode run failed: %s", action.detail)
                self.ls.tell(types.MessageType.Error, f"OpenCode: {action.message}")
            elif isinstance(action, Logged):
                log.warning("%s", action.message)

    def flush_progress(self, folder: Folder, session_id: str) -> None:
        now = asyncio.get_running_loop().time()
        self.run_actions(folder, folder.tracker.flush(session_id, now))

    def show_answer(self, folder: Folder, answer: Answer) -> None:
        self.ls.window_log_message(
            types.LogMessageParams(type=types.MessageType.Info, message=answer.text)
        )
        if self.ls.get(Conversation).is_open(answer.session_id):
            return  # the conversation beside the code shows it whole
        shown = one_line(answer.text, SHORT_ANSWER_CHARS)
        self.ls.tell(types.MessageType.Info, f"OpenCode: {shown}")

    def show_unfinished(self, run: Unfinished) -> None:
        """A run asked for and stopped or failed: what it wrote is no answer; log it."""
        if run.text:
            why = "stopped" if run.stopped else "failed"
            self.ls.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Info,
                    message=f"(The run {why} before it finished; what it had written:)\n\n"
                    + run.text,
                )
            )
        if run.stopped:
            logged = " (what it had written is in the log)" if run.text else ""
            self.ls.tell(types.MessageType.Info, f"OpenCode: stopped before it finished{logged}.")

    def begin_progress(self, folder: Folder, action: Begin) -> None:
        window = self.ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        self.token_counter += 1
        token = f"opencode/{action.session_id}/{self.token_counter}"
        channel = ProgressChannel(token, action.session_id)
        self.channels[folder.root][action.session_id] = channel
        self.ls.background(self._begin_progress(channel, action), "showing progress")

    async def _begin_progress(self, channel: ProgressChannel, action: Begin) -> None:
        try:
            await self.ls.work_done_progress.create_async(channel.token)
        except Exception as exc:
            log.info("The client refused a progress token: %s", exc)
            return
        self.ls.work_done_progress.begin(
            channel.token,
            types.WorkDoneProgressBegin(
                title=action.title, message=action.message, cancellable=True
            ),
        )
        channel.ready = True
        if channel.held_report is not None:
            self._send_report(channel, channel.held_report)
        if channel.held_end is not None:
            self._send_end(channel, channel.held_end)

    def report_progress(self, folder: Folder, session_id: str, message: str) -> None:
        self._send_or_hold(self.channels[folder.root].get(session_id), message, end=False)

    def end_progress(self, folder: Folder, session_id: str, message: str) -> None:
        self._send_or_hold(self.channels[folder.root].pop(session_id, None), message, end=True)

    def _send_or_hold(self, channel: ProgressChannel | None, message: str, *, end: bool) -> None:
        if channel is None:
            return
        if channel.ready:
            (self._send_end if end else self._send_report)(channel, message)
        elif end:
            channel.held_end = message
        else:
            channel.held_report = message

    def _send_report(self, channel: ProgressChannel, message: str) -> None:
        self.ls.work_done_progress.report(
            channel.token, types.WorkDoneProgressReport(message=message, cancellable=True)
        )

    def _send_end(self, channel: ProgressChannel, message: str) -> None:
        self.ls.work_done_progress.end(channel.token, types.WorkDoneProgressEnd(message=message))
        self.ls.work_done_progress.tokens.pop(channel.token, None)

    def cancel(self, params: types.WorkDoneProgressCancelParams) -> None:
        """The user cancelled a run's progress: abort the run."""
        for folder in self.ls.folders.values():
            for session_id, channel in self.channels[folder.root].items():
                if channel.token == params.token and folder.connected:
                    self.ls.background(folder.client.abort(session_id), "aborting the run")
                    return
