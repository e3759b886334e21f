"""A scripted fake of `opencode serve` 1.18.33, for tests and benchmarks.

Tests run against the real server wherever it can produce a case. This fake is for the cases it
cannot be made to produce: faults, garbage on the event stream, malicious diffs, precise timing,
floods of events, 401s, HTML catch-all answers, a server that goes away and comes back.

It speaks the real server's v1 HTTP API closely enough for the bridge (shapes follow the OpenAPI
document of 1.18.33), keeps sessions, pending permissions and questions in memory, and publishes
the matching bus events on `GET /event` (`data: <json>\\n\\n` frames, chunked, first
`server.connected`, then `server.heartbeat` every `heartbeat_interval` seconds).

It is stdlib only: a `ThreadingHTTPServer` in a daemon thread, one thread per connection. Each event
stream has a bounded outgoing buffer; a publisher waits while a subscriber's buffer is full (so a
flood cannot grow memory), and a subscriber that stays full for `slow_subscriber_timeout` seconds is
cut off. Scripts (prompt runs, `run_script`, `stream_events`) play in order on one worker thread.

Typical use::

    with FakeOpenCode(tmp_path, password="secret") as fake:
        session = fake.create_session()
        ...  # point the code under test at fake.url
        request = fake.wait_for_request("POST", f"/session/{session['id']}/prompt_async")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import copy
import fnmatch
import hashlib
import itertools
import json
import logging
import random
import re
import select
import socket
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Union
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "VERSION",
    "Fault",
    "FakeOpenCode",
    "Pause",
    "PromptCall",
    "PromptScript",
    "RecordedRequest",
    "Step",
    "error_body",
    "event",
]

VERSION = "1.18.33"
"""The server version the fake claims in `/global/health` and in sessions."""

_log = logging.getLogger(__name__)

_JSON_TYPE = "application/json"
_HTML_TYPE = "text/html; charset=utf-8"
_CATCH_ALL_HTML = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OpenCode</title>'
    b'</head><body><div id="root"></div><script type="module" src="/assets/index.js">'
    b"</script></body></html>"
)
# A frame cut in the middle, as a server dying mid-write leaves it.
_CUT_FRAME = b'data: {"id":"evt_cut","type":"message.part.delta","properties":{"sessi'
_TUI_COMMAND_ALIASES = {
    "session_new": "session.new",
    "session_share": "session.share",
    "session_interrupt": "session.interrupt",
    "session_compact": "session.compact",
    "messages_page_up": "session.page.up",
    "messages_page_down": "session.page.down",
    "messages_line_up": "session.line.up",
    "messages_line_down": "session.line.down",
    "messages_half_page_up": "session.half.page.up",
    "messages_half_page_down": "session.half.page.down",
    "messages_first": "session.first",
    "messages_last": "session.last",
    "agent_cycle": "agent.cycle",
}
# `POST /tui/<name>` routes without a body, and the command each one publishes (1.18.33 really
# publishes "session.list" for open-themes).
_TUI_PLAIN_COMMANDS = {
    "open-help": "help.show",
    "open-sessions": "session.list",
    "open-themes": "session.list",
    "open-models": "model.list",
    "submit-prompt": "prompt.submit",
    "clear-prompt": "prompt.clear",
}
_TUI_EVENT_TYPES = frozenset(
    {"tui.prompt.append", "tui.command.execute", "tui.toast.show", "tui.session.select"}
)
_OBSERVED_EVENT_TYPES = frozenset(
    {"session.status", "session.idle", "message.updated", "message.part.updated"}
)
_PERMISSION_REPLIES = ("once", "always", "reject")


# --------------------------------------------------------------------------------------------
# Public value types


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, recorded before any fault or delay applied to it."""

    seq: int
    """Position in the fake's life, from 0: later requests have larger numbers."""
    method: str
    path: str
    """URL-decoded path, without the query."""
    query: dict[str, str]
    """Decoded query parameters (first value of each)."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """The body parsed as JSON, or None when it is empty or not JSON."""
    raw_body: bytes
    received_at: float
    """`time.monotonic()` when the request was read."""


@dataclass(frozen=True)
class Pause:
    """A script step: wait this many seconds before the next step (cut short by `close()`)."""

    seconds: float


@dataclass(frozen=True)
class PromptCall:
    """A prompt the fake accepted (`prompt_async` or the synchronous `POST .../message`)."""

    session_id: str
    message_id: str
    """The user message's id: the body's `messageID`, else one the fake made up."""
    body: dict[str, Any]


Step = Union[Mapping[str, Any], bytes, Pause, Callable[["FakeOpenCode"], None]]  # noqa: UP007
"""A script step: an event to publish (an `id` is added when missing), raw bytes for the event
streams (no framing added), a `Pause`, or a callable given the fake (for anything else, such as
`ask_permission`)."""

PromptScript = Callable[[PromptCall], Iterable[Step]]
"""What a prompt plays on the event stream: given the prompt, the steps to play."""


@dataclass
class Fault:
    """A scripted answer for matching requests, registered by `FakeOpenCode.fail`."""

    method: str
    path_prefix: str
    status: int | None
    body: bytes
    content_type: str | None
    delay: float
    times: int | None
    """Answers left; None for every matching request."""
    disconnect: bool
    hits: int = 0
    """How many requests this fault answered so far."""

    def matches(self, method: str, path: str) -> bool:
        """Whether the fault applies to a request (method "*" matches any)."""
        return (self.method == "*" or self.method == method) and path.startswith(self.path_prefix)


def event(type_: str, **properties: Any) -> dict[str, Any]:
    """An event for `publish` or a script: `{"type": type_, "properties": {...}}`."""
    return {"type": type_, "properties": properties}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The error body the real server sends with `status` (400, 401, 404, 409, 500...)."""
    if status == 401:
        return {"_tag": "UnauthorizedError", "message": message or "Authentication required"}
    if status == 400:
        return {"name": "BadRequest", "data": {"message": message or "Bad request", "kind": "Body"}}
    if status == 404:
        return {"name": "NotFoundError", "data": {"message": message or "Not found"}}
    if status == 409:
        return {"_tag": "SessionBusyError", "sessionID": "", "message": message or "Session busy"}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return {"name": "UnknownError", "data": {"message": message or phrase, "ref": "err_fake"}}


# --------------------------------------------------------------------------------------------
# Internals: replies, subscribers, the HTTP server


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None


def _json_reply(value: Any, status: int = 200) -> _Reply:
    return _Reply(status, _dumps(value), _JSON_TYPE)


def _error(status: int, message: str | None = None) -> _Reply:
    return _json_reply(error_body(status, message), status)


