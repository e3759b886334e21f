"""Start a real ``opencode serve`` for tests, offline, against a scripted model.

    model = ScriptedModelService().start()
    repo = make_git_repo(tmp_path / "repo")
    with RealOpenCode(repo, model_base_url=model.base_url,
                      permission={"edit": "ask", "bash": "ask"}) as server:
        httpx.get(server.url + "/global/health", auth=server.auth)

Fixtures for conftest files or test modules (import them by name):
``scripted_model``, ``git_repo``, ``start_opencode`` (a factory; every server it
starts is stopped at teardown).  :class:`EventStream` follows ``GET /event``.

Things the real 1.18.33 server does that this module works around:

* A connection accepted before the server prints ``opencode server listening on
  ...`` is never answered.  We wait for that line, then probe
  ``/global/health`` with a short read timeout and retry.
* Every instance start runs a background ``npm install @opencode-ai/plugin`` in
  the config folder, which offline hangs (and delays SIGTERM) until a network
  timeout.  :func:`bridge.demo.scripted_model.isolated_env` pre-seeds that folder.
* ``OPENCODE_*`` variables inherited from the developer's shell would change the
  server (inline config, password, permissions): they are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.demo.driver import find_opencode
from bridge.demo.scripted_model import isolated_env, opencode_config
from tests.support.service import ScriptedModelService, Service

__all__ = [
    "INSTALL_HINT",
    "OPENCODE_VERSION",
    "SAMPLE_FILES",
    "EventStream",
    "RealOpenCode",
    "free_port",
    "git_repo",
    "make_git_repo",
    "opencode_binary",
    "require_opencode",
    "scripted_model",
    "start_opencode",
]

OPENCODE_VERSION = "1.18.33"
INSTALL_HINT = (
    "run `bash .ci/setup` from the repository root (it installs the pinned "
    f"opencode-ai@{OPENCODE_VERSION}), or point OPENCODE_BIN at an opencode binary"
)
_LISTENING = re.compile(r"opencode server listening on (http://\S+)")


# ------------------------------------------------------------------------ binaries


def opencode_binary() -> str | None:
    """The ``opencode`` to test with: the same one the demo finds (``$OPENCODE_BIN``, the
    repository's ``.cache/opencode`` install, ``opencode`` on ``PATH``)."""
    return find_opencode()


def require_opencode() -> str:
    """The binary, or fail (when ``$CI`` is set) / skip the test if there is none."""
    binary = opencode_binary()
    if binary is not None:
        return binary
    message = f"opencode binary not found: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parents() -> dict[int, int]:
    """pid -> parent pid of every visible process."""
    found: dict[int, int] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            found[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        return found
    listing = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        pid, _, ppid = line.strip().partition(" ")
        if pid.isdigit() and ppid.strip().isdigit():
            found[int(pid)] = int(ppid.strip())
    return found


def _start_time(pid: int) -> str | None:
    """An identity for a live ``pid`` that changes if the id is reused
    (``None`` once it has exited, zombies included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError, ValueError):
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return "alive"


def _descendants(root: int) -> list[tuple[int, str]]:
    """``(pid, start time)`` of every process below ``root``."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[tuple[int, str]] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        started = _start_time(pid)
        if started is not None:
            found.append((pid, started))
        todo.extend(children.get(pid, []))
    return found


# ---------------------------------------------------------------------------- repo

SAMPLE_FILES = {
    "src/a.py": (
        "import math\n"
        "\n"
        "def foo(x):\n"
        "    return math.sqrt(x) + 42\n"
        "\n"
        "\n"
        "def bar():\n"
        "    return foo(4)\n"
    ),
    "src/b.py": "GREETING = 'hello'\n\n\ndef greet(name):\n    return f'{GREETING}, {name}'\n",
    "README.md": "# sample\n\nA tiny repository for OpenCode tests.\n",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )


def make_git_repo(path: Path, files: Mapping[str, str] | None = None) -> Path:
    """A fresh git repository at ``path`` with a few source files
    (default: ``src/a.py``, ``src/b.py``, ``README.md``) and one commit.

    The author is configured locally, so it works on a machine without a
    global git identity.  Returns the resolved path.
    """
    repo = Path(path)
    repo.mkdir(parents=True, exist_ok=True)
    repo = repo.resolve()
    for name, text in (files if files is not None else SAMPLE_FILES).items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "OpenCode Tests")
    _git(repo, "config", "user.email", "tests@example.invalid")
    _git(repo, "config", "commit.gpgsign", "false")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial commit")
    return repo


# -------------------------------------------------------------------------- server


class RealOpenCode(Service):
    """A real ``opencode serve`` on 127.0.0.1, isolated in a temporary folder.

    ``directory`` is the project (usually from :func:`make_git_repo`); the
    server runs there.  With ``model_base_url`` an ``opencode.json`` using the
    scripted ``mock/mock-model`` (and ``permission`` rules) is written into it;
    pass ``config`` to write any other ``opencode.json``.

    Data, config and state live under ``base_dir`` (by default a new temporary
    folder, removed by :meth:`stop` unless startup failed); it also holds
    ``opencode.log``, the server's stdout and stderr.
    ``cache_dir`` shares an ``XDG_CACHE_HOME`` between servers; OpenCode 1.18
    keeps almost nothing there, so it brings no speed-up.
    """

    def __init__(
        self,
        directory: Path,
        *,
        model_base_url: str | None = None,
        permission: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        password: str | None = None,
        username: str | None = None,
        env: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
        cache_dir: Path | None = None,
        binary: str | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.directory = Path(directory).resolve()
        self.password = password
        self.username = username
        self.binary = binary
        self.port = port
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self._config: Mapping[str, Any] | None = config
        if config is None and model_base_url is not None:
            self._config = opencode_config(model_base_url, dict(permission or {}) or None)
        self._extra_env = dict(env or {})
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="opencode-"))
        self.cache_dir = cache_dir
        self.log_path = self.base_dir / "opencode.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._url = ""
        self._started = 0.0
        self.env: dict[str, str] = {}
        self.startup_seconds: float | None = None
        """Seconds from spawn until ``/global/health`` answered."""
        self.listening_seconds: float | None = None
        """Seconds from spawn until the ``listening`` line."""
        self._log_file: Any = None
        self._keep_files = False
        self._log_start = 0

    # -- lifecycle (see tests/support/service.py)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` as the server printed it ("" before ``start()``)."""
        return self._url

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self) -> RealOpenCode:
        """Spawn the server and wait until it is healthy (raises ``RuntimeError``
        with the tail of its log otherwise)."""
        super().start()
        return self

    def _launch(self) -> None:
        binary = self.binary or require_opencode()
        if self._config is not None:
            (self.directory / "opencode.json").write_text(json.dumps(self._config, indent=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
        env.update(isolated_env(self.base_dir / "env"))
        if self.cache_dir is not None:
            Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
            env["XDG_CACHE_HOME"] = str(self.cache_dir)
        if self.password is not None:
            env["OPENCODE_SERVER_PASSWORD"] = self.password
        if self.username is not None:
            env["OPENCODE_SERVER_USERNAME"] = self.username
        env.update(self._extra_env)
        self.env = env
        port = self.port or free_port()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_start = self._log_file.tell()  # a reused base_dir keeps older runs' logs
        self._started = time.monotonic()
        self.listening_seconds = self.startup_seconds = None
        self.process = subprocess.Popen(
            [binary, "serve", "--hostname", "127.0.0.1", "--port", str(port), *self.extra_args],
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() leaves no orphans
        )
        self._url = f"http://127.0.0.1:{port}"

    def _probe(self) -> str | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"opencode serve exited with code {self.process.returncode} during "
                f"startup{self._failure_detail()}"
            )
        if self.listening_seconds is None:
            # Connections accepted before this line hang forever.
            match = _LISTENING.search(self._log_since_start())
            if match is None:
                return "no `listening` line yet"
            self.listening_seconds = time.monotonic() - self._started
            self._url = match.group(1).rstrip("/")
        try:
            response = httpx.get(
                self.url + "/global/health",
                auth=self.auth,
                timeout=httpx.Timeout(2.0, connect=0.5),
            )
            if response.status_code == 200 and response.json().get("healthy") is True:
                self.startup_seconds = time.monotonic() - self._started
                return None
            return f"HTTP {response.status_code}: {response.text[:200]}"
        except (httpx.HTTPError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def _failure_detail(self) -> str:
        return f"; log {self.log_path}:\n{self.log_tail()}"

    def _abandon(self) -> None:
        self._keep_files = True  # keep the log for whoever reads the error
        self.stop()

    def _halt(self) -> None:
        self.stop()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; then SIGKILL every
        process it started.  OpenCode runs bash tool commands in their own
        sessions and leaves them running when it exits, so descendants are
        collected (by parent id) before the server is stopped."""
        process, self.process = self.process, None
        if process is not None:
            children = _descendants(process.pid) if process.poll() is None else []
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    process.wait(5)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            left = [c for c in children if _start_time(c[0]) == c[1]]  # not a reused id
            for pid, _ in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 2
            while left and time.monotonic() < deadline:
                time.sleep(0.02)
                left = [c for c in left if _start_time(c[0]) == c[1]]
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_base and not self._keep_files:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- access

    @property
    def auth(self) -> tuple[str, str] | None:
        """Basic-auth credentials for httpx, or ``None`` when auth is off."""
        if self.password is None:
            return None
        return (self.username or "opencode", self.password)

    def client(self, **kwargs: Any) -> httpx.Client:
        """A sync client with the base URL and auth set."""
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, auth=self.auth, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An async client with the base URL and auth set."""
        kwargs.setdefault("timeout", 30.0)
        return httpx.AsyncClient(base_url=self.url, auth=self.auth, **kwargs)

    def _log_since_start(self) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._log_start)
                return handle.read(65536).decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server's stdout and stderr."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 200 * lines))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -------------------------------------------------------------------------- events


class EventStream:
    """Follows ``GET /event`` (or V2's ``GET /api/event``: ``path="/api/event"``) in a
    background task and keeps every event.

    async with EventStream(server) as events:
        ...
        asked = await events.wait_for("permission.asked")
    """

    def __init__(
        self, server: RealOpenCode, *, directory: Path | None = None, path: str = "/event"
    ) -> None:
        self._server = server
        self._directory = directory
        self._path = path
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._run())
        await self.wait_for("server.connected", timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        from httpx_sse import aconnect_sse

        params = {"directory": str(self._directory)} if self._directory else None
        try:
            async with self._server.async_client(timeout=httpx.Timeout(None)) as client:
                async with aconnect_sse(client, "GET", self._path, params=params) as source:
                    async for sse in source.aiter_sse():
                        if not sse.data:
                            continue
                        event = json.loads(sse.data)
                        async with self._changed:
                            self.events.append(event)
                            self._changed.notify_all()
        except Exception as exc:  # surfaced by wait_for
            self._error = exc
            async with self._changed:
                self._changed.notify_all()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Events of one type received so far."""
        return [e for e in self.events if e.get("type") == kind]

    async def wait_for(
        self,
        kind: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 15.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first event of type ``kind`` (from index ``after`` on) whose ``properties``
        (V2: ``data``) satisfy ``where``; waits up to ``timeout`` seconds."""

        def find() -> dict[str, Any] | None:
            for event in self.events[after:]:
                body: dict[str, Any] = event.get("properties", event.get("data")) or {}
                if event.get("type") == kind and (where is None or where(body)):
                    return event
            return None

        async def wait() -> dict[str, Any]:
            async with self._changed:
                while (found := find()) is None:
                    if self._error is not None:
                        raise RuntimeError(f"event stream failed: {self._error!r}")
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            seen = [e.get("type") for e in self.events[after:]]
            raise AssertionError(f"no {kind} event within {timeout}s; saw {seen}") from None


# ------------------------------------------------------------------------ fixtures


@pytest.fixture
def scripted_model() -> Iterator[ScriptedModelService]:
    """A running scripted model (:class:`ScriptedModel`, as a :class:`Service`)."""
    with ScriptedModelService() as model:
        yield model


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A fresh git repository (see :func:`make_git_repo`)."""
    return make_git_repo(tmp_path / "repo")


@pytest.fixture
def start_opencode(tmp_path: Path) -> Iterator[Callable[..., RealOpenCode]]:
    """A factory ``start_opencode(directory, **RealOpenCode kwargs)`` that
    starts real servers and stops them all at teardown."""
    require_opencode()
    servers: list[RealOpenCode] = []

    def start(directory: Path, **kwargs: Any) -> RealOpenCode:
        kwargs.setdefault("base_dir", tmp_path / f"opencode-{len(servers)}")
        server = RealOpenCode(directory, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.stop()
