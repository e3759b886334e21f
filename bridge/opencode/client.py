"""HTTP calls to an OpenCode server (v1 API of opencode 1.x). Knows nothing about editors.

Every failure becomes a :class:`bridge.errors.OpenCodeError` whose text tells the user what
to do. No password or Authorization header is ever put into a log line or an error.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import httpx_sse

from bridge.errors import (
    AuthenticationFailed,
    NotFound,
    OpenCodeError,
    PermissionDenied,
    ServerFault,
    ServerUnreachable,
    SessionBusy,
    server_message,
)
from bridge.opencode.models import (
    Agent,
    Command,
    ConfigInfo,
    FileDiff,
    Formatter,
    HealthInfo,
    LspServer,
    Message,
    PathInfo,
    Provider,
    Request,
    SessionInfo,
    SessionState,
    agents,
    commands,
    file_diffs,
    formatters,
    lsp_servers,
    mcp_statuses,
    messages,
    providers,
    requests,
    session_states,
    sessions,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
TuiAction = Literal[
    "/tui/submit-prompt",
    "/tui/clear-prompt",
    "/tui/open-help",
    "/tui/open-sessions",
    "/tui/open-themes",
    "/tui/open-models",
]

HEADERS_TIMEOUT = 5.0  # for the event stream's first answer

Json = Any


def tls_context(url: str) -> ssl.SSLContext:
    """What clients of the server at ``url`` verify TLS with: one context for the process.

    httpx builds a context and loads the CA bundle for every client (about 1 MiB of memory
    each, benchmark 6). An https server gets httpx's own verifying context, built once; a
    plain-http server needs none, so it gets one that trusts no certificate: its clients only
    speak to their base URL and follow no redirect, and a TLS connection they never make could
    not go unverified.
    """
    if urlsplit(url).scheme.lower() == "https":
        return _verifying_context()
    return _context_trusting_nothing()


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


@functools.cache
def _context_trusting_nothing() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _error_detail(response: httpx.Response) -> str:
    """The server's own message from an error body, if it has one."""
    try:
        return server_message(response.json()) or ""
    except ValueError:
        return ""


def _not_json(content_type: str, body: bytes) -> str:
    """What came instead of JSON, as it was: OpenCode always labels its JSON, and answers an
    unknown route with its web UI."""
    kind = content_type.split(";", 1)[0].strip()
    if kind == "text/html" or body.lstrip()[:1] == b"<":
        return "a web page, not JSON"
    try:
        json.loads(body)
    except ValueError:
        return f"{kind or 'an unlabelled answer'}, not JSON"
    label = f"JSON labelled {kind}" if kind else "JSON but no content type"
    return f"{label} (OpenCode labels its JSON application/json)"


