"""Check the arguments of ``workspace/executeCommand`` calls. Pure.

Commands take one JSON object (``:lsp-workspace-command opencode.ask {"prompt": "…"}`` in
Helix, ``arguments: [{…}]`` elsewhere). Every problem raises :class:`InvalidArgument` naming
the argument, which the server layer turns into a JSON-RPC InvalidParams error.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from bridge.errors import InvalidArgument

MAX_TEXT = 1_000_000


def single_object(arguments: Any, *, required: bool = True) -> dict[str, Any]:
    """The command's one object argument (``{}`` when none is given and none is needed)."""
    if arguments is None or arguments == []:
        if required:
            raise InvalidArgument("arguments", "expected one object of named arguments")
        return {}
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, (list, tuple)) and len(arguments) == 1:
        if isinstance(arguments[0], dict):
            return arguments[0]
        if arguments[0] is None and not required:
            return {}
    raise InvalidArgument("arguments", "expected one object of named arguments")


def optional_str(args: dict[str, Any], key: str, *, max_len: int = MAX_TEXT) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(key, "expected a string")
    if len(value) > max_len:
        raise InvalidArgument(key, f"longer than {max_len} characters")
    return value


def required_str(args: dict[str, Any], key: str, *, max_len: int = MAX_TEXT) -> str:
    value = optional_str(args, key, max_len=max_len)
    if not value or not value.strip():
        raise InvalidArgument(key, "required, and must be a non-empty string")
    return value


def _position(value: Any, key: str) -> types.Position:
    if not isinstance(value, dict):
        raise InvalidArgument(key, "expected {line, character}")
    line, character = value.get("line"), value.get("character")
    for name, number in (("line", line), ("character", character)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidArgument(f"{key}.{name}", "expected a whole number")
        if number < 0 or number > 2**31 - 1:
            raise InvalidArgument(f"{key}.{name}", "out of range")
    assert isinstance(line, int) and isinstance(character, int)
    return types.Position(line=line, character=character)


def optional_range(args: dict[str, Any], key: str = "range") -> types.Range | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(key, "expected {start, end}")
    start = _position(value.get("start"), f"{key}.start")
    end = _position(value.get("end"), f"{key}.end")
    if (end.line, end.character) < (start.line, start.character):
        raise InvalidArgument(key, "end is before start")
    return types.Range(start=start, end=end)


def optional_uri(args: dict[str, Any], key: str = "uri") -> str | None:
    uri = optional_str(args, key, max_len=10_000)
    if uri is not None and not uri.startswith("file://"):
        raise InvalidArgument(key, "expected a file:// URI")
    return uri


def optional_list(args: dict[str, Any], key: str) -> list[Any]:
    value = args.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(key, "expected a list")
    return value
