"""``opencode-lsp doctor``: connect as the language server would and say what is wrong.

This is the one mode that writes to stdout: it is run in a terminal, not by an editor.
"""

from __future__ import annotations

import os
import sys

from bridge.core.settings import parse_settings
from bridge.editor_endpoint import probe
from bridge.errors import BridgeError
from bridge.opencode.connect import find_server


def _real(path: str) -> str:
    return os.path.realpath(path)


def _line(label: str, value: str) -> None:
    sys.stdout.write(f"{label:<12} {value}\n")


async def run_doctor(directory: str, server_url: str | None, spawn: bool, api: str = "auto") -> int:
    options: dict[str, object] = {"spawn": spawn, "api": api}
    if server_url:
        options["serverUrl"] = server_url
    settings, warnings = parse_settings(options)
    root = _real(directory)
    _line("workspace", root)
    for line in await probe(os.environ, root):
        _line("tui context", line)
    for warning in warnings:
        _line("problem", warning)
    try:
        handle = await find_server(settings, root)
    except BridgeError as exc:
        _line("server", "none")
        _line("problem", str(exc))
        return 1
    client = handle.client_for(root, settings.request_timeout)
    try:
        where = {
            "serverUrl": "from serverUrl",
            "attached": "a running OpenCode serving this folder",
            "spawned": "a private server started for this check, now stopped",
        }[handle.how]
        _line("server", f"{handle.url} ({where})")
        _line("version", handle.version)
        _line("api", f"{handle.dialect.api.upper()} ({handle.dialect.why})")
        if handle.how == "spawned":
            auth = "a fresh random password (as the language server does)"
        elif handle.password:
            auth = f"password set, user {handle.username}"
        else:
            auth = "no password (fine on loopback; set OPENCODE_SERVER_PASSWORD elsewhere)"
        _line("auth", auth)
        served = (await client.path()).directory
        _line("directory", str(served))
        if served and _real(str(served)) != root:
            _line("problem", f"the server answers for {served}, not {root}.")
            return 1
        _line("status", "ok")
        return 0
    except BridgeError as exc:
        _line("problem", str(exc))
        return 1
    finally:
        await client.aclose()
        await handle.close()
