"""The OpenCode client and the event stream, against httpx.MockTransport (SSE included)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from bridge.errors import (
    AuthenticationFailed,
    NotFound,
    OpenCodeError,
    PermissionDenied,
    ServerFault,
    ServerUnreachable,
    SessionBusy,
)
from bridge.opencode import stream as stream_module
from bridge.opencode.client import OpenCodeClient
from bridge.opencode.events import Connected, Event, PartDelta, Unknown
from bridge.opencode.models import HealthInfo, Request, SessionInfo, SessionState
from bridge.opencode.stream import EventStream

BASE = "http://127.0.0.1:4096"
DIRECTORY = "/work/project"
PASSWORD = "correct-horse-battery"
BASIC = base64.b64encode(f"opencode:{PASSWORD}".encode()).decode()
HTML = "<!doctype html><html><body>OpenCode</body></html>"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
MakeClient = Callable[..., OpenCodeClient]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[OpenCodeClient] = []

    def make(handler: Handler | None = None, **kwargs: Any) -> OpenCodeClient:
        transport = httpx.MockTransport(handler) if handler is not None else None
        client = OpenCodeClient(
            kwargs.pop("base_url", BASE),
            kwargs.pop("directory", DIRECTORY),
            transport=transport,
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def answer(status: int, body: Any = None, *, html: bool = False) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if html:
            return httpx.Response(status, text=HTML, headers={"content-type": "text/html"})
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, json=body)

    return handle


def sse(*items: Any) -> bytes:
    """SSE frames as the server sends them: ``data: <json>`` and a blank line."""
    frames = []
    for item in items:
        data = item if isinstance(item, str) else json.dumps(item)
        frames.append(f"data: {data}\n\n")
    return "".join(frames).encode()


def event(kind: str, **properties: Any) -> dict[str, Any]:
    return {"id": "evt_1", "type": kind, "properties": properties}


async def trickle(*chunks: bytes, hang: bool = False) -> AsyncIterator[bytes]:
    """A body that arrives as a real server's does: not read in advance."""
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)
    if hang:  # a stream that stays up until the reader goes away
        await asyncio.Event().wait()


def event_stream(*chunks: bytes, hang: bool = False) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=trickle(*chunks, hang=hang),
    )


# --- statuses -> errors ----------------------------------------------------------------------

STATUS_CASES = [
    (
        401,
        {"_tag": "UnauthorizedError", "message": "Authentication required"},
        AuthenticationFailed,
        ["refused the password", "OPENCODE_SERVER_PASSWORD"],
    ),
    (403, None, PermissionDenied, ["refused GET /session/ses_1 (403)"]),
    (
        404,
        {"name": "NotFoundError", "data": {"message": "Session not found: ses_1"}},
        NotFound,
        ["does not know /session/ses_1: Session not found: ses_1"],
    ),
    (409, {"name": "SessionBusyError", "data": {}}, SessionBusy, ["session is busy"]),
    (
        500,
        {"name": "UnknownError", "data": {"message": "Invalid session id", "ref": "r1"}},
        ServerFault,
        ["failed on GET /session/ses_1: Invalid session id."],
    ),
    (
        400,
        {"name": "BadRequest", "data": {"message": "sessionID must start with ses", "kind": "x"}},
        ServerFault,
        ["sessionID must start with ses"],
    ),
    (502, None, ServerFault, ["failed on GET /session/ses_1: status 502."]),
]


@pytest.mark.parametrize(("status", "body", "error_class", "phrases"), STATUS_CASES)
async def test_each_status_becomes_its_error_with_a_sentence(
    make_client: MakeClient,
    status: int,
    body: Any,
    error_class: type[OpenCodeError],
    phrases: list[str],
) -> None:
    client = make_client(answer(status, body), password=PASSWORD)
    with pytest.raises(error_class) as caught:
        await client.get_session("ses_1")
    text = str(caught.value)
    for phrase in phrases:
        assert phrase in text
    assert caught.value.status == status
    assert PASSWORD not in text and BASIC not in text


