"""The fake's HTTP and event-stream plumbing: a threaded HTTP/1.1 server, the request handler,
and one bounded outgoing queue per event-stream subscriber. It knows no route: every request
goes to the fake's `_dispatch` (routes.py)."""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.fake_opencode.values import error_body

if TYPE_CHECKING:
    from tests.support.fake_opencode.state import FakeState

_log = logging.getLogger("tests.support.fake_opencode")

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
CATCH_ALL_HTML = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OpenCode</title>'
    b'</head><body><div id="root"></div><script type="module" src="/assets/index.js">'
    b"</script></body></html>"
)
# A frame cut in the middle, as a server dying mid-write leaves it.
_CUT_FRAME = b'data: {"id":"evt_cut","type":"message.part.delta","properties":{"sessi'

# --------------------------------------------------------------------------------------------
# Internals: replies, subscribers, the HTTP server


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, dumps(value), JSON_TYPE)


def error_reply(status: int, message: str | None = None) -> Reply:
    return json_reply(error_body(status, message), status)


@dataclass(frozen=True)
class StreamAnswer:
    """A route answer meaning: serve an event stream (wrapped as `/global/event` or not; V2's
    `/api/event`)."""

    wrap_global: bool
    v2: bool = False
    session: str | None = None
    """V2's `/api/session/{id}/event`: only that session's durable events, from `after` on."""
    after: int = 0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    directory: str
    """The instance directory the request asked for (query, else header, else the fake's)."""


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def frame(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


def now_ms() -> int:
    return int(time.time() * 1000)


class Subscriber:
    """One open event stream: a bounded queue of frames and the socket they go to."""

    def __init__(
        self,
        sock: socket.socket,
        wrap_global: bool,
        limit: int,
        v2: bool = False,
        session: str | None = None,
    ) -> None:
        self.sock = sock
        self.wrap_global = wrap_global
        self.v2 = v2
        self.session = session
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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeState) -> None:
        self.fake = fake
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "opencode-fake"
    disable_nagle_algorithm = True
    server: Server

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
                self._send(Reply(fault.status, fault.body, fault.content_type))
                return

        if not fake._authorized(headers.get("authorization")):
            self._send(error_reply(401))
            return
        request = Request(
            self.command, path, query, headers, body, fake._request_directory(query, headers)
        )
        answer = fake._dispatch(request, self.server.stopping)
        if answer is None:  # a long poll cut by stop()
            self.close_connection = True
        elif isinstance(answer, StreamAnswer):
            self._stream_events(answer)
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

    def _send(self, reply: Reply) -> None:
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

    def _stream_events(self, answer: StreamAnswer) -> None:
        wrap_global, v2 = answer.wrap_global, answer.v2
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
        subscriber = fake._subscribe(sock, wrap_global, v2, answer.session, answer.after)
        interval = None if v2 else fake.heartbeat_interval  # no heartbeat in V2's event union
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
