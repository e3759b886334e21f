"""Review findings: the structured answer checked whole, placed on lines, moved with edits."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types

from bridge.core.findings import (
    FINDINGS_SCHEMA,
    Dropped,
    Finding,
    FindingStore,
    NotStructured,
    Scope,
    follow,
    parse_findings,
    suggested_text,
    summary_sentence,
    text_lines,
)
from bridge.core.settings import DEFAULT_REVIEW_PROMPT, parse_settings
from bridge.demo.scripted_model import minimal_value


def item(**changes: Any) -> dict[str, Any]:
    base = {"file": "a.py", "startLine": 2, "endLine": 3, "severity": "warning", "message": "Hm."}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_a_well_formed_answer_is_parsed_with_its_summary() -> None:
    found, summary = parse_findings(
        {"findings": [item(suggestion="x = 1\n")], "summary": " Mostly fine. "}
    )
    assert found == [Finding("a.py", 2, 3, "warning", "Hm.", "x = 1\n")]
    assert summary == "Mostly fine."
    assert parse_findings({"findings": []}) == ([], None)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("findings", "not an object"),
        ({"findings": "nope"}, "findings: expected a list"),  # OpenCode let this through
        ({"findings": [item(), 3]}, "findings[1]: expected an object"),
        ({"findings": [item(startLine=0)]}, "findings[0].startLine"),
        ({"findings": [item(endLine=True)]}, "findings[0].endLine"),
        ({"findings": [item(startLine=4)]}, "endLine is before startLine"),
        ({"findings": [item(severity="fatal")]}, "findings[0].severity"),
        ({"findings": [item(message=" ")]}, "findings[0].message"),
        ({"findings": [item(file=None)]}, "findings[0].file"),
        ({"findings": [item(suggestion=3)]}, "findings[0].suggestion"),
        ({"findings": [], "summary": 1}, "summary"),
    ],
)
def test_anything_off_the_schema_refuses_the_whole_answer(value: Any, where: str) -> None:
    with pytest.raises(NotStructured, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_findings(value)


def test_the_scripted_models_smallest_answer_fits_the_schema() -> None:
    assert parse_findings(minimal_value(FINDINGS_SCHEMA)) == ([], None)


def test_lines_are_counted_as_an_lsp_client_counts_them() -> None:
    assert text_lines("a\r\nb\r\n") == ["a", "b"]
    assert text_lines("a\nb") == ["a", "b"]
    assert text_lines("") == [""]


OLD = ["0", "1", "2", "3", "4", "5"]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (["x", *OLD], (3, 4)),  # a line inserted above: moved down
        (["0", "2", "3", "4", "5"], (1, 2)),  # a line removed above: moved up
        (["0", "1", "x", "2", "3", "4", "5"], (3, 4)),  # inserted just above its first line
        (["0", "1", "2", "3", "4", "x", "5"], (2, 3)),  # inserted just below: stays
        (["0", "1", "2", "3x", "4", "5"], None),  # its own line rewritten: withdrawn
        (["0", "1", "2", "x", "3", "4", "5"], None),  # a line put between its lines
        (["0", "1", "4", "5"], None),  # its lines deleted
        (["0", "1", "2", "3", "4", "5x"], (2, 3)),  # a change below
    ],
)
def test_a_finding_follows_its_lines(new: list[str], expected: tuple[int, int] | None) -> None:
    assert follow([(2, 3)], OLD, new) == [expected]


def locate_in(files: dict[str, list[str]]) -> Any:
    return lambda name: (f"/w/{name}", name, files[name]) if name in files else None


def test_placing_drops_and_counts_what_cannot_be_shown() -> None:
    store = FindingStore()
    findings = [
        Finding("a.py", 1, 1, "error", "One."),
        Finding("../etc/passwd", 1, 1, "error", "Out."),
        Finding("a.py", 3, 4, "error", "Past the end."),
    ]
    placed, dropped, touched = store.replace(
        Scope("file", ("/w/a.py",)), findings, locate_in({"a.py": ["x", "y", "z"]})
    )
    assert [f.message for f in placed] == ["One."]
    assert dropped == Dropped(outside=1, past_end=1)
    assert touched == {"/w/a.py"}
    sentence = summary_sentence("a.py", placed, dropped, 0, None)
    assert sentence == (
        "OpenCode review of a.py: 1 finding (1 in files outside the workspace (or missing) "
        "dropped; 1 past the end of their file dropped)."
    )


def test_diagnostics_end_at_the_last_lines_end_in_utf16_units() -> None:
    store = FindingStore()
    lines = ["def f():", "    return '🎉' + x  # é", "pass"]
    store.replace(
        Scope("file", ("/w/a.py",)),
        [Finding("a.py", 1, 2, "hint", "Party.")],
        locate_in({"a.py": lines}),
    )
    [diagnostic] = store.diagnostics("/w/a.py", ["hint"], "utf-16")
    assert diagnostic.range == types.Range(types.Position(0, 0), types.Position(1, 24))
    assert diagnostic.severity == types.DiagnosticSeverity.Hint
    assert (diagnostic.source, diagnostic.message) == ("OpenCode", "Party.")
    [utf8] = store.diagnostics("/w/a.py", ["hint"], "utf-8")
    assert utf8.range.end.character == 27
    assert store.diagnostics("/w/a.py", ["error", "warning"]) == []


def test_a_new_review_of_the_same_scope_replaces_and_others_stay() -> None:
    store = FindingStore()
    locate = locate_in({"a.py": ["a", "b", "c", "d"]})
    selection = Scope("selection", ("/w/a.py",), 0, 1)
    store.replace(selection, [Finding("a.py", 1, 1, "error", "Old.")], locate)
    other = Scope("selection", ("/w/a.py",), 3, 3)
    store.replace(other, [Finding("a.py", 4, 4, "hint", "D.")], locate)
    store.replace(selection, [Finding("a.py", 2, 2, "error", "New.")], locate)
    assert sorted(f.message for f in store.findings.values()) == ["D.", "New."]
    store.replace(Scope("file", ("/w/a.py",)), [], locate)  # the file covers both
    assert store.findings == {}


def test_dismissed_findings_stay_away_while_their_lines_are_unchanged() -> None:
    store = FindingStore()
    scope = Scope("file", ("/w/a.py",))
    [placed], _, _ = store.replace(
        scope, [Finding("a.py", 2, 2, "error", "Bad.")], locate_in({"a.py": ["a", "b"]})
    )
    store.dismiss(placed.id)
    again = [Finding("a.py", 2, 2, "error", "Bad, said differently.")]
    placed_again, dropped, _ = store.replace(scope, again, locate_in({"a.py": ["a", "b"]}))
    assert placed_again == [] and dropped.dismissed == 1
    changed, dropped, _ = store.replace(scope, again, locate_in({"a.py": ["a", "b2"]}))
    assert len(changed) == 1 and dropped.dismissed == 0


def test_the_store_moves_findings_and_withdraws_rewritten_ones() -> None:
    store = FindingStore()
    store.replace(
        Scope("file", ("/w/a.py",)),
        [Finding("a.py", 2, 2, "error", "B."), Finding("a.py", 3, 3, "error", "C.")],
        locate_in({"a.py": ["a", "b", "c"]}),
    )
    assert store.text_changed("/w/a.py", ["new", "a", "b", "c!"])
    [left] = store.in_file("/w/a.py")
    assert (left.message, left.start, left.end) == ("B.", 2, 2)
    assert not store.text_changed("/w/a.py", ["new", "a", "b", "c!"])


def test_a_suggestion_replaces_exactly_its_lines_in_the_files_line_endings() -> None:
    store = FindingStore()
    text = "a\r\nb\r\nc\r\n"
    [placed], _, _ = store.replace(
        Scope("file", ("/w/a.py",)),
        [Finding("a.py", 2, 2, "error", "B.", "b1\nb2\n")],
        locate_in({"a.py": text_lines(text)}),
    )
    assert suggested_text(text, placed) == "a\r\nb1\r\nb2\r\nc\r\n"
    assert suggested_text("a\nb", placed) == "a\nb1\nb2"


def test_review_settings_are_read_and_checked() -> None:
    settings, warnings = parse_settings(
        {"reviewSeverities": ["error", "warning", "error"], "reviewPrompt": "Look at {what}."}
    )
    assert warnings == []
    assert settings.review_severities == ("error", "warning")
    assert settings.review_prompt == "Look at {what}."
    settings, warnings = parse_settings({"reviewSeverities": ["fatal"], "reviewPrompt": ""})
    assert settings.review_severities == ("error", "warning", "information", "hint")
    assert settings.review_prompt == DEFAULT_REVIEW_PROMPT
    assert len(warnings) == 2 and "reviewSeverities must be a list of error" in warnings[0]
