"""Lists, choices and the status report from the server's answers; the remembered sessions."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.core.session_info import (
    MAX_CHOICES,
    command_names,
    model_ids,
    primary_agents,
    session_choices,
    session_rows,
    shell_output,
    state_from_statuses,
    status_report,
    status_text,
)
from bridge.opencode import models
from bridge.opencode.models import Message, SessionInfo, requests, session_states, sessions
from bridge.remembered import RememberedSessions, cache_dir, state_dir


def session(session_id: str, title: str, updated: int, **extra: object) -> dict[str, object]:
    return {"id": session_id, "title": title, "time": {"created": 1, "updated": updated}, **extra}


def test_rows_are_newest_first_without_archived_sessions() -> None:
    listed = sessions(
        [
            session("ses_a", "alpha", 1_000),
            session("ses_b", "beta", 3_000, share={"url": "https://x/s/b"}),
            session("ses_c", "gone", 5_000, time={"created": 1, "updated": 5, "archived": 9}),
            {"title": "no id"},
            "junk",
        ]
    )
    assert listed is not None and len(listed) == 3  # no id: not a session
    rows = session_rows(listed, current="ses_a")
    assert [(r["sessionID"], r["title"], r["current"]) for r in rows] == [
        ("ses_b", "beta", False),
        ("ses_a", "alpha", True),
    ]
    assert rows[0]["shareURL"] == "https://x/s/b"
    assert rows[0]["updated"] == "1970-01-01 00:00:03 UTC"
    assert session_rows(()) == [] and sessions(None) is None


def test_choices_have_unique_titles_and_mark_the_current_one() -> None:
    listed = sessions(
        [session("ses_a", "same", 2), session("ses_b", "same", 1), session("ses_c", "other", 0)]
    )
    assert listed is not None
    rows = session_rows(listed, current="ses_c")
    assert session_choices(rows) == [
        ("same (ses_a)", "ses_a"),
        ("same (ses_b)", "ses_b"),
        ("other — current", "ses_c"),
    ]
    many = session_rows(sessions([session(f"ses_{i}", f"s{i}", i) for i in range(100)]) or ())
    assert len(session_choices(many)) == MAX_CHOICES


def test_models_agents_and_commands() -> None:
    providers = {
        "providers": [
            {"id": "mock", "models": {"mock-model": {"id": "mock-model"}, "b": {}}},
            {"id": "opencode", "models": {"big": {"id": "big"}}},
            {"models": {}},
        ],
        "default": {"mock": "mock-model"},
    }
    assert model_ids(models.providers(providers)) == ["mock/b", "mock/mock-model", "opencode/big"]
    assert model_ids(models.providers([])) == []
    agents = [
        {"name": "build", "mode": "primary"},
        {"name": "compaction", "mode": "primary", "hidden": True},
        {"name": "explore", "mode": "subagent"},
        {"name": "helper", "mode": "all"},
        {"mode": "primary"},
    ]
    assert primary_agents(models.agents(agents)) == ["build", "helper"]
    commands = models.commands([{"name": "init"}, {"name": 3}, {"x": 1}])
    assert command_names(commands) == ["init"]


def test_session_state_and_shell_output() -> None:
    statuses = session_states({"ses_a": {"type": "busy"}, "ses_b": "junk"})
    assert state_from_statuses("ses_a", statuses) == "busy"
    assert state_from_statuses("ses_b", statuses) == "idle"
    assert state_from_statuses("ses_a", {}) == "idle"
    assert state_from_statuses(None, None) == "idle"
    answer = {"info": {}, "parts": [{"type": "tool", "state": {"output": "hello\n"}}]}
    assert shell_output(Message.from_wire(answer)) == "hello\n"
    assert shell_output(Message.from_wire({"parts": []})) == ""


def test_status_report_and_text() -> None:
    report = status_report(
        url="http://127.0.0.1:4096",
        version="1.18.33",
        session=SessionInfo.from_wire({"id": "ses_a", "title": "Work"}),
        state="busy",
        model="mock/mock-model",
        model_source="choice",
        agent="plan",
        permissions=requests(
            [
                {
                    "id": "per_1",
                    "sessionID": "ses_a",
                    "permission": "edit",
                    "patterns": ["a.py"],
                    "metadata": {"diff": "..."},
                },
                {"permission": "bash"},  # no id: not a request the bridge can show
            ]
        ),
        questions=requests(
            [
                {
                    "id": "que_1",
                    "sessionID": "ses_a",
                    "questions": [{"question": "Which one?", "options": []}],
                }
            ]
        ),
        lsp=models.lsp_servers(
            [{"id": "pyright", "name": "pyright", "root": "/", "status": "connected"}]
        ),
        formatters=models.formatters(
            [
                {"name": "ruff", "extensions": [".py"], "enabled": True},
                {"name": "prettier", "extensions": [".js"], "enabled": False},
            ]
        ),
        mcp=models.mcp_statuses({"docs": {"status": "failed", "error": "no"}}),
    )
    assert report["session"] == {"sessionID": "ses_a", "title": "Work", "state": "busy"}
    assert report["permissions"] == [
        {"id": "per_1", "sessionID": "ses_a", "permission": "edit", "patterns": ["a.py"]}
    ]
    assert report["questions"][0]["questions"] == ["Which one?"]
    assert report["mcp"] == {"docs": "failed"}
    assert status_text(report).splitlines() == [
        "OpenCode 1.18.33 at http://127.0.0.1:4096",
        "Session: Work (ses_a), busy",
        "Model: mock/mock-model (picked in the editor)",
        "Agent: plan",
        "Waiting for you: 1 permission(s), 1 question(s)",
        "LSP: pyright (connected)",
        "Formatters: ruff",
        "MCP: docs (failed)",
    ]
    empty = status_report(
        url="u",
        version="v",
        session=None,
        state="idle",
        model=None,
        model_source="opencode",
        agent=None,
        permissions=None,
        questions=None,
        lsp=None,
        formatters=None,
        mcp=None,
    )
    assert "Session: none yet" in status_text(empty) and "LSP: none" in status_text(empty)


def test_remembered_sessions_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / "opencode-lsp" / "sessions.json"
    store = RememberedSessions(path)
    assert store.get("/a") is None
    store.set("/a", "ses_1")
    store.set("/b", "ses_2")
    assert RememberedSessions(path).get("/a") == "ses_1"
    store.set("/a", None)
    assert json.loads(path.read_text()) == {"/b": "ses_2"}
    assert [p.name for p in path.parent.iterdir()] == ["sessions.json"]  # no temp files left


def test_a_broken_state_file_costs_only_the_memory(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_text("{not json")
    store = RememberedSessions(path)
    assert store.get("/a") is None
    store.set("/a", "ses_1")
    assert store.get("/a") == "ses_1"
    path.write_text('["a list"]')
    assert store.get("/a") is None
    blocked = RememberedSessions(tmp_path / "file-not-dir" / "sessions.json")
    (tmp_path / "file-not-dir").write_text("")
    blocked.set("/a", "ses_1")  # logged, not raised
    assert blocked.get("/a") is None


def test_state_and_cache_folders_follow_xdg() -> None:
    env = {"XDG_STATE_HOME": "/s", "XDG_CACHE_HOME": "/c", "HOME": "/h"}
    assert state_dir(env) == Path("/s/opencode-lsp")
    assert cache_dir(env) == Path("/c/opencode-lsp")
    assert state_dir({"HOME": "/h"}) == Path("/h/.local/state/opencode-lsp")
    assert cache_dir({"HOME": "/h"}) == Path("/h/.cache/opencode-lsp")
