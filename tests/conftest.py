"""Shared fixtures: a scripted model, a fresh git repository, real OpenCode servers, and
editors driving the bridge over stdio."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import ScriptedModel, isolated_env, opencode_config
from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import EditorClient, StartEditor, start_editor
from tests.support.real_opencode import (
    git_repo,
    make_git_repo,
    require_opencode,
    scripted_model,
    start_opencode,
)

__all__ = ["git_repo", "scripted_model", "start_opencode"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository for tests against the scripted fake server."""
    return make_git_repo(tmp_path / "repo")


@pytest.fixture
def fake(repo: Path) -> Iterator[FakeOpenCode]:
    """The scripted fake ``opencode serve``, serving ``repo``."""
    with FakeOpenCode(repo) as server:
        yield server


@pytest.fixture
def editor_env(tmp_path: Path) -> dict[str, str]:
    """The editor's environment: OpenCode's folders isolated, no inherited OPENCODE_*, and
    HOME in the test's folder (the bridge writes the TUI's lock file in ~/.claude/ide)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env.update(isolated_env(tmp_path / "opencode-home"))
    env["HOME"] = str(tmp_path / "opencode-home" / "home")
    return env


@pytest.fixture
def dialect() -> str | None:
    """The ``api`` setting every bridge of the test gets (None: left out, as a user leaves it).
    A test marked ``dialects("v1", "v2")`` runs once with each (tests/e2e/conftest.py)."""
    return None


@pytest.fixture
async def start_bridge(
    editor_env: dict[str, str], dialect: str | None
) -> AsyncIterator[StartEditor]:
    """``await start_bridge(root, options, env=...)``: an editor on the bridge (told to speak
    `dialect` unless the options say otherwise); all are shut down at teardown."""
    editors: list[EditorClient] = []

    async def start(
        root: Path, options: dict[str, Any] | None = None, **kwargs: Any
    ) -> EditorClient:
        kwargs.setdefault("env", editor_env)
        if dialect is not None:
            options = {"api": dialect, **(options or {})}
        editor = await start_editor(root, options, **kwargs)
        editors.append(editor)
        return editor

    yield start
    for editor in editors:
        if editor._server is not None and editor._server.returncode is None:
            await editor.shutdown_session()  # unless the test already ended the bridge
        await editor.stop()  # type: ignore[no-untyped-call]  # pygls's client is not typed


@pytest.fixture
async def spawning_editor(
    git_repo: Path, scripted_model: ScriptedModel, start_bridge: StartEditor
) -> EditorClient:
    """An editor whose bridge spawns the real, pinned opencode in ``git_repo`` (the path a
    user with no running OpenCode takes), with the scripted model as its provider."""
    binary = require_opencode()
    (git_repo / "opencode.json").write_text(json.dumps(opencode_config(scripted_model.base_url)))
    return await start_bridge(git_repo, {"command": [binary], "attachUrl": None})
