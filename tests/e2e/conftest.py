"""Fixtures shared by the e2e modules, beside those of tests/conftest.py (shared with
tests/faults): the real server a module's tests run against, and an editor on the fake.

A module sets the permission rules of `server` by overriding the `permission` fixture.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import ScriptedModel
from tests.support.editor_buffers import Buffers
from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import EditorClient, RequestAnswer, StartEditor
from tests.support.real_opencode import RealOpenCode
from tests.support.v2_only import V2OnlyProxy

ConnectFake = Callable[..., Awaitable[EditorClient]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dialects(*apis): run the test once per OpenCode API the bridge is told to speak "
        "(its `api` setting: v1, v2), through the `dialect` fixture",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test (or module) marked ``dialects("v1", "v2")`` runs once per dialect: the closest
    mark wins, so one test of such a module can say ``dialects("v1")``."""
    marker = metafunc.definition.get_closest_marker("dialects")
    if marker is not None and "dialect" in metafunc.fixturenames:
        metafunc.parametrize("dialect", marker.args)


@pytest.fixture
def permission() -> dict[str, str]:
    """The permission rules `server` starts with (none: OpenCode's defaults)."""
    return {}


@pytest.fixture
def server(
    git_repo: Path,
    scripted_model: ScriptedModel,
    start_opencode: Callable[..., RealOpenCode],
    permission: dict[str, str],
) -> RealOpenCode:
    """The real ``opencode serve`` in ``git_repo``, on the scripted model, with `permission`."""
    return start_opencode(git_repo, model_base_url=scripted_model.base_url, permission=permission)


@pytest.fixture
def v2_only(server: RealOpenCode) -> Iterator[V2OnlyProxy]:
    """`server` as a server that speaks only V2: behind a proxy that answers 404 outside
    ``/api/*`` and whose ``/doc`` lists only ``/api/*`` (tests/support/v2_only.py)."""
    with V2OnlyProxy(server.url) as proxy:
        yield proxy


@pytest.fixture
async def server_editor(
    git_repo: Path, server: RealOpenCode, start_bridge: StartEditor
) -> tuple[EditorClient, Buffers]:
    """An editor on the bridge attached to `server`, and the buffers it keeps."""
    client = await start_bridge(git_repo, {"serverUrl": server.url})
    return client, Buffers(client)


@pytest.fixture
def connect_fake(repo: Path, fake: FakeOpenCode, start_bridge: StartEditor) -> ConnectFake:
    """``await connect_fake(options, answer=..., **start_bridge kwargs)``: an editor on the
    bridge in ``repo``, answering prompts with ``answer(params)`` from the start, its bridge
    connected to the fake and following its event stream."""

    async def connect(
        options: dict[str, Any] | None = None,
        *,
        answer: RequestAnswer | None = None,
        **kwargs: Any,
    ) -> EditorClient:
        editor = await start_bridge(repo, {"serverUrl": fake.url, **(options or {})}, **kwargs)
        if answer is not None:
            editor.answer_request = answer
        await editor.wait_for(lambda: fake.subscriber_count, 10, "the event stream")
        return editor

    return connect
