"""The Markdown transcript, from messages shaped as ``GET /session/{id}/message`` answers
(1.18.33)."""

from __future__ import annotations

from typing import Any

from bridge.core import transcript
from bridge.core.transcript import cost_and_tokens, file_name, timestamp
from bridge.opencode.models import Part, SessionInfo, Usage, messages

ROOT = "/work/repo"
SESSION = {
    "id": "ses_1",
    "directory": ROOT,
    "title": "Speed up foo",
    "cost": 0.0123,
    "tokens": {"input": 1000, "output": 200, "reasoning": 34, "cache": {"read": 5, "write": 0}},
    "time": {"created": 1_767_225_600_000, "updated": 1_767_225_660_000},
}


def render(session: dict[str, Any], wire: list[Any]) -> str:
    """The transcript of the session and messages as the server sends them."""
    info, found = SessionInfo.from_wire(session), messages(wire)
    assert info is not None and found is not None
    return transcript.render(info, found)


def describe_tool(wire: dict[str, Any], root: str) -> str:
    part = Part.from_wire(wire)
    assert part is not None
    return transcript.describe_tool(part, root)


def user(message_id: str, *parts: dict[str, Any], diffs: list[Any] | None = None) -> Any:
    info: dict[str, Any] = {
        "id": message_id,
        "role": "user",
        "time": {"created": 1_767_225_600_000},
        "agent": "build",
        "model": {"providerID": "mock", "modelID": "mock-model"},
    }
    if diffs is not None:
        info["summary"] = {"diffs": diffs}
    return {"info": info, "parts": list(parts)}


