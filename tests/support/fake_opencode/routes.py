"""The fake's routes: the v1 HTTP API of `opencode serve` 1.18.33 answered over the scripted
state (state.py). `FakeOpenCode` is the state with its routes."""

from __future__ import annotations

import concurrent.futures
import copy
import fnmatch
import functools
import threading
from collections.abc import Callable
from typing import Any

from tests.support.fake_opencode.v2 import FakeV2State
from tests.support.fake_opencode.values import VERSION, PromptCall, event
from tests.support.fake_opencode.wire import (
    CATCH_ALL_HTML,
    HTML_TYPE,
    Reply,
    Request,
    StreamAnswer,
    error_reply,
    json_reply,
    now_ms,
)

_TUI_COMMAND_ALIASES = {
    "session_new": "session.new",
    "session_share": "session.share",
    "session_interrupt": "session.interrupt",
    "session_compact": "session.compact",
    "messages_page_up": "session.page.up",
    "messages_page_down": "session.page.down",
    "messages_line_up": "session.line.up",
    "messages_line_down": "session.line.down",
    "messages_half_page_up": "session.half.page.up",
    "messages_half_page_down": "session.half.page.down",
    "messages_first": "session.first",
    "messages_last": "session.last",
    "agent_cycle": "agent.cycle",
}
# `POST /tui/<name>` routes without a body, and the command each one publishes (1.18.33 really
# publishes "session.list" for open-themes).
_TUI_PLAIN_COMMANDS = {
    "open-help": "help.show",
    "open-sessions": "session.list",
    "open-themes": "session.list",
    "open-models": "model.list",
    "submit-prompt": "prompt.submit",
    "clear-prompt": "prompt.clear",
}
_TUI_EVENT_TYPES = frozenset(
    {"tui.prompt.append", "tui.command.execute", "tui.toast.show", "tui.session.select"}
)
_PERMISSION_REPLIES = ("once", "always", "reject")


