"""One start/stop shape for every server the tests run on 127.0.0.1: the scripted fake OpenCode,
the real ``opencode serve`` and the scripted model.

A :class:`Service` is a context manager with ``start()`` (which returns only once the service
answers), ``stop()``, ``close()``, ``running`` and ``url``. A subclass says how to launch and halt
itself and, when launching returns before the service answers, how to probe it.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TypeVar

from bridge.demo.scripted_model import ScriptedModel

__all__ = ["ScriptedModelService", "Service"]

S = TypeVar("S", bound="Service")


class Service:
    """Base of the servers tests start. Subclasses implement `url`, `running`, `_launch` and
    `_halt`; `_probe` and `_failure_detail` when start-up takes time."""

    startup_timeout: float = 30.0
    """Seconds `start()` waits for `_probe()` to say the service is ready."""

    @property
    def url(self) -> str:
        """The service's address, ``http://127.0.0.1:PORT``."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the service was started and not stopped."""
        raise NotImplementedError

    def _launch(self) -> None:
        """Begin serving (may return before the service answers)."""
        raise NotImplementedError

    def _halt(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def _probe(self) -> str | None:
        """None once the service answers, else why not yet (raise when it never will)."""
        return None

    def _failure_detail(self) -> str:
        """What to add to a start-up failure (a log tail, say)."""
        return ""

    def start(self: S) -> S:
        """Launch and wait until ready; a service that does not get ready is halted again."""
        if self.running:
            return self
        self._launch()
        try:
            self.wait_until_ready()
        except BaseException:
            self._abandon()
            raise
        return self

    def _abandon(self) -> None:
        """Clean up after a start-up that failed."""
        self._halt()

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Poll `_probe()` until it reports ready; RuntimeError after `timeout` seconds."""
        limit = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while (why := self._probe()) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{type(self).__name__} not ready after {limit:.0f}s ({why})"
                    + self._failure_detail()
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (a stopped service may be started again, unless closed)."""
        if self.running:
            self._halt()

    def close(self) -> None:
        """Stop for good."""
        self.stop()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ScriptedModelService(Service, ScriptedModel):
    """The scripted OpenAI-compatible model (bridge/demo/scripted_model.py) as a `Service`: its
    own start and close do the work; `url` is the provider's base URL (``.../v1``)."""

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def running(self) -> bool:
        try:
            _ = self.port
        except RuntimeError:
            return False
        return True

    def _launch(self) -> None:
        ScriptedModel.start(self)

    def _halt(self) -> None:
        ScriptedModel.close(self)

    def close(self) -> None:
        ScriptedModel.close(self)  # also releases streams held by a script, running or not
