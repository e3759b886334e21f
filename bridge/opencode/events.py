"""Keep one event stream open per connected directory, reconnecting when it drops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.errors import OpenCodeError
from bridge.opencode.client import OpenCodeClient

log = logging.getLogger(__name__)

# The server sends nothing again after a reconnect, so a short cap keeps the gap small: a
# server that comes back is seen within about half a second.
BACKOFF_START = 0.05
BACKOFF_MAX = 0.5


class EventStream:
    """Reads ``GET /event`` forever; reports each event, each (re)connection and each drop.

    ``on_connected`` runs after every successful connection, so the caller can refetch what
    the server does not replay (statuses, pending permissions and questions).
    ``on_disconnected`` runs once per drop, not once per failed retry.
    """

    def __init__(
        self,
        client: OpenCodeClient,
        on_event: Callable[[dict[str, Any]], None],
        on_connected: Callable[[], Awaitable[None]],
        on_disconnected: Callable[[OpenCodeError], None],
    ) -> None:
        self.client = client
        self.on_event = on_event
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.connected = False

    async def run(self) -> None:
        backoff = BACKOFF_START
        while True:
            try:
                async for event in self.client.events():
                    if event["type"] == "server.connected":
                        self.connected = True
                        backoff = BACKOFF_START
                        await self._guarded(self.on_connected())
                        continue
                    try:
                        self.on_event(event)
                    except Exception:  # one event the bridge mishandles must not end the stream
                        log.exception("Failed to handle event %s", event.get("type"))
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

    @staticmethod
    async def _guarded(work: Awaitable[None]) -> None:
        try:
            await work
        except OpenCodeError as exc:
            log.warning("Refetching state after connecting failed: %s", exc)
        except Exception:
            log.exception("Refetching state after connecting failed")
