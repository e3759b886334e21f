"""Which of OpenCode's HTTP APIs a server speaks: V1 (1.x routes) or V2 (``/api/*``).

The ``api`` setting decides (``v1``, ``v2``), or with ``auto`` the server does: its OpenAPI
document (``GET /doc``) lists its routes; V1 when it has every V1 route the bridge cannot do
without, else V2 when it has V2's. A server without a readable document is probed
(``/global/health``, then ``/api/health``). A server that speaks neither is told in one sentence
with what it answered.
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
    """The dialect to speak with the server at ``url`` (reached with these credentials)."""
    if settings.api != "auto":
        return Dialect(settings.api, f"the api setting is {settings.api}")
    auth = httpx.BasicAuth(username, password) if password else None
    # A server builds its document (~400 kB) on the first ask: give it the request timeout.
    timeout = max(PROBE_TIMEOUT, settings.request_timeout)
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), timeout=timeout, auth=auth, verify=tls_context(url)
    ) as http:
        answers: list[str] = []
        try:
            doc = await http.get("/doc")
            answers.append(f"/doc: {_said(doc)}")
            if doc.status_code == 200:
                paths = doc.json().get("paths")
                if isinstance(paths, dict) and (found := from_routes(paths)) is not None:
                    return found
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            # no readable document: ask the routes themselves
            log.info("No usable /doc at %s: %s", url, type(exc).__name__)
        for route, api in (("/global/health", "v1"), ("/api/health", "v2")):
            try:
                response = await http.get(route)
            except httpx.HTTPError as exc:
                answers.append(f"{route}: {type(exc).__name__}")
                continue
            answers.append(f"{route}: {_said(response)}")
            if response.status_code == 200 and "json" in response.headers.get("content-type", ""):
                return Dialect(api, f"it answers {route} (no usable /doc)")
    raise UnknownDialect(
        f"OpenCode at {url} speaks neither OpenCode API the bridge knows (it answered "
        f"{'; '.join(answers)}); check that serverUrl points at an OpenCode server."
    )


def _said(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "").split(";", 1)[0] or "no content type"
    return f"{response.status_code} {kind}"
