"""The current session of each workspace folder, remembered across editor restarts.

One small JSON file outside every workspace, ``$XDG_STATE_HOME/opencode-lsp/sessions.json``
(``~/.local/state/...`` when the variable is unset): ``{"/abs/folder": "ses_…"}``. A file that
cannot be read or written costs the memory, never the bridge: the failure is logged.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

APP_DIR = "opencode-lsp"


def state_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / APP_DIR


def cache_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".cache"
    )
    return Path(base) / APP_DIR


class RememberedSessions:
    """Folder root -> session id, in one JSON file; each change is written at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("Could not read %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def get(self, root: str) -> str | None:
        return self._load().get(root)

    def set(self, root: str, session_id: str | None) -> None:
        """Remember ``session_id`` for ``root`` (None forgets it)."""
        data = self._load()
        if data.get(root) == session_id:
            return
        if session_id is None:
            data.pop(root, None)
        else:
            data[root] = session_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: two editors saving at once never leave half a file.
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.path.parent, delete=False, suffix=".tmp"
            ) as file:
                json.dump(data, file, indent=1, sort_keys=True)
            os.replace(file.name, self.path)
        except OSError as exc:
            log.warning("Could not remember the session in %s: %s", self.path, exc)
