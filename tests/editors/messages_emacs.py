"""Emacs in batch with the shipped opencode-eglot.el, for tests/editors/test_messages.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.editors.conftest import CONFIGS
from tests.editors.editors import require_emacs

DRIVER = Path(__file__).parent / "messages_driver.el"


def run_eglot_start(project: Path, env: dict[str, str]) -> str:
    """Emacs opens src/a.py and M-x eglot with the config's own settings; returns what it
    printed (*Messages* once connected, "TEST: control", then *Messages* again)."""
    emacs = require_emacs("eglot")
    result = subprocess.run(
        [emacs, "--batch", "-l", str(CONFIGS / "emacs/opencode-eglot.el"), "-l", str(DRIVER)],
        capture_output=True,
        text=True,
        cwd=project,
        env={**env, "EDITOR_TEST_FILE": str(project / "src/a.py")},
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output
