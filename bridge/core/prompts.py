"""Selection + diagnostics + buffer state -> the parts of an OpenCode prompt. Pure.

The selection goes as a file part exactly as OpenCode's TUI sends one (the server then reads
those lines from disk). Because the server reads disk, a buffer with unsaved changes also
sends the selected lines as the editor shows them, as text, and its file part names the
lines where the selected lines are on disk (unsaved lines above the selection shift them), or
is left out when none of them is there yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bridge.core.line_diff import map_lines
from bridge.core.settings import PLACEHOLDERS

_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


@dataclass(frozen=True)
class Problem:
    """A diagnostic in the selection, reduced to what a model needs."""

    line: int  # 1-based
    severity: str  # error, warning, information, hint
    message: str
    source: str | None = None


@dataclass(frozen=True)
class Selection:
    """What the user pointed at. Lines are 1-based and inclusive, as OpenCode counts them."""

    path: Path  # absolute
    root: Path  # the workspace folder the file is in
    start_line: int
    end_line: int
    text: str  # the selected lines as the editor shows them
    unsaved: bool  # the buffer differs from the file on disk
    language: str = ""
    on_disk: bool = True
    # With ``unsaved``: the selected lines' first and last line in the file on disk, or None
    # when none of them is there unchanged (see ``against_disk``).
    disk_range: tuple[int, int] | None = None

    @property
    def relative_path(self) -> str:
        try:
            return self.path.relative_to(self.root).as_posix()
        except ValueError:
            return self.path.as_posix()

    @property
    def lines(self) -> str:
        return _lines(self.start_line, self.end_line)

    @property
    def file_lines(self) -> tuple[int, int] | None:
        """The lines OpenCode is to read from disk for this selection, if any."""
        if not self.on_disk:
            return None
        return self.disk_range if self.unsaved else (self.start_line, self.end_line)


def _lines(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def against_disk(selection: Selection, buffer: str, disk: str | None) -> Selection:
    """The selection, compared with the file on disk (None: unreadable).

    When the buffer differs, the file part must name disk lines: the selected lines that are
    unchanged on disk are found there with the line diff that merges edits, and the range from
    the first to the last of them is used. Selected lines that exist only in the buffer reach
    the model as the inline text alone.
    """
    if disk == buffer:
        return replace(selection, unsaved=False, disk_range=None)
    found = []
    if disk is not None:
        mapped = map_lines(buffer, disk, range(selection.start_line - 1, selection.end_line))
        found = [line + 1 for line, unchanged in mapped if unchanged]
    disk_range = (found[0], found[-1]) if found else None
    return replace(selection, unsaved=True, disk_range=disk_range)


def uses_diagnostics(template: str) -> bool:
    return "{diagnostics}" in template


def format_problems(problems: list[Problem]) -> str:
    lines = []
    for problem in problems:
        source = f" ({problem.source})" if problem.source else ""
        lines.append(f"- line {problem.line}: {problem.severity}: {problem.message}{source}")
    return "\n".join(lines)


def render_template(template: str, selection: Selection | None, problems: list[Problem]) -> str:
    """Fill the known ``{placeholders}``; other braces in a user's template stay as written."""
    values = {
        "file": selection.relative_path if selection else "the current file",
        "lines": selection.lines if selection else "?",
        "language": selection.language if selection else "",
        "diagnostics": format_problems(problems) or "(none reported)",
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def file_part(selection: Selection) -> dict[str, Any]:
    """The file part the TUI sends for ``@path#start-end``, with the lines on disk."""
    start, end = selection.file_lines or (selection.start_line, selection.end_line)
    rel = selection.relative_path
    ref = f"{rel}#{_lines(start, end)}"
    url = "file://" + quote(selection.path.as_posix()) + f"?start={start}&end={end}"
    return {
        "type": "file",
        "mime": "text/plain",
        "filename": ref,
        "url": url,
        "source": {
            "type": "file",
            "path": rel,
            "text": {"value": f"@{ref}", "start": 0, "end": 0},
        },
    }


def prompt_parts(
    instruction: str, selection: Selection | None, problems: list[Problem], inline: bool = False
) -> list[dict[str, Any]]:
    """The ``parts`` of a ``prompt_async`` body. ``inline``: the server takes no file part
    (V2), so the selected lines always go in the text, with their path and line numbers."""
    text = instruction.strip()
    listed = format_problems(problems)
    # A template with {diagnostics} arrives here already rendered: do not list them twice.
    if problems and "{diagnostics}" not in instruction and listed not in instruction:
        text += "\n\nDiagnostics the editor reports in the selection:\n" + listed
    if selection is not None and (selection.unsaved or not selection.on_disk):
        why = "has unsaved changes" if selection.on_disk else "is not saved to disk"
        where, on_disk = "", selection.file_lines
        if selection.on_disk and on_disk is None:
            where = " (not in the file on disk yet)"
        elif on_disk is not None and on_disk != (selection.start_line, selection.end_line):
            where = f" (lines {_lines(*on_disk)} of the file on disk)"
        text += (
            f"\n\nThe editor's buffer for {selection.relative_path} {why}; lines "
            f"{selection.lines} as the user sees them{where}:\n"
            f"{_fenced(selection)}"
        )
    elif selection is not None and inline:
        text += f"\n\nLines {selection.lines} of {selection.relative_path}:\n{_fenced(selection)}"
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if selection is not None and selection.file_lines is not None and not inline:
        parts.append(file_part(selection))
    return parts


def reference_parts(references: Sequence[Selection], inline: bool) -> list[dict[str, Any]]:
    """Parts for more files a prompt names (``@path#L10-20``): file parts, or on a server that
    takes none (V2) their lines in the text, as the selection's."""
    if not inline:
        return [file_part(reference) for reference in references]
    return [
        {"type": "text", "text": f"Lines {ref.lines} of {ref.relative_path}:\n{_fenced(ref)}"}
        for ref in references
    ]


def _fenced(selection: Selection) -> str:
    """The selected lines in a code block."""
    # Longer than any run of backticks in the code, or the code would close the block.
    longest = max((len(run) for run in re.findall(r"`+", selection.text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{selection.language}\n{selection.text.rstrip(chr(10))}\n{fence}"
