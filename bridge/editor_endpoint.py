"""The editor-context endpoint: a WebSocket on 127.0.0.1 that OpenCode TUIs connect to, and
the lock file that tells them where it is (``~/.claude/ide/<port>.lock``). No LSP here: the
glue (``bridge/features/editor_context.py``) feeds it what the editor selects.

A random port and a random token; the token is checked on every connection. The socket
listens from the start, but the WebSocket library (~1.4 MiB) loads when the first TUI
knocks: most sessions never start a TUI (benchmark 6a). The lock file
is readable by its owner only and removed when the bridge ends (shutdown, closed stdin,
SIGTERM). A bridge killed with SIGKILL cannot remove it: the next bridge to start removes
our lock files whose ``pid`` is gone (and the TUI that finds nothing on the port retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response
    from websockets.typing import Subprotocol

from bridge import __version__
from bridge.core.ide_protocol import (
    AUTH_HEADER,
    answer,
    is_stale,
    lock_content,
    notification,
    parse_lock,
    serves,
)

log = logging.getLogger(__name__)

MAX_MESSAGE = 1 << 20  # the TUI sends small JSON-RPC messages; a selection goes the other way


def lock_dir(environ: Mapping[str, str]) -> Path:
    """Where the TUI looks: ``os.homedir()/.claude/ide`` (``$HOME`` on Linux and macOS)."""
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".claude" / "ide"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read_locks(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable lock file in ``directory`` and its content."""
    found = []
    try:
        entries = sorted(directory.glob("*.lock"))
    except OSError:
        return []
    for path in entries:
        try:
            content = parse_lock(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        if content is not None:
            found.append((path, content))
    return found


def remove_stale_locks(directory: Path) -> list[Path]:
    """Remove our lock files whose bridge is gone; return them."""
    removed = []
    for path, content in read_locks(directory):
        if is_stale(content, pid_alive):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def locks_serving(directory: Path, workspace: str) -> list[tuple[Path, dict[str, Any]]]:
    """The lock files a TUI started in ``workspace`` could take."""
    return [(path, c) for path, c in read_locks(directory) if serves(c, workspace)]


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only, whole or not at all (the TUI may read it at
    any moment): a private temporary file renamed into place."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


class Endpoint:
    """The WebSocket server and its lock file, for one bridge."""

    def __init__(self, folders: list[str], editor: str, environ: Mapping[str, str]) -> None:
        self.folders = folders
        self.editor = editor
        self.directory = lock_dir(environ)
        self.token = secrets.token_urlsafe(32)
        self.port: int | None = None
        self.lock_path: Path | None = None
        self.tuis: set[ServerConnection] = set()  # connections that sent initialize
        self.latest_selection: str | None = None  # the last selection_changed, for newcomers
        self._listening: socket.socket | None = None  # until the first TUI knocks
        self._server: Server | None = None
        self._knock: asyncio.Future[None] | None = None
        self._sending: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        listening.setblocking(False)
        self._listening = listening
        self.port = int(listening.getsockname()[1])
        asyncio.get_running_loop().add_reader(listening, self._knocked)
        await asyncio.to_thread(self._write_lock)
        log.info("Editor context on 127.0.0.1:%s (%s)", self.port, self.lock_path)

    def _knocked(self) -> None:
        """A TUI connects: hand the socket, its connection waiting, to the WebSocket server."""
        if self._listening is not None:
            asyncio.get_running_loop().remove_reader(self._listening)
            self._knock = asyncio.ensure_future(self._serve_websockets(self._listening))

    async def _serve_websockets(self, listening: socket.socket) -> None:
        from websockets.asyncio.server import serve

        try:
            self._server = await serve(
                self._serve,
                sock=listening,
                process_request=self._check_token,
                select_subprotocol=_select_subprotocol,
                max_size=MAX_MESSAGE,
                server_header=None,
            )
        except Exception:
            log.exception("The editor-context endpoint could not start its WebSocket server")
            self._close_listening()
            return
        self._listening = None  # the server owns it now

    def _write_lock(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in remove_stale_locks(self.directory):
            log.info("Removed %s: the bridge that wrote it is gone", path)
        path = self.directory / f"{self.port}.lock"
        content = lock_content(os.getpid(), self.folders, self.editor, self.token)
        write_private(path, json.dumps(content))
        self.lock_path = path

    def remove_lock(self) -> None:
        """Synchronous, so that it also runs when the event loop will not (SIGTERM)."""
        path, self.lock_path = self.lock_path, None
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def close(self) -> None:
        self.remove_lock()
        self._close_listening()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        self.tuis.clear()

    def _close_listening(self) -> None:
        listening, self._listening = self._listening, None
        if listening is not None:
            with contextlib.suppress(RuntimeError, ValueError):  # the loop may be gone
                asyncio.get_running_loop().remove_reader(listening)
            listening.close()

    def close_now(self) -> None:
        """At exit: the lock file goes; the socket closes with the process."""
        self.remove_lock()
        self._close_listening()
        if self._server is not None:
            # After the event loop has closed (pygls's exit) closing needs no loop: the socket
            # goes with the process.
            with contextlib.suppress(RuntimeError):
                self._server.close(close_connections=False)

    def status(self) -> dict[str, Any]:
        return {"port": self.port, "tuis": len(self.tuis), "folders": self.folders}

    def broadcast(self, method: str, params: Any) -> int:
        """Send a notification to every connected TUI; return how many there are."""
        message = notification(method, params)
        if method == "selection_changed":
            self.latest_selection = message
        for connection in list(self.tuis):
            sending = asyncio.ensure_future(_send(connection, message))
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)
        return len(self.tuis)

    # --- the WebSocket side -----------------------------------------------------------------

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        from websockets.datastructures import Headers

        offered = request.headers.get(AUTH_HEADER, "")
        if hmac.compare_digest(offered.encode(), self.token.encode()):
            return None
        log.warning("Refused an editor-context connection without the right token")
        response = connection.respond(401, "A valid x-claude-code-ide-authorization is needed.\n")
        response.headers = Headers({**dict(response.headers), "Connection": "close"})
        return response

    async def _serve(self, connection: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in connection:
                incoming = answer(raw, __version__, self.status())
                if incoming.reply is not None:
                    await connection.send(incoming.reply)
                if incoming.initialized and connection not in self.tuis:
                    self.tuis.add(connection)
                    log.info("An OpenCode TUI connected (%d now)", len(self.tuis))
                    if self.latest_selection is not None:
                        await connection.send(self.latest_selection)
        except ConnectionClosed:
            pass
        finally:
            if connection in self.tuis:
                self.tuis.discard(connection)
                log.info("An OpenCode TUI left (%d now)", len(self.tuis))


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Newer TUIs offer ``mcp``; 1.18.33 offers none. Either is fine."""
    return next((chosen for chosen in offered if chosen == "mcp"), None)


async def _send(connection: ServerConnection, message: str) -> None:
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        await connection.send(message)


async def probe(environ: Mapping[str, str], workspace: str) -> list[str]:
    """For ``opencode-lsp doctor``: one sentence per editor-context endpoint a TUI started in
    ``workspace`` could take (how many TUIs it has), or why there is none."""
    from websockets.asyncio.client import connect

    from bridge.core.ide_protocol import STATUS_METHOD, is_ours

    directory = lock_dir(environ)
    found = await asyncio.to_thread(locks_serving, directory, workspace)
    if not found:
        return [
            f"no editor serves this folder in {directory}: open a file of it in your editor "
            "(with the editorContext setting on) for the TUI to see your selection"
        ]
    lines = []
    for path, content in found:
        name = str(content.get("ideName") or "an editor")
        port = path.stem
        if is_ours(content) and isinstance(content.get("pid"), int):
            if not pid_alive(content["pid"]):
                lines.append(f"{name} on {port}: stale (pid {content['pid']} is gone)")
                continue
        token = content.get("authToken")
        headers = {AUTH_HEADER: token} if isinstance(token, str) else {}
        url = f"ws://127.0.0.1:{port}"

        async def ask(url: str = url, headers: dict[str, str] = headers) -> Any:
            async with connect(url, additional_headers=headers, open_timeout=5) as connection:
                request = {"jsonrpc": "2.0", "id": 1, "method": STATUS_METHOD}
                await connection.send(json.dumps(request))
                return json.loads(await connection.recv())

        try:
            reply = await asyncio.wait_for(ask(), 5)
        except Exception as exc:  # any failure is the answer: say it
            lines.append(f"{name} on 127.0.0.1:{port}: not answering ({exc})")
            continue
        result = reply.get("result") if isinstance(reply, dict) else None
        if isinstance(result, dict) and isinstance(result.get("tuis"), int):
            tuis = result["tuis"]
            connected = f"{tuis} TUI(s) connected" if tuis else "no TUI connected"
            lines.append(f"{name} on 127.0.0.1:{port}: {connected}")
        else:
            lines.append(f"{name} on 127.0.0.1:{port}: answers (not an opencode-lsp endpoint)")
    return lines
