"""The agent's review as findings on lines, and findings as diagnostics. Pure: no LSP I/O.

A review prompt asks OpenCode for structured output (``format: {type: "json_schema"}``) in
:data:`FINDINGS_SCHEMA`. The answer arrives as the assistant message's ``structured`` value,
which OpenCode 1.18.33 does not check against the schema: :func:`parse_findings` checks it
whole, and refuses it whole (nothing is published half-parsed). :class:`FindingStore` keeps
the findings of every review: where each one is (lines that move when text is inserted or
removed above them, and withdraw it when its own lines are rewritten), which review scope it
came from (a new review of the same scope replaces them), and which were dismissed (they stay
dismissed on the next review of the same, unchanged lines).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from bridge.core.line_diff import changed_regions
from bridge.core.text_positions import PositionEncoding, unit_counter

SOURCE = "OpenCode"
SEVERITY_NAMES = ("error", "warning", "information", "hint")
SEVERITY_KINDS = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
MAX_FINDINGS = 500
MAX_MESSAGE = 2_000
MAX_SUGGESTION = 100_000

FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "description": "One entry per problem found; an empty list when there is none.",
            "items": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "string",
                        "description": "The file's path relative to the project root.",
                    },
                    "startLine": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "First line of the problem, 1-based, as in the file.",
                    },
                    "endLine": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Last line of the problem (inclusive), 1-based.",
                    },
                    "severity": {"type": "string", "enum": list(SEVERITY_NAMES)},
                    "message": {
                        "type": "string",
                        "description": "One sentence saying what is wrong.",
                    },
                    "suggestion": {
                        "type": "string",
                        "description": (
                            "Optional: the complete new text of lines startLine..endLine "
                            "(whole lines, indentation included) that fixes the problem."
                        ),
                    },
                },
                "required": ["file", "startLine", "endLine", "severity", "message"],
                "additionalProperties": False,
            },
        },
        "summary": {"type": "string", "description": "Optional: one sentence overall."},
    },
    "required": ["findings"],
    "additionalProperties": False,
}

# Appended to the review prompt the user configured: how to answer, which they need not write.
ANSWER_INSTRUCTIONS = (
    "Answer with the StructuredOutput tool: one finding per problem, each with the file's path "
    "relative to the project root, the first and last line it is about (1-based, inclusive, as "
    "numbered in the file), a severity (error, warning, information or hint), a one-sentence "
    "message, and, when you can, a suggestion: the complete replacement text of exactly those "
    "lines. Report no finding you are not sure of; an empty list is a fine answer."
)


class NotStructured(ValueError):
    """The structured answer does not fit the schema; ``str()`` says where, for the user."""


@dataclass(frozen=True)
class Finding:
    """One finding as the model wrote it (lines 1-based, inclusive)."""

    file: str
    start_line: int
    end_line: int
    severity: str
    message: str
    suggestion: str | None = None


def _line_number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def parse_findings(value: Any) -> tuple[list[Finding], str | None]:
    """The findings and the optional summary of a structured answer, all or nothing."""
    if not isinstance(value, dict):
        raise NotStructured("the answer is not an object")
    raw = value.get("findings")
    if not isinstance(raw, list):
        raise NotStructured("findings: expected a list")
    if len(raw) > MAX_FINDINGS:
        raise NotStructured(f"findings: more than {MAX_FINDINGS}")
    summary = value.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise NotStructured("summary: expected a string")
    findings = []
    for index, item in enumerate(raw):
        where = f"findings[{index}]"
        if not isinstance(item, dict):
            raise NotStructured(f"{where}: expected an object")
        file = item.get("file")
        start, end = _line_number(item.get("startLine")), _line_number(item.get("endLine"))
        severity, message = item.get("severity"), item.get("message")
        suggestion = item.get("suggestion")
        if not isinstance(file, str) or not file.strip():
            raise NotStructured(f"{where}.file: expected a path")
        if start is None or end is None:
            name = "startLine" if start is None else "endLine"
            raise NotStructured(f"{where}.{name}: expected a line number from 1")
        if end < start:
            raise NotStructured(f"{where}: endLine is before startLine")
        if severity not in SEVERITY_NAMES:
            raise NotStructured(f"{where}.severity: expected one of {', '.join(SEVERITY_NAMES)}")
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
            raise NotStructured(f"{where}.message: expected one sentence")
        if suggestion is not None and (
            not isinstance(suggestion, str) or len(suggestion) > MAX_SUGGESTION
        ):
            raise NotStructured(f"{where}.suggestion: expected the replacement text")
        findings.append(
            Finding(file.strip(), start, end, str(severity), message.strip(), suggestion)
        )
    return findings, summary.strip() if isinstance(summary, str) and summary.strip() else None


# --- lines --------------------------------------------------------------------------------


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` as an LSP client counts them, without their endings (a text that
    ends with a line break has no extra empty line: nothing can be there)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def line_ending(text: str) -> str:
    """The line ending ``text`` uses (its first one; "\\n" when it has none)."""
    at = text.find("\n")
    return "\r\n" if at > 0 and text[at - 1] == "\r" else "\n"


def follow(
    spans: Sequence[tuple[int, int]], old: Sequence[str], new: Sequence[str]
) -> list[tuple[int, int] | None]:
    """Where each ``(start, end)`` line span of ``old`` is in ``new`` (0-based, inclusive),
    or None when one of its lines changed or lines were inserted between them."""
    regions = changed_regions(old, new) if old != new else []
    out: list[tuple[int, int] | None] = []
    for start, end in spans:
        shift = 0
        moved: tuple[int, int] | None = (start, end)
        for a_from, a_to, b_from, b_to in regions:
            if a_to <= start and a_from < start:
                shift += (b_to - b_from) - (a_to - a_from)  # wholly above the span
            elif a_from > end:
                break  # wholly below it (regions are in order)
            elif a_from == a_to and a_from == start:
                shift += b_to - b_from  # an insertion just above its first line
            else:
                moved = None  # its lines were rewritten, or lines were put between them
                break
        if moved is not None:
            moved = (start + shift, end + shift)
            if moved[1] >= len(new):
                moved = None
        out.append(moved)
    return out


def dismissal_key(relative_path: str, lines: Iterable[str]) -> str:
    """What a dismissal is remembered by: the file and the exact text of the finding's lines
    (not the message: a model words the same finding differently from one review to the
    next)."""
    digest = hashlib.sha1("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{relative_path}\0{digest}"


# --- scopes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What one review looked at: a selection (lines 0-based, inclusive), a file, or the files
    changed in the working tree."""

    kind: str  # selection | file | changes
    paths: tuple[str, ...]
    start: int | None = None
    end: int | None = None

    @property
    def key(self) -> str:
        if self.kind == "changes":
            return "changes"
        where = f"#{self.start}-{self.end}" if self.kind == "selection" else ""
        return f"{self.kind}:{self.paths[0]}{where}"

    def covers(self, path: str, start: int, end: int) -> bool:
        if path not in self.paths:
            return False
        if self.kind != "selection" or self.start is None or self.end is None:
            return True
        return start <= self.end and end >= self.start


