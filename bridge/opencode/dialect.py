"""Which of OpenCode's HTTP APIs a server speaks: V1 (1.x routes) or V2 (``/api/*``).

The ``api`` setting decides (``v1``, ``v2``), or with ``auto`` the server does: its OpenAPI
document (``GET /doc``) lists its routes; V1 when it has every V1 route the bridge cannot do
without, else V2 when it has V2's. A server without a readable document is probed
(``/api/health``); else V1 is spoken, and a server that does not know V1's health route either is
told in one sentence with what it answered.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import httpx

from bridge.core.settings import Settings
from bridge.errors import UnknownDialect
from bridge.opencode.client import tls_context

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0
# Without these a V1 server is no use to the bridge: health, events, sessions, prompts.
V1_NEEDS = ("/global/health", "/event", "/session", "/session/{sessionID}/prompt_async")
V2_NEEDS = ("/api/health", "/api/event", "/api/session", "/api/session/{sessionID}/prompt")


@dataclass(frozen=True)
class Dialect:
    api: str  # "v1" | "v2"
    why: str  # for the log and `opencode-lsp doctor`
    answers: tuple[str, ...] = ()  # what the server answered when neither API was recognised


def from_routes(routes: Collection[str]) -> Dialect | None:
    """The dialect a server's documented routes allow (V1 first: every feature has it)."""
    if all(route in routes for route in V1_NEEDS):
        return Dialect("v1", "its /doc lists the V1 routes")
    if all(route in routes for route in V2_NEEDS):
        missing = [route for route in V1_NEEDS if route not in routes]
        return Dialect("v2", f"its /doc lists the V2 routes but not {', '.join(missing)}")
    return None


async def choose_dialect(
    url: str, settings: Settings, username: str = "opencode", password: str | None = None
) -> Dialect:
    """The dialect to speak with the server at ``url`` (reached with these credentials).

    Unless its document or ``/api/health`` says V2, V1 is spoken: a server that does not
    answer, refuses the password or answers a web page is then told about in V1's own
    sentences, and one that knows no V1 route either in :func:`neither`'s.
    """
    if settings.api != "auto":
        return Dialect(settings.api, f"the api setting is {settings.api}")
    auth = httpx.BasicAuth(username, password) if password else None
    # A server builds its document (~400 kB) on the first ask: give it the request timeout.
    timeout = max(PROBE_TIMEOUT, settings.request_timeout)
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), timeout=timeout, auth=auth, verify=tls_context(url)
    ) as http:
        try:
            doc = await http.get("/doc")
        except httpx.HTTPError as exc:  # not answering: V1's sentence says so
            return Dialect("v1", f"no answer to /doc ({type(exc).__name__})")
        answers = [f"/doc: {_said(doc)}"]
        if doc.status_code == 200 and b'"paths"' in doc.content:
            # Only whether a few routes are keys of its paths matters: looked for in the text,
            # the ~400 kB document is never parsed (a parse left ~4 MiB resident for good).
            listed = [
                route for route in (*V1_NEEDS, *V2_NEEDS) if f'"{route}":'.encode() in doc.content
            ]
            if (found := from_routes(listed)) is not None:
                return found
        try:
            health = await http.get("/api/health")
            answers.append(f"/api/health: {_said(health)}")
            if health.status_code == 200 and "json" in health.headers.get("content-type", ""):
                return Dialect("v2", "it answers /api/health (no usable /doc)")
        except httpx.HTTPError as exc:
            answers.append(f"/api/health: {type(exc).__name__}")
    return Dialect("v1", "neither its /doc nor /api/health says V2", tuple(answers))


def neither(url: str, dialect: Dialect, answer: str) -> UnknownDialect:
    """A server chosen as V1 by default that does not know V1's health route either."""
    answers = "; ".join((*dialect.answers, f"/global/health: {answer}"))
    return UnknownDialect(
        f"OpenCode at {url} speaks neither OpenCode API the bridge knows (it answered "
        f"{answers}); check that serverUrl points at an OpenCode server."
    )


def _said(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "").split(";", 1)[0] or "no content type"
    return f"{response.status_code} {kind}"