async def test_not_found_without_a_message(make_client: MakeClient) -> None:
    client = make_client(answer(404))
    with pytest.raises(NotFound, match=r"does not know /permission/per_1/reply\.$"):
        await client.reply_permission("per_1", "once")


async def test_web_page_where_json_was_expected(make_client: MakeClient) -> None:
    # Unknown paths answer 200 with the web UI: that is not an OpenCode 1.x route.
    client = make_client(answer(200, html=True))
    with pytest.raises(ServerFault) as caught:
        await client.health()
    assert "web page" in str(caught.value) and "serverUrl" in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "body", "said"),
    [
        ({}, b'{"status": "ok"}', "with JSON but no content type (OpenCode labels its JSON"),
        ({"content-type": "text/plain"}, b"[1, 2]", "with JSON labelled text/plain (OpenCode"),
        ({"content-type": "text/plain"}, b"hello", "with text/plain, not JSON;"),
        ({}, b"hello", "with an unlabelled answer, not JSON;"),
        ({}, b"<!doctype html><p>hi", "with a web page, not JSON;"),
    ],
)
async def test_an_answer_that_is_not_json_says_what_it_was(
    make_client: MakeClient, headers: dict[str, str], body: bytes, said: str
) -> None:
    # Another server on OpenCode's port: the message says what came, not always "a web page".
    client = make_client(lambda request: httpx.Response(200, content=body, headers=headers))
    with pytest.raises(ServerFault) as caught:
        await client.health()
    message = str(caught.value)
    assert f"answered GET /global/health {said}" in message, message
    assert "check that serverUrl points at an OpenCode 1.x server." in message
    if "JSON" in said.split("(")[0] and "not JSON" not in said:
        assert "web page" not in message


async def test_malformed_json(make_client: MakeClient) -> None:
    client = make_client(
        lambda request: httpx.Response(
            200, content=b"{not json", headers={"content-type": "application/json"}
        )
    )
    with pytest.raises(ServerFault, match="malformed answer to GET /path"):
        await client.path()


async def test_connection_refused_is_unreachable(make_client: MakeClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}", password=PASSWORD)
    with pytest.raises(ServerUnreachable) as caught:
        await client.health()
    text = str(caught.value)
    assert f"127.0.0.1:{port} is not reachable" in text and "serverUrl" in text
    assert PASSWORD not in text and BASIC not in text


async def test_timeout_is_unreachable(make_client: MakeClient) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = make_client(slow, password=PASSWORD)
    with pytest.raises(ServerUnreachable) as caught:
        await client.session_status()
    assert "did not answer in time" in str(caught.value)
    assert "requestTimeout" in str(caught.value)
    assert PASSWORD not in str(caught.value)


# --- what is sent ----------------------------------------------------------------------------


async def test_basic_auth_and_directory_headers(make_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"healthy": True, "version": "1.18.33"})

    with_password = make_client(record, password=PASSWORD)
    assert await with_password.health() == HealthInfo(True, "1.18.33")
    assert seen[-1].headers["authorization"] == f"Basic {BASIC}"
    assert seen[-1].headers["x-opencode-directory"] == DIRECTORY

    other_user = make_client(record, username="me", password=PASSWORD)
    await other_user.health()
    expected = base64.b64encode(f"me:{PASSWORD}".encode()).decode()
    assert seen[-1].headers["authorization"] == f"Basic {expected}"

    without = make_client(record)
    await without.health()
    assert "authorization" not in seen[-1].headers
    assert seen[-1].headers["x-opencode-directory"] == DIRECTORY


@pytest.mark.parametrize("directory", ["/work/my project", "/home/zoë/código/项目"])
async def test_directory_header_is_url_encoded(make_client: MakeClient, directory: str) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    client = make_client(record, directory=directory)
    await client.list_sessions()
    header = seen[0].headers["x-opencode-directory"]
    assert header.isascii() and " " not in header
    assert unquote(header) == directory


