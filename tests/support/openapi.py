"""The OpenAPI document of the pinned ``opencode serve`` (``GET /doc`` of 1.18.33), kept in the
repository beside this module so the fake can be checked against it without starting the real
server; tests/faults/test_fake_contract.py proves the copy is what the real server serves.

`operation` finds the operation a request reaches; `request_errors` and `response_errors` list
what in a body the document's schema refuses (empty: it validates).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema

__all__ = [
    "SPEC_PATH",
    "load_spec",
    "operation",
    "path_errors",
    "request_errors",
    "response_errors",
    "validation_errors",
]

SPEC_PATH = Path(__file__).with_name("opencode-1.18.33-openapi.json")


@functools.lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The pinned document (parsed once; do not change it)."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return spec


@functools.cache
def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


def operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """``(template, operation)`` of the route ``METHOD path`` reaches, or None. A path may be a
    template itself (``/session/{sessionID}``); literal segments win over parameters."""
    matches = [
        (template, operations[method.lower()])
        for template, operations in spec["paths"].items()
        if method.lower() in operations
        and (template == path or _template_pattern(template).match(path))
    ]
    if not matches:
        return None
    return min(matches, key=lambda match: match[0].count("{"))


def validation_errors(spec: dict[str, Any], schema: dict[str, Any], body: Any) -> list[str]:
    """Why ``schema`` (whose refs point into the document) refuses ``body``."""
    # Refs point into the document's components: carry them along with the schema.
    validator = jsonschema.Draft202012Validator({**schema, "components": spec["components"]})
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message[:300]}"
        for error in validator.iter_errors(body)
    ]


def path_errors(spec: dict[str, Any], method: str, path: str) -> list[str]:
    """Why the route's path-parameter schemas refuse the values in ``path`` (ids such as
    ``ses_…`` must match the server's patterns)."""
    found = operation(spec, method, path)
    if found is None:
        return [f"{method} {path} is not in the document"]
    template, details = found
    schemas = {p["name"]: p.get("schema", {}) for p in details.get("parameters", [])}
    errors: list[str] = []
    for name, value in zip(template.split("/"), path.split("/"), strict=True):
        if name.startswith("{") and name != value:
            errors += [
                f"{name}={value}: {e}" for e in validation_errors(spec, schemas[name[1:-1]], value)
            ]
    return errors


def request_errors(spec: dict[str, Any], method: str, path: str, body: Any) -> list[str]:
    """Why the route's request-body schema refuses ``body`` (empty when it accepts it)."""
    found = operation(spec, method, path)
    if found is None:
        return [f"{method} {path} is not in the document"]
    content = (found[1].get("requestBody") or {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return [] if body in (None, {}, b"") else [f"{method} {path} takes no body"]
    return validation_errors(spec, schema, body)


def response_errors(
    spec: dict[str, Any], method: str, path: str, status: int, body: Any
) -> list[str]:
    """Why the route's response schema for ``status`` refuses ``body`` (empty when it
    accepts it). An event stream's body is one event."""
    found = operation(spec, method, path)
    if found is None:
        return [f"{method} {path} is not in the document"]
    response = found[1].get("responses", {}).get(str(status))
    if response is None:
        return [f"{method} {path} does not answer {status}"]
    content = response.get("content", {})
    media = content.get("application/json") or content.get("text/event-stream") or {}
    schema = media.get("schema")
    if schema is None:
        return [] if body in (None, b"", "") else [f"{method} {path} {status} has no body"]
    return validation_errors(spec, schema, body)