# --- the findings of every review ---------------------------------------------------------


@dataclass
class Placed:
    """A finding on lines of a file the bridge knows the text of."""

    id: str
    path: str  # absolute, inside the workspace
    relative: str  # as shown to the user
    start: int  # 0-based, inclusive
    end: int
    severity: str
    message: str
    suggestion: str | None
    scope: str  # the key of the review scope it came from
    session_id: str | None = None  # the review's session

    @property
    def where(self) -> str:
        first, last = self.start + 1, self.end + 1
        return f"{self.relative}:{first}" if first == last else f"{self.relative}:{first}-{last}"


@dataclass(frozen=True)
class Dropped:
    """Findings a review named but the bridge cannot show, counted for the summary."""

    outside: int = 0  # files outside the workspace, or that do not exist
    past_end: int = 0  # lines past the end of the file
    dismissed: int = 0  # dismissed before, on the same unchanged lines


_ids = itertools.count(1)


@dataclass
class FindingStore:
    """Every finding shown, per file; the text each file had when its findings were last
    placed (so edits can move them); the dismissed findings' keys."""

    findings: dict[str, Placed] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)  # path -> lines (no endings)
    dismissed: set[str] = field(default_factory=set)

    def in_file(self, path: str) -> list[Placed]:
        return sorted(
            (f for f in self.findings.values() if f.path == path), key=lambda f: (f.start, f.id)
        )

    def paths(self) -> set[str]:
        return {finding.path for finding in self.findings.values()}

    def replace(
        self,
        scope: Scope,
        findings: Sequence[Finding],
        locate: Callable[[str], tuple[str, str, list[str]] | None],
        session_id: str | None = None,
    ) -> tuple[list[Placed], Dropped, set[str]]:
        """Put a review's findings in place of the old ones of the same scope (and of the
        lines it covers). ``locate(file)`` gives ``(path, relative path, lines)`` for a file
        the model named, None when it is outside the workspace or absent. Returns the findings
        placed, what was dropped, and every path whose diagnostics changed."""
        touched: set[str] = set()
        for old in list(self.findings.values()):
            if old.scope == scope.key or scope.covers(old.path, old.start, old.end):
                del self.findings[old.id]
                touched.add(old.path)
        for path in touched - self.paths():
            self.texts.pop(path, None)  # no finding left there to follow
        placed: list[Placed] = []
        outside = past_end = dismissed = 0
        located: dict[str, tuple[str, str, list[str]] | None] = {}
        for finding in findings:
            if finding.file not in located:
                located[finding.file] = locate(finding.file)
            where = located[finding.file]
            if where is None:
                outside += 1
                continue
            path, relative, lines = where
            if path in self.texts and self.text_changed(path, lines):
                touched.add(path)  # the others' findings there follow the text first
            start, end = finding.start_line - 1, finding.end_line - 1
            if end >= len(lines):
                past_end += 1
                continue
            if dismissal_key(relative, lines[start : end + 1]) in self.dismissed:
                dismissed += 1
                continue
            item = Placed(
                id=f"f{next(_ids)}",
                path=path,
                relative=relative,
                start=start,
                end=end,
                severity=finding.severity,
                message=finding.message,
                suggestion=finding.suggestion,
                scope=scope.key,
                session_id=session_id,
            )
            self.findings[item.id] = item
            self.texts[path] = list(lines)
            placed.append(item)
            touched.add(path)
        return placed, Dropped(outside, past_end, dismissed), touched

    def text_changed(self, path: str, lines: list[str]) -> bool:
        """The file's text is now ``lines``: move its findings; withdraw those whose lines
        were rewritten. True when a finding moved or went."""
        old = self.texts.get(path)
        if old is None or old == lines:
            return False
        mine = self.in_file(path)
        self.texts[path] = lines
        changed = False
        spans = follow([(f.start, f.end) for f in mine], old, lines)
        for finding, moved in zip(mine, spans, strict=True):
            if moved is None:
                del self.findings[finding.id]
                changed = True
            elif moved != (finding.start, finding.end):
                finding.start, finding.end = moved
                changed = True
        if not self.in_file(path):
            del self.texts[path]
        return changed

    def dismiss(self, finding_id: str) -> Placed | None:
        finding = self.findings.pop(finding_id, None)
        if finding is None:
            return None
        lines = self.texts.get(finding.path, [])
        self.dismissed.add(dismissal_key(finding.relative, lines[finding.start : finding.end + 1]))
        if not self.in_file(finding.path):
            self.texts.pop(finding.path, None)
        return finding

    def withdraw(self, finding_id: str) -> Placed | None:
        finding = self.findings.pop(finding_id, None)
        if finding is not None and not self.in_file(finding.path):
            self.texts.pop(finding.path, None)
        return finding

    def clear(self) -> set[str]:
        paths = self.paths()
        self.findings.clear()
        self.texts.clear()
        return paths

    def lines_of(self, finding: Placed) -> list[str]:
        return self.texts.get(finding.path, [])[finding.start : finding.end + 1]

    def diagnostics(
        self, path: str, shown: Iterable[str], encoding: PositionEncoding = "utf-16"
    ) -> list[types.Diagnostic]:
        """The file's findings whose severity is ``shown``, as diagnostics on their lines."""
        lines = self.texts.get(path, [])
        units = unit_counter(encoding)
        wanted = set(shown)
        out = []
        for finding in self.in_file(path):
            if finding.severity not in wanted:
                continue
            last = lines[finding.end] if finding.end < len(lines) else ""
            out.append(
                types.Diagnostic(
                    range=types.Range(
                        start=types.Position(line=finding.start, character=0),
                        end=types.Position(line=finding.end, character=units(last)),
                    ),
                    message=finding.message,
                    severity=SEVERITY_KINDS[finding.severity],
                    source=SOURCE,
                    code=finding.id,
                    data={"opencodeFinding": finding.id},
                )
            )
        return out


