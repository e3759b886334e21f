"""A session's conversation as Markdown. Pure: the typed session and messages in, text out.

Input is what ``GET /session/{id}`` and ``GET /session/{id}/message`` answer: the session and
its messages, each an info and its parts. The transcript keeps what a person
reads back: the prompts, the answers, the steps the agent took (with the output of commands,
shortened), the files each turn changed, and what it cost. Reasoning and the text OpenCode
adds on its own (``synthetic`` parts: file contents read for an attachment) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from bridge.opencode.models import Message, MessageInfo, Part, RunError, SessionInfo, Usage

MAX_OUTPUT_LINES = 20
MAX_OUTPUT_CHARS = 2_000
NO_INFO = MessageInfo(None)  # a message the server sent without its info


def timestamp(millis: Any) -> str:
    """Milliseconds since the epoch as ``2026-01-31 14:05:09 UTC`` ("" if unknown)."""
    if not isinstance(millis, (int, float)) or isinstance(millis, bool) or millis <= 0:
        return ""
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def cost_and_tokens(usage: Usage) -> str:
    """``$0.0123 · 1,234 tokens (1,000 in, 200 out, 34 reasoning, 0 cached)``."""
    numbers = {
        "in": usage.input,
        "out": usage.output,
        "reasoning": usage.reasoning,
        "cached": usage.cached,
    }
    detail = ", ".join(f"{int(value):,} {name}" for name, value in numbers.items())
    return f"${usage.cost:.4f} · {int(usage.total):,} tokens ({detail})"


def _relative(path: str, root: str) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def _code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fenced(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text.rstrip(chr(10))}\n{fence}"


def _shorten_output(output: str) -> str:
    lines = output.rstrip("\n").splitlines()
    text = "\n".join(lines[:MAX_OUTPUT_LINES])
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS]
    if len(lines) > MAX_OUTPUT_LINES or len(text) < len("\n".join(lines)):
        text += "\n…"
    return text


def describe_tool(part: Part, root: str) -> str:
    """One line for a tool step: ``edit `src/a.py` — completed``."""
    tool = part.tool or "tool"
    state = part.state
    args = state.input
    subject = ""
    if isinstance(args.get("command"), str):
        subject = " " + _code(" ".join(args["command"].split()))
    else:
        for key in ("filePath", "path", "pattern", "url", "query"):
            if isinstance(args.get(key), str):
                subject = " " + _code(_relative(args[key], root))
                break
        else:
            if state.title and state.title.strip():
                subject = ": " + " ".join(state.title.split())
    status = state.status or "pending"
    line = f"- {tool}{subject} — {status}"
    if status == "error" and state.error is not None:
        line += ": " + " ".join(state.error.split())
    return line


def _tool_output(part: Part) -> str | None:
    """The shortened output of a command the agent (or the user) ran."""
    output = part.state.output
    if part.tool != "bash" or output is None or not output.strip():
        return None
    return _shorten_output(output)


def _error_text(error: RunError | None) -> str | None:
    if error is None:
        return None
    return error.message or error.name or "the run failed"


def _user_section(number: int, info: MessageInfo, parts: Iterable[Part], root: str) -> list[str]:
    when = timestamp(info.created)
    lines = [f"## {number}. User" + (f" · {when}" if when else ""), ""]
    attached: list[str] = []
    for part in parts:
        kind = part.type
        if kind == "text" and not part.synthetic and part.text is not None:
            lines += [part.text.strip(), ""]
        elif kind == "file":
            attached.append(_code(_relative(part.file_name or "a file", root)))
        elif kind == "compaction":
            lines += ["*(asked to summarize the conversation)*", ""]
        elif kind == "agent" and part.name is not None:
            lines += [f"*(to the agent {part.name})*", ""]
    if attached:
        lines += ["Attached: " + ", ".join(attached), ""]
    return lines


def _assistant_section(
    number: int, info: MessageInfo, parts: Iterable[Part], root: str
) -> list[str]:
    who = ["Assistant"]
    if info.agent is not None:
        who.append(info.agent)
    if info.model is not None:
        who.append(info.model)
    if info.summary:
        who.append("summary")
    when = timestamp(info.created)
    lines = [f"## {number}. " + " · ".join(who) + (f" · {when}" if when else ""), ""]
    steps: list[str] = []
    for part in parts:
        kind = part.type
        if kind == "text" and not part.synthetic and part.text is not None:
            if part.text.strip():
                lines += [part.text.strip(), ""]
        elif kind == "tool":
            steps.append(describe_tool(part, root))
            output = _tool_output(part)
            if output is not None:
                steps.append("\n".join("  " + row for row in _fenced(output).splitlines()))
        elif kind == "subtask":
            agent = part.agent or "a subagent"
            steps.append(f"- subtask for {agent}: {' '.join((part.description or '').split())}")
    if steps:
        lines += ["Steps:", "", *steps, ""]
    error = _error_text(info.error)
    if error:
        lines += [f"**Error:** {error}", ""]
    if info.usage is not None:
        lines += [f"*{cost_and_tokens(info.usage)}*", ""]
    return lines


def files_changed(user_info: MessageInfo, assistant_parts: Iterable[Part], root: str) -> str:
    """``Files changed: `a.py` (+1 −1), `b.py` (added)`` for one turn ("" if none).

    The user message's ``summary.diffs`` are the server's own count; ``patch`` parts of the
    answers stand in when a server sends none."""
    entries: dict[str, str] = {}
    for diff in user_info.diffs:
        if not diff.file:
            continue
        counts = f"+{diff.additions} −{diff.deletions}"
        entries[_relative(diff.file, root)] = (
            counts if diff.status in (None, "modified") else f"{diff.status}, {counts}"
        )
    if not entries:
        for part in assistant_parts:
            if part.type == "patch":
                for name in part.files:
                    entries.setdefault(_relative(name, root), "")
    if not entries:
        return ""
    listed = [_code(name) + (f" ({detail})" if detail else "") for name, detail in entries.items()]
    return "Files changed: " + ", ".join(listed)


def render(session: SessionInfo, messages: Sequence[Message]) -> str:
    """The whole transcript of ``session`` with ``messages`` (oldest first)."""
    root = session.directory or ""
    title = session.title or session.id or "OpenCode session"
    head = [f"# {title}", ""]
    facts = [f"- Session: {_code(session.id)}"]
    if root:
        facts.append(f"- Folder: {_code(root)}")
    created, updated = timestamp(session.created), timestamp(session.updated)
    if created:
        facts.append(f"- Started: {created}" + (f" · last change: {updated}" if updated else ""))
    facts.append(f"- Cost: {cost_and_tokens(session.usage)}")
    if session.share_url:
        facts.append(f"- Shared: <{session.share_url}>")
    body: list[str] = []
    number = 0
    turn_user: MessageInfo | None = None
    turn_parts: list[Part] = []

    def close_turn() -> None:
        if turn_user is not None:
            changed = files_changed(turn_user, turn_parts, root)
            if changed:
                body.extend([changed, ""])

    for message in messages:
        info = message.info or NO_INFO
        number += 1
        if info.role == "user":
            close_turn()
            turn_user, turn_parts = info, []
            body.extend(_user_section(number, info, message.parts, root))
        else:
            turn_parts.extend(message.parts)
            body.extend(_assistant_section(number, info, message.parts, root))
    close_turn()
    if not messages:
        body = ["*No messages yet.*", ""]
    return "\n".join([*head, *facts, "", *body]).rstrip("\n") + "\n"


def file_name(session_id: str) -> str:
    """A file name for the session's transcript (the id, made safe for any file system)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id) or "session"
    return f"{safe}.md"