def assistant(parent: str, *parts: dict[str, Any], **extra: Any) -> Any:
    info = {
        "id": f"{parent}-a",
        "role": "assistant",
        "parentID": parent,
        "time": {"created": 1_767_225_605_000, "completed": 1_767_225_610_000},
        "modelID": "mock-model",
        "providerID": "mock",
        "agent": "build",
        "cost": 0.01,
        "tokens": {
            "total": 107,
            "input": 100,
            "output": 7,
            "reasoning": 0,
            "cache": {"read": 0, "write": 0},
        },
        **extra,
    }
    return {"info": info, "parts": list(parts)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def tool(name: str, status: str, **state: Any) -> dict[str, Any]:
    return {"type": "tool", "tool": name, "state": {"status": status, **state}}


def test_a_whole_conversation() -> None:
    messages = [
        user(
            "msg_1",
            text("Make foo faster."),
            text("Called the Read tool with the following input: ...", synthetic=True),
            {
                "type": "file",
                "mime": "text/plain",
                "filename": "src/a.py#3-4",
                "url": "file:///work/repo/src/a.py?start=3&end=4",
                "source": {"type": "file", "path": "src/a.py", "text": {"value": "@src/a.py#3-4"}},
            },
            diffs=[
                {"file": "src/a.py", "additions": 2, "deletions": 1, "status": "modified"},
                {"file": "src/cache.py", "additions": 9, "deletions": 0, "status": "added"},
            ],
        ),
        assistant(
            "msg_1",
            {"type": "step-start"},
            {"type": "reasoning", "text": "secret thoughts"},
            text("I will cache the root."),
            tool("edit", "completed", input={"filePath": "/work/repo/src/a.py"}),
            tool("bash", "completed", input={"command": "pytest -q"}, output="3 passed\n"),
            tool("bash", "error", input={"command": "ruff check"}, error="exit 1"),
            {"type": "step-finish"},
        ),
        assistant("msg_1", text("Done: foo is cached.")),
    ]

    out = render(SESSION, messages)

    assert out.startswith("# Speed up foo\n\n- Session: `ses_1`\n- Folder: `/work/repo`\n")
    assert "- Started: 2026-01-01 00:00:00 UTC · last change: 2026-01-01 00:01:00 UTC" in out
    assert "- Cost: $0.0123 · 1,239 tokens (1,000 in, 200 out, 34 reasoning, 5 cached)" in out
    assert "## 1. User · 2026-01-01 00:00:00 UTC\n\nMake foo faster.\n\nAttached: `src/a.py`" in out
    assert "## 2. Assistant · build · mock/mock-model · 2026-01-01 00:00:05 UTC" in out
    assert "I will cache the root." in out
    assert "- edit `src/a.py` — completed" in out
    assert "- bash `pytest -q` — completed\n  ```\n  3 passed\n  ```" in out
    assert "- bash `ruff check` — error: exit 1" in out
    assert "*$0.0100 · 107 tokens (100 in, 7 out, 0 reasoning, 0 cached)*" in out
    assert "## 3. Assistant" in out and "Done: foo is cached." in out
    assert out.rstrip().endswith("Files changed: `src/a.py` (+2 −1), `src/cache.py` (added, +9 −0)")
    assert "secret thoughts" not in out  # reasoning is left out
    assert "Called the Read tool" not in out  # so is what OpenCode adds on its own


def test_patch_parts_stand_in_for_missing_diffs() -> None:
    messages = [
        user("msg_1", text("go")),
        assistant("msg_1", {"type": "patch", "hash": "h", "files": ["/work/repo/b.py"]}),
        user("msg_2", text("again")),
    ]
    out = render(SESSION, messages)
    assert "Files changed: `b.py`\n\n## 3. User" in out


def test_errors_shell_runs_and_summaries() -> None:
    messages = [
        user("msg_1", text("The following tool was executed by the user", synthetic=True)),
        assistant("msg_1", tool("bash", "completed", input={"command": "ls"}, output="a.py\n")),
        user("msg_2", {"type": "compaction", "auto": False}),
        assistant("msg_2", text("Summary of it all."), summary=True, agent="compaction"),
        user("msg_3", text("hi")),
        assistant("msg_3", error={"name": "APIError", "data": {"message": "quota exceeded"}}),
    ]
    out = render(SESSION, messages)
    assert "- bash `ls` — completed\n  ```\n  a.py\n  ```" in out
    assert "*(asked to summarize the conversation)*" in out
    assert "Assistant · compaction · mock/mock-model · summary" in out
    assert "**Error:** quota exceeded" in out


def test_long_output_is_shortened() -> None:
    output = "".join(f"line {i}\n" for i in range(100))
    line = render(
        SESSION,
        [assistant("m", tool("bash", "completed", input={"command": "seq"}, output=output))],
    )
    assert "line 19\n  …" in line and "line 20" not in line


def test_backticks_in_commands_and_answers_survive() -> None:
    part = tool("bash", "completed", input={"command": "echo `date`"}, output="```\n")
    assert describe_tool(part, ROOT) == "- bash `` echo `date` `` — completed"
    out = render(SESSION, [assistant("m", part)])
    assert "````\n  ```\n  ````" in out


def test_an_empty_session_and_odd_values() -> None:
    out = render({"id": "ses_x"}, [])
    assert (
        out == "# ses_x\n\n- Session: `ses_x`\n- Cost: $0.0000 · 0 tokens (0 in, 0 out, "
        "0 reasoning, 0 cached)\n\n*No messages yet.*\n"
    )
    assert render({"id": "ses_x"}, [None, {"info": None, "parts": None}, {}])  # no crash
    assert timestamp(None) == "" and timestamp(True) == "" and timestamp(-1) == ""
    assert cost_and_tokens(Usage.from_wire("free", {"input": "many"})).startswith(
        "$0.0000 · 0 tokens"
    )


def test_shared_sessions_show_the_link() -> None:
    out = render({**SESSION, "share": {"url": "https://opncd.ai/s/abc"}}, [])
    assert "- Shared: <https://opncd.ai/s/abc>" in out


def test_file_names_are_safe() -> None:
    assert file_name("ses_abc123") == "ses_abc123.md"
    assert file_name("../../etc/passwd") == ".._.._etc_passwd.md"
    assert file_name("") == "session.md"