class OpenCodeClient:
    """One OpenCode server, seen from one workspace folder (``x-opencode-directory``).

    This speaks V1 (OpenCode 1.x routes); :class:`bridge.opencode.client_v2.OpenCodeClientV2`
    speaks V2 (``/api/*``) with the same methods. What a server can do that the other cannot
    is said by the class attributes below, so a feature can refuse or not offer it.
    """

    dialect: ClassVar[str] = "v1"
    events_path: ClassVar[str] = "/event"
    has_tui: ClassVar[bool] = True  # /tui/*: a TUI can be driven
    # A prompt may carry the selection as a file part OpenCode reads from disk; else the
    # selected lines go in the prompt's text with their path and line numbers.
    takes_file_parts: ClassVar[bool] = True
    # After a reconnect, what was missed can be fetched again (V2: each session's events by
    # their sequence number); V1 replays nothing.
    replays_missed: ClassVar[bool] = False
    sends_edit_diffs: ClassVar[bool] = True  # an edit's permission request carries its diff

    def __init__(
        self,
        base_url: str,
        directory: str,
        *,
        username: str = "opencode",
        password: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Credentials in the URL stay out of every sentence that quotes it.
        parts = urlsplit(base_url.rstrip("/"))
        self.base_url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.directory = directory
        self.has_password = bool(password)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(username, password) if password else None,
            headers={"x-opencode-directory": quote(directory, safe="/")},
            timeout=httpx.Timeout(timeout, connect=5.0),
            verify=tls_context(base_url),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the one place requests are made and failures are translated --------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Json = None,
        params: Mapping[str, str] | None = None,
        expect_json: bool = True,
        timeout: httpx.Timeout | None = None,
    ) -> Json:
        """``timeout`` replaces the client's own, for routes that answer only when a run ends."""
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            response = await self._http.request(method, path, json=json, params=params, **extra)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"OpenCode at {self.base_url} did not answer in time; check that it is "
                "running and not overloaded, or raise requestTimeout."
            ) from exc
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"OpenCode at {self.base_url} is not reachable; start it with "
                "`opencode serve`, or set serverUrl to where it runs."
            ) from exc
        self._raise_for_status(method, path, response)
        if not expect_json or response.status_code == 204 or not response.content:
            return None
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            raise ServerFault(
                f"OpenCode at {self.base_url} answered {method} {path} with "
                f"{_not_json(content_type, response.content)}; check that serverUrl points at "
                "an OpenCode 1.x server."
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ServerFault(
                f"OpenCode at {self.base_url} sent a malformed answer to {method} {path}; "
                "check the server's log."
            ) from exc

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _error_detail(response)
        where = f"OpenCode at {self.base_url}"
        error: OpenCodeError
        if status == 401:
            error = AuthenticationFailed(
                f"{where} refused the password; check OPENCODE_SERVER_PASSWORD (or the "
                "password setting)."
            )
        elif status == 403:
            error = PermissionDenied(
                f"{where} refused {method} {path} (403); check the server's access settings."
            )
        elif status == 404:
            error = NotFound(f"{where} does not know {path}" + (f": {detail}" if detail else "."))
        elif status == 409:
            error = SessionBusy("The OpenCode session is busy; wait for it or abort it first.")
        else:
            reason = detail or f"status {status}"
            error = ServerFault(f"{where} failed on {method} {path}: {reason}.")
        error.status = status
        raise error

    def _expected(self, value: T | None, what: str) -> T:
        """A typed answer, or the fault of a server that answered something else."""
        if value is None:
            raise ServerFault(
                f"OpenCode at {self.base_url} answered {what} with something else than its "
                "documented answer; check that serverUrl points at an OpenCode 1.x server."
            )
        return value

    # --- server ----------------------------------------------------------------------------

    async def health(self) -> HealthInfo:
        return HealthInfo.from_wire(await self.request("GET", "/global/health"))

    async def path(self) -> PathInfo:
        return PathInfo.from_wire(await self.request("GET", "/path"))

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Yield the directory's events (``GET /event``) until the stream ends.

        A frame that is not a JSON object is logged and skipped: one bad frame must not
        end the stream.
        """
        # Heartbeats come every 10 s: a stream silent for much longer is dead. A server that
        # is still starting accepts the connection but never answers it: give up on the
        # headers after HEADERS_TIMEOUT and let the caller try again.
        timeout = httpx.Timeout(5.0, read=35.0)
        request = self._http.build_request(
            "GET", self.events_path, headers={"Accept": "text/event-stream"}, timeout=timeout
        )
        try:
            response = await asyncio.wait_for(
                self._http.send(request, stream=True), HEADERS_TIMEOUT
            )
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:
            raise ServerUnreachable(
                f"Lost the event stream of OpenCode at {self.base_url}; reconnecting."
            ) from exc
        try:
            if response.status_code >= 400:
                # The body is still unread on a stream; read it so the error can quote it.
                await response.aread()
            self._raise_for_status("GET", self.events_path, response)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise ServerFault(
                    f"OpenCode at {self.base_url} has no event stream at {self.events_path}; check "
                    "that serverUrl points at an OpenCode 1.x server."
                )
            async for sse in httpx_sse.EventSource(response).aiter_sse():
                try:
                    event = json.loads(sse.data)
                except ValueError:
                    log.warning("Skipped an event that is not JSON: %.120r", sse.data)
                    continue
                if isinstance(event, dict) and isinstance(event.get("type"), str):
                    yield event
                else:
                    log.warning("Skipped an event without a type: %.120r", sse.data)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"Lost the event stream of OpenCode at {self.base_url}; reconnecting."
            ) from exc
        finally:
            await response.aclose()

    async def missed_events(self, session_id: str, after: int) -> list[dict[str, Any]]:
        """The session's events after number ``after``: V1 numbers none and replays nothing."""
        return []

    # --- sessions --------------------------------------------------------------------------

    async def create_session(
        self, title: str | None = None, permission: list[dict[str, str]] | None = None
    ) -> SessionInfo:
        body: dict[str, Any] = {}
        if title:
            body["title"] = title
        if permission:
            body["permission"] = permission
        answer = await self.request("POST", "/session", json=body)
        return self._expected(SessionInfo.from_wire(answer), "POST /session")

    async def get_session(self, session_id: str) -> SessionInfo:
        answer = await self.request("GET", f"/session/{quote(session_id)}")
        return self._expected(SessionInfo.from_wire(answer), "GET /session/{id}")

    async def list_sessions(self) -> tuple[SessionInfo, ...]:
        return self._expected(sessions(await self.request("GET", "/session")), "GET /session")

    async def session_status(self) -> dict[str, SessionState]:
        """The sessions that are not idle."""
        states = session_states(await self.request("GET", "/session/status"))
        return self._expected(states, "GET /session/status")

    async def prompt_async(self, session_id: str, body: dict[str, Any]) -> None:
        await self.request(
            "POST", f"/session/{quote(session_id)}/prompt_async", json=body, expect_json=False
        )

    async def abort(self, session_id: str) -> Json:
        return await self.request("POST", f"/session/{quote(session_id)}/abort")

    async def messages(self, session_id: str) -> tuple[Message, ...]:
        """The session's messages and their parts, oldest first."""
        answer = await self.request("GET", f"/session/{quote(session_id)}/message")
        return self._expected(messages(answer), "GET /session/{id}/message")

    # --- permissions and questions -----------------------------------------------------------

    async def pending_permissions(self) -> tuple[Request, ...]:
        return self._expected(requests(await self.request("GET", "/permission")), "GET /permission")

    async def reply_permission(
        self,
        request_id: str,
        reply: str,
        message: str | None = None,
        *,
        session_id: str | None = None,  # V2 answers a request under its session
    ) -> Json:
        body: dict[str, Any] = {"reply": reply}
        if message:
            body["message"] = message
        return await self.request("POST", f"/permission/{quote(request_id)}/reply", json=body)

    async def pending_questions(self) -> tuple[Request, ...]:
        return self._expected(requests(await self.request("GET", "/question")), "GET /question")

    # --- steering a session from the editor: TUI, sessions, models, agents, commands -----------

    # Each /tui/* call publishes a tui.* event and answers true, whether or not a TUI listens.

    async def tui_append_prompt(self, text: str) -> Json:
        return await self.request("POST", "/tui/append-prompt", json={"text": text})

    async def tui_action(self, route: TuiAction) -> Json:
        """One of the ``/tui/*`` routes that take nothing: submit or clear the prompt, open a
        dialog."""
        return await self.request("POST", route, json={})

    async def tui_show_toast(self, body: dict[str, Any]) -> Json:
        """``{message, variant, title?, duration?}``."""
        return await self.request("POST", "/tui/show-toast", json=body)

    async def tui_execute_command(self, command: str) -> Json:
        return await self.request("POST", "/tui/execute-command", json={"command": command})

    async def tui_select_session(self, session_id: str) -> Json:
        """404 for a session the server does not know."""
        return await self.request("POST", "/tui/select-session", json={"sessionID": session_id})

    async def root_sessions(self) -> tuple[SessionInfo, ...]:
        """Sessions a person started (no subagent children), as the TUI lists them."""
        answer = await self.request("GET", "/session", params={"roots": "true"})
        return self._expected(sessions(answer), "GET /session")

    async def delete_session(self, session_id: str) -> Json:
        return await self.request("DELETE", f"/session/{quote(session_id)}")

    async def fork_session(self, session_id: str, message_id: str | None = None) -> SessionInfo:
        body = {"messageID": message_id} if message_id else {}
        answer = await self.request("POST", f"/session/{quote(session_id)}/fork", json=body)
        return self._expected(SessionInfo.from_wire(answer), "POST /session/{id}/fork")

    async def share_session(self, session_id: str) -> SessionInfo:
        answer = await self.request("POST", f"/session/{quote(session_id)}/share")
        return self._expected(SessionInfo.from_wire(answer), "POST /session/{id}/share")

    async def unshare_session(self, session_id: str) -> Json:
        return await self.request("DELETE", f"/session/{quote(session_id)}/share")

    async def summarize_session(self, session_id: str, provider_id: str, model_id: str) -> Json:
        """Compacts the session with the model; answers when the summary is written."""
        return await self.request(
            "POST",
            f"/session/{quote(session_id)}/summarize",
            json={"providerID": provider_id, "modelID": model_id},
            timeout=RUN_TIMEOUT,
        )

    async def run_command(self, session_id: str, body: dict[str, Any]) -> Json:
        """``POST /session/{id}/command`` ({command, arguments, agent?, model?}); answers
        when the run ends."""
        return await self.request(
            "POST", f"/session/{quote(session_id)}/command", json=body, timeout=RUN_TIMEOUT
        )

    async def run_shell(self, session_id: str, body: dict[str, Any]) -> Message:
        """``POST /session/{id}/shell`` ({command, agent, model?}); answers with the message
        of the run when it exits."""
        return Message.from_wire(
            await self.request(
                "POST", f"/session/{quote(session_id)}/shell", json=body, timeout=RUN_TIMEOUT
            )
        )

    async def config(self) -> ConfigInfo:
        return ConfigInfo.from_wire(await self.request("GET", "/config"))

    async def config_providers(self) -> tuple[Provider, ...]:
        return providers(await self.request("GET", "/config/providers"))

    async def agents(self) -> tuple[Agent, ...]:
        return agents(await self.request("GET", "/agent"))

    async def commands(self) -> tuple[Command, ...]:
        return commands(await self.request("GET", "/command"))

    async def lsp_status(self) -> tuple[LspServer, ...]:
        return lsp_servers(await self.request("GET", "/lsp"))

    async def formatter_status(self) -> tuple[Formatter, ...]:
        return formatters(await self.request("GET", "/formatter"))

    async def mcp_status(self) -> dict[str, str | None]:
        return mcp_statuses(await self.request("GET", "/mcp"))

    # --- answering questions -------------------------------------------------------------------

    async def reply_question(
        self, request_id: str, answers: list[list[str]], *, session_id: str | None = None
    ) -> Json:
        """``answers``: one list of labels (or the user's own text) per question, in order."""
        return await self.request(
            "POST", f"/question/{quote(request_id)}/reply", json={"answers": answers}
        )

    async def reject_question(self, request_id: str, *, session_id: str | None = None) -> Json:
        return await self.request("POST", f"/question/{quote(request_id)}/reject")

    # --- session diffs, revert and unrevert ------------------------------------------------------

    async def session_diff(self, session_id: str, message_id: str) -> tuple[FileDiff, ...]:
        """The files one user message's run changed (paths relative to the worktree)."""
        answer = await self.request(
            "GET", f"/session/{quote(session_id)}/diff", params={"messageID": message_id}
        )
        return self._expected(file_diffs(answer), "GET /session/{id}/diff")

    async def message(self, session_id: str, message_id: str) -> Message:
        """One message and its parts."""
        return Message.from_wire(
            await self.request("GET", f"/session/{quote(session_id)}/message/{quote(message_id)}")
        )

    async def revert(self, session_id: str, message_id: str, part_id: str | None = None) -> Json:
        """Undo a message's file changes (and everything after it) on disk; 409 while busy."""
        body = {"messageID": message_id}
        if part_id:
            body["partID"] = part_id
        return await self.request("POST", f"/session/{quote(session_id)}/revert", json=body)

    async def unrevert(self, session_id: str) -> Json:
        """Restore what the last revert undid; 409 while busy."""
        return await self.request("POST", f"/session/{quote(session_id)}/unrevert")


# Runs last as long as the agent works; the event stream shows their progress and
# abort ends them, so only connecting is limited.
RUN_TIMEOUT = httpx.Timeout(None, connect=5.0)
