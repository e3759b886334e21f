"""The fake's public value types: recorded requests, script steps, faults, events, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from tests.support.fake_opencode.routes import FakeOpenCode

VERSION = "1.18.33"
"""The server version the fake claims in `/global/health` and in sessions."""


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
        return {
            "name": "BadRequest",
            "data": {"message": message or "Bad request", "kind": "Payload"},
        }
    if status == 404:
        return {"name": "NotFoundError", "data": {"message": message or "Not found"}}
    if status == 409:
        return {"_tag": "SessionBusyError", "sessionID": "", "message": message or "Session busy"}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return {"name": "UnknownError", "data": {"message": message or phrase, "ref": "err_fake"}}
