"""The contract with the real server: the bridge calls only routes that exist, sends only
bodies the server's schema accepts, and handles only event types the server publishes.

The spec comes from the running, pinned ``opencode serve`` (``GET /doc``), so an upgrade of
the pin that breaks the contract fails here first.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from bridge.demo.scripted_model import ScriptedModel
from bridge.opencode.events import KNOWN
from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import StartEditor, execute, open_file
from tests.support.real_opencode import make_git_repo

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.support.real_opencode import RealOpenCode

    repo = make_git_repo(tmp_path_factory.mktemp("contract") / "repo")
    with ScriptedModel() as model, RealOpenCode(repo, model_base_url=model.base_url) as server:
        response = httpx.get(f"{server.url}/doc", timeout=30)
        assert "json" in response.headers["content-type"]
        yield response.json()


# V2's client builds a session's routes with a helper: _session_path(id, "/rest").
SESSION_PATH = ("_session_path", "/api/session/{}")


def _template(node: ast.expr, names: dict[str, str] | None = None) -> str | None:
    """A path argument as a template: constant text, with ``{}`` for each f-string field; a
    call of the V2 session-path helper, or a name assigned one of those in the function."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.Name) and names is not None:
        return names.get(node.id)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == SESSION_PATH[0]
    ):
        rest = _template(node.args[1], names) if len(node.args) > 1 else ""
        return None if rest is None else SESSION_PATH[1] + rest
    return None


def _assigned_paths(function: ast.AST) -> dict[str, str]:
    """Names a function assigns a path template to (``path = f"/permission/{id}/reply"``)."""
    names: dict[str, str] = {}
    for _ in range(2):  # a template may be built from another name
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                found = _template(node.value, names)
                if isinstance(target, ast.Name) and found is not None:
                    names[target.id] = found
    return names


def routes_called() -> set[tuple[str, str]]:
    """Every ``(METHOD, "/path/{}")`` the bridge's source sends: ``x.request("GET", "/a")``,
    ``x.build_request(...)``, ``http.get(f"{url}/path")`` and the like."""
    found: set[tuple[str, str]] = set()
    trees = [ast.parse(source.read_text()) for source in BRIDGE.rglob("*.py")]
    # Class attributes holding a route (each dialect's ``events_path``), by attribute name.
    attributes: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (
                        isinstance(item, ast.AnnAssign)
                        and isinstance(item.target, ast.Name)
                        and item.value is not None
                        and (value := _template(item.value)) is not None
                        and value.startswith("/")
                    ):
                        attributes.setdefault(item.target.id, set()).add(value)
    for tree in trees:
        scopes: dict[int, dict[str, str]] = {}
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = _assigned_paths(function)
                for inner in ast.walk(function):
                    scopes[id(inner)] = names
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            names = scopes.get(id(node), {})
            if isinstance(node.func, ast.Attribute):
                name = node.func.attr
            elif isinstance(node.func, ast.Name):
                name = node.func.id
            else:
                continue
            args = node.args
            if (
                name in ("request", "build_request", "stream")
                and len(args) >= 2
                and isinstance(args[0], ast.Constant)
                and isinstance(args[1], ast.Attribute)
                and args[1].attr in attributes
            ):
                found.update((str(args[0].value), route) for route in attributes[args[1].attr])
                continue
            if name in ("request", "build_request", "stream") and len(args) >= 2:
                method = args[0].value if isinstance(args[0], ast.Constant) else None
                path = _template(args[1], names)
            elif name.upper() in HTTP_METHODS and args:
                method, path = name.upper(), _template(args[0], names)
            elif name == "_simple" and len(args) >= 2:  # a TUI command: client.tui_action(route)
                method, path = "POST", _template(args[1])
            else:
                continue
            if isinstance(method, str) and method.upper() in HTTP_METHODS and path:
                path = re.sub(r"^\{\}(?=/)", "", path)  # f"{url}/path" -> "/path"
                if path.startswith("/"):
                    found.add((method.upper(), path))
    return found


def spec_route(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path.replace("{}", "x")) and method.lower() in operations:
            return dict(operations[method.lower()])
    return None


