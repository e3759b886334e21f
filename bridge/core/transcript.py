"""A session's conversation as Markdown. Pure: the server's JSON in, text out.

Input is what ``GET /session/{id}`` and ``GET /session/{id}/message`` answer: the session and
its messages, each ``{"info": {...}, "parts": [...]}``. The transcript keeps what a person
reads back: the prompts, the answers, the steps the agent took (with the output of commands,
shortened), the files each turn changed, and what it cost. Reasoning and the text OpenCode
adds on its own (``synthetic`` parts: file contents read for an attachment) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

MAX_OUTPUT_LINES = 20
MAX_OUTPUT_CHARS = 2_000


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def timestamp(millis: Any) -> str:
    """Milliseconds since the epoch as ``2026-01-31 14:05:09 UTC`` ("" if unknown)."""
    if not isinstance(millis, (int, float)) or isinstance(millis, bool) or millis <= 0:
        return ""
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def cost_and_tokens(cost: Any, tokens: Any) -> str:
    """``$0.0123 · 1,234 tokens (1,000 in, 200 out, 34 reasoning, 0 cached)``."""
    spent = _dict(tokens)
    cache = _dict(spent.get("cache"))
    numbers = {
        "in": _number(spent.get("input")),
        "out": _number(spent.get("output")),
        "reasoning": _number(spent.get("reasoning")),
        "cached": _number(cache.get("read")) + _number(cache.get("write")),
    }
    total = _number(spent.get("total")) or sum(numbers.values())
    detail = ", ".join(f"{int(value):,} {name}" for name, value in numbers.items())
    return f"${_number(cost):.4f} · {int(total):,} tokens ({detail})"


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


def describe_tool(part: dict[str, Any], root: str) -> str:
    """One line for a tool step: ``edit `src/a.py` — completed``."""
    tool = str(part.get("tool") or "tool")
    state = _dict(part.get("state"))
    args = _dict(state.get("input"))
    subject = ""
    if isinstance(args.get("command"), str):
        subject = " " + _code(" ".join(args["command"].split()))
    else:
        for key in ("filePath", "path", "pattern", "url", "query"):
            if isinstance(args.get(key), str):
                subject = " " + _code(_relative(args[key], root))
                break
        else:
            title = state.get("title")
            if isinstance(title, str) and title.strip():
                subject = ": " + " ".join(title.split())
    status = str(state.get("status") or "pending")
    line = f"- {tool}{subject} — {status}"
    if status == "error" and isinstance(state.get("error"), str):
        line += ": " + " ".join(state["error"].split())
    return line


def _tool_output(part: dict[str, Any]) -> str | None:
    """The shortened output of a command the agent (or the user) ran."""
    state = _dict(part.get("state"))
    output = state.get("output")
    if part.get("tool") != "bash" or not isinstance(output, str) or not output.strip():
        return None
    return _shorten_output(output)


def _error_text(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None
    message = _dict(error.get("data")).get("message")
    if isinstance(message, str) and message:
        return message
    return str(error.get("name") or "the run failed")


def _user_section(number: int, info: dict[str, Any], parts: list[Any], root: str) -> list[str]:
    when = timestamp(_dict(info.get("time")).get("created"))
    lines = [f"## {number}. User" + (f" · {when}" if when else ""), ""]
    attached: list[str] = []
    for part in parts:
        part = _dict(part)
        kind = part.get("type")
        if kind == "text" and not part.get("synthetic") and isinstance(part.get("text"), str):
            lines += [part["text"].strip(), ""]
        elif kind == "file":
            source = _dict(part.get("source"))
            name = source.get("path") or part.get("filename") or part.get("url") or "a file"
            attached.append(_code(_relative(str(name), root)))
        elif kind == "compaction":
            lines += ["*(asked to summarize the conversation)*", ""]
        elif kind == "agent" and isinstance(part.get("name"), str):
            lines += [f"*(to the agent {part['name']})*", ""]
    if attached:
        lines += ["Attached: " + ", ".join(attached), ""]
    return lines


def _assistant_section(number: int, info: dict[str, Any], parts: list[Any], root: str) -> list[str]:
    who = ["Assistant"]
    if isinstance(info.get("agent"), str):
        who.append(info["agent"])
    if isinstance(info.get("providerID"), str) and isinstance(info.get("modelID"), str):
        who.append(f"{info['providerID']}/{info['modelID']}")
    if info.get("summary") is True:
        who.append("summary")
    when = timestamp(_dict(info.get("time")).get("created"))
    lines = [f"## {number}. " + " · ".join(who) + (f" · {when}" if when else ""), ""]
    steps: list[str] = []
    for part in parts:
        part = _dict(part)
        kind = part.get("type")
        if kind == "text" and not part.get("synthetic") and isinstance(part.get("text"), str):
            if part["text"].strip():
                lines += [part["text"].strip(), ""]
        elif kind == "tool":
            steps.append(describe_tool(part, root))
            output = _tool_output(part)
            if output is not None:
                steps.append("\n".join("  " + row for row in _fenced(output).splitlines()))
        elif kind == "subtask":
            agent = part.get("agent") or "a subagent"
            description = part.get("description") or part.get("prompt") or ""
            steps.append(f"- subtask for {agent}: {' '.join(str(description).split())}")
    if steps:
        lines += ["Steps:", "", *steps, ""]
    error = _error_text(info.get("error"))
    if error:
        lines += [f"**Error:** {error}", ""]
    if "cost" in info or "tokens" in info:
        lines += [f"*{cost_and_tokens(info.get('cost'), info.get('tokens'))}*", ""]
    return lines


def files_changed(user_info: dict[str, Any], assistant_parts: Iterable[Any], root: str) -> str:
    """``Files changed: `a.py` (+1 −1), `b.py` (added)`` for one turn ("" if none).

    The user message's ``summary.diffs`` are the server's own count; ``patch`` parts of the
    answers stand in when a server sends none."""
    entries: dict[str, str] = {}
    for diff in _list(_dict(user_info.get("summary")).get("diffs")):
        diff = _dict(diff)
        name = diff.get("file")
        if not isinstance(name, str):
            continue
        status = diff.get("status")
        counts = f"+{int(_number(diff.get('additions')))} −{int(_number(diff.get('deletions')))}"
        entries[_relative(name, root)] = (
            counts if status in (None, "modified") else f"{status}, {counts}"
        )
    if not entries:
        for part in assistant_parts:
            part = _dict(part)
            if part.get("type") == "patch":
                for name in _list(part.get("files")):
                    if isinstance(name, str):
                        entries.setdefault(_relative(name, root), "")
    if not entries:
        return ""
    listed = [_code(name) + (f" ({detail})" if detail else "") for name, detail in entries.items()]
    return "Files changed: " + ", ".join(listed)


def render(session: Mapping[str, Any], messages: list[Any]) -> str:
    """The whole transcript of ``session`` with ``messages`` (oldest first)."""
    root = str(session.get("directory") or "")
    title = str(session.get("title") or session.get("id") or "OpenCode session")
    times = _dict(session.get("time"))
    head = [f"# {title}", ""]
    facts = [f"- Session: {_code(str(session.get('id', '?')))}"]
    if root:
        facts.append(f"- Folder: {_code(root)}")
    created, updated = timestamp(times.get("created")), timestamp(times.get("updated"))
    if created:
        facts.append(f"- Started: {created}" + (f" · last change: {updated}" if updated else ""))
    facts.append(f"- Cost: {cost_and_tokens(session.get('cost'), session.get('tokens'))}")
    share = _dict(session.get("share")).get("url")
    if isinstance(share, str) and share:
        facts.append(f"- Shared: <{share}>")
    body: list[str] = []
    number = 0
    turn_user: dict[str, Any] | None = None
    turn_parts: list[Any] = []

    def close_turn() -> None:
        if turn_user is not None:
            changed = files_changed(turn_user, turn_parts, root)
            if changed:
                body.extend([changed, ""])

    for message in messages:
        message = _dict(message)
        info, parts = _dict(message.get("info")), _list(message.get("parts"))
        number += 1
        if info.get("role") == "user":
            close_turn()
            turn_user, turn_parts = info, []
            body.extend(_user_section(number, info, parts, root))
        else:
            turn_parts.extend(parts)
            body.extend(_assistant_section(number, info, parts, root))
    close_turn()
    if not messages:
        body = ["*No messages yet.*", ""]
    return "\n".join([*head, *facts, "", *body]).rstrip("\n") + "\n"


def file_name(session_id: str) -> str:
    """A file name for the session's transcript (the id, made safe for any file system)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id) or "session"
    return f"{safe}.md"
