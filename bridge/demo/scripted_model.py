"""An offline, scripted, OpenAI-compatible chat model for demos and tests.

``opencode serve`` only answers prompts through a model provider.  This module
serves a tiny fake provider on loopback that OpenCode reaches through its bundled
``@ai-sdk/openai-compatible`` package, so a real OpenCode server can run fully
offline with predictable answers::

    with ScriptedModel() as model:
        model.push(Reply.edit("/abs/src/a.py", "old", "new"), Reply.text("Done."))
        config = opencode_config(model.base_url, permission={"edit": "ask"})
        ...  # write config to <repo>/opencode.json, start `opencode serve`
        assert "def foo" in model.all_prompt_text()

Each ``POST /v1/chat/completions`` that is an agent turn takes the next
:class:`Reply` from the script (one reply is one assistant turn: text, tool calls,
or both).  When OpenCode runs a tool it sends the result back as a new request,
which simply takes the next reply.  When the script is empty a default reply
answers (by default ``Scripted answer: <first line of the user's message>``).

OpenCode's two engines offer the same tools under other argument names (the V1
engine's ``edit`` takes ``filePath``, the V2 engine's ``path``): each scripted tool
call is fitted to the tool schema offered in the request it answers, so one script
serves both (see :func:`fit_arguments`).

Side requests OpenCode makes on its own are recognised by their system prompt and
answered without touching the script: session titles (``kind == "title"``),
change summaries (``"summary"``) and context compaction (``"compaction"``).

Only the standard library is used, and nothing is printed: stdout may be an LSP
channel.  Diagnostics go to the ``bridge.demo.scripted_model`` logger.
"""

from __future__ import annotations

import itertools
import json
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "DEFAULT_TITLE",
    "MODEL_ID",
    "PROVIDER_ID",
    "RecordedRequest",
    "Reply",
    "RequestKind",
    "STRUCTURED_TOOL",
    "ScriptedModel",
    "ToolCall",
    "echo_reply",
    "fit_arguments",
    "isolated_env",
    "minimal_value",
    "opencode_config",
]

log = logging.getLogger(__name__)

PROVIDER_ID = "mock"
"""Provider id of the fake model in ``opencode.json``."""
MODEL_ID = "mock-model"
"""Model id of the fake model in ``opencode.json`` (full name ``mock/mock-model``)."""
DEFAULT_TITLE = "Scripted session"
"""What the model answers when OpenCode asks it for a session title."""
STRUCTURED_TOOL = "StructuredOutput"
"""The tool OpenCode offers (with ``tool_choice: "required"``) when a prompt asks for a
``json_schema`` format; its parameters are that schema and its arguments are the answer."""

RequestKind = Literal["chat", "title", "summary", "compaction"]
"""What a chat-completion request is for, judged from its system prompt.

``chat`` is an agent turn (it consumes the script); the others are side requests
OpenCode makes on its own and are answered with canned text.
"""

# Openings of OpenCode 1.18's built-in system prompts for its hidden agents.
_SIDE_PROMPTS: tuple[tuple[str, RequestKind], ...] = (
    ("You are a title generator", "title"),
    ("Summarize what was done in this conversation", "summary"),
    ("You are a context summarization agent", "compaction"),
)
_CALL_IDS = itertools.count(1)