@dataclass(frozen=True)
class _EventStream:
    """A route answer meaning: serve an event stream (wrapped as `/global/event` or not)."""

    wrap_global: bool


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    directory: str
    """The instance directory the request asked for (query, else header, else the fake's)."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _frame(value: Any) -> bytes:
    return b"data: " + _dumps(value) + b"\n\n"


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Subscriber:
    """One open event stream: a bounded queue of frames and the socket they go to."""

    def __init__(self, sock: socket.socket, wrap_global: bool, limit: int) -> None:
        self.sock = sock
        self.wrap_global = wrap_global
        self._limit = limit
        self._cond = threading.Condition()
        self._frames: deque[bytes] = deque()
        self._size = 0
        self._ending: str | None = None  # "end" (clean end of body) or "cut" (mid-frame)
        self.dead = False
        self.finished = threading.Event()

    def offer(self, frame: bytes, stall_timeout: float) -> None:
        """Queue a frame; wait while the queue is full; drop the subscriber if it stays full."""
        with self._cond:
            if self.dead or self._ending:
                return
            if self._size and self._size + len(frame) > self._limit:
                deadline = time.monotonic() + stall_timeout
                while self._size and self._size + len(frame) > self._limit:
                    if self.dead or self._ending:
                        return
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        _log.warning("fake opencode: dropping an event stream that stopped reading")
                        self.kill()
                        return
                    self._cond.wait(remaining)
            self._frames.append(frame)
            self._size += len(frame)
            self._cond.notify_all()

    def take(self, timeout: float) -> tuple[list[bytes], str | None]:
        """Every queued frame (waiting up to `timeout` for one), and how to end after them."""
        with self._cond:
            if not self._frames and self._ending is None and not self.dead:
                self._cond.wait(timeout)
            frames = list(self._frames)
            self._frames.clear()
            self._size = 0
            self._cond.notify_all()
            return frames, ("dead" if self.dead else self._ending)

    def end(self, how: str) -> None:
        """Ask the writer to end the stream after what is queued ("end" or "cut")."""
        with self._cond:
            if self._ending is None:
                self._ending = how
            self._cond.notify_all()

    def kill(self) -> None:
        """Stop at once, unblocking a writer stuck on a full socket."""
        with self._cond:
            self.dead = True
            self._cond.notify_all()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the client hung up (an event-stream client never sends anything)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenCode) -> None:
        self.fake = fake
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close every accepted connection, idle keep-alive ones included."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "opencode-fake"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("fake opencode: " + format, *args)

    def _handle(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw_body = self._read_body(headers)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
        fake._record(self.command, path, query, headers, body, raw_body)

        fault = fake._take_fault(self.command, path)
        if fault is not None:
            if fault.delay > 0 and self.server.stopping.wait(fault.delay):
                self.close_connection = True
                return
            if fault.disconnect:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.status is not None:
                self._send(_Reply(fault.status, fault.body, fault.content_type))
                return

        if not fake._authorized(headers.get("authorization")):
            self._send(_error(401))
            return
        request = _Request(
            self.command, path, query, headers, body, fake._request_directory(query, headers)
        )
        answer = fake._dispatch(request, self.server.stopping)
        if answer is None:  # a long poll cut by stop()
            self.close_connection = True
        elif isinstance(answer, _EventStream):
            self._stream_events(answer.wrap_global)
        else:
            self._send(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: _Reply) -> None:
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {reply.status} {phrase}", f"Date: {self.date_time_string()}"]
        if reply.content_type:
            lines.append(f"Content-Type: {reply.content_type}")
        if reply.status not in (204, 304):
            lines.append(f"Content-Length: {len(reply.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.connection.sendall(head + (reply.body if reply.status not in (204, 304) else b""))
        except OSError:
            self.close_connection = True

    def _stream_events(self, wrap_global: bool) -> None:
        fake = self.server.fake
        self.close_connection = True
        sock = self.connection
        head = (
            "HTTP/1.1 200 OK\r\n"
            f"Date: {self.date_time_string()}\r\n"
            "Content-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode("latin-1")
        subscriber = fake._subscribe(sock, wrap_global)
        interval = fake.heartbeat_interval
        next_heartbeat = time.monotonic() + interval if interval else float("inf")
        try:
            sock.sendall(head)
            while True:
                now = time.monotonic()
                frames, ending = subscriber.take(min(0.5, max(0.0, next_heartbeat - now)))
                if frames:
                    data = b"".join(frames)
                    sock.sendall(b"%x\r\n%b\r\n" % (len(data), data))
                if ending == "end":
                    sock.sendall(b"0\r\n\r\n")
                    # A cleanly ended body leaves the connection reusable, as on a real server.
                    self.close_connection = False
                    return
                if ending == "cut":
                    sock.sendall(b"%x\r\n%b\r\n" % (len(_CUT_FRAME), _CUT_FRAME))
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                if ending == "dead":
                    return
                now = time.monotonic()
                if interval and now >= next_heartbeat:  # on time, even during a flood
                    data = fake._heartbeat_frame(wrap_global)
                    sock.sendall(b"%x\r\n%b\r\n" % (len(data), data))
                    next_heartbeat = now + interval
                elif not frames and _peer_closed(sock):
                    return
        except OSError:
            return
        finally:
            subscriber.dead = True
            fake._unsubscribe(subscriber)
            subscriber.finished.set()


# --------------------------------------------------------------------------------------------
# The fake


@dataclass
class _StoredMessage:
    info: dict[str, Any] | None = None
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Job:
    session_id: str | None
    epoch: int
    steps: Callable[[], Iterable[Step]]


class FakeOpenCode:
    """A scripted, stateful fake `opencode serve` on 127.0.0.1 (see the module docstring).

    Not started by the constructor: use it as a context manager, or call `start()` / `close()`.
    Every public method is thread-safe and may be called from tests, scripts or other threads.
    """

    def __init__(
        self,
        directory: Path | str,
        password: str | None = None,
        *,
        username: str = "opencode",
        echo_directory: bool = False,
        heartbeat_interval: float | None = 10.0,
        port: int = 0,
        subscriber_buffer_bytes: int = 8 * 1024 * 1024,
        slow_subscriber_timeout: float = 10.0,
        max_recorded_requests: int = 10_000,
        max_messages_per_session: int = 1_000,
    ) -> None:
        """Configure a fake serving `directory`.

        `password`: require `Authorization: Basic base64(username:password)` on every route.
        `echo_directory`: report and use the directory a request names (`?directory=`, else the
        `x-opencode-directory` header) instead of always `directory`.
        `heartbeat_interval`: seconds between `server.heartbeat` events (None: never).
        `port`: 0 picks a free port at the first `start()`; later starts reuse it.
        """
        self.directory = str(Path(directory).absolute())
        self.password = password
        self.username = username
        self.echo_directory = echo_directory
        self.heartbeat_interval = heartbeat_interval
        self.subscriber_buffer_bytes = subscriber_buffer_bytes
        self.slow_subscriber_timeout = slow_subscriber_timeout
        self.max_messages_per_session = max_messages_per_session
        self.project_id = hashlib.sha1(self.directory.encode()).hexdigest()

        self.reply_text = "Hello from the fake OpenCode server."
        """What the default prompt run answers, streamed word by word as deltas."""
        home = str(Path.home())
        self.paths: dict[str, str] = {
            "home": home,
            "state": f"{home}/.local/state/opencode",
            "config": f"{home}/.config/opencode",
        }
        self.providers: list[dict[str, Any]] = [
            _provider("mock", "Mock", {"mock-model": "Mock", "mock-model-large": "Mock Large"}),
            _provider("other", "Other", {"other-model": "Other"}),
        ]
        self.default_models: dict[str, str] = {"mock": "mock-model", "other": "other-model"}
        self.config: dict[str, Any] = {
            "model": "mock/mock-model",
            "permission": {"edit": "ask", "bash": "ask"},
            "username": "fake",
        }
        self.agents: list[dict[str, Any]] = [
            _agent("build", "primary", "The default agent: runs tools."),
            _agent("plan", "primary", "Plans without editing files."),
            _agent("general", "subagent", "General-purpose agent for sub-tasks."),
        ]
        self.commands: list[dict[str, Any]] = [
            {
                "name": "init",
                "description": "create/update AGENTS.md",
                "source": "command",
                "template": "Create or update AGENTS.md for this project. $ARGUMENTS",
                "hints": ["$ARGUMENTS"],
            },
            {
                "name": "review",
                "description": "review changes",
                "source": "command",
                "template": "Review the current changes.",
                "hints": [],
            },
        ]
        self.lsp_servers: list[dict[str, Any]] = [
            {"id": "pyright", "name": "pyright", "root": self.directory, "status": "connected"}
        ]
        self.formatters: list[dict[str, Any]] = [
            {"name": "ruff", "extensions": [".py", ".pyi"], "enabled": True}
        ]
        self.mcp_servers: dict[str, Any] = {}
        """Public so a test can change what `/config/providers`, `/agent`... answer."""

        self._requested_port = port
        self._port: int | None = None
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._lifecycle_lock = threading.Lock()
        self._closed = threading.Event()

        self._ids = itertools.count(1)
        self._id_salt = "".join(random.choices(string.ascii_letters + string.digits, k=10))
        self._lock = threading.RLock()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._status: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, dict[str, _StoredMessage]] = {}
        self._diffs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._permissions: dict[str, dict[str, Any]] = {}
        self._questions: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._prompt_script: PromptScript | None = None
        self._prompts: deque[PromptCall] = deque(maxlen=1_000)
        self.script_errors: deque[BaseException] = deque(maxlen=100)
        """Exceptions raised by scripts (prompt scripts included): a test can assert none."""

        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        self._requests_cond = threading.Condition()
        self._request_seq = itertools.count()
        self._consumed: set[int] = set()

        self._subscribers: tuple[_Subscriber, ...] = ()
        self._subscribers_lock = threading.Lock()
        self._subscribers_changed = threading.Condition(self._subscribers_lock)
        self._any_global = False

        self._runner = concurrent.futures.ThreadPoolExecutor(1, "fake-opencode-script")
        self._run_lock = threading.Lock()
        self._abort_epochs: dict[str, int] = {}
        self._route_table = self._routes()

    # ---- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenCode:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether the fake is listening."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port, fixed by the first `start()` and kept across restarts."""
        if self._port is None:
            raise RuntimeError("the fake OpenCode server was never started")
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again, on the same port after a `stop()`); state is kept across restarts."""
        with self._lifecycle_lock:
            if self._closed.is_set():
                raise RuntimeError("the fake OpenCode server is closed")
            if self._server is not None:
                return
            port = self._port if self._port is not None else self._requested_port
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    server = _Server(("127.0.0.1", port), self)
                    break
                except OSError:
                    if self._port is None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self._port = server.server_address[1]
            self._server = server
            self._serve_thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"fake-opencode-{self._port}",
                daemon=True,
            )
            self._serve_thread.start()

    def stop(self) -> None:
        """Go away like a killed server: stop listening (connections are then refused), cut
        every event stream without ending it, close every open connection."""
        with self._lifecycle_lock:
            server, self._server = self._server, None
            thread, self._serve_thread = self._serve_thread, None
            if server is None:
                return
            server.stopping.set()
            server.shutdown()
            server.server_close()
            for subscriber in self._subscribers:
                subscriber.kill()
            server.drop_connections()
            if thread is not None:
                thread.join(timeout=5.0)

    def close(self) -> None:
        """Stop for good and end the script worker."""
        self._closed.set()
        self.stop()
        self._runner.shutdown(wait=False, cancel_futures=True)

    # ---- recorded requests -----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The recorded requests, oldest first (the last `max_recorded_requests` only)."""
        with self._requests_cond:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._requests_cond:
            self._requests.clear()

    def wait_for_request(
        self, method: str, path_prefix: str, timeout: float = 5.0
    ) -> RecordedRequest:
        """The oldest recorded request matching that no earlier wait returned, waiting for one
        up to `timeout` seconds (then TimeoutError). Method "*" matches any."""
        deadline = time.monotonic() + timeout
        with self._requests_cond:
            while True:
                found = self._find_request(method, path_prefix)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._no_request_message(method, path_prefix))
                self._requests_cond.wait(remaining)

    async def wait_for_request_async(
        self, method: str, path_prefix: str, timeout: float = 5.0
    ) -> RecordedRequest:
        """`wait_for_request` for async tests: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._requests_cond:
                found = self._find_request(method, path_prefix)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(self._no_request_message(method, path_prefix))
            await asyncio.sleep(0.005)

    def _find_request(self, method: str, path_prefix: str) -> RecordedRequest | None:
        method = method.upper()
        for request in self._requests:
            if (
                request.seq not in self._consumed
                and (method == "*" or request.method == method)
                and request.path.startswith(path_prefix)
            ):
                self._consumed.add(request.seq)
                return request
        return None

    def _no_request_message(self, method: str, path_prefix: str) -> str:
        seen = ", ".join(f"{r.method} {r.path}" for r in list(self._requests)[-10:])
        return f"no {method} {path_prefix}* request came (last ones: {seen or 'none'})"

    def _record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        raw_body: bytes,
    ) -> None:
        with self._requests_cond:
            request = RecordedRequest(
                next(self._request_seq),
                method,
                path,
                query,
                headers,
                body,
                raw_body,
                time.monotonic(),
            )
            self._requests.append(request)
            self._requests_cond.notify_all()

    # ---- event streams ---------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        """How many event streams are open."""
        return len(self._subscribers)

    def wait_for_subscribers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least `count` event streams are open (TimeoutError after `timeout`)."""
        with self._subscribers_changed:
            if not self._subscribers_changed.wait_for(
                lambda: len(self._subscribers) >= count, timeout
            ):
                raise TimeoutError(f"{len(self._subscribers)} event streams open, not {count}")

    async def wait_for_subscribers_async(self, count: int = 1, timeout: float = 5.0) -> None:
        """`wait_for_subscribers` for async tests, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while len(self._subscribers) < count:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(self._subscribers)} event streams open, not {count}")
            await asyncio.sleep(0.005)

    def publish(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Send an event to every open stream (an `evt_` id is added when it has none) and update
        the fake's state from it (session status, messages); returns the event as sent."""
        sent = dict(event) if "id" in event else {"id": self.new_id("evt"), **event}
        if sent.get("type") in _OBSERVED_EVENT_TYPES:
            self._observe(sent)
        subscribers = self._subscribers
        if subscribers:
            plain = _frame(sent)
            wrapped = self._global_frame(sent) if self._any_global else plain
            for subscriber in subscribers:
                subscriber.offer(
                    wrapped if subscriber.wrap_global else plain, self.slow_subscriber_timeout
                )
        return sent

    def publish_raw(self, data: bytes) -> None:
        """Send bytes as they are to every open stream: garbage, cut or huge frames."""
        for subscriber in self._subscribers:
            subscriber.offer(data, self.slow_subscriber_timeout)

    def disconnect_streams(self, mid_frame: bool = False, timeout: float = 2.0) -> int:
        """End every open event stream after what was already published; `mid_frame` leaves a
        half-written frame and an unterminated body, as a crash does. Returns how many ended."""
        subscribers = self._subscribers
        for subscriber in subscribers:
            subscriber.end("cut" if mid_frame else "end")
        deadline = time.monotonic() + timeout
        for subscriber in subscribers:
            if not subscriber.finished.wait(max(0.0, deadline - time.monotonic())):
                subscriber.kill()
        return len(subscribers)

    def dispose_instance(self) -> None:
        """Publish `server.instance.disposed` and end the event streams, as the real server does
        when its instance is disposed (clients must reconnect and refetch state)."""
        self.publish(event("server.instance.disposed", directory=self.directory))
        self.disconnect_streams()

    def stream_events(
        self, events: Iterable[Mapping[str, Any] | bytes], rate: float | None = None
    ) -> concurrent.futures.Future[int]:
        """Publish many events (bytes are sent raw) on the script worker, as fast as the
        subscribers read or at about `rate` events per second; the future gives the count."""
        return self._runner.submit(self._flood, events, rate)

    def _flood(self, events: Iterable[Mapping[str, Any] | bytes], rate: float | None) -> int:
        count = 0
        started = time.monotonic()
        for item in events:
            if self._closed.is_set():
                break
            if isinstance(item, bytes):
                self.publish_raw(item)
            else:
                self.publish(item)
            count += 1
            if rate:
                ahead = started + count / rate - time.monotonic()
                if ahead > 0.002:  # sleep in slices, never per event
                    self._closed.wait(ahead)
        return count

    def _subscribe(self, sock: socket.socket, wrap_global: bool) -> _Subscriber:
        subscriber = _Subscriber(sock, wrap_global, self.subscriber_buffer_bytes)
        connected = {"id": self.new_id("evt"), "type": "server.connected", "properties": {}}
        subscriber.offer(self._global_frame(connected) if wrap_global else _frame(connected), 0.0)
        with self._subscribers_changed:
            self._subscribers = (*self._subscribers, subscriber)
            self._any_global = any(s.wrap_global for s in self._subscribers)
            self._subscribers_changed.notify_all()
        return subscriber

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._subscribers_changed:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            self._any_global = any(s.wrap_global for s in self._subscribers)
            self._subscribers_changed.notify_all()

    def _global_frame(self, sent: Mapping[str, Any]) -> bytes:
        return _frame({"directory": self.directory, "project": self.project_id, "payload": sent})

    def _heartbeat_frame(self, wrap_global: bool) -> bytes:
        heartbeat = {"id": self.new_id("evt"), "type": "server.heartbeat", "properties": {}}
        return self._global_frame(heartbeat) if wrap_global else _frame(heartbeat)

    def _observe(self, sent: Mapping[str, Any]) -> None:
        kind = sent["type"]
        props = sent.get("properties")
        if not isinstance(props, dict):
            return
        with self._lock:
            if kind == "session.status":
                status = props.get("status")
                if isinstance(status, dict) and status.get("type") != "idle":
                    self._status[str(props.get("sessionID"))] = status
                else:
                    self._status.pop(str(props.get("sessionID")), None)
            elif kind == "session.idle":
                self._status.pop(str(props.get("sessionID")), None)
            elif kind == "message.updated":
                info = props.get("info")
                if isinstance(info, dict):
                    session_id = str(props.get("sessionID") or info.get("sessionID"))
                    self._stored_message(session_id, str(info.get("id"))).info = info
            elif kind == "message.part.updated":
                part = props.get("part")
                if isinstance(part, dict):
                    session_id = str(props.get("sessionID") or part.get("sessionID"))
                    stored = self._stored_message(session_id, str(part.get("messageID")))
                    stored.parts[str(part.get("id"))] = part
                    while len(stored.parts) > self.max_messages_per_session:
                        del stored.parts[next(iter(stored.parts))]

    def _stored_message(self, session_id: str, message_id: str) -> _StoredMessage:
        messages = self._messages.setdefault(session_id, {})
        stored = messages.get(message_id)
        if stored is None:
            stored = messages[message_id] = _StoredMessage()
            while len(messages) > self.max_messages_per_session:
                del messages[next(iter(messages))]
        return stored

    # ---- faults ----------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_prefix: str,
        status: int | None = 500,
        *,
        body: Any = None,
        content_type: str | None = None,
        delay: float = 0.0,
        times: int | None = None,
        disconnect: bool = False,
    ) -> Fault:
        """Answer matching requests (method, or "*"; path starting with `path_prefix`) with
        `status` instead of the route, `times` times (None: until `clear_faults`).

        `body`: JSON-able value, str (HTML when it starts with "<", else plain text) or bytes;
        None gives the real server's error body for `status`. `delay`: wait this long first (use
        `status=None` for a slow but otherwise normal answer). `disconnect`: close the
        connection without answering. The first registered matching fault wins. Faults apply
        before authentication, to every route, `/event` included.
        """
        if body is None:
            body = error_body(status) if status is not None and status >= 400 else b""
        if isinstance(body, bytes):
            data, default_type = body, "application/octet-stream"
        elif isinstance(body, str):
            data = body.encode()
            html = body.lstrip().startswith("<")
            default_type = _HTML_TYPE if html else "text/plain; charset=utf-8"
        else:
            data, default_type = _dumps(body), _JSON_TYPE
        fault = Fault(
            method.upper(),
            path_prefix,
            status,
            data,
            content_type or (default_type if data else None),
            delay,
            times,
            disconnect,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # ---- state set-up and inspection -------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """A fresh id like the server's (`ses_…`, `msg_…`, `prt_…`, `per_…`, `evt_…`),
        increasing within this fake."""
        return f"{prefix}_{next(self._ids):012x}{self._id_salt}"

    def create_session(
        self,
        title: str | None = None,
        *,
        permission: list[dict[str, Any]] | None = None,
        parent_id: str | None = None,
        directory: str | None = None,
    ) -> dict[str, Any]:
        """Create a session as `POST /session` does (publishes `session.created`)."""
        now = _now_ms()
        session_id = self.new_id("ses")
        session: dict[str, Any] = {
            "id": session_id,
            "slug": f"fake-{session_id[-16:].lower()}",
            "projectID": self.project_id,
            "directory": directory or self.directory,
            "title": title
            or "New session - " + datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "version": VERSION,
            "time": {"created": now, "updated": now},
        }
        if parent_id is not None:
            session["parentID"] = parent_id
        if permission is not None:
            session["permission"] = permission
        with self._lock:
            self._sessions[session_id] = session
            snapshot = copy.deepcopy(session)
        self.publish(event("session.created", sessionID=session_id, info=snapshot))
        return snapshot

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """Copies of every session, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._sessions.values()))

    def session(self, session_id: str) -> dict[str, Any] | None:
        """A copy of one session, or None."""
        with self._lock:
            return copy.deepcopy(self._sessions.get(session_id))

    @property
    def session_status(self) -> dict[str, dict[str, Any]]:
        """What `GET /session/status` answers: the status of each non-idle session."""
        with self._lock:
            return copy.deepcopy(self._status)

    @property
    def prompts(self) -> list[PromptCall]:
        """Prompts received, oldest first (the last 1000)."""
        with self._lock:
            return list(self._prompts)

    @property
    def pending_permissions(self) -> list[dict[str, Any]]:
        """What `GET /permission` answers."""
        with self._lock:
            return copy.deepcopy(list(self._permissions.values()))

    @property
    def pending_questions(self) -> list[dict[str, Any]]:
        """What `GET /question` answers."""
        with self._lock:
            return copy.deepcopy(list(self._questions.values()))

    def set_diff(self, session_id: str, message_id: str, diffs: list[dict[str, Any]]) -> None:
        """What `GET /session/{id}/diff?messageID=` answers for that user message; the default
        run also puts it in the user message's `summary.diffs`. Paths are not checked."""
        with self._lock:
            self._diffs[(session_id, message_id)] = copy.deepcopy(diffs)

    def ask_permission(
        self,
        session_id: str,
        permission: str = "edit",
        *,
        patterns: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        always: list[str] | None = None,
        tool: dict[str, str] | None = None,
    ) -> str:
        """Add a pending permission request and publish `permission.asked`; returns its id."""
        request: dict[str, Any] = {
            "id": self.new_id("per"),
            "sessionID": session_id,
            "permission": permission,
            "patterns": list(patterns or []),
            "metadata": dict(metadata or {}),
            "always": list(always if always is not None else ["*"]),
        }
        if tool is not None:
            request["tool"] = dict(tool)
        with self._lock:
            self._permissions[request["id"]] = request
        self.publish(event("permission.asked", **copy.deepcopy(request)))
        return str(request["id"])

    def ask_question(
        self,
        session_id: str,
        questions: list[dict[str, Any]] | None = None,
        *,
        tool: dict[str, str] | None = None,
    ) -> str:
        """Add a pending question and publish `question.asked`; returns its id. Default: one
        single-choice question with the options "Yes" and "No"."""
        if questions is None:
            questions = [
                {
                    "question": "Go on?",
                    "header": "Continue",
                    "options": [
                        {"label": "Yes", "description": "Go on"},
                        {"label": "No", "description": "Stop here"},
                    ],
                }
            ]
        request: dict[str, Any] = {
            "id": self.new_id("que"),
            "sessionID": session_id,
            "questions": copy.deepcopy(questions),
        }
        if tool is not None:
            request["tool"] = dict(tool)
        with self._lock:
            self._questions[request["id"]] = request
        self.publish(event("question.asked", **copy.deepcopy(request)))
        return str(request["id"])

    # ---- scripts ---------------------------------------------------------------------------

    def set_prompt_script(self, script: PromptScript | Sequence[Step] | None) -> None:
        """What later prompts play instead of `default_run`: a function of the prompt, or a
        fixed list of steps; None restores the default run."""
        if script is None or callable(script):
            self._prompt_script = script
        else:
            steps = list(script)
            self._prompt_script = lambda _call: steps

    def run_script(
        self, session_id: str | None, steps: Iterable[Step]
    ) -> concurrent.futures.Future[None]:
        """Play steps on the script worker, after anything queued before; aborting
        `session_id` stops the rest. The future ends when the last step has played."""
        return self._enqueue(session_id, lambda: steps)

    def default_run(self, call: PromptCall) -> list[Step]:
        """The run a prompt plays unless `set_prompt_script` says otherwise: `session.status`
        busy, the user message and its text parts, the assistant message, its text part, one
        `message.part.delta` per word of `reply_text`, the final part and message, the user
        message again with `summary.diffs` (from `set_diff`), `session.status` idle,
        `session.idle`."""
        sid, user_id = call.session_id, call.message_id
        assistant_id, part_id = self.new_id("msg"), self.new_id("prt")
        now = _now_ms()
        model = call.body.get("model") or {"providerID": "mock", "modelID": "mock-model"}
        agent = call.body.get("agent") or "build"
        user_info: dict[str, Any] = {
            "id": user_id,
            "sessionID": sid,
            "role": "user",
            "time": {"created": now},
            "agent": agent,
            "model": model,
        }
        assistant_info: dict[str, Any] = {
            "id": assistant_id,
            "sessionID": sid,
            "role": "assistant",
            "time": {"created": now},
            "parentID": user_id,
            "modelID": model.get("modelID", "mock-model"),
            "providerID": model.get("providerID", "mock"),
            "mode": agent,
            "agent": agent,
            "path": {"cwd": self.directory, "root": self.directory},
            "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        }
        text_part: dict[str, Any] = {
            "id": part_id,
            "sessionID": sid,
            "messageID": assistant_id,
            "type": "text",
            "text": "",
            "time": {"start": now},
        }
        with self._lock:
            diffs = copy.deepcopy(self._diffs.get((sid, user_id), []))

        steps: list[Step] = [
            event("session.status", sessionID=sid, status={"type": "busy"}),
            event("message.updated", sessionID=sid, info=user_info),
        ]
        for part in call.body.get("parts") or []:
            if isinstance(part, dict) and part.get("type") == "text":
                user_part = {
                    "id": part.get("id") or self.new_id("prt"),
                    "sessionID": sid,
                    "messageID": user_id,
                    "type": "text",
                    "text": str(part.get("text", "")),
                }
                steps.append(event("message.part.updated", sessionID=sid, part=user_part, time=now))
        steps += [
            event("message.updated", sessionID=sid, info=assistant_info),
            event("message.part.updated", sessionID=sid, part=text_part, time=now),
        ]
        steps += [
            event(
                "message.part.delta",
                sessionID=sid,
                messageID=assistant_id,
                partID=part_id,
                field="text",
                delta=delta,
            )
            for delta in re.findall(r"\S+\s*", self.reply_text)
        ]
        end = _now_ms()
        final_part = {**text_part, "text": self.reply_text, "time": {"start": now, "end": end}}
        final_info = {
            **assistant_info,
            "time": {"created": now, "completed": end},
            "finish": "stop",
        }
        summarized_user = {**user_info, "summary": {"diffs": diffs}}
        steps += [
            event("message.part.updated", sessionID=sid, part=final_part, time=end),
            event("message.updated", sessionID=sid, info=final_info),
            event("message.updated", sessionID=sid, info=summarized_user),
            event("session.status", sessionID=sid, status={"type": "idle"}),
            event("session.idle", sessionID=sid),
        ]
        return steps

    def _enqueue(
        self, session_id: str | None, steps: Callable[[], Iterable[Step]]
    ) -> concurrent.futures.Future[None]:
        with self._lock:
            epoch = self._abort_epochs.get(session_id or "", 0)
        future = self._runner.submit(self._play, _Job(session_id, epoch, steps))
        future.add_done_callback(self._note_script_error)
        return future

    def _note_script_error(self, future: concurrent.futures.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            error = future.exception()
            assert error is not None
            _log.error("fake opencode: a script failed", exc_info=error)
            self.script_errors.append(error)

    def _aborted(self, job: _Job) -> bool:
        with self._lock:
            return self._abort_epochs.get(job.session_id or "", 0) != job.epoch

    def _play(self, job: _Job) -> None:
        for step in job.steps():
            if self._closed.is_set():
                return
            if isinstance(step, Pause):
                # In slices, so that an abort ends a long pause at once.
                resume_at = time.monotonic() + step.seconds
                while (left := resume_at - time.monotonic()) > 0:
                    if self._closed.wait(min(left, 0.02)) or self._aborted(job):
                        return
                continue
            with self._run_lock:
                if self._aborted(job):
                    return
                if isinstance(step, bytes):
                    self.publish_raw(step)
                    continue
                if isinstance(step, Mapping):
                    self.publish(step)
                    continue
            step(self)

    # ---- HTTP routing ----------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        if self.password is None:
            return True
        if not header or not header[:6].lower() == "basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.username}:{self.password}"

    def _request_directory(self, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
        if "directory" in query:
            return query["directory"]
        if "x-opencode-directory" in headers:
            return unquote(headers["x-opencode-directory"])
        return self.directory

    def _dispatch(
        self, request: _Request, stopping: threading.Event
    ) -> _Reply | _EventStream | None:
        segments = request.path.strip("/").split("/") if request.path.strip("/") else []
        method = request.method
        if method == "GET" and segments == ["event"]:
            return _EventStream(wrap_global=False)
        if method == "GET" and segments == ["global", "event"]:
            return _EventStream(wrap_global=True)
        if method == "GET" and segments == ["tui", "control", "next"]:
            stopping.wait()  # 1.18.33 never answers this long poll
            return None
        for route_method, pattern, handler in self._route_table:
            if route_method != method or len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for expected, actual in zip(pattern, segments, strict=True):
                if expected.startswith("{"):
                    params[expected[1:-1]] = actual
                elif expected != actual:
                    break
            else:
                return handler(request, params)
        return _Reply(200, _CATCH_ALL_HTML, _HTML_TYPE)

    def _routes(self) -> list[tuple[str, list[str], Callable[[_Request, dict[str, str]], _Reply]]]:
        table: list[tuple[str, str, Callable[[_Request, dict[str, str]], _Reply]]] = [
            (
                "GET",
                "/global/health",
                lambda r, p: _json_reply({"healthy": True, "version": VERSION}),
            ),
            ("GET", "/path", self._get_path),
            ("GET", "/config", lambda r, p: _json_reply(self.config)),
            ("PATCH", "/config", self._patch_config),
            ("GET", "/config/providers", self._get_providers),
            ("GET", "/agent", lambda r, p: _json_reply(self.agents)),
            ("GET", "/command", lambda r, p: _json_reply(self.commands)),
            ("GET", "/lsp", lambda r, p: _json_reply(self.lsp_servers)),
            ("GET", "/formatter", lambda r, p: _json_reply(self.formatters)),
            ("GET", "/mcp", lambda r, p: _json_reply(self.mcp_servers)),
            ("POST", "/instance/dispose", self._post_dispose),
            ("GET", "/session", self._list_sessions),
            ("POST", "/session", self._post_session),
            ("GET", "/session/status", lambda r, p: _json_reply(self.session_status)),
            ("GET", "/session/{sessionID}", self._get_session),
            ("DELETE", "/session/{sessionID}", self._delete_session),
            ("PATCH", "/session/{sessionID}", self._patch_session),
            ("GET", "/session/{sessionID}/children", self._get_children),
            ("GET", "/session/{sessionID}/todo", self._session_route(lambda s, r: [])),
            ("GET", "/session/{sessionID}/diff", self._get_diff),
            ("GET", "/session/{sessionID}/message", self._get_messages),
            ("GET", "/session/{sessionID}/message/{messageID}", self._get_message),
            ("POST", "/session/{sessionID}/message", self._post_message),
            ("POST", "/session/{sessionID}/prompt_async", self._post_prompt_async),
            ("POST", "/session/{sessionID}/abort", self._post_abort),
            ("POST", "/session/{sessionID}/fork", self._post_fork),
            ("POST", "/session/{sessionID}/share", self._share(True)),
            ("DELETE", "/session/{sessionID}/share", self._share(False)),
            ("POST", "/session/{sessionID}/summarize", self._session_route(lambda s, r: True)),
            ("POST", "/session/{sessionID}/init", self._session_route(lambda s, r: True)),
            ("POST", "/session/{sessionID}/command", self._post_command),
            ("POST", "/session/{sessionID}/shell", self._post_shell),
            ("POST", "/session/{sessionID}/revert", self._revert(True)),
            ("POST", "/session/{sessionID}/unrevert", self._revert(False)),
            ("POST", "/session/{sessionID}/permissions/{requestID}", self._post_permission_legacy),
            ("GET", "/permission", lambda r, p: _json_reply(self.pending_permissions)),
            ("POST", "/permission/{requestID}/reply", self._post_permission_reply),
            ("GET", "/question", lambda r, p: _json_reply(self.pending_questions)),
            ("POST", "/question/{requestID}/reply", self._post_question_reply),
            ("POST", "/question/{requestID}/reject", self._post_question_reject),
            ("POST", "/tui/append-prompt", self._tui_append_prompt),
            ("POST", "/tui/execute-command", self._tui_execute_command),
            ("POST", "/tui/show-toast", self._tui_show_toast),
            ("POST", "/tui/select-session", self._tui_select_session),
            ("POST", "/tui/publish", self._tui_publish),
            ("POST", "/tui/control/response", lambda r, p: _json_reply(True)),
        ]
        table += [
            ("POST", f"/tui/{name}", self._tui_command(command))
            for name, command in _TUI_PLAIN_COMMANDS.items()
        ]
        return [(m, path.strip("/").split("/"), handler) for m, path, handler in table]

    # -- simple routes

    def _get_path(self, request: _Request, params: dict[str, str]) -> _Reply:
        directory = request.directory if self.echo_directory else self.directory
        return _json_reply({**self.paths, "worktree": directory, "directory": directory})

    def _patch_config(self, request: _Request, params: dict[str, str]) -> _Reply:
        if not isinstance(request.body, dict):
            return _error(400, "Expected a JSON object")
        with self._lock:
            self.config = {**self.config, **request.body}
            return _json_reply(self.config)

    def _get_providers(self, request: _Request, params: dict[str, str]) -> _Reply:
        return _json_reply({"providers": self.providers, "default": self.default_models})

    def _post_dispose(self, request: _Request, params: dict[str, str]) -> _Reply:
        # Answer first: the streams end on the script worker, after the answer is on its way.
        self.run_script(None, [lambda fake: fake.dispose_instance()])
        return _json_reply(True)

    # -- sessions

    def _session_or_error(self, session_id: str) -> dict[str, Any] | _Reply:
        """The live session dict (call with `_lock` held), or the real server's error."""
        if not session_id.startswith("ses"):
            return _error(500, f'Invalid session id "{session_id}": it must start with "ses"')
        session = self._sessions.get(session_id)
        if session is None:
            return _error(404, f"Session not found: {session_id}")
        return session

    def _session_route(
        self, answer: Callable[[dict[str, Any], _Request], Any]
    ) -> Callable[[_Request, dict[str, str]], _Reply]:
        """A read-only route on one session: 404/500 as the server does, else `answer`."""

        def route(request: _Request, params: dict[str, str]) -> _Reply:
            with self._lock:
                session = self._session_or_error(params["sessionID"])
                if isinstance(session, _Reply):
                    return session
                return _json_reply(answer(session, request))

        return route

    def _list_sessions(self, request: _Request, params: dict[str, str]) -> _Reply:
        sessions = sorted(self.sessions, key=lambda s: s["time"]["updated"], reverse=True)
        if request.query.get("roots") == "true":
            sessions = [s for s in sessions if "parentID" not in s]
        search = request.query.get("search", "").lower()
        if search:
            sessions = [s for s in sessions if search in s["title"].lower()]
        if request.query.get("limit", "").isdigit():
            sessions = sessions[: int(request.query["limit"])]
        return _json_reply(sessions)

    def _post_session(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if request.body is not None else {}
        if not isinstance(body, dict):
            return _error(400, "Expected a JSON object")
        permission = body.get("permission")
        if permission is not None and not isinstance(permission, list):
            return _error(400, "permission must be a list of rules")
        session = self.create_session(
            body.get("title"),
            permission=permission,
            parent_id=body.get("parentID"),
            directory=request.directory if self.echo_directory else None,
        )
        extra = {k: body[k] for k in ("agent", "model", "metadata", "workspaceID") if k in body}
        if extra:
            with self._lock:
                self._sessions[session["id"]].update(copy.deepcopy(extra))
            session.update(extra)
        return _json_reply(session)

    def _get_session(self, request: _Request, params: dict[str, str]) -> _Reply:
        return self._session_route(lambda s, r: s)(request, params)

    def _get_children(self, request: _Request, params: dict[str, str]) -> _Reply:
        def children(session: dict[str, Any], _request: _Request) -> list[dict[str, Any]]:
            return [s for s in self._sessions.values() if s.get("parentID") == session["id"]]

        return self._session_route(children)(request, params)

    def _delete_session(self, request: _Request, params: dict[str, str]) -> _Reply:
        session_id = params["sessionID"]
        with self._lock:
            session = self._session_or_error(session_id)
            if isinstance(session, _Reply):
                return session
            del self._sessions[session_id]
            self._status.pop(session_id, None)
            self._messages.pop(session_id, None)
            self._abort_epochs[session_id] = self._abort_epochs.get(session_id, 0) + 1
        self.publish(event("session.deleted", sessionID=session_id, info=session))
        return _json_reply(True)

    def _patch_session(self, request: _Request, params: dict[str, str]) -> _Reply:
        if not isinstance(request.body, dict):
            return _error(400, "Expected a JSON object")
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, _Reply):
                return session
            for key in ("title", "metadata", "permission"):
                if key in request.body:
                    session[key] = copy.deepcopy(request.body[key])
            archived = (request.body.get("time") or {}).get("archived")
            if archived is not None:
                session["time"]["archived"] = archived
            session["time"]["updated"] = _now_ms()
            snapshot = copy.deepcopy(session)
        self.publish(event("session.updated", sessionID=snapshot["id"], info=snapshot))
        return _json_reply(snapshot)

    def _get_diff(self, request: _Request, params: dict[str, str]) -> _Reply:
        # Like the real server: an unknown session or a missing messageID give 200 [].
        key = (params["sessionID"], request.query.get("messageID", ""))
        with self._lock:
            return _json_reply(self._diffs.get(key, []))

    def _message_list(self, session_id: str) -> list[dict[str, Any]]:
        return [
            {"info": m.info, "parts": list(m.parts.values())}
            for m in self._messages.get(session_id, {}).values()
            if m.info is not None
        ]

    def _get_messages(self, request: _Request, params: dict[str, str]) -> _Reply:
        def messages(session: dict[str, Any], _request: _Request) -> list[dict[str, Any]]:
            found = self._message_list(session["id"])
            limit = request.query.get("limit", "")
            return found[-int(limit) :] if limit.isdigit() and int(limit) > 0 else found

        return self._session_route(messages)(request, params)

    def _get_message(self, request: _Request, params: dict[str, str]) -> _Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, _Reply):
                return session
            stored = self._messages.get(session["id"], {}).get(params["messageID"])
            if stored is None or stored.info is None:
                return _error(404, f"Message not found: {params['messageID']}")
            return _json_reply({"info": stored.info, "parts": list(stored.parts.values())})

    def _accept_prompt(
        self, request: _Request, params: dict[str, str]
    ) -> tuple[PromptCall, concurrent.futures.Future[None]] | _Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, _Reply):
                return session
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("parts"), list):
            return _error(400, "Expected a JSON object with a parts list")
        call = PromptCall(session["id"], str(body.get("messageID") or self.new_id("msg")), body)
        with self._lock:
            self._prompts.append(call)
        script = self._prompt_script or self.default_run
        return call, self._enqueue(call.session_id, lambda: script(call))

    def _post_prompt_async(self, request: _Request, params: dict[str, str]) -> _Reply:
        accepted = self._accept_prompt(request, params)
        return accepted if isinstance(accepted, _Reply) else _Reply(204)

    def _post_message(self, request: _Request, params: dict[str, str]) -> _Reply:
        accepted = self._accept_prompt(request, params)
        if isinstance(accepted, _Reply):
            return accepted
        call, played = accepted
        try:
            played.result()
        except Exception:  # kept in script_errors; answer as a failed run does
            return _error(500, "The prompt script failed")
        with self._lock:
            for message in reversed(self._message_list(call.session_id)):
                if message["info"].get("role") == "assistant":
                    return _json_reply(message)
        return _json_reply({"info": _assistant_stub(self, call.session_id), "parts": []})

    def _post_abort(self, request: _Request, params: dict[str, str]) -> _Reply:
        session_id = params["sessionID"]
        # The run lock keeps a script from publishing anything after the idle below.
        with self._run_lock:
            with self._lock:
                self._abort_epochs[session_id] = self._abort_epochs.get(session_id, 0) + 1
                busy = session_id in self._status
                # Pending requests go away without a `permission.replied`, as on the real server.
                for store in (self._permissions, self._questions):
                    for request_id in [k for k, v in store.items() if v["sessionID"] == session_id]:
                        del store[request_id]
            if busy:
                self.publish(event("session.status", sessionID=session_id, status={"type": "idle"}))
                self.publish(event("session.idle", sessionID=session_id))
        return _json_reply(True)

    def _post_fork(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, _Reply):
                return session
            title, source_id = session["title"], session["id"]
        fork = self.create_session(f"{title} (fork #1)", permission=session.get("permission"))
        with self._lock:
            for message_id, stored in list(self._messages.get(source_id, {}).items()):
                if message_id == body.get("messageID"):
                    break
                copied = self._stored_message(fork["id"], message_id)
                copied.info = {**(stored.info or {}), "sessionID": fork["id"]}
                copied.parts = {k: {**v, "sessionID": fork["id"]} for k, v in stored.parts.items()}
        return _json_reply(fork)

    def _share(self, share: bool) -> Callable[[_Request, dict[str, str]], _Reply]:
        def route(request: _Request, params: dict[str, str]) -> _Reply:
            with self._lock:
                session = self._session_or_error(params["sessionID"])
                if isinstance(session, _Reply):
                    return session
                if share:
                    session["share"] = {"url": f"https://opncd.ai/s/{session['id'][-8:]}"}
                else:
                    session.pop("share", None)
                session["time"]["updated"] = _now_ms()
                snapshot = copy.deepcopy(session)
            self.publish(event("session.updated", sessionID=snapshot["id"], info=snapshot))
            return _json_reply(snapshot)

        return route

    def _post_command(self, request: _Request, params: dict[str, str]) -> _Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, _Reply):
                return session
        if not isinstance(request.body, dict) or "command" not in request.body:
            return _error(400, "Expected a JSON object with command and arguments")
        return _json_reply({"info": _assistant_stub(self, session["id"]), "parts": []})

    def _post_shell(self, request: _Request, params: dict[str, str]) -> _Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, _Reply):
                return session
            if session["id"] in self._status:
                return _busy(session["id"])
        if not isinstance(request.body, dict) or "command" not in request.body:
            return _error(400, "Expected a JSON object with agent and command")
        return _json_reply({"info": _assistant_stub(self, session["id"]), "parts": []})

    def _revert(self, revert: bool) -> Callable[[_Request, dict[str, str]], _Reply]:
        def route(request: _Request, params: dict[str, str]) -> _Reply:
            body = request.body if isinstance(request.body, dict) else {}
            if revert and not isinstance(body.get("messageID"), str):
                return _error(400, "messageID is required")
            with self._lock:
                session = self._session_or_error(params["sessionID"])
                if isinstance(session, _Reply):
                    return session
                if session["id"] in self._status:
                    return _busy(session["id"])
                if revert:
                    session["revert"] = {
                        k: body[k] for k in ("messageID", "partID") if isinstance(body.get(k), str)
                    }
                else:
                    session.pop("revert", None)
                session["time"]["updated"] = _now_ms()
                snapshot = copy.deepcopy(session)
            self.publish(event("session.updated", sessionID=snapshot["id"], info=snapshot))
            return _json_reply(snapshot)

        return route

    # -- permissions and questions

    def _post_permission_reply(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        return self._reply_permission(params["requestID"], body.get("reply"))

    def _post_permission_legacy(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        return self._reply_permission(params["requestID"], body.get("response"))

    def _reply_permission(self, request_id: str, reply: Any) -> _Reply:
        if reply not in _PERMISSION_REPLIES:
            return _error(400, 'reply must be "once", "always" or "reject"')
        with self._lock:
            asked = self._permissions.pop(request_id, None)
            if asked is None:
                return _json_reply(
                    {
                        "_tag": "PermissionNotFoundError",
                        "requestID": request_id,
                        "message": f"Permission request not found: {request_id}",
                    },
                    404,
                )
            replies = [(asked, reply)]
            # `reject` rejects the session's other requests; `always` approves those its
            # patterns now cover.
            for other in list(self._permissions.values()):
                if other["sessionID"] != asked["sessionID"]:
                    continue
                if reply == "reject" or (
                    reply == "always"
                    and other["permission"] == asked["permission"]
                    and all(
                        any(fnmatch.fnmatchcase(p, a) for a in asked["always"])
                        for p in other["patterns"]
                    )
                ):
                    del self._permissions[other["id"]]
                    replies.append((other, reply))
        for answered, answer in replies:
            self.publish(
                event(
                    "permission.replied",
                    sessionID=answered["sessionID"],
                    requestID=answered["id"],
                    reply=answer,
                )
            )
        return _json_reply(True)

    def _take_question(self, request_id: str) -> dict[str, Any] | _Reply:
        with self._lock:
            asked = self._questions.pop(request_id, None)
        if asked is None:
            return _json_reply(
                {
                    "_tag": "QuestionNotFoundError",
                    "requestID": request_id,
                    "message": f"Question request not found: {request_id}",
                },
                404,
            )
        return asked

    def _post_question_reply(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        answers = body.get("answers")
        if not isinstance(answers, list):
            return _error(400, "answers must be a list of lists of labels")
        asked = self._take_question(params["requestID"])
        if isinstance(asked, _Reply):
            return asked
        self.publish(
            event(
                "question.replied",
                sessionID=asked["sessionID"],
                requestID=asked["id"],
                answers=answers,
            )
        )
        return _json_reply(True)

    def _post_question_reject(self, request: _Request, params: dict[str, str]) -> _Reply:
        asked = self._take_question(params["requestID"])
        if isinstance(asked, _Reply):
            return asked
        self.publish(
            event("question.rejected", sessionID=asked["sessionID"], requestID=asked["id"])
        )
        return _json_reply(True)

    # -- TUI

    def _tui_command(self, command: str) -> Callable[[_Request, dict[str, str]], _Reply]:
        def route(request: _Request, params: dict[str, str]) -> _Reply:
            self.publish(event("tui.command.execute", command=command))
            return _json_reply(True)

        return route

    def _tui_append_prompt(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("text"), str):
            return _error(400, "text is required")
        self.publish(event("tui.prompt.append", text=body["text"]))
        return _json_reply(True)

    def _tui_execute_command(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("command"), str):
            return _error(400, "command is required")
        # Like 1.18.33: only the known legacy names go through; others publish no command.
        command = _TUI_COMMAND_ALIASES.get(body["command"])
        self.publish(event("tui.command.execute", **({"command": command} if command else {})))
        return _json_reply(True)

    def _tui_show_toast(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("message"), str) or body.get("variant") not in (
            "info",
            "success",
            "warning",
            "error",
        ):
            return _error(400, "message and variant (info|success|warning|error) are required")
        allowed = ("title", "message", "variant", "duration")
        self.publish(event("tui.toast.show", **{k: body[k] for k in allowed if k in body}))
        return _json_reply(True)

    def _tui_select_session(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        session_id = body.get("sessionID")
        if not isinstance(session_id, str) or not session_id.startswith("ses"):
            return _error(400, "sessionID must start with ses")
        with self._lock:
            if session_id not in self._sessions:
                return _error(404, f"Session not found: {session_id}")
        self.publish(event("tui.session.select", sessionID=session_id))
        return _json_reply(True)

    def _tui_publish(self, request: _Request, params: dict[str, str]) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("type") not in _TUI_EVENT_TYPES or not isinstance(body.get("properties"), dict):
            return _error(400, "Expected a tui.* event")
        self.publish(event(body["type"], **body["properties"]))
        return _json_reply(True)


def _busy(session_id: str) -> _Reply:
    return _json_reply(
        {
            "_tag": "SessionBusyError",
            "sessionID": session_id,
            "message": f"Session {session_id} is busy",
        },
        409,
    )


def _assistant_stub(fake: FakeOpenCode, session_id: str) -> dict[str, Any]:
    now = _now_ms()
    return {
        "id": fake.new_id("msg"),
        "sessionID": session_id,
        "role": "assistant",
        "time": {"created": now, "completed": now},
        "parentID": fake.new_id("msg"),
        "modelID": "mock-model",
        "providerID": "mock",
        "mode": "build",
        "agent": "build",
        "path": {"cwd": fake.directory, "root": fake.directory},
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "finish": "stop",
    }


def _provider(provider_id: str, name: str, models: Mapping[str, str]) -> dict[str, Any]:
    text_only = {"text": True, "audio": False, "image": False, "video": False, "pdf": False}
    return {
        "id": provider_id,
        "name": name,
        "source": "config",
        "env": [],
        "options": {},
        "models": {
            model_id: {
                "id": model_id,
                "providerID": provider_id,
                "api": {
                    "id": model_id,
                    "url": "http://127.0.0.1:1/v1",
                    "npm": "@ai-sdk/openai-compatible",
                },
                "name": model_name,
                "capabilities": {
                    "temperature": True,
                    "reasoning": False,
                    "attachment": False,
                    "toolcall": True,
                    "input": text_only,
                    "output": text_only,
                    "interleaved": False,
                },
                "cost": {"input": 0, "output": 0, "cache": {"read": 0, "write": 0}},
                "limit": {"context": 128_000, "output": 8_192},
                "status": "active",
                "options": {},
                "headers": {},
                "release_date": "2025-01-01",
            }
            for model_id, model_name in models.items()
        },
    }


def _agent(name: str, mode: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "mode": mode,
        "native": True,
        "permission": [],
        "options": {},
    }
