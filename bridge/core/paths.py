"""Paths as the user knows them. Pure."""

from __future__ import annotations

import os
from pathlib import Path


def display_path(path: str, root: str | Path | None) -> str:
    """A path as the user knows it: relative to the workspace folder when inside it."""
    if root:
        base = str(root).rstrip(os.sep) + os.sep
        if path.startswith(base):
            return path[len(base) :]
    return path
