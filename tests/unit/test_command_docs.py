"""docs/commands.md lists exactly the commands the server announces in
``executeCommandProvider.commands``, whoever added them."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from tests.support.lsp import BRIDGE_COMMAND, EditorClient, capabilities, make_editor

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
HEADING = re.compile(r"^###\s+`([^`]+)`\s*$", re.MULTILINE)


def documented() -> list[str]:
    return HEADING.findall(DOCS.read_text(encoding="utf-8"))


@pytest.fixture
async def editor(tmp_path: Path) -> AsyncIterator[tuple[EditorClient, types.InitializeResult]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env[name] = str(tmp_path / name)
    client = make_editor()
    await client.start_io(*BRIDGE_COMMAND, env=env)
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            root_uri=from_fs_path(str(tmp_path)),
            # Nothing to connect to: the list of commands needs no OpenCode.
            initialization_options={"spawn": False, "attachUrl": None},
        )
    )
    yield client, result
    await client.shutdown_session()
    await client.stop()


async def test_the_docs_list_every_command_the_server_announces(
    editor: tuple[EditorClient, types.InitializeResult],
) -> None:
    _, result = editor
    provider = result.capabilities.execute_command_provider
    assert provider is not None
    announced = sorted(provider.commands)
    assert announced, "the server announces no commands"
    missing = sorted(set(announced) - set(documented()))
    stale = sorted(set(documented()) - set(announced))
    assert not missing, f"docs/commands.md lacks a ### `name` section for {missing}"
    assert not stale, f"docs/commands.md documents commands the server lacks: {stale}"


def test_each_command_is_documented_once() -> None:
    names = documented()
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert "opencode.ask" in names