def test_every_route_the_bridge_calls_exists(spec: dict[str, Any]) -> None:
    called = routes_called()
    assert ("POST", "/session/{}/prompt_async") in called  # the scan does see the client
    # ...and V2's, built with the session-path helper and names holding a path
    assert {
        ("POST", "/api/session/{}/prompt"),
        ("POST", "/api/session/{}/permission/{}/reply"),
        ("POST", "/api/session/{}/question/{}/reject"),
        ("GET", "/api/session/{}/event"),
        ("GET", "/api/event"),
    } <= called, sorted(r for r in called if "/api/" in r[1])
    called.discard(("GET", "/doc"))  # the document itself (the dialect is read from it)
    missing = sorted(f"{m} {p}" for m, p in called if spec_route(spec, m, p) is None)
    assert missing == []


def event_types(spec: dict[str, Any]) -> set[str]:
    union = spec["components"]["schemas"]["Event"]
    found = set()
    for member in union.get("anyOf") or union.get("oneOf") or []:
        schema = member
        if "$ref" in member:
            schema = spec["components"]["schemas"][member["$ref"].rsplit("/", 1)[1]]
        kind = schema.get("properties", {}).get("type", {})
        found.update([kind["const"]] if "const" in kind else kind.get("enum", []))
    return found


def test_every_event_type_the_bridge_handles_is_in_the_spec(spec: dict[str, Any]) -> None:
    published = event_types(spec)
    assert "session.status" in published and "permission.asked" in published
    # what parse_event reads, and server.connected
    handled = {name for kind in KNOWN for name in (kind.WIRE, *kind.ALSO_WIRE)}
    assert {
        "message.part.delta",
        "session.idle",
        "question.rejected",
        "server.connected",
    } <= handled
    assert sorted(handled - published) == []


