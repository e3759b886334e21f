"""The bridge answers ``initialize`` before it loads the HTTP stack (benchmark 1): a feature that
imports the OpenCode client at module level would quietly slow every editor's start."""

from __future__ import annotations

import subprocess
import sys


def test_starting_the_server_does_not_import_the_http_stack() -> None:
    code = (
        "import sys, bridge.cli, bridge.server, bridge.features; print(sorted("
        "m for m in ('httpx', 'httpx_sse', 'httpcore') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
