"""Keep one event stream open per connected directory, reconnecting when it drops."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bridge.errors import OpenCodeError
from bridge.opencode.client import OpenCodeClient
from bridge.opencode.events import (
    Connected,
    Event,
    PartDelta,
    PartUpdated,
    RunEnded,
    SessionError,
    SessionStatus,
    parse_event,
)
from bridge.opencode.events_v2 import ToolCalls, durable_seq, parse_event_v2
from bridge.opencode.models import SessionState

log = logging.getLogger(__name__)
T = TypeVar("T")

# The server sends nothing again after a reconnect, so a short cap keeps the gap small: a
# server that comes back is seen within about half a second.
BACKOFF_START = 0.05
BACKOFF_MAX = 0.5
MAX_FOLLOWED = 50  # sessions whose missed events a reconnect asks for
RESUMING = (PartUpdated, RunEnded, SessionError)  # missed events of a run that went on


class EventStream:
    """Reads ``GET /event`` forever; reports each event, typed, and each drop.

    After every successful connection it fetches, once, what the server does not replay
    (statuses, pending permissions and questions, and its paths) and reports it as one
    :class:`~bridge.opencode.events.Connected` before any other event of that connection.
    ``on_connected`` runs just before it; ``on_disconnected`` runs once per drop, not once per
    failed retry.
    """

    def __init__(
        self,
        client: OpenCodeClient,
        on_event: Callable[[Event], None],
        on_disconnected: Callable[[OpenCodeError], None],
        on_connected: Callable[[], None] = lambda: None,
        on_text_delta: Callable[[PartDelta], None] | None = None,
    ) -> None:
        self.client = client
        self.on_event = on_event
        self.on_disconnected = on_disconnected
        self.on_connected = on_connected
        # A run streams its text as thousands of small deltas: they may go their own way.
        self.on_text_delta = on_text_delta or on_event
        self.connected = False
        # V2 numbers each session's durable events: the last seen, per session (the sessions
        # seen most recently), so what a reconnect missed can be asked for.
        self.last_seq: OrderedDict[str, int] = OrderedDict()
        self.tool_calls = ToolCalls()  # V2 names a call's tool and input only when it starts

    async def run(self) -> None:
        backoff = BACKOFF_START
        while True:
            try:
                async for wire in self.client.events():
                    if wire["type"] == Connected.WIRE:
                        self.connected = True
                        backoff = BACKOFF_START
                        refetched, missed = await asyncio.gather(self.refetch(), self.missed())
                        self.on_connected()
                        self._deliver(refetched, wire["type"])
                        self._deliver_missed(missed)  # before anything newer
                        continue
                    try:
                        events = self._parse(wire)
                    except Exception:  # one event the bridge cannot read must not end the stream
                        log.exception("Failed to read event %s", wire["type"])
                        continue
                    for event in events:
                        self._deliver(event, wire["type"])
                error: OpenCodeError = OpenCodeError(
                    f"The event stream of OpenCode at {self.client.base_url} ended; reconnecting."
                )
            except OpenCodeError as exc:
                error = exc
            if self.connected:
                self.connected = False
                log.info("Event stream dropped: %s", error)
                try:
                    self.on_disconnected(error)
                except Exception:  # a failing callback must not end the reconnect loop
                    log.exception("Failed to handle the loss of the event stream")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _parse(self, wire: dict[str, Any]) -> tuple[Event, ...]:
        if self.client.dialect != "v2":
            return (parse_event(wire),)
        if (numbered := durable_seq(wire)) is not None:
            session_id, seq = numbered
            if seq <= self.last_seq.get(session_id, -1):
                return ()  # seen before (a replay): delivered once only
            self.last_seq[session_id] = seq
            self.last_seq.move_to_end(session_id)
            while len(self.last_seq) > MAX_FOLLOWED:
                self.last_seq.popitem(last=False)
        return parse_event_v2(wire, self.tool_calls)

    async def missed(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """What the server numbered after the last event seen of each session followed (V2
        replays it), by session."""
        followed = list(self.last_seq.items())
        replays = await asyncio.gather(
            *(
                _guarded(self.client.missed_events(session_id, seq), "missed events")
                for session_id, seq in followed
            )
        )
        pairs = zip(followed, replays, strict=True)
        return [(session_id, frames or []) for (session_id, _), frames in pairs]

    def _deliver_missed(self, missed: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """Each session's missed events, in order, each once (``_parse`` drops a number it
        has seen). The runs were ended when the stream dropped: one the missed events go on
        with (or end) is begun again first, so its answer is told."""
        for session_id, frames in missed:
            events = [(event, frame["type"]) for frame in frames for event in self._parse(frame)]
            if any(isinstance(event, RESUMING) for event, _ in events):
                self._deliver(SessionStatus(session_id, SessionState("busy")), "replay")
            for event, kind in events:
                self._deliver(event, kind)

    def _deliver(self, event: Event, kind: str) -> None:
        try:
            if type(event) is PartDelta:
                self.on_text_delta(event)
            else:
                self.on_event(event)
        except Exception:  # one event the bridge mishandles must not end the stream
            log.exception("Failed to handle event %s", kind)

    async def refetch(self) -> Connected:
        """What is in progress now, each part ``None`` if fetching it failed."""
        client = self.client
        statuses, permissions, questions, path = await asyncio.gather(
            _guarded(client.session_status(), "session statuses"),
            _guarded(client.pending_permissions(), "pending permissions"),
            _guarded(client.pending_questions(), "pending questions"),
            _guarded(client.path(), "the server's paths"),
        )
        return Connected(statuses, permissions, questions, path)


async def _guarded(work: Awaitable[T], what: str) -> T | None:
    try:
        return await work
    except OpenCodeError as exc:
        log.warning("Refetching %s after connecting failed: %s", what, exc)
    except Exception:
        log.exception("Refetching %s after connecting failed", what)
    return None