def suggested_text(text: str, finding: Placed) -> str:
    """``text`` with the finding's lines replaced by its suggestion (in the file's line
    endings; the suggestion's own last line break, if any, is not doubled)."""
    assert finding.suggestion is not None
    eol = line_ending(text)
    lines = text.replace("\r\n", "\n").split("\n")
    replacement = finding.suggestion.replace("\r\n", "\n")
    if replacement.endswith("\n"):
        replacement = replacement[:-1]
    new_lines = lines[: finding.start] + replacement.split("\n") + lines[finding.end + 1 :]
    return eol.join(new_lines)


def summary_sentence(
    what: str, placed: Sequence[Placed], dropped: Dropped, hidden: int, summary: str | None
) -> str:
    """One line for the user: how many findings, where, and what was left out and why."""
    files = len({finding.path for finding in placed})
    if placed:
        head = f"{len(placed)} finding{'s' * (len(placed) != 1)}"
        head += f" in {files} file{'s' * (files != 1)}" if files > 1 else ""
    else:
        head = "no findings"
    notes = []
    if dropped.outside:
        notes.append(f"{dropped.outside} in files outside the workspace (or missing) dropped")
    if dropped.past_end:
        notes.append(f"{dropped.past_end} past the end of their file dropped")
    if dropped.dismissed:
        notes.append(f"{dropped.dismissed} dismissed earlier left out")
    if hidden:
        notes.append(f"{hidden} of a severity reviewSeverities hides")
    sentence = f"OpenCode review of {what}: {head}"
    if notes:
        sentence += " (" + "; ".join(notes) + ")"
    sentence += "."
    if summary:
        sentence += f" {summary}"
    return sentence


__all__ = [
    "ANSWER_INSTRUCTIONS",
    "FINDINGS_SCHEMA",
    "SOURCE",
    "Dropped",
    "Finding",
    "FindingStore",
    "NotStructured",
    "Placed",
    "Scope",
    "dismissal_key",
    "follow",
    "line_ending",
    "parse_findings",
    "suggested_text",
    "summary_sentence",
    "text_lines",
]