# --------------------------------------------------------------------------- script


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asks OpenCode to run."""

    name: str
    arguments: Mapping[str, Any]
    id: str = field(default_factory=lambda: f"call_scripted_{next(_CALL_IDS)}")


@dataclass(frozen=True)
class Reply:
    """One scripted assistant turn.

    Build replies with the constructors: :meth:`text`, :meth:`tool`,
    :meth:`tools`, :meth:`bash`, :meth:`edit`, :meth:`write`, :meth:`error`.

    ``content`` is streamed in several chunks; ``tool_calls`` follow it (finish
    reason ``tool_calls``).  ``chunk_delay`` sleeps between streamed chunks;
    ``hold`` blocks the stream after its first chunk until the event is set (or
    the model is closed), which keeps a session busy for as long as a test needs.
    ``status`` other than 200 answers with an OpenAI-style error instead.
    """

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    chunk_delay: float = 0.0
    hold: threading.Event | None = None
    status: int = 200

    @classmethod
    def text(
        cls,
        content: str,
        *,
        chunk_delay: float = 0.0,
        hold: threading.Event | None = None,
    ) -> Reply:
        """A plain text answer, which ends the run."""
        return cls(content=content, chunk_delay=chunk_delay, hold=hold)

    @classmethod
    def tool(
        cls,
        name: str,
        arguments: Mapping[str, Any],
        *,
        call_id: str | None = None,
        text: str = "",
    ) -> Reply:
        """A single tool call (optionally preceded by some text)."""
        call = (
            ToolCall(name, dict(arguments))
            if call_id is None
            else ToolCall(name, dict(arguments), call_id)
        )
        return cls(content=text, tool_calls=(call,))

    @classmethod
    def tools(cls, *calls: ToolCall, text: str = "") -> Reply:
        """Several tool calls in one turn (OpenCode runs them, then asks again)."""
        return cls(content=text, tool_calls=tuple(calls))

    @classmethod
    def bash(cls, command: str, description: str = "Run a command") -> Reply:
        """OpenCode's ``bash`` tool."""
        return cls.tool("bash", {"command": command, "description": description})

    @classmethod
    def edit(cls, file_path: str | Path, old: str, new: str) -> Reply:
        """OpenCode's ``edit`` tool: replace ``old`` by ``new`` in an absolute path (sent as
        ``filePath`` or ``path``, whichever the offered tool takes)."""
        return cls.tool("edit", {"filePath": str(file_path), "oldString": old, "newString": new})

    @classmethod
    def write(cls, file_path: str | Path, content: str) -> Reply:
        """OpenCode's ``write`` tool: create or overwrite a file (absolute path, sent as
        ``filePath`` or ``path``, whichever the offered tool takes)."""
        return cls.tool("write", {"filePath": str(file_path), "content": content})

    @classmethod
    def structured(cls, value: Mapping[str, Any]) -> Reply:
        """The answer to a structured-output prompt: a call of OpenCode's ``StructuredOutput``
        tool with ``value`` (OpenCode does not check it against the schema)."""
        return cls.tool(STRUCTURED_TOOL, value)

    @classmethod
    def error(cls, message: str = "scripted failure", status: int = 400) -> Reply:
        """An HTTP error from the model.

        A 4xx ends the run with ``session.error``; 429 and 5xx make OpenCode retry
        (``session.status`` ``retry``), and each retry takes the next reply.
        """
        return cls(content=message, status=status)


DefaultReply = Reply | Callable[["RecordedRequest"], Reply]


# ------------------------------------------------------------------------- recording


def _content_text(content: Any) -> str:
    """The text of an OpenAI message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


@dataclass(frozen=True)
class RecordedRequest:
    """A chat-completion request the model received."""

    path: str
    body: Mapping[str, Any]
    kind: RequestKind
    received_at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` array as sent."""
        msgs = self.body.get("messages")
        return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model."""
        names: list[str] = []
        for tool in self.body.get("tools") or []:
            if isinstance(tool, dict):
                fn = tool.get("function")
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    names.append(fn["name"])
        return names

    def tool_parameters(self, name: str) -> dict[str, Any] | None:
        """The JSON schema of the arguments of the offered tool ``name``, or None if the
        request does not offer it."""
        tools = self.body.get("tools")
        for tool in tools if isinstance(tools, list) else []:
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict) and fn.get("name") == name:
                schema = fn.get("parameters")
                return schema if isinstance(schema, dict) else {}
        return None

    @property
    def structured_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must fit when the prompt asked for structured output
        (the parameters of the ``StructuredOutput`` tool), else None."""
        return self.tool_parameters(STRUCTURED_TOOL)

    def texts(self, *roles: str) -> list[str]:
        """Message texts of the given roles (all roles if none given), in order."""
        return [
            _content_text(m.get("content"))
            for m in self.messages
            if not roles or m.get("role") in roles
        ]

    def system_text(self) -> str:
        """All system prompts, joined."""
        return "\n".join(self.texts("system"))

    def prompt_text(self) -> str:
        """Everything but the system prompt: user text (with attached file
        contents), assistant text and tool results, joined by newlines."""
        return "\n".join(self.texts("user", "assistant", "tool"))

    def user_text(self) -> str:
        """The text of user messages only (including attached file contents)."""
        return "\n".join(self.texts("user"))

    def last_user_text(self) -> str:
        """The text of the last user message."""
        users = self.texts("user")
        return users[-1] if users else ""

    def tool_results(self) -> list[str]:
        """The contents of ``tool`` messages (results of earlier tool calls)."""
        return self.texts("tool")


