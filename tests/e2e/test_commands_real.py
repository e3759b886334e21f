"""Every workspace command of issue 5 against the real ``opencode serve``: the effect each one
has on the server (a ``tui.*`` event on its stream, its session list, the prompt the scripted
model receives), and InvalidParams naming the argument for bad arguments.

src/a.py in the test repository:
    1 import math
    2
    3 def foo(x):
    4     return math.sqrt(x) + 42
    5
    6
    7 def bar():
    8     return foo(4)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcMethodNotFound
from pygls.uris import from_fs_path

from bridge.demo.scripted_model import Reply, ScriptedModel, isolated_env, opencode_config
from tests.support.editor_buffers import Buffers
from tests.support.lsp import (
    EditorClient,
    StartEditor,
    capabilities,
    code_actions,
    execute,
    line_range,
    open_file,
    start_editor,
)
from tests.support.real_opencode import EventStream, RealOpenCode, make_git_repo

OTHER_MODEL = "mock-other"


@dataclass
class Setup:
    server: RealOpenCode
    editor: EditorClient
    repo: Path
    model: ScriptedModel

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(
            f"{self.server.url}{path}", params={"directory": str(self.repo), **params}
        )
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any = None) -> Any:
        response = httpx.post(
            f"{self.server.url}{path}",
            params={"directory": str(self.repo)},
            json=body if body is not None else {},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def sessions(self) -> list[dict[str, Any]]:
        return list(self.get("/session"))

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/session/{session_id}/message"))

    async def current_session(self) -> str:
        """The session the bridge last announced in ``opencode/status``."""
        await self.editor.wait_for(
            lambda: any(s.get("sessionID") for s in self.editor.statuses), 30, "a session"
        )
        return str([s for s in self.editor.statuses if s.get("sessionID")][-1]["sessionID"])

    async def answered(self, text: str) -> None:
        await self.editor.wait_for(
            lambda: any(text in m.message for m in self.editor.log_messages),
            60,
            f"the answer {text!r}",
        )


def get_json(url: str) -> Any:
    response = httpx.get(url)
    response.raise_for_status()
    return response.json()


def read(path: Path) -> str:
    return path.read_text()


def config(model: ScriptedModel, **extra: Any) -> dict[str, Any]:
    """The scripted model's config with a second model and a slash command of our own."""
    result = opencode_config(model.base_url)
    result["provider"]["mock"]["models"][OTHER_MODEL] = {"name": "Other", "tool_call": True}
    result["command"] = {"greet": {"template": "Say hello to $ARGUMENTS.", "description": "Hi"}}
    result.update(extra)
    return result


@pytest.fixture
async def setup(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode: Any, start_bridge: StartEditor
) -> AsyncIterator[Setup]:
    server = start_opencode(git_repo, config=config(scripted_model))
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    await editor.wait_for(lambda: editor.statuses, 30, "the connection")
    yield Setup(server, editor, git_repo, scripted_model)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    """One server and one editor for tests that leave nothing behind (bad arguments)."""
    base = tmp_path_factory.mktemp("shared")
    repo = make_git_repo(base / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env.update(isolated_env(base / "editor-home"))
    with ScriptedModel() as model:
        server = RealOpenCode(repo, config=config(model), base_dir=base / "opencode").start()
        try:
            editor = await start_editor(repo, {"serverUrl": server.url}, env=env)
            await editor.wait_for(lambda: editor.statuses, 30, "the connection")
            yield Setup(server, editor, repo, model)
            await editor.shutdown_session()
            await editor.stop()
        finally:
            server.stop()


@pytest.fixture
async def events(setup: Setup) -> AsyncIterator[EventStream]:
    async with EventStream(setup.server, directory=setup.repo) as stream:
        yield stream


# --- TUI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "arguments", "kind", "properties"),
    [
        (
            "opencode.tui.appendPrompt",
            {"text": "hello TUI"},
            "tui.prompt.append",
            {"text": "hello TUI"},
        ),
        ("opencode.tui.submitPrompt", None, "tui.command.execute", {"command": "prompt.submit"}),
        ("opencode.tui.clearPrompt", None, "tui.command.execute", {"command": "prompt.clear"}),
        ("opencode.tui.openHelp", None, "tui.command.execute", {"command": "help.show"}),
        ("opencode.tui.openSessions", None, "tui.command.execute", {"command": "session.list"}),
        # 1.18.33 publishes session.list for open-themes too (its own bug, not ours).
        ("opencode.tui.openThemes", {}, "tui.command.execute", {"command": "session.list"}),
        ("opencode.tui.openModels", None, "tui.command.execute", {"command": "model.list"}),
        (
            "opencode.tui.executeCommand",
            {"command": "agent_cycle"},
            "tui.command.execute",
            {"command": "agent.cycle"},
        ),
        (
            "opencode.tui.showToast",
            {"message": "Saved", "title": "Editor", "variant": "success", "duration": 1234},
            "tui.toast.show",
            {"message": "Saved", "title": "Editor", "variant": "success", "duration": 1234},
        ),
        (
            "opencode.tui.showToast",
            {"message": "Plain"},
            "tui.toast.show",
            {"message": "Plain", "variant": "info"},
        ),
    ],
)
async def test_tui_commands_publish_their_event(
    setup: Setup,
    events: EventStream,
    command: str,
    arguments: dict[str, Any] | None,
    kind: str,
    properties: dict[str, Any],
) -> None:
    seen = len(events.events)
    args = [] if arguments is None else [arguments]
    await execute(setup.editor, command, *args)
    event = await events.wait_for(kind, after=seen)
    assert properties.items() <= event["properties"].items()
    assert not setup.editor.shown(types.MessageType.Error)


