"""The bridge's one typed settings object, and how it is read from what editors send.

Editors send settings as ``initializationOptions`` (the object itself, or nested under an
``opencode`` key) and later through ``workspace/configuration`` (section ``opencode``).
Keys are camelCase on the wire. An empty object, an empty array (Neovim's empty Lua table) or
null means "no settings". A bad value never stops the bridge: the default is kept and a
warning sentence is returned for the server to show the user once. Two exceptions: a bad
``prompts`` entry drops only that entry, and a ``serverUrl`` that is not a URL is refused
outright, so the bridge connects to nothing rather than silently to another server.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PLACEHOLDERS = ("file", "lines", "language", "diagnostics")  # what a prompt template may use


DEFAULT_ATTACH_URL = "http://127.0.0.1:4096"

# Name -> prompt template. ``{file}``, ``{lines}``, ``{language}`` and ``{diagnostics}`` are
# filled in; a template that uses ``{diagnostics}`` is offered only where there are some.
DEFAULT_PROMPTS: dict[str, str] = {
    "explain": "Explain what the selected code in {file} (lines {lines}) does.",
    "review": (
        "Review the selected code in {file} (lines {lines}) for bugs, unclear names and "
        "missing edge cases. Report what you find; do not change files."
    ),
    "fix": "Fix these problems in the selected code in {file} (lines {lines}):\n{diagnostics}",
    "tests": "Write tests for the selected code in {file} (lines {lines}).",
    "document": "Write documentation comments for the selected code in {file} (lines {lines}).",
}

# --- review findings (bridge/features/review_findings.py) ---
# ``{what}`` is filled with what is reviewed ("the selected code in src/a.py (lines 3-4)",
# "src/a.py", "the files changed in the working tree: …"); ``{file}``, ``{lines}`` and
# ``{language}`` as in the prompts above. How to answer (the findings' form) is added to it.
DEFAULT_REVIEW_PROMPT = (
    "Review {what} for bugs, unclear names and missing edge cases. Do not change files."
)
REVIEW_SEVERITY_CHOICES = ("error", "warning", "information", "hint")

SYNC_BUFFERS_CHOICES = ("auto", "on", "off")
EDIT_APPROVAL_CHOICES = ("config", "ask")


@dataclass(frozen=True)
class Settings:
    """Everything a user can set. Field names are the wire keys in snake_case."""

    server_url: str | None = None
    attach_url: str | None = DEFAULT_ATTACH_URL
    username: str = "opencode"
    password: str | None = field(default=None, repr=False)
    spawn: bool = True
    command: tuple[str, ...] = ("opencode",)
    model: str | None = None
    agent: str | None = None
    prompts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PROMPTS))
    request_timeout: float = 30.0
    sync_buffers: str = "auto"
    edit_approval: str = "config"
    open_transcript: bool = False  # the older name of open_conversation
    open_conversation: bool = False
    path_map: tuple[tuple[str, str], ...] = ()  # (server path prefix, local path prefix)
    # The selection as live context for an OpenCode TUI beside the editor (docs/tui.md).
    editor_context: bool = True
    # Not a wire key: serverUrl was set but is not a URL. The bridge then connects to no
    # server at all (falling back to another one would swap servers behind the user's back).
    server_url_refused: bool = field(default=False, metadata={"wire": False})
    # review findings: which severities become diagnostics, and what the review asks
    review_severities: tuple[str, ...] = REVIEW_SEVERITY_CHOICES
    review_prompt: str = DEFAULT_REVIEW_PROMPT

    @property
    def model_ref(self) -> dict[str, str] | None:
        """``provider/model`` as OpenCode's ``{providerID, modelID}``."""
        if not self.model:
            return None
        provider, _, model = self.model.partition("/")
        return {"providerID": provider, "modelID": model}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


WIRE_KEYS: dict[str, str] = {
    _camel(f.name): f.name for f in dataclasses.fields(Settings) if f.metadata.get("wire", True)
}


