"""A V2-only OpenCode, made from the real one: a loopback HTTP proxy in front of a running
``opencode serve`` that lets through only the V2 routes (``/api/*``), the way a server that
speaks only V2 would answer.

    with V2OnlyProxy(server.url) as v2:
        httpx.get(v2.url + "/global/health")   # 404 Route not found
        httpx.get(v2.url + "/api/health")      # {"healthy": true}, from the real server

* Every path outside ``/api/*`` and ``/doc`` is answered 404 with the real server's error body
  ("Route not found"); nothing of it reaches the real server.
* ``GET /doc`` is the real document with only its ``/api/*`` paths left.
* Everything else is forwarded as it is (method, query, headers, body) and its answer sent back;
  an event stream (``text/event-stream``) is passed on chunk by chunk, as each chunk arrives.

`requests` records what was asked (so a test can say which routes a client used), and
`drop_event_streams` cuts the open event streams, as a network hiccup would.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.fake_opencode.values import error_body
from tests.support.service import Service

__all__ = ["V2_PREFIX", "ProxiedRequest", "V2OnlyProxy", "v2_document"]

V2_PREFIX = "/api/"
"""The V2 routes: everything under it passes."""
_PASSED = ("/doc",)
"""What else a V2 client needs: the document it reads to know the server."""
NOT_FOUND = "Route not found"
# Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy sets itself.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def v2_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI document) with only its ``/api/*`` paths."""
    paths = {p: ops for p, ops in document.get("paths", {}).items() if p.startswith(V2_PREFIX)}
    return {**document, "paths": paths}


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received."""

    method: str
    path: str
    """The path without the query."""
    passed: bool
    """Whether it went on to the real server (False: answered 404 here)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    proxy: V2OnlyProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "opencode-v2-only"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # nothing on stdout or stderr: a test's output is its own

    def _handle(self) -> None:
        proxy = self.server.proxy
        path = urlsplit(self.path).path
        body = self._read_body()
        passed = path.startswith(V2_PREFIX) or path in _PASSED
        proxy._record(ProxiedRequest(self.command, path, passed))
        if not passed:
            self._send(404, json.dumps(error_body(404, NOT_FOUND)).encode(), "application/json")
            return
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if path == "/doc":  # read here, so asked for uncompressed
                headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            content_type = response.getheader("Content-Type") or ""
            if content_type.startswith("text/event-stream"):
                self._stream(upstream, response)
                return
            data = response.read()
            if self.command == "GET" and path == "/doc" and response.status == 200:
                data = json.dumps(v2_document(json.loads(data))).encode()
            self._send(response.status, data, content_type, response.getheaders())
        except OSError:
            self.close_connection = True  # the real server went away: so does this answer
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status, _phrase(status))
        for name, value in headers or []:
            if name.lower() not in _HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        if headers is None and content_type:
            self.send_header("Content-Type", content_type)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status not in (204, 304):
            self.wfile.write(data)

    def _stream(self, upstream: http.client.HTTPConnection, response: Any) -> None:
        """Pass an event stream on chunk by chunk, unbuffered, until either side ends it."""
        proxy = self.server.proxy
        self.close_connection = True
        self.send_response(response.status, _phrase(response.status))
        for name, value in response.getheaders():
            if name.lower() not in _HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        stream = (upstream, self.connection)
        proxy._streams_add(stream)
        try:
            while chunk := response.read1(65536):
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, ValueError, http.client.HTTPException):
            pass  # one side hung up (or was cut by drop_event_streams)
        finally:
            proxy._streams_remove(stream)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class V2OnlyProxy(Service):
    """The proxy (see the module docstring) in front of the server at ``upstream``
    (``http://127.0.0.1:PORT``), listening on 127.0.0.1."""

    def __init__(self, upstream: str) -> None:
        split = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self.upstream_host = split.hostname or "127.0.0.1"
        self.upstream_port = split.port or 80
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._lock = threading.Lock()
        self._requests: list[ProxiedRequest] = []
        self._streams: set[tuple[http.client.HTTPConnection, socket.socket]] = set()

    # -- lifecycle (see tests/support/service.py)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the proxy."""
        if self._port is None:
            raise RuntimeError("the V2-only proxy was never started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _launch(self) -> None:
        server = _Server(("127.0.0.1", self._port or 0), _Handler)
        server.proxy = self
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"v2-only-proxy-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def _halt(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self.drop_event_streams()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- what tests ask

    @property
    def requests(self) -> list[ProxiedRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def refused(self) -> list[ProxiedRequest]:
        """The requests answered 404 because they were not V2."""
        return [r for r in self.requests if not r.passed]

    @property
    def open_streams(self) -> int:
        """How many event streams are being passed on."""
        with self._lock:
            return len(self._streams)

    def drop_event_streams(self) -> int:
        """Cut every open event stream (both ends); returns how many were cut."""
        with self._lock:
            streams = list(self._streams)
        for upstream, client in streams:
            for sock in (upstream.sock, client):
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        return len(streams)

    # -- called by the handler

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _streams_add(self, stream: tuple[http.client.HTTPConnection, socket.socket]) -> None:
        with self._lock:
            self._streams.add(stream)

    def _streams_remove(self, stream: tuple[http.client.HTTPConnection, socket.socket]) -> None:
        with self._lock:
            self._streams.discard(stream)