async def test_append_prompt_sends_a_reference_to_the_selection(
    setup: Setup, events: EventStream
) -> None:
    uri = open_file(setup.editor, setup.repo / "src/a.py")
    actions = await code_actions(setup.editor, uri, line_range(2, 3))
    [add] = [a for a in actions if a.title == "OpenCode: Add selection to the TUI prompt"]
    assert add.command is not None

    result = await execute(setup.editor, add.command.command, *add.command.arguments or [])

    assert result == {"text": "@src/a.py#L3-4 ", "via": "server"}  # no TUI on the editor context
    event = await events.wait_for("tui.prompt.append")
    assert event["properties"]["text"] == "@src/a.py#L3-4 "
    # A whole file, without a range:
    await execute(setup.editor, "opencode.tui.appendPrompt", {"uri": uri})
    await events.wait_for("tui.prompt.append", lambda p: p["text"] == "@src/a.py ")


async def test_select_session_in_the_tui_and_the_editor_follows(
    setup: Setup, events: EventStream
) -> None:
    first = setup.post("/session", {"title": "first"})["id"]
    result = await execute(setup.editor, "opencode.tui.selectSession", {"sessionID": first})
    assert result == {"sessionID": first}
    await events.wait_for("tui.session.select", lambda p: p["sessionID"] == first)
    assert await setup.current_session() == first

    # Someone else tells the TUI to select another session: the editor follows too.
    second = setup.post("/session", {"title": "second"})["id"]
    setup.post("/tui/select-session", {"sessionID": second})
    await setup.editor.wait_for(
        lambda: setup.editor.statuses[-1].get("sessionID") == second, 30, "following the TUI"
    )
    setup.model.push(Reply.text("in the second session"))
    await execute(setup.editor, "opencode.ask", {"prompt": "where am I?"})
    await setup.answered("in the second session")
    assert [m["info"]["role"] for m in setup.messages(second)] == ["user", "assistant"]
    assert setup.messages(first) == []


async def test_select_unknown_session_in_the_tui_says_so(setup: Setup) -> None:
    await execute(setup.editor, "opencode.tui.selectSession", {"sessionID": "ses_nope"})
    await setup.editor.wait_for(lambda: setup.editor.shown(types.MessageType.Error), 30, "an error")
    assert setup.editor.shown(types.MessageType.Error) == [
        "OpenCode has no session ses_nope; opencode.session.list lists them."
    ]


# --- sessions -----------------------------------------------------------------------------------


