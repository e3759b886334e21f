"""Emacs in batch with the shipped opencode-eglot.el, for tests/editors/test_messages.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
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


RUNS_DRIVER = Path(__file__).parent / "runs_driver.el"
Typed = str | Callable[[], Awaitable[object]]


async def eglot_q(
    project: Path,
    env: dict[str, str],
    options: dict[str, Any],
    action: str,
    typed: list[Typed],
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """``emacs -Q`` (as docs/editors.md says) with the shipped opencode-eglot.el on src/a.py,
    M-x eglot, then runs_driver.el's ``action``. The user types each string of ``typed`` (a
    line); a function in ``typed`` is awaited before the user types on (the user waits to see
    something). ``extra``: more of the driver's environment. Returns what the person saw (the
    driver's TEST-JSON) and everything Emacs printed."""
    config = str(CONFIGS / "emacs/opencode-eglot.el")
    process = await asyncio.create_subprocess_exec(
        *[require_emacs("eglot"), "-Q", "--batch", "-l", config, "-l", str(RUNS_DRIVER)],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=project,
        env={
            **env,
            "EDITOR_TEST_FILE": str(project / "src/a.py"),
            "EDITOR_TEST_BRIDGE_OPTIONS": json.dumps(options),
            "EDITOR_TEST_ACTION": action,
            **(extra or {}),
        },
    )
    assert process.stdin is not None
    try:
        for item in typed:
            if isinstance(item, str):
                process.stdin.write(item.encode() + b"\n")
                await process.stdin.drain()
            else:
                await item()
        process.stdin.close()
        printed, _ = await asyncio.wait_for(process.communicate(), 240)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = printed.decode(errors="replace")
    assert process.returncode == 0, output
    assert "error in process filter" not in output, output
    seen: dict[str, Any] = json.loads(output.split("TEST-JSON: ", 1)[1].splitlines()[0])
    return seen, output
