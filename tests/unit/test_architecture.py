"""The shape docs/architecture.md draws, kept: the server is built from the feature list and
imports no feature, every feature offers exactly what its entry announces, and no module name
stands twice in bridge/."""

from __future__ import annotations

import ast
import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from bridge.features import FEATURES, build_server
from bridge.server import _not_started

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_server_imports_no_feature() -> None:
    for module in ("server.py", "feature.py", "folders.py"):
        assert not [m for m in imported_modules(BRIDGE / module) if m.startswith("bridge.features")]


def test_no_module_name_stands_twice_in_bridge() -> None:
    names = Counter(p.name for p in BRIDGE.rglob("*.py") if p.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1] == []


def test_every_feature_offers_what_its_entry_announces() -> None:
    server = build_server()
    announced = set(server.protocol.fm.commands)

    async def load() -> None:  # as the server does, in its event loop
        server.load_features()  # raises when a feature offers other than its entry announces

    asyncio.run(load())
    assert [type(feature).__name__ for feature in server.features] == [e.feature for e in FEATURES]
    assert set(server.protocol.fm.commands) == announced
    handlers = {**server.protocol.fm.commands, **server.protocol.fm.features}
    assert [name for name, handler in handlers.items() if innermost(handler) is _not_started] == []


def innermost(handler: Any) -> Any:
    while hasattr(handler, "func"):  # functools.partial, and pygls's wrapper of coroutines
        handler = handler.func
    return handler


def test_no_feature_or_pure_module_reads_a_wire_event() -> None:
    """Events are parsed once (bridge/opencode/events.py): outside the client nothing reads an
    event's ``type`` or ``properties`` from a dict."""
    readers = []
    paths = [
        BRIDGE / "server.py",
        *(BRIDGE / "features").glob("*.py"),
        *(BRIDGE / "core").glob("*.py"),
    ]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                key = node.slice.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                key = node.args[0].value
            if key in ("type", "properties"):
                readers.append(f"{path.name}:{node.lineno}")
    assert readers == []
