"""Paths as the user knows them, and paths from OpenCode kept inside the workspace."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from bridge.errors import PathOutsideWorkspace


def display_path(path: str, root: str | Path | None) -> str:
    """A path as the user knows it: relative to the workspace folder when inside it."""
    if root:
        base = str(root).rstrip(os.sep) + os.sep
        if path.startswith(base):
            return path[len(base) :]
    return path


def resolve_in_workspace(path: str, folders: Sequence[Path], base: Path | None = None) -> Path:
    """The file ``path`` names, refused unless it is inside a workspace folder after symlinks.

    ``path`` is a path or a ``file://`` URI; a relative path is taken from ``base`` (the server's
    worktree; default the first folder). The check uses ``Path.resolve()`` (symlinks followed,
    for a file not yet there its existing parents). The result is spelled from the folder as the
    editor gave it plus the resolved rest, so it matches the editor's URIs even when the
    workspace folder itself is reached through a symlink.
    """
    if "\0" in path:
        raise PathOutsideWorkspace(
            f"{path!r} contains a NUL character, so the bridge will not use it."
        )
    candidate = path_from_uri(path) if path.startswith("file:") else Path(path)
    if not candidate.is_absolute():
        root = base if base is not None else (folders[0] if folders else None)
        if root is None:
            raise PathOutsideWorkspace(
                f"{path} is a relative path and no workspace folder is open, so the bridge will "
                "not change it."
            )
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
        roots = [(Path(folder).absolute(), Path(folder).resolve()) for folder in folders]
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (before 3.13)
        raise PathOutsideWorkspace(
            f"{path} cannot be resolved ({error}), so the bridge will not change it."
        ) from error
    best: tuple[Path, Path] | None = None
    for given, real in roots:
        if real in resolved.parents and (best is None or len(real.parts) > len(best[1].parts)):
            best = (given, real)
    if best is None:
        raise PathOutsideWorkspace(
            f"{path} is not inside any workspace folder, so the bridge will not change it."
        )
    return best[0] / resolved.relative_to(best[1])


def path_from_uri(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise PathOutsideWorkspace(
            f"{uri} is not a local file URI, so the bridge will not change it."
        )
    return Path(url2pathname(parsed.path))