class FakeOpenCode(FakeV2State):
    """A scripted, stateful fake `opencode serve` on 127.0.0.1 (see the package docstring),
    speaking V1 and V2 (v2.py; ``v1=False``: only V2).

    Not started by the constructor: use it as a context manager, or call `start()` / `close()`.
    Every public method is thread-safe and may be called from tests, scripts or other threads.
    """

    # ---- HTTP routing ----------------------------------------------------------------------

    def _dispatch(self, request: Request, stopping: threading.Event) -> Reply | StreamAnswer | None:
        segments = request.path.strip("/").split("/") if request.path.strip("/") else []
        method = request.method
        if method == "GET" and segments == ["doc"]:
            return json_reply(self._document())
        if method == "GET" and segments == ["api", "event"]:
            return StreamAnswer(wrap_global=False, v2=True)
        if method == "GET" and len(segments) == 4 and segments[:2] == ["api", "session"]:
            if segments[3] == "event":
                return self._v2_session_events(request, segments[2])
        if not self.v1 and segments[:1] != ["api"]:
            return error_reply(404, "Route not found")  # what a V2-only server has no route for
        if method == "GET" and segments == ["event"]:
            return StreamAnswer(wrap_global=False)
        if method == "GET" and segments == ["global", "event"]:
            return StreamAnswer(wrap_global=True)
        if method == "GET" and segments == ["tui", "control", "next"]:
            stopping.wait()  # 1.18.33 never answers this long poll
            return None
        for route_method, pattern, handler in self._route_table:
            if route_method != method or len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for expected, actual in zip(pattern, segments, strict=True):
                if expected.startswith("{"):
                    params[expected[1:-1]] = actual
                elif expected != actual:
                    break
            else:
                return handler(request, params)
        return Reply(200, CATCH_ALL_HTML, HTML_TYPE)

    @property
    def served_routes(self) -> list[tuple[str, str]]:
        """Every ``(METHOD, "/path/{param}")`` the fake answers, the event streams included
        (not ``GET /doc``, the document itself, which does not list itself)."""
        streams = [("GET", "/event"), ("GET", "/global/event"), ("GET", "/tui/control/next")]
        streams += [("GET", "/api/event"), ("GET", "/api/session/{sessionID}/event")]
        return streams + [(m, "/" + "/".join(pattern)) for m, pattern, _ in self._route_table]

    @functools.cached_property
    def _route_table(
        self,
    ) -> list[tuple[str, list[str], Callable[[Request, dict[str, str]], Reply]]]:
        table: list[tuple[str, str, Callable[[Request, dict[str, str]], Reply]]] = [
            (
                "GET",
                "/global/health",
                lambda r, p: json_reply({"healthy": True, "version": VERSION}),
            ),
            ("GET", "/path", self._get_path),
            ("GET", "/config", lambda r, p: json_reply(self.config)),
            ("PATCH", "/config", self._patch_config),
            ("GET", "/config/providers", self._get_providers),
            ("GET", "/agent", lambda r, p: json_reply(self.agents)),
            ("GET", "/command", lambda r, p: json_reply(self.commands)),
            ("GET", "/lsp", lambda r, p: json_reply(self.lsp_servers)),
            ("GET", "/formatter", lambda r, p: json_reply(self.formatters)),
            ("GET", "/mcp", lambda r, p: json_reply(self.mcp_servers)),
            ("POST", "/instance/dispose", self._post_dispose),
            ("GET", "/session", self._list_sessions),
            ("POST", "/session", self._post_session),
            ("GET", "/session/status", lambda r, p: json_reply(self.session_status)),
            ("GET", "/session/{sessionID}", self._get_session),
            ("DELETE", "/session/{sessionID}", self._delete_session),
            ("PATCH", "/session/{sessionID}", self._patch_session),
            ("GET", "/session/{sessionID}/children", self._get_children),
            ("GET", "/session/{sessionID}/todo", self._session_route(lambda s, r: [])),
            ("GET", "/session/{sessionID}/diff", self._get_diff),
            ("GET", "/session/{sessionID}/message", self._get_messages),
            ("GET", "/session/{sessionID}/message/{messageID}", self._get_message),
            ("POST", "/session/{sessionID}/message", self._post_message),
            ("POST", "/session/{sessionID}/prompt_async", self._post_prompt_async),
            ("POST", "/session/{sessionID}/abort", self._post_abort),
            ("POST", "/session/{sessionID}/fork", self._post_fork),
            ("POST", "/session/{sessionID}/share", self._share(True)),
            ("DELETE", "/session/{sessionID}/share", self._share(False)),
            ("POST", "/session/{sessionID}/summarize", self._session_route(lambda s, r: True)),
            ("POST", "/session/{sessionID}/init", self._session_route(lambda s, r: True)),
            ("POST", "/session/{sessionID}/command", self._post_command),
            ("POST", "/session/{sessionID}/shell", self._post_shell),
            ("POST", "/session/{sessionID}/revert", self._revert(True)),
            ("POST", "/session/{sessionID}/unrevert", self._revert(False)),
            ("POST", "/session/{sessionID}/permissions/{requestID}", self._post_permission_legacy),
            ("GET", "/permission", lambda r, p: json_reply(self.pending_permissions)),
            ("POST", "/permission/{requestID}/reply", self._post_permission_reply),
            ("GET", "/question", lambda r, p: json_reply(self.pending_questions)),
            ("POST", "/question/{requestID}/reply", self._post_question_reply),
            ("POST", "/question/{requestID}/reject", self._post_question_reject),
            ("POST", "/tui/append-prompt", self._tui_append_prompt),
            ("POST", "/tui/execute-command", self._tui_execute_command),
            ("POST", "/tui/show-toast", self._tui_show_toast),
            ("POST", "/tui/select-session", self._tui_select_session),
            ("POST", "/tui/publish", self._tui_publish),
            ("POST", "/tui/control/response", lambda r, p: json_reply(True)),
        ]
        table += [
            ("POST", f"/tui/{name}", self._tui_command(command))
            for name, command in _TUI_PLAIN_COMMANDS.items()
        ]
        table += self._v2_routes()
        return [(m, path.strip("/").split("/"), handler) for m, path, handler in table]

    # -- simple routes

    def _get_path(self, request: Request, params: dict[str, str]) -> Reply:
        directory = request.directory if self.echo_directory else self.directory
        return json_reply({**self.paths, "worktree": directory, "directory": directory})

    def _patch_config(self, request: Request, params: dict[str, str]) -> Reply:
        if not isinstance(request.body, dict):
            return error_reply(400, "Expected a JSON object")
        with self._lock:
            self.config = {**self.config, **request.body}
            return json_reply(self.config)

    def _get_providers(self, request: Request, params: dict[str, str]) -> Reply:
        return json_reply({"providers": self.providers, "default": self.default_models})

    def _post_dispose(self, request: Request, params: dict[str, str]) -> Reply:
        # Answer first: the streams end on the script worker, after the answer is on its way.
        self.run_script(None, [lambda fake: fake.dispose_instance()])
        return json_reply(True)

    # -- sessions

    def _session_or_error(self, session_id: str) -> dict[str, Any] | Reply:
        """The live session dict (call with `_lock` held), or the real server's error."""
        if not session_id.startswith("ses"):
            return error_reply(500, "Unexpected server error. Check server logs for details.")
        session = self._sessions.get(session_id)
        if session is None:
            return error_reply(404, f"Session not found: {session_id}")
        return session

    def _session_route(
        self, answer: Callable[[dict[str, Any], Request], Any]
    ) -> Callable[[Request, dict[str, str]], Reply]:
        """A read-only route on one session: 404/500 as the server does, else `answer`."""

        def route(request: Request, params: dict[str, str]) -> Reply:
            with self._lock:
                session = self._session_or_error(params["sessionID"])
                if isinstance(session, Reply):
                    return session
                return json_reply(answer(session, request))

        return route

    def _list_sessions(self, request: Request, params: dict[str, str]) -> Reply:
        sessions = sorted(self.sessions, key=lambda s: s["time"]["updated"], reverse=True)
        if request.query.get("roots") == "true":
            sessions = [s for s in sessions if "parentID" not in s]
        search = request.query.get("search", "").lower()
        if search:
            sessions = [s for s in sessions if search in s["title"].lower()]
        if request.query.get("limit", "").isdigit():
            sessions = sessions[: int(request.query["limit"])]
        return json_reply(sessions)

    def _post_session(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if request.body is not None else {}
        if not isinstance(body, dict):
            return error_reply(400, "Expected a JSON object")
        permission = body.get("permission")
        if permission is not None and not isinstance(permission, list):
            return error_reply(400, "permission must be a list of rules")
        session = self.create_session(
            body.get("title"),
            permission=permission,
            parent_id=body.get("parentID"),
            directory=request.directory if self.echo_directory else None,
        )
        extra = {k: body[k] for k in ("agent", "model", "metadata", "workspaceID") if k in body}
        if extra:
            with self._lock:
                self._sessions[session["id"]].update(copy.deepcopy(extra))
            session.update(extra)
        return json_reply(session)

    def _get_session(self, request: Request, params: dict[str, str]) -> Reply:
        return self._session_route(lambda s, r: s)(request, params)

    def _get_children(self, request: Request, params: dict[str, str]) -> Reply:
        def children(session: dict[str, Any], _request: Request) -> list[dict[str, Any]]:
            return [s for s in self._sessions.values() if s.get("parentID") == session["id"]]

        return self._session_route(children)(request, params)

    def _delete_session(self, request: Request, params: dict[str, str]) -> Reply:
        session_id = params["sessionID"]
        with self._lock:
            session = self._session_or_error(session_id)
            if isinstance(session, Reply):
                return session
            del self._sessions[session_id]
            self._status.pop(session_id, None)
            self._messages.pop(session_id, None)
            self._abort_epochs[session_id] = self._abort_epochs.get(session_id, 0) + 1
        self.publish(event("session.deleted", sessionID=session_id, info=session))
        return json_reply(True)

    def _patch_session(self, request: Request, params: dict[str, str]) -> Reply:
        if not isinstance(request.body, dict):
            return error_reply(400, "Expected a JSON object")
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, Reply):
                return session
            for key in ("title", "metadata", "permission"):
                if key in request.body:
                    session[key] = copy.deepcopy(request.body[key])
            archived = (request.body.get("time") or {}).get("archived")
            if archived is not None:
                session["time"]["archived"] = archived
            session["time"]["updated"] = now_ms()
            snapshot = copy.deepcopy(session)
        self.publish(event("session.updated", sessionID=snapshot["id"], info=snapshot))
        return json_reply(snapshot)

    def _get_diff(self, request: Request, params: dict[str, str]) -> Reply:
        # Like the real server: an unknown session or a missing messageID give 200 [].
        key = (params["sessionID"], request.query.get("messageID", ""))
        with self._lock:
            return json_reply(self._diffs.get(key, []))

    def _message_list(self, session_id: str) -> list[dict[str, Any]]:
        return [
            {"info": m.info, "parts": list(m.parts.values())}
            for m in self._messages.get(session_id, {}).values()
            if m.info is not None
        ]

    def _get_messages(self, request: Request, params: dict[str, str]) -> Reply:
        def messages(session: dict[str, Any], _request: Request) -> list[dict[str, Any]]:
            found = self._message_list(session["id"])
            limit = request.query.get("limit", "")
            return found[-int(limit) :] if limit.isdigit() and int(limit) > 0 else found

        return self._session_route(messages)(request, params)

    def _get_message(self, request: Request, params: dict[str, str]) -> Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, Reply):
                return session
            stored = self._messages.get(session["id"], {}).get(params["messageID"])
            if stored is None or stored.info is None:
                return error_reply(404, f"Message not found: {params['messageID']}")
            return json_reply({"info": stored.info, "parts": list(stored.parts.values())})

    def _accept_prompt(
        self, request: Request, params: dict[str, str]
    ) -> tuple[PromptCall, concurrent.futures.Future[None]] | Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, Reply):
                return session
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("parts"), list):
            return error_reply(400, "Expected a JSON object with a parts list")
        call = PromptCall(session["id"], str(body.get("messageID") or self.new_id("msg")), body)
        with self._lock:
            self._prompts.append(call)
        script = self._prompt_script or self.default_run
        return call, self._enqueue(call.session_id, lambda: script(call))

    def _post_prompt_async(self, request: Request, params: dict[str, str]) -> Reply:
        accepted = self._accept_prompt(request, params)
        return accepted if isinstance(accepted, Reply) else Reply(204)

    def _post_message(self, request: Request, params: dict[str, str]) -> Reply:
        accepted = self._accept_prompt(request, params)
        if isinstance(accepted, Reply):
            return accepted
        call, played = accepted
        try:
            played.result()
        except Exception:  # kept in script_errors; answer as a failed run does
            return error_reply(500, "The prompt script failed")
        with self._lock:
            for message in reversed(self._message_list(call.session_id)):
                if message["info"].get("role") == "assistant":
                    return json_reply(message)
        return json_reply({"info": _assistant_stub(self, call.session_id), "parts": []})

    def _post_abort(self, request: Request, params: dict[str, str]) -> Reply:
        session_id = params["sessionID"]
        # The run lock keeps a script from publishing anything after the idle below.
        with self._run_lock:
            with self._lock:
                self._abort_epochs[session_id] = self._abort_epochs.get(session_id, 0) + 1
                busy = session_id in self._status
                # Pending requests go away without a `permission.replied`, as on the real server.
                for store in (self._permissions, self._questions):
                    for request_id in [k for k, v in store.items() if v["sessionID"] == session_id]:
                        del store[request_id]
            if busy:
                self.publish(event("session.status", sessionID=session_id, status={"type": "idle"}))
                self.publish(event("session.idle", sessionID=session_id))
        return json_reply(True)

    def _post_fork(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, Reply):
                return session
            title, source_id = session["title"], session["id"]
        fork = self.create_session(f"{title} (fork #1)", permission=session.get("permission"))
        with self._lock:
            for message_id, stored in list(self._messages.get(source_id, {}).items()):
                if message_id == body.get("messageID"):
                    break
                copied = self._stored_message(fork["id"], message_id)
                copied.info = {**(stored.info or {}), "sessionID": fork["id"]}
                copied.parts = {k: {**v, "sessionID": fork["id"]} for k, v in stored.parts.items()}
        return json_reply(fork)

    def _share(self, share: bool) -> Callable[[Request, dict[str, str]], Reply]:
        def route(request: Request, params: dict[str, str]) -> Reply:
            with self._lock:
                session = self._session_or_error(params["sessionID"])
                if isinstance(session, Reply):
                    return session
                if share:
                    session["share"] = {"url": f"https://opncd.ai/s/{session['id'][-8:]}"}
                else:
                    session.pop("share", None)
                session["time"]["updated"] = now_ms()
                snapshot = copy.deepcopy(session)
            self.publish(event("session.updated", sessionID=snapshot["id"], info=snapshot))
            return json_reply(snapshot)

        return route

    def _post_command(self, request: Request, params: dict[str, str]) -> Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, Reply):
                return session
        if not isinstance(request.body, dict) or "command" not in request.body:
            return error_reply(400, "Expected a JSON object with command and arguments")
        return json_reply({"info": _assistant_stub(self, session["id"]), "parts": []})

    def _post_shell(self, request: Request, params: dict[str, str]) -> Reply:
        with self._lock:
            session = self._session_or_error(params["sessionID"])
            if isinstance(session, Reply):
                return session
            if session["id"] in self._status:
                return _busy(session["id"])
        if not isinstance(request.body, dict) or "command" not in request.body:
            return error_reply(400, "Expected a JSON object with agent and command")
        return json_reply({"info": _assistant_stub(self, session["id"]), "parts": []})

    def _revert(self, revert: bool) -> Callable[[Request, dict[str, str]], Reply]:
        def route(request: Request, params: dict[str, str]) -> Reply:
            body = request.body if isinstance(request.body, dict) else {}
            if revert and not isinstance(body.get("messageID"), str):
                return error_reply(400, "messageID is required")
            with self._lock:
                session = self._session_or_error(params["sessionID"])
                if isinstance(session, Reply):
                    return session
                if session["id"] in self._status:
                    return _busy(session["id"])
                if revert:
                    session["revert"] = {
                        k: body[k] for k in ("messageID", "partID") if isinstance(body.get(k), str)
                    }
                else:
                    session.pop("revert", None)
                session["time"]["updated"] = now_ms()
                snapshot = copy.deepcopy(session)
            self.publish(event("session.updated", sessionID=snapshot["id"], info=snapshot))
            return json_reply(snapshot)

        return route

    # -- permissions and questions

    def _post_permission_reply(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        return self._reply_permission(params["requestID"], body.get("reply"))

    def _post_permission_legacy(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        return self._reply_permission(params["requestID"], body.get("response"))

    def _reply_permission(self, request_id: str, reply: Any) -> Reply:
        if reply not in _PERMISSION_REPLIES:
            return error_reply(400, 'reply must be "once", "always" or "reject"')
        with self._lock:
            asked = self._permissions.pop(request_id, None)
            if asked is None:
                return json_reply(
                    {
                        "_tag": "PermissionNotFoundError",
                        "requestID": request_id,
                        "message": f"Permission request not found: {request_id}",
                    },
                    404,
                )
            replies = [(asked, reply)]
            # `reject` rejects the session's other requests; `always` approves those its
            # patterns now cover.
            for other in list(self._permissions.values()):
                if other["sessionID"] != asked["sessionID"]:
                    continue
                if reply == "reject" or (
                    reply == "always"
                    and other["permission"] == asked["permission"]
                    and all(
                        any(fnmatch.fnmatchcase(p, a) for a in asked["always"])
                        for p in other["patterns"]
                    )
                ):
                    del self._permissions[other["id"]]
                    replies.append((other, reply))
        for answered, answer in replies:
            self.publish(
                event(
                    "permission.replied",
                    sessionID=answered["sessionID"],
                    requestID=answered["id"],
                    reply=answer,
                )
            )
        return json_reply(True)

    def _take_question(self, request_id: str) -> dict[str, Any] | Reply:
        with self._lock:
            asked = self._questions.pop(request_id, None)
        if asked is None:
            return json_reply(
                {
                    "_tag": "QuestionNotFoundError",
                    "requestID": request_id,
                    "message": f"Question request not found: {request_id}",
                },
                404,
            )
        return asked

    def _post_question_reply(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        answers = body.get("answers")
        if not isinstance(answers, list):
            return error_reply(400, "answers must be a list of lists of labels")
        asked = self._take_question(params["requestID"])
        if isinstance(asked, Reply):
            return asked
        self.publish(
            event(
                "question.replied",
                sessionID=asked["sessionID"],
                requestID=asked["id"],
                answers=answers,
            )
        )
        return json_reply(True)

    def _post_question_reject(self, request: Request, params: dict[str, str]) -> Reply:
        asked = self._take_question(params["requestID"])
        if isinstance(asked, Reply):
            return asked
        self.publish(
            event("question.rejected", sessionID=asked["sessionID"], requestID=asked["id"])
        )
        return json_reply(True)

    # -- TUI

    def _tui_command(self, command: str) -> Callable[[Request, dict[str, str]], Reply]:
        def route(request: Request, params: dict[str, str]) -> Reply:
            self.publish(event("tui.command.execute", command=command))
            return json_reply(True)

        return route

    def _tui_append_prompt(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("text"), str):
            return error_reply(400, "text is required")
        self.publish(event("tui.prompt.append", text=body["text"]))
        return json_reply(True)

    def _tui_execute_command(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("command"), str):
            return error_reply(400, "command is required")
        # Like 1.18.33: only the known legacy names go through; others publish no command.
        command = _TUI_COMMAND_ALIASES.get(body["command"])
        self.publish(event("tui.command.execute", **({"command": command} if command else {})))
        return json_reply(True)

    def _tui_show_toast(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("message"), str) or body.get("variant") not in (
            "info",
            "success",
            "warning",
            "error",
        ):
            return error_reply(400, "message and variant (info|success|warning|error) are required")
        allowed = ("title", "message", "variant", "duration")
        self.publish(event("tui.toast.show", **{k: body[k] for k in allowed if k in body}))
        return json_reply(True)

    def _tui_select_session(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        session_id = body.get("sessionID")
        if not isinstance(session_id, str) or not session_id.startswith("ses"):
            return error_reply(400, "sessionID must start with ses")
        with self._lock:
            if session_id not in self._sessions:
                return error_reply(404, f"Session not found: {session_id}")
        self.publish(event("tui.session.select", sessionID=session_id))
        return json_reply(True)

    def _tui_publish(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("type") not in _TUI_EVENT_TYPES or not isinstance(body.get("properties"), dict):
            return error_reply(400, "Expected a tui.* event")
        self.publish(event(body["type"], **body["properties"]))
        return json_reply(True)


def _busy(session_id: str) -> Reply:
    return json_reply(
        {
            "_tag": "SessionBusyError",
            "sessionID": session_id,
            "message": f"Session {session_id} is busy",
        },
        409,
    )


def _assistant_stub(fake: FakeOpenCode, session_id: str) -> dict[str, Any]:
    now = now_ms()
    return {
        "id": fake.new_id("msg"),
        "sessionID": session_id,
        "role": "assistant",
        "time": {"created": now, "completed": now},
        "parentID": fake.new_id("msg"),
        "modelID": "mock-model",
        "providerID": "mock",
        "mode": "build",
        "agent": "build",
        "path": {"cwd": fake.directory, "root": fake.directory},
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "finish": "stop",
    }
