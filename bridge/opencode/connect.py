"""Find the OpenCode server for a workspace: the configured one, a running TUI's, or our own.

Order: ``serverUrl`` when set (and no server at all when it is set but is not a URL); else
the server at ``attachUrl`` (where a user's TUI listens, 127.0.0.1:4096 by default) but only
when ``GET /path`` says it serves this workspace; else, when ``spawn`` is on, a private
``opencode serve`` started for this workspace.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bridge.core.settings import Settings
from bridge.errors import NotFound, ServerUnreachable
from bridge.opencode import wire_v2
from bridge.opencode.client import OpenCodeClient, tls_context
from bridge.opencode.client_v2 import OpenCodeClientV2
from bridge.opencode.dialect import Dialect, choose_dialect, neither
from bridge.opencode.models import PathInfo
from bridge.opencode.process import SpawnedServer

log = logging.getLogger(__name__)

ATTACH_PROBE_TIMEOUT = 1.0


@dataclass
class ServerHandle:
    """How to reach the server, and the process when the bridge started it."""

    url: str
    username: str
    password: str | None
    how: str  # "serverUrl" | "attached" | "spawned"
    version: str
    spawned: SpawnedServer | None = None
    dialect: Dialect = Dialect("v1", "not asked")

    @property
    def speaks(self) -> type[OpenCodeClient]:
        """The client of the server's dialect; its class attributes say what it can do."""
        return OpenCodeClientV2 if self.dialect.api == "v2" else OpenCodeClient

    def client_for(self, directory: str, timeout: float) -> OpenCodeClient:
        return self.speaks(
            self.url, directory, username=self.username, password=self.password, timeout=timeout
        )

    async def close(self) -> None:
        if self.spawned is not None:
            await self.spawned.stop()


def _same_dir(a: object, b: str) -> bool:
    return isinstance(a, str) and bool(a) and os.path.realpath(a) == os.path.realpath(b)


async def serves_workspace(url: str, root: str, settings: Settings) -> bool:
    """Does the server at ``url`` work in ``root``? Asked without a directory header, so
    the answer is the server's own directory, not an echo of ours."""
    auth = httpx.BasicAuth(settings.username, settings.password) if settings.password else None
    try:
        async with httpx.AsyncClient(
            timeout=ATTACH_PROBE_TIMEOUT, auth=auth, verify=tls_context(url)
        ) as http:
            response = await http.get(f"{url}/path")
            if response.status_code == 404:  # a V2 server: where it works is its location
                response = await http.get(f"{url}/api/location")
    except httpx.HTTPError:
        return False
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return False
    try:
        wire = response.json()
        v2 = response.url.path.endswith("/api/location")
        info = wire_v2.location(wire) if v2 else PathInfo.from_wire(wire)
    except ValueError:
        return False
    return _same_dir(info.directory, root) or _same_dir(info.worktree, root)


def _is_loopback(host: str | None) -> bool:
    if host in (None, "", "localhost"):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url_warning(url: str, has_password: bool) -> str | None:
    """A warning for a configured server that strangers could use or overhear."""
    parts = urlsplit(url)
    if _is_loopback(parts.hostname):
        return None
    if not has_password:
        return (
            f"OpenCode at {url} is not on this machine and has no password: anyone who can "
            "reach it can run commands as you. Set OPENCODE_SERVER_PASSWORD on both sides."
        )
    if parts.scheme == "http":
        return (
            f"The password for OpenCode at {url} travels unencrypted over http: use https or "
            "an SSH tunnel to 127.0.0.1."
        )
    return None


async def _version(client: OpenCodeClient) -> str:
    return (await client.health()).version or "unknown"


async def find_server(
    settings: Settings, root: str, environ: Mapping[str, str] | None = None
) -> ServerHandle:
    """Connect as described above; raise a :class:`bridge.errors.OpenCodeError` if none."""
    if settings.server_url_refused:  # never another server instead of the one the user named
        raise ServerUnreachable(
            "serverUrl is not a URL (write it like http://127.0.0.1:4096); the bridge "
            "connects to no OpenCode server until it is fixed."
        )
    if settings.server_url:
        handle = ServerHandle(
            settings.server_url, settings.username, settings.password, "serverUrl", ""
        )
    elif settings.attach_url and await serves_workspace(settings.attach_url, root, settings):
        handle = ServerHandle(
            settings.attach_url, settings.username, settings.password, "attached", ""
        )
    elif settings.spawn:
        spawned = SpawnedServer(settings.command, root, settings.username)
        await spawned.start(environ)
        handle = ServerHandle(
            spawned.url, spawned.username, spawned.password, "spawned", "", spawned
        )
    else:
        raise ServerUnreachable(
            "No OpenCode server for this workspace: set serverUrl, start `opencode` in "
            f"{Path(root).name}, or turn spawn on."
        )
    try:
        handle.dialect = await choose_dialect(
            handle.url, settings, handle.username, handle.password
        )
    except BaseException:
        await handle.close()
        raise
    client = handle.client_for(root, settings.request_timeout)
    try:
        handle.version = await _version(client)
    except NotFound as exc:
        await handle.close()
        if handle.dialect.answers:  # V1 was only a guess: it speaks neither
            raise neither(handle.url, handle.dialect, "404") from exc
        raise
    except BaseException:
        await handle.close()
        raise
    finally:
        await client.aclose()
    log.info(
        "Using OpenCode %s at %s (%s), API %s: %s",
        handle.version,
        handle.url,
        handle.how,
        handle.dialect.api,
        handle.dialect.why,
    )
    return handle
