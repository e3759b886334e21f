"""Every way the bridge can fail, each with one sentence the user can act on.

``str(error)`` is that sentence: the server layer shows it as it is, so it never holds a
traceback, a password or an Authorization header.
"""

from __future__ import annotations

from typing import Any


def server_message(error: Any) -> str | None:
    """The message in an OpenCode error object: ``{"data": {"message"}}`` (NamedError),
    else ``{"message"}`` (the 401 and some 404 bodies)."""
    if not isinstance(error, dict):
        return None
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return str(error["message"]) if isinstance(error.get("message"), str) else None


class BridgeError(Exception):
    """Base of every error the bridge reports to the user."""


# --- talking to the OpenCode server -------------------------------------------------------


class OpenCodeError(BridgeError):
    """The OpenCode server could not be reached or refused a request."""

    status: int | None = None


class NotConnected(OpenCodeError):
    """The folder has no link to OpenCode right now (not yet, or between reconnects)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Not connected to OpenCode yet; try again in a moment.")


class ServerUnreachable(OpenCodeError):
    """Connection refused, reset or timed out."""


class AuthenticationFailed(OpenCodeError):
    status = 401


class PermissionDenied(OpenCodeError):
    status = 403


class NotFound(OpenCodeError):
    status = 404


class SessionBusy(OpenCodeError):
    status = 409


class ServerFault(OpenCodeError):
    """A 5xx answer, or an answer that is not the JSON the route promises."""


class OpenCodeNotInstalled(OpenCodeError):
    """The configured command to start ``opencode serve`` does not exist."""


class ServerStartFailed(OpenCodeError):
    """``opencode serve`` started but never became healthy."""


class NotOffered(OpenCodeError):
    """The server's API has no route for this (a V2 server has no TUI control, no fork)."""


NO_TUI = "This OpenCode server (V2) has no TUI control."


class UnknownDialect(OpenCodeError):
    """The server at the URL speaks neither OpenCode API the bridge knows."""


# --- what the editor or the server asked for ----------------------------------------------


class InvalidArgument(BridgeError):
    """A command argument is missing or malformed; ``argument`` names it."""

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        super().__init__(f"Invalid argument {argument!r}: {problem}.")


class EditRefused(BridgeError):
    """A change from the agent cannot be applied as it stands; nothing was changed."""


class PathOutsideWorkspace(EditRefused):
    """A path that resolves outside every workspace folder."""