def _classify(body: Mapping[str, Any]) -> RequestKind:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "chat"
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "system":
            text = _content_text(msg.get("content")).lstrip()
            for opening, kind in _SIDE_PROMPTS:
                if opening in text[:400]:
                    return kind
    return "chat"


def _typed_line(request: RecordedRequest) -> str:
    """First line of what the user typed in the last user message.

    OpenCode puts attached files in the same user message as synthetic text
    parts (``Called the Read tool ...``); prefer the part that is not one.
    """
    for msg in reversed(request.messages):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        parts = (
            [content]
            if isinstance(content, str)
            else [p.get("text") for p in content or [] if isinstance(p, dict)]
        )
        candidates = [p for p in parts if isinstance(p, str) and p.strip()]
        typed = [p for p in candidates if not p.lstrip().startswith(("Called the ", "<"))]
        for text in typed or candidates:
            return text.strip().splitlines()[0]
    return ""


# Argument names the two engines give the same thing: OpenCode 1.18's V1 tools take
# ``filePath``, its V2 engine's (``session.next``) take ``path``.
_SYNONYMS: tuple[frozenset[str], ...] = (frozenset({"filePath", "path"}),)


def fit_arguments(
    arguments: Mapping[str, Any], parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``arguments`` with each name the tool's ``parameters`` schema does not know renamed to
    a synonym it does know (``filePath`` <-> ``path``); unchanged without a schema."""
    properties = parameters.get("properties") if parameters is not None else None
    if not isinstance(properties, Mapping):
        return dict(arguments)
    fitted: dict[str, Any] = {}
    for name, value in arguments.items():
        if name not in properties:
            group = next((g for g in _SYNONYMS if name in g), frozenset[str]())
            known = sorted(o for o in group if o in properties and o not in arguments)
            name = known[0] if known else name
        fitted[name] = value
    return fitted


def _fit_reply(reply: Reply, request: RecordedRequest) -> Reply:
    """``reply`` with its tool calls' argument names fitted to the tools ``request`` offers
    (the structured answer is a value of the prompt's own schema: left as it is)."""
    if not reply.tool_calls:
        return reply
    calls = tuple(
        call
        if call.name == STRUCTURED_TOOL
        else replace(
            call, arguments=fit_arguments(call.arguments, request.tool_parameters(call.name))
        )
        for call in reply.tool_calls
    )
    return replace(reply, tool_calls=calls)


def minimal_value(schema: Mapping[str, Any]) -> Any:
    """The smallest value that fits a (simple) JSON schema: required properties only, empty
    arrays, the first enum value, zero, ``""``."""
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        required = required if isinstance(required, list) else []
        return {
            name: minimal_value(properties.get(name) or {})
            for name in required
            if isinstance(name, str)
        }
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        minimum = schema.get("minimum")
        return minimum if isinstance(minimum, (int, float)) else 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return ""


def echo_reply(request: RecordedRequest) -> Reply:
    """The default reply: ``Scripted answer: <first line of the user's message>``; a prompt
    that asks for structured output gets the smallest answer that fits its schema."""
    schema = request.structured_schema
    if schema is not None:
        return Reply.structured(minimal_value(schema))
    line = _typed_line(request)
    return Reply.text(f"Scripted answer: {line}" if line else "Scripted answer.")


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    model: ScriptedModel


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    # -- routing

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self.server.model._hit("GET", self.path)
        if path.endswith("/models"):
            self._json(200, self.server.model._models_payload())
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self.server.model._hit("POST", self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            self._json(400, {"error": {"message": f"bad JSON: {exc}", "type": "invalid_request"}})
            return
        model = self.server.model
        request, reply = model._take(path, body)
        log.info("request kind=%s -> %s", request.kind, _describe(reply))
        if reply.status != 200:
            error = {"message": reply.content, "type": "scripted_error", "code": reply.status}
            self._json(reply.status, {"error": error})
        elif request.stream:
            self._stream(reply, body)
        else:
            self._json(200, _completion(reply))

    # -- writers

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply, body: Mapping[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        model = self.server.model
        try:
            for index, chunk in enumerate(_chunks(reply, body)):
                # A handler thread, not an event loop: waiting here blocks only this reply,
                # and closing the model cuts the wait short.
                if index > 0 and reply.chunk_delay and model._closed.wait(reply.chunk_delay):
                    return
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
                if index == 1 and reply.hold is not None:
                    while not reply.hold.wait(0.05):
                        if model._closed.is_set() or self._peer_closed():
                            log.info("held stream ended: client gone or model closed")
                            return
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            log.info("client closed the stream early (aborted?)")

    def _peer_closed(self) -> bool:
        """Whether the client has closed its end (e.g. OpenCode aborted the run)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _describe(reply: Reply) -> str:
    if reply.status != 200:
        return f"error {reply.status}"
    if reply.tool_calls:
        return "tool calls " + ", ".join(c.name for c in reply.tool_calls)
    return f"text {reply.content[:40]!r}"


def _split(text: str, pieces: int) -> list[str]:
    """``text`` cut into up to ``pieces`` non-empty chunks (one if short)."""
    if not text:
        return []
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(reply: Reply) -> dict[str, int]:
    completion = max(1, len(reply.content) // 4) + 10 * len(reply.tool_calls)
    return {"prompt_tokens": 100, "completion_tokens": completion, "total_tokens": 100 + completion}


def _chunks(reply: Reply, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of one streamed turn."""
    ident = f"chatcmpl-scripted-{next(_CALL_IDS)}"
    created = int(time.time())
    model_name = str(body.get("model") or MODEL_ID)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _split(reply.content, 4):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        args = json.dumps(dict(call.arguments))
        head, tail = args[: len(args) // 2], args[len(args) // 2 :]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": head},
                    }
                ]
            }
        )
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": tail}}]})
    final = chunk({}, "tool_calls" if reply.tool_calls else "stop")
    final["usage"] = _usage(reply)
    yield final


def _completion(reply: Reply) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` for one turn."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
            }
            for call in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-scripted-{next(_CALL_IDS)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(reply),
    }


# ---------------------------------------------------------------------------- model


class ScriptedModel:
    """A fake OpenAI-compatible model on ``127.0.0.1``, answering from a script.

    Use it as a context manager (or call :meth:`start` / :meth:`close`)::

        with ScriptedModel() as model:
            model.base_url              # http://127.0.0.1:PORT/v1
            model.push(Reply.text("Hello"))

    ``default`` answers agent turns once the script is empty: a :class:`Reply`
    or a function of the request (default :func:`echo_reply`).  ``title`` is the
    answer to OpenCode's title-generation requests.
    """

    def __init__(
        self,
        replies: Iterator[Reply] | list[Reply] | tuple[Reply, ...] = (),
        *,
        default: DefaultReply | None = None,
        title: str = DEFAULT_TITLE,
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._script: deque[Reply] = deque(replies)
        self._requests: list[RecordedRequest] = []
        self._hits: list[tuple[str, str]] = []
        self._default: DefaultReply = default if default is not None else echo_reply
        self._title = title
        self._closed = threading.Event()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> ScriptedModel:
        """Start serving (idempotent)."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.model = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"scripted-model:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        log.info("scripted model listening on %s", self.base_url)
        return self

    def close(self) -> None:
        """Stop serving; held streams are released."""
        self._closed.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ScriptedModel is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The provider ``baseURL``: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script

    def push(self, *replies: Reply) -> None:
        """Append replies to the script (each answers one agent turn)."""
        with self._lock:
            self._script.extend(replies)

    def set_default(self, default: DefaultReply) -> None:
        """Change the answer used once the script is empty."""
        with self._lock:
            self._default = default

    @property
    def pending(self) -> int:
        """How many scripted replies are still unused."""
        with self._lock:
            return len(self._script)

    # -- recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every chat-completion request received, of every kind, in order."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """Only the agent turns (``kind == "chat"``), in order."""
        return [r for r in self.requests if r.kind == "chat"]

    def last_request(self, kind: RequestKind | None = "chat") -> RecordedRequest:
        """The last request of ``kind`` (any kind if ``None``)."""
        found = [r for r in self.requests if kind is None or r.kind == kind]
        if not found:
            raise LookupError(f"no {kind or 'model'} request received yet")
        return found[-1]

    def all_prompt_text(self) -> str:
        """The non-system text of every agent turn: what the user typed, the
        contents of attached files and selections, tool results."""
        return "\n".join(r.prompt_text() for r in self.chat_requests())

    def last_prompt_text(self) -> str:
        """The non-system text of the last agent turn."""
        return self.last_request().prompt_text()

    def wait_for_requests(
        self, n: int, timeout: float = 10.0, *, kind: RequestKind | None = "chat"
    ) -> list[RecordedRequest]:
        """Block until at least ``n`` requests of ``kind`` (any if ``None``) have
        arrived; return them.  Raises :class:`TimeoutError`."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [r for r in self._requests if kind is None or r.kind == kind]
                if len(found) >= n:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"expected {n} {kind or 'model'} request(s), got {len(found)}"
                    )
                self._arrived.wait(left)

    @property
    def http_log(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every HTTP request, chat completions or not
        (OpenCode 1.18 never calls ``GET /v1/models``; this shows if one does)."""
        with self._lock:
            return list(self._hits)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()
            self._hits.clear()

    # -- internals, called by the handler

    def _take(self, path: str, body: dict[str, Any]) -> tuple[RecordedRequest, Reply]:
        request = RecordedRequest(path, body, _classify(body), time.time())
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            if request.kind != "chat":
                return request, self._side_reply(request.kind)
            if self._script:
                return request, _fit_reply(self._script.popleft(), request)
            default = self._default
        reply = default if isinstance(default, Reply) else default(request)
        return request, _fit_reply(reply, request)

    def _hit(self, method: str, path: str) -> None:
        with self._lock:
            self._hits.append((method, path))

    def _side_reply(self, kind: RequestKind) -> Reply:
        if kind == "title":
            return Reply.text(self._title)
        if kind == "summary":
            return Reply.text("Scripted summary of the changes.")
        return Reply.text("## Goal\nScripted compaction summary.")

    def _models_payload(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "scripted"}],
        }


# --------------------------------------------------------------------- opencode glue


def opencode_config(
    model_base_url: str, permission: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The project ``opencode.json`` that makes ``mock/mock-model`` (served at
    ``model_base_url``, e.g. :attr:`ScriptedModel.base_url`) the default model.

    ``permission`` (e.g. ``{"edit": "ask", "bash": "ask"}``) is included when given.
    """
    config: dict[str, Any] = {
        "model": f"{PROVIDER_ID}/{MODEL_ID}",
        "provider": {
            PROVIDER_ID: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Mock",
                "options": {"baseURL": model_base_url, "apiKey": "x"},
                "models": {MODEL_ID: {"name": "Mock", "tool_call": True}},
            }
        },
    }
    if permission is not None:
        config["permission"] = dict(permission)
    return config


def _skip_plugin_install(config_dir: Path) -> None:
    """Make OpenCode believe its config folder's dependencies are installed.

    At every instance start OpenCode 1.18 runs a background ``npm install
    @opencode-ai/plugin`` in its config folder unless ``node_modules`` exists and
    ``package-lock.json`` lists every wanted dependency.  Offline, that install
    hangs until a network timeout.  An empty ``node_modules`` and a lock naming
    the package skip it (the package only serves user-written plugins).
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "node_modules").mkdir(exist_ok=True)
    lock = config_dir / "package-lock.json"
    if not lock.exists():
        lock.write_text(
            json.dumps(
                {
                    "name": "opencode-config",
                    "lockfileVersion": 3,
                    "packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}},
                }
            )
        )


def isolated_env(base_dir: Path) -> dict[str, str]:
    """Environment overrides that keep an ``opencode`` process offline, quiet and
    away from the user's own OpenCode data, config, state and cache.

    Every folder lives under ``base_dir`` (created here).  Overlay the result on
    ``os.environ``; drop any inherited ``OPENCODE_*`` variables first if the
    calling environment may carry some.
    """
    base = Path(base_dir)
    dirs = {
        "XDG_DATA_HOME": base / "data",
        "XDG_CONFIG_HOME": base / "config",
        "XDG_STATE_HOME": base / "state",
        "XDG_CACHE_HOME": base / "cache",
        # Stands in for ~ where OpenCode looks for ~/.claude, ~/.agents skills, ...
        "OPENCODE_TEST_HOME": base / "home",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _skip_plugin_install(dirs["XDG_CONFIG_HOME"] / "opencode")
    env = {name: str(path) for name, path in dirs.items()}
    env.update(
        {
            "OPENCODE_DISABLE_MODELS_FETCH": "true",  # no models.dev download
            "OPENCODE_DISABLE_AUTOUPDATE": "true",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "true",  # no language-server installs
            "OPENCODE_DISABLE_SHARE": "true",
            "OPENCODE_DISABLE_CLAUDE_CODE": "true",  # ignore ~/.claude prompts/skills
            "OPENCODE_DISABLE_EXTERNAL_SKILLS": "true",
        }
    )
    return env
