"""A workspace folder and its link to OpenCode."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import NotConnected

if TYPE_CHECKING:  # loaded on connecting, not before initialize is answered (benchmark 1)
    from bridge.core.runs import RunTracker
    from bridge.opencode.client import OpenCodeClient


class Folder:
    """A workspace folder: its current session and runs, kept across reconnects, and while
    connected its OpenCode client and event stream."""

    def __init__(self, root: str) -> None:
        from bridge.core.runs import RunTracker  # with the typed events: after initialize

        self.root = root
        self.session_id: str | None = None
        self.tracker: RunTracker = RunTracker(Path(root))
        self.stream_task: asyncio.Task[None] | None = None
        self._client: OpenCodeClient | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> OpenCodeClient:
        """The folder's client; asked before the connection is made, a sentence saying so."""
        if self._client is None:
            raise NotConnected()
        return self._client

    def link(self, client: OpenCodeClient | None) -> None:
        self._client = client
