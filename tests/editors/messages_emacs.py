"""Emacs in batch with the shipped opencode-eglot.el, for tests/editors/test_messages.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.editors.conftest import CONFIGS
from tests.editors.editors import require_emacs

DRIVER = Path(__file__).parent / "messages_driver.el"


def run_eglot(
    project: Path,
    env: dict[str, str],
    options: dict[str, Any] | None = None,
    action: str | None = None,
) -> str:
    """Emacs opens src/a.py and M-x eglot (the config's settings, plus ``options``), then
    messages_driver.el's ``action``; returns everything it printed."""
    emacs = require_emacs("eglot")
    extra = {"EDITOR_TEST_FILE": str(project / "src/a.py")}
    if options is not None:
        extra["EDITOR_TEST_BRIDGE_OPTIONS"] = json.dumps(options)
    if action is not None:
        extra["EDITOR_TEST_ACTION"] = action
    result = subprocess.run(
        [emacs, "--batch", "-l", str(CONFIGS / "emacs/opencode-eglot.el"), "-l", str(DRIVER)],
        capture_output=True,
        text=True,
        cwd=project,
        env={**env, **extra},
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def printed_messages(output: str) -> list[str]:
    """Each *Messages* buffer the driver printed, in order, as lines."""
    return [
        chunk.split("TEST: end\n", 1)[0].splitlines()
        for chunk in output.split("TEST: messages\n")[1:]
    ]