async def test_new_list_and_select_sessions(setup: Setup) -> None:
    editor = setup.editor
    older = setup.post("/session", {"title": "older"})["id"]

    made = await execute(editor, "opencode.session.new", {"title": "from the editor"})

    assert made["title"] == "from the editor"
    assert [s["title"] for s in setup.sessions() if s["id"] == made["sessionID"]] == [
        "from the editor"
    ]
    assert await setup.current_session() == made["sessionID"]
    listed = await execute(editor, "opencode.session.list")
    assert [(row["sessionID"], row["title"], row["current"]) for row in listed] == [
        (made["sessionID"], "from the editor", True),
        (older, "older", False),
    ]

    assert await execute(editor, "opencode.session.select", {"sessionID": older}) == {
        "sessionID": older,
        "title": "older",
    }
    setup.model.push(Reply.text("answered in the older session"))
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await setup.answered("answered in the older session")
    assert len(setup.messages(older)) == 2
    assert setup.messages(made["sessionID"]) == []


async def test_select_without_an_id_offers_the_sessions_newest_first(setup: Setup) -> None:
    editor = setup.editor
    setup.post("/session", {"title": "alpha"})
    beta = setup.post("/session", {"title": "beta"})["id"]
    editor.answer_request = lambda params: "beta"

    assert await execute(editor, "opencode.session.select") is None

    await editor.wait_for(lambda: editor.message_requests, 30, "the choice")
    titles = [action.title for action in editor.message_requests[0].actions or []]
    assert titles == ["beta", "alpha"]
    await editor.wait_for(lambda: editor.statuses[-1].get("sessionID") == beta, 30, "beta")


@pytest.mark.parametrize(
    "answer", [JsonRpcMethodNotFound("window/showMessageRequest"), None], ids=["helix", "dismissed"]
)
async def test_select_in_an_editor_that_cannot_choose_says_to_pass_the_id(
    setup: Setup, answer: Any
) -> None:
    setup.post("/session", {"title": "alpha"})
    setup.editor.answer_request = lambda params: answer
    await execute(setup.editor, "opencode.session.select", {})
    await setup.editor.wait_for(
        lambda: setup.editor.shown(types.MessageType.Warning), 30, "the hint"
    )
    [hint] = setup.editor.shown(types.MessageType.Warning)
    assert 'opencode.session.select {"sessionID": "ses_…"}' in hint


async def test_fork_makes_the_fork_current(setup: Setup) -> None:
    setup.model.push(Reply.text("first answer"))
    await execute(setup.editor, "opencode.ask", {"prompt": "one"})
    await setup.answered("first answer")
    original = await setup.current_session()

    fork = await execute(setup.editor, "opencode.session.fork")

    assert fork["forkedFrom"] == original and fork["sessionID"] != original
    by_id = {s["id"]: s for s in setup.sessions()}
    assert by_id[fork["sessionID"]]["title"].endswith("(fork #1)")
    assert len(setup.messages(fork["sessionID"])) == 2  # the conversation came along
    assert await setup.current_session() == fork["sessionID"]


async def test_delete_removes_the_session_and_the_next_ask_starts_another(setup: Setup) -> None:
    made = await execute(setup.editor, "opencode.session.new", {"title": "doomed"})
    await execute(setup.editor, "opencode.session.delete")
    deleted = f"OpenCode: deleted session {made['sessionID']}."
    await setup.editor.wait_for(lambda: deleted in setup.editor.shown(), 30, "the deletion")
    assert made["sessionID"] not in [s["id"] for s in setup.sessions()]
    setup.model.push(Reply.text("fresh"))
    await execute(setup.editor, "opencode.ask", {"prompt": "hi"})
    await setup.answered("fresh")
    assert "The OpenCode session was gone; started a new one." not in setup.editor.shown()
    assert len(setup.sessions()) == 1


async def test_abort_stops_the_running_answer(setup: Setup) -> None:
    hold = threading.Event()
    setup.model.push(Reply.text("this never finishes", hold=hold))
    try:
        await execute(setup.editor, "opencode.ask", {"prompt": "take your time"})
        await setup.editor.wait_for(setup.model.chat_requests, 60, "the model's turn")
        session_id = await setup.current_session()
        assert await execute(setup.editor, "opencode.session.abort") == {"sessionID": session_id}

        def aborted() -> bool:
            errors = [m["info"].get("error") for m in setup.messages(session_id)]
            return {"name": "MessageAbortedError"}.items() <= (errors[-1] or {}).items()

        await setup.editor.wait_for(aborted, 30, "the aborted answer")
        await setup.editor.wait_for(lambda: setup.get("/session/status") == {}, 30, "idle")
    finally:
        hold.set()


