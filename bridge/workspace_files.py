"""The workspace's files as the editor shows them: the one way the bridge reads and writes them.

The rule, for every file read to compare with a buffer, to apply a change to or to place a mark in:

- **UTF-8.** A file that is not is refused (``Unreadable``) rather than guessed at: the bridge
  would otherwise compare, edit or write back a text other than the one on disk.
- **A leading BOM is dropped**: editors hide it and the text they send over LSP never has it, so a
  file with a BOM reads equal to its unchanged buffer. ``write_text`` keeps a file's BOM.
- **Line endings are kept as they are** (``"\\r\\n"`` stays): LSP positions and unified patches
  count them, and a buffer's text has the file's endings.
- **A file that does not exist** (or whose folder does not) reads as None.

Blocking: call it through ``asyncio.to_thread`` from the event loop (a small file at didOpen is
the one exception, see ``features.buffers``).
"""

from __future__ import annotations

import os

from bridge.errors import EditRefused

BOM = "\ufeff"
_BOM_BYTES = BOM.encode("utf-8")

FilePath = str | os.PathLike[str]


class Unreadable(EditRefused):
    """A file that exists but cannot be read, or is not UTF-8 text."""


def read_text(path: FilePath) -> str | None:
    """The file's text by the rule above; None when it does not exist. ``Unreadable`` when it
    exists but cannot be read or is not UTF-8."""
    return _read(path, lossy=False)


def read_text_or_none(path: FilePath, *, lossy: bool = False) -> str | None:
    """``read_text``, with a file it refuses read as None too: for callers that only compare or
    place lines and never write the text back. ``lossy``: a file that is not UTF-8 is read with
    each undecodable byte as U+FFFD instead, so its lines stay where they are (for placing a
    mark on a line of it)."""
    try:
        return _read(path, lossy=lossy)
    except Unreadable:
        return None


def _read(path: FilePath, *, lossy: bool) -> str | None:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise Unreadable(f"{os.fspath(path)} cannot be read ({error.strerror}).") from error
    try:
        text = data.decode("utf-8", "replace" if lossy else "strict")
    except UnicodeDecodeError as error:
        raise Unreadable(
            f"{os.fspath(path)} is not UTF-8 text, so the bridge leaves it alone."
        ) from error
    return text.removeprefix(BOM)


def write_text(path: FilePath, text: str, *, create: bool = False) -> None:
    """Replace the file's text atomically, its BOM and permissions kept. ``create``: the file
    must not exist yet (its folders are made), and is never overwritten."""
    import tempfile  # ~10 ms with shutil and random: on the first write, not at start-up

    if create:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "x", encoding="utf-8", newline="") as file:
            file.write(text)
        return
    with open(path, "rb") as file:
        bom = file.read(len(_BOM_BYTES)) == _BOM_BYTES
    mode = os.stat(path).st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".opencode-lsp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write((_BOM_BYTES if bom else b"") + text.encode("utf-8"))
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
