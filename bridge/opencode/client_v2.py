"""HTTP calls to an OpenCode server in its V2 dialect (``/api/*``). Knows nothing about editors.

The same methods as :class:`~bridge.opencode.client.OpenCodeClient`, answering the same typed
objects (read by wire_v2.py), so features do not know which dialect the server speaks. What V2
has no route for raises :class:`~bridge.errors.NotOffered` with one sentence, and the class
attributes say so beforehand (no TUI, no fork, share, delete or shell).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import httpx_sse

from bridge.core.runs import MODEL_HINT
from bridge.errors import NO_TUI, NotOffered, ServerUnreachable
from bridge.opencode import models, wire_v2
from bridge.opencode.client import RUN_TIMEOUT, Json, OpenCodeClient, TuiAction

SESSIONS_PAGE = 100  # sessions listed at most (V2 pages its lists)
REPLAY_QUIET = 0.5  # seconds without a replayed event: the replay is over
MAX_REPLAYED = 5_000  # events replayed per session at most
_ARGUMENT = re.compile(r"\$(ARGUMENTS|\d+)")


def _not_offered(what: str) -> NotOffered:
    return NotOffered(f"This OpenCode server (V2) cannot {what}.")


def _session_path(session_id: str, rest: str = "") -> str:
    return f"/api/session/{quote(session_id)}{rest}"


def fill_command(template: str, text: str) -> str:
    """A slash command's template with its arguments, as OpenCode fills it: ``$ARGUMENTS``
    is all of them, ``$1``… one each (the last takes the rest)."""
    words = text.split()

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "ARGUMENTS":
            return text
        index = int(name) - 1
        if index >= len(words):
            return ""
        return " ".join(words[index:]) if int(name) == _highest(template) else words[index]

    return _ARGUMENT.sub(value, template)


def _highest(template: str) -> int:
    numbers = [int(n) for n in re.findall(r"\$(\d+)", template)]
    return max(numbers, default=0)


class OpenCodeClientV2(OpenCodeClient):
    """One V2 OpenCode server, seen from one workspace folder."""

    dialect: ClassVar[str] = "v2"
    events_path: ClassVar[str] = "/api/event"
    has_tui: ClassVar[bool] = False
    # A file attachment reaches the model as application/octet-stream, which providers refuse.
    takes_file_parts: ClassVar[bool] = False
    replays_missed: ClassVar[bool] = True
    sends_edit_diffs: ClassVar[bool] = False

    # --- server ----------------------------------------------------------------------------

    async def health(self) -> models.HealthInfo:
        """``/api/health`` says no version."""
        return models.HealthInfo.from_wire(await self.request("GET", "/api/health"))

    async def path(self) -> models.PathInfo:
        return wire_v2.location(await self.request("GET", "/api/location"))

    async def missed_events(self, session_id: str, after: int) -> list[dict[str, Any]]:
        """The session's durable events numbered after ``after`` (``GET
        /api/session/{id}/event?after=``): the server sends them at once, then keeps the
        stream open for new ones, so reading stops at the first quiet moment."""
        frames: list[dict[str, Any]] = []
        timeout = httpx.Timeout(5.0, read=REPLAY_QUIET)
        try:
            async with self._http.stream(
                "GET",
                _session_path(session_id, "/event"),
                params={"after": str(after)},
                headers={"Accept": "text/event-stream"},
                timeout=timeout,
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                self._raise_for_status("GET", "/api/session/{id}/event", response)
                async for sse in httpx_sse.EventSource(response).aiter_sse():
                    try:
                        frame = json.loads(sse.data)
                    except ValueError:
                        continue
                    if isinstance(frame, dict) and isinstance(frame.get("type"), str):
                        frames.append(frame)
                    if len(frames) >= MAX_REPLAYED:
                        break
        except httpx.ReadTimeout:
            pass  # quiet: everything missed has come
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"OpenCode at {self.base_url} did not send the events missed while "
                "disconnected; reconnecting."
            ) from exc
        return frames

    # --- sessions --------------------------------------------------------------------------

    async def create_session(
        self, title: str | None = None, permission: list[dict[str, str]] | None = None
    ) -> models.SessionInfo:
        if permission:  # never a session with more rights than the caller asked for
            raise _not_offered("start a session with its own permission rules")
        answer = await self.request("POST", "/api/session", json={})
        return self._expected(wire_v2.session(wire_v2.data(answer)), "POST /api/session")

    async def get_session(self, session_id: str) -> models.SessionInfo:
        answer = await self.request("GET", _session_path(session_id))
        return self._expected(wire_v2.session(wire_v2.data(answer)), "GET /api/session/{id}")

    async def list_sessions(self, roots: bool = False) -> tuple[models.SessionInfo, ...]:
        answer = await self.request(
            "GET", "/api/session", params={"limit": str(SESSIONS_PAGE), "order": "desc"}
        )
        return self._expected(wire_v2.sessions(answer, roots), "GET /api/session")

    async def root_sessions(self) -> tuple[models.SessionInfo, ...]:
        return await self.list_sessions(roots=True)

    async def session_status(self) -> dict[str, models.SessionState]:
        """The sessions that are running (``GET /api/session/active``)."""
        active = wire_v2.data(await self.request("GET", "/api/session/active"))
        if not isinstance(active, dict):
            return self._expected(None, "GET /api/session/active")
        return {session_id: models.SessionState("busy") for session_id in active}

    async def prompt_async(self, session_id: str, body: dict[str, Any]) -> None:
        """A V1 prompt body (``{parts, model?, agent?}``) sent the V2 way: the model and the
        agent are the session's (set first), and the text parts are the prompt's text."""
        if model := body.get("model"):
            await self.set_model(session_id, model["providerID"], model["modelID"])
        if agent := body.get("agent"):
            await self.set_agent(session_id, agent)
        texts = [
            part["text"]
            for part in body.get("parts", [])
            if part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
        prompt = {"prompt": {"text": "\n\n".join(texts)}}
        await self.request("POST", _session_path(session_id, "/prompt"), json=prompt)

    async def set_model(self, session_id: str, provider_id: str, model_id: str) -> None:
        """A model the server lacks is refused here: 1.18.33's V2 engine takes it, then runs
        no step and says nothing."""
        known = await self.config_providers()
        if not any(p.id == provider_id and model_id in p.models for p in known):
            raise NotOffered(
                f"OpenCode: the server has no model {provider_id}/{model_id}; {MODEL_HINT}."
            )
        body = {"model": {"providerID": provider_id, "id": model_id}}
        await self.request("POST", _session_path(session_id, "/model"), json=body)

    async def set_agent(self, session_id: str, agent: str) -> None:
        await self.request("POST", _session_path(session_id, "/agent"), json={"agent": agent})

    async def abort(self, session_id: str) -> Json:
        return await self.request("POST", _session_path(session_id, "/interrupt"), json={})

    async def messages(self, session_id: str) -> tuple[models.Message, ...]:
        answer = await self.request("GET", _session_path(session_id, "/message"))
        return self._expected(wire_v2.messages(answer, session_id), "GET /api/session/{id}/message")

    async def message(self, session_id: str, message_id: str) -> models.Message:
        answer = await self.request(
            "GET", _session_path(session_id, f"/message/{quote(message_id)}")
        )
        return wire_v2.message(wire_v2.data(answer), session_id)

    # --- permissions and questions -----------------------------------------------------------

    async def pending_permissions(self) -> tuple[models.Request, ...]:
        answer = await self.request("GET", "/api/permission/request")
        return self._expected(
            wire_v2.requests(answer, wire_v2.permission), "GET /api/permission/request"
        )

    async def reply_permission(
        self,
        request_id: str,
        reply: str,
        message: str | None = None,
        *,
        session_id: str | None = None,
    ) -> Json:
        body: dict[str, Any] = {"reply": reply}
        if message:
            body["message"] = message
        path = f"/permission/{quote(request_id)}/reply"
        return await self.request("POST", _session_path(self._session(session_id), path), json=body)

    async def pending_questions(self) -> tuple[models.Request, ...]:
        answer = await self.request("GET", "/api/question/request")
        return self._expected(
            wire_v2.requests(answer, wire_v2.question), "GET /api/question/request"
        )

    async def reply_question(
        self, request_id: str, answers: list[list[str]], *, session_id: str | None = None
    ) -> Json:
        path = _session_path(self._session(session_id), f"/question/{quote(request_id)}/reply")
        return await self.request("POST", path, json={"answers": answers})

    async def reject_question(self, request_id: str, *, session_id: str | None = None) -> Json:
        path = _session_path(self._session(session_id), f"/question/{quote(request_id)}/reject")
        return await self.request("POST", path)

    def _session(self, session_id: str | None) -> str:
        if not session_id:  # a V2 request is answered under its session
            raise _not_offered("answer a request that names no session")
        return session_id

    # --- what V2 has no route for ---------------------------------------------------------------

    async def tui_append_prompt(self, text: str) -> Json:
        raise NotOffered(NO_TUI)

    async def tui_action(self, route: TuiAction) -> Json:
        return await self.tui_append_prompt("")

    async def tui_show_toast(self, body: dict[str, Any]) -> Json:
        return await self.tui_append_prompt("")

    async def tui_execute_command(self, command: str) -> Json:
        return await self.tui_append_prompt("")

    async def tui_select_session(self, session_id: str) -> Json:
        return await self.tui_append_prompt("")

    async def delete_session(self, session_id: str) -> Json:
        raise _not_offered("delete sessions")

    async def fork_session(
        self, session_id: str, message_id: str | None = None
    ) -> models.SessionInfo:
        raise _not_offered("fork sessions")

    async def share_session(self, session_id: str) -> models.SessionInfo:
        raise _not_offered("share sessions")

    async def unshare_session(self, session_id: str) -> Json:
        raise _not_offered("share sessions")

    async def run_shell(self, session_id: str, body: dict[str, Any]) -> models.Message:
        raise _not_offered("run shell commands in a session")

    # --- compacting, commands, configuration --------------------------------------------------

    async def summarize_session(self, session_id: str, provider_id: str, model_id: str) -> Json:
        """V2 compacts with the session's own model."""
        return await self.request(
            "POST", _session_path(session_id, "/compact"), json={}, timeout=RUN_TIMEOUT
        )

    async def run_command(self, session_id: str, body: dict[str, Any]) -> Json:
        """V2 runs no command itself: its template (``GET /api/command``), filled with the
        arguments, is sent as the prompt, as the TUI does."""
        name = str(body.get("command", ""))
        template = wire_v2.command_template(await self.request("GET", "/api/command"), name)
        if template is None:
            raise _not_offered(f"run /{name}: it lists no such command")
        text = fill_command(template, str(body.get("arguments", "")))
        prompt: dict[str, Any] = {"parts": [{"type": "text", "text": text}]}
        if body.get("model"):
            prompt["model"] = body["model"]
        if body.get("agent"):
            prompt["agent"] = body["agent"]
        await self.prompt_async(session_id, prompt)
        return None

    async def config(self) -> models.ConfigInfo:
        """V2 publishes no configuration: no default model or agent is known."""
        return models.ConfigInfo(None, None)

    async def config_providers(self) -> tuple[models.Provider, ...]:
        return wire_v2.providers(await self.request("GET", "/api/model"))

    async def agents(self) -> tuple[models.Agent, ...]:
        return wire_v2.agents(await self.request("GET", "/api/agent"))

    async def commands(self) -> tuple[models.Command, ...]:
        return wire_v2.commands(await self.request("GET", "/api/command"))

    async def lsp_status(self) -> tuple[models.LspServer, ...]:
        return ()  # V2 does not say

    async def formatter_status(self) -> tuple[models.Formatter, ...]:
        return ()

    async def mcp_status(self) -> dict[str, str | None]:
        return {}

    # --- diffs, revert and unrevert -------------------------------------------------------------

    async def session_diff(self, session_id: str, message_id: str) -> tuple[models.FileDiff, ...]:
        """The patches the tools of user message ``message_id``'s run reported (V2 has no
        diff route; see wire_v2.messages)."""
        for found in await self.messages(session_id):
            if found.info is not None and found.info.id == message_id:
                return found.info.diffs
        return ()

    async def revert(self, session_id: str, message_id: str, part_id: str | None = None) -> Json:
        """V2's stage is V1's revert: the files go back on disk and the session says where it
        is reverted to; a commit would drop the messages for good, so none is sent."""
        body = {"messageID": message_id}
        return await self.request("POST", _session_path(session_id, "/revert/stage"), json=body)

    async def unrevert(self, session_id: str) -> Json:
        """Clearing the staged revert brings the files back."""
        return await self.request("POST", _session_path(session_id, "/revert/clear"), json={})
