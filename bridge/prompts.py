"""Selection + diagnostics + buffer state -> the parts of an OpenCode prompt. Pure.

The selection goes as a file part exactly as OpenCode's TUI sends one (the server then reads
those lines from disk). Because the server reads disk, a buffer with unsaved changes also
sends the selected lines as the editor shows them, as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

PLACEHOLDERS = ("file", "lines", "language", "diagnostics")  # what a template may use
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

    @property
    def relative_path(self) -> str:
        try:
            return self.path.relative_to(self.root).as_posix()
        except ValueError:
            return self.path.as_posix()

    @property
    def lines(self) -> str:
        if self.start_line == self.end_line:
            return str(self.start_line)
        return f"{self.start_line}-{self.end_line}"


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
    """The file part the TUI sends for ``@path#start-end``."""
    rel = selection.relative_path
    ref = f"{rel}#{selection.lines}"
    url = (
        "file://"
        + quote(selection.path.as_posix())
        + f"?start={selection.start_line}&end={selection.end_line}"
    )
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
    instruction: str, selection: Selection | None, problems: list[Problem]
) -> list[dict[str, Any]]:
    """The ``parts`` of a ``prompt_async`` body."""
    text = instruction.strip()
    listed = format_problems(problems)
    # A template with {diagnostics} arrives here already rendered: do not list them twice.
    if problems and "{diagnostics}" not in instruction and listed not in instruction:
        text += "\n\nDiagnostics the editor reports in the selection:\n" + listed
    if selection is not None and (selection.unsaved or not selection.on_disk):
        why = "has unsaved changes" if selection.on_disk else "is not saved to disk"
        # Longer than any run of backticks in the code, or the code would close the block.
        longest = max((len(run) for run in re.findall(r"`+", selection.text)), default=0)
        fence = "`" * max(3, longest + 1)
        text += (
            f"\n\nThe editor's buffer for {selection.relative_path} {why}; lines "
            f"{selection.lines} as the user sees them:\n"
            f"{fence}{selection.language}\n{selection.text.rstrip(chr(10))}\n{fence}"
        )
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if selection is not None and selection.on_disk:
        parts.append(file_part(selection))
    return parts
