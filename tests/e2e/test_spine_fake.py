"""The spine against the scripted fake server: the cases a real server cannot be made to
produce on demand (floods, outages, faults), and bad input."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tests.e2e.conftest import ConnectFake
from tests.support.fake_opencode import FakeOpenCode, Pause, PromptCall, Step, event
from tests.support.lsp import EditorClient, StartEditor, execute, line_range, open_file
from tests.support.real_opencode import free_port


@pytest.fixture
async def editor(connect_fake: ConnectFake) -> EditorClient:
    return await connect_fake()


def errors(editor: EditorClient) -> list[str]:
    return editor.shown(types.MessageType.Error)


async def test_progress_reports_are_throttled_whatever_the_event_rate(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    deltas = 5_000

    def flood(call: PromptCall) -> list[Step]:
        sid = call.session_id
        steps: list[Step] = [event("session.status", sessionID=sid, status={"type": "busy"})]
        for i in range(deltas):
            steps.append(
                event(
                    "message.part.delta",
                    sessionID=sid,
                    messageID="msg_a",
                    partID="prt_a",
                    field="text",
                    delta=f"word{i} ",
                )
            )
            if i % 100 == 99:
                steps.append(Pause(0.02))  # about a second in all: 5,000 deltas a second
        steps += [event("session.status", sessionID=sid, status={"type": "idle"})]
        return steps

    fake.set_prompt_script(flood)
    started = time.monotonic()
    await execute(editor, "opencode.ask", {"prompt": "flood"})
    await editor.wait_for(
        lambda: any(v.kind == "end" for v in editor.progress_values()), 60, "progress end"
    )
    elapsed = time.monotonic() - started

    reports = [v for v in editor.progress_values() if v.kind == "report"]
    assert 3 <= len(reports) <= elapsed * 10 + 3  # ~10 a second, not one per delta
    words = [int(r.message.rsplit("word", 1)[1]) for r in reports]
    assert words == sorted(words)  # each report shows the latest tail, in order
    assert editor.progress_values()[-1].message.startswith("Done: word0 word1 word2")


async def test_cancelling_the_progress_aborts_the_run(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    fake.set_prompt_script(
        lambda call: [
            event("session.status", sessionID=call.session_id, status={"type": "busy"}),
            Pause(30),
        ]
    )
    await execute(editor, "opencode.ask", {"prompt": "long"})
    token = await editor.wait_for(
        lambda: next((t for t, v in editor.progress_reports.items() if v), None), 10, "begin"
    )
    editor.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    request = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    while not request.path.endswith("/abort"):
        request = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    assert request.path == f"/session/{fake.prompts[-1].session_id}/abort"
    await editor.wait_for(
        lambda: any(v.kind == "end" for v in editor.progress_values()), 10, "progress end"
    )


async def test_an_outage_is_told_once_and_the_bridge_reconnects_and_refetches(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    session = fake.create_session()
    fake.publish(event("session.status", sessionID=session["id"], status={"type": "busy"}))
    await editor.wait_for(lambda: editor.progress_values(), 10, "progress begin")

    fake.stop()
    await editor.wait_for(
        lambda: any(s["state"] == "disconnected" for s in editor.statuses), 10, "disconnected"
    )
    await asyncio.sleep(1.0)  # retries go on while the server is away: still one message
    warnings = editor.shown(types.MessageType.Warning)
    assert len(warnings) == 1 and "reconnecting" in warnings[0]
    assert editor.progress_values()[-1].kind == "end"  # the run is no longer shown as busy

    fake.clear_requests()
    fake.start()
    await editor.wait_for(lambda: "Reconnected to OpenCode." in editor.shown(), 10, "reconnect")
    await fake.wait_for_request_async("GET", "/session/status", timeout=5)
    # The session is still busy on the server: the refetch shows it again.
    await editor.wait_for(
        lambda: [v.kind for v in editor.progress_values()].count("begin") == 2, 10, "begin again"
    )


async def test_unknown_and_garbage_events_are_skipped_and_the_stream_goes_on(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    session = fake.create_session()
    fake.publish(event("something.new", whatever=[1, 2, 3]))
    fake.publish_raw(b"data: {not json\n\n")
    fake.publish_raw(b"data: [1, 2]\n\n")
    fake.publish(event("session.status", sessionID=session["id"], status={"type": "busy"}))
    await editor.wait_for(lambda: editor.progress_values(), 10, "progress after garbage")
    assert errors(editor) == []


async def test_a_session_error_shows_the_providers_message(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    session = fake.create_session()
    fake.publish(
        event(
            "session.error",
            sessionID=session["id"],
            error={"name": "APIError", "data": {"message": "rate limited, retry in 30 s"}},
        )
    )
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    assert errors(editor) == ["OpenCode: rate limited, retry in 30 s"]
    assert editor.statuses[-1] == {
        "state": "error",
        "sessionID": session["id"],
        "message": "rate limited, retry in 30 s",
    }


async def test_a_server_fault_on_prompt_is_one_sentence(
    editor: EditorClient, fake: FakeOpenCode
) -> None:
    fake.fail(
        "POST", "/session", 500, body={"name": "UnknownError", "data": {"message": "disk full"}}
    )
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    [message] = errors(editor)
    assert message.endswith("failed on POST /session: disk full.")
    assert "Traceback" not in message


async def test_html_where_json_was_expected_is_explained(
    repo: Path, fake: FakeOpenCode, start_bridge: StartEditor
) -> None:
    fake.fail("GET", "/global/health", 200, body="<!doctype html><html></html>")
    editor = await start_bridge(repo, {"serverUrl": fake.url})
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    assert "answered GET /global/health with a web page, not JSON" in errors(editor)[0]


async def test_a_server_that_is_down_says_how_to_start_one(
    repo: Path, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(repo, {"serverUrl": f"http://127.0.0.1:{free_port()}"})
    assert await execute(editor, "opencode.ask", {"prompt": "hello"}) == {"sessionID": None}
    await editor.wait_for(lambda: errors(editor), 20, "an error message")
    assert "is not reachable; start it with `opencode serve`, or set serverUrl" in errors(editor)[0]


async def test_no_opencode_to_spawn_says_how_to_install_it(
    repo: Path, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(repo, {"command": ["no-such-opencode"], "attachUrl": None})
    await editor.wait_for(lambda: errors(editor), 20, "an error message")
    assert errors(editor)[0] == (
        "Cannot start OpenCode: 'no-such-opencode' was not found. Install it with "
        "`npm install -g opencode-ai`, or set the `command` setting to its path."
    )


async def test_bad_settings_warn_once_and_keep_the_defaults(
    repo: Path, fake: FakeOpenCode, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(
        repo, {"opencode": {"serverUrl": fake.url, "spawn": "yes", "colour": "red"}}
    )
    await editor.wait_for(lambda: len(editor.shown(types.MessageType.Warning)) >= 2, 10, "warns")
    # A refresh with the same bad values does not repeat the warnings.
    editor.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"spawn": "yes", "serverUrl": fake.url})
    )
    await execute(editor, "opencode.ask", {"prompt": "still works"})
    await fake.wait_for_request_async("POST", "/session/", timeout=10)
    assert sorted(editor.shown(types.MessageType.Warning)) == [
        "OpenCode setting spawn must be true or false; keeping the default.",
        "Unknown OpenCode setting 'colour' is ignored.",
    ]


async def test_workspace_configuration_and_changes_choose_the_model(
    repo: Path, fake: FakeOpenCode, start_bridge: StartEditor
) -> None:
    editor = await start_bridge(repo, {"serverUrl": fake.url})
    editor.set_configuration({"model": "other/other-model"}, section="opencode")
    editor.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await editor.wait_for(lambda: fake.subscriber_count, 10, "the event stream")
    await editor.wait_for(
        lambda: any(r.path == "/global/health" for r in fake.requests), 10, "connected"
    )
    await asyncio.sleep(0.2)  # the configuration pull is answered before the next request
    await execute(editor, "opencode.ask", {"prompt": "which model?"})
    prompt = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    while not prompt.path.endswith("/prompt_async"):
        prompt = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    assert prompt.body["model"] == {"providerID": "other", "modelID": "other-model"}

    editor.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"opencode": {"agent": "plan"}})
    )
    await execute(editor, "opencode.ask", {"prompt": "which agent?"})
    prompt = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    assert prompt.body["agent"] == "plan"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ([], "arguments"),
        (["just a string"], "arguments"),
        ([{}], "prompt"),
        ([{"prompt": 42}], "prompt"),
        ([{"template": "poem"}], "template"),
        ([{"prompt": "x", "uri": "https://example.com/a.py"}], "uri"),
        (
            [
                {
                    "prompt": "x",
                    "uri": "URI",
                    "range": {
                        "start": {"line": -1, "character": 0},
                        "end": {"line": 0, "character": 0},
                    },
                }
            ],
            "range.start.line",
        ),
        (
            [
                {
                    "prompt": "x",
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 0, "character": 0},
                    },
                }
            ],
            "uri",
        ),
        ([{"prompt": "x", "uri": "file:///nowhere/at/all.py"}], "uri"),
        (
            [
                {
                    "prompt": "x",
                    "uri": "URI",
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 900, "character": 3},
                    },
                }
            ],
            "range",
        ),
        ([{"prompt": "x", "diagnostics": [{"message": "no range"}]}], "diagnostics[0]"),
    ],
)
async def test_bad_arguments_are_invalid_params_naming_the_argument(
    editor: EditorClient, repo: Path, arguments: list[Any], named: str
) -> None:
    uri = open_file(editor, repo / "src/a.py")
    arguments = [
        {**a, "uri": uri} if isinstance(a, dict) and a.get("uri") == "URI" else a for a in arguments
    ]
    with pytest.raises(JsonRpcInvalidParams) as raised:
        await execute(editor, "opencode.ask", *arguments)
    assert f"Invalid argument '{named}'" in str(raised.value)
    # The server is still alive and answers the next request.
    assert await execute(
        editor, "opencode.ask", {"prompt": "ok", "uri": uri, "range": to_range(line_range(0, 1))}
    )


def to_range(range_: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": range_.start.line, "character": range_.start.character},
        "end": {"line": range_.end.line, "character": range_.end.character},
    }


async def test_a_file_not_open_but_on_disk_is_read_from_disk(
    editor: EditorClient, fake: FakeOpenCode, repo: Path
) -> None:
    uri = (repo / "src/b.py").as_uri()
    await execute(
        editor,
        "opencode.ask",
        {"uri": uri, "range": to_range(line_range(3, 4)), "template": "explain"},
    )
    prompt = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    while not prompt.path.endswith("/prompt_async"):
        prompt = await fake.wait_for_request_async("POST", "/session/", timeout=10)
    [text, file] = prompt.body["parts"]
    assert text["text"] == "Explain what the selected code in src/b.py (lines 4-5) does."
    assert file["url"] == f"file://{repo}/src/b.py?start=4&end=5"


async def test_an_ask_sent_right_after_initialize_is_not_lost(
    repo: Path, fake: FakeOpenCode, start_bridge: StartEditor
) -> None:
    # Editors may run a command before the bridge has even started connecting.
    editor = await start_bridge(repo, {"serverUrl": fake.url})
    uri = open_file(editor, repo / "src/a.py")
    result = await execute(
        editor,
        "opencode.ask",
        {"uri": uri, "range": to_range(line_range(0, 1)), "template": "explain"},
    )
    assert result == {"sessionID": None}
    await fake.wait_for_request_async("POST", "/session", timeout=10)
    await editor.wait_for(lambda: fake.prompts, 10, "the prompt")