async def test_requests_and_bodies(make_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/prompt_async"):
            return httpx.Response(204)
        return httpx.Response(200, json={"id": "ses_1"})

    client = make_client(record)
    rules = [{"permission": "edit", "pattern": "*", "action": "ask"}]
    assert await client.create_session("Review", rules) == SessionInfo("ses_1")
    assert await client.prompt_async("ses_1", {"parts": [{"type": "text", "text": "hi"}]}) is None
    await client.reply_permission("per_1", "reject", "use tabs")
    await client.create_session()
    sent = [(r.method, r.url.path, json.loads(r.content or b"null")) for r in seen]
    assert sent == [
        ("POST", "/session", {"title": "Review", "permission": rules}),
        ("POST", "/session/ses_1/prompt_async", {"parts": [{"type": "text", "text": "hi"}]}),
        ("POST", "/permission/per_1/reply", {"reply": "reject", "message": "use tabs"}),
        ("POST", "/session", {}),
    ]


async def test_ids_are_quoted_in_paths(make_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=True)

    await make_client(record).abort("ses 1?x")
    assert seen[0].url.raw_path == b"/session/ses%201%3Fx/abort"


# --- the event stream ------------------------------------------------------------------------


async def test_events_are_parsed_and_bad_frames_skipped(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    connected = event("server.connected")
    delta = event("message.part.delta", sessionID="ses_1", delta="hi")
    body = (
        sse(connected, "{not json", {"no": "type"}, [1, 2], {"type": 5}, "42")
        + b": a comment line\n\n"
        + sse(delta)
    )
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return event_stream(body)

    client = make_client(handle, password=PASSWORD)
    with caplog.at_level(logging.WARNING, logger="bridge.opencode.client"):
        received = [item async for item in client.events()]
    assert received == [connected, delta]
    assert sum("not JSON" in r.getMessage() for r in caplog.records) == 1
    assert sum("without a type" in r.getMessage() for r in caplog.records) == 4
    assert seen[0].url.path == "/event"
    assert seen[0].headers["accept"] == "text/event-stream"
    assert seen[0].headers["x-opencode-directory"] == DIRECTORY
    assert seen[0].headers["authorization"] == f"Basic {BASIC}"


async def test_event_stream_answering_a_web_page(make_client: MakeClient) -> None:
    client = make_client(answer(200, html=True))
    with pytest.raises(ServerFault) as caught:
        async for _ in client.events():
            pass
    assert "no event stream at /event" in str(caught.value)
    assert "serverUrl" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error_class", "phrase"),
    [
        (401, {"message": "Authentication required"}, AuthenticationFailed, "PASSWORD"),
        (500, {"name": "UnknownError", "data": {"message": "disposed"}}, ServerFault, "disposed"),
    ],
)
async def test_event_stream_refused(
    make_client: MakeClient, status: int, body: Any, error_class: type, phrase: str
) -> None:
    # A real server's error body arrives as a stream, unread when the status is checked.
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            headers={"content-type": "application/json"},
            content=trickle(json.dumps(body).encode()),
        )

    client = make_client(handle, password=PASSWORD)
    with pytest.raises(error_class) as caught:
        async for _ in client.events():
            pass
    assert phrase in str(caught.value)
    assert PASSWORD not in str(caught.value)


async def test_event_stream_cut_off_is_unreachable(make_client: MakeClient) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield sse(event("server.connected"))
        raise httpx.ReadError("connection reset")

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=broken())

    client = make_client(handle)
    received = []
    with pytest.raises(ServerUnreachable, match="Lost the event stream"):
        async for item in client.events():
            received.append(item["type"])
    assert received == ["server.connected"]


async def test_event_stream_not_reachable(make_client: MakeClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServerUnreachable):
        async for _ in make_client(refuse).events():
            pass


# --- EventStream.run: reconnecting -----------------------------------------------------------


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(stream_module, "BACKOFF_START", 0.001)
    monkeypatch.setattr(stream_module, "BACKOFF_MAX", 0.005)
    yield