async def test_summarize_compacts_the_session(setup: Setup) -> None:
    setup.model.push(Reply.text("something to summarize"))
    await execute(setup.editor, "opencode.ask", {"prompt": "talk"})
    await setup.answered("something to summarize")
    session_id = await setup.current_session()

    await execute(setup.editor, "opencode.session.summarize")

    await setup.editor.wait_for(
        lambda: "OpenCode: the session is summarized." in setup.editor.shown(), 60, "summary"
    )
    parts = [p["type"] for m in setup.messages(session_id) for p in m["parts"]]
    assert "compaction" in parts
    assert [r.kind for r in setup.model.requests].count("compaction") == 1


async def test_init_writes_agents_md(setup: Setup) -> None:
    agents = setup.repo / "AGENTS.md"
    setup.model.push(Reply.write(agents, "# Agents\n\nRun pytest.\n"), Reply.text("Wrote it."))

    await execute(setup.editor, "opencode.session.init")

    await setup.answered("Wrote it.")
    assert agents.read_text() == "# Agents\n\nRun pytest.\n"
    assert "Create or update `AGENTS.md`" in setup.model.chat_requests()[0].user_text()


async def test_transcript_opens_the_conversation_outside_the_workspace(
    setup: Setup, editor_env: dict[str, str]
) -> None:
    setup.model.push(
        Reply.tool("read", {"filePath": str(setup.repo / "src/a.py")}),
        Reply.text("foo returns sqrt(x) + 42."),
    )
    await execute(setup.editor, "opencode.ask", {"prompt": "What does foo return?"})
    await setup.answered("foo returns sqrt(x) + 42.")
    session_id = await setup.current_session()

    await execute(setup.editor, "opencode.session.transcript")

    await setup.editor.wait_for(lambda: setup.editor.shown_documents, 30, "the conversation")
    [shown] = setup.editor.shown_documents
    path = Path(editor_env["XDG_STATE_HOME"]) / "opencode-lsp/conversations" / f"{session_id}.md"
    assert shown.uri == from_fs_path(str(path))
    assert shown.take_focus is True
    assert setup.repo not in path.parents
    text = read(path)
    assert text.startswith("# Scripted session\n")
    assert "What does foo return?" in text
    assert "foo returns sqrt(x) + 42." in text
    assert "- read `src/a.py` — completed" in text
    assert "tokens (" in text


async def test_an_editor_without_show_document_gets_the_conversations_path(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_opencode: Any,
    start_bridge: StartEditor,
    editor_env: dict[str, str],
) -> None:
    server = start_opencode(git_repo, config=config(scripted_model))
    caps = capabilities()
    assert caps.window is not None
    caps.window.show_document = None
    editor = await start_bridge(git_repo, {"serverUrl": server.url}, client_capabilities=caps)
    made = await execute(editor, "opencode.session.new", {"title": "no documents here"})
    await execute(editor, "opencode.session.transcript")
    path = (
        Path(editor_env["XDG_STATE_HOME"])
        / "opencode-lsp/conversations"
        / (f"{made['sessionID']}.md")
    )
    message = f"OpenCode: the conversation is in {path}"
    await editor.wait_for(lambda: message in editor.shown(), 30, "the path")
    assert editor.shown_documents == []
    assert read(path).startswith("# no documents here\n")


async def test_open_transcript_setting_opens_the_conversation_on_the_first_ask(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode: Any, start_bridge: StartEditor
) -> None:
    server = start_opencode(git_repo, config=config(scripted_model))
    editor = await start_bridge(git_repo, {"serverUrl": server.url, "openTranscript": True})
    buffers = Buffers(editor)
    scripted_model.push(Reply.text("the whole answer"))
    await execute(editor, "opencode.ask", {"prompt": "hi"})
    await editor.wait_for(lambda: editor.shown_documents, 60, "the conversation")
    assert editor.shown_documents[0].take_focus is False
    uri = await buffers.opened(Path(editor.shown_documents[0].uri.removeprefix("file://")))
    await editor.wait_for(lambda: "the whole answer" in buffers.texts[uri], 60, "the answer")
    await editor.wait_for(lambda: "the whole answer" in str(editor.log_messages), 60, "the log")
    assert not any("the whole answer" in m for m in editor.shown())  # no shortened message