def validate(spec: dict[str, Any], method: str, path: str, body: Any) -> None:
    route = spec_route(spec, method, path)
    assert route is not None, f"{method} {path} is not in the spec"
    content = (route.get("requestBody") or {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        assert body in (None, {}, b""), f"{method} {path} takes no body, got {body!r}"
        return
    # Refs point into the spec's components: carry them along with the schema.
    jsonschema.validate(body, {**schema, "components": spec["components"]})


async def test_every_body_the_bridge_sends_validates(
    spec: dict[str, Any], tmp_path: Path, start_bridge: StartEditor
) -> None:
    repo = make_git_repo(tmp_path / "repo")
    with FakeOpenCode(repo) as fake:
        options = {
            "serverUrl": fake.url,
            "model": "mock/mock-model",
            "agent": "build",
            "editApproval": "ask",
        }
        editor = await start_bridge(repo, options, log_file=tmp_path / "bridge.log")
        uri = open_file(editor, repo / "src/a.py", (repo / "src/a.py").read_text() + "# more\n")
        selection = {
            "start": {"line": 2, "character": 0},
            "end": {"line": 4, "character": 0},
        }
        diagnostic = {"range": selection, "message": "unused", "severity": 2, "source": "ruff"}
        await execute(
            editor,
            "opencode.ask",
            {"uri": uri, "range": selection, "template": "fix", "diagnostics": [diagnostic]},
        )
        await execute(editor, "opencode.ask", {"prompt": "free text"})
        await editor.wait_for(lambda: len(fake.prompts) >= 2, 20, "both prompts")
        session_id = fake.prompts[-1].session_id
        permission = fake.ask_permission(
            session_id, "bash", metadata={"command": "ls"}, patterns=["ls"]
        )
        question = fake.ask_question(session_id)
        for command, args in [
            ("opencode.session.new", {"title": "contract"}),
            ("opencode.tui.appendPrompt", {"uri": uri, "range": selection}),
            ("opencode.tui.showToast", {"message": "hi", "title": "t", "variant": "info"}),
            ("opencode.tui.executeCommand", {"command": "session_new"}),
            ("opencode.tui.selectSession", {"sessionID": session_id}),
            ("opencode.tui.submitPrompt", {}),
            ("opencode.model.select", {"model": "other/other-model"}),
            ("opencode.agent.select", {"agent": "plan"}),
            ("opencode.command.run", {"name": "review", "arguments": "now"}),
            ("opencode.shell", {"command": "ls"}),
            ("opencode.session.fork", {"sessionID": session_id}),
            ("opencode.session.summarize", {"sessionID": session_id}),
            ("opencode.session.revert", {"sessionID": session_id}),
            ("opencode.session.unrevert", {"sessionID": session_id}),
            (
                "opencode.permission.reply",
                {"id": permission, "reply": "reject", "message": "not now"},
            ),
            ("opencode.question.reply", {"id": question, "answers": [["yes"]]}),
            ("opencode.session.abort", {"sessionID": session_id}),
        ]:
            await execute(editor, command, args)
        await asyncio.sleep(1.0)  # the background requests go out

        sent = [r for r in fake.requests if r.method in ("POST", "PUT", "PATCH")]
        routes = {re.sub(r"/(ses|per|que)_[^/]+", r"/\1", r.path) for r in sent}
        assert {
            "/session",
            "/session/ses/prompt_async",
            "/tui/append-prompt",
            "/tui/show-toast",
            "/session/ses/command",
            "/session/ses/shell",
            "/session/ses/fork",
            "/permission/per/reply",
            "/question/que/reply",
            "/session/ses/abort",
        } <= routes, routes
        for request in sent:
            validate(spec, request.method, request.path, request.body)


async def test_every_v2_body_the_bridge_sends_validates(
    spec: dict[str, Any], tmp_path: Path, start_bridge: StartEditor
) -> None:
    """The same against a server that speaks only V2, with the bridge's default settings."""
    repo = make_git_repo(tmp_path / "repo")
    with FakeOpenCode(repo, v1=False) as fake:
        options = {"serverUrl": fake.url, "model": "mock/mock-model", "agent": "build"}
        editor = await start_bridge(repo, options, log_file=tmp_path / "bridge.log")
        uri = open_file(editor, repo / "src/a.py", (repo / "src/a.py").read_text() + "# more\n")
        selection = {"start": {"line": 2, "character": 0}, "end": {"line": 4, "character": 0}}
        diagnostic = {"range": selection, "message": "unused", "severity": 2, "source": "ruff"}
        await execute(
            editor,
            "opencode.ask",
            {"uri": uri, "range": selection, "template": "fix", "diagnostics": [diagnostic]},
        )
        await execute(editor, "opencode.ask", {"prompt": "free text"})
        await editor.wait_for(lambda: len(fake.v2_prompts) >= 2, 20, "both prompts")
        await editor.wait_for(lambda: not fake.v2_running_sessions(), 20, "the runs' end")
        session_id = fake.v2_prompts[-1].session_id
        # A run that goes on (its step ends in tool calls) asks; the bridge shows both.
        fake.run_script(session_id, fake.v2_turn(session_id, "Asking.", finish="tool-calls"))
        await editor.wait_for(lambda: fake.v2_running_sessions(), 20, "the run")
        permission = fake.ask_permission_v2(session_id, "bash", ["ls"])
        question = fake.ask_question_v2(session_id)
        await editor.wait_for(lambda: len(editor.message_requests) >= 2, 20, "both prompts")
        for command, args in [
            ("opencode.session.new", {"title": "contract"}),
            ("opencode.model.select", {"model": "other/other-model"}),
            ("opencode.agent.select", {"agent": "plan"}),
            ("opencode.command.run", {"name": "review", "arguments": "now"}),
            ("opencode.session.summarize", {"sessionID": session_id}),
            ("opencode.session.revert", {"sessionID": session_id}),
            ("opencode.session.unrevert", {"sessionID": session_id}),
            (
                "opencode.permission.reply",
                {"id": permission, "reply": "reject", "message": "not now"},
            ),
            ("opencode.question.reply", {"id": question, "answers": [["yes"]]}),
            ("opencode.session.abort", {"sessionID": session_id}),
        ]:
            await execute(editor, command, args)

        def sent() -> list[Any]:
            return [r for r in fake.requests if r.method in ("POST", "PUT", "PATCH")]

        expected = {
            "/api/session",
            "/api/session/ses/prompt",
            "/api/session/ses/model",
            "/api/session/ses/agent",
            "/api/session/ses/compact",
            "/api/session/ses/revert/stage",
            "/api/session/ses/revert/clear",
            "/api/session/ses/permission/per/reply",
            "/api/session/ses/question/que/reply",
            "/api/session/ses/interrupt",
        }

        def routes() -> set[str]:
            return {re.sub(r"/(ses|per|que)_[^/]+", r"/\1", r.path) for r in sent()}

        await editor.wait_for(lambda: expected <= routes(), 30, f"the V2 routes {expected}")
        assert all(r.path.startswith("/api/") for r in sent())
        for request in sent():
            validate(spec, request.method, request.path, request.body)


def test_the_validator_does_refuse_a_bad_body(spec: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(spec, "POST", "/session/ses_x/prompt_async", {"parts": "not a list"})
    with pytest.raises(jsonschema.ValidationError):
        validate(spec, "POST", "/permission/per_x/reply", {"reply": "sometimes"})