class Recorder:
    """The callbacks of an EventStream, writing one timeline."""

    def __init__(self) -> None:
        self.timeline: list[str] = []
        self.errors: list[OpenCodeError] = []
        self.connections: list[Connected] = []
        self.changed = asyncio.Event()

    def note(self, entry: str) -> None:
        self.timeline.append(entry)
        self.changed.set()

    def on_event(self, item: Event) -> None:
        if isinstance(item, Connected):
            self.connections.append(item)
        self.note("connected" if isinstance(item, Connected) else getattr(item, "type", "?"))

    def on_disconnected(self, error: OpenCodeError) -> None:
        self.errors.append(error)
        self.note("disconnected")

    async def wait_for(self, count: int) -> None:
        async def until() -> None:
            while len(self.timeline) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout=5)


async def run_until(stream: EventStream, recorder: Recorder, count: int) -> None:
    task = asyncio.create_task(stream.run())
    try:
        await recorder.wait_for(count)
        await asyncio.sleep(0.02)  # nothing more should happen while the stream stays up
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


NOTHING_PENDING = {"/session/status": {}, "/permission": [], "/question": [], "/path": {}}


def scripted(
    *responses: Callable[[httpx.Request], httpx.Response],
    refetch: dict[str, Handler] | None = None,
) -> Handler:
    """Answer /event with each response in turn; the last one again and again. The refetch
    on connecting finds nothing pending, unless ``refetch`` answers its route otherwise."""
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        path = request.url.path
        if path != "/event":
            if refetch is not None and path in refetch:
                return refetch[path](request)
            return answer(200, NOTHING_PENDING[path])(request)
        respond = responses[min(calls, len(responses) - 1)]
        calls += 1
        return respond(request)

    return handle


async def test_stream_that_ends_twice_then_stays_up(
    make_client: MakeClient, quick_backoff: None
) -> None:
    connected = event("server.connected")
    handler = scripted(
        lambda r: event_stream(sse(connected, event("first.a"), event("first.b"))),
        lambda r: event_stream(sse(connected, event("second"))),
        lambda r: event_stream(sse(connected, event("third")), hang=True),
    )
    client = make_client(handler)
    recorder = Recorder()
    stream = EventStream(client, recorder.on_event, recorder.on_disconnected)
    await run_until(stream, recorder, 9)
    assert recorder.timeline == [
        "connected",
        "first.a",
        "first.b",
        "disconnected",
        "connected",
        "second",
        "disconnected",
        "connected",
        "third",
    ]
    assert stream.connected
    assert all("ended; reconnecting" in str(error) for error in recorder.errors)


