"""The agent's review as diagnostics, against the real ``opencode serve`` and a scripted model
that answers in the structure asked for (OpenCode's ``StructuredOutput`` tool).

src/c.py, written with CRLF line endings for these tests:
    1 def greet(name):
    2     return "👋 " + nam
    3
    4 def add(a, b):
    5     return a - b
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from bridge.core.findings import FINDINGS_SCHEMA
from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.support.editor_buffers import Buffers, read_exactly
from tests.support.lsp import EditorClient, code_actions, execute, line_range

C_PY = 'def greet(name):\r\n    return "👋 " + nam\r\n\r\ndef add(a, b):\r\n    return a - b\r\n'
GREET = {
    "file": "src/c.py",
    "startLine": 2,
    "endLine": 2,
    "severity": "error",
    "message": "nam is not defined; the parameter is name.",
    "suggestion": '    return "👋 " + name\n',
}
ADD = {
    "file": "src/c.py",
    "startLine": 5,
    "endLine": 5,
    "severity": "warning",
    "message": "add subtracts instead of adding.",
    "suggestion": "    return a + b",
}
FOO = {  # in a file that is not open
    "file": "src/a.py",
    "startLine": 3,
    "endLine": 4,
    "severity": "information",
    "message": "foo is not a name that says what it computes.",
}
OUTSIDE = {**FOO, "file": "../elsewhere.py"}
PAST_END = {**FOO, "startLine": 80, "endLine": 81}


@pytest.fixture
def git_repo(git_repo: Path) -> Path:
    (git_repo / "src/c.py").write_bytes(C_PY.encode())
    return git_repo


@pytest.fixture
def permission() -> dict[str, str]:
    return {"edit": "allow"}


def shown(client: EditorClient, uri: str) -> list[tuple[int, int, int, str]]:
    """The findings the editor shows in ``uri``: (first line, last line, end column, message)."""
    return sorted(
        (d.range.start.line, d.range.end.line, d.range.end.character, d.message)
        for d in client.diagnostics.get(uri, [])
        if d.source == "OpenCode"
    )


async def wait_shown(client: EditorClient, uri: str, count: int, what: str) -> None:
    await client.wait_for(lambda: len(shown(client, uri)) == count, 60, what)


async def titles_at(client: EditorClient, uri: str, line: int) -> dict[str, types.CodeAction]:
    """The quick fixes on the findings at ``line``, as the editor's code-action menu lists
    them (the editor sends the diagnostics of that line as the context)."""
    here = types.Range(start=types.Position(line, 2), end=types.Position(line, 2))
    context = [d for d in client.diagnostics.get(uri, []) if d.range.start.line == line]
    actions = await code_actions(client, uri, here, context)
    return {a.title: a for a in actions if a.kind == "quickfix.opencode.finding"}


async def run(client: EditorClient, action: types.CodeAction | types.Command) -> Any:
    command = action.command if isinstance(action, types.CodeAction) else action
    assert isinstance(command, types.Command)
    return await execute(client, command.command, *(command.arguments or []))


async def test_review_of_a_selection_becomes_diagnostics_and_quick_fixes_do_their_titles(
    server_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, buffers = server_editor
    c_py = git_repo / "src/c.py"
    uri = await buffers.opened(c_py)
    a_uri = from_fs_path(str(git_repo / "src/a.py")) or ""
    scripted_model.push(
        Reply.structured(
            {"findings": [GREET, ADD, FOO, OUTSIDE, PAST_END], "summary": "Two real bugs."}
        )
    )

    # The editor's own Review code action on the selection runs the review.
    actions = await code_actions(client, uri, line_range(0, 4))
    [review] = [a for a in actions if a.title == "OpenCode: Review"]
    assert review.command is not None and review.command.command == "opencode.review"
    assert await run(client, review.command) == {"scope": "selection"}

    await wait_shown(client, uri, 2, "the findings in src/c.py")
    # UTF-16 columns: the emoji counts two; CRLF endings are not part of the line.
    assert shown(client, uri) == [
        (1, 1, 22, GREET["message"]),
        (4, 4, 16, ADD["message"]),
    ]
    severities = {d.message: d.severity for d in client.diagnostics[uri]}
    assert severities[GREET["message"]] == types.DiagnosticSeverity.Error
    assert severities[ADD["message"]] == types.DiagnosticSeverity.Warning
    # A file that is not open gets its findings too.
    await wait_shown(client, a_uri, 1, "the finding in src/a.py")
    assert shown(client, a_uri) == [(2, 3, 28, FOO["message"])]
    summary = "OpenCode review of the selected code in src/c.py (lines 1-5): 3 findings in 2 files"
    await client.wait_for(lambda: any(summary in m for m in client.shown()), 30, "the summary")
    [said] = [m for m in client.shown() if summary in m]
    assert "1 in files outside the workspace (or missing) dropped" in said
    assert "1 past the end of their file dropped" in said and said.endswith("Two real bugs.")

    # What the model was asked: the selected lines, in the findings' schema.
    request = scripted_model.last_request()
    assert request.structured_schema == FINDINGS_SCHEMA
    assert "return a - b" in request.user_text()
    assert request.body.get("tool_choice") == "required"
    # It ran like any ask: progress began and ended.
    kinds = [value.kind for value in client.progress_values()]
    assert kinds[0] == "begin" and kinds[-1] == "end"

    # Quick fixes on a finding, from a code action at its line.
    fixes = await titles_at(client, uri, 4)
    assert list(fixes) == [
        "OpenCode: Apply the suggestion",
        "OpenCode: Fix this",
        "OpenCode: Explain this finding",
        "OpenCode: Dismiss",
    ]
    assert list(await titles_at(client, a_uri, 2)) == [  # no suggestion: nothing to apply
        "OpenCode: Fix this",
        "OpenCode: Explain this finding",
        "OpenCode: Dismiss",
    ]

    # The user types two lines above: the findings move with their lines.
    await buffers.typed(uri, "# greeting\r\n# helpers\r\n" + C_PY)
    await client.wait_for(lambda: shown(client, uri)[0][0] == 3, 30, "the findings to move")
    assert [(first, last) for first, last, _, _ in shown(client, uri)] == [(3, 3), (6, 6)]

    # Apply the suggestion: the code action is a versioned edit of exactly those lines, in
    # the file's line endings, which the editor applies like any other.
    apply = (await titles_at(client, uri, 6))["OpenCode: Apply the suggestion"]
    assert apply.command is None and apply.edit is not None
    [change] = apply.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 2
    assert buffers.apply(types.ApplyWorkspaceEditParams(edit=apply.edit))
    assert buffers.texts[uri] == "# greeting\r\n# helpers\r\n" + C_PY.replace("a - b", "a + b")
    await wait_shown(client, uri, 1, "the applied finding to go")
    assert read_exactly(git_repo / "src/c.py") == C_PY  # an unsaved edit, as any other

    # The same from the command (for clients that run it themselves), on the other finding.
    # ... but first the user rewrites that finding's line: it is withdrawn, its quick fix
    # made before is refused by its version, and the command no longer knows it.
    greet = (await titles_at(client, uri, 3))["OpenCode: Apply the suggestion"]
    greet_id = greet.diagnostics[0].code if greet.diagnostics else None
    await buffers.typed(uri, buffers.texts[uri].replace("+ nam\r", "+ nom\r"))
    await wait_shown(client, uri, 0, "the rewritten finding to go")
    assert await titles_at(client, uri, 3) == {}
    assert greet.edit is not None
    assert not buffers.apply(types.ApplyWorkspaceEditParams(edit=greet.edit))
    assert "+ nom\r" in buffers.texts[uri]
    with pytest.raises(Exception, match="no review finding has this id"):
        await execute(client, "opencode.review.apply", {"id": greet_id})

    # Dismiss removes the diagnostic; the next review of the unchanged lines leaves it out.
    dismiss = (await titles_at(client, a_uri, 2))["OpenCode: Dismiss"]
    await run(client, dismiss)
    await wait_shown(client, a_uri, 0, "the dismissed finding to go")
    unclear = {**FOO, "startLine": 7, "endLine": 8, "message": "bar hides its argument."}
    scripted_model.push(Reply.structured({"findings": [FOO, unclear]}))
    a_file = await execute(client, "opencode.review", {"uri": a_uri})
    assert a_file == {"scope": "file"}
    await wait_shown(client, a_uri, 1, "the second review's findings")
    assert shown(client, a_uri) == [(6, 7, 17, "bar hides its argument.")]
    await client.wait_for(  # the summary follows the diagnostics
        lambda: any("1 dismissed earlier left out" in m for m in client.shown()), 30, "the summary"
    )

    # Fix this and Explain this finding ask about that finding in the current session.
    fixes = await titles_at(client, a_uri, 6)
    scripted_model.push(Reply.text("Explained."))
    await run(client, fixes["OpenCode: Explain this finding"])
    await client.wait_for(lambda: "Explained." in [m.message for m in client.log_messages], 60)
    explained = scripted_model.last_request().user_text()
    assert "Explain this finding of a review of src/a.py:7-8" in explained
    assert "bar hides its argument." in explained and "return foo(4)" in explained
    # The agent's fix edits the file on disk; the finding on the rewritten lines goes, and
    # a line it adds above the first finding moves that one down.
    a_py = git_repo / "src/a.py"
    scripted_model.push(
        Reply.edit(a_py, "def bar():\n    return foo(4)", "def bar(n=4):\n    return foo(n)"),
        Reply.text("Fixed."),
    )
    await run(client, fixes["OpenCode: Fix this"])
    await wait_shown(client, a_uri, 0, "the fixed finding to go")
    fixed = [r.user_text() for r in scripted_model.chat_requests() if "Fix this" in r.user_text()]
    assert fixed and "bar hides its argument." in fixed[0]
    assert scripted_model.last_request().structured_schema is None  # not the review session

    # opencode.review.apply does the same as the edit action, from the bridge.
    again = GREET | {"message": "Again."}
    other = ADD | {"startLine": 7, "endLine": 7, "message": "Other."}
    scripted_model.push(Reply.structured({"findings": [again, other]}))
    await execute(client, "opencode.review", {"uri": uri, "scope": "file"})
    await wait_shown(client, uri, 2, "the third review's findings")
    [again_id] = [d.code for d in client.diagnostics[uri] if d.message == "Again."]
    await execute(client, "opencode.review.apply", {"id": again_id})
    greeting = '    return "👋 " + name'
    await client.wait_for(lambda: buffers.texts[uri].split("\r\n")[1] == greeting, 30)
    await wait_shown(client, uri, 1, "the applied finding to go")

    # opencode.review.clear takes every finding away.
    assert await execute(client, "opencode.review.clear") == {"cleared": 1}
    await wait_shown(client, uri, 0, "the cleared findings to go")


async def test_the_agent_editing_an_unopened_file_moves_its_findings(
    server_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, _ = server_editor
    a_py = git_repo / "src/a.py"
    a_uri = from_fs_path(str(a_py)) or ""
    scripted_model.push(Reply.structured({"findings": [FOO]}))
    await execute(client, "opencode.review", {"uri": a_uri, "scope": "file"})
    await wait_shown(client, a_uri, 1, "the finding")
    scripted_model.push(
        Reply.edit(a_py, "import math\n", "import math\nimport os\n"), Reply.text("Done.")
    )
    await execute(client, "opencode.ask", {"prompt": "import os"})
    await client.wait_for(lambda: shown(client, a_uri) == [(3, 4, 28, FOO["message"])], 60)

    # reviewSeverities: an information finding is not shown once only errors are wanted.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"opencode": {"reviewSeverities": ["error"]}})
    )
    await wait_shown(client, a_uri, 0, "the hidden finding to go")


async def test_a_model_that_cannot_answer_in_the_structure_gets_its_prose_shown(
    server_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, buffers = server_editor
    uri = await buffers.opened(git_repo / "src/c.py")
    scripted_model.set_default(Reply.text("Line 2 uses nam, which is undefined."))
    await execute(client, "opencode.review", {"uri": uri})
    sentence = "OpenCode could not give this review as findings on lines"
    await client.wait_for(lambda: any(sentence in m for m in client.shown()), 60, "the sentence")
    await client.wait_for(
        lambda: any("which is undefined" in m.message for m in client.log_messages), 30
    )
    assert shown(client, uri) == []

    # An answer that does not fit the schema (OpenCode passes it on unchecked): nothing is
    # published, and the user is told where it went wrong.
    scripted_model.push(Reply.structured({"findings": [GREET, {"file": "src/c.py"}]}))
    await execute(client, "opencode.review", {"uri": uri})
    await client.wait_for(
        lambda: any("findings[1].startLine" in m for m in client.shown()), 60, "the refusal"
    )
    assert shown(client, uri) == []


async def test_review_of_the_changed_files(
    server_editor: tuple[EditorClient, Buffers], git_repo: Path, scripted_model: ScriptedModel
) -> None:
    client, _ = server_editor
    (git_repo / "src/b.py").write_text("GREETING = 'hi'\n")  # tracked, changed
    # src/c.py is new (untracked); src/a.py is unchanged. The scripted model's default
    # answer to a structured prompt is the smallest value that fits the schema: no findings.
    assert await execute(client, "opencode.review", {"scope": "changes"}) == {"scope": "changes"}
    await client.wait_for(lambda: any("no findings" in m for m in client.shown()), 60)
    [said] = [m for m in client.shown() if "no findings" in m]
    assert "src/b.py" in said and "src/c.py" in said and "src/a.py" not in said
    sent = scripted_model.last_request().user_text()
    assert "GREETING = 'hi'" in sent and "def add(a, b)" in sent


async def test_bad_arguments_name_the_argument(server_editor: tuple[EditorClient, Buffers]) -> None:
    client, _ = server_editor
    with pytest.raises(Exception, match="'scope'"):
        await execute(client, "opencode.review", {"scope": "everything"})
    with pytest.raises(Exception, match="'uri'"):
        await execute(client, "opencode.review", {"scope": "file"})
    with pytest.raises(Exception, match="'id'"):
        await execute(client, "opencode.review.dismiss", {"id": "f999"})
