"""What the editor lists and shows about sessions, models, agents and the server. Pure.

Every function takes what the OpenCode server answered, typed by ``bridge.opencode.models``,
and returns plain data or text; the server layer does the asking and the showing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bridge.core.session_markdown import timestamp
from bridge.opencode.models import (
    Agent,
    Command,
    Formatter,
    LspServer,
    Message,
    Provider,
    Request,
    SessionInfo,
    SessionState,
)

MAX_CHOICES = 30  # a showMessageRequest is a list of buttons in some editors


def session_rows(
    sessions: Iterable[SessionInfo], current: str | None = None
) -> list[dict[str, Any]]:
    """``opencode.session.list``'s result: newest first (last change), archived ones left out."""
    rows: list[tuple[float, dict[str, Any]]] = []
    for session in sessions:
        if session.archived:
            continue
        row: dict[str, Any] = {
            "sessionID": session.id,
            "title": session.title or session.id,
            "created": timestamp(session.created),
            "updated": timestamp(session.updated),
            "current": session.id == current,
        }
        if session.share_url:
            row["shareURL"] = session.share_url
        changed = session.updated or session.created
        rows.append((changed if isinstance(changed, (int, float)) else 0, row))
    rows.sort(key=lambda pair: pair[0], reverse=True)
    return [row for _, row in rows]


def session_choices(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(button title, sessionID)`` for a showMessageRequest, newest first. Editors answer
    with the title only, so titles are made unique (the id is added to repeated ones)."""
    rows = rows[:MAX_CHOICES]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["title"]] = counts.get(row["title"], 0) + 1
    choices = []
    for row in rows:
        title = row["title"]
        label = f"{title} ({row['sessionID']})" if counts[title] > 1 else title
        if row.get("current"):
            label += " — current"
        choices.append((label, row["sessionID"]))
    return choices


def model_ids(providers: Iterable[Provider]) -> list[str]:
    """Every ``provider/model`` of ``GET /config/providers``, sorted."""
    return sorted({f"{provider.id}/{model}" for provider in providers for model in provider.models})


def primary_agents(agents: Iterable[Agent]) -> list[str]:
    """Agents a person can talk to (``GET /agent``: mode primary or all, not hidden)."""
    return [a.name for a in agents if a.mode in ("primary", "all") and not a.hidden]


def command_names(commands: Iterable[Command]) -> list[str]:
    """Names of the slash commands of ``GET /command``."""
    return [command.name for command in commands]


def state_from_statuses(session_id: str | None, statuses: Mapping[str, SessionState] | None) -> str:
    """``busy``, ``retry`` or ``idle`` from ``GET /session/status`` (idle sessions are absent)."""
    state = (statuses or {}).get(session_id) if session_id is not None else None
    return state.type if state is not None else "idle"


def shell_output(answer: Message) -> str:
    """The output of ``POST /session/{id}/shell`` (the bash tool part's), or ""."""
    for part in answer.parts:
        if part.type == "tool" and part.state.output is not None:
            return part.state.output
    return ""


def status_report(
    *,
    url: str,
    version: str,
    session: SessionInfo | None,
    state: str,
    model: str | None,
    model_source: str,
    agent: str | None,
    permissions: Sequence[Request] | None,
    questions: Sequence[Request] | None,
    lsp: Sequence[LspServer] | None,
    formatters: Sequence[Formatter] | None,
    mcp: Mapping[str, str | None] | None,
) -> dict[str, Any]:
    """``opencode.status``'s result, from the server's answers."""
    return {
        "server": {"url": url, "version": version},
        "session": (
            {"sessionID": session.id, "title": session.title, "state": state}
            if session is not None
            else None
        ),
        "model": model,
        "modelSource": model_source,
        "agent": agent,
        "permissions": [
            {
                "id": item.id,
                "sessionID": item.session_id,
                "permission": item.permission,
                "patterns": list(item.patterns),
            }
            for item in permissions or ()
        ],
        "questions": [
            {
                "id": item.id,
                "sessionID": item.session_id,
                "questions": [asked.question for asked in item.questions],
            }
            for item in questions or ()
        ],
        "lsp": [{"name": item.name, "status": item.status} for item in lsp or ()],
        "formatters": [{"name": item.name, "enabled": item.enabled} for item in formatters or ()],
        "mcp": dict(mcp or {}),
    }


def status_text(report: dict[str, Any]) -> str:
    """The report as the lines a person reads in a message."""
    server = report["server"]
    lines = [f"OpenCode {server['version']} at {server['url']}"]
    session = report.get("session")
    if session:
        lines.append(f"Session: {session['title']} ({session['sessionID']}), {session['state']}")
    else:
        lines.append("Session: none yet (the next prompt starts one)")
    model = report.get("model") or "OpenCode's default"
    source = {"choice": "picked in the editor", "setting": "from the settings"}.get(
        report.get("modelSource", ""), "OpenCode's default"
    )
    lines.append(f"Model: {model} ({source})")
    lines.append(f"Agent: {report.get('agent') or 'OpenCode default'}")
    permissions, questions = report["permissions"], report["questions"]
    lines.append(f"Waiting for you: {len(permissions)} permission(s), {len(questions)} question(s)")
    lsp = [f"{item['name']} ({item['status']})" for item in report["lsp"]]
    formatters = [item["name"] for item in report["formatters"] if item.get("enabled")]
    mcp = [f"{name} ({status})" for name, status in report["mcp"].items()]
    lines.append("LSP: " + (", ".join(lsp) or "none"))
    lines.append("Formatters: " + (", ".join(formatters) or "none"))
    lines.append("MCP: " + (", ".join(mcp) or "none"))
    return "\n".join(lines)
