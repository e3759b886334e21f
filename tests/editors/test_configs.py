"""Every file in editor-configs/ is loaded here (parsed at least; the Neovim and Emacs
configs also run in the real editors in test_neovim.py and test_emacs.py), and what each
names is checked against the bridge: its command list, its settings (docs/configuration.md).
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from tests.editors.conftest import CONFIGS, REPO_ROOT
from tests.editors.editors import missing, require_emacs, require_nvim
from tests.support.lsp import BRIDGE_COMMAND, capabilities, make_editor

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the pyproject floor: the same parser from PyPI (a test dependency there)
    import tomli as tomllib

VSCODE = CONFIGS / "vscode"
SKIPPED_DIRS = {"node_modules", "out"}


def config_files() -> list[Path]:
    return sorted(
        path
        for path in CONFIGS.rglob("*")
        if path.is_file()
        and not SKIPPED_DIRS & set(path.relative_to(CONFIGS).parts)
        and path.name != ".gitignore"
    )


# ---------------------------------------------------------------------------- loaders


def load_json(path: Path) -> None:
    json.loads(path.read_text())


def load_toml(path: Path) -> None:
    tomllib.loads(path.read_text())


def load_lua(path: Path) -> None:
    """Neovim's own Lua compiles the file (it runs in test_neovim.py, except the
    nvim-lspconfig form: lspconfig is not installed here)."""
    nvim = require_nvim()
    result = subprocess.run(
        [nvim, "--clean", "--headless", "-l", "-"],
        input=f"assert(loadfile({json.dumps(str(path))}))",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def load_elisp(path: Path) -> None:
    """Emacs reads every form (and runs the file in test_emacs.py)."""
    emacs = require_emacs()
    program = f"""(with-temp-buffer
      (insert-file-contents {json.dumps(str(path))})
      (emacs-lisp-mode)
      (check-parens)
      (goto-char (point-min))
      (condition-case nil (while t (read (current-buffer))) (end-of-file nil)))"""
    result = subprocess.run(
        [emacs, "--batch", "--eval", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def load_python(path: Path) -> None:
    """The Sublime plugin compiles (its `sublime` modules exist only inside Sublime)."""
    compile(path.read_text(), str(path), "exec", flags=ast.PyCF_ONLY_AST)


def load_typescript(path: Path) -> None:
    """Compiled by test_vscode_extension_compiles."""
    assert path.parent == VSCODE / "src"


LOADERS: dict[str, Callable[[Path], None]] = {
    ".json": load_json,
    ".sublime-settings": load_json,
    ".sublime-keymap": load_json,
    ".toml": load_toml,
    ".lua": load_lua,
    ".el": load_elisp,
    ".py": load_python,
    ".ts": load_typescript,
}


@pytest.mark.parametrize(
    "path", config_files(), ids=lambda p: str(p.relative_to(CONFIGS)) if isinstance(p, Path) else p
)
def test_every_config_file_loads(path: Path) -> None:
    loader = LOADERS.get(path.suffix)
    assert loader is not None, f"no test loads {path.relative_to(CONFIGS)}: add a loader"
    loader(path)


# ---------------------------------------------------------------- the server's commands


@pytest.fixture(scope="module")
def server_commands(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """``executeCommandProvider.commands`` from the bridge's initialize result (no
    OpenCode needed: nothing is spawned or probed)."""
    root = tmp_path_factory.mktemp("workspace")

    async def ask() -> set[str]:
        editor = make_editor()
        await editor.start_io(*BRIDGE_COMMAND)
        try:
            result = await editor.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities(),
                    root_uri=from_fs_path(str(root)),
                    initialization_options={"spawn": False, "attachUrl": None},
                )
            )
            provider = result.capabilities.execute_command_provider
            return set(provider.commands if provider else [])
        finally:
            await editor.shutdown_session()
            await editor.stop()

    return asyncio.run(ask())


COMMAND = re.compile(r"\bopencode\.(?!json\b|ai\b|lua\b)[a-z]+(?:\.[A-Za-z]+)*")


def named_commands(path: Path) -> set[str]:
    return set(COMMAND.findall(path.read_text()))


def helix_bindings() -> Iterator[tuple[str, str]]:
    """(key, value) of every binding in the Helix files."""
    for name in ("config.toml", "languages.toml"):
        data = tomllib.loads((CONFIGS / "helix" / name).read_text())
        for mode in data.get("keys", {}).values():
            stack = [("", mode)]
            while stack:
                prefix, table = stack.pop()
                for key, value in table.items():
                    if isinstance(value, dict):
                        stack.append((prefix + key + " ", value))
                    else:
                        for one in value if isinstance(value, list) else [value]:
                            yield prefix + key, one


def test_helix_workspace_commands_are_the_servers(server_commands: set[str]) -> None:
    used = []
    for key, binding in helix_bindings():
        if not binding.startswith(":lsp-workspace-command"):
            continue
        parts = binding.split(maxsplit=2)
        if len(parts) == 1:
            continue  # the picker of every command
        used.append(parts[1])
        assert parts[1] in server_commands, f"{key}: {parts[1]} is not a command of the bridge"
        if len(parts) == 3:  # Helix reads the rest of the line as JSON values
            json.loads(parts[2])
    assert "opencode.ask" in used


@pytest.mark.parametrize(
    "path",
    [
        CONFIGS / "helix/config.toml",
        CONFIGS / "neovim/lua/opencode_lsp/init.lua",
        CONFIGS / "neovim/lua/opencode_lsp/conversation.lua",
        CONFIGS / "emacs/opencode-eglot.el",
        CONFIGS / "emacs/opencode-lsp-mode.el",
        CONFIGS / "sublime/Default.sublime-keymap",
        CONFIGS / "sublime/opencode_ask.py",
        VSCODE / "src/extension.ts",
    ],
    ids=lambda p: str(p.relative_to(CONFIGS)),
)
def test_commands_named_in_configs_exist(path: Path, server_commands: set[str]) -> None:
    unknown = named_commands(path) - server_commands
    assert not unknown, f"{path.name} names commands the bridge does not offer: {unknown}"


# --------------------------------------------------------------------------- VS Code


def documented_settings() -> dict[str, tuple[str, str]]:
    """key -> (type, default) from the settings table of docs/configuration.md."""
    rows: dict[str, tuple[str, str]] = {}
    lines = (REPO_ROOT / "docs/configuration.md").read_text().splitlines()
    start = lines.index("| key | type | default | meaning |")
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def expected_schema(doc_type: str, doc_default: str) -> dict[str, Any]:
    """What a VS Code setting documented with ``doc_type`` and ``doc_default`` declares."""
    expected: dict[str, Any] = {}
    if "\\|" in doc_type:
        expected["type"] = {"string"}
        expected["enum"] = re.findall(r"`([^`]+)`", doc_type)
    elif doc_type.startswith("boolean"):
        expected["type"] = {"boolean"}
    elif doc_type.startswith("number"):
        expected["type"] = {"number"}
    elif doc_type.startswith("list"):
        expected["type"] = {"array", "string"} if "one string" in doc_type else {"array"}
    elif doc_type.startswith("object"):
        expected["type"] = {"object"}
    else:
        expected["type"] = {"string"}
    literal = re.fullmatch(r"`([^`$][^`]*)`", doc_default)  # `$VAR`: from the environment
    if literal:
        value = literal.group(1)
        try:
            expected["default"] = json.loads(value)
        except ValueError:
            expected["default"] = value  # a string: `auto`, `http://…`
    else:  # none, an environment variable, OpenCode's own default: unset
        expected["default"] = {} if expected["type"] == {"object"} else None
    return expected


def test_vscode_settings_schema_matches_the_documented_settings() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    properties: dict[str, Any] = {}
    for block in manifest["contributes"]["configuration"]:
        properties.update(block["properties"])
    declared = {
        k.removeprefix("opencode."): v for k, v in properties.items() if k.startswith("opencode.")
    }
    documented = documented_settings()
    assert sorted(declared) == sorted(documented)
    for key, (doc_type, doc_default) in documented.items():
        schema = declared[key]
        expected = expected_schema(doc_type, doc_default)
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert set(types) - {"null"} == expected["type"], key
        assert ("null" in types) == (expected["default"] is None or "or null" in doc_type), key
        assert schema["default"] == expected["default"], key
        assert schema.get("enum") == expected.get("enum"), key
        assert schema.get("markdownDescription") or schema.get("description"), key
    # The extension's own settings live outside the "opencode" section the bridge reads.
    assert all(k.startswith(("opencode.", "opencodeLsp.")) for k in properties)


def test_vscode_lockfile_pins_the_manifests_dependencies() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    lock = json.loads((VSCODE / "package-lock.json").read_text())
    root = lock["packages"][""]
    assert root.get("dependencies") == manifest["dependencies"]
    assert root.get("devDependencies") == manifest["devDependencies"]
    assert "vscode-languageclient" in manifest["dependencies"]
    assert manifest["main"] == "./out/extension.js"


def test_vscode_extension_compiles(tmp_path: Path) -> None:
    """The extension type-checks against vscode-languageclient and VS Code's API
    (``.ci/setup`` ran ``npm ci && npm run compile``; this compiles again, elsewhere)."""
    tsc = VSCODE / "node_modules/.bin/tsc"
    if not tsc.exists() or shutil.which("node") is None:
        missing(
            "the VS Code extension's packages are not installed: npm ci in editor-configs/vscode"
        )
    result = subprocess.run(
        [str(tsc), "-p", str(VSCODE), "--outDir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "opencode.ask" in (tmp_path / "extension.js").read_text()
