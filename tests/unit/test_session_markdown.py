"""The Markdown pieces a conversation is written with, from values shaped as 1.18.33 sends
them (``GET /session/{id}/message``)."""

from __future__ import annotations

from typing import Any

from bridge.core import session_markdown
from bridge.core.session_markdown import cost_and_tokens, file_name, inline_code, timestamp
from bridge.opencode.models import MessageInfo, Part, Usage

ROOT = "/work/repo"


def describe_tool(wire: dict[str, Any]) -> str:
    part = Part.from_wire(wire)
    assert part is not None
    return session_markdown.describe_tool(part, ROOT)


def tool(name: str, status: str, **state: Any) -> dict[str, Any]:
    return {"type": "tool", "tool": name, "state": {"status": status, **state}}


def test_a_tool_step_is_one_line_with_its_subject_and_result() -> None:
    edit = tool("edit", "completed", input={"filePath": f"{ROOT}/src/a.py"})
    assert describe_tool(edit) == "- edit `src/a.py` — completed"
    failed = tool("bash", "error", input={"command": "ruff  check"}, error="exit\n1")
    assert describe_tool(failed) == "- bash `ruff check` — error: exit 1"
    outside = tool("read", "running", input={"filePath": "/etc/hosts"})
    assert describe_tool(outside) == "- read `/etc/hosts` — running"
    titled = tool("todowrite", "completed", input={}, title="3 todos")
    assert describe_tool(titled) == "- todowrite: 3 todos — completed"


def test_backticks_survive_in_inline_code() -> None:
    part = tool("bash", "completed", input={"command": "echo `date`"})
    assert describe_tool(part) == "- bash `` echo `date` `` — completed"
    assert inline_code("a``b") == "```a``b```"


def test_files_changed_from_the_servers_diffs_or_else_the_patch_parts() -> None:
    diffs = [
        {"file": "src/a.py", "additions": 2, "deletions": 1, "status": "modified"},
        {"file": "src/cache.py", "additions": 9, "deletions": 0, "status": "added"},
    ]
    info = MessageInfo.from_wire({"id": "msg_1", "role": "user", "summary": {"diffs": diffs}})
    assert info is not None
    assert (
        session_markdown.files_changed(info, [], ROOT)
        == "Files changed: `src/a.py` (+2 −1), `src/cache.py` (added, +9 −0)"
    )
    bare = MessageInfo.from_wire({"id": "msg_2", "role": "user"})
    patch = Part.from_wire({"type": "patch", "hash": "h", "files": [f"{ROOT}/b.py"]})
    assert bare is not None and patch is not None
    assert session_markdown.files_changed(bare, [patch], ROOT) == "Files changed: `b.py`"
    assert session_markdown.files_changed(bare, [], ROOT) == ""


def test_times_and_costs_of_odd_values() -> None:
    assert timestamp(1_767_225_600_000) == "2026-01-01 00:00:00 UTC"
    assert timestamp(None) == "" and timestamp(True) == "" and timestamp(-1) == ""
    assert cost_and_tokens(Usage.from_wire("free", {"input": "many"})).startswith(
        "$0.0000 · 0 tokens"
    )


def test_file_names_are_safe() -> None:
    assert file_name("ses_abc123") == "ses_abc123.md"
    assert file_name("../../etc/passwd") == ".._.._etc_passwd.md"
    assert file_name("") == "session.md"