def _check_optional_str(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _check_url(key: str, value: Any) -> str | None:
    if value is False:  # "off", for editors whose config format has no null (Helix's TOML)
        return None
    url = _check_optional_str(key, value)
    if url is None:
        return None
    if "://" not in url:  # "localhost:4096", as people write it: the same server over http
        url = "http://" + url
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises for "host:abc"
        valid = url.startswith(("http://", "https://")) and bool(parts.hostname) and port_ok
    except ValueError:
        valid = False
    if not valid:  # "http://" alone used to pass, and became "http:"
        raise ValueError(f"{key} must be a URL starting with http:// or https://")
    return url.rstrip("/")


def _check_str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _check_command(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f'{key} must be a list of strings, like ["opencode"]')


def _check_model(key: str, value: Any) -> str | None:
    model = _check_optional_str(key, value)
    if model is not None and "/" not in model.strip("/"):
        raise ValueError(f"{key} must look like provider/model")
    return model


_NAMED_BRACES = re.compile(r"\{([A-Za-z_]\w*)\}")


def _read_prompts(key: str, value: Any) -> tuple[dict[str, str], list[str]]:
    """The defaults with the user's entries over them. A bad entry is left out (a default of
    that name stays) and named; the other entries still apply."""
    if not isinstance(value, dict):
        return dict(DEFAULT_PROMPTS), [
            f"OpenCode setting {key} must be an object of name to template; keeping the default."
        ]
    prompts = dict(DEFAULT_PROMPTS)
    warnings: list[str] = []
    for name, template in value.items():
        if template is None:  # null removes a default action
            prompts.pop(name, None)
        elif isinstance(template, str) and template.strip():
            prompts[name] = template
            unknown = sorted(
                {m.group(1) for m in _NAMED_BRACES.finditer(template)} - set(PLACEHOLDERS)
            )
            if unknown:
                named = ", ".join(f"{{{u}}}" for u in unknown)
                known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                warnings.append(
                    f"OpenCode prompt {name!r} uses {named}, which is not a placeholder: it "
                    f"goes to the model as written (placeholders: {known})."
                )
        else:
            kept = "keeping the default" if name in DEFAULT_PROMPTS else "it is left out"
            warnings.append(
                f"OpenCode setting {key}.{name} must be a template string or null; {kept}."
            )
    return prompts, warnings


def _check_timeout(key: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
        # JSON parsers accept NaN and Infinity; neither is a number of seconds.
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    raise ValueError(f"{key} must be a positive number of seconds")


def _check_path_map(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(remote, str) and remote and isinstance(local, str) and local
        for remote, local in value.items()
    ):
        raise ValueError(f"{key} must be an object of server path to local path")
    return tuple(value.items())


def _check_review_severities(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(v in REVIEW_SEVERITY_CHOICES for v in value):
        raise ValueError(f"{key} must be a list of {', '.join(REVIEW_SEVERITY_CHOICES)}")
    return tuple(dict.fromkeys(value))


def _choice(*choices: str) -> Any:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{key} must be one of {', '.join(choices)}")
        return str(value)

    return check


_CHECKS: dict[str, Any] = {
    "server_url": _check_url,
    "attach_url": _check_url,
    "username": _check_str,
    "password": _check_optional_str,
    "spawn": _check_bool,
    "command": _check_command,
    "model": _check_model,
    "agent": _check_optional_str,
    "request_timeout": _check_timeout,
    "sync_buffers": _choice(*SYNC_BUFFERS_CHOICES),
    "edit_approval": _choice(*EDIT_APPROVAL_CHOICES),
    "open_transcript": _check_bool,
    "open_conversation": _check_bool,
    "path_map": _check_path_map,
    "editor_context": _check_bool,
    "review_severities": _check_review_severities,
    "review_prompt": _check_str,
}


def is_empty(options: Any) -> bool:
    """null, ``{}`` or ``[]``: "no settings". Neovim sends an empty Lua table (the shipped
    config, or ``{ model = nil }``) as ``[]``."""
    return options is None or (isinstance(options, (dict, list)) and not options)


def unwrap(options: Any) -> Any:
    """Accept both the settings object and ``{"opencode": {...}}`` (an empty section, however
    it is written, is no settings)."""
    if isinstance(options, dict) and "opencode" in options:
        section = options["opencode"]
        if isinstance(section, dict) or is_empty(section):
            return section
    return options


def parse_settings(
    options: Any, environ: Mapping[str, str] | None = None
) -> tuple[Settings, list[str]]:
    """Build settings from what the editor sent; return them and one warning per bad key."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    warnings: list[str] = []
    if env_user := environ.get("OPENCODE_SERVER_USERNAME"):
        values["username"] = env_user
    if env_password := environ.get("OPENCODE_SERVER_PASSWORD"):
        values["password"] = env_password

    options = unwrap(options)
    if is_empty(options):
        options = {}
    if not isinstance(options, dict):
        return Settings(**values), ["OpenCode settings must be an object; using the defaults."]

    for key, value in options.items():
        name = WIRE_KEYS.get(key)
        if name is None:
            warnings.append(f"Unknown OpenCode setting {key!r} is ignored.")
            continue
        if name == "password" and (value is None or value == ""):
            continue  # an empty password setting leaves OPENCODE_SERVER_PASSWORD in force
        if value is None and name != "attach_url":
            continue  # editors send null for a setting the user left unset (attachUrl: null skips)
        if name == "prompts":
            values[name], found = _read_prompts(key, value)
            warnings.extend(found)
            continue
        try:
            values[name] = _CHECKS[name](key, value)
        except ValueError as problem:
            if name == "server_url":
                values["server_url_refused"] = True
                warnings.append(
                    f"OpenCode setting {problem}; the bridge connects to no OpenCode server "
                    "until it is fixed."
                )
            else:
                warnings.append(f"OpenCode setting {problem}; keeping the default.")
            continue
    return Settings(**values), warnings
