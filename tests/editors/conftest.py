"""Real editors (headless Neovim, Emacs in batch mode) driving the bridge with the configs
from ``editor-configs/``, against the real ``opencode serve`` and the scripted model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.demo.scripted_model import ScriptedModel, isolated_env, opencode_config
from tests.support.real_opencode import require_opencode

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "editor-configs"


@pytest.fixture
def editor_env(tmp_path: Path) -> dict[str, str]:
    """The environment an editor (and so the bridge it starts) runs in: OpenCode's folders
    isolated, no inherited OPENCODE_*, HOME in the test's folder, and the ``opencode-lsp``
    installed beside this Python first on PATH (the editors start it by that name)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env.update(isolated_env(tmp_path / "opencode-home"))
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = str(home)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    return env


@pytest.fixture
def project(git_repo: Path, scripted_model: ScriptedModel) -> Path:
    """The test repository with an ``opencode.json`` whose model is the scripted one and
    whose permissions let the agent edit without asking."""
    config = opencode_config(scripted_model.base_url, {"edit": "allow"})
    (git_repo / "opencode.json").write_text(json.dumps(config))
    return git_repo


@pytest.fixture
def bridge_options() -> dict[str, Any]:
    """Settings every editor test adds to the config's own: the pinned opencode, and no
    probe of 127.0.0.1:4096 (a developer's TUI must not answer the test)."""
    return {"command": [require_opencode()], "attachUrl": None}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so fixtures can print an editor's logs
    when the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed
