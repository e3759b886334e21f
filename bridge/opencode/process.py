"""Start a private ``opencode serve`` for one workspace, and make sure it dies with us."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence

from bridge.errors import OpenCodeNotInstalled, ServerStartFailed
from bridge.opencode.client import OpenCodeClient

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the bridge dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class SpawnedServer:
    """An ``opencode serve`` the bridge started: loopback only, with a fresh password."""

    def __init__(self, command: Sequence[str], directory: str, username: str = "opencode"):
        self.command = list(command)
        self.directory = directory
        self.username = username
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self._relay: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, environ: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        env = dict(os.environ if environ is None else environ)
        env["OPENCODE_SERVER_PASSWORD"] = self.password
        env["OPENCODE_SERVER_USERNAME"] = self.username
        argv = [*self.command, "serve", "--hostname", "127.0.0.1", "--port", str(self.port)]
        try:
            # stdout is the LSP channel: the server's output is read here and logged.
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.directory,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=sys.stderr.fileno(),
                preexec_fn=_die_with_parent,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise OpenCodeNotInstalled(
                f"Cannot start OpenCode: {self.command[0]!r} was not found. Install it with "
                "`npm install -g opencode-ai`, or set the `command` setting to its path."
            ) from exc
        log.info("Started %s (pid %s) for %s", argv[:2], self.process.pid, self.directory)
        listening = asyncio.Event()
        self._relay = asyncio.ensure_future(self._relay_output(self.process, listening))
        await self._wait_healthy(listening)

    @staticmethod
    async def _relay_output(process: asyncio.subprocess.Process, listening: asyncio.Event) -> None:
        """Log the server's stdout, and tell when it says it listens: a connection made
        before that line hangs (seen with 1.18.33), so probing starts only then."""
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if "listening on" in line:
                listening.set()
            log.info("opencode: %s", line)

    def _exit_error(self) -> ServerStartFailed | None:
        if self.process is None or self.process.returncode is None:
            return None
        return ServerStartFailed(
            f"`{' '.join(self.command)} serve` exited with code {self.process.returncode}; "
            "run it in a terminal to see why."
        )

    async def _wait_healthy(self, listening: asyncio.Event) -> None:
        client = OpenCodeClient(
            self.url, self.directory, username=self.username, password=self.password, timeout=2
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HEALTH_TIMEOUT
        try:
            while loop.time() < deadline:
                if error := self._exit_error():
                    raise error
                if not listening.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(listening.wait(), 0.1)
                    continue
                with contextlib.suppress(Exception):
                    if (await client.health()).healthy:
                        return
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        await self.stop()
        raise ServerStartFailed(
            f"`{' '.join(self.command)} serve` did not become healthy within "
            f"{HEALTH_TIMEOUT:.0f} s; run it in a terminal to see why."
        )

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 3.0)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    @property
    def exit_code(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def terminate_now(self, grace: float = 0.5) -> None:
        """Synchronous stop for when the event loop is gone (exit, SIGTERM): SIGTERM, and
        SIGKILL if it is still there after ``grace`` seconds. Leaves no orphan."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        pid = process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        waited = threading.Event()
        for _ in range(int(grace / 0.02)):
            try:
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    return
            except ChildProcessError:  # already reaped by the event loop's child watcher
                return
            waited.wait(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
