"""The fake's scripted state: sessions, messages, pending permissions and questions, recorded
requests, faults, event-stream subscribers and the script worker, with the lifecycle of its
HTTP server. The routes that answer over it are in routes.py."""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import copy
import hashlib
import itertools
import logging
import random
import re
import socket
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from tests.support.fake_opencode.values import (
    VERSION,
    Fault,
    Pause,
    PromptCall,
    PromptScript,
    RecordedRequest,
    Step,
    error_body,
    event,
)
from tests.support.fake_opencode.wire import (
    HTML_TYPE,
    JSON_TYPE,
    Reply,
    Request,
    Server,
    StreamAnswer,
    Subscriber,
    dumps,
    frame,
    now_ms,
)
from tests.support.service import Service

if TYPE_CHECKING:
    from tests.support.fake_opencode.routes import FakeOpenCode

_log = logging.getLogger("tests.support.fake_opencode")

_OBSERVED_EVENT_TYPES = frozenset(
    {"session.status", "session.idle", "message.updated", "message.part.updated"}
)


@dataclass
class _StoredMessage:
    info: dict[str, Any] | None = None
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Job:
    session_id: str | None
    epoch: int
    steps: Callable[[], Iterable[Step]]


class FakeState(Service):
    """The fake's state and lifecycle; `FakeOpenCode` (routes.py) adds the routes."""

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
            provider("mock", "Mock", {"mock-model": "Mock", "mock-model-large": "Mock Large"}),
            provider("other", "Other", {"other-model": "Other"}),
        ]
        self.default_models: dict[str, str] = {"mock": "mock-model", "other": "other-model"}
        self.config: dict[str, Any] = {
            "model": "mock/mock-model",
            "permission": {"edit": "ask", "bash": "ask"},
            "username": "fake",
        }
        self.agents: list[dict[str, Any]] = [
            agent("build", "primary", "The default agent: runs tools."),
            agent("plan", "primary", "Plans without editing files."),
            agent("general", "subagent", "General-purpose agent for sub-tasks."),
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
        self._server: Server | None = None
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

        self._subscribers: tuple[Subscriber, ...] = ()
        self._subscribers_lock = threading.Lock()
        self._subscribers_changed = threading.Condition(self._subscribers_lock)
        self._any_global = False

        self._runner = concurrent.futures.ThreadPoolExecutor(1, "fake-opencode-script")
        self._run_lock = threading.Lock()
        self._abort_epochs: dict[str, int] = {}

    # ---- lifecycle (see tests/support/service.py) --------------------------------------------

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

    def start(self) -> FakeState:
        """Listen (again, on the same port after a `stop()`); state is kept across restarts."""
        with self._lifecycle_lock:
            if self._closed.is_set():
                raise RuntimeError("the fake OpenCode server is closed")
            return super().start()

    def _launch(self) -> None:
        port = self._port if self._port is not None else self._requested_port
        deadline = time.monotonic() + 5.0
        while True:
            try:
                server = Server(("127.0.0.1", port), self)
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
            super().stop()

    def _halt(self) -> None:
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

    # ---- who may ask, and for which folder -------------------------------------------------

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

    def _dispatch(self, request: Request, stopping: threading.Event) -> Reply | StreamAnswer | None:
        """The answer to a request (the routes, routes.py)."""
        raise NotImplementedError

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
        self._offer(sent, v2=False)
        return sent

    def _offer(self, sent: Mapping[str, Any], *, v2: bool) -> None:
        """Queue an event on the streams of its dialect (V1: ``/event`` and ``/global/event``;
        V2: ``/api/event``)."""
        subscribers = [s for s in self._subscribers if s.v2 == v2 and s.session is None]
        if v2 and "durable" in sent:  # a session's own stream: its durable events, bare
            aggregate = sent["durable"]["aggregateID"]
            bare = frame({k: v for k, v in sent.items() if k != "location"})
            for subscriber in self._subscribers:
                if subscriber.v2 and subscriber.session == aggregate:
                    subscriber.offer(bare, self.slow_subscriber_timeout)
        if subscribers:
            plain = frame(sent)
            wrapped = self._global_frame(sent) if self._any_global and not v2 else plain
            for subscriber in subscribers:
                subscriber.offer(
                    wrapped if subscriber.wrap_global else plain, self.slow_subscriber_timeout
                )

    def _publish_step(self, step: Mapping[str, Any]) -> None:
        """Publish an event a script plays (the V2 dialect tells its own events apart)."""
        self.publish(step)

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
                self._publish_step(item)
            count += 1
            if rate:
                ahead = started + count / rate - time.monotonic()
                if ahead > 0.002:  # sleep in slices, never per event
                    self._closed.wait(ahead)
        return count

    def _subscribe(
        self,
        sock: socket.socket,
        wrap_global: bool,
        v2: bool = False,
        session: str | None = None,
        after: int = 0,
    ) -> Subscriber:
        subscriber = Subscriber(sock, wrap_global, self.subscriber_buffer_bytes, v2, session)
        for first in self._first_frames(wrap_global, v2, session, after):
            subscriber.offer(first, 0.0)
        with self._subscribers_changed:
            self._subscribers = (*self._subscribers, subscriber)
            self._any_global = any(s.wrap_global for s in self._subscribers)
            self._subscribers_changed.notify_all()
        return subscriber

    def _first_frames(
        self, wrap_global: bool, v2: bool, session: str | None, after: int
    ) -> list[bytes]:
        """What a new event stream starts with: ``server.connected``."""
        body = "data" if v2 else "properties"
        connected = {"id": self.new_id("evt"), "type": "server.connected", body: {}}
        return [self._global_frame(connected) if wrap_global else frame(connected)]

    def _unsubscribe(self, subscriber: Subscriber) -> None:
        with self._subscribers_changed:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            self._any_global = any(s.wrap_global for s in self._subscribers)
            self._subscribers_changed.notify_all()

    def _global_frame(self, sent: Mapping[str, Any]) -> bytes:
        return frame({"directory": self.directory, "project": self.project_id, "payload": sent})

    def _heartbeat_frame(self, wrap_global: bool) -> bytes:
        heartbeat = {"id": self.new_id("evt"), "type": "server.heartbeat", "properties": {}}
        return self._global_frame(heartbeat) if wrap_global else frame(heartbeat)

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
            default_type = HTML_TYPE if html else "text/plain; charset=utf-8"
        else:
            data, default_type = dumps(body), JSON_TYPE
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
        now = now_ms()
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
        now = now_ms()
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
        end = now_ms()
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
                    self._publish_step(step)
                    continue
            step(cast("FakeOpenCode", self))  # every FakeState is one


def provider(provider_id: str, name: str, models: Mapping[str, str]) -> dict[str, Any]:
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


def agent(name: str, mode: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "mode": mode,
        "native": True,
        "permission": [],
        "options": {},
    }
