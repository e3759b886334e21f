"""Faults the scripted fake produces on demand: a broken event stream, every HTTP failure.

Each user-facing failure must be one sentence with the fix, never a traceback, and the
bridge must keep working afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.support.fake_opencode import FakeOpenCode, event
from tests.support.lsp import EditorClient, StartEditor, execute
from tests.support.real_opencode import free_port


@pytest.fixture
async def editor(
    repo: Path, fake: FakeOpenCode, start_bridge: StartEditor
) -> AsyncIterator[EditorClient]:
    client = await start_bridge(repo, {"serverUrl": fake.url, "requestTimeout": 1})
    await client.wait_for(lambda: fake.subscriber_count, 10, "the event stream")
    yield client


def errors(editor: EditorClient) -> list[str]:
    return editor.shown(types.MessageType.Error)


async def still_shows_progress(editor: EditorClient, fake: FakeOpenCode) -> None:
    """The stream still delivers: a busy session shows as progress."""
    session = fake.create_session()
    before = len(editor.progress_values())
    fake.publish(event("session.status", sessionID=session["id"], status={"type": "busy"}))
    await editor.wait_for(lambda: len(editor.progress_values()) > before, 10, "progress")


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"data: {not json\n\n", id="invalid-json"),
        pytest.param(b"data: \x00\xff\xfe binary\n\n", id="binary"),
        pytest.param(b"event: weird\nretry: x\nid: 7\n\n", id="no-data-line"),
        pytest.param(b'data: {"type": 42}\n\n', id="type-not-a-string"),
        pytest.param(b'data: {"type":"x.y","properties":"nope"}\n\n', id="bad-properties"),
        pytest.param(
            b'data: {"type":"message.part.delta","properties":{"sessionID":"ses_x","delta":"'
            + b"x" * (10 * 1024 * 1024)
            + b'"}}\n\n',
            id="10MB-frame",
        ),
    ],
)
async def test_a_bad_frame_is_skipped_and_the_stream_goes_on(
    editor: EditorClient, fake: FakeOpenCode, garbage: bytes
) -> None:
    fake.publish_raw(garbage)
    fake.publish(event("brand.new.event", anything={"at": "all"}))
    await still_shows_progress(editor, fake)
    assert errors(editor) == []


async def test_a_stream_cut_mid_frame_reconnects(editor: EditorClient, fake: FakeOpenCode) -> None:
    fake.publish_raw(b'data: {"type":"session.status","properties":{"sessionID":"ses_')
    fake.disconnect_streams(mid_frame=True)
    await editor.wait_for(lambda: fake.subscriber_count, 10, "a new event stream")
    await still_shows_progress(editor, fake)
    assert errors(editor) == []


SENTENCES = {
    401: "refused the password; check OPENCODE_SERVER_PASSWORD (or the password setting).",
    403: "refused POST /session (403); check the server's access settings.",
    404: "does not know /session",
    409: "The OpenCode session is busy; wait for it or abort it first.",
    500: "failed on POST /session: the database is locked.",
}


@pytest.mark.parametrize("status", sorted(SENTENCES))
async def test_each_http_failure_is_one_sentence_with_the_fix(
    editor: EditorClient, fake: FakeOpenCode, status: int
) -> None:
    body = (
        {"name": "UnknownError", "data": {"message": "the database is locked"}}
        if status == 500
        else None
    )
    fake.fail("POST", "/session", status, body=body, times=1)
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    [message] = errors(editor)
    assert SENTENCES[status] in message
    assert "Traceback" not in message and "\n" not in message

    # The fault is gone: the next ask works.
    await execute(editor, "opencode.ask", {"prompt": "again"})
    await fake.wait_for_request_async("POST", "/session/", timeout=10)


async def test_html_instead_of_json_is_explained(editor: EditorClient, fake: FakeOpenCode) -> None:
    fake.fail("POST", "/session", 200, body="<!doctype html><html><body>app</body></html>", times=1)
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    assert errors(editor) == [
        f"OpenCode at {fake.url} answered POST /session with a web page, not JSON; check "
        "that serverUrl points at an OpenCode 1.x server."
    ]


async def test_a_response_slower_than_the_timeout(editor: EditorClient, fake: FakeOpenCode) -> None:
    fake.fail("POST", "/session", None, delay=3.0, times=1)  # requestTimeout is 1 s
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    assert errors(editor) == [
        f"OpenCode at {fake.url} did not answer in time; check that it is running and not "
        "overloaded, or raise requestTimeout."
    ]


async def test_connection_refused(repo: Path, start_bridge: StartEditor) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    editor = await start_bridge(repo, {"serverUrl": url})
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 20, "an error message")
    assert set(errors(editor)) == {
        f"OpenCode at {url} is not reachable; start it with `opencode serve`, or set "
        "serverUrl to where it runs."
    }


async def test_an_error_body_that_is_not_json(editor: EditorClient, fake: FakeOpenCode) -> None:
    fake.fail("POST", "/session", 502, body=b"\x89PNG garbage", content_type="image/png", times=1)
    await execute(editor, "opencode.ask", {"prompt": "hello"})
    await editor.wait_for(lambda: errors(editor), 10, "an error message")
    assert errors(editor) == [f"OpenCode at {fake.url} failed on POST /session: status 502."]