async def test_the_current_session_survives_an_editor_restart(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode: Any, start_bridge: StartEditor
) -> None:
    server = start_opencode(git_repo, config=config(scripted_model))
    first = await start_bridge(git_repo, {"serverUrl": server.url})
    made = await execute(first, "opencode.session.new", {"title": "keep me"})
    await first.shutdown_session()
    await first.stop()
    assert len(get_json(f"{server.url}/session")) == 1

    second = await start_bridge(git_repo, {"serverUrl": server.url})
    await second.wait_for(
        lambda: any(s.get("sessionID") == made["sessionID"] for s in second.statuses),
        30,
        "the restored session",
    )
    assert "restored session keep me" in [s.get("message") for s in second.statuses]
    scripted_model.push(Reply.text("same session"))
    await execute(second, "opencode.ask", {"prompt": "still there?"})
    await second.wait_for(
        lambda: any("same session" in m.message for m in second.log_messages), 60, "answer"
    )
    assert [s["id"] for s in get_json(f"{server.url}/session")] == [made["sessionID"]]


class ShareService:
    """OpenCode's share API (what ``enterprise.url`` points at), on loopback."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _answer(self, body: Any) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                service.calls.append((self.command, self.path))
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                url = f"{service.url}/s/abc123"
                self._answer({"id": "abc123", "url": url, "secret": "s3cret"})

            def do_DELETE(self) -> None:
                self._answer({})

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def share_service() -> Iterator[ShareService]:
    service = ShareService()
    yield service
    service.close()


async def test_share_opens_the_url_and_unshare_withdraws_it(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_opencode: Any,
    start_bridge: StartEditor,
    share_service: ShareService,
) -> None:
    server = start_opencode(
        git_repo,
        config=config(scripted_model, enterprise={"url": share_service.url}),
        env={"OPENCODE_DISABLE_SHARE": "false"},
    )
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    made = await execute(editor, "opencode.session.new", {"title": "share me"})

    await execute(editor, "opencode.session.share")

    await editor.wait_for(lambda: editor.shown_documents, 30, "the share page")
    url = f"{share_service.url}/s/abc123"
    assert editor.shown_documents[0].uri == url
    assert editor.shown_documents[0].external is True
    session = get_json(f"{server.url}/session/{made['sessionID']}")
    assert session["share"]["url"] == url

    await execute(editor, "opencode.session.unshare")
    await editor.wait_for(
        lambda: "OpenCode: the session is no longer shared." in editor.shown(), 30, "unshare"
    )
    # 1.18.33 withdraws the share from the share service but still reports share.url.
    assert ("POST", "/api/share") in share_service.calls
    assert ("DELETE", "/api/share/abc123") in share_service.calls


async def test_share_when_the_server_forbids_sharing_says_why(setup: Setup) -> None:
    await execute(setup.editor, "opencode.session.new")
    await execute(setup.editor, "opencode.session.share")
    await setup.editor.wait_for(
        lambda: setup.editor.shown(types.MessageType.Error), 30, "the refusal"
    )
    [error] = setup.editor.shown(types.MessageType.Error)
    assert error.startswith("OpenCode did not share the session: sharing is off")
    assert setup.editor.shown_documents == []


# --- models, agents, slash commands, shell, status ------------------------------------------


async def test_model_select_applies_to_the_next_prompts_and_the_status(setup: Setup) -> None:
    result = await execute(setup.editor, "opencode.model.select", {"model": f"mock/{OTHER_MODEL}"})

    assert result == {"model": f"mock/{OTHER_MODEL}"}
    assert setup.editor.statuses[-1]["model"] == f"mock/{OTHER_MODEL}"
    setup.model.push(Reply.text("from the other model"))
    await execute(setup.editor, "opencode.ask", {"prompt": "which model?"})
    await setup.answered("from the other model")
    assert setup.model.last_request().body["model"] == OTHER_MODEL


async def test_model_select_without_a_model_offers_the_servers_models(setup: Setup) -> None:
    setup.editor.answer_request = lambda params: f"mock/{OTHER_MODEL}"
    assert await execute(setup.editor, "opencode.model.select") is None
    await setup.editor.wait_for(
        lambda: setup.editor.statuses[-1].get("model") == f"mock/{OTHER_MODEL}", 30, "choice"
    )
    offered = [a.title for a in setup.editor.message_requests[0].actions or []]
    assert {"mock/mock-model", f"mock/{OTHER_MODEL}"} <= set(offered)
    setup.model.push(Reply.text("picked"))
    await execute(setup.editor, "opencode.ask", {"prompt": "hi"})
    await setup.answered("picked")
    assert setup.model.last_request().body["model"] == OTHER_MODEL


async def test_agent_select_applies_to_the_next_prompts(setup: Setup) -> None:
    setup.editor.answer_request = lambda params: "plan"
    await execute(setup.editor, "opencode.agent.select")
    await setup.editor.wait_for(
        lambda: setup.editor.statuses[-1].get("agent") == "plan", 30, "the choice"
    )
    offered = [a.title for a in setup.editor.message_requests[0].actions or []]
    assert offered == ["build", "plan"]  # primary agents only: no subagents, no hidden ones

    assert await execute(setup.editor, "opencode.agent.select", {"agent": "build"}) == {
        "agent": "build"
    }
    await execute(setup.editor, "opencode.agent.select", {"agent": "plan"})
    setup.model.push(Reply.text("planning"))
    await execute(setup.editor, "opencode.ask", {"prompt": "make a plan"})
    await setup.answered("planning")
    [user, _] = setup.messages(await setup.current_session())
    assert user["info"]["agent"] == "plan"


async def test_command_run_sends_a_slash_command(setup: Setup) -> None:
    setup.model.push(Reply.text("Hello, Ada!"))
    result = await execute(
        setup.editor, "opencode.command.run", {"name": "greet", "arguments": "Ada"}
    )
    assert result == {"sessionID": None}  # a session is made for it
    await setup.answered("Hello, Ada!")
    assert "Say hello to Ada." in setup.model.last_request().user_text()
    await setup.editor.wait_for(  # the short form follows the whole answer: wait for it too
        lambda: "OpenCode: Hello, Ada!" in setup.editor.shown(), 10, "the shortened answer"
    )


async def test_shell_runs_in_the_session_and_shows_the_output(setup: Setup) -> None:
    await execute(setup.editor, "opencode.shell", {"command": "echo shell-said-hi"})
    await setup.editor.wait_for(
        lambda: any("shell-said-hi" in m for m in setup.editor.shown()), 60, "the output"
    )
    assert "OpenCode shell `echo shell-said-hi`: shell-said-hi" in setup.editor.shown()
    session_id = await setup.current_session()
    tools = [p for m in setup.messages(session_id) for p in m["parts"] if p["type"] == "tool"]
    assert [t["state"]["input"]["command"] for t in tools] == ["echo shell-said-hi"]
    assert setup.model.chat_requests() == []  # no model turn


async def test_status_reports_server_session_model_agent_and_waiting_requests(
    setup: Setup,
) -> None:
    made = await execute(setup.editor, "opencode.session.new", {"title": "status check"})
    await execute(setup.editor, "opencode.agent.select", {"agent": "plan"})

    report = await execute(setup.editor, "opencode.status")

    assert report["server"] == {"url": setup.server.url, "version": "1.18.33"}
    assert report["session"] == {
        "sessionID": made["sessionID"],
        "title": "status check",
        "state": "idle",
    }
    assert (report["model"], report["modelSource"]) == ("mock/mock-model", "opencode")
    assert report["agent"] == "plan"
    assert report["permissions"] == [] and report["questions"] == []
    assert report["lsp"] == [] and report["formatters"] == [] and report["mcp"] == {}
    [shown] = [m for m in setup.editor.shown() if m.startswith("OpenCode 1.18.33 at ")]
    assert "Session: status check" in shown and "Agent: plan" in shown


async def test_status_lists_what_waits_for_the_user(
    git_repo: Path, scripted_model: ScriptedModel, start_opencode: Any, start_bridge: StartEditor
) -> None:
    server = start_opencode(git_repo, config=config(scripted_model, permission={"bash": "ask"}))
    editor = await start_bridge(git_repo, {"serverUrl": server.url})
    scripted_model.push(Reply.bash("echo waiting"))
    await execute(editor, "opencode.ask", {"prompt": "run it"})
    await editor.wait_for(lambda: get_json(f"{server.url}/permission"), 60, "the permission")

    report = await execute(editor, "opencode.status")

    [permission] = report["permissions"]
    assert permission["permission"] == "bash" and permission["patterns"] == ["echo waiting"]
    assert report["session"]["state"] == "busy"
    assert permission["sessionID"] == report["session"]["sessionID"]
    assert any("Waiting for you: 1 permission(s), 0 question(s)" in m for m in editor.shown())


# --- "opencode:" comments --------------------------------------------------------------------


async def test_comment_instruction_is_sent_with_its_block_and_then_removed(setup: Setup) -> None:
    path = setup.repo / "src/a.py"
    text = path.read_text().replace(
        "def foo(x):\n", "def foo(x):\n    # opencode: cache the square root\n"
    )
    path.write_text(text)
    uri = open_file(setup.editor, path)
    cursor = types.Range(start=types.Position(3, 8), end=types.Position(3, 8))
    actions = await code_actions(setup.editor, uri, cursor)
    [action] = [a for a in actions if a.title == "OpenCode: Do what this comment says"]
    assert action.command is not None
    setup.model.push(Reply.text("Cached."))

    await execute(setup.editor, action.command.command, *action.command.arguments or [])

    await setup.answered("Cached.")
    sent = setup.model.last_request().user_text()
    assert "cache the square root" in sent
    assert "return math.sqrt(x) + 42" in sent  # the enclosing function went along
    await setup.editor.wait_for(lambda: setup.editor.applied_edits, 30, "the comment's removal")
    [edit] = setup.editor.applied_edits
    [change] = edit.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 1
    [removal] = change.edits
    assert removal.range == line_range(3, 3) and removal.new_text == ""


# --- bad arguments ---------------------------------------------------------------------------

BAD_ARGUMENTS: list[tuple[str, list[Any], str]] = [
    ("opencode.tui.appendPrompt", [], "arguments"),
    ("opencode.tui.appendPrompt", [{"text": 3}], "text"),
    ("opencode.tui.appendPrompt", [{}], "text"),
    ("opencode.tui.appendPrompt", [{"text": "a", "uri": "URI"}], "text"),
    ("opencode.tui.appendPrompt", [{"uri": "src/a.py"}], "uri"),
    ("opencode.tui.appendPrompt", [{"uri": "URI", "range": {"start": 1}}], "range.start"),
    ("opencode.tui.submitPrompt", [[1]], "arguments"),
    ("opencode.tui.clearPrompt", ["now"], "arguments"),
    ("opencode.tui.openHelp", [1, 2], "arguments"),
    ("opencode.tui.openSessions", [True], "arguments"),
    ("opencode.tui.openThemes", ["dark"], "arguments"),
    ("opencode.tui.openModels", [[]], "arguments"),
    ("opencode.tui.showToast", [{}], "message"),
    ("opencode.tui.showToast", [{"message": "m", "variant": "loud"}], "variant"),
    ("opencode.tui.showToast", [{"message": "m", "duration": -5}], "duration"),
    ("opencode.tui.showToast", [{"message": "m", "title": 7}], "title"),
    ("opencode.tui.executeCommand", [{}], "command"),
    ("opencode.tui.executeCommand", [{"command": ["session_new"]}], "command"),
    ("opencode.tui.selectSession", [{}], "sessionID"),
    ("opencode.tui.selectSession", [{"sessionID": "nope"}], "sessionID"),
    ("opencode.session.new", [{"title": 1}], "title"),
    ("opencode.session.list", ["all"], "arguments"),
    ("opencode.session.select", [{"sessionID": 5}], "sessionID"),
    ("opencode.session.select", [{"sessionID": "ses_doesnotexist"}], "sessionID"),
    ("opencode.session.abort", [{"sessionID": "abc"}], "sessionID"),
    ("opencode.session.fork", [{"messageID": "prt_1"}], "messageID"),
    ("opencode.session.fork", [{"sessionID": "ses_doesnotexist"}], "sessionID"),
    ("opencode.session.fork", [{}], "sessionID"),  # no current session in the shared setup
    ("opencode.session.share", [{"sessionID": []}], "sessionID"),
    ("opencode.session.unshare", [{"sessionID": 1.5}], "sessionID"),
    ("opencode.session.summarize", [{"sessionID": "x"}], "sessionID"),
    ("opencode.session.delete", [{"sessionID": None, "x": 1}, {}], "arguments"),
    ("opencode.session.init", ["please"], "arguments"),
    ("opencode.session.transcript", [{"sessionID": {}}], "sessionID"),
    ("opencode.session.open", [{"sessionID": 7}], "sessionID"),
    ("opencode.session.open", [{"takeFocus": "yes"}], "takeFocus"),
    ("opencode.session.send", [], "arguments"),
    ("opencode.session.send", [{}], "uri"),
    ("opencode.session.send", [{"uri": "file:///not/a/conversation.md"}], "uri"),
    ("opencode.model.select", [{"model": "gpt"}], "model"),
    ("opencode.model.select", [{"model": "mock/nope"}], "model"),
    ("opencode.agent.select", [{"agent": 3}], "agent"),
    ("opencode.agent.select", [{"agent": "explore"}], "agent"),  # a subagent
    ("opencode.command.run", [{}], "name"),
    ("opencode.command.run", [{"name": "no-such-command"}], "name"),
    ("opencode.command.run", [{"name": "greet", "arguments": ["x"]}], "arguments"),
    ("opencode.shell", [{}], "command"),
    ("opencode.shell", [{"command": "  "}], "command"),
    ("opencode.status", [{"a": 1}, 2], "arguments"),
    ("opencode.comment.do", [{"line": 0}], "uri"),
    ("opencode.comment.do", [{"uri": "URI"}], "line"),
    ("opencode.comment.do", [{"uri": "URI", "line": 0}], "line"),  # no comment there
    ("opencode.comment.do", [{"uri": "URI", "line": 99}], "line"),
]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("command", "arguments", "named"),
    BAD_ARGUMENTS,
    ids=[f"{c}-{n}-{i}" for i, (c, _, n) in enumerate(BAD_ARGUMENTS)],
)
async def test_bad_arguments_are_invalid_params_naming_the_argument(
    shared_setup: Setup, command: str, arguments: list[Any], named: str
) -> None:
    uri = from_fs_path(str(shared_setup.repo / "src/a.py"))
    arguments = [
        {**a, "uri": uri} if isinstance(a, dict) and a.get("uri") == "URI" else a for a in arguments
    ]
    with pytest.raises(JsonRpcInvalidParams) as raised:
        await execute(shared_setup.editor, command, *arguments)
    assert f"Invalid argument '{named}'" in str(raised.value)


def test_every_command_has_a_bad_arguments_case() -> None:
    """Every command of this feature's areas (others add commands of their own)."""
    from bridge.features import build_server

    server = build_server()

    areas = (
        "opencode.tui.",
        "opencode.session.",
        "opencode.model.",
        "opencode.agent.",
        "opencode.command.",
        "opencode.comment.",
        "opencode.shell",
        "opencode.status",
    )
    elsewhere = ("opencode.session.revert", "opencode.session.unrevert")  # the edits feature
    ours = {n for n in server.protocol.fm.commands if n.startswith(areas) and n not in elsewhere}
    assert ours == {c for c, _, _ in BAD_ARGUMENTS}


async def test_a_failing_server_call_is_one_sentence_not_an_internal_error(
    setup: Setup,
) -> None:
    setup.server.stop()
    with pytest.raises(JsonRpcException) as raised:
        await execute(setup.editor, "opencode.session.list")
    assert not isinstance(raised.value, JsonRpcInvalidParams)
    assert raised.value.code == -32803
    assert "is not reachable; start it with `opencode serve`" in raised.value.message
