"""Every workspace command and code-action request, fuzzed: wrong types, missing keys, huge
strings, invalid URIs, ranges past the end, negative positions.

The answer is always an InvalidParams error or a clean result, never an internal error, and
the server stays alive. The command list is the one the server advertises, so commands added
later are fuzzed too. Hypothesis drives sync code, so the editor lives on a loop in a thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol.json_rpc import JsonRPCRequestMessage

from bridge.demo.scripted_model import isolated_env
from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import EditorClient, execute, open_file, start_editor
from tests.support.real_opencode import make_git_repo

T = TypeVar("T")
CASES = int(os.environ.get("FUZZ_CASES", "5000"))
ANSWER_TIMEOUT = 10.0


class EditorThread:
    """An editor on its own event loop, callable from sync hypothesis tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = ANSWER_TIMEOUT) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Fuzzed:
    def __init__(self, editor: EditorClient, runner: EditorThread, uri: str, commands: list[str]):
        self.editor = editor
        self.runner = runner
        self.uri = uri
        self.commands = commands


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp = tmp_path_factory.mktemp("fuzz")
    repo = make_git_repo(tmp / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env.update(isolated_env(tmp / "home"))
    runner = EditorThread()
    with FakeOpenCode(repo, heartbeat_interval=None) as fake:
        editor = runner.run(
            start_editor(
                repo, {"serverUrl": fake.url, "requestTimeout": 5}, env, log_file=tmp / "bridge.log"
            )
        )
        editor.answer_request = lambda params: None  # a user who dismisses every prompt
        uri = open_file(editor, repo / "src/a.py")
        yield Fuzzed(editor, runner, uri, sorted(editor.server_commands))
        runner.run(editor.shutdown_session())
        runner.run(editor.stop())
    runner.close()


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["", "file:///etc/passwd", "file:///nowhere.py", "ses_x", "../../x", "URI"]),
    st.text(min_size=0, max_size=1).map(lambda s: s * 200_000),  # a huge string
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
position = (
    st.fixed_dictionaries({"line": st.integers(-5, 10**9), "character": st.integers(-5, 10**9)})
    | json_value
)
range_ = st.fixed_dictionaries({"start": position, "end": position}) | json_value
KEYS = [
    "uri",
    "range",
    "prompt",
    "template",
    "sessionID",
    "messageID",
    "id",
    "reply",
    "message",
    "answers",
    "text",
    "title",
    "variant",
    "command",
    "model",
    "agent",
    "name",
    "arguments",
    "diagnostics",
    "partID",
]
named_arguments = st.dictionaries(st.sampled_from(KEYS), json_value | range_, max_size=5)
arguments = st.one_of(
    st.lists(named_arguments, min_size=1, max_size=1),
    st.lists(json_value, max_size=3),
)


async def send_raw(editor: EditorClient, method: str, params: Any) -> Any:
    """Send ``params`` as they are: the typed client would refuse to send malformed ones."""
    protocol = editor.protocol
    msg_id = str(uuid.uuid4())
    future: Future[Any] = Future()
    protocol._request_futures[msg_id] = future
    protocol._result_types[msg_id] = None
    protocol._send_data(
        JsonRPCRequestMessage(id=msg_id, method=method, params=params, jsonrpc="2.0")
    )
    return await asyncio.wrap_future(future)


def check_answer(runner: EditorThread, work: Coroutine[Any, Any, Any]) -> None:
    try:
        runner.run(work)
    except JsonRpcInvalidParams:
        pass  # refused, naming the argument
    except JsonRpcException as exc:
        raise AssertionError(f"not InvalidParams: {exc!r}") from exc


@settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.data())
def test_every_command_refuses_bad_arguments_cleanly(fuzzed: Fuzzed, data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(fuzzed.commands), label="command")
    args = data.draw(arguments, label="arguments")
    args = [
        {**a, "uri": fuzzed.uri} if isinstance(a, dict) and a.get("uri") == "URI" else a
        for a in args
    ]
    check_answer(fuzzed.runner, execute(fuzzed.editor, command, *args))


@settings(
    max_examples=max(CASES // 10, 50),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(range_=range_, diagnostics=st.lists(json_value, max_size=2), only=json_value)
def test_code_actions_on_any_range_are_clean(
    fuzzed: Fuzzed, range_: Any, diagnostics: list[Any], only: Any
) -> None:
    params = {
        "textDocument": {"uri": fuzzed.uri},
        "range": range_,
        "context": {"diagnostics": diagnostics, "only": only},
    }
    try:
        fuzzed.runner.run(send_raw(fuzzed.editor, "textDocument/codeAction", params))
    except JsonRpcException as exc:
        # A malformed request may be refused as a whole, but never crash the handler.
        assert exc.code in (-32602, -32600), repr(exc)  # InvalidParams / InvalidRequest


def test_the_server_is_alive_after_the_fuzzing(fuzzed: Fuzzed) -> None:
    result = fuzzed.runner.run(execute(fuzzed.editor, "opencode.ask", {"prompt": "still here?"}))
    assert isinstance(result, dict) and "sessionID" in result
    assert fuzzed.editor._server is not None and fuzzed.editor._server.returncode is None