async def test_failed_connections_are_not_drops(
    make_client: MakeClient, quick_backoff: None
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    handler = scripted(
        refuse,
        answer(503, {"name": "UnknownError", "data": {"message": "starting"}}),
        answer(200, html=True),
        refuse,
        lambda r: event_stream(sse(event("server.connected"), event("hello")), hang=True),
    )
    recorder = Recorder()
    stream = EventStream(make_client(handler), recorder.on_event, recorder.on_disconnected)
    await run_until(stream, recorder, 2)
    assert recorder.timeline == ["connected", "hello"]


async def test_drop_after_an_error_status_is_reported_once(
    make_client: MakeClient, quick_backoff: None
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    handler = scripted(
        lambda r: event_stream(sse(event("server.connected"))),
        refuse,
        refuse,
        lambda r: httpx.Response(  # an unread error body, as a real server sends it
            500, headers={"content-type": "application/json"}, content=trickle(b"{}")
        ),
        lambda r: event_stream(sse(event("server.connected")), hang=True),
    )
    recorder = Recorder()
    stream = EventStream(make_client(handler), recorder.on_event, recorder.on_disconnected)
    await run_until(stream, recorder, 3)
    assert recorder.timeline == ["connected", "disconnected", "connected"]


async def test_failing_callbacks_do_not_end_the_stream(
    make_client: MakeClient, quick_backoff: None, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()

    def on_event(item: Event) -> None:
        if isinstance(item, Unknown) and item.type == "bad":
            raise KeyError("mishandled")
        recorder.on_event(item)

    def on_disconnected(error: OpenCodeError) -> None:
        recorder.note("disconnected")
        raise RuntimeError("bug in the handler")

    handler = scripted(
        lambda r: event_stream(sse(event("server.connected"), event("bad"), event("good"))),
        lambda r: event_stream(sse(event("server.connected"), event("after")), hang=True),
        refetch={"/permission": answer(500, {"name": "UnknownError", "data": {"message": "x"}})},
    )
    stream = EventStream(make_client(handler), on_event, on_disconnected)
    with caplog.at_level(logging.INFO, logger="bridge.opencode.stream"):
        await run_until(stream, recorder, 5)
    assert recorder.timeline == ["connected", "good", "disconnected", "connected", "after"]
    messages = [record.getMessage() for record in caplog.records]
    assert "Failed to handle event bad" in messages
    assert any("Refetching pending permissions" in message for message in messages)
    # what failed to come back is unknown, not "nothing pending"; the rest still came
    assert [c.permissions for c in recorder.connections] == [None, None]
    assert [c.questions for c in recorder.connections] == [(), ()]


async def test_each_connection_refetches_what_is_pending_once(
    make_client: MakeClient, quick_backoff: None
) -> None:
    """The server replays nothing: one Connected per connection carries what is in progress,
    before any other event of that connection."""
    counts: dict[str, int] = {}
    pending = {"id": "per_1", "sessionID": "ses_1", "permission": "bash"}
    fetched = {
        "/session/status": {"ses_1": {"type": "busy"}},
        "/permission": [pending, {"no": "id"}],
        "/question": [],
        "/path": {"worktree": "/w", "directory": "/w/sub"},
    }

    def counted(path: str) -> Handler:
        def handle(request: httpx.Request) -> httpx.Response:
            counts[path] = counts.get(path, 0) + 1
            return answer(200, fetched[path])(request)

        return handle

    handler = scripted(
        lambda r: event_stream(sse(event("server.connected"), event("first"))),
        lambda r: event_stream(sse(event("server.connected"), event("second")), hang=True),
        refetch={path: counted(path) for path in fetched},
    )
    recorder = Recorder()
    stream = EventStream(
        make_client(handler),
        recorder.on_event,
        recorder.on_disconnected,
        on_connected=lambda: recorder.note("back"),
    )
    await run_until(stream, recorder, 7)
    assert recorder.timeline == [
        *("back", "connected", "first", "disconnected"),
        *("back", "connected", "second"),
    ]
    assert counts == {path: 2 for path in fetched}
    connected = recorder.connections[-1]
    assert connected.statuses == {"ses_1": SessionState("busy")}
    assert connected.permissions == (Request.from_wire(pending),)
    assert connected.path is not None and connected.path.worktree == "/w"


async def test_a_refused_server_url_connects_to_nothing_rather_than_another_server() -> None:
    from bridge.core.settings import parse_settings
    from bridge.errors import ServerUnreachable
    from bridge.opencode.connect import find_server

    # serverUrl is not a URL; spawning is on and would start (and fail on) this command.
    settings, _ = parse_settings(
        {"serverUrl": "http://host:notaport", "command": ["/nonexistent/opencode"]}, {}
    )
    with pytest.raises(ServerUnreachable) as caught:
        await find_server(settings, "/tmp", {})
    assert "serverUrl is not a URL" in str(caught.value)
    assert "connects to no OpenCode server" in str(caught.value)


async def test_text_deltas_go_their_own_way_and_other_events_to_on_event(
    make_client: MakeClient, quick_backoff: None
) -> None:
    """A run streams its text as thousands of deltas: they reach on_text_delta only, so the
    features that do not read them are not called for each."""
    delta = event("message.part.delta", sessionID="ses_1", partID="prt_1", field="text", delta="hi")
    handler = scripted(
        lambda r: event_stream(sse(event("server.connected"), delta, event("other")), hang=True)
    )
    recorder = Recorder()
    deltas: list[PartDelta] = []

    def on_text_delta(item: PartDelta) -> None:
        deltas.append(item)
        recorder.note("delta")

    stream = EventStream(
        make_client(handler),
        recorder.on_event,
        recorder.on_disconnected,
        on_text_delta=on_text_delta,
    )
    await run_until(stream, recorder, 3)
    assert recorder.timeline == ["connected", "delta", "other"]
    assert [d.delta for d in deltas] == ["hi"]
