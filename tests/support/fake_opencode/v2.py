"""The fake's V2 dialect: OpenCode's ``/api/*`` routes and its ``GET /api/event`` stream, as the
pinned 1.18.33 serves them beside V1 (see ../shared/docs/opencode-v2.md and the OpenAPI
document's ``/api/*`` paths).

What differs from V1, and what the fake does about it:

* Answers are wrapped: a single object in ``{data}``, lists in ``{data, cursor}`` or
  ``{location, data}``; errors carry a ``_tag`` (``SessionNotFoundError``...).
* Events are ``{id, type, location, data, durable?}`` frames on ``/api/event``. Durable ones carry
  ``{aggregateID: <session>, seq, version}``, ``seq`` counting a session's events from 0
  (``session.created``); deltas and permission/question events are not durable, as on the
  server. `publish_v2` numbers them and keeps the durable ones for ``/history``.
* A turn is ``session.next.*`` steps. The fake builds the session's messages
  (``GET /api/session/{id}/message``) and its running state from the events it publishes,
  streams open or not: what a client missed while disconnected is there when it asks.
* ``v1=False`` makes a server that speaks only V2: everything outside ``/api/*`` and ``/doc``
  is 404 ("Route not found") and ``/doc`` lists only ``/api/*``.

Script steps that are V2 events are built with `v2_event` (``data``, not ``properties``);
`v2_turn` gives the steps of an answer, `v2_tool` those of a tool call.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.fake_opencode.state import FakeState
from tests.support.fake_opencode.values import Step
from tests.support.fake_opencode.wire import (
    Reply,
    Request,
    StreamAnswer,
    frame,
    json_reply,
    now_ms,
)
from tests.support.openapi import load_spec

V2Route = tuple[str, str, Callable[[Request, dict[str, str]], Reply]]

# Events the server sends without a sequence number (seen on 1.18.33).
NOT_DURABLE = frozenset(
    {
        "server.connected",
        "session.next.text.delta",
        "session.next.tool.input.delta",
        "session.next.reasoning.delta",
        "permission.v2.asked",
        "permission.v2.replied",
        "question.v2.asked",
        "question.v2.replied",
        "question.v2.rejected",
    }
)
_PERMISSION_REPLIES = ("once", "always", "reject")
_TOKENS = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
NEXT_STEP = "tool-calls"  # a step.ended finish after which the turn goes on


def v2_event(type_: str, **data: Any) -> dict[str, Any]:
    """A V2 event for `publish_v2` or a script: ``{"type": type_, "data": {...}}``; a
    ``session.next.*`` event gets a ``timestamp`` when published if it has none."""
    return {"type": type_, "data": data}


@dataclass(frozen=True)
class PromptCallV2:
    """A prompt the fake admitted on ``POST /api/session/{id}/prompt``."""

    session_id: str
    message_id: str
    text: str
    body: dict[str, Any]


PromptScriptV2 = Callable[[PromptCallV2], Iterable[Step]]
"""What a V2 prompt plays after its ``prompt.admitted`` and ``prompted`` events."""


def _invalid(message: str) -> Reply:
    return json_reply({"_tag": "InvalidRequestError", "message": message, "kind": "Payload"}, 400)


def _not_found(tag: str, message: str, **ids: str) -> Reply:
    return json_reply({"_tag": tag, **ids, "message": message}, 404)


def _session_missing(session_id: str) -> Reply:
    return _not_found(
        "SessionNotFoundError", f"Session not found: {session_id}", sessionID=session_id
    )


def _no_content() -> Reply:
    return Reply(204)


class FakeV2State(FakeState):
    """`FakeState` with what the V2 dialect keeps: numbered events, messages, running sessions,
    V2 permission and question requests. `FakeOpenCode` (routes.py) serves both dialects."""

    def __init__(self, *args: Any, v1: bool = True, **kwargs: Any) -> None:
        """`v1`: serve the V1 routes too (False: a server that speaks only V2)."""
        super().__init__(*args, **kwargs)
        self.v1 = v1
        self._v2_seq: dict[str, int] = {}
        self._v2_history: dict[str, list[dict[str, Any]]] = {}
        self._v2_messages: dict[str, dict[str, dict[str, Any]]] = {}
        self._v2_running: set[str] = set()
        self._v2_choice: dict[str, dict[str, Any]] = {}  # session -> {agent, model}
        self._v2_permissions: dict[str, dict[str, Any]] = {}
        self._v2_questions: dict[str, dict[str, Any]] = {}
        self._v2_prompt_script: PromptScriptV2 | None = None
        self._v2_prompts: deque[PromptCallV2] = deque(maxlen=1_000)

    # ---- events ---------------------------------------------------------------------------

    def publish_v2(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Send a V2 event (``{type, data}``, see `v2_event`) to every open ``/api/event``
        stream, numbered if durable, and update the V2 state from it; returns the frame."""
        kind = str(event["type"])
        data = dict(event.get("data") or {})
        if kind.startswith("session.next.") and "timestamp" not in data:
            data["timestamp"] = now_ms()
        sent: dict[str, Any] = {"id": event.get("id") or self.new_id("evt"), "type": kind}
        session_id = data.get("sessionID")
        with self._lock:
            if kind not in NOT_DURABLE and isinstance(session_id, str):
                seq = self._v2_seq.get(session_id, -1) + 1
                self._v2_seq[session_id] = seq
                version = (
                    2 if kind in ("session.next.step.ended", "session.next.step.failed") else 1
                )
                sent["durable"] = {"aggregateID": session_id, "seq": seq, "version": version}
            sent["location"] = {"directory": self.directory}
            sent["data"] = data
            if "durable" in sent and isinstance(session_id, str):
                history = {k: v for k, v in sent.items() if k != "location"}
                self._v2_history.setdefault(session_id, []).append(copy.deepcopy(history))
            self._observe_v2(kind, data)
        self._offer(sent, v2=True)
        return sent

    def _publish_step(self, step: Mapping[str, Any]) -> None:
        if "data" in step and "properties" not in step:
            self.publish_v2(step)
        else:
            self.publish(step)

    def _observe_v2(self, kind: str, data: dict[str, Any]) -> None:  # noqa: C901 - a case a type
        """The messages and running state a V2 event implies (called with `_lock` held)."""
        session_id = str(data.get("sessionID"))
        messages = self._v2_messages.setdefault(session_id, {})
        at = data.get("timestamp") or now_ms()
        assistant = messages.get(str(data.get("assistantMessageID")))
        if kind == "session.next.prompted":
            prompt = data.get("prompt") or {}
            messages[str(data["messageID"])] = {
                "id": data["messageID"],
                "time": {"created": at},
                "text": str(prompt.get("text", "")),
                "type": "user",
            }
            self._v2_running.add(session_id)
        elif kind == "session.next.step.started":
            started: dict[str, Any] = {
                "id": data["assistantMessageID"],
                "time": {"created": at},
                "type": "assistant",
                "agent": data.get("agent", "build"),
                "model": data.get("model") or {"id": "mock-model", "providerID": "mock"},
                "content": [],
            }
            if data.get("snapshot"):
                started["snapshot"] = {"start": data["snapshot"]}
            messages[str(data["assistantMessageID"])] = started
            self._v2_running.add(session_id)
        elif assistant is None:
            if kind in ("session.next.model.switched", "session.next.agent.switched"):
                key = "model" if "model" in kind else "agent"
                self._v2_choice.setdefault(session_id, {})[key] = data.get(key)
            return
        elif kind == "session.next.text.ended":
            assistant["content"].append(
                {"type": "text", "id": data.get("textID", "text-0"), "text": data.get("text", "")}
            )
        elif kind == "session.next.tool.called":
            assistant["content"].append(
                {
                    "type": "tool",
                    "id": data["callID"],
                    "name": data.get("tool", ""),
                    "provider": {"executed": False},
                    "state": {"status": "running", "input": data.get("input") or {}},
                    "time": {"created": at, "ran": at},
                }
            )
        elif kind in ("session.next.tool.success", "session.next.tool.failed"):
            for piece in assistant["content"]:
                if piece.get("type") == "tool" and piece.get("id") == data.get("callID"):
                    state = piece["state"]
                    if kind.endswith("success"):
                        piece["state"] = {
                            "status": "completed",
                            "input": state.get("input", {}),
                            "content": data.get("content") or [],
                            "outputPaths": data.get("outputPaths") or [],
                            "structured": data.get("structured") or {},
                        }
                    else:
                        piece["state"] = {
                            "status": "error",
                            "input": state.get("input", {}),
                            "error": data.get("error") or {"type": "unknown", "message": ""},
                        }
                    piece["time"] = {**piece["time"], "completed": at}
        elif kind in ("session.next.step.ended", "session.next.step.failed"):
            assistant["time"] = {**assistant["time"], "completed": at}
            if kind.endswith("ended"):
                assistant["finish"] = data.get("finish", "stop")
                assistant["cost"] = data.get("cost", 0)
                assistant["tokens"] = copy.deepcopy(data.get("tokens") or _TOKENS)
            else:
                assistant["finish"] = "error"
                assistant["error"] = data.get("error") or {"type": "unknown", "message": ""}
            if data.get("finish") != NEXT_STEP:
                self._v2_running.discard(session_id)

    # ---- turns, as script steps -------------------------------------------------------------

    def v2_turn(
        self, session_id: str, text: str, *, finish: str = "stop", message_id: str | None = None
    ) -> list[Step]:
        """The steps of one answering step: ``step.started``, the text in word deltas,
        ``step.ended`` with `finish` (``"stop"`` ends the turn)."""
        message_id = message_id or self.new_id("msg")
        base = {"sessionID": session_id, "assistantMessageID": message_id}
        steps: list[Step] = [
            v2_event(
                "session.next.step.started",
                **base,
                agent="build",
                model={"id": "mock-model", "providerID": "mock"},
            ),
            v2_event("session.next.text.started", **base, textID="text-0"),
        ]
        steps += [
            v2_event("session.next.text.delta", **base, textID="text-0", delta=delta)
            for delta in re.findall(r"\S+\s*", text)
        ]
        steps += [
            v2_event("session.next.text.ended", **base, textID="text-0", text=text),
            v2_event(
                "session.next.step.ended",
                **base,
                finish=finish,
                cost=0,
                tokens=copy.deepcopy(_TOKENS),
                files=[],
            ),
        ]
        return steps

    def v2_tool(
        self,
        session_id: str,
        tool: str,
        tool_input: Mapping[str, Any],
        *,
        structured: Mapping[str, Any] | None = None,
        output: str = "",
        files: Sequence[str] = (),
        ask: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        call_id: str | None = None,
    ) -> list[Step]:
        """The steps of a step that runs one tool and ends with ``tool-calls``: its input, the
        call, with `ask` (``ask_permission_v2`` arguments) a permission request first, then
        ``tool.success`` with `structured` (an edit's ``{files: [{file, patch, ...}]}``)."""
        message_id = message_id or self.new_id("msg")
        call_id = call_id or f"call_fake_{self.new_id('prt')[-8:]}"
        base = {"sessionID": session_id, "assistantMessageID": message_id, "callID": call_id}
        steps: list[Step] = [
            v2_event(
                "session.next.step.started",
                sessionID=session_id,
                assistantMessageID=message_id,
                agent="build",
                model={"id": "mock-model", "providerID": "mock"},
            ),
            v2_event("session.next.tool.input.started", **base, name=tool),
            v2_event("session.next.tool.input.ended", **base, text=str(dict(tool_input))),
            v2_event(
                "session.next.tool.called",
                **base,
                tool=tool,
                input=dict(tool_input),
                provider={"executed": False},
            ),
        ]
        if ask is not None:
            source = {"type": "tool", "messageID": message_id, "callID": call_id}
            asking = dict(ask)

            def ask_permission(fake: Any) -> None:
                fake.ask_permission_v2(session_id, source=source, **asking)

            steps.append(ask_permission)
        steps += [
            v2_event(
                "session.next.tool.success",
                **base,
                structured=dict(structured or {}),
                content=[{"type": "text", "text": output}] if output else [],
                outputPaths=[],
                provider={"executed": False},
            ),
            v2_event(
                "session.next.step.ended",
                sessionID=session_id,
                assistantMessageID=message_id,
                finish=NEXT_STEP,
                cost=0,
                tokens=copy.deepcopy(_TOKENS),
                files=list(files),
            ),
        ]
        return steps

    def set_prompt_script_v2(self, script: PromptScriptV2 | Sequence[Step] | None) -> None:
        """What later V2 prompts play after ``prompted`` (a function of the prompt or a list
        of steps); None: `v2_turn` with `reply_text`."""
        if script is None or callable(script):
            self._v2_prompt_script = script
        else:
            steps = list(script)
            self._v2_prompt_script = lambda _call: steps

    @property
    def v2_prompts(self) -> list[PromptCallV2]:
        """V2 prompts admitted, oldest first."""
        with self._lock:
            return list(self._v2_prompts)

    # ---- requests -------------------------------------------------------------------------

    def ask_permission_v2(
        self,
        session_id: str,
        action: str = "edit",
        resources: Sequence[str] = (),
        *,
        save: Sequence[str] | None = None,
        source: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a pending V2 permission request and publish ``permission.v2.asked`` (which, as
        on the server, carries no diff); returns its id."""
        request: dict[str, Any] = {
            "id": self.new_id("per"),
            "sessionID": session_id,
            "action": action,
            "resources": list(resources),
            "save": list(save if save is not None else ["*"]),
        }
        if metadata is not None:
            request["metadata"] = dict(metadata)
        if source is not None:
            request["source"] = dict(source)
        with self._lock:
            self._v2_permissions[request["id"]] = request
        self.publish_v2({"type": "permission.v2.asked", "data": copy.deepcopy(request)})
        return str(request["id"])

    def ask_question_v2(
        self, session_id: str, questions: list[dict[str, Any]] | None = None
    ) -> str:
        """Add a pending V2 question and publish ``question.v2.asked``; returns its id."""
        request: dict[str, Any] = {
            "id": self.new_id("que"),
            "sessionID": session_id,
            "questions": copy.deepcopy(
                questions
                or [
                    {
                        "question": "Go on?",
                        "header": "Continue",
                        "options": [
                            {"label": "Yes", "description": "Go on"},
                            {"label": "No", "description": "Stop here"},
                        ],
                    }
                ]
            ),
        }
        with self._lock:
            self._v2_questions[request["id"]] = request
        self.publish_v2({"type": "question.v2.asked", "data": copy.deepcopy(request)})
        return str(request["id"])

    @property
    def pending_permissions_v2(self) -> list[dict[str, Any]]:
        """What ``GET /api/permission/request`` lists."""
        with self._lock:
            return copy.deepcopy(list(self._v2_permissions.values()))

    def v2_running_sessions(self) -> list[str]:
        """The sessions whose turn is running (``GET /api/session/active``)."""
        with self._lock:
            return sorted(self._v2_running)

    def messages_v2(self, session_id: str) -> list[dict[str, Any]]:
        """The session's V2 messages, oldest first (the route lists them newest first)."""
        with self._lock:
            return copy.deepcopy(list(self._v2_messages.get(session_id, {}).values()))

    # ---- what the routes answer with -------------------------------------------------------

    def create_session(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """As `FakeState.create_session`, and ``session.created`` on ``/api/event`` too."""
        session = super().create_session(*args, **kwargs)
        info = {**session, "cost": 0, "tokens": copy.deepcopy(_TOKENS), "path": ""}
        self.publish_v2(v2_event("session.created", sessionID=session["id"], info=info))
        return session

    def _v2_info(self, session: Mapping[str, Any]) -> dict[str, Any]:
        """A V1 session as ``SessionV2Info`` (call with `_lock` held)."""
        info: dict[str, Any] = {
            "id": session["id"],
            "projectID": session["projectID"],
            "cost": 0,
            "tokens": copy.deepcopy(_TOKENS),
            "time": copy.deepcopy(session["time"]),
            "title": session["title"],
            "location": {"directory": session["directory"]},
        }
        if "parentID" in session:
            info["parentID"] = session["parentID"]
        info.update(copy.deepcopy(self._v2_choice.get(session["id"], {})))
        return info

    def _location(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "project": {"id": self.project_id, "directory": self.directory},
        }

    def _first_frames(
        self, wrap_global: bool, v2: bool, session: str | None, after: int
    ) -> list[bytes]:
        """A session's event stream starts with its durable events numbered after `after`."""
        if session is None:
            return super()._first_frames(wrap_global, v2, session, after)
        with self._lock:
            history = self._v2_history.get(session, [])
            return [frame(e) for e in history if e["durable"]["seq"] > after]

    def _document(self) -> dict[str, Any]:
        """``GET /doc``: the pinned document, only its ``/api/*`` paths on a V2-only fake."""
        spec = load_spec()
        if self.v1:
            return spec
        paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/")}
        return {**spec, "paths": paths}

    # ---- routes ---------------------------------------------------------------------------

    def _v2_routes(self) -> list[V2Route]:
        s = "/api/session/{sessionID}"
        return [
            ("GET", "/api/health", lambda r, p: json_reply({"healthy": True})),
            ("GET", "/api/location", lambda r, p: json_reply(self._location())),
            ("GET", "/api/session", self._v2_list_sessions),
            ("POST", "/api/session", self._v2_post_session),
            ("GET", "/api/session/active", self._v2_active),
            ("GET", s, self._v2_session_route(lambda sid, r: {"data": self._v2_get(sid)})),
            ("POST", f"{s}/prompt", self._v2_prompt),
            ("POST", f"{s}/model", self._v2_switch("model")),
            ("POST", f"{s}/agent", self._v2_switch("agent")),
            ("POST", f"{s}/interrupt", self._v2_interrupt),
            ("POST", f"{s}/compact", self._v2_session_route(lambda sid, r: None)),
            ("GET", f"{s}/message", self._v2_session_route(self._v2_message_list)),
            ("GET", f"{s}/message/{{messageID}}", self._v2_message),
            ("GET", f"{s}/history", self._v2_session_route(self._v2_history_after)),
            ("POST", f"{s}/revert/stage", self._v2_revert_stage),
            ("POST", f"{s}/revert/commit", self._v2_session_route(lambda sid, r: None)),
            ("POST", f"{s}/revert/clear", self._v2_session_route(lambda sid, r: None)),
            ("GET", "/api/permission/request", self._v2_listed(self._v2_permissions)),
            ("GET", f"{s}/permission", self._v2_session_route(self._v2_session_permissions)),
            ("POST", f"{s}/permission/{{requestID}}/reply", self._v2_permission_reply),
            ("GET", "/api/question/request", self._v2_listed(self._v2_questions)),
            ("POST", f"{s}/question/{{requestID}}/reply", self._v2_question_answer(True)),
            ("POST", f"{s}/question/{{requestID}}/reject", self._v2_question_answer(False)),
            ("GET", "/api/agent", lambda r, p: self._v2_catalog(self._v2_agents())),
            ("GET", "/api/model", lambda r, p: self._v2_catalog(self._v2_models())),
            ("GET", "/api/command", lambda r, p: self._v2_catalog(self._v2_commands())),
        ]

    def _v2_session_events(self, request: Request, session_id: str) -> Reply | StreamAnswer:
        """``GET /api/session/{id}/event?after=``: the session's durable events after `after`,
        then the new ones as they come (the stream stays open)."""
        with self._lock:
            if session_id not in self._sessions:
                return _session_missing(session_id)
        after = request.query.get("after", "0")
        floor = int(after) if after.lstrip("-").isdigit() else 0
        return StreamAnswer(wrap_global=False, v2=True, session=session_id, after=floor)

    def _v2_get(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return self._v2_info(self._sessions[session_id])

    def _v2_session_route(
        self, answer: Callable[[str, Request], Any]
    ) -> Callable[[Request, dict[str, str]], Reply]:
        """A route on one session: 404 when there is none, else `answer` (None: 204)."""

        def route(request: Request, params: dict[str, str]) -> Reply:
            session_id = params["sessionID"]
            with self._lock:
                if session_id not in self._sessions:
                    return _session_missing(session_id)
            value = answer(session_id, request)
            return (
                value
                if isinstance(value, Reply)
                else (_no_content() if value is None else json_reply(value))
            )

        return route

    def _v2_list_sessions(self, request: Request, params: dict[str, str]) -> Reply:
        with self._lock:
            infos = [self._v2_info(s) for s in self._sessions.values()]
        infos.sort(key=lambda s: s["time"]["updated"], reverse=request.query.get("order") != "asc")
        if request.query.get("limit", "").isdigit():
            infos = infos[: int(request.query["limit"])]
        return json_reply({"data": infos, "cursor": {}})

    def _v2_post_session(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if request.body is not None else {}
        if not isinstance(body, dict):
            return _invalid("Expected an object")
        session = self.create_session()
        with self._lock:
            choice = {k: copy.deepcopy(body[k]) for k in ("agent", "model") if k in body}
            if choice:
                self._v2_choice[session["id"]] = choice
            return json_reply({"data": self._v2_info(self._sessions[session["id"]])})

    def _v2_active(self, request: Request, params: dict[str, str]) -> Reply:
        running = {sid: {"type": "running"} for sid in self.v2_running_sessions()}
        return json_reply({"data": running})

    def _v2_prompt(self, request: Request, params: dict[str, str]) -> Reply:
        session_id = params["sessionID"]
        with self._lock:
            if session_id not in self._sessions:
                return _session_missing(session_id)
        body = request.body
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, dict) or not isinstance(prompt.get("text"), str):
            return _invalid('Missing key\n  at ["prompt"]')
        call = PromptCallV2(
            session_id, str(body.get("id") or self.new_id("msg")), prompt["text"], body
        )
        delivery = body.get("delivery") or "steer"
        said = {
            "sessionID": session_id,
            "messageID": call.message_id,
            "prompt": {"text": call.text},
        }
        admitted = self.publish_v2(
            v2_event("session.next.prompt.admitted", **said, delivery=delivery)
        )
        with self._lock:
            self._v2_prompts.append(call)
        script = self._v2_prompt_script or (lambda c: self.v2_turn(c.session_id, self.reply_text))
        prompted = v2_event("session.next.prompted", **said, delivery=delivery)
        self._enqueue(session_id, lambda: [prompted, *script(call)])
        return json_reply(
            {
                "data": {
                    "admittedSeq": admitted["durable"]["seq"],
                    "id": call.message_id,
                    "sessionID": session_id,
                    "prompt": {"text": call.text},
                    "delivery": delivery,
                    "timeCreated": admitted["data"]["timestamp"],
                }
            }
        )

    def _v2_switch(self, key: str) -> Callable[[Request, dict[str, str]], Reply]:
        def switch(session_id: str, request: Request) -> Reply | None:
            body = request.body if isinstance(request.body, dict) else {}
            value = body.get(key)
            if key == "model" and not (
                isinstance(value, dict) and {"id", "providerID"} <= set(value)
            ):
                return _invalid('Missing key\n  at ["model"]')
            if key == "agent" and not isinstance(value, str):
                return _invalid('Missing key\n  at ["agent"]')
            self.publish_v2(
                v2_event(
                    f"session.next.{key}.switched",
                    sessionID=session_id,
                    messageID=self.new_id("msg"),
                    **{key: value},
                )
            )
            return None

        return self._v2_session_route(switch)

    def _v2_interrupt(self, request: Request, params: dict[str, str]) -> Reply:
        session_id = params["sessionID"]

        def interrupt(sid: str, _request: Request) -> None:
            with self._run_lock:  # no script step publishes after this
                with self._lock:
                    self._abort_epochs[sid] = self._abort_epochs.get(sid, 0) + 1
                    running = sid in self._v2_running
                    for request_id in [
                        k for k, v in self._v2_permissions.items() if v["sessionID"] == sid
                    ]:
                        del self._v2_permissions[request_id]
                    last = next(
                        (
                            m["id"]
                            for m in reversed(self._v2_messages.get(sid, {}).values())
                            if m["type"] == "assistant"
                        ),
                        None,
                    )
                if running and last is not None:
                    error = {"type": "unknown", "message": "Provider turn interrupted"}
                    self.publish_v2(
                        v2_event(
                            "session.next.step.failed",
                            sessionID=sid,
                            assistantMessageID=last,
                            error=error,
                        )
                    )
                with self._lock:
                    self._v2_running.discard(sid)

        return self._v2_session_route(interrupt)(request, {"sessionID": session_id})

    def _v2_message_list(self, session_id: str, request: Request) -> dict[str, Any]:
        newest_first = list(reversed(self.messages_v2(session_id)))
        if request.query.get("limit", "").isdigit():
            newest_first = newest_first[: int(request.query["limit"])]
        return {"data": newest_first, "cursor": {}}

    def _v2_message(self, request: Request, params: dict[str, str]) -> Reply:
        session_id, message_id = params["sessionID"], params["messageID"]
        with self._lock:
            if session_id not in self._sessions:
                return _session_missing(session_id)
            found = self._v2_messages.get(session_id, {}).get(message_id)
            if found is None:
                return _not_found(
                    "MessageNotFoundError",
                    f"Message not found: {message_id}",
                    sessionID=session_id,
                    messageID=message_id,
                )
            return json_reply({"data": copy.deepcopy(found)})

    def _v2_history_after(self, session_id: str, request: Request) -> dict[str, Any]:
        after = request.query.get("after", "0")
        floor = int(after) if after.lstrip("-").isdigit() else 0
        with self._lock:
            events = [
                copy.deepcopy(e)
                for e in self._v2_history.get(session_id, [])
                if e["durable"]["seq"] > floor
            ]
        return {"data": events, "hasMore": False}

    def _v2_revert_stage(self, request: Request, params: dict[str, str]) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        message_id = body.get("messageID")
        if not isinstance(message_id, str) or not message_id.startswith("msg_"):
            return _invalid('Missing key\n  at ["messageID"]')
        return self._v2_session_route(lambda sid, r: {"data": {"messageID": message_id}})(
            request, params
        )

    def _v2_listed(
        self, store: dict[str, dict[str, Any]]
    ) -> Callable[[Request, dict[str, str]], Reply]:
        def route(request: Request, params: dict[str, str]) -> Reply:
            with self._lock:
                listed = copy.deepcopy(list(store.values()))
            return json_reply({"location": self._location(), "data": listed})

        return route

    def _v2_session_permissions(self, session_id: str, request: Request) -> dict[str, Any]:
        with self._lock:
            listed = [p for p in self._v2_permissions.values() if p["sessionID"] == session_id]
            return {"data": copy.deepcopy(listed)}

    def _v2_permission_reply(self, request: Request, params: dict[str, str]) -> Reply:
        def reply(session_id: str, request: Request) -> Reply | None:
            body = request.body if isinstance(request.body, dict) else {}
            if body.get("reply") not in _PERMISSION_REPLIES:
                return _invalid('Expected "once" | "always" | "reject"\n  at ["reply"]')
            request_id = params["requestID"]
            with self._lock:
                asked = self._v2_permissions.get(request_id)
                if asked is None or asked["sessionID"] != session_id:
                    return _not_found(
                        "PermissionNotFoundError",
                        f"Permission request not found: {request_id}",
                        requestID=request_id,
                    )
                del self._v2_permissions[request_id]
            replied = {"sessionID": session_id, "requestID": request_id, "reply": body["reply"]}
            self.publish_v2(v2_event("permission.v2.replied", **replied))
            return None

        return self._v2_session_route(reply)(request, params)

    def _v2_question_answer(self, answer: bool) -> Callable[[Request, dict[str, str]], Reply]:
        def route(request: Request, params: dict[str, str]) -> Reply:
            def take(session_id: str, request: Request) -> Reply | None:
                body = request.body if isinstance(request.body, dict) else {}
                if answer and not isinstance(body.get("answers"), list):
                    return _invalid('Missing key\n  at ["answers"]')
                request_id = params["requestID"]
                with self._lock:
                    asked = self._v2_questions.get(request_id)
                    if asked is None or asked["sessionID"] != session_id:
                        return _not_found(
                            "QuestionNotFoundError",
                            f"Question request not found: {request_id}",
                            requestID=request_id,
                        )
                    del self._v2_questions[request_id]
                said = {"sessionID": session_id, "requestID": request_id}
                if answer:
                    self.publish_v2(
                        v2_event("question.v2.replied", **said, answers=body["answers"])
                    )
                else:
                    self.publish_v2(v2_event("question.v2.rejected", **said))
                return None

            return self._v2_session_route(take)(request, params)

        return route

    def _v2_catalog(self, items: list[dict[str, Any]]) -> Reply:
        return json_reply({"location": self._location(), "data": items})

    def _v2_agents(self) -> list[dict[str, Any]]:
        return [
            {
                "id": a["name"],
                "request": {"headers": {}, "body": {}},
                "description": a.get("description", ""),
                "mode": a.get("mode", "primary"),
                "hidden": False,
                "permissions": [],
            }
            for a in self.agents
        ]

    def _v2_models(self) -> list[dict[str, Any]]:
        return [
            {
                "id": model_id,
                "providerID": provider["id"],
                "name": model["name"],
                "api": {
                    "id": model_id,
                    "type": "aisdk",
                    "package": "@ai-sdk/openai-compatible",
                    "url": "http://127.0.0.1:1/v1",
                },
                "capabilities": {"tools": True, "input": ["text"], "output": ["text"]},
                "request": {"headers": {}, "body": {}},
                "variants": [],
                "time": {"released": 0},
                "cost": [],
                "status": "active",
                "enabled": True,
                "limit": {"context": 128_000, "output": 8_192},
            }
            for provider in self.providers
            for model_id, model in provider["models"].items()
        ]

    def _v2_commands(self) -> list[dict[str, Any]]:
        return [
            {
                "name": c["name"],
                "template": c.get("template", ""),
                "description": c.get("description", ""),
            }
            for c in self.commands
        ]
